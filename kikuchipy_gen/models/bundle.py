"""The model contract: what a trained model is, on disk and in memory.

Training writes it, :class:`~kikuchipy_gen.MLMasterPattern` reads it, the
evaluation and the benchmarks use it; nothing else knows the file layout or
how a decoder is built. A model bundle is a folder::

    model.json            format, model config, and what the model was
                          trained on ("info"): phase, detector, energies,
                          physics provenance, preprocessing, training summary
    decoder.safetensors   decoder weights (no pickles anywhere)

Format 2 (written now) stores the model config with the decoder's own
section (:meth:`~kikuchipy_gen.models.config.ModelConfig.to_dict`); format 1
(the first shipped model) stored it flat and is still read.

The attribute encoding that goes with a bundle's decoder is
:func:`kikuchipy_gen.attributes.encode_attributes`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from kikuchipy.detectors import EBSDDetector
from orix.crystal_map import Phase
from orix.quaternion import Symmetry
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from kikuchipy_gen.attributes import VOLTAGE_SCALE
from kikuchipy_gen.detector import detector_from_dict
from kikuchipy_gen.models.config import GeometricDecoderConfig, ModelConfig
from kikuchipy_gen.phases import phase_from_dict

__all__ = ["BUNDLE_FORMAT", "ModelBundle", "build_decoder", "info_from_dataset"]

#: Format tag written into ``model.json``.
BUNDLE_FORMAT = "kikuchipy-gen-model/2"
_FORMAT_1 = "kikuchipy-gen-model/1"
_INFO_KEYS = ("phase", "detector", "energies", "source")
_META_FILE, _WEIGHTS_FILE = "model.json", "decoder.safetensors"
# A model description is a few kB; anything far larger is not one.
_MAX_META_BYTES = 16 * 2**20


def build_decoder(config: ModelConfig, detector: EBSDDetector, point_group: Symmetry | None) -> torch.nn.Module:
    """The decoder a model config describes, with fresh weights.

    Parameters
    ----------
    config
        Model configuration; its ``decoder`` section picks the kind.
    detector
        Detector a geometric decoder projects onto (a conv decoder is tied
        to ``config.pattern_shape`` and ignores it).
    point_group
        The phase's point group (the symmetry a geometric decoder imposes).

    Returns
    -------
    torch.nn.Module
        :class:`~kikuchipy_gen.models.geometric.GeometricDecoder` or
        :class:`~kikuchipy_gen.models.networks.Decoder`.

    Examples
    --------
    >>> from orix.quaternion.symmetry import Oh
    >>> from kikuchipy_gen.detector import default_detector
    >>> from kikuchipy_gen.models import preset
    >>> from kikuchipy_gen.models.bundle import build_decoder
    >>> type(build_decoder(preset("geometric", texture_size=21), default_detector(), Oh)).__name__
    'GeometricDecoder'
    """
    from kikuchipy_gen.models.geometric import GeometricDecoder
    from kikuchipy_gen.models.networks import Decoder

    if isinstance(config.decoder, GeometricDecoderConfig):
        return GeometricDecoder(config, detector, point_group)
    return Decoder(config)


def info_from_dataset(attrs: dict[str, Any], training: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a model keeps of its dataset's attributes (``EBSDDataset.attrs``).

    Parameters
    ----------
    attrs
        The dataset's attributes: source provenance (with the phase),
        detector, energies, preprocessing.
    training
        Optional training summary to record beside them.

    Returns
    -------
    dict
        The ``info`` of a :class:`ModelBundle`.

    Examples
    --------
    >>> from kikuchipy_gen.models.bundle import info_from_dataset
    >>> attrs = {"source": {"phase": {"name": "ni"}}, "detector": {}, "energies": [20.0]}
    >>> sorted(info_from_dataset(attrs))
    ['detector', 'energies', 'phase', 'preprocessing', 'source']
    """
    info = {
        "phase": attrs["source"]["phase"],
        "detector": attrs["detector"],
        "energies": attrs["energies"],
        "source": attrs["source"],
        "preprocessing": attrs.get("preprocessing"),
    }
    if training is not None:
        info["training"] = training
    return info


