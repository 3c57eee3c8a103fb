"""Physics patterns for evaluation: the 'real' side, preprocessed as in training.

Generated patterns are compared with patterns projected by kikuchipy from the
physics master pattern the model learned from, rescaled and CLAHE'd exactly
as the training data were (:func:`kikuchipy_gen.preprocessing.preprocess`).
Dictionaries are lazy: each dask chunk is projected and preprocessed only
when dictionary indexing reaches it, in one piece per dask thread, so a
333,227-pattern dictionary never sits in memory whole and every core works.
"""

from __future__ import annotations

import numbers
from typing import Any

import dask.array as da
import numpy as np
from dask.system import CPU_COUNT
from kikuchipy.detectors import EBSDDetector
from kikuchipy.signals import EBSD, EBSDMasterPattern, LazyEBSD
from orix.crystal_map import CrystalMap, PhaseList
from orix.quaternion import Rotation

from kikuchipy_gen.preprocessing import CLAHE, _project_and_preprocess, project_and_preprocess

__all__ = ["as_ebsd", "best_matches", "clahe_from_info", "physics_dictionary", "physics_patterns", "ranked_matches"]


def clahe_from_info(preprocessing: dict[str, Any] | None) -> CLAHE | None:
    """The CLAHE a model's training data used, from its recorded preprocessing.

    Parameters
    ----------
    preprocessing
        The model's ``info["preprocessing"]``; None or no ``"clahe"`` entry
        means none.

    Returns
    -------
    kikuchipy_gen.preprocessing.CLAHE or None

    Examples
    --------
    >>> from kikuchipy_gen.evaluation import clahe_from_info
    >>> clahe_from_info({"clahe": {"clip_limit": 10.0, "tiles": [4, 4]}}).tiles
    (4, 4)
    >>> clahe_from_info(None) is None
    True
    """
    if not preprocessing or not preprocessing.get("clahe"):
        return None
    c = preprocessing["clahe"]
    return CLAHE(c["clip_limit"], tuple(c["tiles"]), c.get("nbins", 256))


def physics_patterns(
    master_pattern: EBSDMasterPattern,
    rotations: Rotation,
    detector: EBSDDetector,
    energy: float,
    clahe: CLAHE | None = CLAHE(),
) -> np.ndarray:
    """Project and preprocess physics patterns: float32 (n, rows, cols) in [0, 1].

    Examples
    --------
    >>> from orix.quaternion import Rotation
    >>> from kikuchipy_gen.detector import default_detector
    >>> from kikuchipy_gen.evaluation.physics import physics_patterns
    >>> from kikuchipy_gen.sources import KikuchipyNickelSource
    >>> mp = KikuchipyNickelSource().master_pattern(20)
    >>> x = physics_patterns(mp, Rotation.random(2), default_detector(), 20)
    >>> x.shape, x.dtype, float(x.max())
    ((2, 60, 60), dtype('float32'), 1.0)
    """
    return project_and_preprocess(master_pattern, rotations, detector, energy, clahe).astype(np.float32) / 255


def physics_dictionary(
    master_pattern: EBSDMasterPattern,
    rotations: Rotation,
    detector: EBSDDetector,
    energy: float,
    clahe: CLAHE | None = CLAHE(),
    chunk_size: int = 4096,
    keep: bool = False,
) -> LazyEBSD:
    """A lazy dictionary of preprocessed physics patterns with ``xmap`` and ``detector``.

    Parameters
    ----------
    master_pattern, rotations, detector, energy, clahe
        As :func:`physics_patterns`.
    chunk_size
        Patterns per dask chunk, the patterns kikuchipy's dictionary
        indexing computes at a time by default. Each chunk is projected and
        equalised in as many pieces as dask has threads, in parallel:
        kikuchipy would otherwise project a chunk on one core.
    keep
        If True, project and preprocess every pattern now and hold them as
        uint8 (one byte a pixel, a quarter of float32), so that each
        indexing run only converts chunks instead of projecting them again.
        The patterns read are the same, bit for bit.

    Returns
    -------
    kikuchipy.signals.LazyEBSD
        float32 in [0, 1], 1-D navigation, ready for
        :meth:`kikuchipy.signals.EBSD.dictionary_indexing`.

    Examples
    --------
    >>> from kikuchipy_gen.detector import default_detector
    >>> from kikuchipy_gen.evaluation.physics import physics_dictionary
    >>> from kikuchipy_gen.sampling import sample_orientations
    >>> from kikuchipy_gen.sources import KikuchipyNickelSource
    >>> mp = KikuchipyNickelSource().master_pattern(20)
    >>> d = physics_dictionary(mp, sample_orientations("m-3m", n=5), default_detector(), 20, chunk_size=20)
    >>> d.data.chunks[0], int(d.xmap.size)  # nothing projected yet
    ((20, 20, 11), 51)
    >>> kept = physics_dictionary(mp, sample_orientations("m-3m", n=5), default_detector(), 20, keep=True)
    >>> bool((kept.data == d.data).all().compute())  # projected once, the same patterns
    True
    """
    if not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, not {chunk_size!r}")
    rot = Rotation(rotations.data.reshape(-1, 4))
    q = da.from_array(rot.data, chunks=(_pieces(rot.size, chunk_size), 4))
    rows, cols = detector.shape

    def block(qb: np.ndarray) -> np.ndarray:
        return _project_and_preprocess(master_pattern, qb, detector, energy, clahe)

    data = da.map_blocks(block, q, dtype=np.uint8, drop_axis=1, new_axis=[1, 2], chunks=(q.chunks[0], (rows,), (cols,)))
    if keep:
        data = da.from_array(data.compute(), chunks=data.chunks)
    data = data.map_blocks(_to_unit_float, dtype=np.float32).rechunk((chunk_size, rows, cols))
    xmap = CrystalMap(rot, phase_list=PhaseList(master_pattern.phase.deepcopy()), x=np.arange(rot.size))
    s = LazyEBSD(data, xmap=xmap, detector=detector.deepcopy())
    s.axes_manager.navigation_axes[0].name = "x"
    return s


