"""Torch Lambert projection (the geometry-aware decoder's lookup) vs kikuchipy's get_patterns.

Both project the EMsoft Ni master pattern onto the default 60 x 60 detector for the
same orientations, in the same run::

    python benchmarks/projection_throughput.py [--n 4096] [--device cpu]
"""

from __future__ import annotations

import argparse
import datetime
import time

import numpy as np
import torch

from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.projection import detector_directions, project_patterns
from kikuchipy_gen.sampling import sample_orientations
from kikuchipy_gen.sources import KikuchipyNickelSource


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    mp = KikuchipyNickelSource().master_pattern(20)
    det = default_detector()
    rot = sample_orientations("m-3m", n=40)[: args.n]
    mp.get_patterns(rot[:64], det, compute=True, show_progressbar=False)
    t0 = time.perf_counter()
    mp.get_patterns(rot, det, compute=True, show_progressbar=False)
    physics = rot.size / (time.perf_counter() - t0)

    device = torch.device(args.device)
    master = torch.from_numpy(np.asarray(mp.data, dtype=np.float32)).to(device)
    q = torch.from_numpy(rot.data).float().to(device)
    dirs = detector_directions(det).float().to(device)
    with torch.no_grad():
        project_patterns(master, q[:64], det, dirs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(0, rot.size, args.batch):
            project_patterns(master, q[i : i + args.batch], det, dirs)
        if device.type == "cuda":
            torch.cuda.synchronize()
    ours = rot.size / (time.perf_counter() - t0)
    print(f"# {datetime.date.today()}, {torch.get_num_threads()} threads, {device}")
    print(f"| kikuchipy get_patterns 60x60 | {physics:,.0f} patterns/s |")
    print(
        f"| torch project_patterns 60x60, float32, {device} "
        f"| {ours:,.0f} patterns/s = {ours / physics:.2f} x kikuchipy |"
    )


if __name__ == "__main__":
    main()
