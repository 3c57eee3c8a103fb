"""Does kikuchipy refine generated patterns back to their orientation, against each shipped model?

For each shipped model, 8 patterns generated at 20 kV from random orientations are refined
with kikuchipy's ``EBSD.refine_orientation`` (Nelder-Mead, trust region 2 deg) from starts
1 deg off the truth, against the ``MLMasterPattern`` itself and against its exported master
pattern (``to_master_pattern``). Prints the disorientations from the truth (deg) per route;
both routes should agree and end well below 1 deg.

    python benchmarks/refine_from_offset.py

About 30 s on 2 cores.
"""

from __future__ import annotations

import numpy as np
from kikuchipy.signals import EBSD
from orix.crystal_map import CrystalMap, PhaseList
from orix.quaternion import Rotation

from kikuchipy_gen import MLMasterPattern, available_pretrained
from kikuchipy_gen.refinement import disorientation
from kikuchipy_gen.sampling import random_rotations

ENERGY = 20.0
N = 8


def main() -> None:
    truth = random_rotations(N, seed=3)
    axes = np.random.default_rng(0).normal(size=(N, 3))
    start = Rotation.from_axes_angles(axes, 1.0, degrees=True) * truth
    for name in available_pretrained():
        mlmp = MLMasterPattern.from_pretrained(name)
        data = mlmp.get_patterns(truth, energy=ENERGY, compute=True, show_progressbar=False).data
        s = EBSD(data, detector=mlmp.detector)
        xmap = CrystalMap(start, x=np.arange(N), phase_list=PhaseList(mlmp.phase))
        for label, master in (("MLMasterPattern", mlmp), ("exported master pattern", mlmp.to_master_pattern(ENERGY))):
            refined = s.refine_orientation(
                xmap, mlmp.detector, master, energy=ENERGY, trust_region=[2, 2, 2], compute=True
            )
            err = disorientation(refined.rotations.data, truth.data, mlmp.phase)
            print(f"{name}, against the {label}: " + " ".join(f"{e:.3f}" for e in err), flush=True)


if __name__ == "__main__":
    main()
