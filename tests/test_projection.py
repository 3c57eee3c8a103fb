import numpy as np
import pytest
import torch
from orix.crystal_map import Phase
from orix.quaternion import Rotation

from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.lambert import lambert_master_pattern
from kikuchipy_gen.projection import (
    detector_directions,
    lambert_coordinates,
    lambert_directions,
    project_patterns,
    rotate_vectors,
    sample_lambert,
)
from kikuchipy_gen.sources import KinematicalSource

from .conftest import asymmetric_lambert

# Non-square, pattern centre off the middle, tilted: a transposition, a mirror
# or a swapped pattern-centre axis changes every pattern.
OFF_CENTRE = [
    default_detector(shape=(36, 52), pc=(0.42, 0.27, 0.55)),
    default_detector(shape=(50, 34), pc=(0.61, 0.38, 0.48), sample_tilt=68, tilt=5),
]


@pytest.fixture(scope="module")
def kinematical_mp():
    return KinematicalSource("ni", half_size=80).master_pattern(20)


@pytest.mark.parametrize(
    "detector",
    [default_detector(), default_detector(shape=(40, 52), pc=(0.4, 0.3, 0.6), sample_tilt=65, tilt=8)],
)
def test_matches_kikuchipy_get_patterns(kinematical_mp, ni_source, detector):
    rot = Rotation.random(25)
    for mp in (kinematical_mp, ni_source.master_pattern(20)):
        mp = mp.deepcopy()
        mp.change_dtype("float32")
        ref = mp.get_patterns(rot, detector, dtype_out="float32", compute=True, show_progressbar=False).data
        master = torch.from_numpy(np.asarray(mp.data, dtype=np.float64))
        ours = project_patterns(master, torch.from_numpy(rot.data), detector).numpy()
        assert ours.shape == ref.shape
        assert np.abs(ours - ref).max() < 1e-5 * (ref.max() - ref.min())


@pytest.mark.parametrize("detector", OFF_CENTRE)
def test_matches_kikuchipy_without_symmetry(detector):
    """A master pattern with no symmetry (point group 1): hemispheres, mirrors and transposition all show."""
    data = asymmetric_lambert(81)
    mp = lambert_master_pattern(data, Phase("p1", point_group="1"), energy=20)
    rot = Rotation.random(30)
    ref = mp.get_patterns(rot, detector, energy=20, dtype_out="float32", compute=True, show_progressbar=False).data
    q = torch.from_numpy(rot.data)
    ours = project_patterns(torch.from_numpy(data.astype(np.float64)), q, detector).numpy()
    assert ours.shape == ref.shape == (30, *detector.shape)
    assert np.abs(ours - ref).max() < 1e-5 * np.ptp(ref)
    # float32 (the decoder's dtype): rounding only.
    ours32 = project_patterns(torch.from_numpy(data), q.float(), detector).numpy()
    assert np.quantile(np.abs(ours32 - ref), 0.999) < 1e-3 * np.ptp(ref)
    # The test can see what it is meant to: each broken variant of the master
    # pattern projects visibly differently.
    for broken in (data[::-1], data.transpose(0, 2, 1), data[:, :, ::-1], data[:, ::-1]):
        wrong = project_patterns(torch.from_numpy(np.ascontiguousarray(broken, dtype=np.float64)), q, detector)
        assert np.abs(wrong.numpy() - ref).max() > 0.1 * np.ptp(ref)


def test_sample_lambert_reads_each_hemisphere_at_its_own_pixels():
    data = torch.from_numpy(asymmetric_lambert(41).astype(np.float64))
    v = lambert_directions(41)
    # Every texel's own direction returns that texel, hemisphere by hemisphere
    # (the equator's border pixels are shared by both).
    back = sample_lambert(data, v.reshape(1, -1, 3)).reshape(2, 41, 41)
    assert torch.allclose(back, data, atol=1e-9)
    upper, lower = (sample_lambert(data, v[h].reshape(1, -1, 3)).reshape(41, 41) for h in range(2))
    assert torch.allclose(upper, data[0], atol=1e-9) and torch.allclose(lower, data[1], atol=1e-9)


def test_lambert_coordinates_signs_in_every_octant():
    # Off-axis points in all octants: X follows the sign of x and Y of y, in both branches.
    signs = torch.tensor([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=torch.float64)
    for base in ([0.6, 0.3, 0.5], [0.3, 0.6, 0.5]):
        v = signs * torch.tensor(base, dtype=torch.float64)
        xy = lambert_coordinates(v)
        assert torch.equal(torch.sign(xy), signs[:, :2])
        # |X| > |Y| exactly when |x| > |y|.
        assert bool(((xy[:, 0].abs() > xy[:, 1].abs()) == (v[:, 0].abs() > v[:, 1].abs())).all())


def test_rotation_matches_orix():
    rot = Rotation.random(10)
    v = torch.randn(7, 3, dtype=torch.float64)
    ours = rotate_vectors(torch.from_numpy(rot.data), v).numpy()
    from orix.vector import Vector3d

    ref = np.stack([(r * Vector3d(v.numpy())).data for r in rot])
    assert np.allclose(ours, ref, atol=1e-12)


def test_lambert_coordinates_known_points():
    v = torch.tensor([[0, 0, 1.0], [0, 0, -1.0], [1.0, 0, 0], [0, -1.0, 0], [1.0, 1.0, 0]], dtype=torch.float64)
    xy = lambert_coordinates(v).numpy()
    expected = [[0, 0], [0, 0], [1, 0], [0, -1], [1, 1]]
    assert np.allclose(xy, expected, atol=1e-12)


def test_gradients_reach_texture_and_orientation(kinematical_mp):
    master = torch.from_numpy(np.asarray(kinematical_mp.data, dtype=np.float32)).requires_grad_(True)
    q = torch.from_numpy(Rotation.random(3).data).float().requires_grad_(True)
    patterns = project_patterns(master, q, default_detector())
    patterns.square().mean().backward()
    assert master.grad.abs().sum() > 0 and torch.isfinite(master.grad).all()
    assert q.grad.abs().sum() > 0 and torch.isfinite(q.grad).all()
    # One master pattern per item (e.g. one per voltage) broadcasts over the batch.
    batch = project_patterns(master.detach()[None].repeat(3, 1, 1, 1), q.detach(), default_detector())
    assert torch.allclose(batch, patterns.detach())


def test_detector_errors():
    det = default_detector()
    det.pc = np.tile(det.pc, (2, 1))
    with pytest.raises(ValueError, match="one pattern centre"):
        detector_directions(det)


def test_project_bad_shapes():
    q = torch.tensor([[1.0, 0, 0, 0]])
    with pytest.raises(ValueError, match="Lambert hemispheres"):
        project_patterns(torch.rand(3, 11, 11), q, default_detector())
    with pytest.raises(ValueError, match="quaternions"):
        project_patterns(torch.rand(2, 11, 11), torch.rand(4), default_detector())
    with pytest.raises(ValueError, match="one master pattern per"):
        project_patterns(torch.rand(3, 2, 11, 11), q, default_detector())
