"""Throughput of MLMasterPattern.get_patterns against kikuchipy's own get_patterns.

Both routes make the same 60x60 patterns for the same rotations in the same
run: kikuchipy projects the shipped EMsoft Ni master pattern (numba, CPU), the
ML master pattern decodes with torch on each device given (the whole product
path: dask chunks, attribute encoding, decoder, sigmoid). Throughput does not
depend on the weights, so a model folder is optional.

    python benchmarks/generation_throughput.py [--model DIR] [--n 4096] [--devices cpu cuda]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import torch
from orix.quaternion import Rotation

from kikuchipy_gen.detector import default_detector, detector_to_dict
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.models import preset
from kikuchipy_gen.models.geometric import GeometricDecoder
from kikuchipy_gen.phases import phase_to_dict
from kikuchipy_gen.sources import KikuchipyNickelSource


def _fresh_model() -> MLMasterPattern:
    source = KikuchipyNickelSource()
    cfg = preset("geometric")
    dec = GeometricDecoder(cfg, default_detector(), source.phase.point_group)
    info = {"phase": phase_to_dict(source.phase), "detector": detector_to_dict(default_detector()),
            "energies": [20.0], "source": source.to_dict()}
    return MLMasterPattern(cfg, dec.state_dict(), info)


def _rate(fn, n: int, repeats: int = 2) -> float:
    fn()  # warm-up: numba compilation, cuDNN autotuning, caches
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="saved model or training run folder (default: a fresh geometric model)")
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--devices", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    args = parser.parse_args()

    print(f"# {datetime.date.today()} {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    mlmp = MLMasterPattern.load(args.model) if args.model else _fresh_model()
    energy = sum(mlmp.energy_range) / 2
    rot = Rotation.random(args.n)
    det = mlmp.detector
    physics = KikuchipyNickelSource().master_pattern(20)
    phys = _rate(lambda: physics.get_patterns(rot, det, energy=20, compute=True, show_progressbar=False), args.n)
    print(f"model: {mlmp}\n| route | patterns/s | ratio to kikuchipy |\n|---|---|---|")
    print(f"| kikuchipy EBSDMasterPattern.get_patterns (numba, CPU) | {phys:,.0f} | 1.00 |")
    for device in args.devices:
        def run() -> None:
            s = mlmp.get_patterns(rot, energy=energy, chunk_size=args.chunk_size, device=device)
            s.data.compute()
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        gen = _rate(run, args.n)
        print(f"| MLMasterPattern.get_patterns, {device}, chunks of {args.chunk_size} | {gen:,.0f} | {gen / phys:.2f} |")


if __name__ == "__main__":
    main()
