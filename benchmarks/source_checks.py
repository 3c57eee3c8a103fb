"""Physics-source checks quoted in the notes: de-ebsd vs EMsoft Ni, kinematical band widths.

python benchmarks/source_checks.py
"""

from __future__ import annotations

import numpy as np
from orix.quaternion import Rotation

from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.sources import DynamicalSource, KikuchipyNickelSource, KinematicalSource


def _patterns(mp, rot):
    s = mp.get_patterns(rot, default_detector(), compute=True, show_progressbar=False)
    return s.data.reshape(rot.size, -1).astype(float)


def main() -> None:
    rng_rot = Rotation.random(50)
    reference = _patterns(KikuchipyNickelSource().master_pattern(20), rng_rot)
    for npx in (60, 200):
        mp = DynamicalSource("ni", npx=npx).master_pattern(20)
        r = np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(_patterns(mp, rng_rot), reference)])
        print(f"de-ebsd Ni 20 kV npx {npx} vs EMsoft Ni: mean pattern correlation r = {r:.2f} (50 orientations)")
    src = KinematicalSource("ni", half_size=150)
    for kv in (10, 15, 20, 25, 30):
        data = np.asarray(src.master_pattern(kv).data, dtype=float)
        bg = np.median(data)
        coverage = np.mean(data > bg + 0.05 * (data.max() - bg))
        theta = np.rad2deg(src.reflectors(kv).theta.max())
        print(
            f"kinematical Ni {kv} kV: largest Bragg angle {theta:.2f} deg, "
            f"bands cover {100 * coverage:.1f}% of the sphere"
        )


if __name__ == "__main__":
    main()