def _pieces(size: int, chunk_size: int) -> tuple[int, ...]:
    """Projection tasks' sizes: each chunk split evenly over dask's threads, never across two chunks.

    >>> from kikuchipy_gen.evaluation.physics import _pieces
    >>> sum(_pieces(10, 4)) == 10 and all(p <= 4 for p in _pieces(10, 4))
    True
    """
    out = []
    for start in range(0, size, chunk_size):
        n = min(chunk_size, size - start)
        out += [len(a) for a in np.array_split(np.arange(n), min(CPU_COUNT, n))]
    return tuple(out)


def _to_unit_float(block: np.ndarray) -> np.ndarray:
    return block.astype(np.float32) / 255


def best_matches(xmap: CrystalMap, index: slice | np.ndarray | None = None) -> CrystalMap:
    """A plain 1-D crystal map of the best match per point (of ``keep_n``), optionally a subset.

    Dictionary indexing stores ``keep_n`` rotations per point, and slicing a
    map keeps the parent's point mask; refinement wants neither.

    Examples
    --------
    >>> import numpy as np
    >>> from orix.crystal_map import CrystalMap
    >>> from orix.quaternion import Rotation
    >>> from kikuchipy_gen.evaluation.physics import best_matches
    >>> xmap = CrystalMap(Rotation.random((5, 3)), x=np.arange(5))  # keep_n = 3
    >>> best_matches(xmap, slice(1, 3)).rotations.shape
    (2,)
    """
    return _plain_map(xmap, index, best_only=True)


def ranked_matches(xmap: CrystalMap, index: slice | np.ndarray | None = None) -> CrystalMap:
    """A plain 1-D crystal map of every match per point (``keep_n`` of them, best first), optionally a subset.

    As :func:`best_matches`, for :func:`~kikuchipy_gen.refinement.refine_best_basin`.

    Examples
    --------
    >>> import numpy as np
    >>> from orix.crystal_map import CrystalMap
    >>> from orix.quaternion import Rotation
    >>> from kikuchipy_gen.evaluation.physics import ranked_matches
    >>> xmap = CrystalMap(Rotation.random((5, 3)), x=np.arange(5))  # keep_n = 3
    >>> ranked_matches(xmap, slice(1, 3)).rotations.shape
    (2, 3)
    """
    return _plain_map(xmap, index, best_only=False)


def _plain_map(xmap: CrystalMap, index: slice | np.ndarray | None, best_only: bool) -> CrystalMap:
    data = xmap.rotations.data
    data = data[:, None] if data.ndim == 2 else data  # (points, keep_n, 4)
    data = data[:, 0] if best_only else data
    if index is not None:
        data = data[index]
    return CrystalMap(Rotation(data), phase_list=xmap.phases, x=np.arange(len(data)))


def as_ebsd(patterns: np.ndarray, rotations: Rotation, phase, detector: EBSDDetector) -> EBSD:
    """Wrap (n, rows, cols) patterns as an ``EBSD`` signal with xmap and detector.

    Parameters
    ----------
    patterns
        Patterns (n, rows, cols).
    rotations
        Their orientations, n of them.
    phase
        The orix :class:`~orix.crystal_map.Phase` of the crystal map.
    detector
        The patterns' detector (copied).

    Returns
    -------
    kikuchipy.signals.EBSD
        1-D navigation axis ``"x"``. One pattern gives navigation shape
        ``(1,)`` with a one-point map, which orix shapes ``()``, as
        kikuchipy's own ``get_patterns`` does: dictionary indexing takes it,
        and :func:`~kikuchipy_gen.refinement.refine_orientations` refines it.

    Examples
    --------
    >>> import numpy as np
    >>> from orix.crystal_map import Phase
    >>> from orix.quaternion import Rotation
    >>> from kikuchipy_gen.detector import default_detector
    >>> from kikuchipy_gen.evaluation.physics import as_ebsd
    >>> s = as_ebsd(np.zeros((3, 60, 60), "float32"), Rotation.random(3), Phase(point_group="m-3m"), default_detector())
    >>> s.axes_manager.navigation_shape, int(s.xmap.size)
    ((3,), 3)
    """
    rot = Rotation(rotations.data.reshape(-1, 4))
    xmap = CrystalMap(rot, phase_list=PhaseList(phase.deepcopy()), x=np.arange(rot.size))
    s = EBSD(np.asarray(patterns), xmap=xmap, detector=detector.deepcopy())
    s.axes_manager.navigation_axes[0].name = "x"
    return s
