"""How close can a blend of two physics master patterns come to the one between them?

A geometric model blends the learned master patterns of its two neighbouring
voltage knots. Even with perfect knots, that blend lays two band widths over
each other. This measures that floor with the physics alone: the master pattern
at ``--target`` kV against the linear blend (in kV) of the master patterns at
two knot voltages, for several knot pairs, each standardised first (a learned
texture has no absolute scale). Both are projected onto the model's detector and
preprocessed as in training; printed: BCE above the optimum (issue 15's bound is
0.015 for a model) and band widths. Nothing is timed; 200 random orientations
(seed 0), as ``kikuchipy-gen evaluate``.

    python benchmarks/voltage_knot_floor.py corundum-10-30kv --target 12.5 --pairs 10,15 12,15 12,14 12,13

Master patterns come from the model's recorded source (the default cache, or
computed: 40-110 s each for de-ebsd at npx 200 on 2 cores).
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import machine_info, print_header

from kikuchipy_gen.evaluation.metrics import band_width, bce_per_pixel, optimal_bce
from kikuchipy_gen.evaluation.physics import clahe_from_info, physics_patterns
from kikuchipy_gen.lambert import lambert_master_pattern
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.sampling import random_rotations


def _pair(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a knot pair is LOW,HIGH in kV, got {text!r}") from None
    if not low < high:
        raise argparse.ArgumentTypeError(f"a knot pair needs LOW < HIGH, got {text!r}")
    return low, high


def _standardised(data: np.ndarray) -> np.ndarray:
    data = np.asarray(data, dtype=np.float64)
    return (data - data.mean()) / data.std()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a shipped model's name or a model folder (for its source and detector)")
    parser.add_argument("--target", type=float, required=True, help="voltage to reproduce (kV)")
    parser.add_argument("--pairs", type=_pair, nargs="+", required=True, help="knot pairs LOW,HIGH (kV)")
    parser.add_argument("--n", type=int, default=200, help="test orientations (default 200)")
    args = parser.parse_args()
    for low, high in args.pairs:
        if not low <= args.target <= high:
            parser.error(f"the target {args.target:g} kV is not between the knots {low:g} and {high:g} kV")
    if args.n < 1:
        parser.error(f"--n must be >= 1, got {args.n}")
    try:
        mlmp = MLMasterPattern.from_pretrained(args.model)
    except ValueError:
        mlmp = MLMasterPattern.load(args.model)
    print_header(machine_info())
    rot = random_rotations(args.n, 0)
    clahe = clahe_from_info(mlmp.info.get("preprocessing"))
    target = mlmp.reference_master_pattern(args.target)
    real = physics_patterns(target, rot, mlmp.detector, args.target, clahe)
    optimum = optimal_bce(real)
    print(f"{args.model}, {args.target:g} kV: physics band width {band_width(real):.3f} px, optimum BCE {optimum:.4f}")
    print("| knots (kV) | weight of the upper | BCE above the optimum | band width (px) |")
    print("|---|---|---|---|")
    masters: dict[float, np.ndarray] = {}
    for low, high in args.pairs:
        for kv in (low, high):
            if kv not in masters:
                masters[kv] = _standardised(mlmp.reference_master_pattern(kv).data)
        w = (args.target - low) / (high - low)
        blend = lambert_master_pattern((1 - w) * masters[low] + w * masters[high], mlmp.phase, args.target)
        generated = physics_patterns(blend, rot, mlmp.detector, args.target, clahe)
        gap = bce_per_pixel(generated, real) - optimum
        print(f"| {low:g}, {high:g} | {w:.3f} | {gap:.4f} | {band_width(generated):.3f} |", flush=True)


if __name__ == "__main__":
    main()
