"""Run every speed benchmark, collect their results, rewrite the results table and plots.

Each benchmark is a script in this folder, run as its own subprocess with ``--json``
(``--quick`` passed on); this script collects their JSON into
``benchmarks/results/results.json``, rewrites ``benchmarks/results/RESULTS_TABLE.md``
(one table per benchmark: medians, spreads, ratios, under a header of machine, versions,
threads, load and date) and draws ``throughput_vs_size.png`` and
``time_vs_orientations.png`` there, copied to ``docs/images/`` for the docs
(``docs/performance.rst`` shows them). Every speed claim in README, docs and
``benchmarks/RESULTS.md`` should come from this table.

    python benchmarks/run_all.py [--quick] [--only NAME ...] [--skip NAME ...] [--out DIR]
    python benchmarks/run_all.py --table-only   # rewrite table and plots from results.json

Benchmarks (``--only`` / ``--skip`` names): ``get_patterns`` (get_patterns_default.py),
``kernel_stages``, ``time_vs_orientations``, ``voltage_sweep``, ``refinement`` (refinement_throughput.py),
``bobyqa`` (bobyqa_routes.py), ``training`` (training_throughput.py), ``dictionary`` (large_dictionary.py), ``memory``
(generate_memory.py), ``memory_profile``. With ``--only`` the other benchmarks' results already in
``results.json`` are kept (each records its own machine and date).

Run it on a quiet machine: every benchmark alternates the routes it compares, but a
machine shared with other work still widens the spreads. ``--quick`` (small sizes, fewer
repeats; a smoke test whose numbers are not results) takes a few minutes on 2 quiet
cores. The full run took 26 minutes on a Sapphire Rapids VM and 51 on an AVX2 AMD EPYC
(2026-11-26): there the training steps under emulated bf16 (14 minutes; 18 on
2026-11-28, when emulated bf16 had become slower still, and since then timed over a
third of the steps), dictionary indexing at 100,347 and 333,227 orientations (12), the
memory benchmark's 1,000,000 patterns (11) and the voltage sweep's de-ebsd master
patterns (6) dominate.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DOCS_IMAGES = HERE.parent / "docs" / "images"
FIGURES = {
    "throughput_vs_size.png": "benchmark_throughput_vs_size.png",
    "time_vs_orientations.png": "benchmark_time_vs_orientations.png",
}


@dataclass(frozen=True)
class Benchmark:
    """One script to run: its file in this folder and a title for the table."""

    name: str
    script: str
    title: str


BENCHMARKS = (
    Benchmark("get_patterns", "get_patterns_default.py", "The default get_patterns path against kikuchipy"),
    Benchmark("kernel_stages", "kernel_stages.py", "Where the CPU kernel's time goes"),
    Benchmark("time_vs_orientations", "time_vs_orientations.py", "Time against the number of orientations"),
    Benchmark("voltage_sweep", "voltage_sweep.py", "A voltage sweep: fresh physics master patterns against the model"),
    Benchmark("refinement", "refinement_throughput.py", "Refinement against the ML and the physics master pattern"),
    Benchmark("bobyqa", "bobyqa_routes.py", "The refinement's optimisers: Py-BOBYQA, NLopt's BOBYQA, Nelder-Mead"),
    Benchmark(
        "training", "training_throughput.py", "Training steps per preset: fp32 against bf16 autocast and contiguous"
    ),
    Benchmark("dictionary", "large_dictionary.py", "Dictionary indexing against large lazy dictionaries"),
    Benchmark("memory", "generate_memory.py", "Peak memory of writing generated patterns to disk"),
    Benchmark("memory_profile", "memory_profile.py", "Where the memory of writing patterns goes"),
)
NAMES = tuple(b.name for b in BENCHMARKS)


# ------------------------------------------------------------------ running


def run_one(bench: Benchmark, quick: bool, out: Path) -> dict[str, Any]:
    """Run one benchmark script; its output goes to the console and to a log file."""
    json_path = out / "raw" / f"{bench.name}.json"
    log_path = out / "logs" / f"{bench.name}.log"
    json_path.unlink(missing_ok=True)  # a stale file must not pass for this run's result
    log_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(HERE / bench.script), *(["--quick"] if quick else []), "--json", str(json_path)]
    print(f"\n=== {bench.name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    with (
        log_path.open("w") as log,
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=HERE.parent) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            # Library warnings are kept in the log but kept off the console.
            if "Warning" not in line:
                print(line, end="", flush=True)
    entry: dict[str, Any] = {
        "script": f"benchmarks/{bench.script}",
        "args": cmd[2:-2],
        "quick": quick,
        "wall_s": time.perf_counter() - t0,
        "returncode": proc.returncode,
        # Relative to the repository when the results are kept in it (--out may lie elsewhere).
        "log": str(log_path.relative_to(HERE.parent) if log_path.is_relative_to(HERE.parent) else log_path),
    }
    if proc.returncode == 0 and json_path.is_file():
        entry["result"] = json.loads(json_path.read_text())
    else:
        entry["error"] = log_path.read_text()[-2000:]
        print(f"=== {bench.name} FAILED (exit {proc.returncode}); see {log_path}", flush=True)
    return entry


def collect(
    previous: dict[str, Any] | None, entries: dict[str, dict[str, Any]], info: dict[str, Any]
) -> dict[str, Any]:
    """The new results.json: this run's entries over the previous file's (kept for benchmarks not run)."""
    benchmarks = dict((previous or {}).get("benchmarks", {}))
    benchmarks.update(entries)
    ordered = {name: benchmarks[name] for name in NAMES if name in benchmarks}
    return {"machine": info, "benchmarks": ordered}


# ------------------------------------------------------------------ the table


def _mm(s: dict[str, Any], fmt: str = "{:,.0f}", scale: float = 1.0) -> str:
    """'median (min-max)' of a spread."""
    f = lambda x: fmt.format(x * scale)  # noqa: E731
    return f"{f(s['median'])} ({f(s['min'])}-{f(s['max'])})"


def _ratio(s: dict[str, Any], digits: int = 2) -> str:
    return f"**{s['median']:.{digits}f}** ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def _per_s(n: int, seconds: list[float]) -> dict[str, float]:
    rates = [n / t for t in seconds]
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}


def _table_get_patterns(r: dict[str, Any]) -> list[str]:
    lines = [
        f"Calls as a user makes them, alternated, {r['repeats']} pairs per size; ratio = kikuchipy time / model time.",
        "",
        "| detector | rotations | kikuchipy patterns/s | MLMasterPattern patterns/s | ratio | best / best |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["sizes"]:
        k, m = row["kikuchipy_per_s"], row["ml_per_s"]
        side = row["detector"]
        lines.append(
            f"| {side[0]}x{side[1]} | {row['rotations']:,} "
            f"| {statistics.median(k):,.0f} ({min(k):,.0f}-{max(k):,.0f}) "
            f"| {statistics.median(m):,.0f} ({min(m):,.0f}-{max(m):,.0f}) "
            f"| **{row['median_ratio']:.2f}** ({row['min_ratio']:.2f}-{row['max_ratio']:.2f}) "
            f"| {row['best_ratio']:.2f} |"
        )
    o = r.get("overhead_1000")
    if o:
        lines += [
            "",
            f"Per-call overhead at 1,000 rotations (60x60, {o['chunks']} chunks, medians of {o['repeats']}): "
            f"call {o['call_s'] * 1e3:.1f} ms, decoding alone {o['decode_s'] * 1e3:.1f} ms, overhead "
            f"{o['overhead_s'] * 1e3:.1f} ms = {100 * o['overhead_fraction']:.1f} % of the call.",
        ]
    return lines


def _table_kernel_stages(r: dict[str, Any]) -> list[str]:
    lines = [
        f"{r['model']}, one thread, {r['patterns']:,} patterns per timing. Copies of the numba kernel cut short "
        f"after each stage, alternated with the kernel, {r['repeats']} rounds: a stage's cost is the difference "
        "of two cumulative medians.",
        "",
        "| stopped after | cumulative us per pattern | the stage, us | share |",
        "|---|---|---|---|",
    ]
    us = r["us_per_pattern"]
    total = list(us.values())[-1]["median"]
    previous = 0.0
    for stage, x in us.items():
        cost = x["median"] - previous
        lines.append(f"| {stage} | {_mm(x, '{:.1f}')} | {cost:.1f} | {cost / total:.0%} |")
        previous = x["median"]
    return lines


def _table_memory_profile(r: dict[str, Any]) -> list[str]:
    small, large = r["sizes"]
    mib = 2**20
    lines = [
        "Traced memory (tracemalloc; numpy's arrays included) of the phases of `kikuchipy-gen generate`, "
        "uint8 60x60, each size a fresh process: what is held after each phase and the phase's peak above "
        "what was held before it, in MiB.",
        "",
        f"| phase | held, {small:,} | held, {large:,} | peak above, {small:,} | peak above, {large:,} "
        "| held, bytes per extra pattern |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["phases"]:
        a, b = row["small"], row["large"]
        lines.append(
            f"| {row['phase']} | {a['held'] / mib:.1f} | {b['held'] / mib:.1f} | {a['peak_above_before'] / mib:.1f} "
            f"| {b['peak_above_before'] / mib:.1f} | {row['held_bytes_per_pattern']:.0f} |"
        )
    lines += ["", f"Held per pattern at {large:,}:", "", "| array | bytes per pattern |", "|---|---|"]
    lines += [f"| {name} | {nbytes / large:.0f} |" for name, nbytes in r["held"].items()]
    return lines


def _table_time_vs_orientations(r: dict[str, Any]) -> list[str]:
    side = r["detector"]
    lines = [
        f"{side[0]}x{side[1]}, 20 kV, alternated, {r['repeats']} pairs per size; ratio = kikuchipy time / model time.",
        "",
        "| orientations | kikuchipy s | MLMasterPattern s | kikuchipy patterns/s | model patterns/s | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["sizes"]:
        n, k, m = row["orientations"], row["kikuchipy_s"], row["ml_s"]
        lines.append(
            f"| {n:,} | {_mm(k, '{:.3g}')} | {_mm(m, '{:.3g}')} | {_mm(_per_s(n, k['values']))} "
            f"| {_mm(_per_s(n, m['values']))} | {_ratio(row['ratio'])} |"
        )
    return lines


def _table_voltage_sweep(r: dict[str, Any]) -> list[str]:
    src, p, m = r["physics_source"], r["physics"], r["model"]
    e = r["energies"]
    n, k = r["orientations"], len(e)
    lines = [
        f"{n:,} orientations at {k} voltages ({e[0]:g}-{e[-1]:g} kV), 60x60. Physics: a fresh de-ebsd master "
        f"pattern per voltage (npx {src['npx']}, {src['mc_electrons']:,} electrons, no cache) + kikuchipy's "
        f"projection, timed {r['physics_repeats']} time(s) (a full sweep takes minutes); the model "
        f"{r['repeats']} times, the physics sweeps between its rounds. Seconds, median (min-max).",
        "",
        "| route | seconds |",
        "|---|---|",
        f"| physics: master patterns alone | {_mm(p['master_patterns_s'], '{:.3g}')} |",
        f"| physics: master patterns + projection | {_mm(p['without_clahe_s'], '{:.3g}')} |",
        f"| physics: master patterns + projection + CLAHE | {_mm(p['with_clahe_s'], '{:.3g}')} |",
        f"| model, one call ({n * k:,} patterns, one energy each) | {_mm(m['one_call_s'], '{:.3g}')} |",
        f"| model, {k} calls of {n:,} | {_mm(m['per_voltage_s'], '{:.3g}')} |",
        "",
        "| physics route / model route (target >= 100x) | model in one call | model in calls per voltage |",
        "|---|---|---|",
    ]
    for label, key in (("without CLAHE", "without_clahe_s"), ("with CLAHE", "with_clahe_s")):
        a, b = r["ratios"][f"{key}/one_call_s"], r["ratios"][f"{key}/per_voltage_s"]
        lines.append(f"| {label} | {_ratio(a, 0)} | {_ratio(b, 0)} |")
    return lines


def _table_refinement(r: dict[str, Any]) -> list[str]:
    lines = [
        f"kikuchipy's refine_orientation (defaults, Nelder-Mead), {r['patterns']} de-ebsd Ni patterns at "
        f"{r['energy']:g} kV, starts {r['start_error_deg']['mean']:.2f} deg off, alternated, {r['repeats']} pairs.",
        "",
        "| master pattern | patterns/s | refined error mean / median / max (deg) | evaluations per pattern |",
        "|---|---|---|---|",
    ]
    for name, label in (("physics", "physics (de-ebsd Ni)"), ("ml", "MLMasterPattern (shipped)")):
        x = r["routes"][name]
        d = x["disorientation_deg"]
        lines.append(
            f"| {label} | {_mm(x['patterns_per_s'], '{:,.1f}')} | {d['mean']:.3f} / {d['median']:.3f} / "
            f"{d['max']:.3f} | {x['mean_evaluations']:.0f} |"
        )
    lines += ["", f"Speed against the ML master pattern / against the physics one: {_ratio(r['ratio'])}."]
    return lines


def _table_bobyqa(r: dict[str, Any]) -> list[str]:
    lines = [
        f"kikuchipy_gen.refinement.refine_orientations, {r['patterns']} de-ebsd Ni patterns at {r['energy']:g} kV "
        f"refined against their physics master pattern from starts 1 deg off, alternated, {r['repeats']} rounds.",
        "",
        "| method | patterns/s | refined error mean / median / max (deg) | evaluations per pattern |",
        "|---|---|---|---|",
    ]
    for name, x in r["methods"].items():
        d = x["disorientation_deg"]
        lines.append(
            f"| {name} | {_mm(x['patterns_per_s'], '{:,.1f}')} | {d['mean']:.4f} / {d['median']:.4f} / "
            f"{d['max']:.4f} | {x['mean_evaluations']:.0f} |"
        )
    apart = r["ln_bobyqa_from_bobyqa_deg"]
    lines += [
        "",
        f"NLopt's BOBYQA (ln_bobyqa) / Py-BOBYQA (bobyqa) speed: {_ratio(r['ln_bobyqa_over_bobyqa'])}; their "
        f"results apart, pattern by pattern: mean {apart['mean']:.4f}, max {apart['max']:.4f} deg.",
    ]
    return lines


def _table_training(r: dict[str, Any]) -> list[str]:
    # Written before the contiguous route existed, a result has bf16 alone.
    others = [name for name in r.get("routes", {"fp32": {}, "bf16": {}}) if name != "fp32"]
    # Where bf16 was emulated it timed fewer steps (recorded per preset since 2026-11-28).
    bf16_steps = {p.get("steps", {}).get("bf16", r["steps"]) for p in r["presets"].values()} - {r["steps"]}
    fewer = f" ({'/'.join(map(str, sorted(bf16_steps)))} for bf16, emulated on this CPU)" if bf16_steps else ""
    lines = [
        f"Patterns/s of one training step, batch {r['batch_size']}, {r['steps']} steps per timing{fewer}, routes "
        f"alternated, {r['repeats']} rounds. fp32 is the default (on a CPU the encoder and critic channels-last); "
        "bf16 is fp32 under bf16 autocast (emulated on a CPU without AVX-512, and there contiguous: 'auto' "
        "picks that layout for it); contiguous is fp32 in torch's default layout.",
        "",
        "| preset | stage | fp32 patterns/s | " + " | ".join(f"{o} patterns/s | {o} / fp32" for o in others) + " |",
        "|---|---|---|" + "---|---|" * len(others),
    ]
    for name, p in r["presets"].items():
        for stage, row in p["stages"].items():
            cells = [f"{_mm(row[o], '{:,.1f}')} | {_ratio(row[f'{o}_over_fp32'])}" for o in others]
            lines.append(
                f"| {name} ({p['device']}) | {stage} | {_mm(row['fp32'], '{:,.1f}')} | " + " | ".join(cells) + " |"
            )
    return lines


def _table_dictionary(r: dict[str, Any]) -> list[str]:
    lines = [
        f"{r['patterns']} EMsoft Ni patterns (20 kV, CLAHE'd) indexed against lazy dictionaries of fundamental-zone "
        f"grids, each run a fresh process, routes alternated, {r['repeats']} pair(s) per grid (fewer than 5: two "
        "pairs of both grids take 11 minutes on 2 cores, the physics dictionary of 333,227 about 2 of them).",
        "",
        "| orientations | dictionary | seconds | peak RSS GiB (max) | DI error mean / median / max (deg) |",
        "|---|---|---|---|---|",
    ]
    for row in r["grids"]:
        for route in ("physics", "generated"):
            x = row[route]
            d = x["disorientation_deg"]
            lines.append(
                f"| {row['orientations']:,} | {route} | {_mm(x['seconds'], '{:.1f}')} | {x['peak_gib']['max']:.2f} "
                f"| {d['mean']:.2f} / {d['median']:.2f} / {d['max']:.2f} |"
            )
        lines.append(f"| {row['orientations']:,} | physics time / generated time | {_ratio(row['ratio'])} | | |")
    return lines


def _table_memory(r: dict[str, Any]) -> list[str]:
    lines = [
        f"uint8 60x60 patterns written lazily, chunk by chunk; each run a fresh process (peak RSS, imports included), "
        f"{r['repeats']} run(s) per size and route. Target: <= 2 GB and flat.",
        "",
        "| route | patterns | peak RSS GiB | process wall s |",
        "|---|---|---|---|",
    ]
    labels = {"cli": "`kikuchipy-gen generate`", "save": "`get_patterns` + `s.save`"}
    for route, x in r["routes"].items():
        for row in x["sizes"]:
            lines.append(
                f"| {labels.get(route, route)} | {row['patterns']:,} | {_mm(row['peak_gib'], '{:.2f}')} "
                f"| {row['wall_s']['median']:.1f} |"
            )
        first, last = x["sizes"][0], x["sizes"][-1]
        ok = max(row["peak_gib"]["max"] for row in x["sizes"]) * 2**30 <= 2e9
        lines.append(
            f"| {labels.get(route, route)} | {last['patterns']:,} / {first['patterns']:,} | **{x['growth']:.2f}x** "
            f"| {'<= 2 GB' if ok else '> 2 GB'} |"
        )
    return lines


TABLES: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "get_patterns": _table_get_patterns,
    "kernel_stages": _table_kernel_stages,
    "time_vs_orientations": _table_time_vs_orientations,
    "voltage_sweep": _table_voltage_sweep,
    "refinement": _table_refinement,
    "bobyqa": _table_bobyqa,
    "training": _table_training,
    "dictionary": _table_dictionary,
    "memory": _table_memory,
    "memory_profile": _table_memory_profile,
}


def _machine_line(m: dict[str, Any]) -> str:
    # get_patterns_default.py records versions and threads as flat keys, _common.py nested.
    flat_versions = {k: m[k] for k in ("numpy", "torch", "numba", "dask", "kikuchipy") if k in m}
    flat_threads = {k: m[k] for k in m if k.endswith("_threads") or k == "dask_scheduler"}
    versions = ", ".join(f"{k} {v}" for k, v in (m.get("versions") or flat_versions).items() if v)
    threads = ", ".join(f"{k} {v}" for k, v in (m.get("threads") or flat_threads).items() if v is not None)
    load = m.get("load_average")
    load = ", ".join(f"{x:.2f}" for x in load) if load else "unknown"
    return (
        f"{m.get('date', '?')}, {m.get('node', '?')}: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
        f"load average {load}; {versions}; threads: {threads}"
    )


def write_table(results: dict[str, Any]) -> str:
    """The markdown of RESULTS_TABLE.md from a results.json dictionary."""
    lines = [
        "# Benchmark results",
        "",
        "Written by `python benchmarks/run_all.py`; do not edit by hand. Medians with (min-max) over the "
        "repeats; ratios are of alternated pairs.",
        "",
        # With --only, the other sections are older runs': each says when it started.
        f"Last run (the sections below each say when their benchmark started): "
        f"{_machine_line(results.get('machine', {}))}",
    ]
    for bench in BENCHMARKS:
        entry = results.get("benchmarks", {}).get(bench.name)
        lines += ["", f"## {bench.title}", ""]
        if entry is None:
            lines.append(f"Not run (`python benchmarks/run_all.py --only {bench.name}`).")
            continue
        mode = "--quick: a smoke test, not a result" if entry.get("quick") else "full"
        command = " ".join(["python", entry["script"], *entry.get("args", [])])
        lines.append(f"`{command}` ({mode}), {entry['wall_s']:.0f} s.")
        result = entry.get("result")
        if result is None:
            lines.append("")
            lines.append(f"Failed (exit code {entry.get('returncode')}); see `{entry.get('log')}`.")
            continue
        m, run = result.get("machine") or {}, results.get("machine") or {}
        if m and all(m.get(k) == run.get(k) for k in ("node", "cpu", "cores", "versions")):
            # The run's machine: only when this benchmark started, and the load then.
            load = ", ".join(f"{x:.2f}" for x in m.get("load_average") or []) or "unknown"
            lines.append(f"Started {m.get('date', '?')}, load average {load}.")
        elif m:
            lines.append(f"Machine: {_machine_line(m)}")
        lines.append("")
        try:
            lines += TABLES[bench.name](result)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            # A result of another version of the script: say so instead of failing the whole table.
            lines.append(f"Could not tabulate this result ({type(exc).__name__}: {exc}).")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the plots


def write_plots(results: dict[str, Any], out: Path) -> list[Path]:
    """throughput_vs_size.png and time_vs_orientations.png, where their results exist."""
    import matplotlib

    matplotlib.use("Agg")  # a script, with no display; the library never sets a backend
    import matplotlib.pyplot as plt

    written = []
    bench = results.get("benchmarks", {})
    gp = (bench.get("get_patterns") or {}).get("result")
    if gp:
        fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
        sides = [row["detector"][0] for row in gp["sizes"]]
        for key, label, marker in (("kikuchipy_per_s", "kikuchipy", "o"), ("ml_per_s", "MLMasterPattern", "s")):
            med = [statistics.median(row[key]) for row in gp["sizes"]]
            lo = [m - min(row[key]) for m, row in zip(med, gp["sizes"])]
            hi = [max(row[key]) - m for m, row in zip(med, gp["sizes"])]
            ax.errorbar(sides, med, yerr=[lo, hi], marker=marker, capsize=3, label=label)
        ax.set(xscale="log", yscale="log", xlabel="detector side (px)", ylabel="patterns/s (median, min-max)")
        ax.set_xticks(sides, [f"{s}x{s}" for s in sides])
        ax.minorticks_off()
        ax.set_title(f"get_patterns throughput{' (--quick)' if gp.get('quick') else ''}", fontsize=10)
        ax.legend()
        written.append(out / "throughput_vs_size.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    tv = (bench.get("time_vs_orientations") or {}).get("result")
    if tv:
        fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
        n = [row["orientations"] for row in tv["sizes"]]
        for key, label, marker in (("kikuchipy_s", "kikuchipy", "o"), ("ml_s", "MLMasterPattern", "s")):
            s = [row[key] for row in tv["sizes"]]
            med = [x["median"] for x in s]
            ax.errorbar(
                n, med, yerr=[[x["median"] - x["min"] for x in s], [x["max"] - x["median"] for x in s]],
                marker=marker, capsize=3, label=label,
            )  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel="orientations", ylabel="seconds per call (median, min-max)")
        side = tv["detector"]
        ax.set_title(
            f"get_patterns, {side[0]}x{side[1]}, compute=True{' (--quick)' if tv.get('quick') else ''}", fontsize=10
        )
        ax.legend()
        written.append(out / "time_vs_orientations.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    return written


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_outputs(results: dict[str, Any], out: Path, docs_images: Path | None = DOCS_IMAGES) -> None:
    """results.json, RESULTS_TABLE.md and the plots in ``out``; the plots copied to ``docs_images``."""
    out.mkdir(parents=True, exist_ok=True)
    _write_atomically(out / "results.json", json.dumps(results, indent=2))
    _write_atomically(out / "RESULTS_TABLE.md", write_table(results))
    if docs_images is not None:
        docs_images.mkdir(parents=True, exist_ok=True)
    for path in write_plots(results, out):
        if docs_images is not None:
            shutil.copyfile(path, docs_images / FIGURES[path.name])
    print(f"wrote {out / 'results.json'}, {out / 'RESULTS_TABLE.md'} and the plots", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer repeats: a smoke test of everything")
    parser.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME", help=f"run only these: {', '.join(NAMES)}")
    parser.add_argument("--skip", nargs="+", choices=NAMES, default=[], metavar="NAME", help="run all but these")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    parser.add_argument("--table-only", action="store_true", help="rewrite table and plots from results.json")
    args = parser.parse_args()

    sys.path.insert(0, str(HERE))
    from _common import machine_info

    results_path = args.out / "results.json"
    previous = json.loads(results_path.read_text()) if results_path.is_file() else None
    if args.table_only:
        if previous is None:
            raise SystemExit(f"{results_path} does not exist: run the benchmarks first (without --table-only)")
        write_outputs(previous, args.out)
        return
    selected = [b for b in BENCHMARKS if (args.only is None or b.name in args.only) and b.name not in args.skip]
    info = machine_info()
    t0 = time.perf_counter()
    entries = {}
    for bench in selected:
        entries[bench.name] = run_one(bench, args.quick, args.out)
        # Rewritten after each benchmark: an interrupted run keeps what it measured.
        write_outputs(collect(previous, entries, info), args.out)
    failed = [name for name, e in entries.items() if e["returncode"]]
    print(
        f"\n{len(entries)} benchmark(s) in {time.perf_counter() - t0:.0f} s"
        + (f"; FAILED: {', '.join(failed)}" if failed else ""),
        flush=True,
    )
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
