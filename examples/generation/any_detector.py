"""
Patterns for any detector
=========================

The shipped model learned a master pattern and projects it with kikuchipy's exact
geometry, so it generates patterns for any detector: another shape, pattern centre or
tilt than the 60 x 60 pixels it was trained for.
"""

# %%
import matplotlib.pyplot as plt
from kikuchipy.detectors import EBSDDetector

from kikuchipy_gen import MLMasterPattern
from kikuchipy_gen.sampling import random_rotations

mlmp = MLMasterPattern.from_pretrained()
rotation = random_rotations(1, seed=5)
print(mlmp.detector)

# %%
# Four detectors: the trained one, a larger camera, another pattern centre and another
# sample tilt.
detectors = {
    "trained (60 x 60)": mlmp.detector,
    "120 x 160 camera": EBSDDetector((120, 160), pc=(0.5, 0.45, 0.6), sample_tilt=70, convention="bruker"),
    "PC (0.4, 0.3, 0.45)": EBSDDetector((100, 100), pc=(0.4, 0.3, 0.45), sample_tilt=70, convention="bruker"),
    "sample tilt 60 deg": EBSDDetector((100, 100), pc=(0.5, 0.2, 0.5), sample_tilt=60, convention="bruker"),
}
fig, axes = plt.subplots(1, len(detectors), figsize=(10, 3.2), layout="constrained")
for ax, (label, detector) in zip(axes, detectors.items()):
    s = mlmp.get_patterns(rotation, detector=detector, energy=20.0, compute=True, show_progressbar=False)
    ax.imshow(s.data[0], cmap="gray")
    ax.set_title(f"{label}\n{s.data.shape[1:]} px", fontsize=9)
    ax.axis("off")

# %%
# The signal carries the detector it was generated for, so kikuchipy can plot the
# pattern centre or index the patterns with the same geometry.
print(s.detector)
