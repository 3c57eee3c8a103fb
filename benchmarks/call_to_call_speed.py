"""How much one machine's speed moves from call to call: the reason a single run is no result.

Two measurements of the shipped model on 2 CPU cores, nothing else changing:

1. ``get_patterns(rotations, compute=True)`` with default arguments, the same 20,000
   rotations called again and again: patterns/s per call;
2. the numba kernel alone, one thread, on chunks of the default size one after the
   other: milliseconds per chunk.

On the 2-core VM (2026-11-26) both show two speeds, about 1.4x apart, switching between
calls and within one (chunks of 48 or 69 ms). A ratio against kikuchipy is measured in
alternated pairs for that reason, and still moves between runs. To compare two versions
of the code, run this script in alternating processes (``PYTHONPATH`` at a
``git worktree`` of the other commit).

    python benchmarks/call_to_call_speed.py [--calls 9] [--chunks 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch
from _common import machine_info, print_header
from orix.quaternion import Rotation

import kikuchipy_gen
from kikuchipy_gen.attributes import attribute_tensor
from kikuchipy_gen.master_pattern import MLMasterPattern, _default_rotations_per_chunk
from kikuchipy_gen.models._cpu_decode import decode_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=9, help="get_patterns calls of 20,000 rotations")
    parser.add_argument("--chunks", type=int, default=40, help="kernel chunks timed one thread")
    args = parser.parse_args()
    print_header(machine_info())
    print(f"kikuchipy_gen from {kikuchipy_gen.__file__}")
    mlmp = MLMasterPattern.from_pretrained()
    rng = np.random.default_rng(0)
    rot = Rotation(rng.normal(size=(20_000, 4)))
    mlmp.get_patterns(rot[:100], compute=True, show_progressbar=False)  # compile and warm up
    rates = []
    for _ in range(args.calls):
        start = time.perf_counter()
        s = mlmp.get_patterns(rot, compute=True, show_progressbar=False)
        rates.append(rot.size / (time.perf_counter() - start))
        del s
    print(
        f"get_patterns, 20,000 rotations, 60x60: median {statistics.median(rates):,.0f} patterns/s; "
        f"per call (thousands): {[round(r / 1000, 1) for r in rates]}"
    )

    n = _default_rotations_per_chunk(rot.size, mlmp.detector, "float32")
    decoder = mlmp._runtime.decoder(mlmp.detector, torch.device("cpu"))
    q = rot.data[:n]
    attributes = attribute_tensor(q, np.full(n, mlmp.energy_range[1]))
    z = torch.zeros(n, mlmp.config.latent_dim)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # the FiLM layer's few torch operations, as in one dask thread
        times = []
        for _ in range(args.chunks):
            start = time.perf_counter()
            decode_cpu(decoder, z, attributes, q)
            times.append(1e3 * (time.perf_counter() - start))
    finally:
        torch.set_num_threads(previous)
    print(
        f"the kernel alone, one thread, chunks of {n}: median {statistics.median(times):.0f} ms "
        f"(min {min(times):.0f}, max {max(times):.0f}); per chunk: {[round(t) for t in times]}"
    )


if __name__ == "__main__":
    sys.exit(main())
