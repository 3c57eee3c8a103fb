"""Shared small real data: a tiny nickel dataset built from kikuchipy's master pattern."""

from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def ni_source():
    from kikuchipy_gen.sources import KikuchipyNickelSource

    return KikuchipyNickelSource()


@pytest.fixture(scope="session")
def tiny_splits():
    from kikuchipy_gen.sampling import split_orientations

    return split_orientations("m-3m", n_train=8)  # 193 / 20 / 50 orientations


@pytest.fixture(scope="session")
def ni_dataset(tmp_path_factory, ni_source, tiny_splits):
    from kikuchipy_gen.dataset import build_dataset

    path = tmp_path_factory.mktemp("data") / "ni.zarr"
    return build_dataset(path, ni_source, tiny_splits, chunk_size=64, show_progressbar=False)


@pytest.fixture(scope="session")
def kinematical_dataset(tmp_path_factory, tiny_splits):
    from kikuchipy_gen.dataset import build_dataset
    from kikuchipy_gen.sources import KinematicalSource

    path = tmp_path_factory.mktemp("data") / "kin.zarr"
    src = KinematicalSource("ni", half_size=60)
    return build_dataset(
        path, src, tiny_splits, energies=[10, 30], chunk_size=50, show_progressbar=False
    )
