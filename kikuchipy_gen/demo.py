"""The end-to-end demo: the shipped model as a kikuchipy master pattern.

``kikuchipy-gen demo`` runs :func:`run_demo`: generate patterns across the
voltage range, use a lazily generated dictionary to index physics patterns
from kikuchipy's own EMsoft nickel master pattern (a physics source the model
never saw: it learned de-ebsd's), refine them with BOBYQA, and write the
generated patterns as a kikuchipy h5ebsd file.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from orix.quaternion import Rotation

__all__ = ["run_demo"]

_logger = logging.getLogger(__name__)


def run_demo(
    out: str | Path = "demo_output", n_dictionary: int = 30, n_patterns: int = 40, n_refine: int = 10, seed: int = 0
) -> dict[str, float]:
    """Run the demo and write its figure and file into ``out``.

    Progress goes to this module's logger (``INFO``); kikuchipy prints its own
    indexing and refinement summaries. ``kikuchipy-gen demo`` prints the
    returned results.

    Parameters
    ----------
    out
        Output folder.
    n_dictionary
        Density of the generated dictionary (EMsoft ``n``; 30 gives 9,077 m-3m
        orientations, about 2.5 deg apart; at n = 15, 5-6 deg apart, NCC
        indexing of 60x60 CLAHE'd patterns mostly fails, physics or generated).
    n_patterns
        Physics patterns to index.
    n_refine
        Of those, how many to refine.
    seed
        Seed of the random test orientations
        (:func:`~kikuchipy_gen.sampling.random_rotations`).

    Returns
    -------
    dict
        Mean/median disorientations in degrees after indexing
        (``indexing_mean``, ``indexing_median``) and refinement
        (``refined_mean``, ``refined_median``), timings in seconds
        (``indexing_s``, ``refine_s``) and the number of dictionary patterns
        (``dictionary_size``).

    Examples
    --------
    >>> from kikuchipy_gen.demo import run_demo
    >>> results = run_demo("demo_output")  # doctest: +SKIP
    >>> results["refined_median"] < 0.2  # doctest: +SKIP
    True
    """
    from kikuchipy_gen.evaluation.physics import as_ebsd, best_matches, physics_patterns
    from kikuchipy_gen.master_pattern import MLMasterPattern
    from kikuchipy_gen.plotting import plot_generated_per_energy
    from kikuchipy_gen.refinement import disorientation, refine_orientations
    from kikuchipy_gen.sampling import random_rotations, sample_orientations
    from kikuchipy_gen.sources import KikuchipyNickelSource

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, float] = {}
    mlmp = MLMasterPattern.from_pretrained()
    _logger.info("Model: %s", mlmp)
    test = random_rotations(n_patterns, seed=seed)

    fig = plot_generated_per_energy(mlmp, test[:5], [10, 15, 20, 25, 30])
    fig.savefig(out / "generated_per_voltage.png", dpi=100)
    _logger.info("Saved %s (bands narrow as the voltage rises)", out / "generated_per_voltage.png")

    t0 = time.perf_counter()
    grid = sample_orientations(mlmp.phase.point_group, n=n_dictionary)
    dictionary = mlmp.get_patterns(grid, energy=20.0, chunk_size=512)  # lazy: decoded as indexing needs it
    emsoft = KikuchipyNickelSource().master_pattern(20)
    experimental = as_ebsd(physics_patterns(emsoft, test, mlmp.detector, 20), test, mlmp.phase, mlmp.detector)
    xmap = experimental.dictionary_indexing(dictionary, keep_n=1)
    angles = disorientation(xmap, test, mlmp.phase)
    results.update(
        indexing_mean=float(angles.mean()),
        indexing_median=float(np.median(angles)),
        indexing_s=time.perf_counter() - t0,
        dictionary_size=grid.size,
    )
    _logger.info(
        "Indexed %d EMsoft Ni 20 kV patterns against %s generated ones: disorientation mean %.2f deg, "
        "median %.2f deg (%.1f s)",
        n_patterns,
        f"{grid.size:,}",
        angles.mean(),
        np.median(angles),
        results["indexing_s"],
    )

    t0 = time.perf_counter()
    sub = slice(0, n_refine)
    refined = refine_orientations(experimental.inav[sub], best_matches(xmap, sub), mlmp.detector, emsoft, 20.0)
    angles = disorientation(refined, Rotation(test.data[sub]), mlmp.phase)
    results.update(
        refined_mean=float(angles.mean()), refined_median=float(np.median(angles)), refine_s=time.perf_counter() - t0
    )
    _logger.info(
        "Refined %d of them with BOBYQA against the EMsoft master pattern: mean %.3f deg, median %.3f deg (%.1f s)",
        n_refine,
        angles.mean(),
        np.median(angles),
        results["refine_s"],
    )

    generated = mlmp.get_patterns(test, energy=17.5, dtype_out="uint8", compute=True, show_progressbar=False)
    if n_patterns == 1:
        # A one-point map (orix shape ()) only fits a signal without navigation
        # axes; with navigation shape (1,) kikuchipy would write an empty map.
        generated = generated.inav[0]
    generated.save(out / "generated_17.5kV.h5", overwrite=True)
    _logger.info("Wrote %s (kikuchipy.load reads it, with orientations and detector)", out / "generated_17.5kV.h5")
    return results
