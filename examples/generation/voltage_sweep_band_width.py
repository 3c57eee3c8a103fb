"""
Band width in a 1 kV voltage sweep
==================================

Generate the same patterns every 1 kV from 10 to 30 kV and measure their band width
with :func:`kikuchipy_gen.evaluation.band_width`: the model was trained at 10, 15, 20,
25 and 30 kV only, so the voltages in between show how it interpolates.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from kikuchipy_gen import MLMasterPattern
from kikuchipy_gen.evaluation import band_width
from kikuchipy_gen.sampling import random_rotations

mlmp = MLMasterPattern.from_pretrained()
rotations = random_rotations(20, seed=0)
energies = np.arange(10.0, 30.5, 1.0)

# %%
# The band width is the half-width at half maximum of the patterns' radially averaged
# autocorrelation, in pixels, averaged over the 20 orientations.
widths = []
for kv in energies:
    s = mlmp.get_patterns(rotations, energy=kv, compute=True, show_progressbar=False)
    widths.append(band_width(s.data))
widths = np.asarray(widths)

# %%
# Bands narrow as the voltage rises (shorter wavelength, smaller Bragg angles).
trained = np.isin(energies, mlmp.energies)
fig, ax = plt.subplots(figsize=(5, 3.2), layout="constrained")
ax.plot(energies, widths, "-", color="0.6")
ax.plot(energies[trained], widths[trained], "o", label="trained voltage")
ax.plot(energies[~trained], widths[~trained], "x", label="interpolated")
ax.set_xlabel("Beam energy (kV)")
ax.set_ylabel("Band width (px)")
ax.legend()
print(f"{widths[0]:.2f} px at 10 kV, {widths[-1]:.2f} px at 30 kV")
