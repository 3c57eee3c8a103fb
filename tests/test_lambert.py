import kikuchipy as kp
import numpy as np
import pytest
from orix.crystal_map import Phase
from orix.quaternion import Rotation

from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.lambert import lambert_master_pattern
from kikuchipy_gen.sources import validate_master_pattern


@pytest.fixture(scope="module")
def nickel():
    return kp.data.nickel_ebsd_master_pattern_small(projection="lambert", hemisphere="both")


def test_axes_and_metadata_follow_kikuchipy(nickel):
    phase = Phase("ni", space_group=225)
    mp = lambert_master_pattern(nickel.data, phase, energy=20, title="ni 20 kV")
    validate_master_pattern(mp)
    assert mp.data.dtype == np.float32 and mp.data.flags["C_CONTIGUOUS"]
    assert np.array_equal(mp.data, nickel.data.astype(np.float32))
    # Same axis names, order, scales and units as kikuchipy's own Lambert file.
    ours = [(a.name, a.size, a.scale, a.units, a.navigate) for a in mp.axes_manager._axes]
    theirs = [(a.name, a.size, a.scale, a.units, a.navigate) for a in nickel.axes_manager._axes]
    assert ours == theirs
    # Centred: the middle pixel sits at 0.
    for ax in mp.axes_manager.signal_axes:
        assert ax.offset == -200 and ax.axis[200] == 0
    assert mp.metadata.Simulation.EBSD_master_pattern.BSE_simulation.energy == 20.0
    assert mp.metadata.General.title == "ni 20 kV"
    # The phase is a copy: the caller's stays untouched.
    mp.phase.name = "changed"
    assert phase.name == "ni"


def test_projects_like_the_kikuchipy_file(nickel):
    # Only the axes differ (kikuchipy's EMsoft reader puts the middle pixel at
    # -1): projection reads the array, so the patterns are the same.
    reference = nickel.deepcopy()
    reference.change_dtype("float32")
    mp = lambert_master_pattern(nickel.data, nickel.phase)
    assert not mp.metadata.has_item("Simulation")
    rot = Rotation.from_axes_angles([[1, 2, 3], [0, 1, 1]], [30, 50], degrees=True)
    kwargs = {"rotations": rot, "detector": default_detector(), "compute": True, "show_progressbar": False}
    assert np.array_equal(mp.get_patterns(**kwargs).data, reference.get_patterns(**kwargs).data)


@pytest.mark.parametrize(
    "shape",
    [(2, 4, 4), (2, 5, 7), (1, 5, 5), (5, 5), (3, 5, 5)],
)
def test_bad_shapes(shape):
    with pytest.raises(ValueError, match=r"shape \(2, n, n\) with n odd"):
        lambert_master_pattern(np.zeros(shape), Phase("ni", space_group=225))


def test_bad_phase_and_energy():
    with pytest.raises(TypeError, match="orix Phase"):
        lambert_master_pattern(np.zeros((2, 5, 5)), "ni")
    for energy in (0, -5, "x", float("nan")):
        with pytest.raises(ValueError, match="energy must be"):
            lambert_master_pattern(np.zeros((2, 5, 5)), Phase("ni", space_group=225), energy=energy)
