"""Would another blend weight between voltage knots fix the BCE at the unseen voltages?

A geometric model blends the textures of its two neighbouring knots linearly in
kV. Band width goes with the electron wavelength, not the voltage: at 12.5 kV
a blend linear in wavelength would weigh the 15 kV texture 0.575, not 0.5.
This decodes the model at the voltage that gives each blend weight and prints
its BCE above the optimum against the physics at each unseen voltage (200
random test orientations, seed 0, as the evaluation).

    python benchmarks/voltage_blend_check.py MODEL_DIR
"""

from __future__ import annotations

import argparse

from kikuchipy_gen.evaluation.metrics import bce_per_pixel, optimal_bce
from kikuchipy_gen.evaluation.physics import clahe_from_info, physics_patterns
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.sampling import random_rotations

WEIGHTS = (0.3, 0.4, 0.5, 0.575, 0.6, 0.7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    args = parser.parse_args()
    mlmp = MLMasterPattern.load(args.model)
    rot = random_rotations(200, 0)
    clahe = clahe_from_info(mlmp.info.get("preprocessing"))
    knots = mlmp.energies
    print("| kV | " + " | ".join(f"weight {w}" for w in WEIGHTS) + " |")
    print("|---" * (len(WEIGHTS) + 1) + "|")
    for low, high in zip(knots[:-1], knots[1:]):
        kv = (low + high) / 2
        real = physics_patterns(mlmp.reference_master_pattern(kv), rot, mlmp.detector, kv, clahe)
        best = optimal_bce(real)
        gaps = [bce_per_pixel(mlmp.decode(rot, energy=low + w * (high - low)), real) - best for w in WEIGHTS]
        print(f"| {kv:g} | " + " | ".join(f"{g:.4f}" for g in gaps) + " |", flush=True)


if __name__ == "__main__":
    main()
