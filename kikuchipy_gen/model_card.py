"""Model cards: what a trained ML master pattern is, how it was made and how good it is.

A card is Markdown written from records the model already carries: the
``info`` of its ``model.json`` (phase, physics source, detector, energies,
preprocessing, training settings), the ``metrics.json`` of its evaluation
(:func:`~kikuchipy_gen.evaluation.evaluate`) and, where
:func:`~kikuchipy_gen.pipeline.build_model` made it, the build's times.
:func:`fidelity_checks` compares the evaluation with the bounds every model
shipped with the package has to meet; the card shows each check and its
result, so a card cannot claim more than its numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FIDELITY_BOUNDS", "fidelity_checks", "model_card"]

# The bounds of a shipped model (the zoo), in the units of metrics.json:
# refined disorientation means in degrees, on the test patterns whose physics
# counterpart refines (< 0.5 deg); the share of generated patterns refined
# within 0.5 deg may trail the physics share by at most 3 percentage points;
# the dictionary indexing median equals the physics one (to 0.01 deg, the
# printed precision); the BCE per pixel is within 0.015 of its optimum.
FIDELITY_BOUNDS: dict[str, float] = {
    "refined_trained_deg": 0.05,
    "refined_unseen_deg": 0.08,
    "indexed_fraction_pp": 3.0,
    "di_median_deg": 0.01,
    "bce_excess": 0.015,
}


def fidelity_checks(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Compare an evaluation with the bounds of a shipped model.

    Parameters
    ----------
    metrics
        The ``metrics.json`` of :func:`~kikuchipy_gen.evaluation.evaluate`
        (as read with :func:`json.load`).

    Returns
    -------
    list of dict
        One entry per voltage and criterion: ``kv``, ``check``, ``value``,
        ``bound`` and ``passed`` (None where the evaluation did not measure
        it, e.g. refinement skipped or a report written before the generated
        share was recorded). Bounds are in :data:`FIDELITY_BOUNDS`.

    Examples
    --------
    >>> from kikuchipy_gen.model_card import fidelity_checks
    >>> energy = {
    ...     "trained": True, "bce": 0.51, "optimal_bce": 0.50,
    ...     "dictionary_indexing": {"generated": {"median": 1.6}, "physics": {"median": 1.6}},
    ...     "refined_indexed": {"fraction": 0.98, "generated_fraction": 0.97,
    ...                         "generated": {"mean": 0.02}, "physics": {"mean": 0.01}},
    ... }
    >>> for c in fidelity_checks({"energies": {"20.0": energy}}):
    ...     print(c["check"], c["passed"])
    BCE - optimum True
    DI median, generated - physics (deg) True
    refined mean, indexed (deg) True
    refined < 0.5 deg, physics - generated (pp) True
    """
    b = FIDELITY_BOUNDS
    out = []

    def add(kv: str, check: str, value: float | None, bound: float) -> None:
        passed = None if value is None else bool(value <= bound + 1e-12)
        out.append({"kv": kv, "check": check, "value": value, "bound": bound, "passed": passed})

    for kv, e in metrics["energies"].items():
        add(kv, "BCE - optimum", e["bce"] - e["optimal_bce"], b["bce_excess"])
        di = e["dictionary_indexing"]
        add(
            kv,
            "DI median, generated - physics (deg)",
            abs(di["generated"]["median"] - di["physics"]["median"]),
            b["di_median_deg"],
        )
        r = e.get("refined_indexed") or {}
        mean = (r.get("generated") or {}).get("mean")
        add(
            kv,
            "refined mean, indexed (deg)",
            mean,
            b["refined_trained_deg"] if e["trained"] else b["refined_unseen_deg"],
        )
        share = r.get("generated_fraction")
        gap = None if share is None else 100 * (r["fraction"] - share)
        add(kv, "refined < 0.5 deg, physics - generated (pp)", gap, b["indexed_fraction_pp"])
    return out


