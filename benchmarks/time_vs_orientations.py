"""Time of ``get_patterns`` against the number of orientations, kikuchipy and the model.

Both calls as a user makes them (``compute=True, show_progressbar=False``, their
default chunking, dask's default threaded scheduler) at 60x60: kikuchipy's
``EBSDMasterPattern.get_patterns`` projecting the EMsoft Ni master pattern at 20 kV,
and ``MLMasterPattern.from_pretrained().get_patterns`` at 20 kV. The two alternate
call by call at each size; the plot of run_all.py draws the medians on log-log
axes, so a fixed per-call cost shows as a flat start and throughput as the slope.

    python benchmarks/time_vs_orientations.py [--quick] [--repeats 5] [--json PATH]

Full: 100, 1,000, 10,000 and 100,000 orientations, 5 alternating pairs each
(about 3 minutes on 2 quiet cores, most of it at 100,000). ``--quick``: up to
10,000, 3 pairs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import alternate, machine_info, print_header, ratios, spread, write_json
from orix.quaternion import Rotation

from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.sources import KikuchipyNickelSource

SIZES = (100, 1_000, 10_000, 100_000)
QUICK_SIZES = (100, 1_000, 10_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 10,000 and 3 repeats (a smoke test)")
    parser.add_argument("--sizes", type=int, nargs="+", help="numbers of orientations (overrides the defaults)")
    parser.add_argument("--repeats", type=int, default=None, help="alternating pairs per size (default 5; 3 quick)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)

    info = machine_info()
    print_header(info)
    mlmp = MLMasterPattern.from_pretrained()
    physics = KikuchipyNickelSource().master_pattern(20)
    det = mlmp.detector
    results = {"machine": info, "repeats": repeats, "quick": args.quick, "detector": list(det.shape), "sizes": []}
    print(
        "| orientations | kikuchipy s (median, min-max) | MLMasterPattern s "
        "| ratio kikuchipy / model, median (min-max) |\n|---|---|---|---|"
    )
    for n in sizes:
        rot = Rotation.random(n)
        times = alternate(
            {
                "kikuchipy": lambda rot=rot: physics.get_patterns(
                    rot, det, energy=20, compute=True, show_progressbar=False
                ),
                "ml": lambda rot=rot: mlmp.get_patterns(rot, energy=20.0, compute=True, show_progressbar=False),
            },
            repeats,
        )
        row = {
            "orientations": n,
            "kikuchipy_s": spread(times["kikuchipy"]),
            "ml_s": spread(times["ml"]),
            "ratio": ratios(times["kikuchipy"], times["ml"]),
        }
        results["sizes"].append(row)
        k, m, r = row["kikuchipy_s"], row["ml_s"], row["ratio"]
        print(
            f"| {n:,} | {k['median']:.3g} ({k['min']:.3g}-{k['max']:.3g}) | {m['median']:.3g} "
            f"({m['min']:.3g}-{m['max']:.3g}) | **{r['median']:.2f}** ({r['min']:.2f}-{r['max']:.2f}) |",
            flush=True,
        )
    last = results["sizes"][-1]
    n = last["orientations"]
    print(
        f"at {n:,}: kikuchipy {n / last['kikuchipy_s']['median']:,.0f} patterns/s, "
        f"model {n / last['ml_s']['median']:,.0f} patterns/s"
    )
    write_json(results, args.json)


if __name__ == "__main__":
    main()
