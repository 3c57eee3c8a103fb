"""Figures of the evaluation report (the paper's Fig. 3, 4 and 5).

Each function returns a :class:`matplotlib.figure.Figure` made without
pyplot, so no backend is chosen and no figure is left open: save it with
``fig.savefig`` or show it in a notebook cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

__all__ = [
    "plot_band_widths",
    "plot_comparison",
    "plot_deviation",
    "plot_disorientations",
    "plot_histograms",
    "plot_signed_deviation",
    "plot_voltage_matrix",
]


def plot_comparison(real: np.ndarray, generated: np.ndarray, titles: Sequence[str]) -> Figure:
    """Rows: real, generated, generated - real, one column per pattern (Fig. 3b).

    Parameters
    ----------
    real, generated
        Patterns (n, rows, cols) in [0, 1].
    titles
        One title per pattern.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kikuchipy_gen.evaluation.figures import plot_comparison
    >>> x = np.random.default_rng(0).random((2, 8, 8))
    >>> fig = plot_comparison(x, x[::-1], ["a", "b"])
    >>> len(fig.axes)
    6
    """
    n = len(real)
    fig = Figure(figsize=(1.6 * n, 5.2), layout="tight")
    axes = fig.subplots(3, n, squeeze=False)
    for j in range(n):
        diff = generated[j] - real[j]
        for i, (img, kw) in enumerate(
            [
                (real[j], {"vmin": 0, "vmax": 1}),
                (generated[j], {"vmin": 0, "vmax": 1}),
                (diff, {"vmin": -1, "vmax": 1, "cmap": "RdBu_r"}),
            ]
        ):
            ax = axes[i, j]
            ax.imshow(img, cmap=kw.pop("cmap", "gray"), **kw)
            ax.set_xticks([]), ax.set_yticks([])
        axes[0, j].set_title(titles[j], fontsize=8)
    for i, label in enumerate(("physics", "generated", "difference")):
        axes[i, 0].set_ylabel(label)
    return fig


def plot_histograms(real: np.ndarray, generated: np.ndarray, label: str = "") -> Figure:
    """Pixel-value histograms of real and generated patterns, with the optimal BCE (Fig. 3c/4b).

    As the paper's red spline, the right axis shows the optimal binary
    cross-entropy of a pixel of real value ``x``, its entropy
    ``-x ln x - (1 - x) ln(1 - x)``: the BCE even a perfect model has there.

    Parameters
    ----------
    real, generated
        Patterns in [0, 1], any shape.
    label
        Title, e.g. the voltage.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kikuchipy_gen.evaluation.figures import plot_histograms
    >>> x = np.random.default_rng(0).random((2, 8, 8))
    >>> plot_histograms(x, x ** 2, "20 kV").axes[0].get_title()
    '20 kV'
    """
    fig = Figure(figsize=(4.5, 3.2), layout="tight")
    ax = fig.subplots()
    bins = np.linspace(0, 1, 51)
    ax.hist(real.ravel(), bins, alpha=0.6, density=True, label="physics")
    ax.hist(generated.ravel(), bins, alpha=0.6, density=True, label="generated")
    ax.set_xlabel("pixel value"), ax.set_ylabel("density"), ax.set_title(label)
    ax.legend(loc="lower center")
    x = np.linspace(1e-4, 1 - 1e-4, 201)
    bce = ax.twinx()
    bce.plot(x, -(x * np.log(x) + (1 - x) * np.log(1 - x)), color="red", lw=1.2)
    bce.set_ylim(0, 0.75)
    bce.set_ylabel("optimal BCE", color="red")
    return fig


def plot_deviation(deviation: np.ndarray, threshold: float, fraction: float, label: str = "") -> Figure:
    """Distribution of ``|generated - real|`` with a kernel density estimate (Fig. 3d/4c).

    Parameters
    ----------
    deviation
        Absolute deviations in [0, 1], any shape.
    threshold
        Deviation marked by a dashed line.
    fraction
        Fraction of deviations within ``threshold``, for the title.
    label
        Start of the title, e.g. the voltage.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kikuchipy_gen.evaluation.figures import plot_deviation
    >>> dev = np.random.default_rng(0).random((2, 8, 8)) * 0.3
    >>> plot_deviation(dev, 0.15, 0.5, "20 kV").axes[0].get_title()
    '20 kV 50.0 % within 0.15'
    """
    dev = np.asarray(deviation, dtype=float).ravel()
    fig = Figure(figsize=(4.5, 3.2), layout="tight")
    ax = fig.subplots()
    _histogram_with_density(ax, dev, (0, 1), 50, "C0")
    ax.axvline(threshold, color="k", ls="--", lw=1)
    ax.set_xlabel("|generated - physics|"), ax.set_ylabel("density")
    ax.set_title(f"{label} {100 * fraction:.1f} % within {threshold:g}".strip())
    return fig


def plot_signed_deviation(deviation: np.ndarray, label: str = "") -> Figure:
    """Distribution of ``generated - real`` with its mean and a kernel density estimate.

    The sign shows the CVAE's pull towards 0.5 that the paper describes
    (bright pixels generated too dark and dark ones too bright show as two
    shoulders, a shift of the mean as a bias).

    Parameters
    ----------
    deviation
        Signed deviations in [-1, 1], any shape.
    label
        Start of the title, e.g. the voltage.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kikuchipy_gen.evaluation.figures import plot_signed_deviation
    >>> dev = np.random.default_rng(0).normal(0.02, 0.1, (2, 8, 8))
    >>> plot_signed_deviation(dev, "20 kV").axes[0].get_title()
    '20 kV mean +0.026, std 0.095'
    """
    dev = np.asarray(deviation, dtype=float).ravel()
    fig = Figure(figsize=(4.5, 3.2), layout="tight")
    ax = fig.subplots()
    _histogram_with_density(ax, dev, (-1, 1), 80, "C1")
    ax.axvline(0, color="k", lw=1)
    ax.axvline(dev.mean(), color="C1", ls="--", lw=1)
    ax.set_xlabel("generated - physics"), ax.set_ylabel("density")
    ax.set_title(f"{label} mean {dev.mean():+.3f}, std {dev.std():.3f}".strip())
    return fig


def _histogram_with_density(ax, values: np.ndarray, span: tuple[float, float], bins: int, color: str) -> None:
    """A density histogram of ``values`` over ``span`` with a Gaussian kernel density estimate on top."""
    from scipy.stats import gaussian_kde

    ax.hist(values, np.linspace(*span, bins + 1), density=True, alpha=0.5, color=color)
    # The estimate from a fixed subsample: a 9-voltage report holds millions of pixels.
    sample = values[np.random.default_rng(0).choice(values.size, min(values.size, 20000), replace=False)]
    if np.ptp(sample) > 0:
        grid = np.linspace(*span, 5 * bins)
        ax.plot(grid, gaussian_kde(sample)(grid), color=color)


def plot_disorientations(angles: dict[str, np.ndarray], label: str = "") -> Figure:
    """Histograms of disorientations in degrees with mean +- std in the legend (Fig. 3e/3f).

    Parameters
    ----------
    angles
        Legend label -> disorientations in degrees; empty arrays are left out.
    label
        Title, e.g. the voltage.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kikuchipy_gen.evaluation.figures import plot_disorientations
    >>> fig = plot_disorientations({"refined": np.array([0.1, 0.2, 0.3]), "none": np.array([])})
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['refined: 0.200 +- 0.082 deg']
    """
    fig = Figure(figsize=(4.5, 3.2), layout="tight")
    ax = fig.subplots()
    finite = [a for a in angles.values() if len(a)]
    top = max(float(np.percentile(np.concatenate(finite), 98)) if finite else 1.0, 0.05)
    bins = np.linspace(0, top, 40)
    for name, a in angles.items():
        if len(a):
            ax.hist(np.clip(a, 0, top), bins, alpha=0.55, label=f"{name}: {np.mean(a):.3f} +- {np.std(a):.3f} deg")
    ax.set_xlabel("disorientation (deg)"), ax.set_ylabel("patterns"), ax.set_title(label)
    ax.legend(fontsize=7)
    return fig


def plot_voltage_matrix(matrix: np.ndarray, generated_kv: Sequence[float], indexed_kv: Sequence[float]) -> Figure:
    """Mean refined disorientation for each (generating, indexing) voltage, green to red (Fig. 5).

    Parameters
    ----------
    matrix
        Disorientations in degrees, (len(generated_kv), len(indexed_kv)).
    generated_kv
        Voltages the patterns were generated at (rows).
    indexed_kv
        Voltages of the physics refined against (columns).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kikuchipy_gen.evaluation.figures import plot_voltage_matrix
    >>> fig = plot_voltage_matrix(np.array([[0.1, 0.9], [0.8, 0.2]]), [10, 30], [10, 30])
    >>> [t.get_text() for t in fig.axes[0].texts]
    ['0.10', '0.90', '0.80', '0.20']
    """
    fig = Figure(figsize=(1.0 + 0.9 * len(indexed_kv), 0.8 + 0.8 * len(generated_kv)), layout="tight")
    ax = fig.subplots()
    im = ax.imshow(matrix, cmap="RdYlGn_r")
    ax.set_xticks(range(len(indexed_kv)), [f"{e:g}" for e in indexed_kv])
    ax.set_yticks(range(len(generated_kv)), [f"{e:g}" for e in generated_kv])
    ax.set_xlabel("physics master pattern (kV)"), ax.set_ylabel("generated at (kV)")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="mean refined disorientation (deg)")
    return fig


def plot_band_widths(
    energies: Sequence[float], physics: Sequence[float], generated: Sequence[float], trained: Sequence[float]
) -> Figure:
    """Band-width measure versus voltage for physics and generated patterns.

    Parameters
    ----------
    energies
        Voltages in kV.
    physics, generated
        :func:`~kikuchipy_gen.evaluation.band_width` at each voltage.
    trained
        Training voltages, marked by grey lines.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kikuchipy_gen.evaluation.figures import plot_band_widths
    >>> fig = plot_band_widths([10, 20, 30], [1.2, 1.0, 0.9], [1.3, 1.0, 0.9], [10, 30])
    >>> len(fig.axes[0].lines)  # physics, generated and two training voltages
    4
    """
    fig = Figure(figsize=(4.5, 3.2), layout="tight")
    ax = fig.subplots()
    ax.plot(energies, physics, "o-", label="physics")
    ax.plot(energies, generated, "s--", label="generated")
    for e in trained:
        ax.axvline(e, color="0.85", lw=0.8, zorder=0)
    ax.set_xlabel("voltage (kV)"), ax.set_ylabel("autocorrelation half-width (px)")
    ax.set_title("band width (grey: training voltages)", fontsize=9)
    ax.legend()
    return fig
