"""Quality of the geometric decoder against training time on this machine (issue 4's curve).

Trains the CVAE stage of a geometric model from scratch on a multi-voltage dataset and,
at set points of training time (evaluation time excluded), measures on fixed random
test orientations:

* BCE per pixel of generated (z = 0) vs physics patterns, and the optimum, per voltage
  (training voltages and one between them);
* dictionary indexing of generated patterns at the middle training voltage against the
  physics patterns of the dataset's training grid, then BOBYQA refinement against the
  physics master pattern; the refined disorientation is reported on the patterns whose
  physics counterpart refines to < 0.5 deg (dictionary misses excluded, as in the
  evaluation report).

    kikuchipy-gen dataset runs/ni_dyn.zarr --source dynamical --energies 10 15 20 25 30 --n 30
    python benchmarks/quality_vs_time.py runs/ni_dyn.zarr --minutes 40 --out runs/qvt
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from orix.quaternion import Rotation

from kikuchipy_gen.dataset import open_dataset
from kikuchipy_gen.evaluation import bce_per_pixel, optimal_bce, physics_patterns
from kikuchipy_gen.evaluation.physics import as_ebsd, best_matches, clahe_from_info
from kikuchipy_gen.loader import PatternStream
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.models import TrainConfig, preset
from kikuchipy_gen.refinement import disorientation, refine_orientations
from kikuchipy_gen.training import Trainer


def _model(trainer: Trainer, ds) -> MLMasterPattern:
    state = {k: v.detach().cpu().clone() for k, v in trainer.decoder.state_dict().items()}
    return MLMasterPattern.from_dataset(trainer.config.model, state, ds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--minutes", type=float, default=40)
    parser.add_argument(
        "--points",
        type=float,
        nargs="+",
        default=[0.5, 1, 2, 4, 8, 12, 16, 24, 32, 40],
        help="training minutes at which to evaluate",
    )
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--n-refine", type=int, default=40)
    parser.add_argument("--out", default="runs/qvt")
    args = parser.parse_args()

    ds = open_dataset(args.dataset)
    energies = ds.energies
    lo, hi = min(energies), max(energies)
    mid = energies[len(energies) // 2]
    unseen = (energies[0] + energies[1]) / 2 if len(energies) > 1 else None
    model = preset(
        "geometric",
        use_voltage=len(energies) > 1,
        n_attributes=5 if len(energies) > 1 else 4,
        voltage_knots=len(energies),
        energy_range=(lo, hi),
    )
    cfg = TrainConfig(
        dataset=str(ds.path),
        out=args.out,
        model=model,
        cvae_lr=args.lr,
        cvae_batch_size=args.batch_size,
        sample_grid=False,
        checkpoint_every=10**9,
    )
    trainer = Trainer(cfg)
    print(
        f"# {datetime.date.today()} {platform.node()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}; {ds}; lr {args.lr}, batch {args.batch_size}"
    )

    # Fixed test set and physics references, built once (not timed).
    q = np.random.default_rng(0).standard_normal((args.n_test, 4))
    test = Rotation(q / np.linalg.norm(q, axis=1, keepdims=True))
    clahe = clahe_from_info(ds.attrs["preprocessing"])
    check_kv = sorted({energies[0], mid, energies[-1]} | ({unseen} if unseen else set()))
    masters = {e: ds.source.master_pattern(e) for e in check_kv}
    real = {e: physics_patterns(masters[e], test, ds.detector, e, clahe) for e in check_kv}
    dictionary = ds.patterns("train", mid)
    dictionary.compute(show_progressbar=False)
    dictionary = dictionary.deepcopy()
    dictionary.change_dtype("float32")
    dictionary.data /= 255
    sub = slice(0, args.n_refine)
    sub_rot = Rotation(test.data[sub])
    with contextlib.redirect_stdout(io.StringIO()):
        phys_xmap = as_ebsd(real[mid], test, ds.phase, ds.detector).dictionary_indexing(dictionary, keep_n=1)
        phys_ref = refine_orientations(
            as_ebsd(real[mid][sub], sub_rot, ds.phase, ds.detector),
            best_matches(phys_xmap, sub),
            ds.detector,
            masters[mid],
            mid,
        )
    indexed = disorientation(phys_ref, sub_rot, ds.phase) < 0.5

    stream = PatternStream(ds, "train", seed=cfg.seed)
    trained_s, epoch, rows = 0.0, 0, []
    points = [p for p in args.points if p <= args.minutes]
    print(
        "| train min | steps | "
        + " | ".join(f"BCE {e:g} kV" for e in check_kv)
        + f" | DI {mid:g} kV median | refined {mid:g} kV mean (indexed {indexed.mean():.0%}) | median |"
    )
    print("|---" * (len(check_kv) + 5) + "|")
    while points:
        stream.set_epoch(epoch)
        for batch in trainer._batches(stream, args.batch_size):
            t0 = time.perf_counter()
            trainer._cvae_step(batch)
            trained_s += time.perf_counter() - t0
            trainer.state.step += 1
            if trained_s < points[0] * 60:
                continue
            points.pop(0)
            trainer.decoder.eval()
            mlmp = _model(trainer, ds)
            bces = {
                e: bce_per_pixel(mlmp.decode(test, energy=e if mlmp.config.use_voltage else None), real[e])
                for e in check_kv
            }
            gen = mlmp.decode(test, energy=mid if mlmp.config.use_voltage else None)
            with contextlib.redirect_stdout(io.StringIO()):
                xmap = as_ebsd(gen, test, ds.phase, ds.detector).dictionary_indexing(dictionary, keep_n=1)
                ref = refine_orientations(
                    as_ebsd(gen[sub], sub_rot, ds.phase, ds.detector),
                    best_matches(xmap, sub),
                    ds.detector,
                    masters[mid],
                    mid,
                )
            di = disorientation(xmap, test, ds.phase)
            refined = disorientation(ref, sub_rot, ds.phase)[indexed]
            row = {
                "minutes": trained_s / 60,
                "steps": trainer.state.step,
                "bce": bces,
                "optimal_bce": {e: optimal_bce(real[e]) for e in check_kv},
                "di_median": float(np.median(di)),
                "refined_mean": float(refined.mean()),
                "refined_median": float(np.median(refined)),
                "refined_std": float(refined.std()),
            }
            rows.append(row)
            print(
                f"| {row['minutes']:.1f} | {row['steps']} | "
                + " | ".join(f"{bces[e]:.4f}" for e in check_kv)
                + f" | {row['di_median']:.2f} | {row['refined_mean']:.3f} +- {row['refined_std']:.3f} | "
                f"{row['refined_median']:.3f} |",
                flush=True,
            )
            if not points:
                break
        epoch += 1
    print("optimum BCE: " + ", ".join(f"{e:g} kV {optimal_bce(real[e]):.4f}" for e in check_kv))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "quality_vs_time.json").write_text(json.dumps(rows, indent=2, default=float))


if __name__ == "__main__":
    main()
