"""How far a CVAE preset gets on a CPU: one batch overfitted, and the full fundamental zone.

A quick check, on real data, that the networks and losses can learn (overfitting
one batch must approach the entropy of the patterns, the optimum BCE) and of how
slowly the compact conv CVAE generalises over all orientations on 2 cores::

    kikuchipy-gen dataset runs/ni_n30.zarr --n 30
    python benchmarks/cvae_learning_check.py runs/ni_n30.zarr [--steps 400]
    python benchmarks/cvae_learning_check.py runs/ni_n30.zarr --preset geometric --lr 3e-3 --no-bf16
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import tempfile
import time

import numpy as np

from kikuchipy_gen.dataset import open_dataset
from kikuchipy_gen.loader import PatternStream
from kikuchipy_gen.models import TrainConfig, preset
from kikuchipy_gen.training import Trainer


def _entropy(x: np.ndarray) -> float:
    x = np.clip(x, 1e-6, 1 - 1e-6)
    return float(-(x * np.log(x) + (1 - x) * np.log(1 - x)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--preset", default="compact", choices=("compact", "geometric"))
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    ds = open_dataset(args.dataset)
    val = ds.patterns_array("val")[0][:512].astype(float) / 255
    print(
        f"# {datetime.date.today()}: {ds}; optimum BCE (entropy of val patterns) {_entropy(val):.4f}, "
        f"all-0.5 prediction {np.log(2):.4f}"
    )

    tmp = tempfile.mkdtemp()
    try:
        cfg = TrainConfig(
            dataset=args.dataset,
            out=f"{tmp}/a",
            model=preset(args.preset),
            cvae_lr=args.lr,
            mixed_precision=args.bf16,
            sample_grid=False,
        )
        trainer = Trainer(cfg)
        batch = next(trainer._batches(PatternStream(trainer.dataset, "train"), 16))
        t0 = time.perf_counter()
        for _ in range(150):
            result = trainer._cvae_step(batch)
        print(
            f"one batch of 16, 150 steps ({time.perf_counter() - t0:.0f} s): "
            f"BCE per pixel {result['bce_per_pixel']:.4f}, KL {result['kl']:.1f}"
        )

        cfg = TrainConfig(
            dataset=args.dataset,
            out=f"{tmp}/b",
            model=preset(args.preset),
            cvae_lr=args.lr,
            mixed_precision=args.bf16,
            cvae_epochs=1,
            critic_epochs=0,
            gan_epochs=0,
            max_steps_per_epoch=args.steps,
            sample_grid=False,
            max_val_patterns=512,
        )
        trainer = Trainer(cfg)
        t0 = time.perf_counter()
        trainer.run(show_progressbar=False)
        val_row = [r for r in trainer.state.history if "val_bce_per_pixel" in r][-1]
        print(
            f"all training orientations, {args.steps} steps of 16 ({time.perf_counter() - t0:.0f} s): "
            f"validation BCE per pixel {val_row['val_bce_per_pixel']:.4f}, KL {val_row['val_kl']:.2f}, "
            f"mean |generated - real| {val_row['val_abs_dev']:.4f}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
