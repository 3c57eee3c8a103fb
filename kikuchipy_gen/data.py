"""Small example data, as ``kikuchipy.data`` has: enough to run any step of the pipeline in seconds."""

from __future__ import annotations

import tempfile
from pathlib import Path

from kikuchipy_gen.dataset import EBSDDataset, build_dataset

__all__ = ["tiny_dataset"]


def tiny_dataset(folder: str | Path | None = None) -> EBSDDataset:
    """A tiny training dataset of nickel patterns, built in about a second.

    kikuchipy's EMsoft Ni master pattern (20 kV) projected onto the default
    60 x 60 detector at the coarsest cubochoric grids that give every split
    (train n = 3, 20 patterns; validation 26; test 51), CLAHE'd as in the
    paper. For examples and trying things out; far too small to learn from.

    Parameters
    ----------
    folder
        Where ``tiny_ni.zarr`` is written; a new temporary folder by default.
        An existing dataset there is opened, not rebuilt.

    Returns
    -------
    EBSDDataset

    Raises
    ------
    NotADirectoryError
        If ``folder`` is a file.

    Examples
    --------
    >>> from kikuchipy_gen.data import tiny_dataset
    >>> ds = tiny_dataset()
    >>> ds.sizes, ds.pattern_shape, ds.energies
    ({'train': 20, 'val': 26, 'test': 51}, (60, 60), [20.0])
    """
    from kikuchipy_gen.sampling import split_orientations
    from kikuchipy_gen.sources import KikuchipyNickelSource

    folder = Path(tempfile.mkdtemp(prefix="kikuchipy-gen-")) if folder is None else Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{str(folder)!r} is a file; give a folder for the tiny dataset")
    path = folder / "tiny_ni.zarr"
    if path.exists():
        return EBSDDataset(path)
    splits = split_orientations("m-3m", n_train=3)
    return build_dataset(path, KikuchipyNickelSource(), splits, show_progressbar=False)
