"""Why a generated pattern misses where its physics twin refines, when both search several basins.

The evaluation refines each route from up to 8 distinct basins of its own 20
best dictionary matches and keeps the basin of highest NCC
(:func:`kikuchipy_gen.refinement.refine_best_basin`). A few generated patterns
per model still end far from the truth while the physics pattern of the same
orientation refines to < 0.5 deg. This script repeats the evaluation's steps
at the given voltages (same test orientations, dictionary and settings) and,
for every such pattern, prints:

* the generated pattern's refined disorientation, NCC and the basin kept;
* the disorientation of each of its dictionary basins from the truth: if none
  is within a few degrees, its dictionary indexing never offered the right
  basin, and no refinement could reach it;
* the generated pattern refined from the truth, and its NCC there, against the
  physics pattern's: if it is as high, the model's pattern is right around the
  truth, and the miss is the dictionary's.

    python benchmarks/basin_misses.py ti-alpha-10-30kv --energy 25 10
    python benchmarks/basin_misses.py ni-10-30kv --energy 27.5 --dataset runs/ni_dyn.zarr
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import kept_dictionaries
from orix.crystal_map import CrystalMap
from orix.quaternion import Rotation

from kikuchipy_gen.evaluation import report
from kikuchipy_gen.evaluation.physics import as_ebsd, clahe_from_info, ranked_matches
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.refinement import dictionary_basins, disorientation, refine_best_basin, refine_orientations
from kikuchipy_gen.sampling import sample_orientations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a shipped model's name or a model folder")
    parser.add_argument("--energy", type=float, nargs="+", required=True, help="voltages (kV)")
    parser.add_argument("--dataset", help="the model's dataset: its held-out test grid, as the evaluation")
    parser.add_argument("--n-refine", type=int, default=100)
    parser.add_argument(
        "--keep-n", type=int, default=None, help="dictionary matches kept [default: the evaluation's, 20]"
    )
    parser.add_argument("--basins", type=int, default=8, help="basins refined, as the evaluation [default: 8]")
    args = parser.parse_args()
    keep_n = report._KEEP_N if args.keep_n is None else args.keep_n
    if not 1 <= args.basins <= keep_n:
        parser.error(f"--basins must be between 1 and --keep-n ({keep_n}), got {args.basins}")

    try:
        mlmp = MLMasterPattern.from_pretrained(args.model)
    except ValueError:
        mlmp = MLMasterPattern.load(args.model)
    test_rot, _ = report._test_orientations(mlmp, args.dataset, None, 0)
    density, _ = report._dictionary_density(mlmp)
    masters, _, _ = report._physics_master_patterns(mlmp, args.energy, [])
    clahe = clahe_from_info(mlmp.info.get("preprocessing"))
    patterns, _ = report._pixel_metrics(mlmp, masters, test_rot, clahe)
    dict_rot = sample_orientations(mlmp.phase.point_group, n=density)
    dictionaries = kept_dictionaries(masters, dict_rot, mlmp.detector, clahe)
    phase, det = mlmp.phase, mlmp.detector
    n = min(args.n_refine, test_rot.size)
    sub, rot = slice(0, n), Rotation(test_rot.data[:n])
    for e in args.energy:
        runs = {}
        for route in ("generated", "physics"):
            s = as_ebsd(patterns[e].of(route)[sub], rot, phase, det)
            indexed = as_ebsd(patterns[e].of(route), test_rot, phase, det).dictionary_indexing(
                dictionaries[e], keep_n=keep_n
            )
            ranked = ranked_matches(indexed, sub)
            refined = refine_best_basin(s, ranked, det, masters[e], e, n_basins=args.basins, settle=report._SETTLE)
            runs[route] = (refined, s, ranked)
        gen = disorientation(runs["generated"][0], rot, phase)
        phys = disorientation(runs["physics"][0], rot, phase)
        misses = np.flatnonzero((phys < 0.5) & (gen >= 0.5))
        lost = np.flatnonzero((phys >= 0.5) & (gen >= 0.5))
        print(
            f"{args.model} {e:g} kV, {keep_n} matches, {args.basins} basins: generated-only misses "
            f"{misses.tolist()} of {n}; physics-only {np.flatnonzero((gen < 0.5) & (phys >= 0.5)).tolist()}; "
            f"both miss {lost.size}"
        )
        if not misses.size:
            continue
        start = CrystalMap(Rotation(rot.data), phase_list=runs["generated"][0].phases, x=np.arange(n))
        from_truth = refine_orientations(runs["generated"][1], start, det, masters[e], e)
        basins = dictionary_basins(runs["generated"][2], phase, args.basins)
        for i in misses:
            truth = Rotation(np.repeat(rot.data[i : i + 1], args.basins, axis=0))
            apart = disorientation(basins[i], truth, phase).round(1).tolist()
            g, p = runs["generated"][0], runs["physics"][0]
            print(
                f"  pattern {i}: generated refined to {gen[i]:.1f} deg (NCC {g.prop['scores'][i]:.4f}, basin "
                f"{g.prop['basin'][i]}); its basins from the truth (deg): {apart}; refined from the truth: NCC "
                f"{from_truth.prop['scores'][i]:.4f}; the physics pattern: NCC {p.prop['scores'][i]:.4f} in its "
                f"basin {p.prop['basin'][i]}"
            )


if __name__ == "__main__":
    main()
