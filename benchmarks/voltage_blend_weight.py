"""Between two voltage knots, is the linear blend weight the right one? BCE gap against the weight.

A geometric model holds one learned master pattern per training voltage (knot)
and blends the two neighbouring ones linearly in the voltage between them. The
band width follows the electron wavelength, not the voltage, so a weight linear
in the wavelength might fit the physics better. For each shipped model and each
midpoint between its knots, this script compares the model's patterns with the
physics (its recorded de-ebsd source, CLAHE as in training) for several weights
w, by asking for the voltage ``lo + w * (hi - lo)`` (a weight w at the midpoint),
and prints the BCE above the optimum for each, the wavelength-linear weight
last. Nothing is timed; the same 200 test orientations as ``kikuchipy-gen
evaluate`` (random, seed 0).

    python benchmarks/voltage_blend_weight.py [MODEL ...]

The master patterns come from the default cache (``KIKUCHIPY_GEN_CACHE``) or are
computed (about 30 s each).
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import machine_info, print_header

from kikuchipy_gen.evaluation.metrics import bce_per_pixel, optimal_bce
from kikuchipy_gen.evaluation.physics import clahe_from_info, physics_patterns
from kikuchipy_gen.master_pattern import MLMasterPattern, available_pretrained
from kikuchipy_gen.sampling import random_rotations

WEIGHTS = (0.4, 0.5, 0.55, 0.6, 0.65, 0.7)


def wavelength_nm(kv: float) -> float:
    """Relativistic electron wavelength in nm at ``kv`` kilovolts."""
    volts = kv * 1e3
    return 1.226 / np.sqrt(volts * (1 + 0.9785e-6 * volts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="shipped model names (default: all)")
    args = parser.parse_args()
    print_header(machine_info())
    rot = random_rotations(200, 0)
    for name in args.models or available_pretrained():
        model = MLMasterPattern.from_pretrained(name)
        clahe = clahe_from_info(model.info.get("preprocessing"))
        knots = sorted(model.energies)
        for lo, hi in zip(knots[:-1], knots[1:]):
            mid = (lo + hi) / 2
            real = physics_patterns(model.reference_master_pattern(mid), rot, model.detector, mid, clahe)
            optimum = optimal_bce(real)
            by_wavelength = (wavelength_nm(lo) - wavelength_nm(mid)) / (wavelength_nm(lo) - wavelength_nm(hi))
            gaps = {}
            for w in (*WEIGHTS, by_wavelength):
                gaps[w] = bce_per_pixel(model.decode(rot, energy=lo + w * (hi - lo)), real) - optimum
            best = min(WEIGHTS, key=gaps.get)
            print(
                f"{name} {mid:g} kV: BCE - optimum at w = "
                + ", ".join(f"{w:g}: {gaps[w]:.4f}" for w in WEIGHTS)
                + f"; wavelength-linear w = {by_wavelength:.3f}: {gaps[by_wavelength]:.4f}; best of the grid {best:g}",
                flush=True,
            )


if __name__ == "__main__":
    main()
