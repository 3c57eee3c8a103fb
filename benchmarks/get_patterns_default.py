"""The default ``get_patterns`` path against kikuchipy's, like with like (issue 16).

Both calls are made as a user would make them, with their defaults and
``compute=True, show_progressbar=False``: kikuchipy's
``EBSDMasterPattern.get_patterns`` projecting the EMsoft Ni master pattern at
20 kV, and ``MLMasterPattern.from_pretrained().get_patterns`` at its default
energy (the highest, 30 kV), each returning an in-memory ``EBSD``, each with
its own default chunking and dask's default (threaded) scheduler. The two
are alternated, call by call, so a slow spell of a shared machine falls on
both; the ratio of each pair is reported, with its median and range.

Also measured: 120x120 and 240x240 detectors (fewer rotations), and the
per-call overhead of 1,000 rotations: the part of the call that is not the
decoding itself (wall time minus the numba kernel's time on the same
rotations with the same threads, dask's default).

    python benchmarks/get_patterns_default.py [--quick] [--repeats 5] [--json results.json]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from pathlib import Path

import dask
import numpy as np
import torch
from _common import alternate, machine_info, print_header, timed, write_json
from orix.quaternion import Rotation

from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.sources import KikuchipyNickelSource

# (detector side, rotations, rotations with --quick): a few seconds a call.
SIZES = ((60, 20_000, 4_000), (120, 5_000, 1_000), (240, 1_250, 250))


def _alternate(a: Callable[[], object], b: Callable[[], object], repeats: int) -> tuple[list[float], list[float]]:
    times = alternate({"a": a, "b": b}, repeats)
    return times["a"], times["b"]


def _summary(n: int, kp: list[float], ml: list[float]) -> dict:
    ratios = [k / m for k, m in zip(kp, ml)]
    return {
        "rotations": n,
        "kikuchipy_per_s": [n / t for t in kp],
        "ml_per_s": [n / t for t in ml],
        "ratios": ratios,
        "median_ratio": statistics.median(ratios),
        "min_ratio": min(ratios),
        "max_ratio": max(ratios),
        # Best against best: on a shared machine the least disturbed call of each.
        "best_ratio": min(kp) / min(ml),
    }


def _overhead(mlmp: MLMasterPattern, n: int, repeats: int) -> dict:
    """Wall time of get_patterns for n rotations, and the decoding inside it."""
    rot = Rotation.random(n)
    energies = np.full(n, mlmp.energy_range[1])
    z = torch.zeros(n, mlmp.config.latent_dim)
    detector = mlmp.detector
    runtime = mlmp._runtime
    chunks = mlmp.get_patterns(rot).data.chunks[0]
    bounds = np.cumsum((0,) + chunks)

    def decode_only() -> None:
        # The same chunks as get_patterns, run by dask's threads, minus everything else.
        parts = [
            dask.delayed(runtime.decode)(rot.data[a:b], energies[a:b], z[a:b], detector, torch.device("cpu"))
            for a, b in zip(bounds[:-1], bounds[1:])
        ]
        dask.compute(*parts)

    def call() -> None:
        mlmp.get_patterns(rot, compute=True, show_progressbar=False)

    t_decode, t_call = _alternate(decode_only, call, repeats)
    t_build = [timed(lambda: mlmp.get_patterns(rot)) for _ in range(repeats)]
    call_s, decode_s, build_s = (statistics.median(t) for t in (t_call, t_decode, t_build))
    return {
        "rotations": n,
        "chunks": len(chunks),
        "repeats": repeats,
        "call_s": call_s,
        "decode_s": decode_s,
        "overhead_s": call_s - decode_s,
        "overhead_fraction": (call_s - decode_s) / call_s,
        # Of that, the lazy call alone: checks, graph, crystal map, signal.
        "build_s": build_s,
        "build_fraction": build_s / call_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rotations and 3 repeats (a smoke test)")
    parser.add_argument("--repeats", type=int, default=None, help="alternating pairs per size (default 5; 3 quick)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)

    info = machine_info()
    print_header(info)
    mlmp = MLMasterPattern.from_pretrained()
    physics = KikuchipyNickelSource().master_pattern(20)
    trained = mlmp.detector
    results = {"machine": info, "repeats": repeats, "quick": args.quick, "model": repr(mlmp), "sizes": []}
    print(
        "| detector | rotations | kikuchipy patterns/s (median) | MLMasterPattern patterns/s (median) "
        "| ratio, median (min-max) | best / best |\n|---|---|---|---|---|---|"
    )
    for side, n_full, n_quick in SIZES:
        n = n_quick if args.quick else n_full
        rot = Rotation.random(n)
        # The trained detector's geometry (PC in fractions) at another size;
        # a geometric model takes any detector.
        det = trained.deepcopy()
        det.shape = (side, side)
        kp, ml = _alternate(
            lambda rot=rot, det=det: physics.get_patterns(rot, det, energy=20, compute=True, show_progressbar=False),
            lambda rot=rot, det=det: mlmp.get_patterns(rot, det, compute=True, show_progressbar=False),
            repeats,
        )
        row = {"detector": [side, side], **_summary(n, kp, ml)}
        results["sizes"].append(row)
        print(
            f"| {side}x{side} | {n:,} | {statistics.median(row['kikuchipy_per_s']):,.0f} "
            f"| {statistics.median(row['ml_per_s']):,.0f} "
            f"| **{row['median_ratio']:.2f}** ({row['min_ratio']:.2f}-{row['max_ratio']:.2f}) "
            f"| {row['best_ratio']:.2f} |"
        )
    # A call of 1,000 takes ~0.1 s: more repeats for the same time.
    over = _overhead(mlmp, 1_000, 5 * repeats)
    results["overhead_1000"] = over
    print(
        f"\nper-call overhead, 1,000 rotations at 60x60 ({over['chunks']} chunks): call {over['call_s'] * 1e3:.1f} ms, "
        f"decoding alone {over['decode_s'] * 1e3:.1f} ms, overhead {over['overhead_s'] * 1e3:.1f} ms "
        f"= {100 * over['overhead_fraction']:.1f} % of the call, of which the lazy call (checks, graph, crystal map, "
        f"signal) {over['build_s'] * 1e3:.1f} ms = {100 * over['build_fraction']:.1f} % (medians of {over['repeats']})"
    )
    write_json(results, args.json)


if __name__ == "__main__":
    main()
