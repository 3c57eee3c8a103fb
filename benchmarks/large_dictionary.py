"""Dictionary indexing at the paper's density (n = 100, 333,227 orientations), lazily.

Indexes physics test patterns (kikuchipy's EMsoft Ni, 20 kV, CLAHE'd) against two lazy
dictionaries of the full n = 100 grid: physics patterns projected and CLAHE'd chunk by
chunk (:func:`kikuchipy_gen.evaluation.physics_dictionary`), and the shipped model's
generated patterns (:meth:`MLMasterPattern.get_patterns`, decoded chunk by chunk on the
default device). Neither dictionary is ever held whole; prints time and peak memory.

    python benchmarks/large_dictionary.py [--n 100] [--patterns 200]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os
import platform
import resource
import time

import numpy as np
import torch
from orix.quaternion import Rotation

from kikuchipy_gen.evaluation.physics import as_ebsd, physics_dictionary, physics_patterns
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.refinement import disorientation, summarize
from kikuchipy_gen.sampling import sample_orientations
from kikuchipy_gen.sources import KikuchipyNickelSource


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--patterns", type=int, default=200)
    parser.add_argument("--chunk-size", type=int, default=4096)
    args = parser.parse_args()
    print(
        f"# {datetime.date.today()} {platform.node()}, {os.cpu_count()} cores, torch {torch.__version__}"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
    )
    mlmp = MLMasterPattern.from_pretrained()
    det, phase = mlmp.detector, mlmp.phase
    t0 = time.perf_counter()
    grid = sample_orientations(phase.point_group, n=args.n)
    print(
        f"grid n = {args.n}: {grid.size:,} orientations ({time.perf_counter() - t0:.1f} s); "
        f"peak memory so far {_peak_gib():.2f} GiB"
    )
    q = np.random.default_rng(0).standard_normal((args.patterns, 4))
    test = Rotation(q / np.linalg.norm(q, axis=1, keepdims=True))
    emsoft = KikuchipyNickelSource().master_pattern(20)
    experimental = as_ebsd(physics_patterns(emsoft, test, det, 20), test, phase, det)
    dictionaries = {
        "physics (EMsoft Ni, projected + CLAHE per chunk)": physics_dictionary(
            emsoft, grid, det, 20, chunk_size=args.chunk_size
        ),
        f"generated (shipped model, {'cuda' if torch.cuda.is_available() else 'cpu'})": mlmp.get_patterns(
            grid, energy=20.0, chunk_size=args.chunk_size
        ),
    }
    print("| dictionary | time (s) | DI disorientation (deg) | peak memory (GiB) |\n|---|---|---|---|")
    seconds = []
    for name, dictionary in dictionaries.items():
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            xmap = experimental.dictionary_indexing(dictionary, keep_n=1, n_per_iteration=args.chunk_size)
        s = summarize(disorientation(xmap, test, phase))
        seconds.append(time.perf_counter() - t0)
        print(
            f"| {name} | {seconds[-1]:.0f} | mean {s['mean']:.2f}, median {s['median']:.2f}, "
            f"max {s['max']:.1f} | {_peak_gib():.2f} |",
            flush=True,
        )
    print(f"Generated dictionary: {seconds[0] / seconds[1]:.2f}x the speed of the physics one (same run).")


if __name__ == "__main__":
    main()
