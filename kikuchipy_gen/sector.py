"""Reduction of crystal directions into a point group's fundamental sector, in torch.

A master pattern is invariant under its crystal's symmetry, so a learned one
needs to be stored only over the fundamental sector (the standard triangle for
m-3m). The geometric decoder reduces every crystal-frame direction into that
sector before the Lambert lookup: the symmetry is then exact by construction
rather than learned from data, and every training pattern teaches the same few
texels.

orix defines the groups and their sectors (:attr:`orix.quaternion.Symmetry.
fundamental_sector`); this module only applies them to torch tensors on any
device, so the choice of operator is made per pixel inside the network's
forward pass and gradients flow to the direction (the choice itself is
piecewise constant).
"""

from __future__ import annotations

import numpy as np
import torch
from orix.quaternion import Symmetry
from orix.vector import Vector3d

__all__ = ["SectorReduction"]

# Most passes over a group's mirrors a fold may take. In the order
# mirror_fold picks, one pass folds every reflection group of the Laue and
# point groups (for m-3m: three sign flips, then a three-comparator sort).
_MAX_FOLD_PASSES = 4
# mirror_fold's plans by group (operators, walls, centre, tolerance).
_FOLD_PLANS: dict[tuple, tuple[np.ndarray, np.ndarray, int] | None] = {}


