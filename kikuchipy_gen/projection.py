"""Differentiable projection of a square-Lambert master pattern onto a detector, in torch.

The geometry-aware decoder keeps the orientation and detector exact: each
detector pixel's direction comes from kikuchipy's own detector model, is
rotated into the crystal frame and looked up in a master pattern in the
square Lambert projection with the same bilinear interpolation as
:meth:`kikuchipy.signals.EBSDMasterPattern.get_patterns`. Being torch, the
lookup runs on a GPU and passes gradients to the master pattern (a learned
texture) and to the orientations.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from kikuchipy.detectors import EBSDDetector

__all__ = [
    "detector_directions",
    "lambert_coordinates",
    "lambert_directions",
    "project_patterns",
    "rotate_vectors",
    "sample_lambert",
]


def detector_directions(detector: EBSDDetector) -> torch.Tensor:
    """Unit vectors (sample frame) from the source point to every detector pixel.

    The directions are kikuchipy's, for its detector model (pattern centre,
    sample and camera tilts, azimuth, binning), so projections here and in
    kikuchipy agree pixel for pixel.

    Parameters
    ----------
    detector
        Detector with a single pattern centre.

    Returns
    -------
    torch.Tensor
        float64 (rows * cols, 3), row-major over the detector.

    Examples
    --------
    >>> from kikuchipy_gen.detector import default_detector
    >>> from kikuchipy_gen.projection import detector_directions
    >>> detector_directions(default_detector()).shape
    torch.Size([3600, 3])
    """
    if detector.navigation_size != 1:
        raise ValueError("Give a detector with one pattern centre")
    try:
        # Private in kikuchipy 0.13: the function get_patterns itself uses.
        from kikuchipy.signals.util._master_pattern import _get_direction_cosines_from_detector
    except ImportError as err:  # pragma: no cover - depends on kikuchipy's internals
        raise ImportError(
            "This kikuchipy version does not expose its detector direction cosines; install kikuchipy 0.11-0.13"
        ) from err
    return torch.from_numpy(np.ascontiguousarray(_get_direction_cosines_from_detector(detector)))


def rotate_vectors(quaternions: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Rotate vectors (p, 3) by each unit quaternion (n, 4): returns (n, p, 3).

    The active rotation ``q v q*``, kikuchipy's convention for taking the
    detector's view into the crystal frame.

    Examples
    --------
    A half turn about z takes x to -x:

    >>> import torch
    >>> from kikuchipy_gen.projection import rotate_vectors
    >>> q = torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1.0]], dtype=torch.float64)
    >>> rotate_vectors(q, torch.tensor([[1.0, 0, 0]], dtype=torch.float64))[:, 0]
    tensor([[ 1.,  0.,  0.],
            [-1.,  0.,  0.]], dtype=torch.float64)
    """
    q = F.normalize(quaternions, dim=-1)
    w, xyz = q[:, None, :1], q[:, None, 1:]
    v = vectors[None].to(q.dtype)
    t = 2 * torch.cross(xyz.expand(-1, v.shape[1], -1), v.expand(q.shape[0], -1, -1), dim=-1)
    return v + w * t + torch.cross(xyz.expand_as(t), t, dim=-1)


def lambert_coordinates(vectors: torch.Tensor) -> torch.Tensor:
    """Square Lambert coordinates in [-1, 1] of unit vectors (..., 3).

    Returns (..., 2) as (X, Y): X indexes master-pattern columns and Y rows,
    so ``(X, Y)`` is directly a ``grid_sample`` grid with
    ``align_corners=True``. Both hemispheres map to the same square; the
    sign of z picks the hemisphere.

    Examples
    --------
    The poles map to the centre of the square, the equator to its edge:

    >>> import torch
    >>> from kikuchipy_gen.projection import lambert_coordinates
    >>> lambert_coordinates(torch.tensor([[0.0, 0, 1], [0, 0, -1], [1, 0, 0]]))
    tensor([[0., 0.],
            [0., 0.],
            [1., 0.]])
    """
    v = F.normalize(vectors, dim=-1)
    x, y, z = v.unbind(-1)
    r = torch.sqrt(torch.clamp(2 * (1 - z.abs()), min=0.0))
    use_x = y.abs() <= x.abs()
    # atan(y/x) and atan(x/y) with safe denominators; the unused branch is masked.
    tiny = torch.finfo(v.dtype).tiny
    ax = torch.where(x.abs() > tiny, x, torch.full_like(x, tiny))
    ay = torch.where(y.abs() > tiny, y, torch.full_like(y, tiny))
    sx, sy = torch.sign(x), torch.sign(y)
    # Normalised by sqrt(pi/2), the half-side of the Lambert square.
    big_x = torch.where(use_x, sx * r, sy * r * (4 / math.pi) * torch.atan(x / ay))
    big_y = torch.where(use_x, sx * r * (4 / math.pi) * torch.atan(y / ax), sy * r)
    return torch.stack([big_x, big_y], dim=-1) / math.sqrt(2)


