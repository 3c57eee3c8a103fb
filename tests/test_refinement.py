import warnings

import numpy as np
import pytest
from orix.crystal_map import CrystalMap
from orix.quaternion import Orientation, Rotation
from scipy.optimize import Bounds, minimize

from kikuchipy_gen import refinement
from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.phases import get_phase, get_point_group
from kikuchipy_gen.refinement import (
    REFINEMENT_METHODS,
    bobyqa_minimizer,
    dictionary_basins,
    disorientation,
    ln_bobyqa_minimizer,
    refine_best_basin,
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


# --- ln_bobyqa_minimizer (NLopt's BOBYQA) ----------------------------------


@pytest.mark.parametrize("minimizer", [bobyqa_minimizer, ln_bobyqa_minimizer])
def test_both_bobyqas_find_a_bounded_minimum_through_scipy(minimizer):
    centre = np.array([0.3, -0.2, 2.0])  # the third outside the box
    res = minimize(_quadratic, np.zeros(3), args=(centre,), method=minimizer, bounds=[(-1, 1)] * 3, tol=1e-9)
    assert res.success
    assert np.allclose(res.x, [0.3, -0.2, 1.0], atol=1e-6)
    assert abs(res.fun - 1.0) < 1e-10 and res.nfev > 7


def test_ln_bobyqa_keeps_the_least_value_and_counts_evaluations():
    seen = []

    def f(x):
        seen.append(_quadratic(x, np.array([1.0, 2.0])))
        return seen[-1]

    res = ln_bobyqa_minimizer(f, [5.0, 5.0], rhobeg=0.5, rhoend=1e-8, maxfun=500, callback=lambda *a: None, disp=False)
    assert np.allclose(res.x, [1, 2], atol=1e-6) and res.fun == min(seen)
    assert res.nfev == len(seen) and res.success
    # Stopped by maxfun: the best point so far, and not a success.
    short = ln_bobyqa_minimizer(f, [5.0, 5.0], rhobeg=0.5, rhoend=1e-8, maxfun=8)
    assert short.nfev == 8 and not short.success and short.fun < _quadratic([5, 5], np.array([1.0, 2.0]))


def test_ln_bobyqa_passes_the_objectives_errors_on():
    def broken(x):
        raise KeyError("the objective's own error")

    with pytest.raises(KeyError, match="the objective's own error"):
        ln_bobyqa_minimizer(broken, [0.0, 0.0])


def test_ln_bobyqa_default_rhobeg_fits_narrow_bounds_and_x0_outside_is_clipped():
    res = ln_bobyqa_minimizer(_quadratic, [100.0, 100.0], args=(np.zeros(2),), bounds=[(99.99, 100.01), (101, 102)])
    assert np.allclose(res.x, [99.99, 101])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"bounds": [(1, 1), (0, 2)]}, "upper bound must exceed"),
        ({"bounds": [(0, 1)]}, "Expected 2"),
        ({"bounds": [(0, 1), (0, 1)], "rhobeg": 0.9}, "half the narrowest gap"),
        ({"constraints": [{"type": "eq", "fun": np.sum}]}, "bound constraints only"),
        ({"rhobeg": 0.1, "rhoend": 0.2}, "rhoend <= rhobeg"),
        ({"maxfun": 3}, "maxfun must be at least 6"),
        ({"npt": 5}, "unknown options"),
    ],
)
def test_ln_bobyqa_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ln_bobyqa_minimizer(_quadratic, [0.5, 0.5], args=(np.zeros(2),), **kwargs)


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
    assert REFINEMENT_METHODS == ("bobyqa", "ln_bobyqa", "nelder-mead", "ln_neldermead")
    with pytest.raises(ValueError, match="bobyqa.*ln_bobyqa.*nelder-mead.*ln_neldermead"):
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


@pytest.mark.parametrize("method", ["bobyqa", "ln_bobyqa", "nelder-mead"])
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
@pytest.mark.parametrize("method", ["bobyqa", "ln_bobyqa", "nelder-mead"])
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


