"""Throughput of the training-data pipeline, stage by stage.

Run from the repository root (the numbers land in benchmarks/RESULTS.md by hand,
with the machine and date printed here)::

    python benchmarks/dataset_throughput.py [--patterns 20000] [--dynamical]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from kikuchipy_gen.dataset import build_dataset
from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.preprocessing import preprocess
from kikuchipy_gen.sampling import sample_orientations, split_orientations
from kikuchipy_gen.sources import DynamicalSource, KikuchipyNickelSource, KinematicalSource


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", type=int, default=20_000)
    parser.add_argument("--dynamical", action="store_true", help="also time de-ebsd (uncached)")
    args = parser.parse_args()

    print(
        f"# {datetime.date.today()} {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}"
    )
    rows = []

    rot, dt = _timed(lambda: sample_orientations("m-3m", n=100))
    rows.append(("FZ sampling m-3m n=100 (333,227)", f"{dt:.1f} s"))
    _, dt = _timed(lambda: split_orientations("m-3m", n_train=100))
    rows.append(("train/val/test split n=100/49/47, disjointness verified", f"{dt:.1f} s"))

    mp = KikuchipyNickelSource().master_pattern(20)
    det = default_detector()
    sample = rot[: args.patterns]
    mp.get_patterns(sample[:100], det, compute=True, show_progressbar=False)  # numba warm-up
    s, dt = _timed(lambda: mp.get_patterns(sample, det, compute=True, show_progressbar=False))
    rows.append(("kikuchipy get_patterns 60x60 (EMsoft Ni)", f"{sample.size / dt:,.0f} patterns/s"))
    _, dt = _timed(lambda: preprocess(s))
    rows.append(("rescale + CLAHE (kikuchipy/scikit-image)", f"{sample.size / dt:,.0f} patterns/s"))

    with tempfile.TemporaryDirectory() as tmp:
        _, dt = _timed(
            lambda: build_dataset(Path(tmp) / "b.zarr", KikuchipyNickelSource(), sample, show_progressbar=False)
        )
        rows.append(("build_dataset end to end (project, CLAHE, zarr)", f"{sample.size / dt:,.0f} patterns/s"))

    src = KinematicalSource("ni")
    src.master_pattern(20)
    _, dt = _timed(lambda: src.master_pattern(10))
    rows.append(("kinematical Ni master pattern, half_size 200", f"{dt:.2f} s"))
    if args.dynamical:
        for kv in (10, 20, 30):
            dyn = DynamicalSource("ni", npx=200, cache_dir=None)
            _, dt = _timed(lambda dyn=dyn, kv=kv: dyn.master_pattern(kv))
            rows.append((f"dynamical Ni master pattern (de-ebsd) npx 200, {kv} kV", f"{dt:.1f} s"))

    print("| stage | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