class SectorReduction(torch.nn.Module):
    """Map directions (..., 3) into a point group's fundamental sector.

    For every direction all symmetry images are formed; the result is the
    image that lies in the sector (all sector normals at >= -``tol``),
    preferring, on boundaries, the one closest to the sector's centre.

    Parameters
    ----------
    symmetry
        orix point group; for a Kikuchi master pattern usually the Laue group
        (``phase.point_group.laue``). The trivial group ``1`` gives the
        identity.
    tol
        Tolerance of the inside test, absorbing rounding on sector edges.

    Examples
    --------
    >>> import torch
    >>> from orix.quaternion.symmetry import Oh
    >>> from kikuchipy_gen.sector import SectorReduction
    >>> reduce = SectorReduction(Oh)
    >>> reduce(torch.tensor([[-1.0, 0.0, 0.0]])).round(decimals=6).abs()  # m-3m: 0 <= y <= x <= z
    tensor([[0., 0., 1.]])
    """

    def __init__(self, symmetry: Symmetry, tol: float = 1e-6) -> None:
        super().__init__()
        if not isinstance(symmetry, Symmetry):
            raise TypeError(f"symmetry must be an orix Symmetry, got {type(symmetry).__name__}")
        self.symmetry_name = symmetry.name
        self.tol = tol
        basis = Vector3d(np.eye(3))
        # Columns of each matrix are the images of the basis vectors, so
        # improper operators (mirrors, inversion) are included correctly.
        ops = np.stack([(g * basis).data.T for g in symmetry], axis=0)
        sector = symmetry.fundamental_sector
        normals = np.asarray(sector.data, dtype=np.float64).reshape(-1, 3)
        if normals.size:
            normals = normals / np.linalg.norm(normals, axis=1, keepdims=True)
        center = sector.center.data.reshape(-1, 3)
        center = center[0] if center.size else np.array([0.0, 0.0, 1.0])
        self.register_buffer("ops", torch.from_numpy(ops))
        # (g v) . n = v . (g^T n): test all images with one matrix product.
        self.register_buffer("tested_normals", torch.from_numpy(np.einsum("gji,kj->gki", ops, normals)))
        self.register_buffer("tested_center", torch.from_numpy(np.einsum("gji,j->gi", ops, center)))
        self._normals, self._center = normals, center
        self._fold: tuple[np.ndarray, np.ndarray, int] | None | bool = False  # not planned yet
        # The fold's normals and matrices as buffers (they follow .to(device)),
        # so forward builds no tensor from numpy (torch.compile traces it).
        fold = self.mirror_fold() if self.order > 1 else None
        self.register_buffer("fold_normals", torch.from_numpy(fold[0].copy()) if fold else None, persistent=False)
        self.register_buffer("fold_matrices", torch.from_numpy(fold[1].copy()) if fold else None, persistent=False)

    @property
    def order(self) -> int:
        """Number of symmetry operators.

        Examples
        --------
        >>> import torch
        >>> from orix.quaternion.symmetry import Oh
        >>> from kikuchipy_gen.sector import SectorReduction
        >>> reduce = SectorReduction(Oh)
        >>> reduce.order
        48
        """
        return self.ops.shape[0]

    def operator_index(self, vectors: torch.Tensor) -> torch.Tensor:
        """Index (...,) of the operator taking each direction into the sector.

        Parameters
        ----------
        vectors
            (..., 3) directions.

        Returns
        -------
        torch.Tensor
            Integer indices into the ``ops`` buffer, of shape ``vectors.shape[:-1]``.

        Examples
        --------
        >>> import torch
        >>> from orix.quaternion.symmetry import Oh
        >>> from kikuchipy_gen.sector import SectorReduction
        >>> reduce = SectorReduction(Oh)
        >>> v = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
        >>> index = reduce.operator_index(v)
        >>> (reduce.ops[index] @ v[..., None])[..., 0].round(decimals=6).abs().tolist()
        [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
        """
        dt = vectors.dtype
        # The image nearest the sector's centre is inside for reflection
        # groups (most Laue groups); test it, and search all images only
        # where it is not (m-3, 432, rounding on edges: a few in a thousand).
        index = (vectors @ self.tested_center.to(dt).T).argmax(dim=-1)
        if self.tested_normals.shape[1] == 0:
            return index
        # Elementwise, not a batched product of (1, 3) x (3, k) matrices: one
        # tiny matrix per pixel is slow on every device.
        margins = (vectors.unsqueeze(-2) * self.tested_normals.to(dt)[index]).sum(dim=-1)
        outside = margins.amin(dim=-1) < -self.tol
        if outside.any():
            index[outside] = self._search_all(vectors[outside])
        return index

    def _search_all(self, vectors: torch.Tensor) -> torch.Tensor:
        dt = vectors.dtype
        g, k = self.tested_normals.shape[:2]
        margins = (vectors @ self.tested_normals.to(dt).reshape(g * k, 3).T).unflatten(-1, (g, k))
        inside = margins.amin(dim=-1) >= -self.tol
        # Inside wins outright (|v . c| <= 1 for unit vectors); the centre
        # term breaks ties on edges and is the fallback if rounding left no
        # image inside.
        return (inside.to(dt) * 4 + vectors @ self.tested_center.to(dt).T).argmax(dim=-1)

    def mirror_fold(self) -> tuple[np.ndarray, np.ndarray, int] | None:
        """Mirrors and a pass count that fold any direction into the sector, or None.

        For a reflection group (m-3m, 6/mmm, 4/mmm, mmm, -43m: every wall of
        the sector is a mirror of the group) the image in the sector is
        reached without choosing an operator: reflect the direction across
        each mirror it lies behind, in a fixed order, a fixed number of
        passes. A wall that is no mirror is crossed by the inversion, if
        the group has it (-3m, 2/m and -1, whose equator is such a wall:
        the lower hemisphere is inverted first). That is the image
        :meth:`forward` returns (a direction strictly inside has one image
        there), found with no search; as a loop of multiply-adds it
        vectorises, in the CPU kernel and as whole-tensor passes in
        :meth:`forward`. Mirrors that are signed permutations (all of
        m-3m's, mmm's and 4/mmm's) are applied as their exact matrices, so
        folding only permutes and negates components: equivalent directions
        fold to the same bits. The plan is checked on a dense set of
        directions, and mirrors that never act there after the others are
        left out; groups with a wall that only a rotation crosses (m-3, 4/m,
        -3, 432, ...) give None, and :meth:`forward` searches the operators.

        Returns
        -------
        tuple of numpy.ndarray, numpy.ndarray and int, or None
            (m, 3) unit normals, each pointing to the sector's side, in the
            order to apply them; their (m, 3, 3) matrices (reflections, and
            the inversion for walls that are no mirror); the number of passes.

        Examples
        --------
        >>> from orix.quaternion.symmetry import Oh, Th
        >>> from kikuchipy_gen.sector import SectorReduction
        >>> normals, matrices, passes = SectorReduction(Oh).mirror_fold()
        >>> normals.shape, passes  # three sign flips, then a three-comparator sort
        ((6, 3), 1)
        >>> SectorReduction(Th).mirror_fold() is None  # m-3: a wall only a rotation crosses
        True
        >>> import numpy as np
        >>> from orix.quaternion.symmetry import D3d
        >>> normals, matrices, passes = SectorReduction(D3d).mirror_fold()  # -3m
        >>> bool((matrices[0] == -np.eye(3)).all()), len(normals)  # the inversion for the equator, 3 mirrors
        (True, 4)
        """
        if self._fold is False:
            # Planned once per group and process (~30 ms for m-3m), not per
            # decoder: every detector builds a decoder with its own reduction.
            key = (self.ops.numpy().tobytes(), self._normals.tobytes(), self._center.tobytes(), self.tol)
            if key not in _FOLD_PLANS:
                _FOLD_PLANS[key] = _plan_fold(self.ops.numpy(), self._normals, self._center, self.tol)
            self._fold = _FOLD_PLANS[key]
        return self._fold

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        """Directions (..., 3) reduced into the fundamental sector.

        Parameters
        ----------
        vectors
            (..., 3) directions.

        Returns
        -------
        torch.Tensor
            The same shape and dtype; every direction's image in the sector.

        Examples
        --------
        >>> import torch
        >>> from orix.quaternion.symmetry import Oh
        >>> from kikuchipy_gen.sector import SectorReduction
        >>> reduce = SectorReduction(Oh)
        >>> v = torch.nn.functional.normalize(torch.randn(1000, 3), dim=-1)
        >>> x, y, z = reduce(v).unbind(-1)
        >>> bool(((y >= -1e-6) & (y <= x + 1e-6) & (x <= z + 1e-6)).all())  # m-3m: 0 <= y <= x <= z
        True
        """
        if vectors.shape[-1] != 3:
            raise ValueError(f"vectors must be (..., 3), got {tuple(vectors.shape)}")
        if self.order == 1:
            return vectors
        if self.mirror_fold() is not None:
            return self._fold_forward(vectors)
        with torch.no_grad():
            index = self.operator_index(vectors)
        return _apply(self.ops.to(vectors.dtype)[index], vectors)

    def _fold_forward(self, vectors: torch.Tensor) -> torch.Tensor:
        # mirror_fold as whole-tensor operations, the torch twin of the CPU
        # kernel's fold: a few elementwise passes instead of testing every
        # operator's image of every pixel (a (..., order) product and argmax).
        dt, device = vectors.dtype, vectors.device
        normals = self.fold_normals.to(device=device, dtype=dt)
        matrices = self.fold_matrices.to(device=device, dtype=dt)
        v = vectors
        for _ in range(self.mirror_fold()[2]):
            for n, m in zip(normals, matrices):
                # (..., 3) @ (3, 3) is one tall product, exact for a signed permutation.
                v = torch.where((v @ n).unsqueeze(-1) < 0, v @ m.T, v)
        # Rounding can leave a direction a hair behind a wall (operator 0 is
        # the identity, so its tested normals are the walls): those few go
        # through the search, so every direction ends inside.
        walls = self.tested_normals[0].to(device=device, dtype=dt)
        outside = (v @ walls.T).amin(dim=-1) < -self.tol
        if outside.any():
            v = v.clone()
            stray = v[outside]
            v[outside] = _apply(self.ops.to(device=device, dtype=dt)[self._search_all(stray)], stray)
        return v

    def extra_repr(self) -> str:
        """The symmetry and its order, shown in the module's repr.

        Returns
        -------
        str

        Examples
        --------
        >>> import torch
        >>> from orix.quaternion.symmetry import Oh
        >>> from kikuchipy_gen.sector import SectorReduction
        >>> reduce = SectorReduction(Oh)
        >>> reduce.extra_repr()
        'symmetry=m-3m, order=48'
        """
        return f"symmetry={self.symmetry_name}, order={self.order}"


