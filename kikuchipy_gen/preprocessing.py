"""Pattern preprocessing as in the paper: 8-bit patterns, then CLAHE.

The paper's reference code equalises each 60 x 60 pattern with OpenCV's CLAHE
(clip limit 10, 4 x 4 tiles) and divides by 255. Here kikuchipy's
:meth:`~kikuchipy.signals.EBSD.adaptive_histogram_equalization` (scikit-image)
does the work; the parameters map as follows:

================  =============================  ==============================
OpenCV            meaning                        kikuchipy / scikit-image
================  =============================  ==============================
``tileGridSize``  tiles per axis, (4, 4)         ``kernel_size`` = shape // tiles
``clipLimit``     multiple of the mean bin count ``clip_limit`` = clipLimit / nbins
(256 bins)        histogram bins                 ``nbins`` = 256
================  =============================  ==============================

Both clip a tile's histogram at ``clipLimit * tile_pixels / 256`` counts.
scikit-image interpolates between overlapping contextual regions and
rescales the result to the full 8-bit range, so values differ slightly from
OpenCV's, but the output is, as in the paper, close to uniform on [0, 255].

:func:`preprocess` computes kikuchipy's result, byte for byte, with the
vectorised kernels of :mod:`kikuchipy_gen._clahe` (about 20 times faster than
kikuchipy's pattern-by-pattern route on one core); inputs those kernels do not cover go
through kikuchipy itself. :func:`project_and_preprocess` projects patterns with
kikuchipy and preprocesses them, in one piece per dask thread.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass
from typing import Any

import dask
import numpy as np
from dask.system import CPU_COUNT
from kikuchipy.detectors import EBSDDetector
from kikuchipy.signals import EBSD, EBSDMasterPattern
from orix.quaternion import Rotation

from kikuchipy_gen._clahe import _RESCALE_DTYPES, _clahe_uint8, _NonFiniteError, _rescale_uint8

__all__ = ["CLAHE", "preprocess", "project_and_preprocess"]


@dataclass(frozen=True)
class CLAHE:
    """Contrast-limited adaptive histogram equalisation in OpenCV's units.

    Parameters
    ----------
    clip_limit
        OpenCV ``clipLimit``: histogram clip as a multiple of the mean bin
        count (paper: 10).
    tiles
        OpenCV ``tileGridSize``: number of tiles along (rows, columns)
        (paper: (4, 4)).
    nbins
        Histogram bins.

    Examples
    --------
    >>> from kikuchipy_gen.preprocessing import CLAHE
    >>> CLAHE().kikuchipy_kwargs((60, 60))
    {'kernel_size': (15, 15), 'clip_limit': 0.0390625, 'nbins': 256}
    """

    clip_limit: float = 10.0
    tiles: tuple[int, int] = (4, 4)
    nbins: int = 256

    def __post_init__(self) -> None:
        if not (self.clip_limit > 0):
            raise ValueError(f"CLAHE clip limit must be positive, got {self.clip_limit}")
        if len(self.tiles) != 2 or min(self.tiles) < 1:
            raise ValueError(f"CLAHE tiles must be two integers >= 1, got {self.tiles}")
        if not (2 <= self.nbins <= 256):
            raise ValueError(f"CLAHE nbins must be in [2, 256], got {self.nbins}")
        object.__setattr__(self, "tiles", tuple(int(t) for t in self.tiles))

    def kikuchipy_kwargs(self, shape: tuple[int, int]) -> dict[str, Any]:
        """Arguments for :meth:`EBSD.adaptive_histogram_equalization`.

        Parameters
        ----------
        shape
            Pattern (rows, columns).

        Returns
        -------
        dict

        Examples
        --------
        >>> from kikuchipy_gen.preprocessing import CLAHE
        >>> CLAHE().kikuchipy_kwargs((60, 60))  # the paper's clip limit 10 and 4 x 4 tiles
        {'kernel_size': (15, 15), 'clip_limit': 0.0390625, 'nbins': 256}
        >>> CLAHE(tiles=(8, 8)).kikuchipy_kwargs((120, 160))["kernel_size"]
        (15, 20)
        """
        kernel = tuple(int(s) // t for s, t in zip(shape, self.tiles))
        if min(kernel) < 2:
            raise ValueError(f"{self.tiles} CLAHE tiles are too many for {tuple(shape)} patterns")
        return {"kernel_size": kernel, "clip_limit": self.clip_limit / self.nbins, "nbins": self.nbins}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe parameters.

        Returns
        -------
        dict
            ``clip_limit``, ``tiles`` (a list) and ``nbins``.

        Examples
        --------
        >>> from kikuchipy_gen.preprocessing import CLAHE
        >>> d = CLAHE().to_dict()
        >>> d
        {'clip_limit': 10.0, 'tiles': [4, 4], 'nbins': 256}
        >>> CLAHE(**d) == CLAHE()
        True
        """
        return asdict(self) | {"tiles": list(self.tiles)}


