"""The two BOBYQAs (Py-BOBYQA and NLopt's) and Nelder-Mead in kikuchipy's refinement: speed at equal accuracy.

The same physics patterns (de-ebsd Ni at 20 kV, CLAHE'd as in training, random
orientations) are refined against their physics master pattern from starts 1
deg off the truth with :func:`kikuchipy_gen.refinement.refine_orientations`,
once per method, the methods alternated over the rounds after a warm-up. For
each: patterns/s (median and spread), NCC evaluations a pattern, the refined
error; and, pattern by pattern, how far NLopt's BOBYQA ends from Py-BOBYQA.

    python benchmarks/bobyqa_routes.py [--quick] [--n 100] [--repeats 5] [--json PATH]

Full: 100 patterns, 5 rounds, about 2 minutes on 2 quiet cores (Py-BOBYQA's is
most of it). ``--quick``: 10 patterns, 2 rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

import numpy as np
from _common import alternate, machine_info, print_header, ratios, spread, write_json
from orix.crystal_map import CrystalMap
from refinement_throughput import ENERGY, _perturbed_physics

from kikuchipy_gen.refinement import disorientation, refine_orientations, summarize

METHODS = ("bobyqa", "ln_bobyqa", "nelder-mead")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 patterns, 2 rounds (a smoke test)")
    parser.add_argument("--n", type=int, help="patterns refined per call (default 100; 10 quick)")
    parser.add_argument("--repeats", type=int, help="alternated rounds (default 5; 2 quick)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    n = (10 if args.quick else 100) if args.n is None else args.n
    repeats = (2 if args.quick else 5) if args.repeats is None else args.repeats
    if n < 1 or repeats < 1:
        parser.error("--n and --repeats must be >= 1")

    info = machine_info()
    print_header(info)
    mlmp, physics, patterns, truth, start = _perturbed_physics(n)
    det, phase = mlmp.detector, mlmp.phase
    refined: dict[str, CrystalMap] = {}

    def route(method: str):
        def run() -> None:
            with contextlib.redirect_stdout(io.StringIO()):  # kikuchipy prints a summary
                refined[method] = refine_orientations(patterns, start, det, physics, ENERGY, method=method)

        return run

    times = alternate({m: route(m) for m in METHODS}, repeats)
    results = {"machine": info, "quick": args.quick, "patterns": n, "repeats": repeats, "energy": ENERGY, "methods": {}}
    print(
        f"{n} patterns (de-ebsd Ni {ENERGY:g} kV, CLAHE'd), starts 1 deg off, trust region 5 deg, tol 1e-3 deg\n"
        "| method | patterns/s, median (min-max) | refined error mean / median / max (deg) | evaluations | NCC mean |"
        "\n|---|---|---|---|---|"
    )
    for method in METHODS:
        rates = spread([n / t for t in times[method]])
        err = summarize(disorientation(refined[method], truth, phase))
        evals = float(np.mean(refined[method].prop["num_evals"]))
        ncc = float(np.mean(refined[method].prop["scores"]))
        results["methods"][method] = {
            "patterns_per_s": rates,
            "disorientation_deg": err,
            "mean_evaluations": evals,
            "mean_ncc": ncc,
        }
        print(
            f"| {method} | {rates['median']:,.1f} ({rates['min']:,.1f}-{rates['max']:,.1f}) "
            f"| {err['mean']:.4f} / {err['median']:.4f} / {err['max']:.4f} | {evals:.0f} | {ncc:.5f} |"
        )
    r = results["ln_bobyqa_over_bobyqa"] = ratios(times["bobyqa"], times["ln_bobyqa"])
    apart = disorientation(refined["ln_bobyqa"], refined["bobyqa"].rotations, phase)
    results["ln_bobyqa_from_bobyqa_deg"] = summarize(apart)
    print(f"NLopt's / Py-BOBYQA's speed: {r['median']:.2f}x ({r['min']:.2f}-{r['max']:.2f})")
    print(
        f"NLopt's BOBYQA from Py-BOBYQA's result, pattern by pattern: mean {apart.mean():.4f}, max {apart.max():.4f} "
        "deg"
    )
    write_json(results, args.json)


if __name__ == "__main__":
    main()
