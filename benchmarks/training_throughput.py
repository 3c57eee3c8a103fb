"""Training throughput per preset: fp32 against bf16 autocast and against contiguous tensors.

Measures patterns/s of each stage's step (CVAE, critic, CVAE/GAN generator) on a small
real nickel dataset (kikuchipy's EMsoft Ni, CLAHE'd, built in a temporary folder), for
each preset and up to four routes: ``fp32`` (the default, ``memory_format="auto"``: on a
CPU the encoder and critic channels-last where torch's kernels allow it, on a GPU
contiguous), ``bf16`` (the same under bf16 autocast), ``contiguous`` (fp32 with the layout
torch gives) and ``channels_last`` (fp32, channels-last forced; a GPU's question). The
routes alternate, round by round, on the same batch; ratios are each route's rate over
fp32's. Generation throughput is measured by get_patterns_default.py and
time_vs_orientations.py (the product path), not here.

    python benchmarks/training_throughput.py [--quick] [--presets geometric compact] [--device cpu]
        [--routes fp32 bf16 contiguous channels_last] [--steps 10] [--repeats 5] [--batch-size 16] [--json PATH]

Full: geometric and compact, 10 steps of 16 per timing, 5 rounds: about 10 minutes on 2
quiet cores. On a CPU without AVX-512 bf16 is emulated, 5-8x slower (and contiguous:
"auto" picks that layout for it); the bf16 route then times a third of the steps
(``--emulated-bf16-steps``), still several seconds a timing.
``--quick``: 3 steps, 2 rounds. ``--presets paper`` needs a GPU (about 1.4 billion
parameters).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import machine_info, print_header, ratios, spread, write_json

from kikuchipy_gen.dataset import build_dataset
from kikuchipy_gen.loader import PatternStream
from kikuchipy_gen.models import TrainConfig, preset
from kikuchipy_gen.sampling import split_orientations
from kikuchipy_gen.sources import KikuchipyNickelSource
from kikuchipy_gen.training import Trainer, _fast_cpu_bf16

STAGES = ("cvae", "critic", "gan")
# TrainConfig fields of each route; fp32 is the default and the reference of the ratios.
ROUTES = {
    "fp32": {},
    "bf16": {"mixed_precision": True},
    "contiguous": {"memory_format": "contiguous"},
    # On a GPU "auto" is contiguous; this route asks whether channels-last would pay there.
    # On a CPU the CPU presets' narrow convolutions refuse it (they hung in torch's backward).
    "channels_last": {"memory_format": "channels_last"},
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _rate(trainer: Trainer, stage: str, batch: dict, steps: int) -> float:
    """Patterns/s of ``steps`` steps of one stage on one batch (data loading excluded)."""
    step = getattr(trainer, f"_{stage}_step")
    _sync(trainer.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        if stage == "gan":
            trainer.state.step = 1  # a generator step, not the critic's
        step(batch)
    _sync(trainer.device)
    return steps * len(batch["pattern"]) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 steps, 2 rounds (a smoke test)")
    parser.add_argument(
        "--presets", nargs="+", default=["geometric", "compact"], choices=("compact", "geometric", "paper")
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--routes", nargs="+", default=["fp32", "bf16", "contiguous"], choices=list(ROUTES))
    parser.add_argument("--steps", type=int, help="steps per timing (default 10; 3 quick)")
    parser.add_argument("--repeats", type=int, help="alternating rounds (default 5; 2 quick)")
    parser.add_argument(
        "--emulated-bf16-steps", type=int, help="bf16 steps per timing where bf16 is emulated (default a third)"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    steps = args.steps or (3 if args.quick else 10)
    repeats = args.repeats or (2 if args.quick else 5)

    info = machine_info()
    print_header(info)
    results = {
        "machine": info,
        "quick": args.quick,
        "steps": steps,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "repeats": repeats,
        "batch_size": args.batch_size,
        "presets": {},
    }
    routes = ["fp32"] + [r for r in args.routes if r != "fp32"]
    others = routes[1:]
    results["routes"] = {r: ROUTES[r] for r in routes}
    header = "| preset | stage | fp32 patterns/s (median, min-max) | " + " | ".join(f"{r} | {r} / fp32" for r in others)
    print(header + " |\n|" + "---|" * (3 + 2 * len(others)))
    with tempfile.TemporaryDirectory() as tmp:
        ds = build_dataset(
            Path(tmp) / "ni.zarr", KikuchipyNickelSource(), split_orientations(n_train=8), show_progressbar=False
        )
        for name in args.presets:
            trainers, batches = {}, {}
            for route in routes:
                cfg = TrainConfig(
                    dataset=str(ds.path),
                    out=str(Path(tmp) / f"{name}_{route}"),
                    model=preset(name),
                    device=args.device,
                    sample_grid=False,
                    **ROUTES[route],
                )
                trainers[route] = Trainer(cfg)
                batches[route] = next(trainers[route]._batches(PatternStream(ds, "train"), args.batch_size))
                for stage in STAGES:  # warm-up: allocations, autocast caches
                    _rate(trainers[route], stage, batches[route], 1)
            # An emulated bf16 step takes seconds: fewer of them time it as well.
            emulated = trainers["fp32"].device.type == "cpu" and not _fast_cpu_bf16()
            route_steps = {r: steps for r in routes}
            if emulated and "bf16" in routes:
                route_steps["bf16"] = args.emulated_bf16_steps or max(1, round(steps / 3))
            rates = {(route, stage): [] for route in routes for stage in STAGES}
            for _ in range(repeats):
                for route in routes:  # alternating routes
                    for stage in STAGES:
                        rates[route, stage].append(_rate(trainers[route], stage, batches[route], route_steps[route]))
            device = str(trainers["fp32"].device)
            rows = {}
            for stage in STAGES:
                fp32 = rates["fp32", stage]
                # Rates, so a ratio > 1 means the route is faster than fp32.
                rows[stage] = {"fp32": spread(fp32)}
                cells = []
                for route in others:
                    rows[stage][route] = spread(rates[route, stage])
                    rows[stage][f"{route}_over_fp32"] = ratios(rates[route, stage], fp32)
                    o, r = rows[stage][route], rows[stage][f"{route}_over_fp32"]
                    cells.append(
                        f"{o['median']:,.1f} ({o['min']:,.1f}-{o['max']:,.1f}) "
                        f"| {r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})"
                    )
                f = rows[stage]["fp32"]
                print(
                    f"| {name} ({device}) | {stage} | {f['median']:,.1f} ({f['min']:,.1f}-{f['max']:,.1f}) | "
                    + " | ".join(cells)
                    + " |",
                    flush=True,
                )
            results["presets"][name] = {"device": device, "steps": route_steps, "stages": rows}
    write_json(results, args.json)


if __name__ == "__main__":
    main()
