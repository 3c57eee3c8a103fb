"""
Patterns at several voltages
============================

Generate nickel patterns for the same orientations at 10, 15, 20, 25 and 30 kV with
the ML master pattern shipped with kikuchipy-gen, and plot them.
"""

# %%
# Load the shipped model: nickel, trained on dynamical master patterns at 10-30 kV for a
# 60 x 60 pixel detector.
import matplotlib.pyplot as plt
import numpy as np
from orix.quaternion import Rotation

from kikuchipy_gen import MLMasterPattern
from kikuchipy_gen.sampling import random_rotations

mlmp = MLMasterPattern.from_pretrained()
print(mlmp)

# %%
# ``get_patterns`` returns a kikuchipy ``EBSD`` signal, with its crystal map and
# detector; one signal per voltage for four random orientations.
rotations = random_rotations(4, seed=3)
energies = [10.0, 15.0, 20.0, 25.0, 30.0]
signals = [mlmp.get_patterns(rotations, energy=kv, compute=True, show_progressbar=False) for kv in energies]
signals[0]

# %%
# Same orientation down each column: the bands narrow as the voltage rises.
fig, axes = plt.subplots(len(energies), rotations.size, figsize=(6, 7.5), layout="constrained")
for row, (kv, s) in zip(axes, zip(energies, signals)):
    for ax, pattern in zip(row, s.data):
        ax.imshow(pattern, cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(f"{kv:g} kV")

# %%
# One energy per rotation is also possible: here one orientation across the whole range.
kv = np.linspace(10, 30, 6)
one = Rotation(np.repeat(rotations.data[:1], kv.size, axis=0))
s = mlmp.get_patterns(one, energy=kv, compute=True, show_progressbar=False)
print(s.xmap.prop["energy"])
