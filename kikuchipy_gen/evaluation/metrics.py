"""Pixel-level quality metrics of generated patterns (the paper's Fig. 3 and 4).

All functions take arrays of patterns (n, rows, cols) with intensities in
[0, 1], the scale the networks are trained on (CLAHE'd patterns / 255).
"""

from __future__ import annotations

import numpy as np

__all__ = ["band_width", "bce_per_pixel", "deviation_summary", "optimal_bce"]

_EPS = 1e-7


def _check_pair(generated: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g, r = np.asarray(generated, dtype=np.float64), np.asarray(real, dtype=np.float64)
    if g.shape != r.shape:
        raise ValueError(f"generated {g.shape} and real {r.shape} patterns differ in shape")
    for name, x in (("generated", g), ("real", r)):
        if x.size == 0 or x.min() < 0 or x.max() > 1:
            raise ValueError(f"{name} patterns must be non-empty with intensities in [0, 1]")
    return g, r


def bce_per_pixel(generated: np.ndarray, real: np.ndarray) -> float:
    """Mean binary cross-entropy of generated intensities against real ones.

    ``-mean(r log g + (1 - r) log(1 - g))`` in nats, the training loss per
    pixel. Its minimum over ``g`` is :func:`optimal_bce` (at ``g = r``).

    Examples
    --------
    >>> import numpy as np
    >>> from kikuchipy_gen.evaluation.metrics import bce_per_pixel
    >>> round(bce_per_pixel(np.full((1, 2, 2), 0.5), np.ones((1, 2, 2))), 4)  # ln 2
    0.6931
    """
    g, r = _check_pair(generated, real)
    g = np.clip(g, _EPS, 1 - _EPS)
    return float(-(r * np.log(g) + (1 - r) * np.log(1 - g)).mean())


def optimal_bce(real: np.ndarray) -> float:
    """The lowest BCE any generator can reach: the mean binary entropy of the real intensities.

    Examples
    --------
    >>> import numpy as np
    >>> from kikuchipy_gen.evaluation.metrics import optimal_bce
    >>> round(optimal_bce(np.array([[0.5, 1.0]])), 4)  # (ln 2 + 0) / 2
    0.3466
    """
    r = np.clip(np.asarray(real, dtype=np.float64), _EPS, 1 - _EPS)
    return float(-(r * np.log(r) + (1 - r) * np.log(1 - r)).mean())


def deviation_summary(generated: np.ndarray, real: np.ndarray, threshold: float = 0.15) -> dict[str, float]:
    """Distribution of per-pixel absolute deviations ``|generated - real|``.

    Returns the mean, median, 90th percentile and the fraction of pixels
    within ``threshold`` (the paper: > 80 % within 0.15).

    Examples
    --------
    >>> import numpy as np
    >>> from kikuchipy_gen.evaluation.metrics import deviation_summary
    >>> d = deviation_summary(np.array([[0.1, 0.5, 0.9, 1.0]]), np.array([[0.0, 0.5, 0.5, 1.0]]))
    >>> d["fraction_within"], round(d["mean"], 3)
    (0.75, 0.125)
    """
    g, r = _check_pair(generated, real)
    dev = np.abs(g - r).ravel()
    return {
        "mean": float(dev.mean()),
        "median": float(np.median(dev)),
        "p90": float(np.percentile(dev, 90)),
        "fraction_within": float((dev <= threshold).mean()),
        "threshold": float(threshold),
    }


def band_width(patterns: np.ndarray) -> float:
    """A band-width measure of patterns: the half-width of their autocorrelation peak, in pixels.

    Kikuchi bands are the dominant structure of a pattern, so the central
    peak of its (mean-removed, normalised) 2-D autocorrelation is as wide as
    a typical band: narrower bands (higher voltage) give a narrower peak.
    The width is the radius at which the radially averaged autocorrelation
    first falls to one half, interpolated linearly, averaged over patterns.
    It compares patterns of one detector and preprocessing, not absolute
    Bragg angles.

    Parameters
    ----------
    patterns
        (n, rows, cols) or (rows, cols).

    Returns
    -------
    float
        Mean half-width at half maximum in pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from kikuchipy_gen.evaluation.metrics import band_width
    >>> x = np.arange(64)[None, :] * np.ones((64, 1))
    >>> narrow = (np.abs((x % 16) - 8) < 1).astype(float)
    >>> wide = (np.abs((x % 16) - 8) < 3).astype(float)
    >>> band_width(narrow) < band_width(wide)
    True
    """
    p = np.asarray(patterns, dtype=np.float64)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3 or min(p.shape[1:]) < 4:
        raise ValueError(f"patterns must be (n, rows, cols) with sides >= 4, got {p.shape}")
    rows, cols = p.shape[1:]
    p = p - p.mean(axis=(1, 2), keepdims=True)
    # Zero-padded FFT: linear (not circular) autocorrelation.
    f = np.fft.rfft2(p, s=(2 * rows, 2 * cols))
    ac = np.fft.irfft2(np.abs(f) ** 2, s=(2 * rows, 2 * cols))
    ac = np.fft.fftshift(ac, axes=(1, 2))
    cy, cx = rows, cols
    yy, xx = np.indices((2 * rows, 2 * cols))
    radius = np.hypot(yy - cy, xx - cx).round().astype(int)
    r_max = min(rows, cols) // 2
    widths = []
    for a in ac:
        if a[cy, cx] <= 0:
            continue  # a flat pattern has no bands
        profile = np.bincount(radius.ravel(), a.ravel())[: r_max + 1] / np.bincount(radius.ravel())[: r_max + 1]
        profile /= profile[0]
        below = np.nonzero(profile < 0.5)[0]
        if below.size == 0:
            widths.append(float(r_max))
            continue
        i = below[0]
        widths.append(i - 1 + (profile[i - 1] - 0.5) / (profile[i - 1] - profile[i]))
    if not widths:
        raise ValueError("All patterns are flat")
    return float(np.mean(widths))
