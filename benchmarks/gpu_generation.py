"""Generation on a CUDA GPU against kikuchipy on the same machine's CPU cores (issue 16).

Routes, alternated call by call, each repeated (default 5) after a warm-up:

* ``kikuchipy``: ``EBSDMasterPattern.get_patterns`` projecting the EMsoft Ni
  master pattern (numba, all CPU cores), the baseline;
* ``default``: ``MLMasterPattern.from_pretrained().get_patterns(rot, energy=20,
  compute=True)`` with every other argument left at its default (the GPU, when
  there is one, and the default chunks);
* ``chunks N``: the same with ``chunk_shape=N`` (one torch batch per chunk);
* ``sweep``: one call with one energy per rotation, 10-30 kV;
* ``decoder fp32`` / ``decoder bf16``: the torch decoder alone on inputs
  already on the GPU, synchronised: the ceiling of the product path.

Then a profile of one default call (where the time goes). Prints medians,
spreads and ratios to kikuchipy, with the machine; ``--json`` writes them.

    python benchmarks/gpu_generation.py [--n 32768] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
from pathlib import Path

import numpy as np
import torch
from _common import alternate, machine_info, print_header, spread, write_json
from orix.quaternion import Rotation

from kikuchipy_gen.attributes import attribute_tensor
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.sources import KikuchipyNickelSource


def _decoder_route(mlmp: MLMasterPattern, rot: Rotation, bf16: bool):
    device = torch.device("cuda")
    decoder = mlmp._runtime.decoder(mlmp.detector, device)
    attributes = attribute_tensor(rot.data, np.full(rot.size, 20.0)).to(device)
    z = torch.zeros(rot.size, mlmp.config.latent_dim, device=device)

    def run() -> None:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            torch.sigmoid(decoder(z, attributes).float())
        torch.cuda.synchronize()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32_768, help="rotations per call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunks", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("No CUDA device: this benchmark is for a GPU machine")

    info = {**machine_info(), "gpu": torch.cuda.get_device_name()}
    print_header(info)
    print(f"# GPU: {info['gpu']}", flush=True)
    rot = Rotation.random(args.n)
    mlmp = MLMasterPattern.from_pretrained()
    kp = KikuchipyNickelSource().master_pattern(20.0)
    detector = mlmp.detector
    sweep = np.linspace(10, 30, args.n)

    routes = {
        "kikuchipy": lambda: kp.get_patterns(rot, detector, energy=20, compute=True, show_progressbar=False),
        "default": lambda: mlmp.get_patterns(rot, energy=20.0, compute=True, show_progressbar=False),
        **{
            f"chunks {c}": (
                lambda c=c: mlmp.get_patterns(rot, energy=20.0, compute=True, show_progressbar=False, chunk_shape=c)
            )
            for c in args.chunks
        },
        "sweep": lambda: mlmp.get_patterns(rot, energy=sweep, compute=True, show_progressbar=False),
        "decoder fp32": _decoder_route(mlmp, rot, bf16=False),
        "decoder bf16": _decoder_route(mlmp, rot, bf16=True),
    }
    times = alternate(routes, args.repeats)
    results = {"machine": info, "rotations": args.n, "repeats": args.repeats, "routes": {}}
    base = times["kikuchipy"]
    print(f"\n| route ({args.n:,} rotations, 60x60) | patterns/s, median (min-max) ", end="")
    print("| ratio to kikuchipy, median (min-max) |")
    print("|---|---|---|")
    for name, t in times.items():
        rate = spread([args.n / s for s in t])
        ratio = spread([b / s for b, s in zip(base, t)])
        results["routes"][name] = {"seconds": t, "per_s": rate, "ratio": ratio}
        print(
            f"| {name} | {rate['median']:,.0f} ({rate['min']:,.0f}-{rate['max']:,.0f}) "
            f"| {ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f}) |",
            flush=True,
        )

    profile = cProfile.Profile()
    profile.enable()
    routes["default"]()
    profile.disable()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(15)
    print("\n## Profile of one default call (tottime; dask's worker threads are not profiled)\n")
    print(text.getvalue())
    results["profile"] = text.getvalue()
    write_json(results, args.json)


if __name__ == "__main__":
    main()
