"""Refinement chunks: kikuchipy's 64 patterns a chunk against about two chunks per dask worker.

For Nelder-Mead ``refine_orientations`` now passes kikuchipy a chunk size that splits the
patterns to refine over dask's workers (``_refinement_chunk``); BOBYQA keeps kikuchipy's
64 patterns a chunk, which this script measures as the reason. With 64 the dozen
unsettled patterns of a basin round in ``refine_best_basin`` were one chunk on one core,
and 100 patterns were chunks of 64 and 36. Both routes are passed explicitly. Each pattern
is refined alone, so both must give the same orientations and scores: the script checks.

The shipped nickel model generates the patterns at 20 kV for random orientations; each
start is its truth turned by 1 deg about a random axis; refined against the ML master
pattern. Per size and method the two routes alternate; reported are seconds per call,
the ratio of alternated pairs (kikuchipy's / balanced, > 1: balanced is faster), and the
cores the refinement kept busy (process CPU time over wall time): Py-BOBYQA's Python
holds the GIL, so BOBYQA keeps about 1.2 of 2 cores busy in either chunking.

    python benchmarks/refinement_chunks.py [--quick] [--sizes 12 100] [--methods nelder-mead bobyqa]
        [--repeats 5] [--json PATH]

Full: 12 and 100 patterns, Nelder-Mead and BOBYQA, 5 pairs: about 6 minutes on 2 quiet
cores. ``--quick``: 12 patterns, Nelder-Mead, 2 pairs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import time
from pathlib import Path

import numpy as np
from _common import machine_info, print_header, ratios, spread, write_json
from orix.crystal_map import CrystalMap
from orix.quaternion import Rotation
from refinement_throughput import _turned

import kikuchipy_gen.refinement as refinement
from kikuchipy_gen.master_pattern import MLMasterPattern

ENERGY = 20.0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _refine(
    route: str, patterns, xmap: CrystalMap, mp: MLMasterPattern, method: str
) -> tuple[CrystalMap, float, float]:
    """The refined map, the seconds of the call and the cores it kept busy."""
    n = xmap.size
    chunk_shape = 64 if route == "kikuchipy" else refinement._refinement_chunk(n)
    chunk = {"chunk_kwargs": {"chunk_shape": chunk_shape}}
    cpu, t0 = _cpu_seconds(), time.perf_counter()
    # kikuchipy prints its settings and speed on every call.
    with contextlib.redirect_stdout(io.StringIO()):
        refined = refinement.refine_orientations(patterns, xmap, mp.detector, mp, ENERGY, method=method, **chunk)
    seconds = time.perf_counter() - t0
    return refined, seconds, (_cpu_seconds() - cpu) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 patterns, Nelder-Mead, 2 pairs (a smoke test)")
    parser.add_argument("--sizes", type=int, nargs="+", help="patterns per call (default 12 100)")
    parser.add_argument("--methods", nargs="+", choices=("nelder-mead", "bobyqa"), help="default both")
    parser.add_argument("--repeats", type=int, help="alternated pairs (default 5; 2 quick)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    sizes = args.sizes or ([12] if args.quick else [12, 100])
    methods = args.methods or (["nelder-mead"] if args.quick else ["nelder-mead", "bobyqa"])
    repeats = args.repeats or (2 if args.quick else 5)
    if min(sizes) < 1 or repeats < 1:
        parser.error("--sizes and --repeats must be >= 1")

    info = machine_info()
    print_header(info)
    mp = MLMasterPattern.from_pretrained("ni-10-30kv")
    rng = np.random.default_rng(0)
    results = {"machine": info, "quick": args.quick, "energy": ENERGY, "repeats": repeats, "cases": []}
    print(
        "| patterns | method | kikuchipy's chunks (s) | balanced (s) | kikuchipy's / balanced | cores busy "
        "(kikuchipy's / balanced) | same result |\n|---|---|---|---|---|---|---|"
    )
    for n in sizes:
        truth = Rotation(rng.normal(size=(n, 4))).unit
        patterns = mp.get_patterns(truth, energy=ENERGY, compute=True, show_progressbar=False)
        start = _turned(truth, 1.0, rng)
        xmap = CrystalMap(start, phase_list=patterns.xmap.phases, x=np.arange(n))
        for method in methods:
            maps: dict[str, CrystalMap] = {}
            times: dict[str, list[float]] = {"kikuchipy": [], "balanced": []}
            cores: dict[str, list[float]] = {"kikuchipy": [], "balanced": []}
            for route in times:  # warm-up
                _refine(route, patterns, xmap, mp, method)
            for _ in range(repeats):
                for route in times:  # alternating routes
                    maps[route], seconds, busy = _refine(route, patterns, xmap, mp, method)
                    times[route].append(seconds)
                    cores[route].append(busy)
            same = bool(
                np.array_equal(maps["kikuchipy"].rotations.data, maps["balanced"].rotations.data)
                and np.array_equal(maps["kikuchipy"].prop["scores"], maps["balanced"].prop["scores"])
            )
            case = {
                "patterns": n,
                "method": method,
                "kikuchipy_s": spread(times["kikuchipy"]),
                "balanced_s": spread(times["balanced"]),
                "ratio": ratios(times["kikuchipy"], times["balanced"]),
                "cores_busy": {route: spread(v) for route, v in cores.items()},
                "balanced_chunk": refinement._refinement_chunk(n),
                "same_result": same,
            }
            results["cases"].append(case)
            k, b, r = case["kikuchipy_s"], case["balanced_s"], case["ratio"]
            print(
                f"| {n} | {method} | {k['median']:.2f} ({k['min']:.2f}-{k['max']:.2f}) "
                f"| {b['median']:.2f} ({b['min']:.2f}-{b['max']:.2f}) "
                f"| {r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f}) "
                f"| {case['cores_busy']['kikuchipy']['median']:.2f} / {case['cores_busy']['balanced']['median']:.2f} "
                f"| {'yes' if same else 'NO'} |",
                flush=True,
            )
    write_json(results, args.json)


if __name__ == "__main__":
    main()
