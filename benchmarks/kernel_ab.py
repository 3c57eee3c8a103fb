"""The CPU kernel of two checkouts, alternated: is a change to it faster?

Loads ``kikuchipy_gen/models/_cpu_decode.py`` from another checkout (``--old``,
e.g. a ``git worktree`` of the commit before) beside this checkout's, and times
both on the same decoder inputs, one thread, alternating call by call, so a slow
spell of a shared machine falls on both. Prints each route's median time per
pattern and the median and range of the paired ratios old / new (> 1: the new
kernel is faster), and checks that both give the same patterns.

    git worktree add /tmp/old HEAD~1
    python benchmarks/kernel_ab.py --old /tmp/old [--energy 22.5] [--model NAME] [--repeats 15]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

from _common import machine_info, print_header, ratios, spread, write_json

KERNEL = Path("kikuchipy_gen") / "models" / "_cpu_decode.py"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="the other checkout's root folder")
    parser.add_argument("--energy", type=float, default=22.5, help="kV of every pattern (default 22.5)")
    parser.add_argument("--model", help="a shipped model's name [default: the default model]")
    parser.add_argument("--patterns", type=int, default=1024, help="patterns per timing")
    parser.add_argument("--repeats", type=int, default=15, help="alternating rounds (>= 5)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if not (args.old / KERNEL).is_file():
        parser.error(f"{args.old / KERNEL} does not exist")
    if args.repeats < 5 or args.patterns < 1:
        parser.error("--repeats must be >= 5 and --patterns >= 1")

    import numba
    import numpy as np
    import torch

    from kikuchipy_gen.attributes import attribute_tensor
    from kikuchipy_gen.master_pattern import MLMasterPattern
    from kikuchipy_gen.sampling import random_rotations

    numba.set_num_threads(1)
    torch.set_num_threads(1)
    info = machine_info()
    print_header(info)
    kernels = {
        "old": _load(args.old / KERNEL, "_kernel_old"),
        "new": _load(Path(__file__).resolve().parent.parent / KERNEL, "_kernel_new"),
    }
    mlmp = MLMasterPattern.from_pretrained(*([args.model] if args.model else []))
    decoder = mlmp._runtime.decoder(mlmp.detector, torch.device("cpu"))
    q = random_rotations(args.patterns, seed=0).data
    attributes = attribute_tensor(q, np.full(args.patterns, args.energy))
    z = torch.randn(args.patterns, mlmp.config.latent_dim, generator=torch.Generator().manual_seed(0))
    outputs = {name: k.decode_cpu(decoder, z, attributes, q) for name, k in kernels.items()}  # compiles
    difference = float(np.abs(outputs["old"] - outputs["new"]).max())
    times: dict[str, list[float]] = {name: [] for name in kernels}
    for _ in range(args.repeats):
        for name, kernel in kernels.items():
            t0 = time.perf_counter()
            kernel.decode_cpu(decoder, z, attributes, q)
            times[name].append((time.perf_counter() - t0) / args.patterns * 1e6)
    r = ratios(times["old"], times["new"])
    print(f"\n{mlmp!r}, {args.energy:g} kV, {args.patterns} patterns per timing, {args.repeats} rounds, 1 thread")
    for name, t in times.items():
        print(f"{name}: {statistics.median(t):.1f} us per pattern ({min(t):.1f}-{max(t):.1f})")
    print(f"old / new: {r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f}); largest |new - old| = {difference:.2g}")
    write_json(
        {
            "machine": info,
            "energy": args.energy,
            "patterns": args.patterns,
            "repeats": args.repeats,
            "us_per_pattern": {name: spread(t) for name, t in times.items()},
            "old_over_new": r,
            "max_abs_difference": difference,
        },
        args.json,
    )


if __name__ == "__main__":
    sys.exit(main())
