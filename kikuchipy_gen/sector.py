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
        margins = (vectors.unsqueeze(-2) @ self.tested_normals.to(dt)[index].transpose(-1, -2)).squeeze(-2)
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
        with torch.no_grad():
            index = self.operator_index(vectors)
        ops = self.ops.to(vectors.dtype)[index]  # (..., 3, 3)
        return (ops @ vectors.unsqueeze(-1)).squeeze(-1)

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