def model_card(
    model_info: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    timings: Mapping[str, Any] | None = None,
    provenance: str | None = None,
) -> str:
    """Write a model card: phase, physics, recipe, time, machine and fidelity.

    Parameters
    ----------
    model_info
        The ``info`` of the model's ``model.json``
        (:attr:`ModelBundle.info <kikuchipy_gen.models.bundle.ModelBundle.info>`).
    metrics
        Its evaluation's ``metrics.json``; without it the card says the model
        was not evaluated.
    name
        The model's name (a shipped model's folder name); default, the phase.
    timings
        The build's ``timings.json`` (:func:`~kikuchipy_gen.pipeline.build_model`
        writes it): seconds per step and the machine.
    provenance
        Where the phase came from (a built-in preset, a CIF file and its
        checksum); default, read from ``model_info`` when recorded there.

    Returns
    -------
    str
        Markdown.

    Examples
    --------
    >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
    >>> from kikuchipy_gen.model_card import model_card
    >>> from kikuchipy_gen.models.bundle import ModelBundle
    >>> card = model_card(ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv").info, name="ni-10-30kv")
    >>> card.splitlines()[0]
    '# ni-10-30kv: an ML master pattern of ni (Fm-3m, Laue group m-3m)'
    """
    from kikuchipy_gen.phases import phase_from_dict, space_group_symbol

    phase_d = model_info["phase"]
    phase = phase_from_dict(phase_d)
    laue = phase.point_group.laue.name
    energies = [float(e) for e in model_info["energies"]]
    title = name or phase.name
    lines = [
        f"# {title}: an ML master pattern of {phase.name} ({space_group_symbol(phase)}, Laue group {laue})",
        "",
        "```python",
        "from kikuchipy_gen import MLMasterPattern",
        "",
        f'mlmp = MLMasterPattern.from_pretrained("{title}")  # or MLMasterPattern.load(folder)',
        "```",
        "",
        "## Phase",
        "",
        f"- Space group {space_group_symbol(phase)} (No. {phase.space_group.number}), point group "
        f"{phase.point_group.name}, Laue group {laue}",
        "- Lattice (Angstrom, deg): " + ", ".join(f"{v:g}" for v in phase_d["lattice"]),
        f"- Provenance: {provenance or _provenance(model_info)}",
        "",
        "| element | x | y | z | occupancy | Uiso (A^2) |",
        "|---|---|---|---|---|---|",
    ]
    for a in phase_d["atoms"]:
        x, y, z = a["xyz"]
        lines.append(f"| {a['element']} | {x:.4f} | {y:.4f} | {z:.4f} | {a['occupancy']:g} | {a['Uiso']:g} |")
    lines += ["", "## Physics it learned", "", *_source_lines(model_info, energies), ""]
    lines += ["## Training", "", *_training_lines(model_info, timings), ""]
    lines += ["## Fidelity", "", *_fidelity_lines(metrics)]
    return "\n".join(lines) + "\n"


def _provenance(info: Mapping[str, Any]) -> str:
    from kikuchipy_gen.phases import BUILTIN_PHASES

    name = info["phase"]["name"]
    if name in BUILTIN_PHASES:
        return (
            f"kikuchipy-gen's built-in phase `{name}` (kikuchipy_gen.phases.BUILTIN_PHASES, where its source is cited)"
        )
    return "not recorded"


def _source_lines(info: Mapping[str, Any], energies: list[float]) -> list[str]:
    s = info.get("source", {})
    d = info.get("detector", {})
    pre = info.get("preprocessing", {})
    kind = s.get("kind", "unknown")
    lines = [f"- Source: {kind}" + (" (de-ebsd master patterns)" if kind == "dynamical" else "")]
    params = {k: v for k, v in s.items() if k not in ("kind", "phase")}
    if params:
        lines.append("- Source parameters: " + ", ".join(f"{k} = {v}" for k, v in params.items()))
    lines += [
        "- Energies (kV): " + ", ".join(f"{e:g}" for e in energies),
        f"- Detector: {d.get('shape')} px, PC {d.get('pc')}, sample tilt {d.get('sample_tilt')} deg, "
        f"detector tilt {d.get('tilt')} deg",
        f"- Preprocessing: {pre.get('rescale', '-')}, CLAHE {pre.get('clahe', '-')}",
    ]
    return lines


