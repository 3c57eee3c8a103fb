"""Training figures: loss curves (the paper's Fig. 2) and generated-vs-real grids."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from kikuchipy_gen.training import Trainer

__all__ = ["plot_history", "save_sample_grid"]


def plot_history(history: list[dict[str, Any]], path: str | Path) -> None:
    """Save loss curves per stage: reconstruction/KL, classifier and critic terms.

    Parameters
    ----------
    history
        Rows of the run history (``Trainer.state.history``).
    path
        PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("Reconstruction and latent", ["bce_per_pixel", "val_bce_per_pixel", "kl"]),
        ("Attributes (classifier)", ["orientation_deg", "val_classifier_deg", "voltage_mse_kv2"]),
        ("Adversarial", ["critic", "generator"]),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, (title, keys) in zip(axes, panels):
        for key in keys:
            rows = [(r["step"], r[key]) for r in history if key in r]
            if rows:
                steps, values = np.asarray(rows, dtype=float).T
                style = "o-" if key.startswith("val_") else "-"
                ax.plot(steps, values, style, label=key, lw=1, ms=3)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend(fontsize=7)
    for stage_start in _stage_starts(history):
        for ax in axes:
            ax.axvline(stage_start, color="grey", lw=0.5, ls="--")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _stage_starts(history: list[dict[str, Any]]) -> list[int]:
    starts, previous = [], None
    for row in history:
        if row["stage"] != previous and previous is not None:
            starts.append(row["step"])
        previous = row["stage"]
    return starts


@torch.no_grad()
def save_sample_grid(trainer: Trainer, path: str | Path, n: int = 6) -> None:
    """Save real, reconstructed and N(0, I)-sampled patterns of fixed validation orientations.

    Also appends the frame to ``samples.gif`` beside the PNG (the paper's
    Supplementary Movies). Uses its own random generator so that training
    stays reproducible.
    """
    from PIL import Image

    split = "val" if "val" in trainer.dataset.sizes else "train"
    from kikuchipy_gen.loader import PatternStream

    stream = PatternStream(trainer.dataset, split, shuffle=False, rank=0, world_size=1)
    batch = next(trainer._batches(stream, n))
    x, attr = batch["pattern"], batch["attributes"]
    trainer.encoder.eval(), trainer.decoder.eval()
    mean, _ = trainer.encoder(x, attr)
    recon = torch.sigmoid(trainer.decoder(mean, attr).float())
    g = torch.Generator(device="cpu").manual_seed(0)
    z = torch.randn(len(x), mean.shape[1], generator=g).to(x.device)
    sampled = torch.sigmoid(trainer.decoder(z, attr).float())
    rows = [t.squeeze(1).cpu().numpy() for t in (x, recon, sampled)]
    grid = np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)
    image = Image.fromarray((np.clip(grid, 0, 1) * 255).astype(np.uint8))
    image = image.resize((image.width * 2, image.height * 2), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    frames = sorted(path.parent.glob("*.png"))
    images = [Image.open(f) for f in frames[-60:]]
    images[0].save(path.parent / "samples.gif", save_all=True, append_images=images[1:], duration=400, loop=0)
