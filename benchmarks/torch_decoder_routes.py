"""The torch decoder (training everywhere, generation on a GPU): sector reduction by fold or by search.

The geometric decoder reduces every detector pixel into the fundamental sector. For
reflection groups (m-3m, 6/mmm, 4/mmm, ...) it folds the direction across the group's
mirrors (:meth:`~kikuchipy_gen.sector.SectorReduction.mirror_fold`, a few whole-tensor
passes); before, it tested every operator's image of every pixel (an (n, order) product,
an argmax and one tiny matrix product per pixel), which is still the route of groups
without a fold (m-3, 4/m, ...; -3m folds since, across its equator by the inversion).
This script times the two routes, alternated:

* ``before``: the operator search (as the code was, but with the per-pixel matrix
  products written elementwise: as tiny batched matrix products they made the search
  2.5x slower on a GPU);
* ``after``: what the decoder does now.

Results of 2026-11-26 (2-core VM and H200, with the local-contrast head's box mean then
as two 1-D pools, since back to one 2-D pool): ``benchmarks/RESULTS.md``.

For each shipped model named, on the device given: a generation forward pass
(``--batch`` patterns, inference mode) and a training-like step (forward and backward of
a batch of 32, BCE against a fixed target). Prints medians, spreads and the median ratio
before / after, with the machine; ``--json`` writes them.

    python benchmarks/torch_decoder_routes.py [--models ni-10-30kv rutile-10-30kv]
        [--device cpu|cuda] [--batch 1024] [--repeats 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _common import alternate, machine_info, print_header, ratios, spread, write_json

from kikuchipy_gen.attributes import encode_attributes
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.sampling import random_rotations


@contextlib.contextmanager
def _before(decoder: torch.nn.Module) -> Iterator[None]:
    plan = decoder.sector.mirror_fold()
    decoder.sector._fold = None
    try:
        yield
    finally:
        decoder.sector._fold = plan


def _routes(decoder: torch.nn.Module, attributes: torch.Tensor, z: torch.Tensor, device: torch.device) -> dict:
    train_attributes, train_z = attributes[:32], z[:32]
    with torch.no_grad():
        target = torch.sigmoid(decoder(train_z, train_attributes))

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def generate() -> None:
        with torch.inference_mode():
            torch.sigmoid(decoder(z, attributes))
        sync()

    def train_step() -> None:
        decoder.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(decoder(train_z, train_attributes), target)
        loss.backward()
        sync()

    def wrapped(fn: Callable[[], None], before: bool) -> Callable[[], None]:
        def run() -> None:
            with _before(decoder) if before else contextlib.nullcontext():
                fn()

        return run

    return {
        "generate before": wrapped(generate, True),
        "generate after": wrapped(generate, False),
        "train step before": wrapped(train_step, True),
        "train step after": wrapped(train_step, False),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ni-10-30kv", "rutile-10-30kv", "ti-alpha-10-30kv"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1024, help="patterns per generation call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    device = torch.device(args.device)
    info = machine_info()
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    print_header(info)
    results: dict = {"machine": info, "batch": args.batch, "device": str(device), "models": {}}
    print(f"\n| model, device {device} | route | ms per call, median (min-max) | before / after, median (min-max) |")
    print("|---|---|---|---|")
    for name in args.models:
        mlmp = MLMasterPattern.from_pretrained(name)
        decoder = mlmp._runtime.bundle.build_decoder(mlmp.detector, device)
        decoder.requires_grad_(True)
        if decoder.sector.mirror_fold() is None:
            print(f"| {name} | (no mirror fold for {mlmp.phase.point_group.name}: both routes search) | | |")
        rot = random_rotations(args.batch, seed=3)
        attributes = encode_attributes(rot, mlmp.phase.point_group, np.linspace(10, 30, args.batch)).to(device)
        z = torch.zeros(args.batch, mlmp.config.latent_dim, device=device)
        times = alternate(_routes(decoder, attributes, z, device), args.repeats)
        results["models"][name] = {route: spread(t) for route, t in times.items()}
        for task in ("generate", "train step"):
            before, after = times[f"{task} before"], times[f"{task} after"]
            ratio = ratios(before, after)
            results["models"][name][f"{task} ratio"] = ratio
            for route, t in ((f"{task} before", before), (f"{task} after", after)):
                s = spread([1e3 * x for x in t])
                shown = (
                    f"{ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})" if route.endswith("after") else ""
                )
                print(f"| {name} | {route} | {s['median']:.1f} ({s['min']:.1f}-{s['max']:.1f}) | {shown} |", flush=True)
    write_json(results, args.json)


if __name__ == "__main__":
    main()
