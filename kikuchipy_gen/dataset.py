"""Chunked on-disk training data: build it, resume it, read it back.

A dataset is a zarr store::

    dataset.zarr/
        attrs: format, complete, fingerprint, source (provenance), phase,
               detector, energies (kV), preprocessing, splits
        train/ val/ test/
            rotations  (n, 4) float64   unit quaternions in the fundamental zone, scalar part >= 0
            patterns   (n_energies, n, rows, cols) uint8, chunk (1, chunk, rows, cols)
            done       (n_energies, n_chunks) bool

Each chunk of patterns is one task, written atomically by zarr and then
ticked in ``done``, so an interrupted build resumes where it stopped. The
``complete`` flag is set last: an unfinished store never looks complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr
from kikuchipy.detectors import EBSDDetector
from kikuchipy.signals import LazyEBSD
from orix.crystal_map import CrystalMap, Phase, PhaseList
from orix.quaternion import Rotation
from tqdm.auto import tqdm

import kikuchipy_gen
from kikuchipy_gen.attributes import ENERGY_TOLERANCE, fundamental_zone_quaternions
from kikuchipy_gen.detector import default_detector, detector_from_dict, detector_to_dict
from kikuchipy_gen.phases import phase_from_dict
from kikuchipy_gen.preprocessing import CLAHE, project_and_preprocess
from kikuchipy_gen.sources import MasterPatternSource, source_from_dict

try:
    import fcntl
except ImportError:  # Windows: an exclusively created lock file instead
    fcntl = None

__all__ = ["DATASET_FORMAT", "EBSDDataset", "build_dataset", "open_dataset"]

_logger = logging.getLogger(__name__)

DATASET_FORMAT = "kikuchipy-gen-dataset/1"


def build_dataset(
    path: str | Path,
    source: MasterPatternSource,
    orientations: Rotation | Mapping[str, Rotation],
    energies: float | list[float] | None = None,
    detector: EBSDDetector | None = None,
    clahe: CLAHE | None = CLAHE(),
    chunk_size: int = 1024,
    resume: bool = False,
    overwrite: bool = False,
    show_progressbar: bool = True,
) -> EBSDDataset:
    """Project, preprocess and store EBSD patterns chunk by chunk.

    Parameters
    ----------
    path
        Output directory (a zarr store, conventionally ``*.zarr``).
    source
        Physics source of master patterns.
    orientations
        Rotations, or a mapping of split name to rotations (e.g. the output
        of :func:`~kikuchipy_gen.sampling.split_orientations`).
    energies
        Beam energies in kV; by default the source's only energy.
    detector
        Detector to project onto; default :func:`default_detector` (60 x 60).
    clahe
        Contrast equalisation as in the paper, or None for none.
    chunk_size
        Patterns per chunk: the unit of work, storage and resumption.
    resume
        Continue an interrupted build at ``path`` made with the same inputs.
    overwrite
        Replace an existing dataset at ``path``.
    show_progressbar
        Show a progress bar over chunks.

    Returns
    -------
    EBSDDataset
        The completed dataset.

    Raises
    ------
    FileExistsError
        If ``path`` exists and neither ``resume`` nor ``overwrite`` is set,
        or another process is building a dataset at ``path``: a build holds
        an exclusive lock on ``<path>.lock`` until it ends.
    ValueError
        On bad input: unknown energies, inconsistent stored data, etc.

    Examples
    --------
    >>> import tempfile
    >>> from kikuchipy_gen.dataset import build_dataset
    >>> from kikuchipy_gen.sampling import split_orientations
    >>> from kikuchipy_gen.sources import KikuchipyNickelSource
    >>> out = tempfile.mkdtemp() + "/ni.zarr"
    >>> ds = build_dataset(out, KikuchipyNickelSource(), split_orientations(n_train=8),
    ...                    show_progressbar=False)
    >>> ds.sizes
    {'train': 193, 'val': 20, 'test': 50}
    """
    path = Path(path)
    if isinstance(orientations, Rotation):
        orientations = {"train": orientations}
    splits = {name: _as_unit_quaternions(rot, name, source.phase.point_group) for name, rot in orientations.items()}
    if not splits:
        raise ValueError("No orientations given")
    if energies is None:
        if source.energies is None or len(source.energies) != 1:
            raise ValueError(f"Give the energies (kV) to use with the {source.kind} source")
        energies = list(source.energies)
    energies = [source.check_energy(e) for e in np.atleast_1d(energies).tolist()]
    if len(set(energies)) != len(energies):
        raise ValueError(f"Energies must be distinct, got {energies}")
    detector = default_detector() if detector is None else detector
    det_dict = detector_to_dict(detector)
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")

    attrs = {
        "format": DATASET_FORMAT,
        "package_version": kikuchipy_gen.__version__,
        "source": source.to_dict(),
        "energies": energies,
        "detector": det_dict,
        "preprocessing": {
            "rescale": "per-pattern min-max to uint8",
            "clahe": None if clahe is None else clahe.to_dict(),
        },
        "chunk_size": chunk_size,
        "splits": {name: len(q) for name, q in splits.items()},
    }
    rot_digest = hashlib.sha256()
    for name in sorted(splits):
        rot_digest.update(name.encode() + np.ascontiguousarray(splits[name]).tobytes())
    fingerprint = _digest({**attrs, "rotations": rot_digest.hexdigest(), "package_version": None})

    with _build_lock(path):
        root = _open_for_build(path, fingerprint, resume, overwrite)
        _logger.info("%s dataset %s", "Resuming" if root is not None else "Building", path)
        if root is None:
            root = zarr.open_group(str(path), mode="w")
            root.attrs.update({**attrs, "fingerprint": fingerprint, "complete": False})
            shape = tuple(det_dict["shape"])
            for name, q in splits.items():
                n_chunks = -(-len(q) // chunk_size)
                g = root.create_group(name)
                _create_array(g, "rotations", data=q)
                _create_array(
                    g,
                    "patterns",
                    shape=(len(energies), len(q), *shape),
                    chunks=(1, min(chunk_size, len(q)), *shape),
                    dtype="uint8",
                    fill_value=0,
                )
                _create_array(g, "done", data=np.zeros((len(energies), n_chunks), dtype=bool))

        todo = [
            (ie, name, k)
            for ie in range(len(energies))
            for name in splits
            for k in np.flatnonzero(~root[name]["done"][ie])
        ]
        with tqdm(total=len(todo), desc="Building dataset", unit="chunk", disable=not show_progressbar) as bar:
            master_pattern, current = None, None
            for ie, name, k in todo:
                if current != ie:
                    bar.set_postfix_str(f"{energies[ie]:g} kV master pattern")
                    master_pattern, current = source.master_pattern(energies[ie]), ie
                bar.set_postfix_str(f"{energies[ie]:g} kV {name}")
                group = root[name]
                a, b = k * chunk_size, min((k + 1) * chunk_size, len(splits[name]))
                group["patterns"][ie, a:b] = project_and_preprocess(
                    master_pattern, Rotation(splits[name][a:b]), detector, clahe=clahe
                )
                done = group["done"][:]
                done[ie, k] = True
                group["done"][:] = done
                bar.update()
        root.attrs["complete"] = True
        return EBSDDataset(path)


def open_dataset(path: str | Path) -> EBSDDataset:
    """Open a complete dataset written by :func:`build_dataset`.

    Parameters
    ----------
    path
        Dataset directory.

    Returns
    -------
    EBSDDataset

    Raises
    ------
    ValueError
        If the path is not a dataset or its build did not finish.

    Examples
    --------
    >>> import tempfile
    >>> from kikuchipy_gen.dataset import build_dataset, open_dataset
    >>> from kikuchipy_gen.sampling import split_orientations
    >>> from kikuchipy_gen.sources import KikuchipyNickelSource
    >>> out = tempfile.mkdtemp() + "/ni.zarr"
    >>> _ = build_dataset(out, KikuchipyNickelSource(), split_orientations(n_train=3), 20, show_progressbar=False)
    >>> ds = open_dataset(out)
    >>> ds.sizes, ds.energies
    ({'train': 20, 'val': 26, 'test': 51}, [20.0])
    """
    return EBSDDataset(path)


class EBSDDataset:
    """Read access to a dataset written by :func:`build_dataset`.

    Parameters
    ----------
    path
        Dataset directory.
    allow_incomplete
        Open a store whose build has not finished (for inspection only).

    Examples
    --------
    >>> from kikuchipy_gen.dataset import EBSDDataset
    >>> ds = EBSDDataset("ni.zarr")  # doctest: +SKIP
    >>> ds.patterns("train", energy=20)  # doctest: +SKIP
    <LazyEBSD, title: train 20 kV, dimensions: (193|60, 60)>
    """

    def __init__(self, path: str | Path, allow_incomplete: bool = False) -> None:
        self.path = Path(path)
        root = _open_existing(self.path)
        if root is None:
            raise ValueError(f"{str(path)!r} is not a kikuchipy-gen dataset")
        if not root.attrs.get("complete", False) and not allow_incomplete:
            raise ValueError(
                f"The dataset build at {str(path)!r} did not finish; rerun the same build "
                "with --resume (resume=True) to complete it"
            )
        self._root = root
        self.attrs: dict[str, Any] = dict(root.attrs)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}: {v}" for k, v in self.sizes.items())
        energies = ", ".join(f"{e:g}" for e in self.energies)
        return (
            f"<EBSDDataset {self.path.name}: {self.phase.name}, {energies} kV, "
            f"{'x'.join(map(str, self.pattern_shape))} px, {sizes}>"
        )

    @property
    def energies(self) -> list[float]:
        """Beam energies in kV.

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.dataset import build_dataset
        >>> from kikuchipy_gen.sampling import random_rotations
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> tmp = tempfile.TemporaryDirectory()
        >>> splits = {"train": random_rotations(8, seed=0), "val": random_rotations(4, seed=1)}
        >>> ds = build_dataset(f"{tmp.name}/ni.zarr", KikuchipyNickelSource(), splits, show_progressbar=False)
        >>> ds.energies
        [20.0]
        """
        return [float(e) for e in self.attrs["energies"]]

    @property
    def sizes(self) -> dict[str, int]:
        """Number of orientations per split: train, val, test, then any others by name.

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.dataset import build_dataset
        >>> from kikuchipy_gen.sampling import random_rotations
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> tmp = tempfile.TemporaryDirectory()
        >>> splits = {"train": random_rotations(8, seed=0), "val": random_rotations(4, seed=1)}
        >>> ds = build_dataset(f"{tmp.name}/ni.zarr", KikuchipyNickelSource(), splits, show_progressbar=False)
        >>> ds.sizes
        {'train': 8, 'val': 4}
        """
        # zarr 2 stores attributes with sorted keys, so the build's order is not kept.
        splits = self.attrs["splits"]
        usual = ("train", "val", "test")
        order = sorted(splits, key=lambda k: (usual.index(k) if k in usual else len(usual), k))
        return {k: splits[k] for k in order}

    @property
    def pattern_shape(self) -> tuple[int, int]:
        """Pattern (rows, columns).

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.dataset import build_dataset
        >>> from kikuchipy_gen.sampling import random_rotations
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> tmp = tempfile.TemporaryDirectory()
        >>> splits = {"train": random_rotations(8, seed=0), "val": random_rotations(4, seed=1)}
        >>> ds = build_dataset(f"{tmp.name}/ni.zarr", KikuchipyNickelSource(), splits, show_progressbar=False)
        >>> ds.pattern_shape
        (60, 60)
        """
        return tuple(self.attrs["detector"]["shape"])

    @cached_property
    def phase(self) -> Phase:
        """The crystal phase.

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.dataset import build_dataset
        >>> from kikuchipy_gen.sampling import random_rotations
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> tmp = tempfile.TemporaryDirectory()
        >>> splits = {"train": random_rotations(8, seed=0), "val": random_rotations(4, seed=1)}
        >>> ds = build_dataset(f"{tmp.name}/ni.zarr", KikuchipyNickelSource(), splits, show_progressbar=False)
        >>> ds.phase.name, ds.phase.point_group.name
        ('ni', 'm-3m')
        """
        return phase_from_dict(self.attrs["source"]["phase"])

    @property
    def detector(self) -> EBSDDetector:
        """The detector the patterns were projected onto.

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.dataset import build_dataset
        >>> from kikuchipy_gen.sampling import random_rotations
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> tmp = tempfile.TemporaryDirectory()
        >>> splits = {"train": random_rotations(8, seed=0), "val": random_rotations(4, seed=1)}
        >>> ds = build_dataset(f"{tmp.name}/ni.zarr", KikuchipyNickelSource(), splits, show_progressbar=False)
        >>> ds.detector.shape, ds.detector.pc.round(3).tolist()
        ((60, 60), [[0.421, 0.221, 0.505]])
        """
        return detector_from_dict(self.attrs["detector"])

    @property
    def provenance(self) -> dict[str, Any]:
        """Master pattern source description, enough to rebuild the physics.

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.dataset import build_dataset
        >>> from kikuchipy_gen.sampling import random_rotations
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> tmp = tempfile.TemporaryDirectory()
        >>> splits = {"train": random_rotations(8, seed=0), "val": random_rotations(4, seed=1)}
        >>> ds = build_dataset(f"{tmp.name}/ni.zarr", KikuchipyNickelSource(), splits, show_progressbar=False)
        >>> ds.provenance["kind"]
        'kikuchipy-nickel'
        """
        return dict(self.attrs["source"])

    @property
    def source(self) -> MasterPatternSource:
        """The master pattern source, rebuilt from the provenance.

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.dataset import build_dataset
        >>> from kikuchipy_gen.sampling import random_rotations
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> tmp = tempfile.TemporaryDirectory()
        >>> splits = {"train": random_rotations(8, seed=0), "val": random_rotations(4, seed=1)}
        >>> ds = build_dataset(f"{tmp.name}/ni.zarr", KikuchipyNickelSource(), splits, show_progressbar=False)
        >>> ds.source
        KikuchipyNickelSource(phase='ni')
        """
        return source_from_dict(self.attrs["source"])

    def rotations(self, split: str = "train") -> Rotation:
        """Orientations of a split.

        Parameters
        ----------
        split
            Split name.

        Returns
        -------
        orix.quaternion.Rotation

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.dataset import build_dataset
        >>> from kikuchipy_gen.sampling import random_rotations
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> tmp = tempfile.TemporaryDirectory()
        >>> splits = {"train": random_rotations(8, seed=0), "val": random_rotations(4, seed=1)}
        >>> ds = build_dataset(f"{tmp.name}/ni.zarr", KikuchipyNickelSource(), splits, show_progressbar=False)
        >>> ds.rotations("val").shape
        (4,)
        """
        return Rotation(self._group(split)["rotations"][:])

    def patterns_array(self, split: str = "train") -> zarr.Array:
        """The uint8 zarr array ``(n_energies, n, rows, cols)`` of a split.

        Parameters
        ----------
        split
            Split name.

        Returns
        -------
        zarr.Array

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.dataset import build_dataset
        >>> from kikuchipy_gen.sampling import random_rotations
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> tmp = tempfile.TemporaryDirectory()
        >>> splits = {"train": random_rotations(8, seed=0), "val": random_rotations(4, seed=1)}
        >>> ds = build_dataset(f"{tmp.name}/ni.zarr", KikuchipyNickelSource(), splits, show_progressbar=False)
        >>> arr = ds.patterns_array("train")
        >>> arr.shape, arr.dtype
        ((1, 8, 60, 60), dtype('uint8'))
        """
        return self._group(split)["patterns"]

    def energy_index(self, energy: float) -> int:
        """Index of ``energy`` (kV) along the energy axis.

        Parameters
        ----------
        energy
            Beam energy in kV.

        Returns
        -------
        int

        Raises
        ------
        ValueError
            If the dataset holds no patterns at ``energy``.

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.dataset import build_dataset
        >>> from kikuchipy_gen.sampling import random_rotations
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> tmp = tempfile.TemporaryDirectory()
        >>> splits = {"train": random_rotations(8, seed=0), "val": random_rotations(4, seed=1)}
        >>> ds = build_dataset(f"{tmp.name}/ni.zarr", KikuchipyNickelSource(), splits, show_progressbar=False)
        >>> ds.energy_index(20)
        0
        """
        match = [i for i, e in enumerate(self.energies) if abs(e - float(energy)) < ENERGY_TOLERANCE]
        if not match:
            raise ValueError(f"No {energy} kV patterns; the dataset has {self.energies} kV")
        return match[0]

    def patterns(self, split: str = "train", energy: float | None = None) -> LazyEBSD:
        """Patterns of one split and energy as a lazy kikuchipy signal.

        The signal carries ``xmap`` (orientations, phase) and ``detector``,
        so it can be indexed, refined or used as a dictionary directly.

        Parameters
        ----------
        split
            Split name.
        energy
            Beam energy in kV; may be omitted when there is one.

        Returns
        -------
        kikuchipy.signals.LazyEBSD
            uint8 patterns, navigation shape (n,).

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.dataset import build_dataset
        >>> from kikuchipy_gen.sampling import random_rotations
        >>> from kikuchipy_gen.sources import KikuchipyNickelSource
        >>> tmp = tempfile.TemporaryDirectory()
        >>> splits = {"train": random_rotations(8, seed=0), "val": random_rotations(4, seed=1)}
        >>> ds = build_dataset(f"{tmp.name}/ni.zarr", KikuchipyNickelSource(), splits, show_progressbar=False)
        >>> s = ds.patterns("val")
        >>> s
        <LazyEBSD, title: val 20 kV, dimensions: (4|60, 60)>
        >>> s.xmap.phases[0].name
        'ni'
        """
        if energy is None:
            if len(self.energies) != 1:
                raise ValueError(f"Choose an energy among {self.energies} kV")
            energy = self.energies[0]
        ie = self.energy_index(energy)
        arr = self.patterns_array(split)
        data = da.from_zarr(arr)[ie]
        rot = self.rotations(split)
        xmap = CrystalMap(
            rotations=rot,
            phase_id=np.zeros(rot.size, dtype=int),
            phase_list=PhaseList(self.phase),
            x=np.arange(rot.size),
        )
        s = LazyEBSD(data, xmap=xmap, detector=self.detector)
        s.metadata.General.title = f"{split} {float(energy):g} kV"
        s.metadata.set_item("Acquisition_instrument.SEM.beam_energy", float(energy))
        return s

    def _group(self, split: str) -> zarr.Group:
        if split not in self.sizes:
            raise ValueError(f"No split {split!r}; the dataset has {list(self.sizes)}")
        return self._root[split]


def _as_unit_quaternions(rot: Rotation, name: str, point_group) -> np.ndarray:
    """Fundamental-zone unit quaternions: one representative per pattern (see attributes)."""
    if not isinstance(rot, Rotation):
        raise ValueError(f"Orientations of split {name!r} must be an orix Rotation")
    q = np.asarray(rot.data, dtype=np.float64).reshape(-1, 4)
    if len(q) == 0:
        raise ValueError(f"Split {name!r} holds no orientations")
    return fundamental_zone_quaternions(q / np.linalg.norm(q, axis=1, keepdims=True), point_group)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _create_array(group: zarr.Group, name: str, **kwargs: Any) -> zarr.Array:
    """``group.create_array`` in zarr 3, ``group.create_dataset`` in zarr 2.

    zarr 2 is what hyperspy's ``.zspy`` format needs up to rosettasciio 0.15
    (see pyproject.toml); the datasets work with either.
    """
    create = getattr(group, "create_array", None) or group.create_dataset
    return create(name, **kwargs)


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` for a build, so one process at a time writes a dataset path.

    On POSIX the lock is ``flock``, which the system releases when its
    holder dies, so a killed build never blocks the next one. The file holds
    the builder's PID for the message and is removed when the build ends.
    """
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise _busy(path, lock, _read_pid(lock), stale_hint=True) from None
    else:
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise _busy(path, lock, _read_pid(lock)) from None
            # The holder we waited on may have removed the file between our open
            # and our flock: then we hold an orphan, and try again on the new one.
            try:
                if os.path.samestat(os.fstat(fd), os.stat(lock)):
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        # Removed while still held, so no other process can lock the old file after us.
        with contextlib.suppress(OSError):
            os.remove(lock)
        os.close(fd)


