import numpy as np
import pytest
import torch
from orix.quaternion import Rotation

from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.projection import (
    detector_directions,
    lambert_coordinates,
    project_patterns,
    rotate_vectors,
)
from kikuchipy_gen.sources import KinematicalSource


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
