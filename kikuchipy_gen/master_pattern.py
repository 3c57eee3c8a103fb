"""The ML master pattern: a trained generator that behaves like kikuchipy's ``EBSDMasterPattern``.

:class:`MLMasterPattern` wraps a trained decoder with what it was trained on
(phase, detector, energies, physics provenance) and offers
:meth:`~MLMasterPattern.get_patterns`, the same call as
:meth:`kikuchipy.signals.EBSDMasterPattern.get_patterns`: a ``LazyEBSD`` whose
dask chunks are decoded by torch (CUDA when available), with ``xmap`` and
``detector`` set, so the result indexes, refines and plots like any kikuchipy
signal.

A saved model is a folder::

    model.json            format, model config, phase, detector, energies,
                          physics provenance, training summary
    decoder.safetensors   decoder weights (no pickles anywhere)

Patterns are in the training data's scale: CLAHE'd intensities in [0, 1]
(float) or 0-255 (uint8), not raw physics intensities.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import logging
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import hyperspy.api as hs
import numpy as np
import torch
from dask.diagnostics import ProgressBar
from kikuchipy.detectors import EBSDDetector
from kikuchipy.signals import EBSD, EBSDMasterPattern, LazyEBSD
from orix.crystal_map import CrystalMap, Phase, PhaseList
from orix.quaternion import Rotation
from tqdm.auto import tqdm

from kikuchipy_gen.attributes import ENERGY_TOLERANCE, fundamental_zone_quaternions
from kikuchipy_gen.detector import MAX_DETECTOR_SIDE, detector_from_dict, detector_to_dict
from kikuchipy_gen.models.bundle import BUNDLE_FORMAT, ModelBundle, info_from_dataset
from kikuchipy_gen.models.config import ModelConfig
from kikuchipy_gen.models.runtime import DecoderRuntime, default_device
from kikuchipy_gen.phases import space_group_symbol
from kikuchipy_gen.sources import source_from_dict

__all__ = ["MODEL_FORMAT", "PRETRAINED_DIR", "MLMasterPattern", "available_pretrained"]

_logger = logging.getLogger(__name__)

#: Format tag of saved models (:data:`kikuchipy_gen.models.bundle.BUNDLE_FORMAT`).
MODEL_FORMAT = BUNDLE_FORMAT
#: Folder of the models shipped with the package.
PRETRAINED_DIR = Path(__file__).parent / "pretrained"
_DTYPES = ("float32", "float64", "uint8", "uint16")


class MLMasterPattern:
    """A trained EBSD pattern generator with kikuchipy's master-pattern interface.

    Build one with :meth:`load` (a saved model, or a training run or
    checkpoint folder) or :meth:`from_pretrained` (the model shipped with
    the package).

    Parameters
    ----------
    decoder_config
        The decoder's model configuration.
    state_dict
        Decoder weights.
    info
        What the model was trained on: ``phase``, ``detector``,
        ``energies`` (kV), ``source`` (physics provenance) and optional
        ``training`` summary, as stored in ``model.json``.

    Attributes
    ----------
    phase : orix.crystal_map.Phase
    detector : kikuchipy.detectors.EBSDDetector
        The detector the model was trained for (a copy each access).
    energy_range : tuple of float
        Lowest and highest training voltage (kV).
    energies : list of float
        The training voltages (kV).

    Examples
    --------
    >>> import kikuchipy_gen as kpg
    >>> from orix.quaternion import Rotation
    >>> mlmp = kpg.MLMasterPattern.from_pretrained()
    >>> s = mlmp.get_patterns(Rotation.random(10), energy=17.0)
    >>> s  # doctest: +ELLIPSIS
    <LazyEBSD, title: ..., dimensions: (10|60, 60)>
    >>> s.compute(show_progressbar=False)
    >>> s.xmap.phases[0].point_group.name
    'm-3m'
    """

    def __init__(self, decoder_config: ModelConfig, state_dict: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
        self._init(ModelBundle(decoder_config, state_dict, info))

    def _init(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        self.config = bundle.config
        self.info = bundle.info
        self.phase = bundle.phase.deepcopy()
        self._detector = bundle.detector
        self.energies = bundle.energies
        self.energy_range = (min(self.energies), max(self.energies))
        self._runtime = DecoderRuntime(bundle)

    # ------------------------------------------------------------ loading
    @classmethod
    def from_bundle(cls, bundle: ModelBundle) -> MLMasterPattern:
        """The ML master pattern of a model bundle.

        Parameters
        ----------
        bundle
            A :class:`~kikuchipy_gen.models.bundle.ModelBundle`.

        Returns
        -------
        MLMasterPattern

        Examples
        --------
        >>> from kikuchipy_gen import MLMasterPattern
        >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
        >>> from kikuchipy_gen.models.bundle import ModelBundle
        >>> MLMasterPattern.from_bundle(ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv"))
        <MLMasterPattern ni (m-3m), 10-30 kV, 60x60 px, geometric decoder>
        """
        if not isinstance(bundle, ModelBundle):
            raise TypeError(f"bundle must be a ModelBundle, got {type(bundle).__name__}")
        mlmp = cls.__new__(cls)
        mlmp._init(bundle)
        return mlmp

    @classmethod
    def load(cls, path: str | Path) -> MLMasterPattern:
        """Load a saved model, a training checkpoint or a training run folder.

        Parameters
        ----------
        path
            A model folder (``model.json`` and ``decoder.safetensors``,
            written by :meth:`save` and by every training checkpoint), or a
            training run's ``out`` folder, whose best checkpoint (else last)
            is used.

        Returns
        -------
        MLMasterPattern

        Examples
        --------
        >>> from kikuchipy_gen import MLMasterPattern
        >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
        >>> MLMasterPattern.load(PRETRAINED_DIR / "ni-10-30kv").energy_range
        (10.0, 30.0)
        """
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"No model folder at {str(path)!r}")
        for candidate in (path, path / "checkpoints" / "best", path / "checkpoints" / "last"):
            if (candidate / "model.json").is_file():
                return cls.from_bundle(ModelBundle.read(candidate))
        for candidate in (path, path / "checkpoints" / "best", path / "checkpoints" / "last"):
            if (candidate / "config.json").is_file():
                raise ValueError(
                    f"{str(candidate)!r} is a checkpoint written before checkpoints held a model.json; "
                    "convert it once with kikuchipy_gen.training.export_checkpoint(path)"
                )
        raise ValueError(f"{str(path)!r} is neither a saved model (model.json) nor a training run folder")

    @classmethod
    def from_dataset(cls, config: ModelConfig, state_dict: dict[str, torch.Tensor], dataset) -> MLMasterPattern:
        """A model from decoder weights and the dataset they were trained on.

        Parameters
        ----------
        config
            The decoder's model configuration.
        state_dict
            Decoder weights (e.g. ``trainer.decoder.state_dict()``).
        dataset
            :class:`~kikuchipy_gen.dataset.EBSDDataset`: phase, detector,
            energies, source provenance and preprocessing come from it.

        Returns
        -------
        MLMasterPattern

        Examples
        --------
        >>> from kikuchipy_gen.dataset import open_dataset
        >>> from kikuchipy_gen.models import preset
        >>> from kikuchipy_gen.models.geometric import GeometricDecoder
        >>> ds = open_dataset("ni.zarr")  # doctest: +SKIP
        >>> cfg = preset("geometric")
        >>> dec = GeometricDecoder(cfg, ds.detector, ds.phase.point_group)  # doctest: +SKIP
        >>> MLMasterPattern.from_dataset(cfg, dec.state_dict(), ds)  # doctest: +SKIP
        <MLMasterPattern ni (m-3m), 20 kV, 60x60 px, geometric decoder>
        """
        return cls(config, state_dict, info_from_dataset(dataset.attrs))

    @classmethod
    def from_pretrained(cls, name: str = "ni-10-30kv") -> MLMasterPattern:
        """The model shipped with the package.

        Parameters
        ----------
        name
            Shipped model name; :func:`available_pretrained` lists them.

        Returns
        -------
        MLMasterPattern

        Examples
        --------
        >>> from kikuchipy_gen import MLMasterPattern
        >>> MLMasterPattern.from_pretrained().phase.point_group.name
        'm-3m'
        """
        names = available_pretrained()
        if name not in names:
            raise ValueError(f"No shipped model {name!r}; available: {names}")
        return cls.load(PRETRAINED_DIR / name)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write ``model.json`` and ``decoder.safetensors`` into a folder.

        Parameters
        ----------
        path
            Folder to create.
        overwrite
            Replace the files of an existing model there.

        Returns
        -------
        pathlib.Path

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen import MLMasterPattern
        >>> mlmp = MLMasterPattern.from_pretrained()
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     MLMasterPattern.load(mlmp.save(tmp + "/ni")).energies == mlmp.energies
        True
        """
        return self.bundle.write(path, overwrite)

    # ---------------------------------------------------------- properties
    @property
    def detector(self) -> EBSDDetector:
        """The detector the model was trained for (a copy).

        Examples
        --------
        >>> import kikuchipy_gen as kpg
        >>> kpg.MLMasterPattern.from_pretrained().detector.shape
        (60, 60)
        """
        return self._detector.deepcopy()

    @property
    def is_geometric(self) -> bool:
        """Whether the decoder projects exactly (any detector, master-pattern export).

        Examples
        --------
        >>> import kikuchipy_gen as kpg
        >>> kpg.MLMasterPattern.from_pretrained().is_geometric
        True
        """
        return self.config.decoder.kind == "geometric"

    @property
    def training(self) -> dict[str, Any]:
        """Training provenance: dataset fingerprint, splits, steps, hyperparameters.

        Examples
        --------
        >>> import kikuchipy_gen as kpg
        >>> sorted(kpg.MLMasterPattern.from_pretrained().training)
        ['checkpoint', 'dataset_fingerprint', 'splits', 'state', 'train_config']
        """
        return copy.deepcopy(self.info.get("training", {}))

    def __repr__(self) -> str:
        lo, hi = self.energy_range
        kv = f"{lo:g} kV" if lo == hi else f"{lo:g}-{hi:g} kV"
        rows, cols = self._detector.shape
        return (
            f"<MLMasterPattern {self.phase.name} ({self.phase.point_group.name}), {kv}, "
            f"{rows}x{cols} px, {self.config.decoder.kind} decoder>"
        )

    # ---------------------------------------------------------- physics
    def reference_master_pattern(
        self, energy: float | None = None, path: str | Path | None = None, cache_dir: str | Path | None = "default"
    ) -> EBSDMasterPattern:
        """The physics master pattern the model learned from, rebuilt from provenance.

        The provenance is read from the model file and trusted no further
        than :func:`~kikuchipy_gen.sources.source_from_dict` allows: it
        chooses no folder to write into and opens no file by itself.

        Parameters
        ----------
        energy
            Voltage in kV; default the highest training energy.
        path
            For a model learned from an EMsoft file: that file (its SHA-256
            must match the recorded one).
        cache_dir
            Where a dynamical (de-ebsd) master pattern is cached:
            ``"default"``, a folder, or None for no cache.

        Returns
        -------
        kikuchipy.signals.EBSDMasterPattern

        Examples
        --------
        >>> from kikuchipy_gen import MLMasterPattern
        >>> mp = MLMasterPattern.from_pretrained().reference_master_pattern(20)  # doctest: +SKIP
        """
        energy = self._default_energy(energy)
        return source_from_dict(self.info["source"], path=path, cache_dir=cache_dir).master_pattern(energy)

    def to_master_pattern(
        self, energy: float | None = None, size: int | None = None, extrapolate: bool = False
    ) -> EBSDMasterPattern:
        """The learned master pattern at a voltage, as a kikuchipy ``EBSDMasterPattern``.

        Only geometry-aware (``geometric``) models have one; see
        :meth:`kikuchipy_gen.models.geometric.GeometricDecoder.to_master_pattern`.

        Parameters
        ----------
        energy
            Voltage in kV; default the highest training energy.
        size
            Side of the square Lambert grid; default the decoder's own.
        extrapolate
            Allow an energy outside the trained range.

        Returns
        -------
        kikuchipy.signals.EBSDMasterPattern
            Square Lambert projection, both hemispheres, the model's phase.

        Examples
        --------
        >>> import kikuchipy_gen as kpg
        >>> mlmp = kpg.MLMasterPattern.from_pretrained()
        >>> mp = mlmp.to_master_pattern(20.0, size=101)
        >>> mp.projection, mp.hemisphere, mp.data.shape
        ('lambert', 'both', (2, 101, 101))
        """
        if not self.is_geometric:
            raise TypeError("Only geometric-decoder models hold a master pattern; this one is a conv decoder")
        energy = self._default_energy(energy)
        self._check_energies(np.asarray([energy]), extrapolate)
        dec = self._runtime.decoder(self._detector, torch.device("cpu"))
        return dec.to_master_pattern(self.phase, energy if dec.use_voltage else None, size)

    def plot(self, energy: float | None = None, **kwargs: Any) -> None:
        """Plot the learned master pattern at a voltage with hyperspy, as ``EBSDMasterPattern.plot``.

        Parameters
        ----------
        energy
            Voltage in kV; default the highest training voltage.
        **kwargs
            Passed to :meth:`hyperspy.signal.BaseSignal.plot`.

        Examples
        --------
        >>> from kikuchipy_gen import MLMasterPattern
        >>> MLMasterPattern.from_pretrained().plot(17.5)  # doctest: +SKIP
        """
        self.to_master_pattern(energy).plot(**kwargs)

    def plot_spherical(self, energy: float | None = None, **kwargs: Any) -> Any:
        """Plot the learned master pattern on the sphere, as ``EBSDMasterPattern.plot_spherical``.

        Needs kikuchipy's optional PyVista dependency.

        Parameters
        ----------
        energy
            Voltage in kV; default the highest training voltage.
        **kwargs
            Passed to :meth:`kikuchipy.signals.EBSDMasterPattern.plot_spherical`.

        Returns
        -------
        Whatever kikuchipy returns (a PyVista plotter when asked for).

        Examples
        --------
        >>> from kikuchipy_gen import MLMasterPattern
        >>> MLMasterPattern.from_pretrained().plot_spherical(20.0)  # doctest: +SKIP
        """
        return self.to_master_pattern(energy).plot_spherical(**kwargs)

    # ------------------------------------------ as kikuchipy's master pattern
    # kikuchipy's refinement (EBSD.refine_orientation, refine_projection_center,
    # refine_orientation_projection_center) reads exactly these members of
    # the master pattern it is given: phase, _is_suitable_for_projection,
    # _get_master_pattern_arrays_from_energy and axes_manager.signal_shape.
    # Answering them with the learned texture lets a user pass the ML master
    # pattern itself; tests/test_master_pattern.py guards the names against
    # the installed kikuchipy.
    def _is_suitable_for_projection(self, raise_if_not: bool = False) -> bool:
        if not self.is_geometric:
            if raise_if_not:
                raise TypeError(
                    "Only geometric-decoder models hold a master pattern that kikuchipy can project; "
                    "this one is a conv decoder"
                )
            return False
        return True

    def _get_master_pattern_arrays_from_energy(self, energy: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        upper, lower = self.to_master_pattern(energy).data
        return upper, lower

    @property
    def axes_manager(self):
        """Axes of the learned master pattern (Lambert, both hemispheres), as kikuchipy's.

        Examples
        --------
        >>> import kikuchipy_gen as kpg
        >>> axes = kpg.MLMasterPattern.from_pretrained().axes_manager
        >>> axes.navigation_shape, axes.signal_shape
        ((2,), (201, 201))
        """
        self._is_suitable_for_projection(raise_if_not=True)
        return self.to_master_pattern(self.energy_range[1]).axes_manager

    # ---------------------------------------------------------- generation
    def get_patterns(
        self,
        rotations: Rotation,
        detector: EBSDDetector | None = None,
        energy: float | np.ndarray | None = None,
        dtype_out: str | np.dtype = "float32",
        compute: bool = False,
        show_progressbar: bool | None = None,
        *,
        latent: str | int = "mean",
        device: str | torch.device | None = None,
        extrapolate: bool = False,
        chunk_shape: int | None = None,
        chunk_bytes: int | str | None = None,
        chunk_size: int | None = None,
    ) -> EBSD | LazyEBSD:
        """Generate patterns for rotations, like ``EBSDMasterPattern.get_patterns``.

        The first six parameters are kikuchipy's, with its defaults; the
        generative ones (``latent``, ``device``, ``extrapolate``) and the
        chunking are keyword-only.

        Parameters
        ----------
        rotations
            orix rotations (or orientations), 1-D or 2-D; the navigation
            shape of the result.
        detector
            Detector to generate for; default the trained one. Geometric
            models accept any detector (shape, pattern centre, tilts), with
            one pattern centre or one per rotation
            (``detector.navigation_shape == rotations.shape``), as kikuchipy
            does; conv models only the one they were trained for.
        energy
            Voltage in kV: a scalar or one per rotation (shape of
            ``rotations``). Default, as kikuchipy's: the highest training
            energy.
        dtype_out
            ``float32``/``float64`` give intensities in [0, 1];
            ``uint8``/``uint16`` the same scaled to the type's range.
        compute
            Return an in-memory ``EBSD`` instead of a ``LazyEBSD``. On dask's
            default (threaded) scheduler the chunks are decoded straight into
            the result in a pool of dask's size (``num_workers``), with no
            task graph; with a scheduler of your choice
            (``dask.config.set(scheduler=...)``, a distributed ``Client``)
            the graph runs there.
        show_progressbar
            Progress bar while computing; default, as kikuchipy's:
            ``hyperspy.api.preferences.General.show_progressbar``.
        latent
            ``"mean"`` decodes z = 0, the prior's mean; an integer seed
            draws z ~ N(0, I) per pattern, reproducible for that seed
            whatever the chunking.
        device
            torch device for decoding; default CUDA when available, else CPU.
        extrapolate
            Allow energies outside :attr:`energy_range`.
        chunk_shape
            Rotations per dask chunk (kikuchipy's name): one torch batch on
            a GPU, one call of the numba kernel on CPU (chunks run in
            threads). Default on CPU: about four chunks per CPU core (dask's
            thread count), at least 32 rotations and at most 8 MiB each; on
            a GPU: 2,048 rotations, at most 32 MiB each (fewer, larger
            batches: 1.7x faster than the CPU rule's at 60x60 on an H200).
        chunk_bytes
            Alternatively, the size of an output chunk, e.g. ``"8 MiB"``.
        chunk_size
            Former name of ``chunk_shape``.

        Returns
        -------
        kikuchipy.signals.LazyEBSD or kikuchipy.signals.EBSD
            Navigation shape ``rotations.shape``, signal shape
            ``detector.shape``, axes named and in px as kikuchipy's;
            ``xmap`` (with the energies in ``xmap.prop["energy"]``) and
            ``detector`` set.

        Examples
        --------
        >>> import numpy as np
        >>> from kikuchipy_gen import MLMasterPattern
        >>> from kikuchipy_gen.sampling import random_rotations
        >>> mlmp = MLMasterPattern.from_pretrained()
        >>> s = mlmp.get_patterns(random_rotations(6), energy=np.linspace(10, 30, 6), chunk_shape=3)
        >>> s.data.chunks[0], [a.name for a in s.axes_manager.signal_axes]
        ((3, 3), ['dx', 'dy'])
        >>> s.xmap.prop["energy"]
        array([10., 14., 18., 22., 26., 30.])
        """
        _check_symmetry(rotations, self.phase)
        nav_shape = _rotation_shape(rotations)
        if len(nav_shape) not in (1, 2) or 0 in nav_shape:
            raise ValueError(f"rotations must be a non-empty 1-D or 2-D orix Rotation, got shape {nav_shape}")
        # One copy of the quaternions, flat in C order, for the decoder and
        # (as a Rotation) the crystal map: a million rotations hold 32 MB each
        # time they are copied, and a Rotation copy 40 MB plus its normalisation.
        flat = np.ascontiguousarray(rotations.data.reshape(-1, 4), dtype=np.float64)
        bad = ~np.isfinite(flat).all(axis=1)
        if bad.any():
            raise ValueError(
                f"rotations must be finite, non-zero quaternions; {int(bad.sum())} are not "
                f"(the first at flat index {int(np.flatnonzero(bad)[0])})"
            )
        detector, pcs = self._check_detector(detector, nav_shape)
        dtype_out = _check_dtype(dtype_out)
        seed = _check_latent(latent)
        energies = self._energy_array(energy, nav_shape, extrapolate)
        gpu = (default_device() if device is None else torch.device(device)).type != "cpu"  # fails early on a bad name
        per_chunk = _rotations_per_chunk(
            chunk_shape, chunk_size, chunk_bytes, detector, dtype_out, flat.shape[0], gpu=gpu
        )
        chunks = _nav_chunks(nav_shape, per_chunk)

        if self._runtime.symmetric:
            # The decoder reduces each pixel into the fundamental sector, so
            # equivalent orientations give the same pattern: reducing the
            # orientations first (orix, serial, before any chunk runs) would
            # change nothing but the cost, 15-20 us a rotation.
            q = flat.reshape(*nav_shape, 4)
        else:
            q = fundamental_zone_quaternions(flat, self.phase.point_group).reshape(*nav_shape, 4)
        base = detector if pcs is None else _single_pc(detector, pcs[0])
        _logger.debug("Generating %s patterns of %s px in %d chunks", nav_shape, detector.shape, _count(chunks))
        decode = _DecodeBlocks(self._runtime, base, dtype_out, seed, None if device is None else str(device))
        blocks = [q, energies[..., None]] + ([] if pcs is None else [pcs.reshape(*nav_shape, 3)])
        if show_progressbar is None:
            show_progressbar = hs.preferences.General.show_progressbar
        if compute and _default_scheduler():
            # Nothing asked dask for a scheduler of its own: the chunks run
            # straight into the output in a pool of dask's default size, the
            # same blocks and block functions, with no graph to build,
            # optimise and schedule (a fifth of a 1,000-rotation call).
            data = np.empty(nav_shape + tuple(detector.shape), dtype=dtype_out)
            _decode_into(data, decode, blocks, chunks, show_progressbar)
        else:
            token = dask.base.tokenize(q, energies, pcs, detector_to_dict(base), dtype_out, seed)
            data = da.map_blocks(
                decode,
                *[da.from_array(b, chunks=chunks + ((b.shape[-1],),)) for b in blocks],
                dtype=dtype_out,
                drop_axis=len(nav_shape),
                new_axis=list(range(len(nav_shape), len(nav_shape) + 2)),
                chunks=chunks + tuple((s,) for s in detector.shape),
                name=f"mlmp-{self.bundle.digest[:12]}-{token}",
            )
            if compute:
                # The scheduler of the user's choice (a distributed client,
                # "sync", ...): each chunk stored straight into the output, as
                # kikuchipy's get_patterns does. Not LazyEBSD.compute: that
                # concatenates the chunks (a copy of the whole result) and ends
                # with gc.collect(), 0.3 s in a session with torch loaded.
                patterns = np.empty(data.shape, dtype=data.dtype)
                with ProgressBar() if show_progressbar else contextlib.nullcontext():
                    da.store(data, patterns, lock=False)
                data = patterns
        # As kikuchipy's get_patterns: xmap, detector and axes through the
        # constructor (the xmap setter rejects a single pattern's map).
        cls = EBSD if compute else LazyEBSD
        xmap = _crystal_map(Rotation(flat), nav_shape, self.phase, energies)
        signal = cls(data, xmap=xmap, detector=detector, axes=_axes(data.shape))
        signal.metadata.General.title = f"{self.phase.name} generated"
        if np.ptp(energies) == 0:
            signal.metadata.set_item("Acquisition_instrument.SEM.beam_energy", float(energies.flat[0]))
        return signal

    def decode(
        self,
        rotations: Rotation,
        energy: float | np.ndarray | None = None,
        detector: EBSDDetector | None = None,
        latent: str | int = "mean",
        device: str | torch.device | None = None,
        extrapolate: bool = False,
    ) -> np.ndarray:
        """Generate patterns eagerly as a float32 array (n, rows, cols) in [0, 1].

        A thin eager counterpart of :meth:`get_patterns` for scripts and
        benchmarks.

        Parameters
        ----------
        rotations, energy, detector, latent, device, extrapolate
            As in :meth:`get_patterns`.

        Returns
        -------
        numpy.ndarray
            float32 patterns, one per rotation (flattened).

        Examples
        --------
        >>> import kikuchipy_gen as kpg
        >>> from kikuchipy_gen.sampling import random_rotations
        >>> patterns = kpg.MLMasterPattern.from_pretrained().decode(random_rotations(3), energy=20.0)
        >>> patterns.shape, patterns.dtype
        ((3, 60, 60), dtype('float32'))
        """
        n = max(int(np.prod(_rotation_shape(rotations))), 1)
        gpu = (torch.device(device) if device is not None else default_device()).type != "cpu"
        # One batch on a GPU; on CPU get_patterns' default chunks in threads
        # (the numba kernel releases the GIL).
        s = self.get_patterns(
            rotations,
            detector,
            energy,
            compute=True,
            show_progressbar=False,
            latent=latent,
            device=device,
            extrapolate=extrapolate,
            chunk_shape=n if gpu else None,
        )
        return s.data.reshape(-1, *s.data.shape[-2:])

    # ------------------------------------------------------------ helpers
    def _default_energy(self, energy: float | None) -> float:
        # kikuchipy's default: the highest energy of the master pattern.
        if energy is None:
            return self.energy_range[1]
        try:
            energy = float(energy)
        except (TypeError, ValueError) as err:
            raise ValueError(f"energy must be a number in kV, got {energy!r}") from err
        if not np.isfinite(energy) or energy <= 0:
            raise ValueError(f"energy must be positive, finite kV, got {energy}")
        return energy

    def _energy_array(self, energy: Any, shape: tuple[int, ...], extrapolate: bool) -> np.ndarray:
        if energy is None:
            energy = self._default_energy(None)
        try:
            e = np.asarray(energy, dtype=float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"energy must be a number or an array of numbers in kV, got {energy!r}") from err
        if e.ndim and e.shape != shape:
            if e.size == int(np.prod(shape)):
                e = e.reshape(shape)
            else:
                raise ValueError(f"energy must be a scalar or one value per rotation {shape}, got shape {e.shape}")
        e = np.broadcast_to(e, shape).astype(np.float64)
        if not np.all(np.isfinite(e)) or np.any(e <= 0):
            raise ValueError("energy must be positive, finite kV")
        self._check_energies(e, extrapolate)
        return np.ascontiguousarray(e)

    def _check_energies(self, e: np.ndarray, extrapolate: bool) -> None:
        lo, hi = self.energy_range
        if not self.config.use_voltage:
            if np.any(np.abs(e - lo) > ENERGY_TOLERANCE):
                raise ValueError(f"This model is not conditioned on voltage; it generates {lo:g} kV only")
            return
        if not extrapolate and (e.min() < lo - ENERGY_TOLERANCE or e.max() > hi + ENERGY_TOLERANCE):
            span = f"{e.min():g}" if e.min() == e.max() else f"{e.min():g}-{e.max():g}"
            raise ValueError(
                f"energy {span} kV is outside the trained range {lo:g}-{hi:g} kV; "
                "pass extrapolate=True (--extrapolate) to allow it"
            )

    def _check_detector(
        self, detector: EBSDDetector | None, nav_shape: tuple[int, ...]
    ) -> tuple[EBSDDetector, np.ndarray | None]:
        """A copy of the detector, and its (n, 3) pattern centres when it has one per rotation."""
        if detector is None:
            return self._detector.deepcopy(), None
        if not isinstance(detector, EBSDDetector):
            raise TypeError(f"detector must be a kikuchipy EBSDDetector, got {type(detector).__name__}")
        if min(detector.shape) < 2:
            raise ValueError(f"Detector shape {detector.shape} needs at least 2 pixels a side")
        if max(detector.shape) > MAX_DETECTOR_SIDE:
            raise ValueError(
                f"Detector shape {detector.shape} is larger than {MAX_DETECTOR_SIDE} pixels a side; "
                "bin the detector (EBSDDetector(binning=...)) or generate a smaller one"
            )
        pcs = np.asarray(detector.pc, dtype=float).reshape(-1, 3)
        if len(pcs) > 1 and detector.navigation_shape != nav_shape:
            raise ValueError(
                f"detector.navigation_shape {detector.navigation_shape} must be equal to rotations.shape "
                f"{nav_shape}, or the detector must have exactly one pattern centre"
            )
        if not np.all(np.isfinite(pcs)) or np.any(pcs[:, 2] <= 0):
            raise ValueError("The detector's pattern centres must be finite with PCz > 0")
        if not self.is_geometric:
            trained = detector_to_dict(self._detector)
            described = [detector_to_dict(_single_pc(detector, pc)) for pc in np.unique(pcs, axis=0)]
            same = all(
                d["shape"] == trained["shape"]
                and all(np.allclose(d[k], trained[k], atol=1e-6) for k in ("pc", "sample_tilt", "tilt", "azimuthal"))
                for d in described
            )
            if not same:
                raise ValueError(
                    "This conv-decoder model generates only for the detector it was trained for "
                    f"({trained['shape']}, PC {trained['pc']}, tilt {trained['tilt']}, sample tilt "
                    f"{trained['sample_tilt']}); geometric models accept any detector"
                )
        return detector.deepcopy(), (pcs if len(pcs) > 1 else None)


def available_pretrained(details: bool = False) -> list[str] | list[dict[str, Any]]:
    """The models shipped with the package (the zoo).

    Parameters
    ----------
    details
        Return, instead of the names, one dictionary per model: ``name``,
        ``phase``, ``space_group``, ``point_group``, ``laue_group``,
        ``energies`` (kV), ``shape`` (detector pixels) and ``card`` (the path
        of its ``MODEL_CARD.md``, which says how it was made and how good it
        is; None if it has none).

    Returns
    -------
    list of str, or list of dict
        Sorted by name; give a name to
        :meth:`MLMasterPattern.from_pretrained`.

    Examples
    --------
    >>> from kikuchipy_gen.master_pattern import available_pretrained
    >>> "ni-10-30kv" in available_pretrained()
    True
    >>> ni = next(m for m in available_pretrained(details=True) if m["name"] == "ni-10-30kv")
    >>> ni["phase"], ni["laue_group"], ni["energies"][0], ni["energies"][-1]
    ('ni', 'm-3m', 10.0, 30.0)
    """
    if not PRETRAINED_DIR.is_dir():
        return []
    names = sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "model.json").is_file())
    if not details:
        return names
    out = []
    for name in names:
        bundle = ModelBundle.read(PRETRAINED_DIR / name)
        phase = bundle.phase
        card = PRETRAINED_DIR / name / "MODEL_CARD.md"
        out.append(
            {
                "name": name,
                "phase": phase.name,
                "space_group": space_group_symbol(phase),
                "point_group": phase.point_group.name,
                "laue_group": phase.point_group.laue.name,
                "energies": bundle.energies,
                "shape": bundle.detector.shape,
                "card": card if card.is_file() else None,
            }
        )
    return out


