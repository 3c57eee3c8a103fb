"""
The shipped models
==================

kikuchipy-gen ships ML master patterns of several phases, from cubic nickel and
alpha-iron to hexagonal alpha-titanium, tetragonal rutile and trigonal corundum.
List them, generate a pattern with each and look at what each has learned.
"""

# %%
# ``available_pretrained`` lists the shipped models; with ``details=True`` it says
# each one's phase, symmetry and voltages, and where its model card is (how it was
# made, and how close it comes to its physics on held-out orientations).
import matplotlib.pyplot as plt

from kikuchipy_gen import MLMasterPattern, available_pretrained
from kikuchipy_gen.sampling import random_rotations

for m in available_pretrained(details=True):
    kv = f"{m['energies'][0]:g}-{m['energies'][-1]:g} kV"
    print(f"{m['name']:18s} {m['phase']:9s} {m['space_group']:8s} Laue group {m['laue_group']:6s} {kv}")

# %%
# Each loads by name. One orientation, the same for all (each in its own crystal's
# frame), at 20 kV; and each model's learned master pattern at 20 kV, the northern
# hemisphere in the square Lambert projection kikuchipy uses. The lower the
# symmetry, the larger the share of the sphere the model had to learn: 1/48 for
# the cubic phases, 1/12 for corundum.
names = available_pretrained()
rotation = random_rotations(1, seed=11)
fig, axes = plt.subplots(2, len(names), figsize=(2.2 * len(names), 4.6), layout="constrained")
for (top, bottom), name in zip(axes.T, names):
    mlmp = MLMasterPattern.from_pretrained(name)
    pattern = mlmp.get_patterns(rotation, energy=20.0, compute=True, show_progressbar=False).data[0]
    top.imshow(pattern, cmap="gray")
    top.set_title(f"{mlmp.phase.name}\n{mlmp.phase.point_group.laue.name}", fontsize=9)
    bottom.imshow(mlmp.to_master_pattern(20.0).data[0], cmap="gray")
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
axes[0, 0].set_ylabel("pattern, 20 kV")
axes[1, 0].set_ylabel("learned master pattern")

# %%
# Every model is an ordinary ML master pattern: everything the other examples do
# with nickel (any detector, voltage sweeps, dictionary indexing and refinement)
# works with any of them. Their model cards sit beside their weights:
card = available_pretrained(details=True)[0]["card"]
print(card.read_text().splitlines()[0])
