"""Figures of the evaluation report (the paper's Fig. 3, 4 and 5)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

__all__ = [
    "plot_band_widths",
    "plot_comparison",
    "plot_deviation",
    "plot_disorientations",
    "plot_histograms",
    "plot_voltage_matrix",
]


def plot_comparison(real: np.ndarray, generated: np.ndarray, titles: Sequence[str]) -> Figure:
    """Rows: real, generated, generated - real, one column per pattern (Fig. 3b)."""
    n = len(real)
    fig, axes = plt.subplots(3, n, figsize=(1.6 * n, 5.2), squeeze=False)
    for j in range(n):
        diff = generated[j] - real[j]
        for i, (img, kw) in enumerate([(real[j], {"vmin": 0, "vmax": 1}), (generated[j], {"vmin": 0, "vmax": 1}),
                                       (diff, {"vmin": -1, "vmax": 1, "cmap": "RdBu_r"})]):
            ax = axes[i, j]
            ax.imshow(img, cmap=kw.pop("cmap", "gray"), **kw)
            ax.set_xticks([]), ax.set_yticks([])
        axes[0, j].set_title(titles[j], fontsize=8)
    for i, label in enumerate(("physics", "generated", "difference")):
        axes[i, 0].set_ylabel(label)
    fig.tight_layout()
    return fig


def plot_histograms(real: np.ndarray, generated: np.ndarray, label: str = "") -> Figure:
    """Pixel-value histograms of real and generated patterns (Fig. 3c/4b)."""
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    bins = np.linspace(0, 1, 51)
    ax.hist(real.ravel(), bins, alpha=0.6, density=True, label="physics")
    ax.hist(generated.ravel(), bins, alpha=0.6, density=True, label="generated")
    ax.set_xlabel("pixel value"), ax.set_ylabel("density"), ax.set_title(label)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_deviation(deviation: np.ndarray, threshold: float, fraction: float, label: str = "") -> Figure:
    """Distribution of |generated - real| with a kernel density estimate (Fig. 3d/4c)."""
    from scipy.stats import gaussian_kde

    dev = np.asarray(deviation).ravel()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.hist(dev, np.linspace(0, 1, 51), density=True, alpha=0.5, color="C0")
    sample = dev[np.random.default_rng(0).choice(dev.size, min(dev.size, 20000), replace=False)]
    if np.ptp(sample) > 0:
        grid = np.linspace(0, 1, 200)
        ax.plot(grid, gaussian_kde(sample)(grid), color="C0")
    ax.axvline(threshold, color="k", ls="--", lw=1)
    ax.set_xlabel("|generated - physics|"), ax.set_ylabel("density")
    ax.set_title(f"{label} {100 * fraction:.1f} % within {threshold:g}".strip())
    fig.tight_layout()
    return fig


def plot_disorientations(angles: dict[str, np.ndarray], label: str = "") -> Figure:
    """Histograms of disorientations in degrees with mean +- std in the legend (Fig. 3e/3f)."""
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    finite = [a for a in angles.values() if len(a)]
    top = max(float(np.percentile(np.concatenate(finite), 98)) if finite else 1.0, 0.05)
    bins = np.linspace(0, top, 40)
    for name, a in angles.items():
        if len(a):
            ax.hist(np.clip(a, 0, top), bins, alpha=0.55, label=f"{name}: {np.mean(a):.3f} +- {np.std(a):.3f} deg")
    ax.set_xlabel("disorientation (deg)"), ax.set_ylabel("patterns"), ax.set_title(label)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_voltage_matrix(matrix: np.ndarray, generated_kv: Sequence[float], indexed_kv: Sequence[float]) -> Figure:
    """Mean refined disorientation for each (generating, indexing) voltage, green to red (Fig. 5)."""
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(indexed_kv), 0.8 + 0.8 * len(generated_kv)))
    im = ax.imshow(matrix, cmap="RdYlGn_r")
    ax.set_xticks(range(len(indexed_kv)), [f"{e:g}" for e in indexed_kv])
    ax.set_yticks(range(len(generated_kv)), [f"{e:g}" for e in generated_kv])
    ax.set_xlabel("physics master pattern (kV)"), ax.set_ylabel("generated at (kV)")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="mean refined disorientation (deg)")
    fig.tight_layout()
    return fig


def plot_band_widths(energies: Sequence[float], physics: Sequence[float], generated: Sequence[float],
                     trained: Sequence[float]) -> Figure:
    """Band-width measure versus voltage for physics and generated patterns."""
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(energies, physics, "o-", label="physics")
    ax.plot(energies, generated, "s--", label="generated")
    for e in trained:
        ax.axvline(e, color="0.85", lw=0.8, zorder=0)
    ax.set_xlabel("voltage (kV)"), ax.set_ylabel("autocorrelation half-width (px)")
    ax.set_title("band width (grey: training voltages)", fontsize=9)
    ax.legend()
    fig.tight_layout()
    return fig
