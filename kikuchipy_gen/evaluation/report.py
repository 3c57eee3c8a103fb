"""The paper's quality analysis of a trained model, written as a report folder.

:func:`evaluate` compares generated patterns with the physics the model learned
from (:meth:`~kikuchipy_gen.MLMasterPattern.reference_master_pattern`, rebuilt
from the recorded provenance and preprocessed as in training) on random test
orientations, which no grid shares:

1. pixel metrics: BCE against the optimum, pixel histograms, deviations;
2. dictionary indexing of generated (and, as the floor, physics) patterns
   with kikuchipy against a lazy physics dictionary at a training density;
3. refinement of both against the physics master pattern (BOBYQA through
   py-bobyqa by default, :mod:`kikuchipy_gen.refinement`);
4. the voltage matrix: generated at one voltage, refined at each (Fig. 5);
5. band width versus voltage, at training and unseen voltages;
6. the time of the physics route against the generative one (Table 2).

The folder gets ``report.md``, ``metrics.json`` (every number) and PNG figures.
"""

from __future__ import annotations

import contextlib
import io
import json
import platform
import time
from pathlib import Path
from typing import Any, Sequence

import matplotlib

import numpy as np
from orix.crystal_map import CrystalMap, PhaseList
from orix.quaternion import Rotation
from tqdm.auto import tqdm

from kikuchipy_gen.evaluation.metrics import band_width, bce_per_pixel, deviation_summary, optimal_bce
from kikuchipy_gen.evaluation.physics import (
    as_ebsd,
    best_matches,
    clahe_from_info,
    physics_dictionary,
    physics_patterns,
)
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.refinement import REFINEMENT_METHODS, disorientation, refine_orientations, summarize
from kikuchipy_gen.sampling import sample_orientations

__all__ = ["evaluate", "comparison_table"]

_IN_MEMORY_DICTIONARY = 20_000
_INDEXED = 0.5  # deg: a physics pattern refined closer than this was indexed correctly
_MATRIX_OFFSET_DEG = 1.0


