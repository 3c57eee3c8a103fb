import warnings

import numpy as np
import pytest
from orix.crystal_map import CrystalMap
from orix.quaternion import Orientation, Rotation
from scipy.optimize import Bounds, minimize

from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.phases import get_phase
from kikuchipy_gen.refinement import (
    REFINEMENT_METHODS,
    bobyqa_minimizer,
    disorientation,
    refine_orientations,
    summarize,
)


def _quadratic(x, centre):
    return float(np.sum((np.asarray(x) - centre) ** 2))


# --- bobyqa_minimizer --------------------------------------------------------


def test_bobyqa_finds_interior_minimum_through_scipy():
    centre = np.array([0.3, -0.2, 0.1])
    res = minimize(_quadratic, np.zeros(3), args=(centre,), method=bobyqa_minimizer, bounds=[(-1, 1)] * 3)
    assert res.success and res.status == 0
    assert np.allclose(res.x, centre, atol=1e-6)
    assert res.fun < 1e-10 and res.nfev > 0 and isinstance(res.message, str)


def test_bobyqa_stops_on_bound_when_minimum_is_outside():
    centre = np.array([2.0, -3.0])
    res = minimize(
        _quadratic,
        [0.5, 0.5],
        args=(centre,),
        method=bobyqa_minimizer,
        bounds=Bounds([-1, -1], [1, 1]),
    )
    assert np.allclose(res.x, [1, -1], atol=1e-8)
    assert np.all(res.x >= -1) and np.all(res.x <= 1)


def test_bobyqa_accepts_scipy_extras_and_no_bounds():
    # What SciPy passes to a custom method: jac, hess, callback, tol, ...
    res = bobyqa_minimizer(
        _quadratic,
        [5.0, 5.0],
        args=(np.array([1.0, 2.0]),),
        jac=None,
        hess=None,
        hessp=None,
        constraints=(),
        callback=lambda *a: None,
        tol=1e-9,
        disp=False,
        maxfun=200,
    )
    assert np.allclose(res.x, [1, 2], atol=1e-6)


def test_bobyqa_default_rhobeg_fits_narrow_bounds_and_x0_outside_is_silent():
    # pybobyqa's own default (0.1 * max|x0| = 10) would be rejected for a gap of 0.02.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = bobyqa_minimizer(_quadratic, [100.0, 100.0], args=(np.zeros(2),), bounds=[(99.99, 100.01), (101, 102)])
    assert np.allclose(res.x, [99.99, 101])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"bounds": [(1, 1), (0, 2)]}, "upper bound must exceed"),
        ({"bounds": [(0, 1)]}, "Expected 2"),
        ({"bounds": [(0, 1), (0, 1)], "rhobeg": 0.9}, "gap between lower and upper"),
        ({"constraints": [{"type": "eq", "fun": np.sum}]}, "bound constraints only"),
    ],
)
def test_bobyqa_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bobyqa_minimizer(_quadratic, [0.5, 0.5], args=(np.zeros(2),), **kwargs)


# --- disorientation / summarize ---------------------------------------------


def test_disorientation_hand_computed_cubic():
    a = Rotation.from_axes_angles([0, 0, 1], [90, 10, 45, 120], degrees=True)
    b = Rotation.identity((4,))
    # 90 deg about <001> is a symmetry operation; 45 deg about <001> is the
    # largest angle about that axis; 120 deg about <001> is 30 deg from 90.
    assert np.allclose(disorientation(a, b, "m-3m"), [0, 10, 45, 30], atol=1e-6)
    # Without symmetry (point group 1) nothing is reduced.
    assert np.allclose(disorientation(a, b, "1"), [90, 10, 45, 120], atol=1e-6)


def test_disorientation_accepts_orientations_xmaps_quaternions_and_phase():
    rot = Rotation.from_axes_angles([1, 1, 1], [0, 120, 5], degrees=True)
    ref = Rotation.identity((3,))
    phase = get_phase("ni")
    xmap = CrystalMap(rot, phase_list=None)
    ori = Orientation(rot.data, symmetry=phase.point_group)  # its own symmetry is ignored
    expected = [0, 0, 5]
    for a in (rot, ori, xmap, rot.data):
        got = disorientation(a, ref.data, phase)
        assert got.shape == (3,)
        assert np.allclose(got, expected, atol=1e-6)


def test_disorientation_keeps_shape_and_rejects_mismatch():
    a = Rotation.identity((2, 3))
    assert disorientation(a, a, "m-3m").shape == (2, 3)
    with pytest.raises(ValueError, match="Shapes differ"):
        disorientation(Rotation.identity((3,)), Rotation.identity((2,)), "m-3m")
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        disorientation(np.zeros((3, 3)), np.zeros((3, 3)), "m-3m")


