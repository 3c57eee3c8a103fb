"""Write the MODEL_CARD.md of every model shipped in kikuchipy_gen/pretrained, and the README's zoo table.

Each card is made from the model's own model.json and the committed report of
its evaluation on held-out orientations (docs/reports/<report>/metrics.json),
with the build's times (timings.json there, written by ``kikuchipy-gen model``)
and, where the phase came from a recipe, its provenance (recipe.json there).
The table between the ``zoo`` markers of README.md is rewritten from the same
files, so it cannot disagree with the cards.

    python benchmarks/write_model_cards.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from kikuchipy_gen.master_pattern import PRETRAINED_DIR, available_pretrained
from kikuchipy_gen.model_card import fidelity_checks, model_card
from kikuchipy_gen.models.bundle import ModelBundle

ROOT = Path(__file__).parents[1]
REPORTS = ROOT / "docs" / "reports"
README = ROOT / "README.md"
MARKERS = ("<!-- zoo table: benchmarks/write_model_cards.py -->", "<!-- end of zoo table -->")
# Shipped model -> the report folder of its evaluation on held-out orientations.
SHIPPED = {
    "ni-10-30kv": "ni",
    "fe-alpha-10-30kv": "fe_alpha",
    "ti-alpha-10-30kv": "ti_alpha",
    "corundum-10-30kv": "corundum_knots_n50",
    "rutile-10-30kv": "rutile_knots_n50",
}


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _span(values: list[float]) -> str:
    if not values:
        return "-"
    low, high = min(values), max(values)
    return f"{low:.3f}" if f"{low:.3f}" == f"{high:.3f}" else f"{low:.3f}-{high:.3f}"


def _built_on(machine: str) -> str:
    """The machine of a build in a few words: its GPU, else its CPU cores."""
    gpu = re.search(r"NVIDIA [^,]+", machine)
    cores = re.search(r"(\d+) cores", machine)
    if gpu:
        return gpu.group(0).replace("NVIDIA ", "") + ", then the evaluation on 2 cores"
    return f"{cores.group(1)} CPU cores" if cores else machine


def _row(name: str, info: dict, metrics: dict | None, timings: dict | None, report: str) -> str:
    from kikuchipy_gen.phases import phase_from_dict, space_group_symbol

    phase = phase_from_dict(info["phase"])
    kv = info["energies"]
    trained, unseen, near_ties, same = [], [], [], []
    for e in (metrics or {}).get("energies", {}).values():
        if e.get("indexing_agreement"):
            same.append(100 * e["indexing_agreement"]["same"])
        mean = ((e.get("refined_indexed") or {}).get("generated") or {}).get("mean")
        if mean is not None:
            (trained if e["trained"] else unseen).append(mean)
        one = (e.get("refined_indexed") or {}).get("only_one_refines")
        if one is not None:
            near_ties.append((one["generated_misses"], one["physics_misses"]))
    ties = f"{sum(g for g, _ in near_ties)} / {sum(p for _, p in near_ties)}" if near_ties else "-"
    shared = "-" if not same else f"{min(same):.1f}-{max(same):.1f} %"
    minutes = f"{sum(timings['steps'].values()) / 60:.0f} min" if timings else "-"
    if timings and timings.get("machine"):
        minutes += f" ({_built_on(timings['machine'])})"
    checks = fidelity_checks(metrics) if metrics else []
    if not checks or any(c["passed"] is False for c in checks):
        verdict = "no"
    else:
        verdict = "yes" if all(c["passed"] for c in checks) else "not all measured"
    return (
        f"| `{name}` | {phase.name} ({space_group_symbol(phase)}) | {phase.point_group.laue.name} | "
        f"{min(kv):g}-{max(kv):g} | {_span(trained)} | {_span(unseen)} | {shared} | {ties} | {verdict} | {minutes} | "
        f"[card](kikuchipy_gen/pretrained/{name}/MODEL_CARD.md), [report](docs/reports/{report}/report.md) |"
    )


def render() -> tuple[dict[str, str], str]:
    """Every shipped model's card and the README's zoo table (markers included), from the committed files."""
    missing = sorted(set(available_pretrained()) - set(SHIPPED))
    if missing:
        raise SystemExit(f"No report named for {missing}: add them to SHIPPED")
    rows = [
        "| model | phase | Laue group | kV | refined, training kV (deg) | refined, between (deg) "
        "| same DI match as physics | only one route refines: generated / physics | all bounds met "
        "| build time (all steps) | card, report |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    cards = {}
    for name, report in SHIPPED.items():
        folder = REPORTS / report
        metrics = _read(folder / "metrics.json")
        recipe = _read(folder / "recipe.json") or {}
        timings = _read(folder / "timings.json")
        info = ModelBundle.read(PRETRAINED_DIR / name).info
        cards[name] = model_card(info, metrics, name=name, timings=timings, provenance=recipe.get("provenance"))
        rows.append(_row(name, info, metrics, timings, report))
    return cards, MARKERS[0] + "\n" + "\n".join(rows) + "\n" + MARKERS[1]


def main() -> None:
    cards, table = render()
    for name, card in cards.items():
        (PRETRAINED_DIR / name / "MODEL_CARD.md").write_text(card)
        metrics = _read(REPORTS / SHIPPED[name] / "metrics.json")
        failed = [c for c in fidelity_checks(metrics) if c["passed"] is not True] if metrics else ["no report"]
        print(f"{name}: {'meets every bound' if not failed else f'{len(failed)} checks not passed'}")
    text = README.read_text()
    pattern = re.escape(MARKERS[0]) + ".*?" + re.escape(MARKERS[1])
    if not re.search(pattern, text, flags=re.S):
        raise SystemExit(f"README.md lacks the markers {MARKERS}")
    README.write_text(re.sub(pattern, lambda _: table, text, flags=re.S))
    print(table)


if __name__ == "__main__":
    main()
