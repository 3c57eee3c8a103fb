"""Why a generated pattern refines into another basin where its physics twin does not.

The evaluation refines each route from its own dictionary-indexing result.
A handful of generated patterns per voltage end far from the truth while the
physics pattern of the same orientation refines to < 0.5 deg, and each such
pattern lifts a voltage's refined mean from ~0.02 deg to ~1 deg. This script
repeats the evaluation's steps at one voltage (same test orientations, seed 0,
same dictionary) and, for every pattern that only one route refines, prints:

* the dictionary-indexing disorientation and NCC score of each route;
* each route's refined disorientation and score;
* the generated pattern refined from the *physics* route's indexing result:
  if it then refines to the truth, the start (a near-tie of the dictionary),
  not the model's pattern around the truth, decided the miss.

    python benchmarks/refinement_flips.py MODEL_DIR --energy 20 [--n-refine 100]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import kept_dictionaries
from orix.quaternion import Rotation

from kikuchipy_gen.evaluation.physics import (
    as_ebsd,
    best_matches,
    clahe_from_info,
    physics_patterns,
)
from kikuchipy_gen.evaluation.report import _dictionary_density
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.refinement import disorientation, refine_orientations
from kikuchipy_gen.sampling import random_rotations, sample_orientations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--energy", type=float, default=20.0)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--n-refine", type=int, default=100)
    args = parser.parse_args()

    mlmp = MLMasterPattern.load(args.model)
    e, detector, phase = args.energy, mlmp.detector, mlmp.phase
    clahe = clahe_from_info(mlmp.info.get("preprocessing"))
    master = mlmp.reference_master_pattern(e)
    test_rot = random_rotations(args.n_test, 0)
    rot = Rotation(test_rot.data[: args.n_refine])
    pats = {
        "physics": physics_patterns(master, rot, detector, e, clahe),
        "generated": mlmp.decode(rot, energy=e),
    }
    dict_rot = sample_orientations(phase.point_group, n=_dictionary_density(mlmp)[0])
    dictionary = kept_dictionaries({e: master}, dict_rot, detector, clahe)[e]
    indexed, di, refined, fine = {}, {}, {}, {}
    for route, p in pats.items():
        indexed[route] = as_ebsd(p, rot, phase, detector).dictionary_indexing(dictionary, keep_n=1)
        di[route] = disorientation(indexed[route], rot, phase)
        xmap = refine_orientations(as_ebsd(p, rot, phase, detector), best_matches(indexed[route]), detector, master, e)
        refined[route], fine[route] = disorientation(xmap, rot, phase), xmap
    only = np.flatnonzero((refined["physics"] < 0.5) != (refined["generated"] < 0.5))
    print(f"{mlmp.phase.name} at {e:g} kV: {only.size} of {rot.size} patterns refine < 0.5 deg by one route only")
    if not only.size:
        return
    # The generated patterns of those orientations, refined from the physics route's start.
    sub = as_ebsd(pats["generated"][only], Rotation(rot.data[only]), phase, detector)
    swapped = refine_orientations(sub, best_matches(indexed["physics"], only), detector, master, e)
    swapped_deg = disorientation(swapped, Rotation(rot.data[only]), phase)
    print(
        "| pattern | DI deg phys / gen | DI score phys / gen | refined deg phys / gen "
        "| generated from the physics start |"
    )
    print("|---|---|---|---|---|")
    for k, i in enumerate(only):
        s = [float(np.ravel(indexed[r].scores[i])[0]) for r in ("physics", "generated")]
        print(
            f"| {i} | {di['physics'][i]:.2f} / {di['generated'][i]:.2f} | {s[0]:.4f} / {s[1]:.4f} | "
            f"{refined['physics'][i]:.3f} / {refined['generated'][i]:.3f} | {swapped_deg[k]:.3f} |"
        )


if __name__ == "__main__":
    main()
