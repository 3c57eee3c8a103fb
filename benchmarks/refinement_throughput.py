"""kikuchipy's orientation refinement against the ML master pattern and against the physics one.

The same patterns are refined from the same starting orientations with kikuchipy's
``EBSD.refine_orientation`` and its defaults (SciPy's Nelder-Mead, NCC), once against the
shipped ``MLMasterPattern`` (kikuchipy projects its learned master pattern) and once
against the physics master pattern the model learned from (de-ebsd Ni, rebuilt from the
model's provenance; computed once and cached). The patterns are that physics at 20 kV,
CLAHE'd as in training, for random orientations; each start is its true orientation
turned by 1 deg about a random axis. The routes alternate; reported are patterns/s and
the disorientation of the refined orientations to the true ones, so that speed is read
at the accuracy each route reaches.

    python benchmarks/refinement_throughput.py [--quick] [--n 100] [--repeats 5] [--pool] [--json PATH]

``--pool`` adds both routes once more with kikuchipy's refinement computed by dask in a
pool of processes (one per core, kept across calls) instead of its default threads:
SciPy's minimisers hold the GIL between kikuchipy's numba objective calls, so on
threads the refinement uses about one core.

Full: 100 patterns, 5 alternating pairs, about 4 minutes on 2 quiet cores. ``--quick``:
10 patterns, 3 pairs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import dask
import numpy as np
from _common import alternate, machine_info, print_header, ratios, spread, write_json
from orix.crystal_map import CrystalMap, PhaseList
from orix.quaternion import Rotation

from kikuchipy_gen.evaluation.physics import as_ebsd, clahe_from_info, physics_patterns
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.refinement import disorientation, summarize

ENERGY = 20.0


def _turned(rot: Rotation, degrees: float, rng: np.random.Generator) -> Rotation:
    """Each rotation turned by ``degrees`` about its own random axis."""
    axes = rng.standard_normal((rot.size, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    return Rotation.from_axes_angles(axes, np.full(rot.size, degrees), degrees=True) * rot


def _perturbed_physics(n: int) -> tuple[MLMasterPattern, Any, Any, Rotation, CrystalMap]:
    """The shipped Ni model, its physics master pattern, ``n`` patterns, their orientations and starts 1 deg off.

    The patterns are de-ebsd Ni at ``ENERGY``, CLAHE'd as in training, of
    random orientations (seed 0).
    """
    mlmp = MLMasterPattern.from_pretrained()
    det, phase = mlmp.detector, mlmp.phase
    physics = mlmp.reference_master_pattern(ENERGY)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((n, 4))
    truth = Rotation(q / np.linalg.norm(q, axis=1, keepdims=True))
    clahe = clahe_from_info(mlmp.info.get("preprocessing"))
    patterns = as_ebsd(physics_patterns(physics, truth, det, ENERGY, clahe), truth, phase, det)
    start = CrystalMap(_turned(truth, 1.0, rng), phase_list=PhaseList(phase.deepcopy()), x=np.arange(n))
    return mlmp, physics, patterns, truth, start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 patterns, 3 pairs (a smoke test)")
    parser.add_argument("--n", type=int, help="patterns refined per call (default 100; 10 quick)")
    parser.add_argument("--repeats", type=int, help="alternating pairs (default 5; 3 quick)")
    parser.add_argument("--pool", action="store_true", help="also each route in a pool of processes")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    n = args.n or (10 if args.quick else 100)
    repeats = args.repeats or (3 if args.quick else 5)

    info = machine_info()
    print_header(info)
    mlmp, physics, patterns, truth, start = _perturbed_physics(n)
    det, phase = mlmp.detector, mlmp.phase
    refined: dict[str, CrystalMap] = {}

    def refine(name: str, master_pattern) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # kikuchipy prints a summary
            refined[name] = patterns.refine_orientation(start, det, master_pattern, energy=ENERGY, compute=True)

    routes = {"physics": lambda: refine("physics", physics), "ml": lambda: refine("ml", mlmp)}
    labels = {"physics": "physics (de-ebsd Ni)", "ml": "MLMasterPattern (shipped)"}
    pool = None
    if args.pool:
        pool = ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("spawn"))

        def in_pool(name: str, master_pattern):
            def run() -> None:
                with dask.config.set(scheduler="processes", pool=pool):
                    refine(f"{name} pool", master_pattern)

            return run

        routes |= {"physics pool": in_pool("physics", physics), "ml pool": in_pool("ml", mlmp)}
        labels |= {"physics pool": "physics, process pool", "ml pool": "MLMasterPattern, process pool"}
    times = alternate(routes, repeats)
    if pool is not None:
        pool.shutdown()
    results = {"machine": info, "quick": args.quick, "patterns": n, "repeats": repeats, "energy": ENERGY, "routes": {}}
    start_error = summarize(disorientation(start, truth, phase))
    print(
        f"{n} patterns (de-ebsd Ni {ENERGY:g} kV, CLAHE'd), starts {start_error['mean']:.2f} deg off\n"
        "| master pattern | patterns/s, median (min-max) | refined error mean / median / max (deg) | evaluations |"
        "\n|---|---|---|---|"
    )
    for name, label in labels.items():
        rates = spread([n / t for t in times[name]])
        err = summarize(disorientation(refined[name], truth, phase))
        evals = float(np.mean(refined[name].prop["num_evals"]))
        results["routes"][name] = {"patterns_per_s": rates, "disorientation_deg": err, "mean_evaluations": evals}
        print(
            f"| {label} | {rates['median']:,.1f} ({rates['min']:,.1f}-{rates['max']:,.1f}) "
            f"| {err['mean']:.3f} / {err['median']:.3f} / {err['max']:.3f} | {evals:.0f} |"
        )
    # Times, so physics / ml > 1 means refining against the model is faster.
    results["ratio"] = ratios(times["physics"], times["ml"])
    results["start_error_deg"] = start_error
    r = results["ratio"]
    print(f"ML / physics speed: {r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})")
    for name in ("physics", "ml") if args.pool else ():
        r = results[f"{name}_pool_ratio"] = ratios(times[name], times[f"{name} pool"])
        print(f"{labels[name]}, process pool / threads speed: {r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})")
    write_json(results, args.json)


if __name__ == "__main__":
    main()
