"""Training figures: loss curves (the paper's Fig. 2) and generated-vs-real grids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_history", "save_sample_grid"]


def plot_history(history: list[dict[str, Any]], path: str | Path) -> None:
    """Save loss curves per stage: reconstruction/KL, classifier and critic terms.

    Parameters
    ----------
    history
        Rows of the run history (``Trainer.state.history``).
    path
        PNG to write.

    Examples
    --------
    >>> import tempfile
    >>> from kikuchipy_gen.training_plots import plot_history
    >>> rows = [{"stage": "cvae", "step": s, "bce_per_pixel": 0.6 - s / 100} for s in range(10)]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     plot_history(rows, tmp + "/loss_curves.png")
    """
    # A Figure of its own, not pyplot: no backend switch, no global figure state.
    from matplotlib.figure import Figure

    panels = [
        ("Reconstruction and latent", ["bce_per_pixel", "val_bce_per_pixel", "kl"]),
        ("Attributes (classifier)", ["orientation_deg", "val_classifier_deg", "voltage_mse_kv2"]),
        ("Adversarial", ["critic", "generator"]),
    ]
    fig = Figure(figsize=(12, 3.2))
    axes = fig.subplots(1, 3)
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


def _stage_starts(history: list[dict[str, Any]]) -> list[int]:
    starts, previous = [], None
    for row in history:
        if row["stage"] != previous and previous is not None:
            starts.append(row["step"])
        previous = row["stage"]
    return starts


def save_sample_grid(real: Any, reconstructed: Any, sampled: Any, path: str | Path) -> None:
    """Save rows of real, reconstructed and sampled patterns, and append the frame to ``samples.gif``.

    The GIF beside the PNG collects the frames of a run (the paper's
    Supplementary Movies).

    Parameters
    ----------
    real, reconstructed, sampled
        Arrays (n, rows, cols) in [0, 1] (numpy arrays or CPU tensors), as
        :meth:`kikuchipy_gen.training.Trainer.sample_patterns` returns.
    path
        PNG to write.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from kikuchipy_gen.training_plots import save_sample_grid
    >>> x = np.random.default_rng(0).random((3, 8, 8))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     save_sample_grid(x, x, x, tmp + "/0001.png")
    """
    from PIL import Image

    rows = [np.asarray(r, dtype=np.float32) for r in (real, reconstructed, sampled)]
    grid = np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)
    image = Image.fromarray((np.clip(grid, 0, 1) * 255).astype(np.uint8))
    image = image.resize((image.width * 2, image.height * 2), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    frames = sorted(path.parent.glob("*.png"))
    images = [Image.open(f) for f in frames[-60:]]
    images[0].save(path.parent / "samples.gif", save_all=True, append_images=images[1:], duration=400, loop=0)
