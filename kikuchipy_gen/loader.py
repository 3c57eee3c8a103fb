"""Stream a dataset into torch for training, shuffled, without loading it whole."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from kikuchipy_gen.dataset import EBSDDataset

__all__ = ["PatternStream"]


class PatternStream(IterableDataset):
    """Shuffled stream of (pattern, orientation, energy) samples for training.

    Memory stays bounded by ``buffer_chunks`` stored chunks: each epoch the
    chunks (over all energies) are visited in a random order, read a few at a
    time, and their patterns shuffled together. Chunks are shared out between
    DataLoader workers and, for distributed training, between ranks.

    Parameters
    ----------
    dataset
        An :class:`~kikuchipy_gen.dataset.EBSDDataset` or its path.
    split
        Split to stream (``"train"``, ``"val"``, ``"test"``).
    energies
        Energies (kV) to include; default all.
    shuffle
        Shuffle chunk order and samples. Off for evaluation: samples then
        come in stored order, energy by energy.
    seed
        Base seed; the order of epoch ``e`` depends only on ``(seed, e)``.
    buffer_chunks
        Chunks shuffled together.
    rank, world_size
        Shard for distributed training; default from ``torch.distributed``
        when it is initialised, else a single shard.

    Examples
    --------
    >>> from torch.utils.data import DataLoader
    >>> from kikuchipy_gen.loader import PatternStream
    >>> stream = PatternStream("ni.zarr", "train", seed=1)  # doctest: +SKIP
    >>> batch = next(iter(DataLoader(stream, batch_size=16)))  # doctest: +SKIP
    >>> batch["pattern"].shape, batch["rotation"].shape, batch["energy"].shape  # doctest: +SKIP
    (torch.Size([16, 1, 60, 60]), torch.Size([16, 4]), torch.Size([16]))

    Notes
    -----
    Each sample is a dict: ``pattern`` float32 (1, rows, cols) in [0, 1]
    (the stored uint8 divided by 255, as in the paper), ``rotation`` float32
    unit quaternion (scalar part >= 0) and ``energy`` float32 in kV.
    """

    def __init__(
        self,
        dataset: EBSDDataset | str | Path,
        split: str = "train",
        energies: Sequence[float] | None = None,
        shuffle: bool = True,
        seed: int = 0,
        buffer_chunks: int = 4,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        super().__init__()
        ds = dataset if isinstance(dataset, EBSDDataset) else EBSDDataset(dataset)
        self.path = ds.path
        self.split = split
        ds._group(split)  # raise early for an unknown split
        chosen = ds.energies if energies is None else list(energies)
        self._energy_index = [ds.energy_index(e) for e in chosen]
        self._energies = np.asarray(ds.energies, dtype=np.float32)
        self._n = ds.sizes[split]
        self._chunk = int(ds.attrs["chunk_size"])
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        if int(buffer_chunks) < 1:
            raise ValueError(f"buffer_chunks must be >= 1, got {buffer_chunks}")
        self.buffer_chunks = int(buffer_chunks)
        if rank is None or world_size is None:
            dist = torch.distributed
            ready = dist.is_available() and dist.is_initialized()
            rank, world_size = (dist.get_rank(), dist.get_world_size()) if ready else (0, 1)
        if not (0 <= rank < world_size):
            raise ValueError(f"rank must be in [0, world_size), got {rank} of {world_size}")
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch = 0
        self._ds: EBSDDataset | None = None

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffled order the next iteration follows.

        Parameters
        ----------
        epoch
            Epoch number; with the seed it fixes the order of the chunks.

        Examples
        --------
        >>> import tempfile
        >>> import torch
        >>> from kikuchipy_gen.dataset import build_dataset
        >>> from kikuchipy_gen.loader import PatternStream
        >>> from kikuchipy_gen.sampling import random_rotations
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> tmp = tempfile.TemporaryDirectory()
        >>> ds = build_dataset(
        ...     f"{tmp.name}/ni.zarr", KikuchipyNickelSource(), random_rotations(12), chunk_size=2,
        ...     show_progressbar=False,
        ... )
        >>> stream = PatternStream(ds, "train", seed=1)
        >>> first = torch.stack([x["rotation"] for x in stream])
        >>> stream.set_epoch(1)
        >>> second = torch.stack([x["rotation"] for x in stream])
        >>> first.shape, bool((first == second).all())  # the same patterns, another order
        (torch.Size([12, 4]), False)
        """
        self.epoch = int(epoch)

    def _tasks(self) -> list[tuple[int, int]]:
        n_chunks = -(-self._n // self._chunk)
        tasks = [(ie, k) for ie in self._energy_index for k in range(n_chunks)]
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(tasks))
            tasks = [tasks[i] for i in order]
        return tasks[self.rank :: self.world_size]

    def __len__(self) -> int:
        return sum(self._chunk_len(k) for _, k in self._tasks())

    def _chunk_len(self, k: int) -> int:
        return min(self._chunk, self._n - k * self._chunk)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if self._ds is None:
            # Opened lazily so that each DataLoader worker holds its own handle.
            self._ds = EBSDDataset(self.path)
        patterns = self._ds.patterns_array(self.split)
        rotations = self._ds._group(self.split)["rotations"]
        worker = get_worker_info()
        tasks = self._tasks()
        if worker is not None:
            tasks = tasks[worker.id :: worker.num_workers]
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, 0 if worker is None else worker.id])
        for start in range(0, len(tasks), self.buffer_chunks):
            x, q, e = [], [], []
            for ie, k in tasks[start : start + self.buffer_chunks]:
                a, b = k * self._chunk, k * self._chunk + self._chunk_len(k)
                x.append(patterns[ie, a:b])
                q.append(rotations[a:b])
                e.append(np.full(b - a, self._energies[ie], dtype=np.float32))
            x, q, e = np.concatenate(x), np.concatenate(q).astype(np.float32), np.concatenate(e)
            order = rng.permutation(len(x)) if self.shuffle else np.arange(len(x))
            for i in order:
                yield {
                    "pattern": torch.from_numpy(x[i][None].astype(np.float32) / 255.0),
                    "rotation": torch.from_numpy(q[i]),
                    "energy": torch.tensor(e[i]),
                }
