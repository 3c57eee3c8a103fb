"""Peak memory of ``kikuchipy-gen generate`` against the number of patterns.

The command writes chunk by chunk, so its peak resident memory should not grow with
``--n``. Each run is a fresh process (its peak RSS read with ``resource`` after it
ends); the sizes alternate and repeat.

    python benchmarks/generate_memory.py [--n 50000 200000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def _peak_rss_gib(n: int, folder: Path) -> float:
    out = folder / f"g{n}.h5"
    code = (
        "import resource, sys; from kikuchipy_gen.cli import main; "
        f"main(['generate', '--n', '{n}', '--out', {str(out)!r}, '--overwrite', '--no-progress']); "
        "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out.unlink()
    peak_kib = int(next(line for line in result.stdout.splitlines() if line.startswith("PEAK")).split()[1])
    return peak_kib / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    peaks: dict[int, list[float]] = {n: [] for n in args.n}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for n in args.n:  # alternating sizes
                peaks[n].append(_peak_rss_gib(n, Path(tmp)))
    import kikuchipy
    import torch

    print(
        f"{datetime.date.today()}, {platform.node()} {platform.machine()}, Python {platform.python_version()}, "
        f"torch {torch.__version__}, kikuchipy {kikuchipy.__version__}; uint8 60x60 patterns"
    )
    print("| --n | peak RSS, GiB (median) | runs |")
    print("|---|---|---|")
    for n, values in peaks.items():
        print(f"| {n:,} | {np.median(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")
    base = np.median(peaks[args.n[0]])
    for n in args.n[1:]:
        print(f"{n:,} vs {args.n[0]:,}: {np.median(peaks[n]) / base:.3f}x")


if __name__ == "__main__":
    main()