def test_summarize():
    s = summarize(np.array([[1.0, 2.0], [3.0, np.nan]]))
    std = pytest.approx(np.std([1, 2, 3]))
    assert s == {"mean": 2.0, "std": std, "median": 2.0, "max": 3.0, "n": 3}
    assert summarize([])["n"] == 0


# --- refine_orientations -----------------------------------------------------


def test_unknown_method_lists_choices():
    assert REFINEMENT_METHODS == ("bobyqa", "nelder-mead", "ln_neldermead")
    with pytest.raises(ValueError, match="bobyqa.*nelder-mead.*ln_neldermead"):
        refine_orientations(None, None, None, None, 20, method="powell")


def test_bad_trust_region():
    with pytest.raises(ValueError, match="trust_region"):
        refine_orientations(None, None, None, None, 20, trust_region=(1, 1))


@pytest.fixture(scope="module")
def perturbed_ni():
    """Five physics patterns and their orientations perturbed by 1 deg."""
    import kikuchipy as kp

    mp = kp.data.nickel_ebsd_master_pattern_small(projection="lambert", hemisphere="both")
    det = default_detector()
    rng = np.random.default_rng(42)
    q = rng.normal(size=(5, 4))
    truth = Rotation(q / np.linalg.norm(q, axis=1, keepdims=True))
    patterns = mp.get_patterns(truth, det, energy=20, compute=True, show_progressbar=False)
    axes = rng.normal(size=(5, 3))
    start = Rotation.from_axes_angles(axes, np.ones(5), degrees=True) * truth
    xmap = CrystalMap(start, phase_list=patterns.xmap.phases)
    assert np.allclose(disorientation(xmap, truth, mp.phase), 1, atol=1e-6)
    return patterns, xmap, det, mp, truth


@pytest.mark.parametrize("method", ["bobyqa", "nelder-mead"])
def test_refinement_recovers_physics_orientations(perturbed_ni, method):
    patterns, xmap, det, mp, truth = perturbed_ni
    ref = refine_orientations(patterns, xmap, det, mp, 20, method=method)
    assert isinstance(ref, CrystalMap) and ref.size == 5
    d = disorientation(ref, truth, mp.phase)
    assert d.max() < 0.05, d
    assert np.all(ref.prop["scores"] > 0.999)
    # The caller's xmap is left as it was.
    assert np.allclose(disorientation(xmap, truth, mp.phase), 1, atol=1e-6)


@pytest.mark.parametrize("form", ["inav[0:1]", "inav[0]", "lazy"])
@pytest.mark.parametrize("method", ["bobyqa", "nelder-mead"])
def test_refinement_of_one_pattern(perturbed_ni, form, method):
    # orix shapes every one-point map (), a signal of one pattern has navigation
    # shape (1,): kikuchipy refuses that pair, and a signal of shape () as well.
    patterns, xmap, det, mp, truth = perturbed_ni
    one = {"inav[0:1]": patterns.inav[0:1], "inav[0]": patterns.inav[0], "lazy": patterns.inav[0:1].as_lazy()}[form]
    start = CrystalMap(Rotation(xmap.rotations.data[:1]), phase_list=xmap.phases)
    assert start.shape == ()
    ref = refine_orientations(one, start, det, mp, 20, method=method)
    assert isinstance(ref, CrystalMap) and ref.size == 1 and ref.shape == ()
    assert disorientation(ref, truth.data[:1], mp.phase)[0] < 0.05
    assert ref.prop["scores"][0] > 0.999 and ref.prop["num_evals"][0] > 10


def test_refinement_of_one_pattern_with_its_own_pc_and_lazily(perturbed_ni):
    patterns, xmap, det, mp, truth = perturbed_ni
    one = patterns.inav[1:2]
    start = CrystalMap(Rotation(xmap.rotations.data[1:2]), phase_list=xmap.phases)
    own = det.deepcopy()
    own.pc = det.pc.reshape(1, 1, 3)  # one pattern centre per pattern of a 1 x 1 map
    ref = refine_orientations(one, start, own, mp, 20)
    assert disorientation(ref, truth.data[1:2], mp.phase)[0] < 0.05
    lazy = refine_orientations(one, start, own, mp, 20, compute=False)
    assert lazy.compute().shape[0] == 1  # the refined point only
    kept = refine_orientations(one, start, det, mp, 20, navigation_mask=np.array([False]))
    assert disorientation(kept, truth.data[1:2], mp.phase)[0] < 0.05