def _read_pid(lock: Path) -> str:
    try:
        return lock.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def _busy(path: Path, lock: Path, pid: str, stale_hint: bool = False) -> FileExistsError:
    hint = f"; if no build is running, remove {str(lock)!r}" if stale_hint else ""
    return FileExistsError(
        f"The dataset at {str(path)!r} is being built by another process (pid {pid}); "
        f"wait for it or choose another path{hint}"
    )


def _open_existing(path: Path) -> zarr.Group | None:
    """The dataset group at ``path``, or None if it is not one."""
    if not path.exists():
        return None
    try:
        root = zarr.open_group(str(path), mode="r+")
    except Exception:
        return None
    return root if root.attrs.get("format") == DATASET_FORMAT else None


def _open_for_build(path: Path, fingerprint: str, resume: bool, overwrite: bool) -> zarr.Group | None:
    """Check ``path`` before a build; return the group to resume, or None to start anew."""
    if resume and overwrite:
        raise ValueError("Choose resume or overwrite, not both")
    if not path.exists():
        return None
    existing = _open_existing(path)
    if existing is None:
        if path.is_dir() and not any(path.iterdir()):
            return None
        raise FileExistsError(f"{str(path)!r} exists and is not a kikuchipy-gen dataset; choose another output path")
    if overwrite:
        shutil.rmtree(path)
        return None
    if not resume:
        state = "complete" if existing.attrs.get("complete") else "unfinished"
        raise FileExistsError(
            f"A {state} dataset exists at {str(path)!r}; pass --resume to finish an "
            "interrupted build or --overwrite to replace it"
        )
    if existing.attrs.get("fingerprint") != fingerprint:
        raise ValueError(
            f"The dataset at {str(path)!r} was built with other inputs (source, energies, "
            "orientations, detector or preprocessing); resume with the same ones or --overwrite"
        )
    return existing
