"""Helpers shared by the benchmark scripts: provenance, alternation, summaries, JSON.

Not a benchmark itself. Scripts in this folder run as ``python benchmarks/NAME.py``,
so this module is importable as ``_common`` (the script's folder is on ``sys.path``).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

# Versions worth recording when they are installed; a missing one is recorded as None.
_PACKAGES = ("numpy", "torch", "numba", "dask", "kikuchipy", "orix", "de-ebsd", "scikit-image", "kikuchipy-gen")


def machine_info() -> dict[str, Any]:
    """Machine, versions, thread counts, load and date: the header of every result."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    threads: dict[str, Any] = {"omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    # Imported lazily: the memory benchmark's parent process should stay small.
    try:
        import torch

        threads["torch"] = torch.get_num_threads()
    except ImportError:
        pass
    try:
        import numba

        threads["numba"] = numba.get_num_threads()
    except ImportError:
        pass
    try:
        import dask
        import dask.system

        threads["dask"] = dask.system.CPU_COUNT
        threads["dask_scheduler"] = dask.config.get("scheduler", None) or "threads (default)"
    except ImportError:
        pass
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "node": platform.node(),
        "cpu": model,
        "cores": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "versions": versions,
        "threads": threads,
    }


def print_header(info: dict[str, Any]) -> None:
    """One comment line of provenance, as get_patterns_default.py prints it."""
    v = {k: x for k, x in info["versions"].items() if x}
    print(
        f"# {info['date']} {info['cpu']}, {info['cores']} cores, load {info['load_average']}\n"
        f"# {', '.join(f'{k} {x}' for k, x in v.items())}; threads {info['threads']}",
        flush=True,
    )


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def alternate(routes: dict[str, Callable[[], object]], repeats: int, warm_up: bool = True) -> dict[str, list[float]]:
    """Seconds per call of each route, the routes called in turn ``repeats`` times.

    Alternating spreads a slow spell of a shared machine over every route
    instead of one; the warm-up call of each absorbs numba compilation and caches.
    """
    if warm_up:
        for fn in routes.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in routes}
    for _ in range(repeats):
        for name, fn in routes.items():
            times[name].append(timed(fn))
    return times


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min and max of some values (and the values)."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": list(values)}


def ratios(slow: Sequence[float], fast: Sequence[float]) -> dict[str, Any]:
    """Pairwise ratios slow / fast of alternated times (> 1: ``fast`` is faster), summarised."""
    return spread([s / f for s, f in zip(slow, fast)])


def write_json(results: dict[str, Any], path: Path | None) -> None:
    """Write the results atomically: a collector never reads half a file."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=2))
    tmp.replace(path)
    print(f"wrote {path}")


def kept_dictionaries(masters: dict, dict_rot: Any, detector: Any, clahe: Any, max_bytes: int = 512 * 2**20) -> dict:
    """The physics dictionary at each voltage, projected once and held as uint8 when at most ``max_bytes``.

    For a script that indexes against one dictionary many times (the
    evaluation itself projects each voltage's once and holds none).
    """
    import numpy as np

    from kikuchipy_gen.evaluation.physics import physics_dictionary

    keep = dict_rot.size * int(np.prod(detector.shape)) <= max_bytes
    return {e: physics_dictionary(m, dict_rot, detector, e, clahe, keep=keep) for e, m in masters.items()}
