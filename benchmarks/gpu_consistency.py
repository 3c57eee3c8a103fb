"""Do the GPU routes give the CPU kernel's patterns? A check for a lent GPU machine.

The CPU product path is the numba kernel; on a GPU ``get_patterns`` runs the torch
decoder. Both must give the same patterns (float32 rounding apart). For each shipped
model named, ``--n`` random rotations at 12.5 and 20 kV are decoded by

* ``kernel``: ``MLMasterPattern.decode(device="cpu")``, the reference;
* ``torch cpu``: the torch decoder on the CPU;
* ``cuda``: ``MLMasterPattern.decode(device="cuda")``, the product path on the GPU;
* ``cuda search``: the same with the sector reduction by operator search, not the fold;
* ``compiled``: ``torch.compile`` of the decoder on the GPU (not a product path), and
  the same with the search and with the local-contrast head's box mean as two 1-D pools
  (a row pass and a column pass, as the head briefly had it: torch 2.11's compiled CUDA
  code got those wrong, by up to 0.67), to place a difference (at 20 kV only).

Prints, per route, the largest absolute difference from the kernel, its 99.9th
percentile and the patterns that differ by more than 0.01 anywhere.

    python benchmarks/gpu_consistency.py [--models ni-10-30kv corundum-10-30kv] [--n 4096]
        [--no-compile] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _common import machine_info, print_header, write_json

from kikuchipy_gen.attributes import attribute_tensor
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.models import geometric
from kikuchipy_gen.sampling import random_rotations


def _box_mean_1d(x: torch.Tensor, window: int) -> torch.Tensor:
    half = window // 2
    rows = F.avg_pool2d(x[:, None], (window, 1), stride=1, padding=(half, 0), count_include_pad=False)
    return F.avg_pool2d(rows, (1, window), stride=1, padding=(0, half), count_include_pad=False)[:, 0]


@contextlib.contextmanager
def _variant(decoder: torch.nn.Module, search: bool, box_1d: bool) -> Iterator[None]:
    plan, box = decoder.sector.mirror_fold(), geometric._box_mean
    if search:
        decoder.sector._fold = None
    if box_1d:
        geometric._box_mean = _box_mean_1d
    try:
        yield
    finally:
        decoder.sector._fold, geometric._box_mean = plan, box


def _torch_route(
    mlmp: MLMasterPattern, rot, energies: np.ndarray, device: str, search: bool, box_1d: bool, compiled: bool
) -> Callable[[], np.ndarray]:
    decoder = mlmp._runtime.bundle.build_decoder(mlmp.detector, device)
    attributes = attribute_tensor(rot.data.reshape(-1, 4), energies).to(device)
    z = torch.zeros(rot.size, mlmp.config.latent_dim, device=device)

    def run() -> np.ndarray:
        with _variant(decoder, search, box_1d):
            fn = torch.compile(decoder) if compiled else decoder
            with torch.inference_mode():
                out = [torch.sigmoid(fn(z[i : i + 4096], attributes[i : i + 4096])) for i in range(0, rot.size, 4096)]
        return torch.cat(out).float().cpu().numpy().reshape(rot.size, *mlmp.detector.shape)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ni-10-30kv", "ti-alpha-10-30kv", "corundum-10-30kv"])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    info = machine_info()
    if cuda:
        info["gpu"] = torch.cuda.get_device_name()
    print_header(info)
    results: dict = {"machine": info, "n": args.n, "models": {}}
    print("\n| model | kV | route | max abs diff from the kernel | 99.9th percentile | patterns off by > 0.01 |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        mlmp = MLMasterPattern.from_pretrained(name)
        rot = random_rotations(args.n, seed=11)
        results["models"][name] = {}
        for kv in (12.5, 20.0):
            energies = np.full(rot.size, kv)
            reference = mlmp.decode(rot, energy=kv, device="cpu")
            routes: dict[str, Callable[[], np.ndarray]] = {
                "torch cpu": _torch_route(mlmp, rot, energies, "cpu", False, False, False)
            }
            if cuda:
                routes["cuda"] = lambda mlmp=mlmp, rot=rot, kv=kv: mlmp.decode(rot, energy=kv, device="cuda")
                routes["cuda search"] = _torch_route(mlmp, rot, energies, "cuda", True, False, False)
                if not args.no_compile and kv == 20.0:  # ~15 s of compile each: one voltage
                    routes["compiled"] = _torch_route(mlmp, rot, energies, "cuda", False, False, True)
                    routes["compiled, search"] = _torch_route(mlmp, rot, energies, "cuda", True, False, True)
                    routes["compiled, 1-D box pools"] = _torch_route(mlmp, rot, energies, "cuda", False, True, True)
            for route, fn in routes.items():
                torch._dynamo.reset()
                diff = np.abs(fn() - reference)
                row = {
                    "max": float(diff.max()),
                    "p999": float(np.quantile(diff, 0.999)),
                    "patterns_off": int((diff.reshape(rot.size, -1).max(axis=1) > 0.01).sum()),
                }
                results["models"][name][f"{kv} {route}"] = row
                print(
                    f"| {name} | {kv} | {route} | {row['max']:.2e} | {row['p999']:.2e} | {row['patterns_off']} |",
                    flush=True,
                )
    write_json(results, args.json)


if __name__ == "__main__":
    main()
