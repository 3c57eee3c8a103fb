"""Attribute vectors for the generative model: orientation (and voltage).

An EBSD pattern depends on the orientation only up to the crystal symmetry:
all symmetry-equivalent quaternions (and ``q`` and ``-q``) give the same
pattern. A network fed raw quaternions would have to learn that many-to-one
map. Instead, as in the paper, every orientation is reduced into the
fundamental zone of the proper point group and given the sign with a
non-negative scalar part, so each pattern has exactly one attribute vector.
The voltage, when used, is appended divided by 30 kV (the reference code's
scaling), which keeps it of the order of the quaternion components.
"""

from __future__ import annotations

import numpy as np
import torch
from orix.quaternion import Orientation, Rotation
from orix.quaternion.symmetry import Symmetry

from kikuchipy_gen.phases import get_point_group

__all__ = ["VOLTAGE_SCALE", "encode_attributes", "fundamental_zone_quaternions", "symmetry_quaternions"]

#: Voltages enter the networks divided by this (kV).
VOLTAGE_SCALE = 30.0


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
    pg = get_point_group(point_group).proper_subgroup
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
    q = fundamental_zone_quaternions(rotations, point_group)
    if energies is None:
        return torch.from_numpy(q).float()
    e = np.broadcast_to(np.asarray(energies, dtype=float).reshape(-1), (len(q),))
    if not np.all(np.isfinite(e)):
        raise ValueError("Energies must be finite numbers in kV")
    return torch.from_numpy(np.column_stack([q, e / VOLTAGE_SCALE])).float()


def symmetry_quaternions(point_group: str | Symmetry) -> torch.Tensor:
    """Quaternions of the proper rotations of a point group, shape (n, 4), float64."""
    return torch.from_numpy(get_point_group(point_group).proper_subgroup.data.reshape(-1, 4).copy())
