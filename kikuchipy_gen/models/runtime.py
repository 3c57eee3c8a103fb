"""Running a trained decoder: built decoders, device choice and the CPU kernel.

:class:`DecoderRuntime` turns fundamental-zone quaternions, energies and
latent vectors into patterns. It builds each (detector, device) decoder once
and keeps it, picks CUDA when there is one, and sends geometric decoders with
the local-contrast head on CPU to the fused numba kernel
(:mod:`kikuchipy_gen.models._cpu_decode`). It pickles as bytes (JSON and
safetensors, never torch objects), so dask.distributed workers receive it,
and a worker builds each model once, whatever the number of tasks.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import numpy as np
import torch
from kikuchipy.detectors import EBSDDetector

from kikuchipy_gen.attributes import attribute_tensor
from kikuchipy_gen.detector import detector_to_dict
from kikuchipy_gen.models._cpu_decode import _check_out, decode_cpu, supports_cpu_kernel
from kikuchipy_gen.models.bundle import ModelBundle

__all__ = ["DecoderRuntime", "default_device"]

_logger = logging.getLogger(__name__)

# Built decoders kept per runtime: many detectors in one session must not
# grow memory without bound.
_MAX_DECODERS = 16


def default_device() -> torch.device:
    """CUDA when torch sees a GPU, else the CPU.

    Examples
    --------
    >>> from kikuchipy_gen.models.runtime import default_device
    >>> default_device().type in ("cpu", "cuda")
    True
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class DecoderRuntime:
    """Decodes patterns with one model bundle; thread-safe, picklable as bytes.

    Parameters
    ----------
    bundle
        The model.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
    >>> from kikuchipy_gen.models.bundle import ModelBundle
    >>> from kikuchipy_gen.models.runtime import DecoderRuntime
    >>> runtime = DecoderRuntime(ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv"))
    >>> q = np.array([[1.0, 0, 0, 0]])
    >>> runtime.decode(q, np.array([20.0]), torch.zeros(1, 16), runtime.bundle.detector).shape
    (1, 60, 60)
    """

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        self._decoders: dict[tuple[str, str], torch.nn.Module] = {}
        self._lock = threading.Lock()

    @property
    def symmetric(self) -> bool:
        """Whether the decoder is symmetric by construction under the phase's proper rotations.

        A geometric decoder that imposes the Laue group (or the point group)
        reduces every pixel's direction into that group's fundamental
        sector, so symmetry-equivalent orientations give the same pattern
        and :meth:`decode` needs no reduction of the orientations into the
        fundamental zone first (it gives the same patterns to rounding).

        Returns
        -------
        bool

        Examples
        --------
        >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
        >>> from kikuchipy_gen.models.bundle import ModelBundle
        >>> from kikuchipy_gen.models.runtime import DecoderRuntime
        >>> DecoderRuntime(ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv")).symmetric
        True
        """
        decoder = self.bundle.config.decoder
        return decoder.kind == "geometric" and decoder.symmetry != "none" and self.bundle.phase.point_group is not None

    def decoder(self, detector: EBSDDetector, device: torch.device) -> torch.nn.Module:
        """The trained decoder for a detector on a device, built once.

        Parameters
        ----------
        detector
            Detector to generate for.
        device
            torch device.

        Returns
        -------
        torch.nn.Module

        Examples
        --------
        >>> import numpy as np
        >>> import torch
        >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
        >>> from kikuchipy_gen.models.bundle import ModelBundle
        >>> from kikuchipy_gen.models.runtime import DecoderRuntime
        >>> runtime = DecoderRuntime(ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv"))
        >>> detector = runtime.bundle.detector
        >>> decoder = runtime.decoder(detector, torch.device("cpu"))
        >>> runtime.decoder(detector, torch.device("cpu")) is decoder  # built once
        True
        """
        key = (json.dumps(detector_to_dict(detector), sort_keys=True), str(device))
        with self._lock:
            decoder = self._decoders.get(key)
            if decoder is None:
                _logger.debug("Building the decoder for detector %s on %s", detector.shape, device)
                decoder = self.bundle.build_decoder(detector, device)
                if len(self._decoders) >= _MAX_DECODERS:
                    self._decoders.clear()
                self._decoders[key] = decoder
        return decoder

    def decode(
        self,
        quaternions: np.ndarray,
        energies: np.ndarray,
        z: torch.Tensor,
        detector: EBSDDetector,
        device: torch.device | None = None,
        pcs: np.ndarray | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Pattern intensities in [0, 1] for fundamental-zone quaternions.

        Parameters
        ----------
        quaternions
            (n, 4) unit quaternions, reduced to the fundamental zone with
            scalar part >= 0 (:func:`~kikuchipy_gen.attributes.fundamental_zone_quaternions`);
            any unit quaternion of the orientation when :attr:`symmetric`.
        energies
            (n,) beam energies in kV (ignored by a model without voltage).
        z
            (n, latent_dim) latent vectors.
        detector
            Detector to generate for.
        device
            torch device; default :func:`default_device`.
        pcs
            Optional (n, 3) pattern centres, one per pattern, in the
            detector's convention; ``detector`` then gives the rest of the
            geometry. Patterns that share a centre are decoded together.
        out
            Optional C-contiguous float32 (n, rows, cols) array to write the
            patterns into; the CPU kernel then writes there directly, with no
            buffer of its own.

        Returns
        -------
        numpy.ndarray
            float32 (n, rows, cols): ``out`` when given.

        Examples
        --------
        >>> import numpy as np
        >>> import torch
        >>> from kikuchipy_gen.master_pattern import PRETRAINED_DIR
        >>> from kikuchipy_gen.models.bundle import ModelBundle
        >>> from kikuchipy_gen.models.runtime import DecoderRuntime
        >>> runtime = DecoderRuntime(ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv"))
        >>> q = np.array([[1.0, 0, 0, 0], [0.9659258, 0, 0, 0.2588190]])  # identity; 30 deg about z
        >>> x = runtime.decode(q, np.array([15.0, 25.0]), torch.zeros(2, 16), runtime.bundle.detector)
        >>> x.shape, x.dtype, bool(0 <= x.min() and x.max() <= 1)
        ((2, 60, 60), dtype('float32'), True)
        >>> pcs = np.array([[0.5, 0.5, 0.5], [0.45, 0.5, 0.55]])  # one pattern centre each
        >>> runtime.decode(q, np.array([20.0, 20.0]), torch.zeros(2, 16), runtime.bundle.detector, pcs=pcs).shape
        (2, 60, 60)
        """
        device = default_device() if device is None else torch.device(device)
        decoder = self.decoder(detector, device)
        voltage = energies if self.bundle.config.use_voltage else None
        attributes = attribute_tensor(quaternions, voltage)
        quaternions = np.asarray(quaternions, dtype=np.float64).reshape(-1, 4)
        if out is not None:
            _check_out(out, (len(quaternions), *detector.shape))
        if pcs is None:
            return _run(decoder, z, attributes, device, quaternions, out)
        if out is None:
            out = np.empty((len(quaternions), *detector.shape), dtype=np.float32)
        centres, group = np.unique(np.asarray(pcs, dtype=float).reshape(-1, 3), axis=0, return_inverse=True)
        for g, pc in enumerate(centres):
            members = np.flatnonzero(group.ravel() == g)
            other = detector.deepcopy()
            other.pc = pc
            # A conv decoder knows one geometry (checked by the caller); a
            # geometric one projects onto each centre with the same weights.
            dec = decoder.for_detector(other) if hasattr(decoder, "for_detector") else decoder
            out[members] = _run(dec, z[members], attributes[members], device, quaternions[members]).reshape(
                -1, *detector.shape
            )
        return out

    # Pickled as bytes: a worker process rebuilds the runtime from the bundle
    # once per model (keyed by its digest), not once per task.
    def __getstate__(self) -> dict[str, Any]:
        return {"digest": self.bundle.digest, "bundle": self.bundle.to_bytes()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        with _REGISTRY_LOCK:
            known = _REGISTRY.get(state["digest"])
            if known is None:
                known = DecoderRuntime(ModelBundle.from_bytes(state["bundle"]))
                if len(_REGISTRY) >= _MAX_DECODERS:
                    _REGISTRY.clear()
                _REGISTRY[state["digest"]] = known
        self.__dict__.update(known.__dict__)


def _run(
    decoder: torch.nn.Module,
    z: torch.Tensor,
    attributes: torch.Tensor,
    device: torch.device,
    quaternions: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    if device.type == "cpu" and supports_cpu_kernel(decoder):
        # The float64 quaternions: the kernel's rotation is then as exact as
        # float32 output allows (and equivalent orientations agree to the bit).
        return decode_cpu(decoder, z, attributes, quaternions, out)
    with torch.inference_mode():
        x = torch.sigmoid(decoder(z.to(device), attributes.to(device)).float()).cpu().numpy()
    x = x.reshape(len(quaternions), *x.shape[-2:])
    if out is None:
        return x
    out[...] = x
    return out


_REGISTRY: dict[str, DecoderRuntime] = {}
_REGISTRY_LOCK = threading.Lock()
