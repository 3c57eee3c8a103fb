"""Figures people would rather look at than read.

The figures are plain :class:`matplotlib.figure.Figure` objects made without
pyplot: no backend is chosen and pyplot's list of open figures does not grow,
so there is nothing to close; save them with ``fig.savefig(...)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from kikuchipy_gen.dataset import EBSDDataset

__all__ = ["plot_generated_per_energy", "plot_patterns_per_energy"]


def plot_patterns_per_energy(
    dataset: EBSDDataset,
    split: str = "test",
    n_orientations: int = 4,
    energies: Sequence[float] | None = None,
    seed: int = 0,
):
    """Grid of dataset patterns: one row per energy, one column per orientation.

    The same orientations appear in every row, so the change of band width
    with beam energy is visible down each column.

    Parameters
    ----------
    dataset
        Dataset to show.
    split
        Split to draw orientations from.
    n_orientations
        Number of columns.
    energies
        Energies (kV) to show; default all.
    seed
        Seed of the random choice of orientations.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kikuchipy_gen.dataset import open_dataset
    >>> from kikuchipy_gen.plotting import plot_patterns_per_energy
    >>> fig = plot_patterns_per_energy(open_dataset("ni.zarr"))  # doctest: +SKIP
    >>> fig.savefig("patterns.png")  # doctest: +SKIP
    """
    energies = dataset.energies if energies is None else list(energies)
    dataset._group(split)  # unknown split -> clear error
    n = dataset.sizes[split]
    cols = min(int(n_orientations), n)
    if cols < 1:
        raise ValueError("n_orientations must be >= 1")
    pick = np.sort(np.random.default_rng(seed).choice(n, size=cols, replace=False))
    euler = np.rad2deg(dataset.rotations(split)[pick].to_euler())
    arr = dataset.patterns_array(split)
    fig = Figure(figsize=(1.8 * cols, 1.8 * len(energies) + 0.4))
    axes = fig.subplots(len(energies), cols, squeeze=False)
    for r, energy in enumerate(energies):
        ie = dataset.energy_index(energy)
        for c, i in enumerate(pick):
            ax = axes[r, c]
            ax.imshow(arr[ie, int(i)], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"{energy:g} kV")
            if r == 0:
                ax.set_title("({:.0f}, {:.0f}, {:.0f})".format(*euler[c]), fontsize=8)
    fig.suptitle(f"{dataset.phase.name}: {split} patterns (Euler angles in deg)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_generated_per_energy(mlmp, rotations, energies: Sequence[float], latent="mean"):
    """Grid of generated patterns: one row per voltage, one column per orientation.

    Parameters
    ----------
    mlmp
        :class:`~kikuchipy_gen.MLMasterPattern`.
    rotations
        orix Rotation, 1-D (the columns).
    energies
        Voltages in kV (the rows); outside the trained range they are
        extrapolated and marked.
    latent
        As in :meth:`~kikuchipy_gen.MLMasterPattern.get_patterns`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from orix.quaternion import Rotation
    >>> import kikuchipy_gen as kpg
    >>> from kikuchipy_gen.plotting import plot_generated_per_energy
    >>> fig = plot_generated_per_energy(kpg.MLMasterPattern.from_pretrained(), Rotation.random(2), [10, 30])
    >>> len(fig.axes)
    4
    """
    lo, hi = mlmp.energy_range
    n = rotations.size
    fig = Figure(figsize=(1.5 * n, 1.5 * len(energies)))
    axes = fig.subplots(len(energies), n, squeeze=False)
    for i, e in enumerate(energies):
        outside = not lo <= e <= hi
        patterns = mlmp.decode(rotations, energy=e, latent=latent, extrapolate=outside)
        for j in range(n):
            ax = axes[i, j]
            ax.imshow(patterns[j], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
        axes[i, 0].set_ylabel(f"{e:g} kV" + (" (extrap.)" if outside else ""))
    fig.suptitle(f"{mlmp!r}"[1:-1], fontsize=8)
    fig.tight_layout()
    return fig