@pytest.mark.parametrize("method", ["bobyqa", "ln_bobyqa"])
def test_trust_region_reaches_bobyqa_as_bounds(perturbed_ni, method):
    # With a 0.1 deg box the 1 deg error cannot be undone: every refined Euler
    # angle must stay within the box around its start.
    patterns, xmap, det, mp, truth = perturbed_ni
    ref = refine_orientations(patterns, xmap, det, mp, 20, method=method, trust_region=(0.1, 0.1, 0.1))
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


def _ranked(rotations, phases=None):
    """A 1-D crystal map of ranked matches, shape (points, keep_n), as dictionary indexing gives."""
    return CrystalMap(rotations, x=np.arange(rotations.shape[0]), phase_list=phases)


def test_dictionary_basins_skips_neighbours_and_symmetry_equivalents():
    z = [0, 0, 1]
    # Ranked matches of one point: the best, a 2 deg neighbour, the best seen
    # through a 4-fold axis (the same orientation in m-3m), a 30 deg twin, a
    # neighbour of the twin and a third basin at 45 deg about x.
    ranked = Rotation.from_axes_angles([z, z, z, z, z, [1, 0, 0]], [0, 2, 90, 30, 31, 45], degrees=True)
    # A second point with nothing but neighbours.
    lonely = Rotation.from_axes_angles(z, [10, 11, 12, 13, 14, 15], degrees=True)
    xmap = _ranked(Rotation(np.stack([ranked.data, lonely.data])))
    q = dictionary_basins(xmap, "m-3m", n_basins=3)
    assert q.shape == (2, 3, 4)
    angles = [disorientation(q[:, b], Rotation.identity((2,)), "m-3m") for b in range(3)]
    assert np.allclose([a[0] for a in angles], [0, 30, 45], atol=1e-6)
    # No other basin: the best match repeated.
    assert np.allclose(q[1], lonely.data[[0, 0, 0]])
    # Lower symmetry: the 90 deg match is another basin in mmm (no 4-fold axis).
    q3 = dictionary_basins(xmap, "mmm", n_basins=2)
    assert np.isclose(disorientation(q3[:1, 1], Rotation.identity((1,)), "mmm")[0], 90, atol=1e-6)
    # A wider min_angle merges the 30 deg twin into the best's basin.
    q_wide = dictionary_basins(xmap, "m-3m", n_basins=2, min_angle=40)
    assert np.isclose(disorientation(q_wide[:1, 1], Rotation.identity((1,)), "m-3m")[0], 45, atol=1e-6)


@pytest.mark.parametrize("point_group", ["m-3m", "6/mmm", "-3m", "2/m"])
def test_dictionary_basins_match_a_greedy_search_with_orix(point_group, monkeypatch):
    # Clusters of near neighbours around a few centres, in a shuffled rank
    # order: every basin boundary the search meets is tested, pattern by pattern.
    monkeypatch.setattr(refinement, "_BASIN_BLOCK", 4)  # 6 points: blocks of 4 and 2
    rng = np.random.default_rng(3)
    centres = Rotation.random(4).data
    ranked = []
    for _ in range(6):
        near = Rotation.from_axes_angles(rng.normal(size=(12, 3)), rng.uniform(0, 8, 12), degrees=True)
        ranked.append((near * Rotation(centres[rng.integers(0, 4, 12)])).data)
    xmap = _ranked(Rotation(np.stack(ranked)))
    got = dictionary_basins(xmap, point_group, n_basins=4, min_angle=5.0)
    proper = get_point_group(point_group).proper_subgroup
    for i, matches in enumerate(xmap.rotations.data):
        o = Orientation(matches, symmetry=proper)
        firsts = [0]
        for k in range(1, len(matches)):
            if len(firsts) < 4 and all(o[k].angle_with(o[j], degrees=True)[0] > 5.0 for j in firsts):
                firsts.append(k)
        firsts += [0] * (4 - len(firsts))
        assert np.array_equal(got[i], matches[firsts]), (point_group, i)


