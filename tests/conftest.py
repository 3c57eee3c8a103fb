"""Shared small real data: a tiny nickel dataset built from kikuchipy's master pattern."""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

# Scripts that tests launch in subprocesses (torchrun; a training killed mid-write), not test modules.
collect_ignore = ["_ddp_worker.py", "_kill_worker.py"]

# ``make test`` runs two pytest-xdist workers, one per core of the CI machine,
# each taking whole modules (``-n 2 --dist loadfile --no-loadscope-reorder``), so
# a module fixture (``trained``) is built once. The longest modules are handed
# out first, so that neither worker starts one at the end while the other idles
# (seconds under ``make test`` on the 2-core VM).
_LONGEST_FIRST = (
    "tests/test_training.py",  # 90 s: the `trained` fixture
    "tests/test_docs.py",  # 70 s: the documentation built, gallery and notebooks run
    "tests/test_training_resume.py",  # 63 s: torchrun and the resume tests
    "tests/test_checkpoint_kill.py",  # 42 s
    "tests/test_evaluation.py",  # 36 s
    "tests/test_master_pattern.py",  # 33 s: the `geometric_run` session fixture
    "tests/test_sampling.py",  # 25 s
    "kikuchipy_gen/training.py",  # 17 s: doctests that train
    "tests/test_tampered_models.py",  # 15 s
    "tests/test_pipeline.py",  # 14 s
    "tests/test_dataset.py",  # 13 s
)


def _xdist_worker() -> bool:
    return "PYTEST_XDIST_WORKER" in os.environ


def pytest_configure(config):
    if not _xdist_worker() and getattr(config.option, "numprocesses", None):
        # orix compiles numba gufuncs when it is imported and caches them next to
        # its sources. In a fresh environment (a CI clone) two workers importing
        # it at the same moment both write that cache, and a worker that then
        # loads the mixed files segfaults (numba issue 10128; seen here: every
        # worker crashed at collection). Importing it here first, before any
        # worker starts, writes the cache once.
        import orix.quaternion.orientation  # noqa: F401

    if _xdist_worker():
        # Two workers of two threads each would fight over two cores.
        import numba

        torch.set_num_threads(1)
        numba.set_num_threads(1)
        # The same for the processes tests start (the docs build, its notebook
        # kernels, torchrun, the CLI): with two threads each beside the other
        # worker, their OpenMP threads spin-wait for a core, CPU time spent on
        # nothing. Read at their start; this process's pools already exist.
        # (Not NUMBA_NUM_THREADS: numba reads it again at every compile and
        # refuses a change once its pool runs.)
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, "1")


def pytest_collection_modifyitems(config, items):
    if not _xdist_worker():
        return

    def rank(item):
        path = item.nodeid.split("::")[0]
        return _LONGEST_FIRST.index(path) if path in _LONGEST_FIRST else len(_LONGEST_FIRST)

    items.sort(key=rank)  # stable: a module's tests keep their order


@pytest.fixture(autouse=True)
def _seed_global_rngs():
    """Every test draws the same random numbers each run.

    orix's ``Rotation.random``/``Orientation.random`` draw from numpy's global
    generator, so one seed per test makes their draws (and plain ``np.random``
    and ``torch`` draws) reproducible and independent of test order.
    """
    np.random.seed(0)  # noqa: NPY002 - orix draws from the global generator; this is its seed
    torch.manual_seed(0)


def asymmetric_lambert(n: int = 81, seed: int = 0) -> np.ndarray:
    """A (2, n, n) float32 Lambert master pattern with no symmetry at all.

    A smooth random field per hemisphere: unchanged by no mirror, rotation or
    transposition, and the two hemispheres differ (but agree on the equator,
    the square's border, so a pixel at z = 0 reads the same either way).
    Projections that swap hemispheres, rows and columns or a sign show here,
    where the cubic master patterns hide them.
    """
    rng = np.random.default_rng(seed)
    u = np.linspace(-1, 1, n)
    x, y = np.meshgrid(u, u)
    out = np.zeros((2, n, n))
    for h in range(2):
        for _ in range(12):
            kx, ky, phase = rng.uniform(-6, 6), rng.uniform(-6, 6), rng.uniform(0, 2 * np.pi)
            out[h] += rng.standard_normal() * np.cos(kx * x + ky * y + phase)
    inside = (1 - x**2) * (1 - y**2)
    out[1] = out[0] + inside * (out[1] - out[0])
    return out.astype(np.float32)


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
    return build_dataset(path, src, tiny_splits, energies=[10, 30], chunk_size=50, show_progressbar=False)


TINY = dict(
    latent_dim=16,
    stem_channels=8,
    blocks=[(8, 1), (16, 1), (16, 2), (16, 2)],
    encoder_dense=[64],
    decoder_dense=[64],
    decoder_channels=8,
    critic_blocks=[(8, 1), (16, 2), (16, 2)],
    critic_dense=[32],
)


@pytest.fixture(scope="session")
def local_dataset(tmp_path_factory, ni_source):
    """250 training / 60 validation patterns within 8 deg of one orientation.

    Neighbouring orientations share most of their bands, so a tiny model
    learns something measurable in a few hundred steps.
    """
    import numpy as np
    from orix.quaternion import Orientation, Rotation

    from kikuchipy_gen.dataset import build_dataset
    from kikuchipy_gen.phases import get_point_group
    from kikuchipy_gen.sampling import sample_orientations

    sym = get_point_group("m-3m").proper_subgroup
    centre = Rotation.from_axes_angles([1, 2, 3], 30, degrees=True)

    def near(n):
        r = sample_orientations("m-3m", n=n)
        o = Orientation(r.data, symmetry=sym)
        c = Orientation(np.repeat(centre.data, r.size, axis=0), symmetry=sym)
        return r[np.rad2deg(o.angle_with(c)) < 8]

    path = tmp_path_factory.mktemp("data") / "local.zarr"
    splits = {"train": near(60), "val": near(37)}
    return build_dataset(path, ni_source, splits, chunk_size=128, show_progressbar=False)


@pytest.fixture(scope="session")
def geometric_run(local_dataset, tmp_path_factory):
    """A tiny geometric-decoder model trained on ``local_dataset`` (about 64 CVAE steps)."""
    from kikuchipy_gen.models import preset
    from kikuchipy_gen.training import Trainer

    from .test_training import _config

    # The tiny encoder and critic: the tests read the geometric decoder, and a
    # full-size encoder would double the fixture's time for nothing they check.
    small = ("latent_dim", "stem_channels", "blocks", "encoder_dense", "critic_blocks", "critic_dense")
    model = preset("geometric", texture_size=61, **{k: TINY[k] for k in small})
    out = tmp_path_factory.mktemp("run") / "geometric"
    cfg = _config(
        local_dataset, out, model=model, cvae_epochs=4, critic_epochs=1, gan_epochs=1, cvae_lr=3e-3, gan_lr=3e-4
    )
    trainer = Trainer(cfg)
    trainer.run(show_progressbar=False)
    return trainer
