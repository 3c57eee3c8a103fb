"""What the per-pixel reduction into the fundamental sector costs the CPU kernel.

The shipped model's numba kernel decodes the same patterns with the reduction
(as it runs: a fold across the group's mirrors where the group has one), with
the reduction by operator search instead of the fold (``searched``; the same
images), and without it (each pixel samples the symmetric texture where it
falls, as before the seam fix), alternating the routes. Single-threaded kernel
time only: no dask, no graph. ``--model`` names another shipped model.

    python benchmarks/sector_reduction_cost.py --n 2048 --repeats 6 [--model corundum-10-30kv]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import numba
import numpy as np
import torch

import kikuchipy_gen
from kikuchipy_gen.attributes import encode_attributes
from kikuchipy_gen.models._cpu_decode import decode_cpu
from kikuchipy_gen.sampling import random_rotations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2048, help="patterns per call")
    parser.add_argument("--repeats", type=int, default=6, help="alternating runs of each route (>= 5)")
    parser.add_argument("--model", default=None, help="a shipped model's name (default: the nickel model)")
    args = parser.parse_args()
    mlmp = kikuchipy_gen.MLMasterPattern.from_pretrained(args.model)
    decoder = mlmp._runtime.decoder(mlmp.detector, torch.device("cpu"))
    rot = random_rotations(args.n, seed=1)
    attributes = encode_attributes(rot, mlmp.phase.point_group, 20.0)
    z = torch.zeros(rot.size, mlmp.config.latent_dim)
    decode_cpu(decoder, z[:4], attributes[:4])  # compile, and cache the symmetric texture
    grid, plan = decoder.symmetry_grid, decoder.sector.mirror_fold()
    times: dict[str, list[float]] = {"reduced": [], "searched": [], "unreduced": []}
    try:
        for _ in range(args.repeats):
            for route in times:
                # The kernel reduces when the decoder has a symmetry lookup; the
                # cached symmetric texture is the same either way.
                decoder.symmetry_grid = grid if route != "unreduced" else None
                decoder.sector._fold = None if route == "searched" else plan
                start = time.perf_counter()
                decode_cpu(decoder, z, attributes)
                times[route].append(time.perf_counter() - start)
    finally:
        decoder.symmetry_grid, decoder.sector._fold = grid, plan
    ratio = np.array(times["reduced"]) / np.array(times["unreduced"])
    searched = np.array(times["searched"]) / np.array(times["reduced"])
    print(
        f"# {datetime.date.today()} {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, numba {numba.__version__}, kernel single-threaded"
    )
    for route, t in times.items():
        print(f"{route:10s} median {np.median(t) * 1e3:7.1f} ms for {args.n} patterns ({args.n / np.median(t):,.0f}/s)")
    print(f"reduced / unreduced: median {np.median(ratio):.2f} (range {ratio.min():.2f}-{ratio.max():.2f})")
    if plan is None:
        print(f"({mlmp.phase.point_group.name} has no fold: 'searched' is the same route as 'reduced')")
    print(f"searched / reduced: median {np.median(searched):.2f} (range {searched.min():.2f}-{searched.max():.2f})")


if __name__ == "__main__":
    main()