@pytest.mark.parametrize(
    "kw, match",
    [({"n_basins": 0}, "n_basins"), ({"min_angle": -1}, "min_angle"), ({"n_basins": 7}, "keep_n >= 7")],
)
def test_dictionary_basins_bad_input(kw, match):
    xmap = _ranked(Rotation.random((3, 6)))
    with pytest.raises(ValueError, match=match):
        dictionary_basins(xmap, "m-3m", **kw)
    with pytest.raises(TypeError, match="CrystalMap"):
        dictionary_basins(Rotation.random(3), "m-3m")
    for bad in ("2", 2.0, True):
        with pytest.raises(TypeError, match="n_basins must be an integer"):
            dictionary_basins(xmap, "m-3m", n_basins=bad)
    with pytest.raises(ValueError, match="min_angle"):
        dictionary_basins(xmap, "m-3m", min_angle=float("nan"))
    outside = xmap[xmap.id > 0]  # a slice keeps its parent's points, marked outside the data
    with pytest.raises(ValueError, match="outside the data"):
        dictionary_basins(outside, "m-3m")


@pytest.fixture(scope="module")
def twin_first(perturbed_ni):
    """Ranked matches whose best is 30 deg off the truth (a 'twin' and its neighbour), the truth's basin third."""
    patterns, xmap, det, mp, truth = perturbed_ni
    rng = np.random.default_rng(7)
    twin = Rotation.from_axes_angles(rng.normal(size=(5, 3)), np.full(5, 30), degrees=True) * truth
    twin_neighbour = Rotation.from_axes_angles(rng.normal(size=(5, 3)), np.full(5, 2), degrees=True) * twin
    near_truth = xmap.rotations  # 1 deg off the truth
    ranked = np.stack([twin.data, twin_neighbour.data, near_truth.data], axis=1)
    return _ranked(Rotation(ranked), xmap.phases)


@pytest.mark.parametrize("screen_method", ["nelder-mead", None])
def test_refine_best_basin_escapes_a_twin_that_indexing_ranked_first(perturbed_ni, twin_first, screen_method):
    patterns, _, det, mp, truth = perturbed_ni
    # From the best match only, refinement stays in the twin's basin.
    stuck = refine_best_basin(patterns, twin_first, det, mp, 20, n_basins=1)
    assert disorientation(stuck, truth, mp.phase).min() > 20
    assert np.all(stuck.prop["basin"] == 0)
    ref = refine_best_basin(patterns, twin_first, det, mp, 20, n_basins=2, screen_method=screen_method)
    assert isinstance(ref, CrystalMap) and ref.size == 5
    assert disorientation(ref, truth, mp.phase).max() < 0.05
    assert np.all(ref.prop["basin"] == 1) and np.all(ref.prop["scores"] > 0.999)
    assert np.all(ref.prop["num_evals"] > 0)
    # Asking for more basins than the matches hold: the repeats never win.
    more = refine_best_basin(patterns, twin_first, det, mp, 20, n_basins=3, method="nelder-mead")
    assert disorientation(more, truth, mp.phase).max() < 0.05 and np.all(more.prop["basin"] == 1)


def test_refine_best_basin_keeps_the_best_match_when_it_is_right(perturbed_ni):
    patterns, xmap, det, mp, truth = perturbed_ni
    wrong = Rotation.from_axes_angles([1, 1, 0], np.full(5, 40), degrees=True) * truth
    ranked = _ranked(Rotation(np.stack([xmap.rotations.data, wrong.data], axis=1)), xmap.phases)
    ref = refine_best_basin(patterns, ranked, det, mp, 20, n_basins=2, method="nelder-mead")
    assert np.all(ref.prop["basin"] == 0)
    assert disorientation(ref, truth, mp.phase).max() < 0.05


