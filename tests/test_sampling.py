import numpy as np
import pytest
from orix.quaternion import Orientation
from orix.sampling import get_sample_fundamental

from kikuchipy_gen.phases import get_point_group
from kikuchipy_gen.sampling import (
    nearest_disorientation,
    resolution_to_steps,
    sample_orientations,
    split_orientations,
)


def test_emsoft_density_counts():
    # EMsampleRFZ counts for m-3m at small n, and unit quaternions with a >= 0.
    rot = sample_orientations("m-3m", n=10)
    assert rot.size == 361
    assert np.allclose(np.linalg.norm(rot.data, axis=1), 1)
    assert np.all(rot.a >= 0)


def test_paper_density_gives_333227():
    assert sample_orientations("m-3m", n=100).size == 333_227


@pytest.mark.parametrize("res, count", [(3, 30_443), (2, 100_347)])
def test_resolution_matches_orix_and_design_counts(res, count):
    ours = sample_orientations("m-3m", resolution=res)
    theirs = get_sample_fundamental(resolution=res, point_group=get_point_group("m-3m"))
    assert ours.size == theirs.size == count


def test_resolution_to_steps_inverts_emsoft_relation():
    assert resolution_to_steps(131.97049 / 100 + 0.03732) == 100


@pytest.mark.parametrize("res", [3, 5.5, 12])
def test_resolution_and_its_density_give_the_same_grid(res):
    # sample_orientations(resolution=) lets orix convert; resolution_to_steps
    # (what --resolution uses) must name the same grid.
    by_resolution = sample_orientations("m-3m", resolution=res)
    by_density = sample_orientations("m-3m", n=resolution_to_steps(res))
    assert np.array_equal(by_resolution.data, by_density.data)


@pytest.mark.parametrize("pg", ["m-3m", "6/mmm", "4/mmm", "mmm"])
def test_orientations_lie_in_fundamental_zone(pg):
    rot = sample_orientations(pg, n=6)
    o = Orientation(rot.data, symmetry=get_point_group(pg).proper_subgroup)
    reduced = o.reduce()
    # Reducing an orientation already in the FZ leaves it (up to sign) unchanged.
    dots = np.abs(np.sum(reduced.data * o.data, axis=1))
    assert np.mean(dots > 1 - 1e-9) > 0.95


@pytest.mark.parametrize("pg", ["m-3m", "6/mmm", "4/mmm"])
def test_nearest_disorientation_matches_brute_force_orix(pg):
    sym = get_point_group(pg).proper_subgroup
    a = Orientation.random(40)
    b = Orientation.random(60)
    ours = nearest_disorientation(a, b, pg)
    a.symmetry, b.symmetry = sym, sym
    brute = np.rad2deg(a.angle_with_outer(b)).min(axis=1)
    assert np.allclose(ours, brute, atol=1e-6)


@pytest.mark.parametrize("pg, n", [("m-3m", 16), ("6/mmm", 9), ("4/mmm", 9)])
def test_splits_are_disjoint(pg, n):
    sets = split_orientations(pg, n_train=n)
    assert all(s.size > 0 for s in sets.values())
    for x, y in [("val", "train"), ("test", "train"), ("test", "val")]:
        assert nearest_disorientation(sets[x], sets[y], pg).min() >= 1e-3
    # The unfiltered grids do share orientations (the identity at least): the
    # removal is doing work.
    raw = sample_orientations(pg, n=3)
    assert nearest_disorientation(raw, sets["train"], pg).min() < 1e-6


def test_split_keeps_full_training_grid():
    sets = split_orientations("m-3m", n_train=16)
    assert sets["train"].size == sample_orientations("m-3m", n=16).size


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"point_group": "m-3x", "n": 5}, "Unknown point group"),
        ({"n": 0}, "n must be an integer"),
        ({"n": 1000}, "n must be an integer"),
        ({"n": 2.5}, "n must be an integer"),
        ({"n": 5, "resolution": 2}, "exactly one"),
        ({}, "exactly one"),
        ({"resolution": -1}, "resolution must be"),
        ({"resolution": 0.1}, "n must be an integer"),  # 2,105 steps: too dense
    ],
)
def test_sampling_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample_orientations(**kwargs)


def test_split_bad_input():
    with pytest.raises(ValueError, match="must differ"):
        split_orientations("m-3m", n_train=10, n_val=10, n_test=3)