def _apply(matrices: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """``matrices @ vectors`` for (..., 3, 3) and (..., 3), elementwise (see operator_index)."""
    return (matrices * vectors.unsqueeze(-2)).sum(dim=-1)


def _plan_fold(
    ops: np.ndarray, walls: np.ndarray, center: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Mirrors and passes that fold directions into the sector (see ``mirror_fold``)."""
    # The CPU kernel reads the walls as operator 0's tested normals: orix
    # lists the identity first.
    if len(walls) == 0 or not np.allclose(ops[0], np.eye(3)):
        return None
    normals, matrices = [], []
    for m in ops:
        # Reflections are the operators with eigenvalues (1, 1, -1): det -1, trace 1.
        if not (np.isclose(np.linalg.det(m), -1, atol=1e-9) and np.isclose(np.trace(m), 1, atol=1e-9)):
            continue
        # orix's operators carry 1e-16s: snap them, so a signed permutation is exact.
        m = np.where(np.abs(m - np.round(m)) < 1e-12, np.round(m), m)
        column = np.eye(3) - m  # rank one, = 2 n n^T
        n = column[:, np.argmax(np.linalg.norm(column, axis=0))]
        n = n / np.linalg.norm(n)
        normals.append(n if n @ center > 0 else -n)
        matrices.append(m)
    # A wall that is no mirror can still be crossed by the inversion, which
    # every Laue group holds: -v lies in front of any wall v lies behind. That
    # is -3m's equator (and -1's): invert the lower hemisphere first, then fold
    # across the mirrors, which keep it upper. Whether the result lands in the
    # sector is checked below like any plan.
    has_inversion = any(np.allclose(m, -np.eye(3), atol=1e-9) for m in ops)
    first = [w for w in walls if not any(abs(n @ w) > 1 - 1e-9 for n in normals)]
    if first and not has_inversion:
        return None
    normals, matrices = np.asarray(normals).reshape(-1, 3), np.asarray(matrices).reshape(-1, 3, 3)
    # Mirrors facing the centre most squarely first (for m-3m: the coordinate
    # planes, then the diagonal ones, which sorts the components).
    order = np.argsort(-(normals @ center), kind="stable")
    normals = np.concatenate([np.reshape(first, (-1, 3)), normals[order]])
    matrices = np.concatenate([np.tile(-np.eye(3), (len(first), 1, 1)), matrices[order]])
    v = _check_directions()
    for passes in range(1, _MAX_FOLD_PASSES + 1):
        if np.all(_fold(v, normals, matrices, passes) @ walls.T >= -tol):
            break
    else:
        return None
    # Leave out mirrors that the others make redundant (m-3m's x = -y kind,
    # behind which nothing lies once the signs are folded).
    keep = list(range(len(normals)))
    for k in reversed(range(len(normals))):
        trial = [i for i in keep if i != k]
        if np.all(_fold(v, normals[trial], matrices[trial], passes) @ walls.T >= -tol):
            keep = trial
    normals, matrices = normals[keep], matrices[keep]
    normals.flags.writeable = matrices.flags.writeable = False  # shared by every reduction of the group
    return normals, matrices, passes


def _fold(v: np.ndarray, normals: np.ndarray, matrices: np.ndarray, passes: int) -> np.ndarray:
    v = v.copy()
    for _ in range(passes):
        for n, m in zip(normals, matrices):
            behind = v @ n < 0
            v[behind] = v[behind] @ m.T
    return v


def _check_directions() -> np.ndarray:
    # A dense Fibonacci sphere, plus the axes and the diagonals, where
    # sectors have their corners and a fold its longest paths.
    k = np.arange(20_000) + 0.5
    z = 1 - 2 * k / len(k)
    phi = np.pi * (1 + 5**0.5) * k
    r = np.sqrt(1 - z**2)
    sphere = np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)
    corners = np.array([[a, b, c] for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if a or b or c], float)
    return np.concatenate([sphere, corners / np.linalg.norm(corners, axis=1, keepdims=True)])
