import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from orix.quaternion import Rotation

from kikuchipy_gen.evaluation import (
    EvaluationResult,
    band_width,
    bce_per_pixel,
    comparison_table,
    deviation_summary,
    evaluate,
    optimal_bce,
)
from kikuchipy_gen.evaluation.physics import clahe_from_info, physics_dictionary, physics_patterns
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.models import preset
from kikuchipy_gen.models.geometric import GeometricDecoder

report_module = importlib.import_module("kikuchipy_gen.evaluation.report")


def test_metrics_by_hand():
    real = np.array([[[0.0, 1.0], [0.25, 0.5]]])
    gen = np.array([[[0.5, 0.5], [0.25, 0.9]]])
    # BCE per pixel by hand: (ln 2 + ln 2 + H(0.25) + -(0.5 ln 0.9 + 0.5 ln 0.1)) / 4
    h25 = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
    expected = (2 * np.log(2) + h25 - 0.5 * np.log(0.9) - 0.5 * np.log(0.1)) / 4
    assert bce_per_pixel(gen, real) == pytest.approx(expected, rel=1e-6)
    assert optimal_bce(real) == pytest.approx((h25 + np.log(2)) / 4, rel=1e-5)
    assert bce_per_pixel(real, real) == pytest.approx(optimal_bce(real), abs=1e-5)
    d = deviation_summary(gen, real, threshold=0.4)
    assert d["mean"] == pytest.approx((0.5 + 0.5 + 0 + 0.4) / 4)
    assert d["fraction_within"] == pytest.approx(0.5)  # 0 and 0.4 (<= 0.4)
    with pytest.raises(ValueError, match="shape"):
        bce_per_pixel(gen, real[..., :1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        deviation_summary(gen * 2, real)


def test_band_width_follows_voltage():
    from kikuchipy_gen.detector import default_detector
    from kikuchipy_gen.sources import KinematicalSource

    src = KinematicalSource("ni", half_size=100)
    rot = Rotation.random(20)
    widths = [band_width(physics_patterns(src.master_pattern(e), rot, default_detector(), e)) for e in (10, 20, 30)]
    assert widths[0] > widths[1] > widths[2], widths
    # Hand-made stripes: the half-width of a box autocorrelation is half the box.
    x = np.arange(200)[None, :] * np.ones((200, 1))
    stripes = (np.abs((x % 40) - 20) < 4).astype(float)  # 7 px wide
    assert 2.0 < band_width(stripes) < 5.0
    with pytest.raises(ValueError, match="flat"):
        band_width(np.ones((3, 10, 10)))


def test_lazy_physics_dictionary(ni_source):
    from kikuchipy_gen.detector import default_detector

    rot = Rotation.random(10)
    mp = ni_source.master_pattern(20)
    lazy = physics_dictionary(mp, rot, default_detector(), 20, chunk_size=4)
    assert lazy.data.chunks[0] == (4, 4, 2) and lazy.xmap.size == 10
    assert np.allclose(lazy.data.compute(), physics_patterns(mp, rot, default_detector(), 20))
    assert clahe_from_info({"clahe": {"clip_limit": 10.0, "tiles": [4, 4], "nbins": 256}}).tiles == (4, 4)
    for bad in (0, 2.5, None):
        with pytest.raises(ValueError, match="chunk_size"):
            physics_dictionary(mp, rot, default_detector(), 20, chunk_size=bad)
    assert clahe_from_info({"clahe": None}) is None


def test_dictionary_chunks_project_in_parallel_pieces(monkeypatch):
    # kikuchipy's indexing computes one chunk at a time, and its projection
    # of a chunk runs on one core: each chunk must be several tasks.
    from kikuchipy_gen.evaluation import physics

    monkeypatch.setattr(physics, "CPU_COUNT", 3)
    assert physics._pieces(10, 4) == (2, 1, 1, 2, 1, 1, 1, 1)
    assert physics._pieces(9000, 4096) == (1366, 1365, 1365, 1366, 1365, 1365, 270, 269, 269)
    monkeypatch.setattr(physics, "CPU_COUNT", 1)
    assert physics._pieces(10, 4) == (4, 4, 2)


@pytest.fixture(scope="module")
def kinematical_model(kinematical_dataset):
    cfg = preset(
        "geometric", texture_size=41, use_voltage=True, n_attributes=5, voltage_knots=2, energy_range=(10.0, 30.0)
    )
    torch.manual_seed(0)
    ds = kinematical_dataset
    dec = GeometricDecoder(cfg, ds.detector, ds.phase.point_group)
    return MLMasterPattern.from_dataset(cfg, dec.state_dict(), ds)


def test_report_has_every_figure_and_number(kinematical_model, tmp_path):
    m = evaluate(
        kinematical_model,
        tmp_path / "report",
        n_test=12,
        dictionary_n=20,  # ~4 deg: at 15 (5-6 deg) half the physics patterns miss on the default detector
        n_refine=8,
        matrix_patterns=2,
        time_physics=True,
        show_progressbar=False,
    )
    files = {p.name for p in (tmp_path / "report").iterdir()}
    assert {
        "report.md",
        "metrics.json",
        "comparison.png",
        "histograms.png",
        "deviation.png",
        "disorientation.png",
        "band_width.png",
        "voltage_matrix.png",
    } <= files
    saved = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert set(saved["energies"]) == {"10", "20", "30"}  # 20 kV: between the training voltages
    assert saved["energies"]["20"]["trained"] is False and saved["energies"]["10"]["trained"] is True
    for e in saved["energies"].values():
        assert {"bce", "optimal_bce", "deviation", "band_width_px", "dictionary_indexing", "refined"} <= set(e)
        assert e["refined"]["generated"]["n"] == 8 and e["dictionary_indexing"]["physics"]["n"] == 12
        for route in ("physics", "generated"):
            d = e["dictionary_indexing"][route]
            assert 0 <= sum(n for _, n in d["misindexed_modes"]) <= d["misindexed"] <= d["n"]
            assert d["misindexed_fraction"] == pytest.approx(d["misindexed"] / d["n"])
        # Every test pattern falls in one class: same match, a neighbour, elsewhere.
        a = e["indexing_agreement"]
        assert round(a["same"] * 12) + a["neighbours"] + a["elsewhere"] == 12
    assert np.array(saved["voltage_matrix"]["mean_refined_deg"]).shape == (2, 2)
    assert len(saved["timing"]) == 3 and saved["settings"]["dictionary_size"] > 10
    fresh = {t["energy"]: t["master_pattern_uncached_s"] for t in saved["timing"]}
    assert fresh[10.0] > 0 and fresh[20.0] is None  # computed afresh at the training voltages only
    ok = saved["energies"]["10"]["refined_indexed"]
    assert 0 < ok["fraction"] <= 1 and ok["physics"]["max"] < 0.5
    flips, n = ok["only_one_refines"], saved["energies"]["10"]["refined"]["generated"]["n"]
    assert flips["generated_misses"] - flips["physics_misses"] == round((ok["fraction"] - ok["generated_fraction"]) * n)
    # The stored BCE is the BCE of the model's patterns against the physics, recomputed here.
    q = np.random.default_rng(0).standard_normal((12, 4))
    rot = Rotation(q / np.linalg.norm(q, axis=1, keepdims=True))
    mp = kinematical_model.reference_master_pattern(30)
    real = physics_patterns(mp, rot, kinematical_model.detector, 30)
    gen = kinematical_model.decode(rot, energy=30)
    assert saved["energies"]["30"]["bce"] == pytest.approx(bce_per_pixel(gen, real), rel=1e-6)
    # Physics patterns index and refine far better than an untrained model's.
    phys, rand = saved["energies"]["30"]["refined"]["physics"], saved["energies"]["30"]["refined"]["generated"]
    assert phys["mean"] < 1.0 and phys["mean"] < rand["mean"]
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Voltage matrix" in report and "![voltage_matrix.png](voltage_matrix.png)" in report
    assert "| kV | physics misses: angles | generated misses: angles |" in report
    assert "| kV | same match | different: neighbours | different: elsewhere |" in report
    table = comparison_table({"a": m, "b": saved})
    assert table.count("| 20 | BCE |") == 1


@pytest.mark.parametrize("n_test, basins", [(1, 1), (3, 1), (3, 8), (3, 12)])
def test_evaluate_one_pattern(kinematical_model, tmp_path, n_test, basins, monkeypatch):
    """One test or refined pattern is a count like any other (orix shapes a one-point map (), HyperSpy (1,))."""
    matrix_search = []
    real_matrix = report_module._voltage_matrix

    def spy(*args):
        # The basins searched and the matches each cell's map holds.
        scores = {np.asarray(xmap.prop["scores"]).shape[1:] for xmap in args[2].values()}
        matrix_search.append((args[-1], *(k[0] if k else 1 for k in scores)))
        return real_matrix(*args)

    monkeypatch.setattr(report_module, "_voltage_matrix", spy)
    m = evaluate(
        kinematical_model,
        tmp_path,
        n_test=n_test,
        dictionary_n=10,
        n_refine=1,
        matrix_patterns=1,
        show_progressbar=False,
        refine_basins=basins,
    )
    for e in m["energies"].values():
        assert e["dictionary_indexing"]["physics"]["n"] == n_test
        assert e["refined"]["generated"]["n"] == e["refined"]["physics"]["n"] == 1
    assert np.array(m["voltage_matrix"]["mean_refined_deg"]).shape == (2, 2)
    assert m["settings"]["refine_basins"] == basins
    report = (tmp_path / "report.md").read_text()
    # 20 matches hold 8 basins; more basins keep 2.5 matches each.
    keep_n = {1: None, 8: 20, 12: 30}[basins]
    assert (f"distinct basins of {keep_n} dictionary matches" in report) == (basins > 1)
    assert m["settings"].get("keep_n") == keep_n
    # The voltage matrix searches at most 8 basins of 20 matches.
    assert matrix_search == [{1: (1, 1), 8: (8, 20), 12: (8, 20)}[basins]]
    assert m["settings"].get("matrix_basins") == (8 if basins == 12 else None)
    assert ("from the best of up to 8 basins" in report) == (basins == 12)


def test_one_pass_indexing_is_indexing_each_set_alone(kinematical_model):
    # The evaluation indexes every pattern a voltage's dictionary serves in one
    # call (both routes, the voltage matrix's rows) so that a dense dictionary is
    # projected once and never held: each set's matches are what it gets alone.
    from kikuchipy_gen.evaluation.physics import as_ebsd
    from kikuchipy_gen.sampling import random_rotations, sample_orientations

    mlmp = kinematical_model
    det, phase = mlmp.detector, mlmp.phase
    energies = [float(e) for e in mlmp.energies]
    clahe = clahe_from_info(mlmp.info.get("preprocessing"))
    masters = {e: mlmp.reference_master_pattern(e) for e in energies}
    test_rot = random_rotations(5, 0)
    patterns, _ = report_module._pixel_metrics(mlmp, masters, test_rot, clahe)
    dict_rot = sample_orientations(phase.point_group, n=8)
    xmaps, angles, matrix = report_module._dictionary_indexing(
        patterns, masters, dict_rot, clahe, test_rot, det, phase, 4, energies, 3, 2
    )
    assert len(energies) == 2 and set(matrix) == {(a, b) for a in energies for b in energies}
    for e in energies:
        dictionary = physics_dictionary(masters[e], dict_rot, det, e, clahe)
        for route in ("generated", "physics"):
            alone = as_ebsd(patterns[e].of(route), test_rot, phase, det).dictionary_indexing(dictionary, keep_n=4)
            assert np.array_equal(xmaps[e][route].prop["simulation_indices"], alone.prop["simulation_indices"])
            assert np.allclose(xmaps[e][route].prop["scores"], alone.prop["scores"], atol=1e-6)
            assert xmaps[e][route].rotations.shape == (5, 4)
            assert np.allclose(xmaps[e][route].rotations.data, alone.rotations.data)
        for eg in energies:
            rows = as_ebsd(patterns[eg].generated[:3], test_rot[:3], phase, det)
            alone = rows.dictionary_indexing(dictionary, keep_n=2)
            assert np.array_equal(matrix[eg, e].prop["simulation_indices"], alone.prop["simulation_indices"])
            assert matrix[eg, e].rotations.shape == (3, 2)
    # Without the matrix, its cells are not indexed.
    assert report_module._dictionary_indexing(patterns, masters, dict_rot, clahe, test_rot, det, phase, 1)[2] == {}


def test_refining_from_several_basins_changes_refinement_only(kinematical_model, tmp_path):
    # Dictionary indexing keeps 20 matches for the basins, but its best match,
    # and so every indexing number, stays what it was.
    kw = dict(n_test=6, dictionary_n=10, n_refine=6, voltage_matrix=False, unseen=[], show_progressbar=False)
    one = evaluate(kinematical_model, tmp_path / "one", refine_basins=1, **kw)
    several = evaluate(kinematical_model, tmp_path / "several", **kw)
    for kv, e in one["energies"].items():
        assert several["energies"][kv]["dictionary_indexing"] == e["dictionary_indexing"]
        assert several["energies"][kv]["indexing_agreement"] == e["indexing_agreement"]
    # At this coarse a dictionary (about 9 deg) a start in the wrong basin is
    # common; the best of up to eight basins refines physics patterns at least as
    # often in all.
    physics_ok = [sum(r["energies"][kv]["refined_indexed"]["fraction"] for kv in r["energies"]) for r in (one, several)]
    assert physics_ok[1] >= physics_ok[0]


def test_one_physics_pattern_indexes_and_refines(ni_source):
    from kikuchipy_gen.detector import default_detector
    from kikuchipy_gen.evaluation.physics import as_ebsd, best_matches
    from kikuchipy_gen.refinement import disorientation, refine_orientations
    from kikuchipy_gen.sampling import sample_orientations

    mp, det = ni_source.master_pattern(20), default_detector()
    grid = sample_orientations("m-3m", n=10)
    truth = Rotation(grid.data[100:101]) * Rotation.from_axes_angles([1, 2, 3], 1, degrees=True)
    s = as_ebsd(physics_patterns(mp, truth, det, 20), truth, mp.phase, det)
    assert s.axes_manager.navigation_shape == (1,) and s.xmap.shape == ()  # as kikuchipy's get_patterns
    xmap = s.dictionary_indexing(physics_dictionary(mp, grid, det, 20), keep_n=2)
    start = best_matches(xmap)
    assert start.size == 1 and disorientation(start, truth, mp.phase)[0] < 1.5
    refined = refine_orientations(s, start, det, mp, 20)
    assert disorientation(refined, truth, mp.phase)[0] < 0.05


def test_evaluate_errors(kinematical_model, tmp_path):
    with pytest.raises(ValueError, match="method"):
        evaluate(kinematical_model, tmp_path, method="simplex")
    with pytest.raises(ValueError, match="outside the trained range"):
        evaluate(kinematical_model, tmp_path, unseen=[40])
    with pytest.raises(ValueError, match="n_refine"):
        evaluate(kinematical_model, tmp_path, n_test=5, n_refine=10)
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match="refine_basins"):
            evaluate(kinematical_model, tmp_path, refine_basins=bad)


@pytest.mark.parametrize(
    "report",
    [
        "pretrained_ni",
        "pretrained_ni_test_grid",
        "ni",
        "table1/cvae_end",
        "table1/gan_end",
        "fe_alpha",
        "ti_alpha",
        "corundum",
        "rutile_13_epochs",
        "rutile",
        "fe_alpha_default_recipe",
        "fe_alpha_800_steps",
        "fe_alpha_one_command",
        "ti_alpha_default_recipe",
        "corundum_default_recipe",
        "corundum_1200_steps",
        "ti_alpha_1200_steps",
        "corundum_one_command",
        "corundum_one_command_amd",
        "corundum_knots",
        "rutile_knots",
        "corundum_knots_n50",
        "rutile_knots_n50",
        "ti_alpha_24_basins",
        "quartz",
    ],
)
def test_result_rewrites_committed_reports(report):
    # Read back, a committed report writes the same metrics.json and report.md, byte for byte.
    folder = Path(__file__).parents[1] / "docs" / "reports" / report
    result = EvaluationResult.from_dict(json.loads((folder / "metrics.json").read_text()))
    assert all(isinstance(kv, float) for kv in result.energies) and result.energies[10.0].trained
    assert result.to_json() == (folder / "metrics.json").read_text().rstrip("\n")
    assert result.to_markdown() == (folder / "report.md").read_text()


def test_evaluate_some_voltages_leaving_matplotlib_alone(kinematical_model, tmp_path, monkeypatch):
    import matplotlib
    import matplotlib.pyplot as plt

    def global_state(*args, **kwargs):
        raise AssertionError("evaluate must not change matplotlib's backend or open pyplot figures")

    monkeypatch.setattr(matplotlib, "use", global_state)
    monkeypatch.setattr(plt, "figure", global_state)
    # One of the two training voltages: the figures show it and no voltage matrix is possible.
    m = evaluate(
        kinematical_model,
        tmp_path,
        energies=[10],
        unseen=[],
        n_test=4,
        dictionary_n=5,
        n_refine=2,
        matrix_patterns=2,
        show_progressbar=False,
    )
    assert list(m["energies"]) == ["10"] and "voltage_matrix" not in m and "voltage_matrix.png" not in m["figures"]
    assert {p.name for p in tmp_path.iterdir()} == {"report.md", "metrics.json", *m["figures"]}
    result = EvaluationResult.from_dict(m)
    assert result.to_json() == (tmp_path / "metrics.json").read_text()
    assert result.to_markdown() == (tmp_path / "report.md").read_text()


def test_evaluate_on_the_test_grid_at_the_training_density(
    kinematical_model, kinematical_dataset, tmp_path, monkeypatch
):
    from kikuchipy_gen.models.bundle import info_from_dataset

    ds = kinematical_dataset
    training = {"dataset_fingerprint": ds.attrs["fingerprint"], "splits": ds.attrs["splits"]}
    model = MLMasterPattern(
        kinematical_model.bundle.config, kinematical_model.bundle.weights, info_from_dataset(ds.attrs, training)
    )
    # The evaluation's floor on the density (n = 50) lowered below this grid's n = 8, to keep the test small.
    monkeypatch.setattr(report_module, "_MIN_DICTIONARY_N", 8)
    m = evaluate(
        model, tmp_path, unseen=[], dataset=ds.path, n_test=6, n_refine=3, matrix_patterns=2, show_progressbar=False
    )
    s = m["settings"]
    # The paper's way: held-out test grid, dictionary at the training density (n = 8: 193 orientations).
    assert s["n_test"] == 6 and "held-out test grid" in s["test_orientations"]
    assert s["dictionary_n"] == 8 and s["dictionary_size"] == ds.sizes["train"] == 193
    assert "training density" in s["dictionary_density"]
    vm = m["voltage_matrix"]
    assert vm["start_offset_deg"] is None and np.isfinite(vm["mean_refined_deg"]).all()
    assert "signed_deviation.png" in m["figures"] and "histograms.png" in m["figures"]
    report = (tmp_path / "report.md").read_text()
    assert "held-out test grid" in report and "training density" in report
    assert "dictionary indexing at the physics voltage, then refinement" in report
    assert "compare it with 'refined generated'" in report
    # The physics patterns of those orientations are the dataset's own test patterns: BCE recomputed.
    grid = ds.rotations("test").data.reshape(-1, 4)
    pick = np.unique(np.linspace(0, len(grid) - 1, 6).round().astype(int))
    rot = Rotation(grid[pick])
    real = physics_patterns(
        model.reference_master_pattern(30), rot, model.detector, 30, clahe_from_info(model.info.get("preprocessing"))
    )
    assert m["energies"]["30"]["bce"] == pytest.approx(bce_per_pixel(model.decode(rot, energy=30), real), rel=1e-6)
    # Another dataset's test grid is refused; a model without a training record falls back to n = 30.
    other = MLMasterPattern(
        kinematical_model.bundle.config,
        kinematical_model.bundle.weights,
        info_from_dataset(ds.attrs, {**training, "dataset_fingerprint": "0" * 64}),
    )
    with pytest.raises(ValueError, match="not the one the model was trained on"):
        evaluate(other, tmp_path / "x", dataset=ds.path, show_progressbar=False)
    from kikuchipy_gen.evaluation.report import _dictionary_density, _training_density

    assert _training_density(kinematical_model)[0] == 30 and "default" in _training_density(kinematical_model)[1]
    # A training grid coarser than the floor indexes at the floor, and says so.
    monkeypatch.setattr(report_module, "_MIN_DICTIONARY_N", 10)
    n, why = _dictionary_density(model)
    assert (n, why) == (10, "n = 10, the evaluation's floor; finer than the model's training density, n = 8")
    monkeypatch.undo()
    assert _dictionary_density(model)[0] == 50
    assert _dictionary_density(kinematical_model) == (
        50,
        "n = 50, the evaluation's floor; the model records no training density",
    )


def test_matrix_offset_start_and_figures():
    from kikuchipy_gen.evaluation.figures import plot_histograms, plot_signed_deviation

    x = np.random.default_rng(0).random((2, 8, 8))
    fig = plot_histograms(x, x**2)
    curve = fig.axes[1].lines[0].get_ydata()  # the optimal BCE of Fig. 3c: ln 2 at 0.5, 0 at the ends
    assert curve.max() == pytest.approx(np.log(2), abs=1e-4) and curve[0] < 0.01
    assert "mean -" in plot_signed_deviation(x**2 - x).axes[0].get_title()
    with pytest.raises(ValueError, match="matrix_start"):
        evaluate("nowhere", "out", matrix_start="diagonal")


def test_refined_summaries_count_both_routes_within_half_a_degree():
    from kikuchipy_gen.evaluation.report import _refined_summaries

    angles = {"physics": np.array([0.01, 0.02, 0.4, 3.0]), "generated": np.array([0.03, 0.6, 0.02, 0.01])}
    refined, indexed = _refined_summaries(angles)
    assert refined["generated"]["n"] == 4
    # Physics: 3 of 4 indexed; generated: 3 of 4 within 0.5 deg, counted on all patterns.
    assert indexed["fraction"] == 0.75 and indexed["generated_fraction"] == 0.75
    assert indexed["generated"]["n"] == 3 and indexed["generated"]["max"] == pytest.approx(0.6)
    # One pattern each way: the generated one misses where the physics refines, and back.
    assert indexed["only_one_refines"] == {"generated_misses": 1, "physics_misses": 1}
