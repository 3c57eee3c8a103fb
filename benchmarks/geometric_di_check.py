"""Dictionary indexing of generated patterns: geometric decoder after a short CPU training.

Trains the ``geometric`` preset for a few hundred CVAE steps, generates the test
orientations' patterns from the prior mean (z = 0), and indexes them with kikuchipy
against the dataset's physics training patterns as dictionary. The physics test
patterns, indexed against the same dictionary, give the dictionary's own limit::

    kikuchipy-gen dataset runs/ni_n30.zarr --n 30
    python benchmarks/geometric_di_check.py runs/ni_n30.zarr [--steps 400]
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time

import numpy as np
import torch
from kikuchipy.signals import EBSD
from orix.quaternion import Orientation

from kikuchipy_gen.dataset import open_dataset
from kikuchipy_gen.models import TrainConfig, preset
from kikuchipy_gen.training import Trainer


def _index(patterns: EBSD, dictionary) -> np.ndarray:
    xmap = patterns.dictionary_indexing(dictionary, metric="ncc", keep_n=1, n_per_iteration=2000)
    return xmap.rotations.data.reshape(-1, 4)


def _disorientation_deg(a: np.ndarray, b: np.ndarray, symmetry) -> np.ndarray:
    return np.rad2deg(Orientation(a, symmetry=symmetry).angle_with(Orientation(b, symmetry=symmetry)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args()
    ds = open_dataset(args.dataset)
    sym = ds.phase.point_group.proper_subgroup

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(
            dataset=args.dataset,
            out=tmp + "/run",
            model=preset("geometric"),
            cvae_lr=args.lr,
            cvae_epochs=1,
            critic_epochs=0,
            gan_epochs=0,
            max_steps_per_epoch=args.steps,
            sample_grid=False,
            max_val_patterns=256,
        )
        trainer = Trainer(cfg)
        t0 = time.perf_counter()
        trainer.run(show_progressbar=False)
        train_s = time.perf_counter() - t0

    truth = ds.rotations("test").data
    attr = torch.from_numpy(truth).float()
    trainer.decoder.eval()
    with torch.no_grad():
        z = torch.zeros(len(attr), cfg.model.latent_dim)
        generated = torch.sigmoid(trainer.decoder(z, attr)).squeeze(1).numpy()
    fake = EBSD((generated * 255).astype(np.float32))
    real = EBSD(np.asarray(ds.patterns_array("test")[0], dtype=np.float32))
    dictionary = ds.patterns("train")

    print(
        f"# {datetime.date.today()}: geometric preset, {args.steps} CVAE steps in {train_s:.0f} s; "
        f"{len(truth)} test orientations; dictionary = {ds.sizes['train']:,} training patterns"
    )
    print("| patterns indexed | mean disorientation (deg) | median | > 5 deg |\n|---|---|---|---|")
    for name, signal in (("physics (EMsoft Ni)", real), ("generated, z = 0", fake)):
        d = _disorientation_deg(_index(signal, dictionary), truth, sym)
        print(f"| {name} | {d.mean():.2f} | {np.median(d):.2f} | {np.mean(d > 5) * 100:.1f}% |")


if __name__ == "__main__":
    main()
