"""A voltage sweep: the same orientations at many beam energies, physics against the model.

1,000 orientations at 21 voltages (10-30 kV in 1 kV steps), 60x60, the shipped model's
detector. Routes:

* physics: for each voltage a fresh de-ebsd master pattern (the source the shipped model
  learned from, ``npx`` 200, its cache disabled), then kikuchipy's ``get_patterns``;
  reported without and with the rescaling + CLAHE that makes the model's kind of output;
* the model in one call: ``MLMasterPattern.get_patterns`` with one energy per rotation
  (21,000 patterns);
* the model in 21 calls of 1,000, one per voltage.

A physics sweep takes minutes (about 4 s per master pattern on a quiet machine), so it
is timed fewer times than the model (``--physics-repeats``, default 2; the model 5),
each physics sweep between two rounds of the model routes. Its ratio to the model is
then the median of the physics sweeps over the model's median; the range pairs the
extremes (slowest physics / fastest model, fastest physics / slowest model).
Issue 16's target is >= 100x.

    python benchmarks/voltage_sweep.py [--quick] [--json PATH]

Full: about 4-8 minutes on 2 quiet cores. ``--quick``: 200 orientations at 3 voltages
(10, 20, 30 kV) and a coarse de-ebsd master pattern (``npx`` 20, 5,000 electrons),
1 physics sweep and 3 model rounds: its physics time is far below the real route's
and its ratio says nothing; it checks the script.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from _common import machine_info, print_header, spread, timed, write_json
from orix.quaternion import Rotation

from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.preprocessing import preprocess
from kikuchipy_gen.sources import KikuchipyNickelSource, source_from_dict


def _physics_sweep(source, rot: Rotation, detector, energies: np.ndarray) -> dict[str, float]:
    """Seconds of each stage of one physics sweep, summed over the voltages."""
    t = {"master_patterns_s": 0.0, "projection_s": 0.0, "clahe_s": 0.0}
    for kv in energies:
        t0 = time.perf_counter()
        mp = source.master_pattern(float(kv))
        t1 = time.perf_counter()
        s = mp.get_patterns(rot, detector, energy=float(kv), compute=True, show_progressbar=False)
        t2 = time.perf_counter()
        preprocess(s)
        t3 = time.perf_counter()
        t["master_patterns_s"] += t1 - t0
        t["projection_s"] += t2 - t1
        t["clahe_s"] += t3 - t2
    t["without_clahe_s"] = t["master_patterns_s"] + t["projection_s"]
    t["with_clahe_s"] = t["without_clahe_s"] + t["clahe_s"]
    return t


def _ratio(slow: list[float], fast: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(slow) / statistics.median(fast),
        "min": min(slow) / max(fast),
        "max": max(slow) / min(fast),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 orientations, 3 voltages, a coarse master pattern")
    parser.add_argument("--n", type=int, help="orientations (default 1,000; 200 quick)")
    parser.add_argument("--repeats", type=int, help="rounds of the model routes (default 5; 3 quick)")
    parser.add_argument("--physics-repeats", type=int, help="physics sweeps (default 2; 1 quick)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    n = args.n or (200 if args.quick else 1_000)
    repeats = args.repeats or (3 if args.quick else 5)
    physics_repeats = min(args.physics_repeats or (1 if args.quick else 2), repeats)
    energies = np.array([10.0, 20.0, 30.0]) if args.quick else np.arange(10.0, 30.5, 1.0)

    info = machine_info()
    print_header(info)
    mlmp = MLMasterPattern.from_pretrained()
    recipe = dict(mlmp.info["source"])
    if args.quick:
        recipe.update(npx=20, mc_electrons=5_000)
    source = source_from_dict(recipe, cache_dir=None)  # fresh: no cached master pattern is read
    det = mlmp.detector
    rot = Rotation.random(n)
    rot_all = Rotation(np.tile(rot.data, (len(energies), 1)))
    kv_all = np.repeat(energies, n)

    def one_call() -> None:
        mlmp.get_patterns(rot_all, energy=kv_all, compute=True, show_progressbar=False)

    def per_voltage() -> None:
        for kv in energies:
            mlmp.get_patterns(rot, energy=float(kv), compute=True, show_progressbar=False)

    print(
        f"{n:,} orientations x {len(energies)} voltages ({energies[0]:g}-{energies[-1]:g} kV), "
        f"physics npx {recipe['npx']}, {recipe['mc_electrons']:,} electrons; {physics_repeats} physics sweep(s), "
        f"{repeats} model rounds",
        flush=True,
    )
    one_call(), per_voltage()  # warm-up: numba compilation
    # kikuchipy's projection and CLAHE compile and warm up on the shipped EMsoft master
    # pattern: a de-ebsd one would cost a whole master pattern.
    emsoft = KikuchipyNickelSource().master_pattern(20)
    preprocess(emsoft.get_patterns(rot[:10], det, energy=20, compute=True, show_progressbar=False))
    model: dict[str, list[float]] = {"one_call_s": [], "per_voltage_s": []}
    physics: list[dict[str, float]] = []
    for r in range(repeats):
        model["one_call_s"].append(timed(one_call))
        model["per_voltage_s"].append(timed(per_voltage))
        if r < physics_repeats:
            physics.append(_physics_sweep(source, rot, det, energies))
            print(f"physics sweep {r + 1}: {physics[-1]['with_clahe_s']:.1f} s", flush=True)
    phys = {key: [p[key] for p in physics] for key in physics[0]}
    results = {
        "machine": info,
        "quick": args.quick,
        "orientations": n,
        "energies": energies.tolist(),
        "patterns": n * len(energies),
        "physics_source": recipe,
        "repeats": repeats,
        "physics_repeats": physics_repeats,
        "physics": {key: spread(v) for key, v in phys.items()},
        "model": {key: spread(v) for key, v in model.items()},
        "ratios": {
            f"{p}/{m}": _ratio(phys[p], model[m])
            for p in ("without_clahe_s", "with_clahe_s")
            for m in ("one_call_s", "per_voltage_s")
        },
    }
    print("| route | seconds, median (min-max) | runs |\n|---|---|---|")
    rows = [
        ("physics: master patterns", phys["master_patterns_s"]),
        ("physics: master patterns + projection", phys["without_clahe_s"]),
        ("physics: master patterns + projection + CLAHE", phys["with_clahe_s"]),
        (f"model, one call ({n * len(energies):,} patterns)", model["one_call_s"]),
        (f"model, {len(energies)} calls of {n:,}", model["per_voltage_s"]),
    ]
    for name, v in rows:
        print(f"| {name} | {statistics.median(v):.3g} ({min(v):.3g}-{max(v):.3g}) | {len(v)} |")
    for key, r in results["ratios"].items():
        print(f"{key}: {r['median']:.0f}x ({r['min']:.0f}-{r['max']:.0f})")
    write_json(results, args.json)


if __name__ == "__main__":
    main()
