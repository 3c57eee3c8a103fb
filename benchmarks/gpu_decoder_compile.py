"""The shipped decoder eager against ``torch.compile``: is a fused kernel the way to 100,000/s?

Issue 16's GPU target is 100,000 patterns/s at 60x60 by the default path. The
torch decoder alone reached 72,800/s (fp32, H100) and 75,635/s (H200) while the
sector reduction ran one tiny matrix product per pixel; with the fold and
elementwise products, 196,627/s eager and 315,310/s compiled (H200, 2026-11-26,
``benchmarks/RESULTS.md``). What remains is memory traffic of elementwise tensor
operations (the fold, the Lambert coordinates, the lookups), which
``torch.compile`` fuses into few kernels. Routes, alternated, each repeated after
a warm-up (the compile):

* ``eager fp32``: the decoder as ``get_patterns`` runs it;
* ``compiled fp32``: ``torch.compile(decoder)``, the same inputs.

Checks that both give the same patterns (max abs difference), prints medians,
spreads and the ratio. Runs on the CPU too (``--device cpu``, small ``--n``):
only as a check of the script, the CPU product path is the numba kernel.

    python benchmarks/gpu_decoder_compile.py [--n 32768] [--repeats 5] [--device cuda] [--json out.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import machine_info, print_header, spread, write_json
from orix.quaternion import Rotation

from kikuchipy_gen.attributes import attribute_tensor
from kikuchipy_gen.master_pattern import MLMasterPattern


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32_768, help="rotations per call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("No CUDA device: run with --device cpu to check the script")

    info = machine_info()
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    print_header(info)
    mlmp = MLMasterPattern.from_pretrained()
    decoder = mlmp._runtime.decoder(mlmp.detector, device).eval()
    rot = Rotation.random(args.n)
    attributes = attribute_tensor(rot.data, np.full(rot.size, 20.0)).to(device)
    z = torch.zeros(rot.size, mlmp.config.latent_dim, device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def route(module):
        def run() -> torch.Tensor:
            with torch.inference_mode():
                out = torch.sigmoid(module(z, attributes).float())
            sync()
            return out

        return run

    routes = {"eager fp32": route(decoder), "compiled fp32": route(torch.compile(decoder))}
    outputs, times = {}, {name: [] for name in routes}
    for name, run in routes.items():
        t = time.perf_counter()
        outputs[name] = run()
        print(f"# warm-up of {name}: {time.perf_counter() - t:.1f} s", flush=True)
    difference = float((outputs["eager fp32"] - outputs["compiled fp32"]).abs().max())
    print(f"# max |eager - compiled| over {args.n:,} patterns: {difference:.2e}", flush=True)
    del outputs
    for _ in range(args.repeats):
        for name, run in routes.items():
            t = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t)

    results = {"machine": info, "rotations": args.n, "max_abs_difference": difference, "routes": {}}
    print(f"\n| route ({args.n:,} rotations, 60x60, {device.type}) | patterns/s, median (min-max) |")
    print("|---|---|")
    for name, t in times.items():
        rate = spread([args.n / s for s in t])
        results["routes"][name] = {"seconds": t, "per_s": rate}
        print(f"| {name} | {rate['median']:,.0f} ({rate['min']:,.0f}-{rate['max']:,.0f}) |", flush=True)
    ratio = spread([e / c for e, c in zip(times["eager fp32"], times["compiled fp32"])])
    results["compiled_over_eager"] = ratio
    print(f"\ncompiled / eager speed: median {ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})")
    write_json(results, args.json)


if __name__ == "__main__":
    main()
