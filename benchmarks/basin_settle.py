"""Where refinement from several dictionary basins may stop: NCC of right and wrong basins.

:func:`kikuchipy_gen.refinement.refine_best_basin` with ``settle`` stops
refining a pattern from deeper basins once its best NCC reaches ``settle``
times the 90th percentile of the map's NCCs after the first basin. This
script refines every test pattern from each of its 8 best dictionary basins
(Nelder-Mead, as the evaluation's screening), then prints per voltage and
route: how many patterns have a right basin (< 0.5 deg after refinement)
among them, the lowest NCC of a right basin and the highest of a wrong one,
both as a share of the 90th percentile, and, for a few values of ``settle``,
how many refinements the settled search needs and whether it ends right
where refining all 8 does, pattern by pattern.

With ``--generated-at KV`` it does the same for a row of the evaluation's
voltage matrix instead: the first ``--n-refine`` patterns generated at that
voltage, indexed and refined against the physics at each ``--energy``.

    python benchmarks/basin_settle.py corundum-10-30kv --energy 15 27.5
    python benchmarks/basin_settle.py fe-alpha-10-30kv --generated-at 10 --energy 10 20 30 --n-refine 30
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
from kikuchipy_gen.refinement import dictionary_basins, disorientation, refine_orientations
from kikuchipy_gen.sampling import sample_orientations

BASINS = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a shipped model's name or a model folder")
    parser.add_argument("--energy", type=float, nargs="+", required=True, help="voltages (kV)")
    parser.add_argument("--n-refine", type=int, default=100)
    parser.add_argument("--settle", type=float, nargs="+", default=[0.93, 0.95, 0.97])
    parser.add_argument("--generated-at", type=float, help="a voltage-matrix row: patterns generated at this kV")
    args = parser.parse_args()

    try:
        mlmp = MLMasterPattern.from_pretrained(args.model)
    except ValueError:
        mlmp = MLMasterPattern.load(args.model)
    test_rot, _ = report._test_orientations(mlmp, None, None, 0)
    density, _ = report._dictionary_density(mlmp)
    masters, _, _ = report._physics_master_patterns(mlmp, args.energy, [])
    clahe = clahe_from_info(mlmp.info.get("preprocessing"))
    patterns, _ = report._pixel_metrics(mlmp, masters, test_rot, clahe)
    dictionaries = kept_dictionaries(
        masters, sample_orientations(mlmp.phase.point_group, n=density), mlmp.detector, clahe
    )
    phase, det = mlmp.phase, mlmp.detector
    n = args.n_refine
    sub, rot = slice(0, n), Rotation(test_rot.data[:n])
    if args.generated_at is not None:
        row = mlmp.decode(rot, energy=args.generated_at)
    for e in args.energy:
        for route in (
            ("generated", "physics") if args.generated_at is None else (f"generated at {args.generated_at:g} kV",)
        ):
            if args.generated_at is None:
                s = as_ebsd(patterns[e].of(route)[sub], rot, phase, det)
                indexed = as_ebsd(patterns[e].of(route), test_rot, phase, det).dictionary_indexing(
                    dictionaries[e], keep_n=report._KEEP_N
                )
            else:
                s = as_ebsd(row, rot, phase, det)
                indexed = s.dictionary_indexing(dictionaries[e], keep_n=report._KEEP_N)
            starts = dictionary_basins(ranked_matches(indexed, sub), phase, BASINS)
            ncc, angle = np.empty((BASINS, n)), np.empty((BASINS, n))
            for b in range(BASINS):
                start = CrystalMap(Rotation(starts[:, b]), phase_list=indexed.phases, x=np.arange(n))
                refined = refine_orientations(s, start, det, masters[e], e, method="nelder-mead")
                ncc[b], angle[b] = refined.prop["scores"], disorientation(refined, rot, phase)
            right = angle < 0.5
            q90 = np.quantile(ncc[0], 0.9)
            found = right.any(axis=0)
            lowest_right = ncc[right].min() / q90 if right.any() else np.nan
            highest_wrong = ncc[~right].max() / q90 if (~right).any() else np.nan
            print(
                f"{args.model} {e:g} kV {route}: a right basin among {BASINS} for {found.sum()} of {n} "
                f"(the best match's basin for {right[0].sum()}); NCC / 90th percentile: right >= "
                f"{lowest_right:.3f}, wrong <= {highest_wrong:.3f}"
            )
            everything = ncc.argmax(axis=0)
            for settle in args.settle:
                todo, seen, refinements = np.ones(n, dtype=bool), np.full_like(ncc, -np.inf), 0
                for b in range(BASINS):
                    seen[b, todo] = ncc[b, todo]
                    refinements += int(todo.sum())
                    todo &= seen[: b + 1].max(axis=0) < settle * q90
                kept = seen.argmax(axis=0)
                points = np.arange(n)
                # Two basins can both refine to the truth: compare outcomes, not ranks.
                same = int((right[kept, points] == right[everything, points]).sum())
                print(
                    f"  settle {settle:g}: {refinements} refinements (all basins: {BASINS * n}); right where "
                    f"refining all basins is right, wrong where it is wrong: {same}/{n} (same basin: "
                    f"{int((kept == everything).sum())})"
                )


if __name__ == "__main__":
    main()
