"""The paper's quality analysis: pixel metrics, dictionary indexing and refinement, reports.

See :func:`~kikuchipy_gen.evaluation.report.evaluate`, its
:class:`~kikuchipy_gen.evaluation.EvaluationResult` and the command
``kikuchipy-gen evaluate``.
"""

from kikuchipy_gen.evaluation.metrics import band_width, bce_per_pixel, deviation_summary, optimal_bce
from kikuchipy_gen.evaluation.physics import clahe_from_info, physics_dictionary, physics_patterns
from kikuchipy_gen.evaluation.report import comparison_table, evaluate
from kikuchipy_gen.evaluation.result import EnergyResult, EvaluationResult, VoltageMatrix

__all__ = [
    "EnergyResult",
    "EvaluationResult",
    "VoltageMatrix",
    "band_width",
    "bce_per_pixel",
    "clahe_from_info",
    "comparison_table",
    "deviation_summary",
    "evaluate",
    "optimal_bce",
    "physics_dictionary",
    "physics_patterns",
]