def test_trust_region_reaches_bobyqa_as_bounds(perturbed_ni):
    # With a 0.1 deg box the 1 deg error cannot be undone: every refined Euler
    # angle must stay within the box around its start.
    patterns, xmap, det, mp, truth = perturbed_ni
    ref = refine_orientations(patterns, xmap, det, mp, 20, trust_region=(0.1, 0.1, 0.1))
    step = np.rad2deg(ref.rotations.to_euler() - xmap.rotations.to_euler())
    step = (step + 180) % 360 - 180
    assert np.abs(step).max() <= 0.1 + 1e-9
    assert disorientation(ref, truth, mp.phase).min() > 0.5


def test_nlopt_passthrough(perturbed_ni):
    import nlopt  # noqa: F401  - a declared test dependency: a broken install fails

    patterns, xmap, det, mp, truth = perturbed_ni
    ref = refine_orientations(patterns, xmap, det, mp, 20, method="ln_neldermead", rtol=1e-7)
    assert disorientation(ref, truth, mp.phase).max() < 0.05


def test_misindexing_finds_the_pseudo_symmetric_angle():
    from kikuchipy_gen.refinement import misindexing

    rng = np.random.default_rng(1)
    # 20 misses within half a degree of 60 deg (one basin), 6 spread misses, 30 good.
    angles = np.concatenate([rng.uniform(59.5, 60.5, 20), [7.0, 13.0, 21.0, 33.0, 41.0, 52.0], rng.uniform(0, 2, 30)])
    m = misindexing(np.append(angles, np.nan))  # a NaN (no solution) is left out
    assert m["misindexed"] == 26 and m["misindexed_fraction"] == pytest.approx(26 / 56)
    assert m["misindexed_modes"][0] == [60.0, 20]
    assert all(n == 1 for _, n in m["misindexed_modes"][1:])
    assert misindexing([5.0, 5.01])["misindexed"] == 1  # the threshold itself is not a miss
    empty = misindexing([])
    assert empty["misindexed"] == 0 and empty["misindexed_modes"] == [] and np.isnan(empty["misindexed_fraction"])


@pytest.mark.parametrize("kw", [{"threshold": -1}, {"bin_deg": 0}, {"n_modes": 0}])
def test_misindexing_bad_input(kw):
    from kikuchipy_gen.refinement import misindexing

    with pytest.raises(ValueError, match="threshold must be"):
        misindexing([1.0], **kw)


def _di_map(rot, indices):
    from orix.crystal_map import CrystalMap

    return CrystalMap(rot, x=np.arange(len(indices)), prop={"simulation_indices": np.asarray(indices)})


def test_indexing_agreement_pattern_by_pattern():
    from orix.quaternion import Rotation

    from kikuchipy_gen.refinement import indexing_agreement

    z = np.deg2rad([0, 3, 90, 45, 0])
    a = Rotation.from_axes_angles([0, 0, 1], z)
    # Point 0 the same entry; 1 a neighbour 3 deg away; 2 another entry of the
    # same m-3m orientation (90 deg about z): a neighbour too; 3 45 deg away:
    # elsewhere; 4 the same entry again.
    b = Rotation.from_axes_angles([0, 0, 1], np.deg2rad([0, 0, 0, 0, 0]))
    got = indexing_agreement(_di_map(a, [7, 8, 9, 10, 11]), _di_map(b, [7, 1, 2, 3, 11]), "m-3m")
    assert got == {"same": 0.4, "neighbours": 2, "elsewhere": 1}
    # Under a lower symmetry the 90 deg entry is another basin.
    assert indexing_agreement(_di_map(a, [7, 8, 9, 10, 11]), _di_map(b, [7, 1, 2, 3, 11]), "mmm")["elsewhere"] == 2
    # keep_n > 1: the best match (first column) decides.
    keep2 = _di_map(Rotation(np.stack([a.data, b.data], axis=1)), np.stack([[7, 8, 9, 10, 11], [0] * 5], axis=1))
    assert indexing_agreement(keep2, _di_map(a, [7, 8, 9, 10, 11]), "m-3m")["same"] == 1.0


def test_indexing_agreement_bad_input():
    from orix.crystal_map import CrystalMap
    from orix.quaternion import Rotation

    from kikuchipy_gen.refinement import indexing_agreement

    rot = Rotation.identity(3)
    with pytest.raises(ValueError, match="xmap_b must be a crystal map from dictionary indexing"):
        indexing_agreement(_di_map(rot, [0, 1, 2]), CrystalMap(rot, x=np.arange(3)), "m-3m")
    with pytest.raises(ValueError, match="differ in size: 3 and 2"):
        indexing_agreement(_di_map(rot, [0, 1, 2]), _di_map(rot[:2], [0, 1]), "m-3m")
    with pytest.raises(ValueError, match="near_deg must be >= 0"):
        indexing_agreement(_di_map(rot, [0, 1, 2]), _di_map(rot, [0, 1, 2]), "m-3m", near_deg=-1)
