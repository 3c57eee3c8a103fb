"""Preprocessing throughput: kikuchipy's pattern-by-pattern route against the vectorised one.

Both turn the same projected patterns into the paper's training input: 8-bit
rescaling, then CLAHE with the default ``CLAHE()`` (4 x 4 tiles, clip limit 10,
256 bins). The kikuchipy route is what ``preprocess`` ran before its fast path,
``EBSD.rescale_intensity(dtype_out=np.uint8)`` and
``EBSD.adaptive_histogram_equalization`` through HyperSpy's ``map``, one pattern
at a time; the fast route is ``preprocess`` itself (``kikuchipy_gen._clahe``'s
numba kernels, one thread). The patterns are 4,096 float32 60 x 60 projections of
the EMsoft Ni master pattern at 20 kV on the default detector, as a dataset build
makes them. The two give the same bytes (checked before timing) and alternate
call by call, so a slow spell of a shared machine falls on both.

    python benchmarks/clahe_throughput.py [--quick] [--n 4096] [--repeats 5] [--json PATH]

Full: 4,096 patterns, 5 alternating pairs (about a minute on 2 quiet cores, nearly
all of it kikuchipy's route). ``--quick``: 512 patterns, 3 pairs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import alternate, machine_info, print_header, ratios, spread, write_json
from kikuchipy.signals import EBSD
from orix.quaternion import Rotation

from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.preprocessing import CLAHE, preprocess
from kikuchipy_gen.sources import KikuchipyNickelSource


def _kikuchipy_route(patterns: EBSD, clahe: CLAHE) -> np.ndarray:
    s = patterns.deepcopy()
    s.rescale_intensity(dtype_out=np.uint8, show_progressbar=False)
    shape = s.axes_manager.signal_shape[::-1]
    s.adaptive_histogram_equalization(**clahe.kikuchipy_kwargs(shape), show_progressbar=False)
    return np.asarray(s.data).reshape(-1, *shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512 patterns and 3 repeats (a smoke test)")
    parser.add_argument("--n", type=int, default=None, help="patterns per call (default 4,096; 512 quick)")
    parser.add_argument("--repeats", type=int, default=None, help="alternating pairs (default 5; 3 quick)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    n = args.n or (512 if args.quick else 4096)

    info = machine_info()
    print_header(info)
    clahe = CLAHE()
    detector = default_detector()
    # Normalised Gaussian quaternions: uniform rotations, the same ones every run.
    rot = Rotation(np.random.default_rng(0).standard_normal((n, 4)))
    patterns = (
        KikuchipyNickelSource()
        .master_pattern(20)
        .get_patterns(rot, detector, dtype_out="float32", compute=True, show_progressbar=False)
    )
    # A speed-up is only worth reporting for the same bytes.
    if not np.array_equal(preprocess(patterns, clahe), _kikuchipy_route(patterns, clahe)):
        raise SystemExit("the fast route's output differs from kikuchipy's: fix that before timing it")

    times = alternate(
        {"kikuchipy": lambda: _kikuchipy_route(patterns, clahe), "fast": lambda: preprocess(patterns, clahe)},
        repeats,
    )
    results = {
        "machine": info,
        "repeats": repeats,
        "quick": args.quick,
        "patterns": n,
        "detector": list(detector.shape),
        "dtype": str(patterns.data.dtype),
        "clahe": clahe.to_dict(),
        "identical": True,
        "kikuchipy_per_s": spread([n / t for t in times["kikuchipy"]]),
        "fast_per_s": spread([n / t for t in times["fast"]]),
        "ratio": ratios(times["kikuchipy"], times["fast"]),
    }
    k, f, r = results["kikuchipy_per_s"], results["fast_per_s"], results["ratio"]
    print(
        f"{n:,} patterns {detector.shape[0]}x{detector.shape[1]} float32, CLAHE {clahe.to_dict()}, "
        f"{repeats} alternating pairs; outputs identical\n"
        "| route | patterns/s, median (min-max) |\n|---|---|\n"
        f"| kikuchipy (rescale_intensity + adaptive_histogram_equalization) "
        f"| {k['median']:,.0f} ({k['min']:,.0f}-{k['max']:,.0f}) |\n"
        f"| preprocess (kikuchipy_gen._clahe) | {f['median']:,.0f} ({f['min']:,.0f}-{f['max']:,.0f}) |\n"
        f"ratio fast / kikuchipy, median (min-max): **{r['median']:.1f}** ({r['min']:.1f}-{r['max']:.1f})"
    )
    write_json(results, args.json)


if __name__ == "__main__":
    main()