def _training_lines(info: Mapping[str, Any], timings: Mapping[str, Any] | None) -> list[str]:
    t = info.get("training", {})
    cfg = t.get("train_config", {})
    splits = t.get("splits", {})
    lines = []
    if splits:
        # By name: the dataset's attributes may hold the splits in any order (zarr sorts them).
        counts = " / ".join(f"{splits[k]:,}" if k in splits else "-" for k in ("train", "val", "test"))
        lines.append(f"- Orientations (train / val / test): {counts}")
    if cfg:
        lines.append(
            f"- Stages: CVAE {cfg.get('cvae_epochs')} epochs, critic {cfg.get('critic_epochs')}, joint "
            f"{cfg.get('gan_epochs')}; at most {cfg.get('max_steps_per_epoch')} steps of "
            f"{cfg.get('cvae_batch_size')} patterns per epoch; learning rates {cfg.get('cvae_lr')} / "
            f"{cfg.get('critic_lr')} / {cfg.get('gan_lr')}; seed {cfg.get('seed')}; mixed precision "
            f"{cfg.get('mixed_precision')}"
        )
    state = t.get("state", {})
    if state:
        lines.append(
            f"- Exported checkpoint: {t.get('checkpoint', '-')} (stage {state.get('stage')}, step "
            f"{state.get('step')}, validation BCE {state.get('best_val', float('nan')):.4f})"
        )
    if t.get("dataset_fingerprint"):
        lines.append(f"- Dataset fingerprint: `{t['dataset_fingerprint']}`")
    if timings:
        steps = timings.get("steps", {})
        total = sum(steps.values())
        shown = ", ".join(f"{k} {v / 60:.1f} min" for k, v in steps.items())
        lines.append(f"- Time: {total / 60:.0f} min in all ({shown})")
        machine = timings.get("machine")
        if machine:
            lines.append(f"- Machine: {machine}")
        if timings.get("note"):
            lines.append(f"- Note: {timings['note']}")
    return lines


def _basins(settings: Mapping[str, Any]) -> str:
    """How the refinements started, for reports that refined from several dictionary basins."""
    basins = settings.get("refine_basins", 1)
    return f", from the best of up to {basins} dictionary basins" if basins > 1 else ""


def _fidelity_lines(metrics: Mapping[str, Any] | None) -> list[str]:
    if metrics is None:
        return ["Not evaluated: run `kikuchipy-gen evaluate` on the model."]
    settings = metrics.get("settings", {})
    lines = [
        f"Evaluated on {settings.get('test_orientations', str(settings.get('n_test')) + ' test orientations')}, "
        f"dictionary {settings.get('dictionary_density', settings.get('dictionary_n'))}, refinement "
        f"{settings.get('method')} of {settings.get('n_refine')} patterns per voltage{_basins(settings)} "
        f"({settings.get('date')}, {settings.get('machine')}).",
        "",
        "| kV | trained | BCE (optimum) | DI median gen / phys (deg) | same DI match | refined mean, indexed, "
        "gen / phys (deg) | refined < 0.5 deg, phys / gen |",
        "|---|---|---|---|---|---|---|",
    ]
    for kv, e in metrics["energies"].items():
        di = e["dictionary_indexing"]
        r = e.get("refined_indexed") or {}
        gen, phys = (r.get("generated") or {}).get("mean"), (r.get("physics") or {}).get("mean")
        share = r.get("generated_fraction")
        same = (e.get("indexing_agreement") or {}).get("same")  # absent in reports before it was recorded
        lines.append(
            f"| {kv} | {'yes' if e['trained'] else 'no'} | {e['bce']:.4f} ({e['optimal_bce']:.4f}) | "
            f"{di['generated']['median']:.2f} / {di['physics']['median']:.2f} | {_pct(same, 1)} | "
            f"{_num(gen, 3)} / {_num(phys, 3)} | {_pct(r.get('fraction'))} / {_pct(share)} |"
        )
    checks = fidelity_checks(metrics)
    failed = [c for c in checks if c["passed"] is False]
    unmeasured = [c for c in checks if c["passed"] is None]
    verdict = "meets every bound" if not failed and not unmeasured else "does not meet every bound"
    lines += ["", f"Against the bounds of a shipped model ({_bounds_text()}): **{verdict}**."]
    for c in failed:
        lines.append(f"- misses at {c['kv']} kV: {c['check']} = {c['value']:.4g} > {c['bound']:g}")
    for check in dict.fromkeys(c["check"] for c in unmeasured):
        kvs = ", ".join(c["kv"] for c in unmeasured if c["check"] == check)
        lines.append(f"- not measured (at {kvs} kV): {check}")
    return lines


def _bounds_text() -> str:
    b = FIDELITY_BOUNDS
    return (
        f"BCE within {b['bce_excess']:g} of the optimum; DI medians equal; refined mean <= "
        f"{b['refined_trained_deg']:g} deg at training voltages and <= {b['refined_unseen_deg']:g} deg between "
        f"them; refined within 0.5 deg at most {b['indexed_fraction_pp']:g} points less often than the physics"
    )


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f} %"