def test_refine_best_basin_bad_input(perturbed_ni, twin_first):
    patterns, _, det, mp, _ = perturbed_ni
    with pytest.raises(ValueError, match="compute=False"):
        refine_best_basin(patterns, twin_first, det, mp, 20, compute=False)
    with pytest.raises(ValueError, match="keep_n >= 4"):
        refine_best_basin(patterns, twin_first, det, mp, 20, n_basins=4)
    two_phases = twin_first.deepcopy()
    two_phases.phases.add(get_phase("fe-alpha"))
    two_phases._phase_id[:2] = 1
    with pytest.raises(ValueError, match="one indexed phase"):
        refine_best_basin(patterns, two_phases, det, mp, 20)


def test_refine_best_basin_settles_patterns_like_their_peers(perturbed_ni, twin_first, monkeypatch):
    import kikuchipy_gen.refinement as refinement

    patterns, xmap, det, mp, truth = perturbed_ni
    # Patterns 0-2 have the truth's basin first, 3-4 the twin's.
    ranked = twin_first.rotations.data.copy()
    ranked[:3, 0], ranked[:3, 2] = ranked[:3, 2].copy(), ranked[:3, 0].copy()
    ranked = _ranked(Rotation(ranked), xmap.phases)
    refined_points = []
    real = refinement.refine_orientations

    def counting(patterns, start, *args, navigation_mask=None, **kwargs):
        refined_points.append(5 if navigation_mask is None else int((~navigation_mask).sum()))
        return real(patterns, start, *args, navigation_mask=navigation_mask, **kwargs)

    monkeypatch.setattr(refinement, "refine_orientations", counting)
    ref = refine_best_basin(patterns, ranked, det, mp, 20, n_basins=2, settle=0.95)
    assert disorientation(ref, truth, mp.phase).max() < 0.05
    assert ref.prop["basin"].tolist() == [0, 0, 0, 1, 1]
    # Screening: all five from the first basin, then the two below their peers; then the final refinement.
    assert refined_points == [5, 2, 5]
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="settle"):
            refine_best_basin(patterns, ranked, det, mp, 20, settle=bad)
    with pytest.raises(ValueError, match="navigation_mask"):
        refine_best_basin(patterns, ranked, det, mp, 20, navigation_mask=np.zeros(5, bool))


def test_refinement_chunks_spread_the_patterns_over_the_workers(perturbed_ni, monkeypatch):
    import dask
    from kikuchipy.signals import EBSD

    from kikuchipy_gen.refinement import _refinement_chunk

    with dask.config.set(num_workers=2):
        assert [_refinement_chunk(n) for n in (1, 3, 12, 100, 1000)] == [1, 1, 3, 25, 64]
    with dask.config.set(num_workers=8):
        assert _refinement_chunk(12) == 1
    patterns, xmap, det, mp, truth = perturbed_ni
    seen = []
    real = EBSD.refine_orientation

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("chunk_kwargs"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(EBSD, "refine_orientation", spy)
    mask = np.array([False, False, False, False, True])  # four refined
    with dask.config.set(num_workers=2):
        split = refine_orientations(patterns, xmap, det, mp, 20, method="nelder-mead", navigation_mask=mask)
    whole = refine_orientations(
        patterns, xmap, det, mp, 20, method="nelder-mead", navigation_mask=mask, chunk_kwargs={"chunk_shape": 64}
    )
    # Py-BOBYQA keeps kikuchipy's chunks, as it holds the GIL; NLopt's (the default) spreads them.
    refine_orientations(patterns, xmap, det, mp, 20, method="bobyqa", navigation_mask=mask)
    with dask.config.set(num_workers=2):
        refine_orientations(patterns, xmap, det, mp, 20, navigation_mask=mask)
    assert seen == [{"chunk_shape": 1}, {"chunk_shape": 64}, None, {"chunk_shape": 1}]
    # Each pattern is refined alone: the chunks change nothing.
    assert np.array_equal(split.rotations.data, whole.rotations.data)
    assert np.array_equal(split.prop["scores"], whole.prop["scores"])
    refined = split.rotations.data  # the refined points only
    assert refined.shape == (4, 4)
    assert disorientation(refined, truth.data[:4], mp.phase).max() < 0.05
