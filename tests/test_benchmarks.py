"""benchmarks/run_all.py's collection, table and plots, on fabricated results (nothing is timed)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def run_all():
    # The scripts import their helper as ``_common`` (their folder is on sys.path when run).
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("run_all", BENCHMARKS / "run_all.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["run_all"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("run_all", None)
        sys.path.remove(str(BENCHMARKS))


def _spread(*values: float) -> dict:
    v = sorted(values)
    return {"median": v[len(v) // 2], "min": v[0], "max": v[-1], "values": list(values)}


MACHINE = {
    "date": "2026-01-01T00:00:00",
    "node": "test",
    "cpu": "a CPU",
    "cores": 2,
    "load_average": [0.1, 0.2, 0.3],
    "versions": {"torch": "2.0", "kikuchipy": "0.13.1", "de-ebsd": None},
    "threads": {"torch": 2, "numba": 2},
}


def _results() -> dict:
    dis = {"mean": 0.5, "median": 0.4, "max": 1.2, "std": 0.1, "n": 10}
    gp = {
        "repeats": 3,
        "quick": True,
        "sizes": [
            {
                "detector": [side, side],
                "rotations": 100,
                "kikuchipy_per_s": [1000.0 / k, 1100.0 / k, 900.0 / k],
                "ml_per_s": [2000.0 / k, 2100.0 / k, 1900.0 / k],
                "median_ratio": 2.0,
                "min_ratio": 1.9,
                "max_ratio": 2.1,
                "best_ratio": 1.95,
            }
            for k, side in ((1, 60), (4, 120), (16, 240))
        ],
        "overhead_1000": {
            "chunks": 2,
            "repeats": 15,
            "call_s": 0.1,
            "decode_s": 0.08,
            "overhead_s": 0.02,
            "overhead_fraction": 0.2,
        },
    }
    tv = {
        "repeats": 3,
        "detector": [60, 60],
        "sizes": [
            {
                "orientations": n,
                "kikuchipy_s": _spread(n / 5000, n / 4000, n / 6000),
                "ml_s": _spread(n / 10000, n / 9000, n / 11000),
                "ratio": _spread(2.0, 1.8, 2.2),
            }
            for n in (100, 1000, 10000)
        ],
    }
    vs = {
        "orientations": 1000,
        "energies": [10.0, 20.0, 30.0],
        "physics_source": {"npx": 200, "mc_electrons": 200000},
        "repeats": 5,
        "physics_repeats": 2,
        "physics": {k: _spread(80.0, 90.0) for k in ("master_patterns_s", "without_clahe_s", "with_clahe_s")},
        "model": {"one_call_s": _spread(0.5, 0.6), "per_voltage_s": _spread(0.7, 0.8)},
        "ratios": {
            f"{p}/{m}": {"median": 123.0, "min": 100.0, "max": 150.0}
            for p in ("without_clahe_s", "with_clahe_s")
            for m in ("one_call_s", "per_voltage_s")
        },
    }
    refinement = {
        "patterns": 10,
        "energy": 20.0,
        "repeats": 3,
        "start_error_deg": dis,
        "routes": {
            name: {"patterns_per_s": _spread(30.0, 31.0), "disorientation_deg": dis, "mean_evaluations": 80.0}
            for name in ("physics", "ml")
        },
        "ratio": _spread(0.5, 0.6),
    }
    bobyqa = {
        "patterns": 10,
        "energy": 20.0,
        "repeats": 2,
        "methods": {
            name: {"patterns_per_s": _spread(k, k), "disorientation_deg": dis, "mean_evaluations": 40.0}
            for name, k in (("bobyqa", 10.0), ("ln_bobyqa", 100.0), ("nelder-mead", 40.0))
        },
        "ln_bobyqa_over_bobyqa": _spread(9.0, 10.0, 11.0),
        "ln_bobyqa_from_bobyqa_deg": dis,
    }
    training = {
        "batch_size": 16,
        "steps": 3,
        "repeats": 2,
        "routes": {"fp32": {}, "bf16": {"mixed_precision": True}, "contiguous": {"memory_format": "contiguous"}},
        "presets": {
            "geometric": {
                "device": "cpu",
                "stages": {
                    s: {
                        "fp32": _spread(50.0),
                        "bf16": _spread(80.0),
                        "bf16_over_fp32": _spread(1.6),
                        "contiguous": _spread(35.0),
                        "contiguous_over_fp32": _spread(0.7),
                    }
                    for s in ("cvae", "critic", "gan")
                },
            }
        },
    }
    dictionary = {
        "patterns": 20,
        "repeats": 1,
        "grids": [
            {
                "grid_n": 10,
                "orientations": 361,
                "physics": {"seconds": _spread(9.0), "peak_gib": _spread(1.0), "disorientation_deg": dis},
                "generated": {"seconds": _spread(1.0), "peak_gib": _spread(1.0), "disorientation_deg": dis},
                "ratio": _spread(9.0),
            }
        ],
    }
    memory = {
        "repeats": 1,
        "routes": {
            route: {
                "sizes": [{"patterns": n, "peak_gib": _spread(0.7), "wall_s": _spread(10.0)} for n in (2000, 10000)],
                "growth": 1.01,
            }
            for route in ("cli", "save")
        },
    }
    kernel = {
        "patterns": 256,
        "repeats": 3,
        "model": "<MLMasterPattern ni>",
        "us_per_pattern": {
            "projection": _spread(40.0),
            "+ MLP": _spread(70.0),
            "+ sigmoid (the kernel)": _spread(80.0),
        },
    }
    mib = 2**20
    memory_profile = {
        "sizes": [2000, 10000],
        "phases": [
            {
                "phase": "get_patterns (lazy)",
                "small": {"held": 2 * mib, "peak_above_before": mib},
                "large": {"held": 4 * mib, "peak_above_before": 3 * mib},
                "held_bytes_per_pattern": 262.1,
            }
        ],
        "held": {"xmap rotations": 320000},
    }
    results = {
        "get_patterns": gp,
        "kernel_stages": kernel,
        "time_vs_orientations": tv,
        "voltage_sweep": vs,
        "refinement": refinement,
        "bobyqa": bobyqa,
        "training": training,
        "dictionary": dictionary,
        "memory": memory,
        "memory_profile": memory_profile,
    }
    return {
        "machine": MACHINE,
        "benchmarks": {
            name: {
                "script": f"benchmarks/{name}.py",
                "args": ["--quick"],
                "quick": True,
                "wall_s": 12.0,
                "returncode": 0,
                "log": f"benchmarks/results/logs/{name}.log",
                "result": {"machine": MACHINE, **r},
            }
            for name, r in results.items()
        },
    }


def test_table_has_every_benchmark_ratio_and_header(run_all):
    text = run_all.write_table(_results())
    for bench in run_all.BENCHMARKS:
        assert f"## {bench.title}" in text
    assert "Could not tabulate" not in text and "Failed" not in text
    assert "2026-01-01T00:00:00" in text and "kikuchipy 0.13.1" in text and "torch 2" in text
    assert "load average 0.10, 0.20, 0.30" in text
    assert "**2.00** (1.90-2.10)" in text  # get_patterns ratio, median (min-max)
    assert "**123** (100-150)" in text  # voltage sweep ratio
    assert "| ln_bobyqa | 100.0 (100.0-100.0) |" in text and "**10.00** (9.00-11.00)" in text
    assert "**1.01x**" in text and "<= 2 GB" in text  # memory growth and target
    assert "| + MLP | 70.0 (70.0-70.0) | 30.0 | 38% |" in text  # a kernel stage's cost and share
    assert "| get_patterns (lazy) | 2.0 | 4.0 | 1.0 | 3.0 | 262 |" in text  # a memory phase
    assert "| xmap rotations | 32 |" in text  # bytes per pattern at the larger size
    assert "a smoke test, not a result" in text
    # Every table row has as many cells as its header.
    for block in text.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        if rows:
            assert len({row.count("|") for row in rows}) == 1, block


def test_training_table_reads_both_result_versions(run_all):
    results = _results()
    text = run_all.write_table(results)
    assert "| geometric (cpu) | cvae | 50.0 (50.0-50.0) | 80.0 (80.0-80.0) | **1.60** (1.60-1.60) |" in text
    assert "| 35.0 (35.0-35.0) | **0.70** (0.70-0.70) |" in text
    # Written before the contiguous route: bf16 alone, no "routes".
    training = results["benchmarks"]["training"]["result"]
    del training["routes"]
    for row in training["presets"]["geometric"]["stages"].values():
        del row["contiguous"], row["contiguous_over_fp32"]
    old = run_all.write_table(results)
    assert "contiguous patterns/s" in text and "contiguous patterns/s" not in old
    assert "| geometric (cpu) | cvae | 50.0 (50.0-50.0) | 80.0 (80.0-80.0) | **1.60** (1.60-1.60) |" in old
    assert "Could not tabulate" not in old
    # The steps per timing are said; an emulated bf16 route's fewer ones too.
    assert "3 steps per timing, routes" in text and "for bf16" not in text
    training["presets"]["geometric"]["steps"] = {"fp32": 3, "bf16": 1}
    fewer = run_all.write_table(results)
    assert "3 steps per timing (1 for bf16, emulated on this CPU), routes" in fewer


def test_table_reads_get_patterns_default_flat_machine_record(run_all):
    results = _results()
    flat = {"date": "2026-01-02T00:00:00", "cpu": "another CPU", "cores": 2, "torch": "2.1", "torch_threads": 2}
    results["benchmarks"]["get_patterns"]["result"]["machine"] = flat
    text = run_all.write_table(results)
    assert (
        "Machine: 2026-01-02T00:00:00" in text
        and "Started 2026-01-01T00:00:00, load average 0.10" in text
        and "torch 2.1" in text
        and "torch_threads 2" in text
    )


def test_table_says_what_is_missing_or_failed(run_all):
    results = _results()
    del results["benchmarks"]["memory"]
    failed = results["benchmarks"]["training"]
    del failed["result"]
    failed["returncode"] = 1
    results["benchmarks"]["refinement"]["result"] = {"unexpected": 1}  # another script version's output
    text = run_all.write_table(results)
    assert "Not run (`python benchmarks/run_all.py --only memory`)" in text
    assert "Failed (exit code 1)" in text
    assert "Could not tabulate this result (KeyError" in text


def test_collect_keeps_previous_results_of_benchmarks_not_rerun(run_all):
    previous = _results()
    new_entry = {"script": "x", "args": [], "quick": False, "wall_s": 1.0, "returncode": 0, "result": {}}
    info = {**MACHINE, "date": "2026-02-02T00:00:00"}
    merged = run_all.collect(previous, {"memory": new_entry}, info)
    assert merged["machine"] == info
    assert merged["benchmarks"]["memory"] is new_entry
    assert merged["benchmarks"]["get_patterns"] == previous["benchmarks"]["get_patterns"]
    assert list(merged["benchmarks"]) == [b for b in run_all.NAMES if b in merged["benchmarks"]]
    assert run_all.collect(None, {"memory": new_entry}, info)["benchmarks"] == {"memory": new_entry}


def test_outputs_written(run_all, tmp_path):
    images = tmp_path / "images"
    run_all.write_outputs(_results(), tmp_path / "results", docs_images=images)
    out = tmp_path / "results"
    assert json.loads((out / "results.json").read_text()) == _results()
    assert (out / "RESULTS_TABLE.md").read_text() == run_all.write_table(_results())
    for name, copy in run_all.FIGURES.items():
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
        assert (images / copy).read_bytes() == (out / name).read_bytes()


def test_run_one_collects_a_scripts_json_into_results_outside_the_repository(run_all, tmp_path):
    script = tmp_path / "bench.py"
    script.write_text(
        "import json, sys\n"
        "print('measuring')\n"
        "path = sys.argv[sys.argv.index('--json') + 1]\n"
        "open(path, 'w').write(json.dumps({'quick': '--quick' in sys.argv, 'value': 3}))\n"
    )
    entry = run_all.run_one(run_all.Benchmark("x", str(script), "X"), quick=True, out=tmp_path / "out")
    assert entry["returncode"] == 0 and entry["result"] == {"quick": True, "value": 3}
    assert entry["log"] == str(tmp_path / "out" / "logs" / "x.log")
    assert "measuring" in (tmp_path / "out" / "logs" / "x.log").read_text()
    script.write_text("raise SystemExit(3)\n")
    failed = run_all.run_one(run_all.Benchmark("x", str(script), "X"), quick=False, out=tmp_path / "out")
    assert failed["returncode"] == 3 and "result" not in failed


@pytest.mark.parametrize(
    ("script", "table", "source"),
    [
        ("kernel_profile.py", "STAGES", "kikuchipy_gen/models/_cpu_decode.py"),
        ("mutation_check.py", "MUTATIONS", None),
        ("kernel_stages.py", "CUTS", "kikuchipy_gen/models/_cpu_decode.py"),
    ],
)
def test_string_edits_of_the_benchmarks_still_find_their_code(script, table, source):
    """The kernel profiles and the mutation check edit the package by string replacement; each string occurs once.

    A change to the kernel that moves one of them makes those scripts fail
    (the profile, inside ``run_all.py``, only in its table): caught here.
    """
    name = f"_edits_{table}"
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / script)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
        sys.path.remove(str(BENCHMARKS))
    root = BENCHMARKS.parent
    if table == "STAGES":
        edits = [(source, old) for _, replacements in module.STAGES.values() for old, _ in replacements]
    elif table == "CUTS":
        edits = [(source, anchor) for _, anchor, _ in module.CUTS]
    else:
        edits = [(f"kikuchipy_gen/{m.path}", m.old) for m in module.MUTATIONS]
    assert edits
    for path, old in edits:
        assert (root / path).read_text().count(old) == 1, (path, old)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kernel_ab.py", "--old", "/nonexistent"], "kikuchipy_gen/models/_cpu_decode.py does not exist"),
        (["kernel_ab.py", "--old", str(BENCHMARKS.parent), "--repeats", "3"], "--repeats must be >= 5"),
        (["memory_profile.py", "--n", "1000", "500"], "two increasing positive numbers"),
        (["refinement_chunks.py", "--sizes", "0"], "--sizes and --repeats must be >= 1"),
        (["bobyqa_routes.py", "--n", "0"], "--n and --repeats must be >= 1"),
        (["channels_last_probe.py", "--limit", "0"], "--limit must be > 0 and --repeats >= 1"),
        (["dictionary_pass.py", "--n", "0"], "--n and --repeats must be >= 1"),
        (["dataset_build_pieces.py", "--repeats", "0"], "--patterns and --repeats must be >= 1"),
        (["basin_search_cost.py", "--repeats", "0"], "--repeats must be >= 1"),
        (["checkpoint_cost.py", "--repeats", "0"], "--repeats must be >= 1"),
    ],
)
def test_benchmark_scripts_refuse_bad_arguments_before_any_work(args, message):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / args[0]), *args[1:]], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and message in result.stderr
