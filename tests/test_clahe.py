"""The vectorised rescaling and CLAHE give kikuchipy's bytes, pattern for pattern.

The reference is kikuchipy's own route, kept here as ``preprocess`` ran it before
the fast path: ``EBSD.rescale_intensity(dtype_out=np.uint8)``, then
``EBSD.adaptive_histogram_equalization`` (scikit-image), one pattern at a time.
"""

from __future__ import annotations

import numpy as np
import pytest
from kikuchipy.signals import EBSD
from orix.quaternion import Rotation

import kikuchipy_gen.preprocessing as preprocessing
from kikuchipy_gen._clahe import _clahe_uint8, _rescale_uint8
from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.preprocessing import CLAHE, preprocess
from kikuchipy_gen.sources import KikuchipyNickelSource


def _kikuchipy_route(patterns: EBSD, clahe: CLAHE | None = CLAHE()) -> np.ndarray:
    s = patterns.deepcopy()
    s.rescale_intensity(dtype_out=np.uint8, show_progressbar=False)
    shape = s.axes_manager.signal_shape[::-1]
    if clahe is not None:
        s.adaptive_histogram_equalization(**clahe.kikuchipy_kwargs(shape), show_progressbar=False)
    return np.asarray(s.data).reshape(-1, *shape)


def _kikuchipy_clahe(stack: np.ndarray, kernel_size, clip_limit: float, nbins: int) -> np.ndarray:
    s = EBSD(stack.copy())
    s.adaptive_histogram_equalization(kernel_size, clip_limit, nbins, show_progressbar=False)
    return np.asarray(s.data)


def _assert_same(fast: np.ndarray, reference: np.ndarray) -> None:
    assert fast.dtype == np.uint8 and fast.shape == reference.shape
    differ = np.flatnonzero((fast != reference).any(axis=(1, 2)))
    assert differ.size == 0, f"patterns {differ[:10].tolist()} differ from kikuchipy's"


def _rotations(n: int, seed: int) -> Rotation:
    # Normalised Gaussian quaternions are uniform rotations, from a seeded generator.
    return Rotation(np.random.default_rng(seed).standard_normal((n, 4)))


@pytest.fixture(scope="module")
def nickel():
    return KikuchipyNickelSource().master_pattern(20)


@pytest.fixture(scope="module")
def projected(nickel):
    """400 projected Ni patterns (float32, 60 x 60), as the dataset build makes them."""
    return nickel.get_patterns(
        _rotations(400, seed=1), default_detector(), dtype_out="float32", compute=True, show_progressbar=False
    )


@pytest.fixture
def fast_only(monkeypatch):
    """Fail a test whose input quietly took kikuchipy's route instead of the fast one."""

    def forbidden(*args, **kwargs):
        raise AssertionError("preprocess fell back to kikuchipy")

    monkeypatch.setattr(preprocessing, "_preprocess_kikuchipy", forbidden)


