"""
Generation on a dask.distributed cluster
========================================

``get_patterns`` returns a lazy signal: a dask array whose chunks are decoded by the
model only when they are computed. Any dask scheduler can compute it, also a
``dask.distributed`` cluster of many machines. Here a small local cluster stands in for
one.
"""

# %%
# A lazy signal of 2,000 patterns at 17.5 kV in chunks of 250 rotations. Nothing has been
# decoded yet; each chunk is one task.
import pickle

import matplotlib.pyplot as plt
import numpy as np
from dask.distributed import Client, LocalCluster

from kikuchipy_gen import MLMasterPattern
from kikuchipy_gen.sampling import random_rotations

mlmp = MLMasterPattern.from_pretrained()
rotations = random_rotations(2000, seed=5)
s = mlmp.get_patterns(rotations, energy=17.5, latent=7, chunk_shape=250)
print(s)
print(f"{s.data.npartitions} chunks of {s.data.chunksize[0]} patterns")

# %%
# What a client sends to the workers is the task graph, pickled. The model travels in it
# as its weights (safetensors) and a JSON description, never as pickled torch objects;
# each worker process rebuilds the decoder once and reuses it for every chunk.
payload = pickle.dumps(s.data)
print(f"pickled graph: {len(payload) / 1e6:.2f} MB")

# %%
# A local cluster: one worker with two threads (``processes=False`` keeps it inside this
# process; on a real cluster ``Client("tcp://scheduler:8786")`` connects instead). With
# the client as the default scheduler, ``compute`` runs the chunks on the cluster.
cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
client = Client(cluster)
print(client)

on_cluster = s.data.compute()
print(on_cluster.shape, on_cluster.dtype)

# %%
# Results do not depend on where a chunk ran: the latent vectors are drawn from the pair
# (seed, pattern index), so the cluster's patterns equal those computed here with dask's
# local threads, and a different chunking gives the same patterns too.
local = s.data.compute(scheduler="threads")
rechunked = mlmp.get_patterns(rotations, energy=17.5, latent=7, chunk_shape=400).data.compute(scheduler="threads")
print("cluster == local threads:", np.array_equal(on_cluster, local))
print("chunks of 250 == chunks of 400:", np.array_equal(local, rechunked))

# %%
# ``persist`` keeps the decoded chunks in the workers' memory for further lazy work,
# e.g. a mean pattern computed where the data lives.
persisted = s.data.persist()
mean_pattern = persisted.mean(axis=0).compute()

fig, axes = plt.subplots(1, 4, figsize=(8, 2.3), layout="constrained")
for ax, pattern in zip(axes[:3], on_cluster[:3]):
    ax.imshow(pattern, cmap="gray")
axes[3].imshow(mean_pattern, cmap="gray")
axes[3].set_title("mean of 2,000")
for ax in axes:
    ax.axis("off")

# %%
# Close the client and the cluster when done.
client.close()
cluster.close()
