"""Building a dataset with each chunk projected and equalised in parallel pieces, against one piece at a time.

:func:`kikuchipy_gen.dataset.build_dataset` projects each chunk of rotations
with kikuchipy and preprocesses it (rescale, CLAHE) through
:func:`kikuchipy_gen.preprocessing.project_and_preprocess`: one dask task per
thread. kikuchipy's ``get_patterns`` alone makes one dask chunk of a 1,024
pattern chunk, so before the split both ran on one core. ``serial`` is the same
build on dask's synchronous scheduler, the pieces one after another. Builds of
the EMsoft Ni master pattern at 20 kV, alternated after a warm-up:

    python benchmarks/dataset_build_pieces.py [--quick] [--patterns 8192] [--repeats 5] [--json PATH]

Full: about 2 minutes on 2 quiet cores. ``--quick``: 1,024 patterns, 2 rounds.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import dask
from _common import alternate, machine_info, print_header, ratios, spread, write_json

from kikuchipy_gen.dataset import build_dataset
from kikuchipy_gen.sampling import random_rotations
from kikuchipy_gen.sources import KikuchipyNickelSource


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,024 patterns, 2 rounds (a smoke test)")
    parser.add_argument("--patterns", type=int, help="patterns per build (default 8,192; 1,024 quick)")
    parser.add_argument("--repeats", type=int, help="alternated rounds (default 5; 2 quick)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    n = (1024 if args.quick else 8192) if args.patterns is None else args.patterns
    repeats = (2 if args.quick else 5) if args.repeats is None else args.repeats
    if n < 1 or repeats < 1:
        parser.error("--patterns and --repeats must be >= 1")

    info = machine_info()
    print_header(info)
    source = KikuchipyNickelSource()
    rot = random_rotations(n, 0)
    builds = []

    def build() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            builds.append(build_dataset(Path(tmp) / "d.zarr", source, rot, 20, show_progressbar=False).sizes)

    def serial() -> None:
        with dask.config.set(scheduler="synchronous"):
            build()

    times = alternate({"pieces": build, "serial": serial}, repeats)
    results = {"machine": info, "quick": args.quick, "patterns": n, "routes": {}}
    print(f"EMsoft Ni, 20 kV, {n:,} patterns per build (chunks of 1,024), 60x60, CLAHE")
    print("| route | patterns/s, median (min-max) | seconds |\n|---|---|---|")
    for name, values in times.items():
        rates = spread([n / t for t in values])
        results["routes"][name] = {"patterns_per_s": rates, "seconds": spread(values)}
        seconds = results["routes"][name]["seconds"]["median"]
        print(f"| {name} | {rates['median']:,.0f} ({rates['min']:,.0f}-{rates['max']:,.0f}) | {seconds:.2f} |")
    ratio = ratios(times["serial"], times["pieces"])
    results["pieces_speedup_over_serial"] = ratio
    print(f"pieces against serial, per round: {ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})")
    write_json(results, args.json)


if __name__ == "__main__":
    main()
