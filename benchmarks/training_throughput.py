"""Training throughput per preset: fp32 against bf16 autocast, each training stage's step.

Measures patterns/s of each stage's step (CVAE, critic, CVAE/GAN generator) on a small
real nickel dataset (kikuchipy's EMsoft Ni, CLAHE'd, built in a temporary folder), for
each preset, with and without bf16 autocast. The two precisions alternate, round by
round, on the same batch. Generation throughput is measured by get_patterns_default.py
and time_vs_orientations.py (the product path), not here.

    python benchmarks/training_throughput.py [--quick] [--presets geometric compact] [--device cpu]
        [--steps 10] [--repeats 5] [--json PATH]

Full: geometric and compact, 10 steps of 16 per timing, 5 rounds: about 8 minutes on 2
quiet cores (the compact preset's CVAE step runs at about 50 patterns/s there).
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
from kikuchipy_gen.training import Trainer

STAGES = ("cvae", "critic", "gan")
PRECISIONS = ("fp32", "bf16")


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
    parser.add_argument("--steps", type=int, help="steps per timing (default 10; 3 quick)")
    parser.add_argument("--repeats", type=int, help="alternating rounds (default 5; 2 quick)")
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
        "repeats": repeats,
        "batch_size": args.batch_size,
        "presets": {},
    }
    print("| preset | stage | fp32 patterns/s (median, min-max) | bf16 | bf16 / fp32 |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        ds = build_dataset(
            Path(tmp) / "ni.zarr", KikuchipyNickelSource(), split_orientations(n_train=8), show_progressbar=False
        )
        for name in args.presets:
            trainers, batches = {}, {}
            for label in PRECISIONS:
                cfg = TrainConfig(
                    dataset=str(ds.path),
                    out=str(Path(tmp) / f"{name}_{label}"),
                    model=preset(name),
                    device=args.device,
                    mixed_precision=label == "bf16",
                    sample_grid=False,
                )
                trainers[label] = Trainer(cfg)
                batches[label] = next(trainers[label]._batches(PatternStream(ds, "train"), args.batch_size))
                for stage in STAGES:  # warm-up: allocations, autocast caches
                    _rate(trainers[label], stage, batches[label], 1)
            rates = {(label, stage): [] for label in PRECISIONS for stage in STAGES}
            for _ in range(repeats):
                for label in PRECISIONS:  # alternating precisions
                    for stage in STAGES:
                        rates[label, stage].append(_rate(trainers[label], stage, batches[label], steps))
            device = str(trainers["fp32"].device)
            rows = {}
            for stage in STAGES:
                fp32, bf16 = rates["fp32", stage], rates["bf16", stage]
                # Rates, so bf16 / fp32 > 1 means bf16 is faster.
                rows[stage] = {"fp32": spread(fp32), "bf16": spread(bf16), "bf16_over_fp32": ratios(bf16, fp32)}
                f, b, r = rows[stage]["fp32"], rows[stage]["bf16"], rows[stage]["bf16_over_fp32"]
                print(
                    f"| {name} ({device}) | {stage} | {f['median']:,.1f} ({f['min']:,.1f}-{f['max']:,.1f}) "
                    f"| {b['median']:,.1f} ({b['min']:,.1f}-{b['max']:,.1f}) "
                    f"| {r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f}) |",
                    flush=True,
                )
            results["presets"][name] = {"device": device, "stages": rows}
    write_json(results, args.json)


if __name__ == "__main__":
    main()
