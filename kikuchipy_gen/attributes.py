"""Attribute vectors for the generative model: orientation (and voltage).

An EBSD pattern depends on the orientation only up to the crystal symmetry:
all symmetry-equivalent quaternions (and ``q`` and ``-q``) give the same
pattern. A network fed raw quaternions would have to learn that many-to-one
map. Instead, as in the paper's reference code (the paper samples its
orientations in the cubic Rodrigues fundamental zone but does not say how
attributes are reduced), every orientation is reduced into the fundamental
zone of the proper point group and given the sign with a non-negative
scalar part, so each pattern has exactly one attribute vector.
The voltage, when used, is appended divided by 30 kV (the reference code's
scaling), which keeps it of the order of the quaternion components.
"""

from __future__ import annotations

import numpy as np
import torch
from orix.quaternion import Orientation, Rotation
from orix.quaternion.symmetry import Symmetry

from kikuchipy_gen.phases import _proper_subgroup

__all__ = [
    "ENERGY_TOLERANCE",
    "VOLTAGE_SCALE",
    "attribute_tensor",
    "encode_attributes",
    "fundamental_zone_quaternions",
    "symmetry_quaternions",
]

#: Voltages enter the networks divided by this (kV).
VOLTAGE_SCALE = 30.0

#: Two beam energies closer than this (kV) are the same energy everywhere in
#: the package: dataset lookups, source energy bins and the trained range.
ENERGY_TOLERANCE = 1e-3


def fundamental_zone_quaternions(rotations: Rotation | np.ndarray, point_group: str | Symmetry) -> np.ndarray:
    """Reduce rotations into the fundamental zone; scalar part >= 0.

    Parameters
    ----------
    rotations
        orix rotations or an array (..., 4) of unit quaternions.
    point_group
        Crystal point group; its proper subgroup is used.

    Returns
    -------
    numpy.ndarray
        (n, 4) float64 quaternions, flattened in C order.

    Examples
    --------
    >>> import numpy as np
    >>> from kikuchipy_gen.attributes import fundamental_zone_quaternions
    >>> q = np.array([[0.0, 0.0, 0.0, 1.0]])  # 180 deg about z, equivalent to identity in m-3m
    >>> np.abs(np.round(fundamental_zone_quaternions(q, "m-3m"), 6))
    array([[1., 0., 0., 0.]])
    """
    data = rotations.data if isinstance(rotations, Rotation) else np.asarray(rotations, dtype=float)
    q = data.reshape(-1, 4)
    pg = _proper_subgroup(point_group)
    reduced = Orientation(q, symmetry=pg).reduce().data.reshape(-1, 4)
    return reduced * np.where(reduced[:, :1] < 0, -1.0, 1.0)


def encode_attributes(
    rotations: Rotation | np.ndarray,
    point_group: str | Symmetry,
    energies: float | np.ndarray | None = None,
) -> torch.Tensor:
    """Attribute vectors ``[q_FZ, voltage / 30]`` for the networks.

    Parameters
    ----------
    rotations
        Orientations (n of them).
    point_group
        Crystal point group.
    energies
        Beam energies in kV (scalar or one per rotation), or None for an
        orientation-only model.

    Returns
    -------
    torch.Tensor
        float32 (n, 4) or (n, 5).

    Examples
    --------
    >>> from orix.quaternion import Rotation
    >>> from kikuchipy_gen.attributes import encode_attributes
    >>> encode_attributes(Rotation.identity((3,)), "m-3m", 15.0)[0]
    tensor([1.0000, 0.0000, 0.0000, 0.0000, 0.5000])
    """
    return attribute_tensor(fundamental_zone_quaternions(rotations, point_group), energies)


def attribute_tensor(
    quaternions: np.ndarray | torch.Tensor, energies: float | np.ndarray | torch.Tensor | None = None
) -> torch.Tensor:
    """Attribute vectors from quaternions already in the fundamental zone.

    The one place where the voltage joins the quaternion: datasets store
    fundamental-zone quaternions, so training and generation start here,
    and :func:`encode_attributes` reduces arbitrary rotations first.

    Parameters
    ----------
    quaternions
        (n, 4) fundamental-zone quaternions, scalar part >= 0.
    energies
        Beam energies in kV (scalar or n), or None for an orientation-only
        model.

    Returns
    -------
    torch.Tensor
        float32 (n, 4) or (n, 5): ``[q, kV / 30]``.

    Examples
    --------
    >>> import numpy as np
    >>> from kikuchipy_gen.attributes import attribute_tensor
    >>> attribute_tensor(np.array([[1.0, 0, 0, 0]]), [30.0])
    tensor([[1., 0., 0., 0., 1.]])
    """
    q = torch.as_tensor(quaternions).reshape(-1, 4).float()
    if energies is None:
        return q
    e = torch.as_tensor(energies, dtype=torch.float64).reshape(-1)
    if not bool(torch.isfinite(e).all()):
        raise ValueError("Energies must be finite numbers in kV")
    e = torch.broadcast_to(e, (len(q),))
    # Scaled in float64 then cast, as the datasets' float64 energies always were.
    return torch.cat([q, (e / VOLTAGE_SCALE).float()[:, None]], dim=1)


def symmetry_quaternions(point_group: str | Symmetry) -> torch.Tensor:
    """Quaternions of the proper rotations of a point group, shape (n, 4), float64.

    Examples
    --------
    >>> from kikuchipy_gen.attributes import symmetry_quaternions
    >>> symmetry_quaternions("m-3m").shape  # the 24 proper rotations of the cube
    torch.Size([24, 4])
    """
    return torch.from_numpy(_proper_subgroup(point_group).data.reshape(-1, 4).copy())
