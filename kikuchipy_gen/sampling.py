"""Orientation sampling of the Rodrigues fundamental zone, and disjoint splits.

The grids are orix's cubochoric sampling, which reproduces EMsoft's
``EMsampleRFZ``: ``n = 100`` gives the paper's 333,227 orientations for
m-3m. Training, validation and test sets use different densities, as in the
paper; a grid point shared by two densities (the identity, for one) is removed
from the smaller set, and :func:`nearest_disorientation` verifies it.
"""

from __future__ import annotations

import math

import numpy as np
from orix.quaternion import Orientation, Rotation
from orix.quaternion.symmetry import Symmetry
from orix.sampling import get_sample_fundamental
from scipy.spatial import cKDTree

from kikuchipy_gen.phases import _proper_subgroup, get_point_group

__all__ = [
    "MAX_SEMI_EDGE_STEPS",
    "nearest_disorientation",
    "random_rotations",
    "resolution_to_steps",
    "sample_orientations",
    "split_orientations",
]

#: Largest accepted density: ~9 million orientations for m-3m (0.3 GB as float64).
MAX_SEMI_EDGE_STEPS = 300

# Below this (EMsoft's offset of 0.03732 deg) the resolution formula diverges.
_MIN_RESOLUTION = 0.03732


def resolution_to_steps(resolution: float) -> int:
    """Convert an angular resolution in degrees to EMsoft's cubochoric ``n``.

    A thin, checked wrapper of the conversion orix applies in
    :func:`orix.sampling.get_sample_fundamental` for ``method="cubochoric"``:
    ``round(131.97049 / (resolution - 0.03732))``, Eq. (9) of Singh and De
    Graef (2016), as EMsoft's ``EMsampleRFZ``. orix keeps the conversion
    private, so it is called here rather than copied, and
    ``tests/test_sampling.py`` pins its values.

    Parameters
    ----------
    resolution
        Mean angular spacing of the grid in degrees, in (0.04, 180].

    Returns
    -------
    int
        Semi-edge steps ``n`` of the cubochoric grid, as orix and EMsoft
        use, at least 1.

    Examples
    --------
    >>> from kikuchipy_gen.sampling import resolution_to_steps
    >>> resolution_to_steps(3), resolution_to_steps(2)
    (45, 67)
    """
    # Private in orix 0.15 (orix.sampling._cubochoric_sampling); imported here
    # so that a rename there breaks this function only, loudly, in the tests.
    from orix.sampling._cubochoric_sampling import resolution_to_semi_edge_steps

    resolution = float(resolution)
    if not (_MIN_RESOLUTION < resolution <= 180) or not math.isfinite(resolution):
        raise ValueError(f"resolution must be in (0.04, 180] degrees, got {resolution}")
    return max(1, int(resolution_to_semi_edge_steps(resolution)))


def sample_orientations(
    point_group: str | Symmetry = "m-3m",
    n: int | None = None,
    resolution: float | None = None,
) -> Rotation:
    """Sample the Rodrigues fundamental zone of a point group on a cubochoric grid.

    Parameters
    ----------
    point_group
        Hermann-Mauguin name (``"m-3m"``, ``"6/mmm"``, ...) or orix symmetry.
        Orientations are reduced by its proper (rotational) subgroup.
    n
        EMsoft-style density: number of grid steps along the semi-edge of the
        cubochoric cube (``EMsampleRFZ``'s ``n``). Between 1 and
        :data:`MAX_SEMI_EDGE_STEPS`.
    resolution
        Alternatively, the mean angular spacing in degrees, converted to a
        density by orix as EMsoft does (:func:`resolution_to_steps`).

    Returns
    -------
    orix.quaternion.Rotation
        1-D rotations with non-negative scalar part.

    Examples
    --------
    >>> from kikuchipy_gen.sampling import sample_orientations
    >>> sample_orientations("m-3m", n=10).size
    361
    """
    pg = get_point_group(point_group)
    if (n is None) == (resolution is None):
        raise ValueError("Give exactly one of n (grid density) or resolution (degrees)")
    if resolution is not None:
        # orix converts the resolution itself; the density is checked first so
        # that a tiny resolution cannot allocate a grid of billions.
        _check_density(resolution_to_steps(resolution))
        rot = get_sample_fundamental(resolution=float(resolution), point_group=pg, method="cubochoric")
    else:
        rot = get_sample_fundamental(point_group=pg, method="cubochoric", semi_edge_steps=_check_density(n))
    q = rot.data.reshape(-1, 4)
    q = q * np.where(q[:, :1] < 0, -1.0, 1.0)
    return Rotation(q)


