"""Peak memory of writing lazily generated patterns to disk, against their number.

Two routes, both lazy and written chunk by chunk, so their peak resident memory should
not grow with the number of patterns:

* ``cli``: the command ``kikuchipy-gen generate --n N`` (its ``main`` called in a fresh
  interpreter);
* ``save``: ``MLMasterPattern.from_pretrained().get_patterns(..., dtype_out="uint8")``
  then ``s.save(path)``, as a user writes it.

Each run is a fresh process (its peak RSS read with ``resource`` after it ends, imports
included); sizes and routes alternate and repeat. Output goes to a temporary folder
deleted after each run.

    python benchmarks/generate_memory.py [--quick] [--n 50000 200000 1000000] [--repeats 3] [--json PATH]

Full: 50,000, 200,000 and 1,000,000 uint8 60x60 patterns (3.6 GB on disk for the
largest, in the temporary folder), both routes, 3 repeats (memory barely varies between
runs; issue 16's >= 5 would double a run of about 20 minutes on 2 quiet cores).
Target: peak <= 2 GB and flat from 50,000 to 1,000,000. ``--quick``: 2,000 and 10,000
patterns, 1 repeat.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine_info, print_header, spread, write_json

ROUTES = ("cli", "save")

_CODE = {
    "cli": """
from kikuchipy_gen.cli import main
main(["generate", "--n", "{n}", "--out", {out!r}, "--overwrite", "--no-progress"])
""",
    "save": """
import contextlib, io
from kikuchipy_gen import MLMasterPattern
from kikuchipy_gen.sampling import random_rotations
s = MLMasterPattern.from_pretrained().get_patterns(
    random_rotations({n}, seed=0), dtype_out="uint8", show_progressbar=False
)
with contextlib.redirect_stdout(io.StringIO()):  # kikuchipy's writer prints dask's bar regardless
    s.save({out!r}, overwrite=True)
""",
}


def _run(route: str, n: int, folder: Path) -> tuple[float, float]:
    """Peak RSS in GiB and wall seconds of one fresh process writing n patterns."""
    out = folder / f"{route}{n}.h5"
    code = _CODE[route].format(n=n, out=str(out))
    code += "\nimport resource\nprint('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    out.unlink(missing_ok=True)
    if result.returncode:
        raise RuntimeError(f"the {route} route at n = {n} failed:\n{result.stderr[-3000:]}")
    peak_kib = int(next(line for line in result.stdout.splitlines() if line.startswith("PEAK")).split()[1])
    return peak_kib / 2**20, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 and 10,000 patterns, 1 repeat (a smoke test)")
    parser.add_argument("--n", type=int, nargs="+", help="numbers of patterns (default 50,000 200,000 1,000,000)")
    parser.add_argument("--routes", nargs="+", choices=ROUTES, default=list(ROUTES))
    parser.add_argument("--repeats", type=int, help="runs per size and route (default 3; 1 quick)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    sizes = args.n or ([2_000, 10_000] if args.quick else [50_000, 200_000, 1_000_000])
    repeats = args.repeats or (1 if args.quick else 3)

    info = machine_info()
    print_header(info)
    peaks = {route: {n: [] for n in sizes} for route in args.routes}
    walls = {route: {n: [] for n in sizes} for route in args.routes}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for n in sizes:  # alternating sizes and routes
                for route in args.routes:
                    peak, wall = _run(route, n, Path(tmp))
                    peaks[route][n].append(peak)
                    walls[route][n].append(wall)
    results = {"machine": info, "quick": args.quick, "repeats": repeats, "dtype": "uint8", "routes": {}}
    print("| route | patterns | peak RSS GiB, median (min-max) | process wall s (median) |\n|---|---|---|---|")
    for route in args.routes:
        rows = []
        for n in sizes:
            p = spread(peaks[route][n])
            rows.append({"patterns": n, "peak_gib": p, "wall_s": spread(walls[route][n])})
            print(
                f"| {route} | {n:,} | {p['median']:.2f} ({p['min']:.2f}-{p['max']:.2f}) "
                f"| {statistics.median(walls[route][n]):.1f} |"
            )
        growth = rows[-1]["peak_gib"]["median"] / rows[0]["peak_gib"]["median"]
        results["routes"][route] = {"sizes": rows, "growth": growth}
        print(f"{route}: {sizes[-1]:,} vs {sizes[0]:,}: {growth:.3f}x")
    write_json(results, args.json)


if __name__ == "__main__":
    main()
