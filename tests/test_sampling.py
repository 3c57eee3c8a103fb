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
    assert rot.size == 361  # independently: test_fz_counts_from_the_full_grid_and_the_analytic_zone
    assert np.allclose(np.linalg.norm(rot.data, axis=1), 1)
    assert np.all(rot.a >= 0)


def _inside_432_rodrigues_fz(q: np.ndarray) -> np.ndarray:
    """The octahedral Rodrigues fundamental zone written out (Frank 1988; EMsoft's test).

    ``|r_i| <= tan(pi/8)`` (the square faces) and ``|r_1| + |r_2| + |r_3| <= 1``
    (the triangular faces), with ``r = (b, c, d) / a``: independent of orix's
    symmetry and fundamental-sector code, which ``sample_orientations`` uses.
    """
    q = q * np.where(q[:, :1] < 0, -1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.abs(q[:, 1:] / q[:, :1])
    tol = 1e-9
    return np.all(r <= np.tan(np.pi / 8) + tol, axis=1) & (r.sum(axis=1) <= 1 + tol)


@pytest.mark.parametrize("n", [3, 5, 8, 10])
def test_fz_counts_from_the_full_grid_and_the_analytic_zone(n):
    # The whole cubochoric grid of SO(3) (no symmetry, (2n)^3 points) filtered
    # by the analytic m-3m zone: an independent count of what
    # sample_orientations keeps (21, 51, 193, 361).
    full = get_sample_fundamental(point_group=get_point_group("1"), method="cubochoric", semi_edge_steps=n)
    assert full.size == (2 * n) ** 3
    expected = int(_inside_432_rodrigues_fz(full.data.reshape(-1, 4)).sum())
    ours = sample_orientations("m-3m", n=n)
    assert ours.size == expected
    assert _inside_432_rodrigues_fz(ours.data).all()


def test_split_counts_from_independent_grids():
    # Densities 8 / 3 / 5 (coprime) share only the identity, which every
    # cubochoric grid holds: val and test lose exactly that one point.
    full = {
        n: get_sample_fundamental(point_group=get_point_group("1"), method="cubochoric", semi_edge_steps=n)
        for n in (8, 3, 5)
    }
    counts = {n: int(_inside_432_rodrigues_fz(r.data.reshape(-1, 4)).sum()) for n, r in full.items()}
    for r in full.values():
        assert np.any(np.all(np.isclose(np.abs(r.data.reshape(-1, 4)), [1, 0, 0, 0]), axis=1))
    sizes = {k: v.size for k, v in split_orientations("m-3m", n_train=8).items()}
    assert sizes == {"train": counts[8], "val": counts[3] - 1, "test": counts[5] - 1}


def test_paper_density_gives_333227():
    assert sample_orientations("m-3m", n=100).size == 333_227


def test_resolution_matches_orix_and_design_counts():
    # The counts are EMsoft's (DESIGN.md); orix's own grid at 3 deg is the second
    # source. At 2 deg the count alone: orix's grid again would only double the time.
    ours = sample_orientations("m-3m", resolution=3)
    theirs = get_sample_fundamental(resolution=3, point_group=get_point_group("m-3m"))
    assert ours.size == theirs.size == 30_443
    assert np.allclose(np.sort(np.abs(ours.data[:, 0])), np.sort(np.abs(theirs.data[:, 0])))
    assert sample_orientations("m-3m", resolution=2).size == 100_347


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