def random_rotations(n: int, seed: int = 0) -> Rotation:
    """Rotations drawn uniformly on SO(3), reproducible for a seed.

    Normalised 4-D Gaussian vectors are uniform on the unit quaternion sphere,
    hence on SO(3). Every seeded random orientation in the package comes from
    here, so the same seed means the same test set in the demo, the
    evaluation and the command line.

    Parameters
    ----------
    n
        Number of rotations, >= 1.
    seed
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    orix.quaternion.Rotation
        1-D, ``n`` rotations.

    Examples
    --------
    >>> from kikuchipy_gen.sampling import random_rotations
    >>> r = random_rotations(5, seed=1)
    >>> r.shape, bool((random_rotations(5, seed=1).data == r.data).all())
    ((5,), True)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    q = np.random.default_rng(seed).standard_normal((int(n), 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)  # in place: no second (n, 4) array
    return Rotation(q)


def nearest_disorientation(rotations: Rotation, reference: Rotation, point_group: str | Symmetry) -> np.ndarray:
    """Disorientation in degrees from each rotation to its nearest reference.

    A k-d tree over the reference quaternions (both signs) finds the nearest
    symmetry-equivalent; orix then computes the exact disorientation of that
    pair.

    Parameters
    ----------
    rotations
        Rotations to test, any shape (flattened in C order).
    reference
        Rotations to search among.
    point_group
        Crystal point group of both sets.

    Returns
    -------
    numpy.ndarray
        One disorientation angle in degrees per rotation.

    Examples
    --------
    >>> from kikuchipy_gen.sampling import nearest_disorientation, sample_orientations
    >>> a = sample_orientations("m-3m", n=7)
    >>> b = sample_orientations("m-3m", n=8)
    >>> bool(nearest_disorientation(a, b, "m-3m").min() < 1e-6)  # the identity is in both
    True
    """
    proper = _proper_subgroup(point_group)
    q = rotations.data.reshape(-1, 4)
    ref = reference.data.reshape(-1, 4)
    if len(ref) == 0:
        raise ValueError("reference holds no rotations")
    tree = cKDTree(np.concatenate([ref, -ref]))
    # The nearest neighbour of the FZ-reduced rotation bounds the search for the
    # other symmetry equivalents, which keeps queries far from the tree cheap.
    reduced = Orientation(q, symmetry=proper).reduce().data
    best_d, best_i = tree.query(reduced)
    for op in Rotation(proper.data):
        # Crystal symmetry acts from the left in orix's convention.
        d, i = tree.query((op * Rotation(q)).data, distance_upper_bound=best_d.max() + 1e-9)
        better = d < best_d
        best_d[better], best_i[better] = d[better], i[better]
    partner = ref[best_i % len(ref)]
    o1 = Orientation(q, symmetry=proper)
    o2 = Orientation(partner, symmetry=proper)
    return np.rad2deg(o1.angle_with(o2))


def split_orientations(
    point_group: str | Symmetry = "m-3m",
    n_train: int = 100,
    n_val: int | None = None,
    n_test: int | None = None,
    min_separation: float = 1e-3,
) -> dict[str, Rotation]:
    """Make training, validation and test orientations that share none.

    Each set is a cubochoric grid of its own density, as in the paper. Any
    validation or test orientation closer than ``min_separation`` degrees to
    an orientation in a denser set is removed.

    Parameters
    ----------
    point_group
        Crystal point group name or orix symmetry.
    n_train
        Grid density of the training set (paper: 100).
    n_val, n_test
        Grid densities of the validation and test sets. By default the largest
        integers below ``n_train / 2`` that are coprime with ``n_train`` (and
        with each other; above it for tiny grids), so only a handful of grid
        points coincide.
    min_separation
        Smallest allowed disorientation between sets, in degrees.

    Returns
    -------
    dict
        ``{"train": Rotation, "val": Rotation, "test": Rotation}``.

    Examples
    --------
    >>> from kikuchipy_gen.sampling import split_orientations
    >>> s = split_orientations("m-3m", n_train=20)
    >>> {k: v.size for k, v in s.items()}
    {'train': 2691, 'val': 264, 'test': 124}
    """
    pg = get_point_group(point_group)
    for n in (n_train, n_val, n_test):
        if n is not None:
            _check_density(n)
    if n_val is None:
        n_val = _coprime_below(max(n_train // 2, 2), (n_train,))
    if n_test is None:
        n_test = _coprime_below(n_val, (n_train, n_val))
    if len({n_train, n_val, n_test}) != 3:
        raise ValueError(f"Densities must differ, got train={n_train}, val={n_val}, test={n_test}")
    sets = {
        "train": sample_orientations(pg, n=n_train),
        "val": sample_orientations(pg, n=n_val),
        "test": sample_orientations(pg, n=n_test),
    }
    # Remove shared points from the sparser set so the dense training set stays a full grid.
    order = sorted(sets, key=lambda k: -sets[k].size)
    for i, name in enumerate(order[1:], start=1):
        keep = np.ones(sets[name].size, dtype=bool)
        for denser in order[:i]:
            keep &= nearest_disorientation(sets[name], sets[denser], pg) >= min_separation
        sets[name] = sets[name][keep]
        if sets[name].size == 0:
            raise ValueError(f"The {name} set is empty; use larger densities than {n_train}")
    return sets


def _check_density(n) -> int:
    if (
        isinstance(n, bool)
        or not isinstance(n, (int, np.integer, float))
        or int(n) != n
        or not (1 <= n <= MAX_SEMI_EDGE_STEPS)
    ):
        raise ValueError(
            f"n must be an integer in [1, {MAX_SEMI_EDGE_STEPS}] (n=100 is the paper's "
            f"333,227 orientations for m-3m), got {n!r}"
        )
    return int(n)


def _coprime_below(n: int, others: tuple[int, ...]) -> int:
    """Largest density >= 2 below ``n`` coprime with ``others``; else the smallest above."""
    for m in [*range(n - 1, 1, -1), *range(n + 1, 4 * n + 4)]:
        if all(math.gcd(m, o) == 1 for o in others):
            return m
    raise ValueError(f"No density near {n} is coprime with {others}; give n_val/n_test")
