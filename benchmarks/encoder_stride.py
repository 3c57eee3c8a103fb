"""The geometric preset's encoder at full resolution against one striding in its first block.

The geometric decoder reads the latent vector only through a bounded term and
generation uses z = 0, so the encoder's job looks small; at full resolution
(the former preset: blocks (16, 1), (32, 1), (48, 2), (32, 2)) its forward and
backward passes are most of a CPU training step. Striding in the first block,
(16, 2), (32, 1), (48, 2), (32, 1), keeps the weights and cuts that cost. Two
routes, alternated after a warm-up:

* ``preset``: the geometric preset's encoder until the fifteenth session;
* ``strided``: the same with the strided blocks.

Each round times ``--steps`` CVAE training steps (batch 32, texture 401, six
voltage knots: the one command's recipe) on the package's tiny dataset.

With ``--folder``, a ``kikuchipy-gen model`` output folder (its recipe and
dataset), both routes also train ``--train-steps`` CVAE steps from the same
seed on that dataset, one after the other, and their wall times and
validation BCE are printed, with z from the encoder (what training validates)
and with z = 0 (what a model generates): the quality side of the trade. The
strided encoder became the preset's (with the head norm) once training decoded
part of each batch at z = 0 (``--train-routes ... _dropout``; benchmarks/RESULTS.md).

    python benchmarks/encoder_stride.py [--quick] [--repeats 5] [--steps 5]
        [--folder runs/rutile --train-steps 400 [--train-routes preset strided_dropout ...]
         [--latent-dropout 0.5] [--seed 0] [--skip-timing]] [--json PATH]

Full: about 3 minutes on 2 quiet cores (the training comparison adds about 8
minutes for 400 steps). ``--quick``: texture 101, 2 steps, 2 rounds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from _common import alternate, machine_info, print_header, ratios, spread, write_json

from kikuchipy_gen import pipeline
from kikuchipy_gen.data import tiny_dataset
from kikuchipy_gen.loader import PatternStream
from kikuchipy_gen.losses import bce_reconstruction
from kikuchipy_gen.models import TrainConfig, preset
from kikuchipy_gen.training import Trainer

# The geometric preset's encoder until the fifteenth session (full resolution, no
# head norm) and the same striding in its first block; the preset is now the
# latter with the head norm.
FORMER = {"blocks": [(16, 1), (32, 1), (48, 2), (32, 2)], "encoder_head_norm": False}
STRIDED = {"blocks": [(16, 2), (32, 1), (48, 2), (32, 1)], "encoder_head_norm": False}


def _step_routes(size: int, steps: int) -> dict:
    data = tiny_dataset(tempfile.mkdtemp())
    routes = {}
    for name, overrides in (("preset", FORMER), ("strided", STRIDED)):
        model = preset("geometric", texture_size=size, use_voltage=True, n_attributes=5, voltage_knots=6, **overrides)
        config = TrainConfig(dataset=str(data.path), out=tempfile.mkdtemp(), model=model, sample_grid=False)
        trainer = Trainer(config)
        batch = next(trainer._batches(PatternStream(data, "train"), 32))

        def run(trainer=trainer, batch=batch) -> None:
            for _ in range(steps):
                trainer._cvae_step(batch)

        routes[name] = run
    return routes


@torch.no_grad()
def _bce_at_z(trainer: Trainer, batches: int = 16) -> dict:
    """Validation BCE per pixel with z from the encoder (what training validates) and z = 0 (what a model generates)."""
    trainer.encoder.eval()
    trainer.decoder.eval()
    totals, n = {"encoder_z": 0.0, "zero_z": 0.0}, 0
    for i, batch in enumerate(trainer._batches(PatternStream(trainer.dataset, "val"), 64)):
        if i >= batches:
            break
        x, attributes = batch["pattern"], batch["attributes"]
        mean, _ = trainer.encoder(x, attributes)
        for key, z in (("encoder_z", mean), ("zero_z", torch.zeros_like(mean))):
            totals[key] += bce_reconstruction(trainer.decoder(z, attributes), x, "mean").item() * len(x)
        n += len(x)
    return {k: v / n for k, v in totals.items()}


# Training routes of ``--folder``: model overrides and the share of each batch decoded at z = 0.
TRAIN_ROUTES = {
    "preset": (FORMER, 0.0),  # the former preset, as the routes' names were given
    "strided": (STRIDED, 0.0),
    "preset_dropout": (FORMER, None),
    "strided_dropout": (STRIDED, None),
    "head_norm_dropout": ({**FORMER, "encoder_head_norm": True}, None),
    "strided_head_norm": ({**STRIDED, "encoder_head_norm": True}, 0.0),
    "strided_head_norm_dropout": ({**STRIDED, "encoder_head_norm": True}, None),  # the preset now
}


def _train(folder: Path, steps: int, routes: list[str], latent_dropout: float, seed: int) -> dict:
    recipe = json.loads((folder / "recipe.json").read_text())
    out = {}
    for name in routes:
        overrides, dropout = TRAIN_ROUTES[name]
        r = json.loads(json.dumps(recipe))
        r["model"].update(overrides)
        config = pipeline._train_config(r, Path(tempfile.mkdtemp()))
        config.latent_dropout = latent_dropout if dropout is None else dropout
        config.seed = seed
        config.dataset = str(folder / "dataset.zarr")
        config.max_steps_per_epoch = steps
        config.cvae_epochs, config.critic_epochs, config.gan_epochs = 1, 0, 0
        t0 = time.perf_counter()
        trainer = Trainer(config)
        trainer.run(show_progressbar=False)
        wall = time.perf_counter() - t0
        bce = _bce_at_z(trainer)
        out[name] = {"seconds": wall, "latent_dropout": config.latent_dropout, "seed": seed, **bce}
        print(
            f"| {name} | {config.latent_dropout:g} | {steps} | {wall:.0f} | {bce['encoder_z']:.6f} "
            f"| {bce['zero_z']:.6f} |",
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="texture 101, 2 steps, 2 rounds (a smoke test)")
    parser.add_argument("--repeats", type=int, help="alternated rounds (default 5; 2 quick)")
    parser.add_argument("--steps", type=int, help="CVAE steps per timing (default 5; 2 quick)")
    parser.add_argument("--folder", type=Path, help="a kikuchipy-gen model folder to train both routes on")
    parser.add_argument("--train-steps", type=int, default=400, help="CVAE steps of that training")
    parser.add_argument(
        "--train-routes",
        nargs="+",
        choices=sorted(TRAIN_ROUTES),
        default=["preset", "strided"],
        help="routes of that training, one after the other (_dropout: --latent-dropout of each batch at z = 0)",
    )
    parser.add_argument("--latent-dropout", type=float, default=0.5, help="the _dropout routes' share")
    parser.add_argument("--seed", type=int, default=0, help="seed of that training")
    parser.add_argument("--skip-timing", action="store_true", help="only the training comparison")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    repeats = (2 if args.quick else 5) if args.repeats is None else args.repeats
    steps = (2 if args.quick else 5) if args.steps is None else args.steps
    if repeats < 1 or steps < 1 or args.train_steps < 1:
        parser.error("--repeats, --steps and --train-steps must be >= 1")
    if not 0 <= args.latent_dropout <= 1:
        parser.error("--latent-dropout must be in [0, 1]")
    if args.skip_timing and args.folder is None:
        parser.error("--skip-timing needs --folder")
    if args.folder is not None and not (args.folder / "recipe.json").is_file():
        parser.error(f"{args.folder} is not a kikuchipy-gen model folder (no recipe.json)")
    size = 101 if args.quick else 401

    info = machine_info()
    print_header(info)
    results = {"machine": info, "quick": args.quick, "texture": size, "steps": steps}
    if not args.skip_timing:
        times = alternate(_step_routes(size, steps), repeats)
        ratio = ratios(times["preset"], times["strided"])
        preset_s, strided_s = (spread([t / steps for t in times[k]]) for k in ("preset", "strided"))
        print(f"geometric preset, texture {size}, 6 voltage knots, batch 32; {repeats} rounds of {steps} CVAE steps")
        print("| route | seconds per CVAE step, median (min-max) |\n|---|---|")
        for name, t in (("preset (full resolution)", preset_s), ("strided (first block)", strided_s)):
            print(f"| {name} | {t['median']:.3f} ({t['min']:.3f}-{t['max']:.3f}) |")
        print(f"preset / strided, per round: {ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})")
        results.update(preset_s=preset_s, strided_s=strided_s, preset_over_strided=ratio)
    if args.folder is not None:
        print(
            "| route | latent dropout | CVAE steps | seconds (with validation) | validation BCE per pixel, "
            "z from the encoder | same, z = 0 (generation) |\n|---|---|---|---|---|---|"
        )
        results["training"] = _train(args.folder, args.train_steps, args.train_routes, args.latent_dropout, args.seed)
    write_json(results, args.json)


if __name__ == "__main__":
    main()