def preprocess(patterns: EBSD, clahe: CLAHE | None = CLAHE()) -> np.ndarray:
    """Turn projected patterns into the paper's training input (uint8).

    Each pattern is rescaled to the full 8-bit range, then equalised with
    CLAHE (unless ``clahe`` is None). Divide by 255 for network input.

    Parameters
    ----------
    patterns
        Patterns from :meth:`EBSDMasterPattern.get_patterns` (any dtype),
        1-D navigation.
    clahe
        Equalisation parameters, or None to skip it.

    Returns
    -------
    numpy.ndarray
        uint8 array of shape (n, rows, columns).

    Examples
    --------
    >>> import numpy as np
    >>> from orix.quaternion import Rotation
    >>> from kikuchipy_gen.detector import default_detector
    >>> from kikuchipy_gen.preprocessing import preprocess
    >>> from kikuchipy_gen.sources import KikuchipyNickelSource
    >>> mp = KikuchipyNickelSource().master_pattern(20)
    >>> s = mp.get_patterns(Rotation.random(3), default_detector(), compute=True,
    ...                     show_progressbar=False)
    >>> x = preprocess(s)
    >>> x.shape, x.dtype, int(x.max())
    ((3, 60, 60), dtype('uint8'), 255)
    """
    shape = tuple(patterns.axes_manager.signal_shape[::-1])
    kwargs = None if clahe is None else clahe.kikuchipy_kwargs(shape)
    # A LazyEBSD's dask array is computed here, once, as kikuchipy's route would.
    stack = np.asarray(patterns.data).reshape(-1, *shape)
    # Other dtypes go through kikuchipy's kernel in arithmetic not reproduced in _clahe
    # (wrapping int16 differences, int64 beyond float64's 53 bits); a float nbins makes
    # scikit-image fail, and should fail with its own message.
    if stack.dtype.type not in _RESCALE_DTYPES or (clahe is not None and not isinstance(clahe.nbins, numbers.Integral)):
        return _preprocess_kikuchipy(stack, clahe)
    try:
        out = _rescale_uint8(stack)
    except _NonFiniteError:
        # kikuchipy's bytes for NaN and infinity are NumPy's platform-defined cast of NaN.
        return _preprocess_kikuchipy(stack, clahe)
    return out if kwargs is None else _clahe_uint8(out, **kwargs)


def _preprocess_kikuchipy(stack: np.ndarray, clahe: CLAHE | None) -> np.ndarray:
    """kikuchipy's own route, one pattern at a time, on a (n, rows, columns) stack."""
    s = EBSD(stack.copy())
    s.rescale_intensity(dtype_out=np.uint8, show_progressbar=False)
    if clahe is not None:
        s.adaptive_histogram_equalization(
            **clahe.kikuchipy_kwargs(s.axes_manager.signal_shape[::-1]), show_progressbar=False
        )
    return np.asarray(s.data).reshape(-1, *s.axes_manager.signal_shape[::-1])


def project_and_preprocess(
    master_pattern: EBSDMasterPattern,
    rotations: Rotation,
    detector: EBSDDetector,
    energy: float | None = None,
    clahe: CLAHE | None = CLAHE(),
) -> np.ndarray:
    """Project patterns with kikuchipy and :func:`preprocess` them, the pieces in parallel.

    kikuchipy's :meth:`~kikuchipy.signals.EBSDMasterPattern.get_patterns`
    makes one dask chunk of up to 30 MB, so a thousand 60 x 60 patterns
    are projected on one core, and CLAHE runs on one core. Here the
    rotations are split into one piece per dask thread, each projected and
    preprocessed as a dask task: the same bytes as one call on all of them.

    Parameters
    ----------
    master_pattern
        kikuchipy's master pattern.
    rotations
        Orientations (any shape; flattened).
    detector
        The detector, one projection centre.
    energy
        The master pattern's energy to project (kV); None takes kikuchipy's
        default (the highest).
    clahe
        As :func:`preprocess`.

    Returns
    -------
    numpy.ndarray
        uint8 (n, rows, columns).

    Raises
    ------
    TypeError
        If ``rotations`` is not an orix ``Rotation``.
    ValueError
        If there are no rotations.

    Examples
    --------
    >>> from orix.quaternion import Rotation
    >>> from kikuchipy_gen.detector import default_detector
    >>> from kikuchipy_gen.preprocessing import preprocess, project_and_preprocess
    >>> from kikuchipy_gen.sources import KikuchipyNickelSource
    >>> mp = KikuchipyNickelSource().master_pattern(20)
    >>> rot = Rotation.random(5)
    >>> x = project_and_preprocess(mp, rot, default_detector(), 20)
    >>> s = mp.get_patterns(rot, default_detector(), energy=20, dtype_out="float32", compute=True,
    ...                     show_progressbar=False)
    >>> x.shape, bool((x == preprocess(s)).all())
    ((5, 60, 60), True)
    """
    if not isinstance(rotations, Rotation):
        raise TypeError(f"rotations must be an orix Rotation, not {type(rotations).__name__}")
    q = rotations.data.reshape(-1, 4)
    if not len(q):
        raise ValueError("no rotations to project")
    pieces = np.array_split(q, min(CPU_COUNT, len(q)))
    if len(pieces) == 1:
        return _project_and_preprocess(master_pattern, q, detector, energy, clahe)
    tasks = [dask.delayed(_project_and_preprocess)(master_pattern, p, detector, energy, clahe) for p in pieces]
    return np.concatenate(dask.compute(*tasks))


def _project_and_preprocess(
    master_pattern: EBSDMasterPattern,
    quaternions: np.ndarray,
    detector: EBSDDetector,
    energy: float | None,
    clahe: CLAHE | None,
) -> np.ndarray:
    """One piece of :func:`project_and_preprocess`, on the calling thread.

    kikuchipy's lazy projection is computed here on dask's synchronous
    scheduler: the parallelism is the caller's, one task per piece.
    """
    s = master_pattern.get_patterns(
        Rotation(quaternions), detector, energy=energy, dtype_out="float32", compute=False, show_progressbar=False
    )
    s.data = s.data.compute(scheduler="synchronous")
    return preprocess(s, clahe)
