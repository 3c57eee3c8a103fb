"""Throughput of MLMasterPattern.get_patterns against kikuchipy's own get_patterns.

All routes make 60x60 patterns for the same rotations in the same run:

* kikuchipy projects the shipped EMsoft Ni master pattern (numba, CPU): the
  baseline, ratio 1;
* the same plus rescaling and CLAHE, the physics route to what the model
  outputs (CLAHE'd patterns);
* ``MLMasterPattern.get_patterns`` on each device, the whole product path (dask
  chunks, attribute encoding, decoder): on CPU the fused numba kernel
  (kikuchipy_gen/models/_cpu_decode.py), on a GPU torch;
* the torch decoder's forward pass on CPU, the route the kernel replaced.

Throughput does not depend on the weights, so a model folder is optional.

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

from kikuchipy_gen.attributes import encode_attributes
from kikuchipy_gen.detector import default_detector, detector_to_dict
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.models import preset
from kikuchipy_gen.models.geometric import GeometricDecoder
from kikuchipy_gen.phases import phase_to_dict
from kikuchipy_gen.preprocessing import preprocess
from kikuchipy_gen.sources import KikuchipyNickelSource


def _fresh_model() -> MLMasterPattern:
    source = KikuchipyNickelSource()
    cfg = preset("geometric")
    dec = GeometricDecoder(cfg, default_detector(), source.phase.point_group)
    info = {
        "phase": phase_to_dict(source.phase),
        "detector": detector_to_dict(default_detector()),
        "energies": [20.0],
        "source": source.to_dict(),
    }
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

    print(
        f"# {datetime.date.today()} {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
    )
    mlmp = MLMasterPattern.load(args.model) if args.model else _fresh_model()
    lo, hi = mlmp.energy_range
    # On a voltage knot (one lookup per pixel) and between two (two lookups, blended).
    energies = sorted({(lo + hi) / 2, lo + 0.375 * (hi - lo)})
    energy = energies[0]
    rot = Rotation.random(args.n)
    det = mlmp.detector
    physics = KikuchipyNickelSource().master_pattern(20)
    phys = _rate(lambda: physics.get_patterns(rot, det, energy=20, compute=True, show_progressbar=False), args.n)
    clahe = _rate(
        lambda: preprocess(physics.get_patterns(rot, det, energy=20, compute=True, show_progressbar=False)),
        args.n,
        repeats=1,
    )
    print(f"model: {mlmp}\n| route | patterns/s | ratio to kikuchipy |\n|---|---|---|")
    print(f"| kikuchipy EBSDMasterPattern.get_patterns (numba, CPU) | {phys:,.0f} | 1.00 |")
    print(
        f"| kikuchipy get_patterns + rescale + CLAHE (the physics route to the model's output) "
        f"| {clahe:,.0f} | {clahe / phys:.2f} |"
    )
    for device in args.devices:
        for kv in energies:

            def run(kv: float = kv, device: str = device) -> None:
                s = mlmp.get_patterns(rot, energy=kv, chunk_size=args.chunk_size, device=device)
                s.data.compute()
                if device.startswith("cuda"):
                    torch.cuda.synchronize()

            gen = _rate(run, args.n)
            how = "fused numba kernel" if device == "cpu" else "torch"
            print(
                f"| MLMasterPattern.get_patterns at {kv:g} kV, {device} ({how}), chunks of {args.chunk_size} "
                f"| {gen:,.0f} | {gen / phys:.2f} |"
            )
    dec = mlmp.bundle.build_decoder(det)
    attr = encode_attributes(rot, mlmp.phase.point_group, energy if mlmp.config.use_voltage else None)

    def forward() -> None:
        with torch.inference_mode():
            for part in attr.split(args.chunk_size):
                torch.sigmoid(dec(torch.zeros(len(part), mlmp.config.latent_dim), part))

    slow = _rate(forward, args.n, repeats=1)
    print(
        f"| torch decoder forward on CPU ({torch.get_num_threads()} threads), batches of {args.chunk_size} "
        f"| {slow:,.0f} | {slow / phys:.2f} |"
    )


if __name__ == "__main__":
    main()
