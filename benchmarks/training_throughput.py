"""Training and generation throughput of the EBSD-CVAE/GAN presets.

Measures patterns/s of each training stage's step (fp32 and bf16 autocast) on
a small real nickel dataset, and the decoder's generation rate next to
kikuchipy's ``get_patterns`` (the physics route) measured in the same run::

    python benchmarks/training_throughput.py [--preset compact] [--device cpu] [--steps 10]

``--preset paper`` needs a GPU (about 1.4 billion parameters).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from kikuchipy_gen.attributes import encode_attributes
from kikuchipy_gen.dataset import build_dataset
from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.models import TrainConfig, preset
from kikuchipy_gen.sampling import sample_orientations, split_orientations
from kikuchipy_gen.sources import KikuchipyNickelSource
from kikuchipy_gen.training import Trainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time_steps(trainer: Trainer, stage: str, batch_size: int, steps: int) -> float:
    from kikuchipy_gen.loader import PatternStream

    batches = trainer._batches(PatternStream(trainer.dataset, "train"), batch_size)
    batch = next(batches)
    step = getattr(trainer, f"_{stage}_step")
    step(batch)  # warm-up
    _sync(trainer.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        if stage == "gan":
            trainer.state.step = 1  # a generator step, not the critic's
        step(batch)
    _sync(trainer.device)
    return steps * batch_size / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="compact", choices=("compact", "geometric", "paper"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    print(
        f"# {datetime.date.today()} {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        ds = build_dataset(
            Path(tmp) / "ni.zarr", KikuchipyNickelSource(), split_orientations(n_train=8), show_progressbar=False
        )
        rows = []
        for bf16 in (False, True):
            cfg = TrainConfig(
                dataset=str(ds.path),
                out=str(Path(tmp) / f"run{bf16}"),
                model=preset(args.preset),
                device=args.device,
                mixed_precision=bf16,
                sample_grid=False,
            )
            trainer = Trainer(cfg)
            label = "bf16" if bf16 else "fp32"
            for stage in ("cvae", "critic", "gan"):
                rate = _time_steps(trainer, stage, args.batch_size, args.steps)
                rows.append(
                    (f"{args.preset} {stage} training step, {label}, {trainer.device}", f"{rate:,.1f} patterns/s")
                )

            # Generation: decoder forward from N(0, I) against kikuchipy's projection.
            n = 1024
            rot = sample_orientations("m-3m", n=20)[:n]
            attr = encode_attributes(rot, "m-3m").to(trainer.device)
            z = torch.randn(n, cfg.model.latent_dim, device=trainer.device)
            trainer.decoder.eval()
            with torch.no_grad(), trainer._autocast():
                trainer.decoder(z[:64], attr[:64])
                _sync(trainer.device)
                t0 = time.perf_counter()
                for i in range(0, n, 256):
                    torch.sigmoid(trainer.decoder(z[i : i + 256], attr[i : i + 256]).float())
                _sync(trainer.device)
            gen = n / (time.perf_counter() - t0)
            mp = KikuchipyNickelSource().master_pattern(20)
            mp.get_patterns(rot[:64], default_detector(), compute=True, show_progressbar=False)
            t0 = time.perf_counter()
            mp.get_patterns(rot, default_detector(), compute=True, show_progressbar=False)
            phys = n / (time.perf_counter() - t0)
            rows.append(
                (
                    f"{args.preset} decoder generation, {label}, {trainer.device}",
                    f"{gen:,.0f} patterns/s = {gen / phys:.2f} x kikuchipy get_patterns ({phys:,.0f}/s)",
                )
            )

    print("| measurement | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
