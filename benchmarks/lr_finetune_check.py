"""Does a lower learning rate lower a finished model's validation BCE? (the texture-size finding)

Loads the encoder and decoder of a ``kikuchipy-gen model`` build's checkpoint,
trains more CVAE steps at another learning rate on the same dataset, and
prints the validation BCE before and after. On the 201-texel alpha-titanium
model (runs/ti_alpha, CVAE end), 600 steps at 3e-4 moved it from 0.51720 to
0.51695, while a 401-texel texture reached 0.5047 (benchmarks/RESULTS.md).

    python benchmarks/lr_finetune_check.py runs/ti_alpha --lr 3e-4 --steps 600
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from safetensors.torch import load_file

from kikuchipy_gen.pipeline import _train_config
from kikuchipy_gen.training import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path, help="a kikuchipy-gen model folder with its dataset and run/")
    parser.add_argument("--checkpoint", default="cvae_end", help="checkpoint under run/checkpoints")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args()

    recipe = json.loads((args.build / "recipe.json").read_text())
    config = _train_config(recipe, args.build)
    config.out = tempfile.mkdtemp(prefix="lr_check_")
    config.cvae_lr, config.cvae_epochs, config.max_steps_per_epoch = args.lr, 1, args.steps
    config.critic_epochs = config.gan_epochs = 0
    trainer = Trainer(config)
    checkpoint = args.build / "run" / "checkpoints" / args.checkpoint
    for net in ("encoder", "decoder"):
        getattr(trainer, net).load_state_dict(load_file(checkpoint / f"{net}.safetensors"))
    before = trainer.validate()["bce_per_pixel"]
    start = time.perf_counter()
    trainer.run(show_progressbar=False)
    after = trainer.validate()["bce_per_pixel"]
    print(
        f"validation BCE per pixel {before:.5f} -> {after:.5f} after {args.steps} CVAE steps at lr {args.lr:g} "
        f"({time.perf_counter() - start:.0f} s; run in {config.out})"
    )


if __name__ == "__main__":
    main()
