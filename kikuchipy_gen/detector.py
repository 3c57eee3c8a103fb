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

__all__ = ["DEFAULT_PC", "default_detector", "detector_from_dict", "detector_to_dict"]

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
    if len(shape) != 2 or min(shape) < 8:
        raise ValueError(f"Detector shape must be two sizes >= 8 pixels, got {shape}")
    pc = np.asarray(pc, dtype=float)
    if pc.shape != (3,) or not np.all(np.isfinite(pc)) or pc[2] <= 0:
        raise ValueError(f"Pattern centre must be three finite numbers with PCz > 0, got {pc}")
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
    """
    return EBSDDetector(
        shape=tuple(d["shape"]),
        pc=np.asarray(d["pc"], dtype=float),
        sample_tilt=d["sample_tilt"],
        tilt=d["tilt"],
        azimuthal=d.get("azimuthal", 0.0),
        px_size=d.get("px_size", 1.0),
        binning=d.get("binning", 1),
        convention="bruker",
    )