def _random_signal(rng: np.random.Generator, n: int, shape: tuple[int, int], dtype) -> EBSD:
    """Bands and noise at a random scale: smooth regions, edges and ties."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    freq = rng.uniform(0.05, 0.6, (n, 2, 1, 1))
    data = np.cos(freq[:, 0] * rows + freq[:, 1] * cols) + rng.uniform(0, 1.5, (n, *shape))
    data -= data.min()
    if np.dtype(dtype).kind == "u":
        data = data / data.max() * np.iinfo(dtype).max
    else:
        data *= rng.uniform(1e-3, 1e4)
    return EBSD(data.astype(dtype))


@pytest.mark.parametrize("n", [1, 400])
def test_real_patterns(projected, n, fast_only):
    s = projected.inav[:n]
    _assert_same(preprocess(s), _kikuchipy_route(s))


def test_real_patterns_without_clahe(projected, fast_only):
    s = projected.inav[:100]
    _assert_same(preprocess(s, None), _kikuchipy_route(s, None))


@pytest.mark.parametrize("dtype", [np.uint16, np.float64, np.uint8])
def test_real_patterns_other_dtypes(projected, dtype, fast_only):
    s = projected.inav[:50].deepcopy()
    s.rescale_intensity(dtype_out=dtype, show_progressbar=False)
    _assert_same(preprocess(s), _kikuchipy_route(s))


def test_lazy_signal(nickel, fast_only):
    s = nickel.get_patterns(_rotations(30, seed=2), default_detector(), dtype_out="float32", show_progressbar=False)
    assert s._lazy
    _assert_same(preprocess(s), _kikuchipy_route(s))


@pytest.mark.parametrize(
    ("shape", "clahe", "dtype"),
    [
        ((60, 60), CLAHE(), np.float32),
        ((60, 60), CLAHE(), np.uint16),
        ((61, 47), CLAHE(), np.float32),  # tiles do not divide the pattern
        ((61, 47), CLAHE(clip_limit=2.5, tiles=(3, 5), nbins=64), np.uint16),
        ((47, 61), CLAHE(clip_limit=40, tiles=(2, 7), nbins=200), np.float64),
        ((60, 60), CLAHE(clip_limit=0.3, tiles=(1, 1), nbins=256), np.float32),  # clipped to 1 count a bin
        ((33, 20), CLAHE(clip_limit=10, tiles=(11, 5), nbins=7), np.uint8),
        ((25, 31), CLAHE(clip_limit=1e6, tiles=(12, 15), nbins=2), np.float32),  # 2 x 2 kernels, no clipping
    ],
)
def test_random_images(shape, clahe, dtype, fast_only):
    rng = np.random.default_rng(sum(shape) + clahe.nbins)
    s = _random_signal(rng, 25, shape, dtype)
    _assert_same(preprocess(s, clahe), _kikuchipy_route(s, clahe))


def test_flat_and_nearly_flat_patterns(fast_only):
    rng = np.random.default_rng(3)
    for shape, clahe in (((61, 47), CLAHE()), ((64, 64), CLAHE(tiles=(4, 8)))):
        data = rng.random((6, *shape)).astype(np.float32)
        data[0] = 0
        data[1] = 7.5
        data[2] = data[2, 0, 0]
        data[2, 5, 5] += 1  # one pixel off
        data[3, :, : shape[1] // 2] = 2  # two levels
        # 16 x 8 kernels weight the tile maps exactly, so a flat pattern stays flat through
        # the interpolation (the 0 / 0 in kikuchipy's last step); 15 x 11 ones do not.
        _assert_same(preprocess(EBSD(data), clahe), _kikuchipy_route(EBSD(data), clahe))


@pytest.mark.parametrize(
    "clahe", [CLAHE(clip_limit=2, tiles=(4, 4), nbins=64), CLAHE(clip_limit=2, tiles=(3, 5), nbins=7)]
)
def test_strongly_clipped_peaked_histograms(clahe, fast_only):
    # A flat band piles one bin high: the clipped excess is more than a count per bin, which
    # takes scikit-image's every redistribution pass (noise alone never gets there).
    rng = np.random.default_rng(clahe.nbins)
    data = rng.integers(0, 256, (10, 61, 47)).astype(np.float32)
    data[:, :27] = rng.integers(0, 256, (10, 1, 1))
    data[5:, :, ::3] = 17
    _assert_same(preprocess(EBSD(data), clahe), _kikuchipy_route(EBSD(data), clahe))


@pytest.mark.parametrize(
    ("kernel_size", "clip_limit", "nbins"),
    [((15, 15), 10 / 256, 256), ((1, 1), 0.5, 16), ((7, 60), 0.0, 128), ((70, 90), 0.01, 300), ((3, 2), 0.9, 5)],
)
def test_clahe_on_uint8_directly(kernel_size, clip_limit, nbins):
    # Settings CLAHE cannot express: a kernel of 1, larger than the pattern, no clipping, nbins > 256.
    x = np.random.default_rng(kernel_size[0]).integers(0, 256, (8, 61, 47), dtype=np.uint8)
    x[1] = 200
    _assert_same(_clahe_uint8(x, kernel_size, clip_limit, nbins), _kikuchipy_clahe(x, kernel_size, clip_limit, nbins))


def test_non_finite_patterns_take_kikuchipys_route():
    data = np.random.default_rng(4).random((4, 30, 30)).astype(np.float32)
    data[1, 3, 4] = np.nan
    data[2, 0, 0] = np.inf
    with pytest.warns(RuntimeWarning):  # NumPy casting NaN to uint8, on kikuchipy's route
        out = preprocess(EBSD(data))
    with pytest.warns(RuntimeWarning):
        _assert_same(out, _kikuchipy_route(EBSD(data)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        _rescale_uint8(data)


def test_other_dtypes_take_kikuchipys_route():
    s = _random_signal(np.random.default_rng(5), 4, (30, 30), np.uint16)
    s.change_dtype(np.int32)
    _assert_same(preprocess(s), _kikuchipy_route(s))


def test_bad_input():
    with pytest.raises(ValueError, match="three dimensions.*2 dimensions"):
        _rescale_uint8(np.zeros((60, 60), dtype=np.float32))
    with pytest.raises(ValueError, match="three dimensions.*4 dimensions"):
        _clahe_uint8(np.zeros((2, 2, 60, 60), dtype=np.uint8), (15, 15), 0.04, 256)
    with pytest.raises(TypeError, match="uint8"):
        _clahe_uint8(np.zeros((2, 60, 60), dtype=np.float32), (15, 15), 0.04, 256)
    with pytest.raises(TypeError, match="int32"):
        _rescale_uint8(np.zeros((2, 60, 60), dtype=np.int32))
    with pytest.raises(ValueError, match="kernel"):
        _clahe_uint8(np.zeros((2, 60, 60), dtype=np.uint8), (0, 15), 0.04, 256)
    assert _clahe_uint8(np.zeros((0, 60, 60), dtype=np.uint8), (15, 15), 0.04, 256).shape == (0, 60, 60)


@pytest.mark.parametrize("threads", [1, 3])
def test_project_and_preprocess_in_pieces(nickel, monkeypatch, threads):
    # One dask task per thread, each its own kikuchipy projection and CLAHE: the bytes
    # of one call on all the rotations, in their order.
    monkeypatch.setattr(preprocessing, "CPU_COUNT", threads)
    rot = Rotation.random(7)
    det = default_detector()
    whole = nickel.get_patterns(rot, det, energy=20, dtype_out="float32", compute=True, show_progressbar=False)
    pieces = preprocessing.project_and_preprocess(nickel, rot, det, 20, CLAHE())
    assert pieces.dtype == np.uint8 and pieces.shape == (7, 60, 60)
    assert np.array_equal(pieces, preprocess(whole, CLAHE()))
    one = preprocessing.project_and_preprocess(nickel, Rotation(rot.data[:1]), det, None, None)
    assert np.array_equal(one, preprocess(whole, None)[:1])
    with pytest.raises(TypeError, match="orix Rotation"):
        preprocessing.project_and_preprocess(nickel, rot.data, det)
    with pytest.raises(ValueError, match="no rotations"):
        preprocessing.project_and_preprocess(nickel, Rotation.identity((0,)), det)