@dataclass(frozen=True, eq=False)
class ModelBundle:
    """A trained decoder with its configuration and what it was trained on.

    Parameters
    ----------
    config
        The model configuration.
    weights
        Decoder weights (a ``state_dict``); they must fit ``config``.
    info
        ``phase``, ``detector``, ``energies`` (kV) and ``source`` (physics
        provenance), optionally ``preprocessing`` and ``training``.

    Examples
    --------
    >>> from kikuchipy_gen.models.bundle import ModelBundle
    >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
    >>> bundle = ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv")
    >>> bundle.config.decoder.kind, bundle.energies
    ('geometric', [10.0, 15.0, 20.0, 25.0, 30.0])
    """

    config: ModelConfig
    weights: dict[str, torch.Tensor]
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig, got {type(self.config).__name__}")
        missing = set(_INFO_KEYS) - set(self.info)
        if missing:
            raise ValueError(f"Model info lacks {sorted(missing)}")
        if not isinstance(self.weights, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in self.weights.items()
        ):
            raise TypeError("weights must be a dict of named torch tensors (a state_dict)")
        weights = {k: v.detach().cpu().contiguous() for k, v in self.weights.items()}
        for key, value in weights.items():
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise ValueError(f"The weights are not finite: {key!r} holds NaN or infinite values")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "info", copy.deepcopy(dict(self.info)))
        try:
            self.phase, self.detector  # noqa: B018  (parse them now: a malformed file fails here)
            energies = self.energies
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"The model's info is malformed: {err}") from None
        if not energies or not all(0 < e < 1000 for e in energies):
            raise ValueError(f"The model's training energies must be positive kV, got {self.info['energies']!r}")
        self._check_weights()

    # ------------------------------------------------------------ views
    @cached_property
    def phase(self) -> Phase:
        """The orix phase the model was trained on.

        Examples
        --------
        >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
        >>> from kikuchipy_gen.models.bundle import ModelBundle
        >>> bundle = ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv")
        >>> bundle.phase.name, bundle.phase.space_group.short_name
        ('ni', 'Fm-3m')
        """
        return phase_from_dict(self.info["phase"])

    @property
    def detector(self) -> EBSDDetector:
        """The detector the model was trained for (a new object each access).

        Examples
        --------
        >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
        >>> from kikuchipy_gen.models.bundle import ModelBundle
        >>> bundle = ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv")
        >>> bundle.detector.shape
        (60, 60)
        """
        return detector_from_dict(self.info["detector"])

    @property
    def energies(self) -> list[float]:
        """The training voltages (kV).

        Examples
        --------
        >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
        >>> from kikuchipy_gen.models.bundle import ModelBundle
        >>> bundle = ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv")
        >>> bundle.energies
        [10.0, 15.0, 20.0, 25.0, 30.0]
        """
        return [float(e) for e in self.info["energies"]]

    @cached_property
    def digest(self) -> str:
        """SHA-256 of config, info and weights: the model's identity in caches and dask keys.

        Examples
        --------
        >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
        >>> from kikuchipy_gen.models.bundle import ModelBundle
        >>> bundle = ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv")
        >>> len(bundle.digest)
        64
        >>> ModelBundle.from_bytes(bundle.to_bytes()).digest == bundle.digest
        True
        """
        h = hashlib.sha256(json.dumps(self.config.to_dict(), sort_keys=True).encode())
        h.update(json.dumps(self.info, sort_keys=True, default=str).encode())
        h.update(save_safetensors(self.weights))
        return h.hexdigest()

    # ------------------------------------------------------------ decoders
    def build_decoder(
        self, detector: EBSDDetector | None = None, device: str | torch.device = "cpu"
    ) -> torch.nn.Module:
        """The trained decoder, in eval mode, on ``device``.

        Parameters
        ----------
        detector
            Detector to project onto (geometric decoders); default the
            trained one.
        device
            torch device.

        Returns
        -------
        torch.nn.Module

        Examples
        --------
        >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
        >>> from kikuchipy_gen.models.bundle import ModelBundle
        >>> bundle = ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv")
        >>> decoder = bundle.build_decoder()
        >>> type(decoder).__name__, decoder.training
        ('GeometricDecoder', False)
        """
        # The fresh weights are overwritten at once; their random draws must
        # not move the caller's global RNG.
        with torch.random.fork_rng(devices=[]):
            decoder = build_decoder(self.config, detector or self.detector, self.phase.point_group)
        decoder.load_state_dict(self.weights)
        return decoder.to(device).eval()

    def _check_weights(self) -> None:
        # On the meta device: the shapes of every tensor, no memory, no compute.
        with torch.device("meta"):
            expected = build_decoder(self.config, self.detector, self.phase.point_group).state_dict()
        missing, unexpected = set(expected) - set(self.weights), set(self.weights) - set(expected)
        wrong = [k for k in expected if k in self.weights and tuple(self.weights[k].shape) != tuple(expected[k].shape)]
        if missing or unexpected or wrong:
            details = [
                f"missing {sorted(missing)[:3]}" if missing else "",
                f"unexpected {sorted(unexpected)[:3]}" if unexpected else "",
                f"{wrong[0]} is {tuple(self.weights[wrong[0]].shape)}, config gives {tuple(expected[wrong[0]].shape)}"
                if wrong
                else "",
            ]
            raise ValueError("The weights do not fit the model config: " + "; ".join(d for d in details if d))
        if "knot_voltages" in expected:
            # The blend between knots divides by their spacing: knots read from
            # a file must be the config's, increasing, before any decoding.
            knots = self.weights["knot_voltages"].double() * VOLTAGE_SCALE
            wanted = torch.tensor(self.config.decoder.knot_voltages(), dtype=torch.float64)
            if not torch.allclose(knots, wanted, rtol=0, atol=1e-4):
                shown = ", ".join(f"{v:g}" for v in knots.tolist()[:8])
                raise ValueError(
                    f"The weights' voltage knots ({shown} kV) are not the model config's "
                    f"({', '.join(f'{v:g}' for v in wanted.tolist()[:8])} kV)"
                )

    # ------------------------------------------------------------ files
    @classmethod
    def read(cls, path: str | Path) -> ModelBundle:
        """Read a bundle folder (``model.json`` and ``decoder.safetensors``).

        Parameters
        ----------
        path
            The folder.

        Returns
        -------
        ModelBundle

        Raises
        ------
        FileNotFoundError
            If ``model.json`` or the weights are missing.
        ValueError
            If a file is malformed or the weights do not fit the config;
            nothing is unpickled.

        Examples
        --------
        >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
        >>> from kikuchipy_gen.models.bundle import ModelBundle
        >>> bundle = ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv")
        >>> bundle.config.decoder.kind, bundle.config.use_voltage
        ('geometric', True)
        """
        path = Path(path)
        meta_file = path / _META_FILE
        if not meta_file.is_file():
            raise FileNotFoundError(f"No {_META_FILE} in {str(path)!r}")
        if meta_file.stat().st_size > _MAX_META_BYTES:
            raise ValueError(f"{str(meta_file)!r} is larger than a model description can be")
        try:
            meta = json.loads(meta_file.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{str(meta_file)!r} is not valid JSON: {err}") from None
        weights_file = path / _WEIGHTS_FILE
        if not weights_file.is_file():
            raise FileNotFoundError(f"No weights at {str(weights_file)!r}")
        return cls._from_meta(meta, _read_safetensors(weights_file.read_bytes(), str(weights_file)), str(path))

    def write(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the bundle into a folder (created); the weights first, each file atomically.

        Parameters
        ----------
        path
            Folder.
        overwrite
            Replace a bundle already there.

        Returns
        -------
        pathlib.Path

        Examples
        --------
        >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
        >>> from kikuchipy_gen.models.bundle import ModelBundle
        >>> bundle = ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv")
        >>> import tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> folder = bundle.write(f"{tmp.name}/my_model")
        >>> sorted(p.name for p in folder.iterdir())
        ['decoder.safetensors', 'model.json']
        >>> ModelBundle.read(folder).digest == bundle.digest
        True
        """
        path = Path(path)
        if (path / _META_FILE).exists() and not overwrite:
            raise FileExistsError(f"A model exists at {str(path)!r}; pass overwrite=True")
        path.mkdir(parents=True, exist_ok=True)
        _write_atomic(path / _WEIGHTS_FILE, save_safetensors(self.weights))
        _write_atomic(path / _META_FILE, json.dumps(self._meta(), indent=2).encode())
        return path

    def to_bytes(self) -> dict[str, bytes]:
        """The bundle as plain bytes (JSON and safetensors), e.g. to send to a dask worker.

        Returns
        -------
        dict
            ``meta`` (JSON) and ``weights`` (safetensors), both bytes.

        Examples
        --------
        >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
        >>> from kikuchipy_gen.models.bundle import ModelBundle
        >>> bundle = ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv")
        >>> sorted(bundle.to_bytes())
        ['meta', 'weights']
        """
        return {"meta": json.dumps(self._meta()).encode(), "weights": save_safetensors(self.weights)}

    @classmethod
    def from_bytes(cls, data: dict[str, bytes]) -> ModelBundle:
        """Inverse of :meth:`to_bytes`.

        Parameters
        ----------
        data
            ``meta`` and ``weights`` bytes; checked as :meth:`read` checks files.

        Returns
        -------
        ModelBundle

        Examples
        --------
        >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
        >>> from kikuchipy_gen.models.bundle import ModelBundle
        >>> bundle = ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv")
        >>> copy = ModelBundle.from_bytes(bundle.to_bytes())
        >>> copy.energies == bundle.energies
        True
        """
        return cls._from_meta(json.loads(data["meta"]), _read_safetensors(data["weights"], "bytes"), "bytes")

    def _meta(self) -> dict[str, Any]:
        import kikuchipy_gen

        return {
            "format": BUNDLE_FORMAT,
            "package_version": kikuchipy_gen.__version__,
            "model": self.config.to_dict(),
            "info": self.info,
        }

    @classmethod
    def _from_meta(cls, meta: Any, weights: dict[str, torch.Tensor], where: str) -> ModelBundle:
        if not isinstance(meta, dict):
            raise ValueError(f"{where}: model.json must hold a JSON object")
        fmt = meta.get("format")
        if fmt not in (BUNDLE_FORMAT, _FORMAT_1):
            raise ValueError(f"{where} holds format {fmt!r}, expected {BUNDLE_FORMAT!r}")
        if not isinstance(meta.get("model"), dict) or not isinstance(meta.get("info"), dict):
            raise ValueError(f"{where}: model.json needs 'model' and 'info' objects")
        try:
            config = ModelConfig.from_dict(meta["model"], strict=fmt != _FORMAT_1)
        except TypeError as err:
            raise ValueError(f"{where}: the model config is malformed: {err}") from None
        return cls(config, weights, meta["info"])


def _read_safetensors(data: bytes, where: str) -> dict[str, torch.Tensor]:
    # safetensors parses a JSON header and raw buffers: nothing in the file is
    # executed, but a truncated, corrupt or foreign file raises its own error.
    try:
        return load_safetensors(data)
    except Exception as err:  # SafetensorError, and others on garbage
        raise ValueError(f"{where} is not a safetensors file of weights ({err})") from None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