def lambert_directions(size: int) -> torch.Tensor:
    """Unit vectors of every pixel of a square-Lambert master pattern.

    Parameters
    ----------
    size
        Pixels a side (kikuchipy's master patterns are odd, e.g. 401).

    Returns
    -------
    torch.Tensor
        float64 (2, size, size, 3): upper (z >= 0) then lower hemisphere,
        rows along Lambert Y and columns along X as in kikuchipy, so that
        ``sample_lambert(master, lambert_directions(n).reshape(1, -1, 3))``
        returns ``master`` itself.

    Examples
    --------
    >>> from kikuchipy_gen.projection import lambert_directions
    >>> v = lambert_directions(5)
    >>> v.shape, v[0, 2, 2].tolist(), v[1, 2, 2].tolist()
    (torch.Size([2, 5, 5, 3]), [0.0, 0.0, 1.0], [0.0, 0.0, -1.0])
    """
    if size < 2:
        raise ValueError(f"size must be >= 2, got {size}")
    try:
        # Private in kikuchipy 0.13: the inverse of its own Lambert mapping.
        from kikuchipy.signals.util._master_pattern import _lambert2vector
    except ImportError as err:  # pragma: no cover - depends on kikuchipy's internals
        raise ImportError("This kikuchipy version lacks its inverse Lambert mapping; install 0.11-0.13") from err
    side = np.linspace(-1.0, 1.0, size)
    x, y = np.meshgrid(side, side)  # x along columns, y along rows
    upper = _lambert2vector(np.ascontiguousarray(x.ravel()), np.ascontiguousarray(y.ravel()))
    upper /= np.linalg.norm(upper, axis=1, keepdims=True)
    lower = upper * np.array([1.0, 1.0, -1.0])
    return torch.from_numpy(np.stack([upper, lower]).reshape(2, size, size, 3))


def sample_lambert(master: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Bilinear intensities of a Lambert master pattern at directions.

    Parameters
    ----------
    master
        (2, n, n) upper and lower hemisphere, or (b, 2, n, n) with one
        master pattern per batch item of ``vectors``.
    vectors
        (b, p, 3) directions in the crystal frame.

    Returns
    -------
    torch.Tensor
        (b, p) intensities.

    Examples
    --------
    A master pattern that is bright on the upper hemisphere and dark on the lower:

    >>> import torch
    >>> from kikuchipy_gen.projection import sample_lambert
    >>> master = torch.zeros(2, 5, 5)
    >>> master[0] = 1.0
    >>> sample_lambert(master, torch.tensor([[[0.0, 0, 1], [0, 0, -1]]]))
    tensor([[1., 0.]])
    """
    b = vectors.shape[0]
    if master.dim() == 3:
        master = master[None].expand(b, -1, -1, -1)
    grid = lambert_coordinates(vectors).to(master.dtype)[:, None]  # (b, 1, p, 2)
    both = F.grid_sample(master, grid, mode="bilinear", padding_mode="border", align_corners=True)
    upper, lower = both[:, 0, 0], both[:, 1, 0]
    return torch.where(vectors[..., 2] >= 0, upper, lower)


def project_patterns(
    master: torch.Tensor, quaternions: torch.Tensor, detector: EBSDDetector, directions: torch.Tensor | None = None
) -> torch.Tensor:
    """Project a Lambert master pattern onto a detector for orientations.

    Parameters
    ----------
    master
        (2, n, n) or (b, 2, n, n) master pattern(s), upper hemisphere first.
    quaternions
        (b, 4) unit quaternions (orix convention, scalar first).
    detector
        Detector geometry.
    directions
        Precomputed :func:`detector_directions` (saves work in loops).

    Returns
    -------
    torch.Tensor
        (b, rows, cols) patterns, not rescaled.

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.detector import default_detector
    >>> from kikuchipy_gen.projection import project_patterns
    >>> master = torch.rand(2, 101, 101)
    >>> project_patterns(master, torch.tensor([[1.0, 0, 0, 0]]), default_detector()).shape
    torch.Size([1, 60, 60])
    """
    if master.dim() not in (3, 4) or master.shape[-3] != 2 or master.shape[-1] != master.shape[-2]:
        raise ValueError(f"master must be (2, n, n) or (b, 2, n, n) Lambert hemispheres, got {tuple(master.shape)}")
    if quaternions.dim() != 2 or quaternions.shape[1] != 4:
        raise ValueError(f"quaternions must be (b, 4), got {tuple(quaternions.shape)}")
    if master.dim() == 4 and master.shape[0] != quaternions.shape[0]:
        raise ValueError("Give one master pattern per quaternion, or a single (2, n, n) one")
    if directions is None:
        directions = detector_directions(detector)
    directions = directions.to(quaternions.device)
    v = rotate_vectors(
        quaternions.to(torch.float64) if master.dtype == torch.float64 else quaternions,
        directions.to(quaternions.dtype),
    )
    return sample_lambert(master, v).reshape(-1, *detector.shape)
