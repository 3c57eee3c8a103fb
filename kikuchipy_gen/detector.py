"""The detector geometry a dataset (and later a model) is made for.

A kikuchipy :class:`~kikuchipy.detectors.EBSDDetector` is described by plain
JSON (shape, Bruker pattern centre, tilts, pixel size, binning) so it can be
stored beside the data and compared exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from kikuchipy.detectors import EBSDDetector

__all__ = ["DEFAULT_PC", "MAX_DETECTOR_SIDE", "default_detector", "detector_from_dict", "detector_to_dict"]

#: Largest detector side (pixels) accepted: EBSD cameras are at most a few
#: thousand pixels wide; far larger sizes can only exhaust memory.
MAX_DETECTOR_SIDE = 4096

#: Bruker pattern centre (PCx, PCy, PCz) of the default 60 x 60 detector: the
#: geometry of kikuchipy's nickel example patterns. kikuchipy's tutorials give it
#: as (0.421, 0.7794, 0.5049) in EDAX/TSL's convention; on a square detector
#: Bruker's PCy is 1 - TSL's (kikuchipy's conversion gives the same). It lies
#: within 0.011 of every per-pattern PC of ``kikuchipy.data.nickel_ebsd_small()``
#: (Bruker, mean (0.425, 0.213, 0.501)). Read as Bruker, the TSL numbers put the
#: pattern centre near the bottom edge instead of the top: real patterns index
#: 29-54 deg wrong with such a detector.
DEFAULT_PC = (0.421, 0.2206, 0.5049)


def default_detector(
    shape: Sequence[int] = (60, 60),
    pc: Sequence[float] = DEFAULT_PC,
    sample_tilt: float = 70.0,
    tilt: float = 0.0,
) -> EBSDDetector:
    """Return the detector used by default: 60 x 60 pixels, as in the paper.

    The default geometry is that of kikuchipy's nickel example patterns
    (:data:`DEFAULT_PC`, 70 deg sample tilt, no camera tilt), so patterns
    simulated for it look like ``kikuchipy.data.nickel_ebsd_small()``.

    Parameters
    ----------
    shape
        Detector (rows, columns) in pixels.
    pc
        Pattern centre (PCx, PCy, PCz) in Bruker's convention.
    sample_tilt
        Sample tilt from horizontal in degrees.
    tilt
        Detector (camera) tilt in degrees.

    Returns
    -------
    kikuchipy.detectors.EBSDDetector

    Examples
    --------
    >>> from kikuchipy_gen.detector import default_detector
    >>> default_detector().shape
    (60, 60)
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or not all(8 <= s <= MAX_DETECTOR_SIDE for s in shape):
        raise ValueError(f"Detector shape must be two sizes of 8 to {MAX_DETECTOR_SIDE} pixels, got {shape}")
    pc = np.asarray(pc, dtype=float)
    if pc.shape != (3,) or not np.all(np.isfinite(pc)) or pc[2] <= 0:
        raise ValueError(f"Pattern centre must be three finite numbers with PCz > 0, got {pc}")
    if not (np.isfinite(float(sample_tilt)) and np.isfinite(float(tilt))):
        raise ValueError(f"Tilts must be finite degrees, got sample_tilt={sample_tilt}, tilt={tilt}")
    return EBSDDetector(shape=shape, pc=pc, sample_tilt=float(sample_tilt), tilt=float(tilt), convention="bruker")


def detector_to_dict(detector: EBSDDetector) -> dict[str, Any]:
    """Describe a detector with a single pattern centre as JSON-safe data.

    Parameters
    ----------
    detector
        Detector with one pattern centre.

    Returns
    -------
    dict
        Keys ``shape``, ``pc`` (Bruker), ``sample_tilt``, ``tilt``,
        ``azimuthal``, ``px_size`` and ``binning``.

    Examples
    --------
    >>> from kikuchipy_gen.detector import default_detector, detector_to_dict
    >>> detector_to_dict(default_detector())["pc"]
    [0.421, 0.2206, 0.5049]
    """
    pc = np.asarray(detector.pc_average, dtype=float).ravel()
    if detector.navigation_size > 1 and not np.allclose(detector.pc.reshape(-1, 3), pc):
        raise ValueError("Only detectors with one pattern centre can be stored")
    return {
        "shape": [int(s) for s in detector.shape],
        "pc": [float(v) for v in pc],
        "sample_tilt": float(detector.sample_tilt),
        "tilt": float(detector.tilt),
        "azimuthal": float(detector.azimuthal),
        "px_size": float(detector.px_size),
        "binning": int(detector.binning),
    }


def detector_from_dict(d: dict[str, Any]) -> EBSDDetector:
    """Rebuild a detector written by :func:`detector_to_dict`.

    Parameters
    ----------
    d
        Detector description.

    Returns
    -------
    kikuchipy.detectors.EBSDDetector

    Examples
    --------
    >>> from kikuchipy_gen.detector import default_detector, detector_from_dict, detector_to_dict
    >>> detector_from_dict(detector_to_dict(default_detector())).shape
    (60, 60)
    """
    # The description may come from an untrusted file: check it before
    # anything is sized by it.
    if not isinstance(d, dict):
        raise ValueError(f"A detector description must be a JSON object, got {type(d).__name__}")
    try:
        shape = tuple(int(s) for s in d["shape"])
        pc = np.asarray(d["pc"], dtype=float)
        angles = [float(d[k]) for k in ("sample_tilt", "tilt")] + [float(d.get("azimuthal", 0.0))]
        px_size, binning = float(d.get("px_size", 1.0)), int(d.get("binning", 1))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"Malformed detector description: {err}") from None
    if len(shape) != 2 or not all(8 <= s <= MAX_DETECTOR_SIDE for s in shape):
        raise ValueError(f"Detector shape must be two sizes of 8 to {MAX_DETECTOR_SIDE} pixels, got {shape}")
    if pc.shape != (3,) or not np.all(np.isfinite(pc)) or pc[2] <= 0:
        raise ValueError(f"Pattern centre must be three finite numbers with PCz > 0, got {pc.tolist()}")
    if not all(np.isfinite(angles)) or not np.isfinite(px_size) or px_size <= 0 or binning < 1:
        raise ValueError("Detector tilts, pixel size and binning must be finite (size > 0, binning >= 1)")
    return EBSDDetector(
        shape=shape,
        pc=pc,
        sample_tilt=angles[0],
        tilt=angles[1],
        azimuthal=angles[2],
        px_size=px_size,
        binning=binning,
        convention="bruker",
    )
