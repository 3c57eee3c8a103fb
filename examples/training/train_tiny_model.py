"""
Train a tiny model
==================

Build a small nickel dataset from kikuchipy's EMsoft master pattern, train a tiny
geometry-aware model through the three stages (CVAE, critic/classifier pre-training,
joint CVAE/GAN), plot its training history and generate patterns with it.

The run is far too short to make good patterns: it shows the mechanics in seconds.
Everything is written into a temporary folder.
"""

# %%
# Orientations on three cubochoric grids of different densities (no orientation is in
# two splits), projected from the 20 kV EMsoft master pattern onto a 60 x 60 detector
# and CLAHE'd as in the paper.
import tempfile

import matplotlib.pyplot as plt
import numpy as np

from kikuchipy_gen import MLMasterPattern
from kikuchipy_gen.dataset import build_dataset
from kikuchipy_gen.models import TrainConfig, preset
from kikuchipy_gen.sampling import split_orientations
from kikuchipy_gen.sources import KikuchipyNickelSource
from kikuchipy_gen.training import Trainer

tmp = tempfile.TemporaryDirectory()
splits = split_orientations("m-3m", n_train=8)
dataset = build_dataset(f"{tmp.name}/ni.zarr", KikuchipyNickelSource(), splits, chunk_size=64, show_progressbar=False)
print(dataset)

# %%
# The geometry-aware decoder learns a master pattern and projects it exactly; the
# encoder and the critic/classifier are made tiny here. Each stage is capped at a few
# steps of eight patterns.
model = preset(
    "geometric",
    texture_size=41,
    latent_dim=8,
    stem_channels=4,
    blocks=[(8, 2), (16, 2)],
    encoder_dense=[32],
    critic_blocks=[(8, 2), (16, 2)],
    critic_dense=[32],
    critic_head_dense=[32],
    classifier_dense=[32],
)
config = TrainConfig(
    dataset=str(dataset.path),
    out=f"{tmp.name}/run",
    model=model,
    cvae_epochs=2,
    cvae_batch_size=8,
    cvae_lr=3e-3,
    critic_epochs=1,
    critic_batch_size=8,
    critic_lr=1e-3,
    gan_epochs=1,
    gan_batch_size=8,
    gan_lr=1e-3,
    max_steps_per_epoch=4,
    max_val_patterns=20,
    log_every=1,
    sample_grid=False,
)
trainer = Trainer(config)
trainer.run(show_progressbar=False)
print(f"{trainer.state.step} steps; stage: {trainer.state.stage}")

# %%
# The history holds one row per logged step and one per validation (``val_`` keys) at
# the end of each epoch. Dashed lines mark where a stage starts.
history = trainer.state.history
fig, axes = plt.subplots(1, 2, figsize=(9, 3), layout="constrained")
axes[0].set_ylabel("BCE per pixel")
for ax, keys in zip(axes, (["bce_per_pixel", "val_bce_per_pixel"], ["kl", "critic", "generator"])):
    for key in keys:
        rows = np.array([(r["step"], r[key]) for r in history if key in r])
        if len(rows):
            ax.plot(rows[:, 0], rows[:, 1], "o-" if key.startswith("val_") else "-", label=key, ms=3)
    for stage in ("critic", "gan"):
        ax.axvline(min(r["step"] for r in history if r["stage"] == stage), color="grey", ls="--", lw=0.8)
    ax.set_xlabel("step")
    ax.legend(fontsize=8)

# %%
# Every checkpoint folder is a model bundle: load the best one (lowest validation BCE)
# as an ML master pattern and generate, as with the shipped model.
mlmp = MLMasterPattern.load(config.out)
print(mlmp)
val = dataset.patterns("val")
generated = mlmp.get_patterns(val.xmap.rotations[:4], compute=True, show_progressbar=False)

fig, axes = plt.subplots(2, 4, figsize=(8, 4.3), layout="constrained")
for j in range(4):
    axes[0, j].imshow(val.data[j].compute(), cmap="gray")
    axes[1, j].imshow(generated.data[j], cmap="gray")
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
axes[0, 0].set_ylabel("validation")
axes[1, 0].set_ylabel("generated")

# %%
# Remove the temporary folder.
tmp.cleanup()
