"""
A five-voltage training dataset
===============================

Build the paper's five-voltage nickel dataset and show patterns per voltage.

The paper trains on EMsoft patterns of Ni at 10, 15, 20, 25 and 30 kV. Here the
dynamical master patterns come from de-ebsd (an EMsoft port in PyTorch that
runs on a CPU; ``pip install 'kikuchipy-gen[dynamical]'``), or from kikuchipy's
kinematical simulator with ``--source kinematical``.

This script is not run when the documentation is built (it takes minutes).
Run it from the repository root::

    python examples/ni_five_voltages.py                 # small grid, n = 20
    python examples/ni_five_voltages.py --n 100         # the paper's 333,227 per voltage

It writes ``ni_5kV.zarr`` and ``ni_5kV.png`` (same orientations down each
column, so the narrowing of the bands with voltage shows) into ``--out``. For
the kinematical source it also plots the fraction of the sphere covered by
Kikuchi bands, a band-width measure that holds there because the Lambert
projection is equal-area and the kinematical background is flat; dynamical
master patterns have a structured background, so that measure does not apply.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from kikuchipy_gen.dataset import build_dataset
from kikuchipy_gen.plotting import plot_patterns_per_energy
from kikuchipy_gen.sampling import split_orientations
from kikuchipy_gen.sources import DynamicalSource, KinematicalSource

VOLTAGES = [10.0, 15.0, 20.0, 25.0, 30.0]


def band_coverage(master_pattern, fraction: float = 0.05) -> float:
    """Fraction of the sphere brighter than the background by ``fraction`` of the range."""
    data = np.asarray(master_pattern.data, dtype=float)
    background = np.median(data)
    return float(np.mean(data > background + fraction * (data.max() - background)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[3])
    parser.add_argument("--source", choices=("dynamical", "kinematical"), default="dynamical")
    parser.add_argument("--phase", default="ni", help="ni, pt, ... or a CIF file")
    parser.add_argument("--n", type=int, default=20, help="training grid density")
    parser.add_argument("--npx", type=int, default=200, help="dynamical Lambert half-width")
    parser.add_argument("--out", type=Path, default=Path("examples_output"))
    args = parser.parse_args()

    if args.source == "dynamical":
        source = DynamicalSource(args.phase, npx=args.npx)
    else:
        source = KinematicalSource(args.phase)
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    splits = split_orientations(source.phase.point_group, n_train=args.n)
    ds = build_dataset(args.out / f"{args.phase}_5kV.zarr", source, splits, VOLTAGES, overwrite=True)
    print(f"{ds} in {time.perf_counter() - t0:.0f} s (master patterns cached in the source's cache)")

    fig = plot_patterns_per_energy(ds, "test", n_orientations=5)
    fig.savefig(args.out / f"{args.phase}_5kV.png", dpi=110)

    if args.source == "kinematical":
        coverage = [band_coverage(source.master_pattern(v)) for v in VOLTAGES]
        for v, c in zip(VOLTAGES, coverage):
            print(f"{v:4.0f} kV: bands cover {100 * c:.1f}% of the sphere")
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot(VOLTAGES, 100 * np.asarray(coverage), "o-")
        ax.set_xlabel("Beam energy (kV)")
        ax.set_ylabel("Sphere covered by bands (%)")
        ax.set_title(f"kinematical {args.phase}: bands narrow with kV", fontsize=9)
        fig.tight_layout()
        fig.savefig(args.out / f"{args.phase}_5kV_bands.png", dpi=110)
    print(f"Figures in {args.out}/")


if __name__ == "__main__":
    main()