def evaluate(
    model: MLMasterPattern | str | Path,
    out: str | Path,
    energies: Sequence[float] | None = None,
    unseen: Sequence[float] | None = None,
    n_test: int = 200,
    dictionary_n: int = 30,
    n_refine: int = 100,
    method: str = "bobyqa",
    voltage_matrix: bool = True,
    matrix_patterns: int = 30,
    seed: int = 0,
    time_physics: bool = False,
    show_progressbar: bool = True,
) -> dict[str, Any]:
    """Evaluate a model against its physics and write a report folder.

    Parameters
    ----------
    model
        An :class:`~kikuchipy_gen.MLMasterPattern` or a path
        :meth:`~kikuchipy_gen.MLMasterPattern.load` accepts.
    out
        Report folder (created).
    energies
        Training voltages to evaluate (kV); default all of the model's.
    unseen
        Voltages between the training ones (kV); default the midpoints of
        consecutive training voltages. Pass ``[]`` for none.
    n_test
        Random test orientations (uniform on SO(3), seeded).
    dictionary_n
        Density of the physics dictionary (cubochoric steps as EMsoft's
        ``n``; 30 gives 9,077 m-3m orientations, 100 the paper's 333,227).
    n_refine
        Patterns refined per voltage (the first of the test set).
    method
        Refinement optimiser, one of
        :data:`~kikuchipy_gen.refinement.REFINEMENT_METHODS`.
    voltage_matrix
        Whether to compute Fig. 5's matrix over the training voltages.
    matrix_patterns
        Patterns per cell of the voltage matrix.
    seed
        Seed of the test orientations.
    time_physics
        Also time each training voltage's master pattern computed afresh,
        with the source's cache disabled (de-ebsd: about a minute each on
        2 cores), for Table 2.
    show_progressbar
        Progress bar over the stages.

    Returns
    -------
    dict
        Everything written to ``metrics.json``.

    Examples
    --------
    >>> from kikuchipy_gen.evaluation import evaluate
    >>> metrics = evaluate("runs/my_model", "runs/my_model/report")  # doctest: +SKIP
    """
    mlmp = model if isinstance(model, MLMasterPattern) else MLMasterPattern.load(model)
    trained = [float(e) for e in mlmp.energies]
    energies = trained if energies is None else [float(e) for e in energies]
    if unseen is None:
        unseen = [(a + b) / 2 for a, b in zip(trained[:-1], trained[1:])]
    unseen = [float(e) for e in unseen]
    if method not in REFINEMENT_METHODS:
        raise ValueError(f"method must be one of {REFINEMENT_METHODS}, got {method!r}")
    for name, value in (("n_test", n_test), ("dictionary_n", dictionary_n)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not 0 <= n_refine <= n_test or not 0 < matrix_patterns:
        raise ValueError("Need 0 <= n_refine <= n_test and matrix_patterns >= 1")
    all_kv = sorted(set(energies) | set(unseen))
    for e in all_kv:
        mlmp._check_energies(np.asarray([e]), extrapolate=False)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    matplotlib.use("Agg")

    t_start = time.perf_counter()
    stages = ["physics master patterns", "pixel metrics", "dictionary indexing", "refinement",
              "voltage matrix", "figures and report"]
    bar = tqdm(stages, desc="evaluate", disable=not show_progressbar)
    detector, phase = mlmp.detector, mlmp.phase
    clahe = clahe_from_info(mlmp.info.get("preprocessing"))
    q = np.random.default_rng(seed).standard_normal((int(n_test), 4))
    test_rot = Rotation(q / np.linalg.norm(q, axis=1, keepdims=True))
    metrics: dict[str, Any] = {
        "model": repr(mlmp),
        "settings": {"energies": energies, "unseen": unseen, "n_test": int(n_test), "dictionary_n": int(dictionary_n),
                     "n_refine": int(n_refine), "method": method, "seed": seed, "latent": "mean",
                     "machine": f"{platform.node()} {platform.machine()}", "date": time.strftime("%Y-%m-%d")},
        "training": mlmp.training,
        "energies": {},
    }

    # 1. Physics master patterns, timed (the expensive part of the physics route).
    bar.set_postfix_str(stages[0])
    masters, master_seconds = {}, {}
    for e in all_kv:
        t0 = time.perf_counter()
        masters[e] = mlmp.reference_master_pattern(e)
        master_seconds[e] = time.perf_counter() - t0
    fresh_seconds = {}
    if time_physics:
        from kikuchipy_gen.sources import source_from_dict

        source = source_from_dict(mlmp.info["source"])
        if hasattr(source, "cache_dir"):
            source.cache_dir = None
        for e in trained:
            t0 = time.perf_counter()
            source.master_pattern(e)
            fresh_seconds[e] = time.perf_counter() - t0
    bar.update()

    # 2. Pixel metrics; generated at z = 0 (the prior's mean).
    bar.set_postfix_str(stages[1])
    real, generated, timing = {}, {}, []
    for e in all_kv:
        t0 = time.perf_counter()
        real[e] = physics_patterns(masters[e], test_rot, detector, e, clahe)
        t_phys = time.perf_counter() - t0
        t0 = time.perf_counter()
        generated[e] = mlmp.decode(test_rot, energy=e)
        t_gen = time.perf_counter() - t0
        dev = deviation_summary(generated[e], real[e])
        metrics["energies"][f"{e:g}"] = {
            "trained": e in trained,
            "bce": bce_per_pixel(generated[e], real[e]),
            "optimal_bce": optimal_bce(real[e]),
            "deviation": dev,
            "band_width_px": {"physics": band_width(real[e]), "generated": band_width(generated[e])},
        }
        timing.append({"energy": e, "master_pattern_s": master_seconds[e], "physics_patterns_s": t_phys,
                       "generated_patterns_s": t_gen, "n": int(n_test),
                       "master_pattern_uncached_s": fresh_seconds.get(e)})
    metrics["timing"] = timing
    bar.update()

    # 3. Dictionary indexing against a physics dictionary at a training density.
    bar.set_postfix_str(stages[2])
    dict_rot = sample_orientations(phase.point_group, n=int(dictionary_n))
    metrics["settings"]["dictionary_size"] = int(dict_rot.size)
    di = {}
    for e in all_kv:
        dictionary = physics_dictionary(masters[e], dict_rot, detector, e, clahe)
        if dict_rot.size <= _IN_MEMORY_DICTIONARY:
            # Small enough to keep (~0.3 GB): project and CLAHE once for both
            # indexing runs instead of once per run.
            dictionary.compute(show_progressbar=False)
        entry = metrics["energies"][f"{e:g}"]
        entry["dictionary_indexing"] = {}
        for name, patterns in (("generated", generated[e]), ("physics", real[e])):
            with contextlib.redirect_stdout(io.StringIO()):
                xmap = as_ebsd(patterns, test_rot, phase, detector).dictionary_indexing(dictionary, keep_n=1)
            di[(e, name)] = xmap
            entry["dictionary_indexing"][name] = summarize(disorientation(xmap, test_rot, phase))
    bar.update()

    # 4. Refinement against the physics master pattern, from the indexing result.
    bar.set_postfix_str(stages[3])
    refined_angles = {}
    sub = slice(0, int(n_refine))
    if n_refine:
        for e in all_kv:
            entry = metrics["energies"][f"{e:g}"]
            entry["refined"] = {}
            for name, patterns in (("generated", generated[e]), ("physics", real[e])):
                rot = Rotation(test_rot.data[sub])
                with contextlib.redirect_stdout(io.StringIO()):
                    xmap = refine_orientations(as_ebsd(patterns[sub], rot, phase, detector), best_matches(di[(e, name)], sub),
                                               detector, masters[e], e, method=method)
                angles = disorientation(xmap, rot, phase)
                refined_angles[(e, name)] = angles
                entry["refined"][name] = summarize(angles)
            # Where the physics pattern itself refines (< 0.5 deg), dictionary
            # indexing put the start in the right basin: the model, not the
            # dictionary's density or pseudo-symmetry, decides the result there.
            ok = refined_angles[(e, "physics")] < _INDEXED
            entry["refined_indexed"] = {
                "fraction": float(ok.mean()),
                **{name: summarize(refined_angles[(e, name)][ok]) for name in ("generated", "physics") if ok.any()},
            }
    bar.update()

    # 5. Voltage matrix: generated at one training voltage, refined with the
    # physics at each, from starts 1 deg off the truth (so that dictionary
    # misses, common to physics and model, do not mask the voltage effect).
    bar.set_postfix_str(stages[4])
    if voltage_matrix and len(trained) > 1 and n_refine:
        m = min(int(matrix_patterns), int(n_refine))
        rot = Rotation(test_rot.data[:m])
        axes = np.random.default_rng(seed + 1).standard_normal((m, 3))
        start = Rotation.from_axes_angles(axes, np.deg2rad(_MATRIX_OFFSET_DEG)) * rot
        start_map = CrystalMap(start, phase_list=PhaseList(phase.deepcopy()), x=np.arange(m))
        cells, medians = np.full((2, len(trained), len(trained)), np.nan)
        for i, eg in enumerate(trained):
            for j, ei in enumerate(trained):
                with contextlib.redirect_stdout(io.StringIO()):
                    xmap = refine_orientations(as_ebsd(generated[eg][:m], rot, phase, detector), start_map,
                                               detector, masters[ei], ei, method=method)
                angles = disorientation(xmap, rot, phase)
                cells[i, j], medians[i, j] = float(angles.mean()), float(np.median(angles))
        metrics["voltage_matrix"] = {"generated_kv": trained, "indexed_kv": trained, "mean_refined_deg": cells.tolist(),
                                     "median_refined_deg": medians.tolist(), "patterns_per_cell": m,
                                     "start_offset_deg": _MATRIX_OFFSET_DEG}
    bar.update()

    # 6. Figures and report.
    bar.set_postfix_str(stages[5])
    metrics["elapsed_s"] = time.perf_counter() - t_start
    _write_figures(out, metrics, real, generated, di, refined_angles, test_rot, trained, all_kv)
    (out / "metrics.json").write_text(json.dumps(_jsonable(metrics), indent=2))
    (out / "report.md").write_text(_markdown(metrics))
    bar.update()
    bar.close()
    return metrics


def _write_figures(out: Path, metrics: dict, real: dict, generated: dict, di: dict, refined: dict,
                   test_rot: Rotation, trained: list[float], all_kv: list[float]) -> None:
    import matplotlib.pyplot as plt

    from kikuchipy_gen.evaluation import figures

    mid = trained[len(trained) // 2]
    label = f"{mid:g} kV"
    picks = np.arange(min(6, test_rot.size))
    figs = {
        "comparison.png": figures.plot_comparison(real[mid][picks], generated[mid][picks],
                                                  [f"#{i}, {label}" for i in picks]),
        "histograms.png": figures.plot_histograms(real[mid], generated[mid], label),
        "deviation.png": figures.plot_deviation(np.abs(generated[mid] - real[mid]), 0.15,
                                                metrics["energies"][f"{mid:g}"]["deviation"]["fraction_within"], label),
        "disorientation.png": figures.plot_disorientations(
            {"DI generated": disorientation(di[(mid, "generated")], test_rot, di[(mid, "generated")].phases[0]),
             "refined generated": refined.get((mid, "generated"), np.array([])),
             "refined physics": refined.get((mid, "physics"), np.array([]))}, label),
        "band_width.png": figures.plot_band_widths(
            all_kv, [metrics["energies"][f"{e:g}"]["band_width_px"]["physics"] for e in all_kv],
            [metrics["energies"][f"{e:g}"]["band_width_px"]["generated"] for e in all_kv], trained),
    }
    if "voltage_matrix" in metrics:
        vm = metrics["voltage_matrix"]
        figs["voltage_matrix.png"] = figures.plot_voltage_matrix(np.array(vm["mean_refined_deg"]),
                                                                 vm["generated_kv"], vm["indexed_kv"])
    for name, fig in figs.items():
        fig.savefig(out / name, dpi=70 if name == "comparison.png" else 90)
        plt.close(fig)
    metrics["figures"] = sorted(figs)


def _fmt(summary: dict | None) -> str:
    if not summary:
        return "-"
    return f"{summary['mean']:.3f} +- {summary['std']:.3f} (median {summary['median']:.3f})"


def _markdown(m: dict) -> str:
    s = m["settings"]
    lines = [
        f"# Evaluation of {m['model']}",
        "",
        f"{s['date']}, {s['machine']}. {s['n_test']} random test orientations (seed {s['seed']}), z = 0; "
        f"physics from the model's recorded source, preprocessed as in training. Dictionary: "
        f"{s['dictionary_size']:,} orientations (n = {s['dictionary_n']}); refinement: {s['method']}, first "
        f"{s['n_refine']} patterns. Disorientations in degrees, mean +- std. Total {m['elapsed_s']:.0f} s.",
        "",
        "## Pixel metrics and band width",
        "",
        "| kV | trained | BCE | optimum | mean abs dev | within 0.15 | band width physics / generated (px) |",
        "|---|---|---|---|---|---|---|",
    ]
    for kv, e in m["energies"].items():
        bw = e["band_width_px"]
        lines.append(f"| {kv} | {'yes' if e['trained'] else 'no'} | {e['bce']:.4f} | {e['optimal_bce']:.4f} | "
                     f"{e['deviation']['mean']:.4f} | {100 * e['deviation']['fraction_within']:.1f} % | "
                     f"{bw['physics']:.2f} / {bw['generated']:.2f} |")
    lines += ["", "## Dictionary indexing and refinement", "",
              "| kV | DI generated | DI physics | refined generated | refined physics |", "|---|---|---|---|---|"]
    for kv, e in m["energies"].items():
        d, r = e["dictionary_indexing"], e.get("refined", {})
        lines.append(f"| {kv} | {_fmt(d['generated'])} | {_fmt(d['physics'])} | {_fmt(r.get('generated'))} | "
                     f"{_fmt(r.get('physics'))} |")
    lines += ["", f"Refined, on the patterns whose physics counterpart refined to < {_INDEXED} deg (indexed into the "
              "right basin; the paper's 0.142 +- 0.061 deg is of this kind):", "",
              "| kV | fraction | refined generated | refined physics |", "|---|---|---|---|"]
    for kv, e in m["energies"].items():
        r = e.get("refined_indexed")
        if r:
            lines.append(f"| {kv} | {100 * r['fraction']:.0f} % | {_fmt(r.get('generated'))} | {_fmt(r.get('physics'))} |")
    if "voltage_matrix" in m:
        vm = m["voltage_matrix"]
        lines += ["", f"## Voltage matrix (mean refined disorientation, {vm['patterns_per_cell']} patterns per cell, "
                  f"starts {vm['start_offset_deg']:g} deg off)",
                  "", "| generated \\ physics kV | " + " | ".join(f"{e:g}" for e in vm["indexed_kv"]) + " |",
                  "|---" * (len(vm["indexed_kv"]) + 1) + "|"]
        for eg, row in zip(vm["generated_kv"], vm["mean_refined_deg"]):
            lines.append(f"| {eg:g} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    lines += ["", "## Time: physics route vs generative model (Table 2)", "",
              "| kV | master pattern, computed (s) | master pattern, as loaded (s) | project + CLAHE (s) | "
              "generated (s) | patterns |", "|---|---|---|---|---|---|"]
    for t in m["timing"]:
        fresh = t.get("master_pattern_uncached_s")
        lines.append(f"| {t['energy']:g} | {'-' if fresh is None else f'{fresh:.1f}'} | {t['master_pattern_s']:.2f} | "
                     f"{t['physics_patterns_s']:.2f} | {t['generated_patterns_s']:.2f} | {t['n']} |")
    swept = [t for t in m["timing"] if t.get("master_pattern_uncached_s") is not None]
    if swept:
        total_p = sum(t["master_pattern_uncached_s"] + t["physics_patterns_s"] for t in swept)
        total_g = sum(t["generated_patterns_s"] for t in swept)
        lines += ["", f"Voltage sweep over {len(swept)} voltages, {swept[0]['n']} patterns each: physics "
                  f"{total_p:.1f} s (master patterns computed afresh), generative model {total_g:.1f} s "
                  f"({total_p / total_g:.0f} x faster)."]
    lines += ["", "'As loaded' includes reading the source's cache (de-ebsd keeps one), a lower bound of the "
              "physics cost.", "", "## Figures", ""]
    lines += [f"![{name}]({name})" for name in m.get("figures", [])]
    return "\n".join(lines) + "\n"


def comparison_table(reports: dict[str, dict[str, Any]]) -> str:
    """Table 1: models side by side (pixel metrics, indexing, refinement per voltage).

    Parameters
    ----------
    reports
        Model label -> metrics returned by :func:`evaluate` (or read from
        ``metrics.json``).

    Returns
    -------
    str
        A Markdown table.

    Examples
    --------
    >>> import json
    >>> from kikuchipy_gen.evaluation import comparison_table
    >>> reports = {name: json.load(open(f"{name}/metrics.json")) for name in ("cvae", "cvae_gan")}  # doctest: +SKIP
    >>> print(comparison_table(reports))  # doctest: +SKIP
    """
    labels = list(reports)
    lines = ["| kV | metric | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
    kvs = sorted({kv for r in reports.values() for kv in r["energies"]}, key=float)
    rows = [("BCE", lambda e: f"{e['bce']:.4f}"),
            ("within 0.15", lambda e: f"{100 * e['deviation']['fraction_within']:.1f} %"),
            ("DI (deg)", lambda e: _fmt(e["dictionary_indexing"]["generated"])),
            ("refined (deg)", lambda e: _fmt(e.get("refined", {}).get("generated"))),
            ("refined, indexed (deg)", lambda e: _fmt(e.get("refined_indexed", {}).get("generated")))]
    for kv in kvs:
        for name, get in rows:
            cells = [get(r["energies"][kv]) if kv in r["energies"] else "-" for r in reports.values()]
            lines.append(f"| {kv} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x