class _DecodeBlocks:
    """The dask block function; pickles as its runtime's bytes (see :class:`DecoderRuntime`)."""

    def __init__(
        self, runtime: DecoderRuntime, detector: EBSDDetector, dtype_out: str, seed: int | None, device: str | None
    ) -> None:
        self.runtime, self.detector, self.dtype_out, self.seed, self.device = runtime, detector, dtype_out, seed, device

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "detector": detector_to_dict(self.detector)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({**state, "detector": detector_from_dict(state["detector"])})

    def __call__(
        self,
        q: np.ndarray,
        e: np.ndarray,
        *pcs: np.ndarray,
        block_info: dict | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        nav = q.shape[:-1]
        n = int(np.prod(nav))
        rows, cols = self.detector.shape
        if n == 0:
            return np.zeros((*nav, rows, cols), dtype=self.dtype_out)
        z = _latents(self.seed, n, self.runtime.bundle.config.latent_dim, block_info, nav)
        device = None if self.device is None else torch.device(self.device)
        centres = pcs[0].reshape(n, 3) if pcs else None
        # float32 patterns go straight into the caller's slice of the result
        # when it is one contiguous block: no buffer per chunk, no copy.
        direct = out is not None and self.dtype_out == "float32" and out.flags.c_contiguous
        target = out.reshape(n, rows, cols) if direct else None
        x = self.runtime.decode(q.reshape(n, 4), e.reshape(n), z, self.detector, device, centres, out=target)
        x = _to_dtype(x.reshape(*nav, rows, cols), self.dtype_out)
        if out is not None and not direct:
            out[...] = x
        return x


def _default_scheduler() -> bool:
    """Whether dask would run a computation on its default thread pool.

    False when the user chose a scheduler (``dask.config.set(scheduler=...)``,
    a pool) or a distributed client is active. ``distributed`` is looked at
    only if it was imported: without it no client can exist, and importing it
    would take a second.
    """
    if dask.config.get("scheduler", None) is not None or dask.config.get("pool", None) is not None:
        return False
    if "distributed" in sys.modules:
        return dask.base.get_scheduler() is None
    return True


def _decode_into(
    out: np.ndarray,
    decode: _DecodeBlocks,
    blocks: list[np.ndarray],
    chunks: tuple[tuple[int, ...], ...],
    show_progressbar: bool,
) -> None:
    """Run ``decode`` on each chunk of ``blocks`` and write it into ``out``, in threads.

    As dask's threaded scheduler would run the graph of :meth:`MLMasterPattern.get_patterns`:
    the same blocks, ``block_info`` as dask's (the latents are keyed by it), a
    pool of dask's default size (``num_workers``). The first error raises,
    with the chunks not yet started cancelled.
    """
    spans = [list(zip(np.cumsum((0,) + c)[:-1].tolist(), np.cumsum(c).tolist())) for c in chunks]
    shape = out.shape[: len(chunks)]

    def run(location: tuple[tuple[int, int], ...]) -> None:
        where = tuple(slice(a, b) for a, b in location)
        info = {None: {"array-location": list(location), "shape": shape}}
        decode(*(b[where] for b in blocks), block_info=info, out=out[where])

    todo = list(itertools.product(*spans))
    threads = min(len(todo), dask.config.get("num_workers", None) or dask.system.CPU_COUNT)
    with tqdm(total=len(todo), desc="Generating patterns", unit="chunk", disable=not show_progressbar) as bar:
        if threads <= 1:
            for location in todo:
                run(location)
                bar.update()
            return
        pool = ThreadPoolExecutor(threads, thread_name_prefix="kikuchipy-gen")
        try:
            for done in as_completed([pool.submit(run, location) for location in todo]):
                done.result()
                bar.update()
        finally:
            # On an error or an interrupt the queued chunks never start.
            pool.shutdown(wait=True, cancel_futures=True)


def _latents(seed: int | None, n: int, dim: int, block_info: dict | None, nav: tuple[int, ...]) -> torch.Tensor:
    if seed is None:
        return torch.zeros(n, dim)
    if block_info is None:
        index = np.arange(n)
    else:
        location = block_info[None]["array-location"][: len(nav)]
        full = block_info[None]["shape"][: len(nav)]
        grids = np.meshgrid(*[np.arange(a, b) for a, b in location], indexing="ij")
        index = np.ravel_multi_index([g.ravel() for g in grids], full)
    # One generator per pattern, keyed by (seed, global index): the same z
    # whatever the chunking, the device or the worker.
    z = np.stack([np.random.default_rng([seed, int(i)]).standard_normal(dim) for i in index])
    return torch.from_numpy(z).float()


def _to_dtype(x: np.ndarray, dtype_out: str) -> np.ndarray:
    # x is the decoder's own fresh output, so it is scaled in place: three
    # float32 temporaries of a chunk were most of the peak memory of writing
    # patterns lazily (100 MB a thread for a chunk of 8 MiB of uint8).
    if dtype_out in ("uint8", "uint16"):
        np.clip(x, 0, 1, out=x)
        x *= np.iinfo(dtype_out).max
        return np.rint(x, out=x).astype(dtype_out)
    return x.astype(dtype_out, copy=False)  # float32 is what the decoders give: no copy


def _check_symmetry(rotations: Any, phase: Phase) -> None:
    """Refuse orientations (or a crystal map) of another phase's symmetry.

    An orix ``Orientation`` carries its crystal symmetry; one whose Laue group
    differs from the model's phase was meant for another phase. A plain
    ``Rotation`` (or an orientation without symmetry, orix's default ``1``) is
    taken as is.
    """
    if isinstance(rotations, CrystalMap):
        others = [p for _, p in rotations.phases if p.point_group is not None]
        wrong = [p for p in others if p.point_group.laue != phase.point_group.laue]
        if wrong:
            raise ValueError(
                f"The crystal map holds phase {wrong[0].name!r} (point group {wrong[0].point_group.name}), "
                f"but this model generates {phase.name!r} (point group {phase.point_group.name}); use a model "
                "of that phase, or pass the rotations of the points of this phase (xmap[phase_name].rotations)"
            )
        return
    symmetry = getattr(rotations, "symmetry", None)
    if isinstance(rotations, Rotation) and symmetry is not None and symmetry.size > 1:
        if symmetry.laue != phase.point_group.laue:
            raise ValueError(
                f"The orientations have symmetry {symmetry.name}, but this model generates {phase.name!r} "
                f"(point group {phase.point_group.name}); use a model of that phase, or pass plain rotations "
                "(Rotation(orientations.data)) to generate this phase at them anyway"
            )


def _rotation_shape(rotations: Any) -> tuple[int, ...]:
    if isinstance(rotations, Rotation):
        return tuple(rotations.shape)
    raise TypeError(f"rotations must be an orix Rotation or Orientation, got {type(rotations).__name__}")


def _check_dtype(dtype_out: Any) -> str:
    try:
        name = np.dtype(dtype_out).name
    except TypeError as err:
        raise ValueError(f"dtype_out must be one of {_DTYPES}, got {dtype_out!r}") from err
    if name not in _DTYPES:
        raise ValueError(f"dtype_out must be one of {_DTYPES}, got {name!r}")
    return name


def _check_latent(latent: Any) -> int | None:
    if isinstance(latent, str):
        if latent != "mean":
            raise ValueError(f"latent must be 'mean' or an integer seed, got {latent!r}")
        return None
    if isinstance(latent, (int, np.integer)) and not isinstance(latent, bool) and latent >= 0:
        return int(latent)
    raise ValueError(f"latent must be 'mean' or a non-negative integer seed, got {latent!r}")


# The default chunking: enough chunks that dask's threads share the work
# evenly (a chunk per thread leaves one idle at the end while another
# finishes), no more (each costs ~0.5 ms of set-up), none larger than a
# few MiB (peak memory while computing lazily is the chunks in flight).
_CHUNKS_PER_THREAD = 4
_MIN_ROTATIONS_PER_CHUNK = 32
_MAX_CHUNK_BYTES = 8 * 2**20
# On a GPU a chunk is one torch batch, and fewer, larger batches win: 32,768
# patterns of 60x60 on an H200 ran at 119,234/s (a rerun 118,022) in chunks of
# 2,048 against 69,270/s in the CPU rule's 512 and 55,772/s in chunks of 4,096
# (benchmarks/gpu_generation.py, RESULTS.md).
_GPU_ROTATIONS_PER_CHUNK = 2048
_MAX_GPU_CHUNK_BYTES = 32 * 2**20


def _default_rotations_per_chunk(
    n: int, detector: EBSDDetector, dtype_out: str, threads: int | None = None, gpu: bool = False
) -> int:
    """Rotations per chunk when the caller gives none (see the constants above)."""
    pattern_bytes = int(np.prod(detector.shape)) * np.dtype(dtype_out).itemsize
    if gpu:
        return max(1, min(_GPU_ROTATIONS_PER_CHUNK, _MAX_GPU_CHUNK_BYTES // pattern_bytes, n))
    threads = max(1, threads if threads is not None else dask.system.CPU_COUNT)
    by_bytes = max(1, _MAX_CHUNK_BYTES // pattern_bytes)
    even = -(-n // (_CHUNKS_PER_THREAD * threads))
    return max(1, min(by_bytes, max(even, _MIN_ROTATIONS_PER_CHUNK)))


def _rotations_per_chunk(
    chunk_shape: Any,
    chunk_size: Any,
    chunk_bytes: Any,
    detector: EBSDDetector,
    dtype_out: str,
    n: int,
    gpu: bool = False,
) -> int:
    if chunk_shape is not None and chunk_size is not None:
        raise TypeError("Give chunk_shape or its former name chunk_size, not both")
    per_chunk = chunk_shape if chunk_shape is not None else chunk_size
    if per_chunk is not None and chunk_bytes is not None:
        raise TypeError("Give chunk_shape or chunk_bytes, not both")
    if chunk_bytes is not None:
        size = dask.utils.parse_bytes(chunk_bytes) if isinstance(chunk_bytes, str) else chunk_bytes
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"chunk_bytes must be a positive size, e.g. '8 MiB', got {chunk_bytes!r}")
        return max(1, int(size) // (int(np.prod(detector.shape)) * np.dtype(dtype_out).itemsize))
    if per_chunk is None:
        return _default_rotations_per_chunk(n, detector, dtype_out, gpu=gpu)
    if isinstance(per_chunk, bool) or not isinstance(per_chunk, (int, np.integer)) or per_chunk < 1:
        raise ValueError(
            f"chunk_shape (rotations per chunk; formerly chunk_size) must be an integer >= 1, got {per_chunk!r}"
        )
    return int(per_chunk)


def _single_pc(detector: EBSDDetector, pc: np.ndarray) -> EBSDDetector:
    single = detector.deepcopy()
    single.pc = np.asarray(pc, dtype=float)
    return single


def _count(chunks: tuple[tuple[int, ...], ...]) -> int:
    return int(np.prod([len(c) for c in chunks]))


def _axes(shape: tuple[int, ...]) -> list[dict[str, Any]]:
    # kikuchipy's names and units for EBSD signals.
    names = ["y", "x", "dy", "dx"][4 - len(shape) :]
    return [
        {"size": size, "index_in_array": i, "name": name, "scale": 1.0, "offset": 0.0, "units": "px"}
        for i, (size, name) in enumerate(zip(shape, names))
    ]


def _nav_chunks(shape: tuple[int, ...], chunk_size: int) -> tuple[tuple[int, ...], ...]:
    if len(shape) == 1:
        return da.core.normalize_chunks((chunk_size,), shape)
    # 2-D maps: whole rows per chunk, so chunks follow the scan order.
    rows_per_chunk = max(1, chunk_size // shape[1])
    return da.core.normalize_chunks((rows_per_chunk, min(shape[1], chunk_size)), shape)


def _crystal_map(flat: Rotation, nav_shape: tuple[int, ...], phase: Phase, energies: np.ndarray) -> CrystalMap:
    # flat: the rotations in C order (orix's flatten() is column-major, DESIGN.md section 4).
    n = flat.size
    prop = {"energy": np.asarray(energies, dtype=float).reshape(-1).copy()}
    phases = PhaseList(phase)  # CrystalMap keeps a deep copy: one is enough (a phase copies slowly)
    if len(nav_shape) == 1:
        return CrystalMap(flat, phase_id=np.zeros(n, int), phase_list=phases, x=np.arange(n), prop=prop)
    ny, nx = nav_shape
    y, x = np.divmod(np.arange(n), nx)
    return CrystalMap(
        flat, phase_id=np.zeros(n, int), phase_list=phases, x=x.astype(float), y=y.astype(float), prop=prop
    )
