"""The evaluation's refinements from several basins, with the crystal symmetry's subgroup found once or on every call.

:func:`kikuchipy_gen.refinement.refine_best_basin` first picks each pattern's
distinct dictionary basins (:func:`~kikuchipy_gen.refinement.dictionary_basins`),
which compares every ranked match with the basins found so far by
disorientation. orix's ``Symmetry.proper_subgroup`` searches all subgroups
of the point group on every access (7-17 ms), and the basins of 20 matches and
8 basins took 140 disorientations, one match at a time: about 2.4 s of
symmetry bookkeeping per call for m-3m, whatever the number of patterns. Two
routes, alternated after a warm-up, on the shipped nickel model's patterns at
20 kV, indexed against the evaluation's physics dictionary (n = 50):

* ``now``: the package as it is (the subgroup found once per group,
  the matches of a basin compared in one call);
* ``before``: orix's ``proper_subgroup`` on every disorientation and the
  matches compared one at a time, as the package did before.

Two workloads, as an evaluation runs them: one column of the voltage matrix
(the first 30 patterns generated at each training voltage, refined against
the physics at 20 kV, one call per cell) and the refinement stage's 100
generated patterns at 20 kV in one call. Both routes must give the same
orientations, and the script checks it.

    python benchmarks/basin_search_cost.py [--quick] [--repeats 5] [--json PATH]

Full: about 6 minutes on 2 quiet cores. ``--quick``: 10 patterns a cell, 20
refined, 2 rounds, dictionary n = 20.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

import numpy as np
from _common import alternate, machine_info, print_header, ratios, spread, write_json
from orix.quaternion import Rotation

from kikuchipy_gen import refinement
from kikuchipy_gen.evaluation.physics import as_ebsd, clahe_from_info, physics_dictionary, ranked_matches
from kikuchipy_gen.evaluation.report import _SETTLE, _split_map
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.phases import get_point_group
from kikuchipy_gen.sampling import random_rotations, sample_orientations

MODEL = "ni-10-30kv"
ENERGY = 20.0
BASINS = 8
KEEP_N = 20


def _basins_one_match_at_a_time(xmap, phase_or_point_group, n_basins=2, min_angle=5.0):
    """The former ``dictionary_basins``: each ranked match compared in its own disorientation call."""
    q = xmap.rotations.data
    q = q[:, None] if q.ndim == 2 else q
    n, keep_n = q.shape[:2]
    chosen = np.zeros((n, n_basins), dtype=int)
    points = np.arange(n)
    free = np.ones((n, keep_n), dtype=bool)
    for b in range(1, n_basins):
        first = q[points, chosen[:, b - 1]]
        for k in range(keep_n):
            free[:, k] &= refinement.disorientation(q[:, k], first, phase_or_point_group) > min_angle
        found = free.any(axis=1)
        chosen[:, b] = np.where(found, free.argmax(axis=1), 0)
    return q[points[:, None], chosen]


@contextlib.contextmanager
def _before():
    """The package as it was: subgroup searched on every call, one match at a time."""
    saved = refinement._proper_subgroup, refinement.dictionary_basins
    refinement._proper_subgroup = lambda pg: get_point_group(pg).proper_subgroup
    refinement.dictionary_basins = _basins_one_match_at_a_time
    try:
        yield
    finally:
        refinement._proper_subgroup, refinement.dictionary_basins = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 rounds (a smoke test)")
    parser.add_argument("--repeats", type=int, help="alternated rounds (default 5; 2 quick)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    repeats = (2 if args.quick else 5) if args.repeats is None else args.repeats
    if repeats < 1:
        parser.error("--repeats must be >= 1")
    per_cell, n_refine, dict_n = (10, 20, 20) if args.quick else (30, 100, 50)

    info = machine_info()
    print_header(info)
    mlmp = MLMasterPattern.from_pretrained(MODEL)
    det, phase = mlmp.detector, mlmp.phase
    kv = [float(e) for e in mlmp.energies]
    master = mlmp.reference_master_pattern(ENERGY)
    clahe = clahe_from_info(mlmp.info.get("preprocessing"))
    rot = random_rotations(max(per_cell, n_refine), 0)
    cell_rot = Rotation(rot.data[:per_cell])
    refine_rot = Rotation(rot.data[:n_refine])
    cells = {e: mlmp.decode(cell_rot, energy=e) for e in kv}
    stage = mlmp.decode(refine_rot, energy=ENERGY)
    stack = np.concatenate([*cells.values(), stage])
    dict_rot = sample_orientations(phase.point_group, n=dict_n)
    with contextlib.redirect_stdout(io.StringIO()):  # kikuchipy prints a summary
        xmap = as_ebsd(stack, Rotation(np.concatenate([cell_rot.data] * len(kv) + [refine_rot.data])), phase, det)
        xmap = xmap.dictionary_indexing(physics_dictionary(master, dict_rot, det, ENERGY, clahe), keep_n=KEEP_N)
    parts = _split_map(xmap, [per_cell] * len(kv) + [n_refine])

    def refine(patterns, rotations, indexed):
        with contextlib.redirect_stdout(io.StringIO()):  # kikuchipy prints each refinement's summary
            return _refine(patterns, rotations, indexed)

    def _refine(patterns, rotations, indexed):
        return refinement.refine_best_basin(
            as_ebsd(patterns, rotations, phase, det),
            ranked_matches(indexed, slice(None)),
            det,
            master,
            ENERGY,
            n_basins=BASINS,
            method="ln_bobyqa",
            settle=_SETTLE,
        )

    workloads = {
        "voltage-matrix column": lambda: [refine(cells[e], cell_rot, part) for e, part in zip(kv, parts, strict=False)],
        "refinement stage": lambda: [refine(stage, refine_rot, parts[-1])],
    }
    results = {"machine": info, "quick": args.quick, "model": MODEL, "energy": ENERGY, "workloads": {}}
    print(
        f"{mlmp!r}, {ENERGY:g} kV, dictionary n = {dict_n} ({dict_rot.size:,}), keep_n {KEEP_N}, "
        f"{BASINS} basins, settle {_SETTLE}; {repeats} alternated rounds"
    )
    print("| workload | now (s) | before (s) | before / now, per round | same orientations |\n|---|---|---|---|---|")
    for name, work in workloads.items():
        out = {}

        def now(work=work, out=out):
            out["now"] = work()

        def before(work=work, out=out):
            with _before():
                out["before"] = work()

        times = alternate({"now": now, "before": before}, repeats)
        same = all(
            np.array_equal(a.rotations.data, b.rotations.data) for a, b in zip(out["now"], out["before"], strict=True)
        )
        ratio = ratios(times["before"], times["now"])
        results["workloads"][name] = {
            "now_s": spread(times["now"]),
            "before_s": spread(times["before"]),
            "before_over_now": ratio,
            "same_orientations": same,
        }
        now_s, before_s = spread(times["now"]), spread(times["before"])
        print(
            f"| {name} | {now_s['median']:.2f} ({now_s['min']:.2f}-{now_s['max']:.2f}) "
            f"| {before_s['median']:.2f} ({before_s['min']:.2f}-{before_s['max']:.2f}) "
            f"| **{ratio['median']:.2f}x** ({ratio['min']:.2f}-{ratio['max']:.2f}) | {'yes' if same else 'NO'} |"
        )
        if not same:
            raise SystemExit(f"{name}: the two routes refined to different orientations")
    write_json(results, args.json)


if __name__ == "__main__":
    main()
