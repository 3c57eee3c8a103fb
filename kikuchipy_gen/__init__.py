"""kikuchipy-gen: deep generative simulation of EBSD patterns for kikuchipy/orix.

The product is :class:`MLMasterPattern` (a trained generator with kikuchipy's
``EBSDMasterPattern.get_patterns`` interface). The training-data pipeline lives in
:mod:`kikuchipy_gen.sampling` (orientations), :mod:`kikuchipy_gen.sources`
(physics master patterns), :mod:`kikuchipy_gen.preprocessing` (CLAHE) and
:mod:`kikuchipy_gen.dataset` (chunked storage and the torch loader); the models
and their training in :mod:`kikuchipy_gen.models` and
:mod:`kikuchipy_gen.training`; orientation refinement in
:mod:`kikuchipy_gen.refinement`.
"""

from typing import Any

__version__ = "0.1.0.dev0"
__all__ = ["MLMasterPattern", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import kikuchipy_gen` stays cheap (no torch/kikuchipy import).
    if name == "MLMasterPattern":
        from kikuchipy_gen.master_pattern import MLMasterPattern

        return MLMasterPattern
    raise AttributeError(f"module 'kikuchipy_gen' has no attribute {name!r}")
