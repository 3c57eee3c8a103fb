"""Loss terms of the EBSD-CVAE/GAN, equations (6)-(14) of the paper.

Every function returns a scalar averaged over the batch unless stated.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "AdaptiveKL",
    "bce_reconstruction",
    "disorientation",
    "disorientation_loss",
    "dot_orientation_loss",
    "kl_gaussian",
    "quaternion_multiply",
    "voltage_mse",
    "wasserstein_critic",
    "wasserstein_generator",
]


def kl_gaussian(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL divergence of N(mean, exp(logvar)) from N(0, I), eq. (6).

    Summed over latent dimensions, averaged over the batch:
    ``0.5 * sum(mean^2 + var - logvar - 1)``.

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.losses import kl_gaussian
    >>> float(kl_gaussian(torch.zeros(2, 3), torch.zeros(2, 3)))
    0.0
    >>> float(kl_gaussian(torch.ones(1, 2), torch.zeros(1, 2)))  # 0.5 * (1 + 1)
    1.0
    """
    return 0.5 * torch.sum(mean.pow(2) + logvar.exp() - logvar - 1, dim=1).mean()


def bce_reconstruction(logits: torch.Tensor, target: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """Binary cross-entropy of patterns in [0, 1], eq. (7).

    Parameters
    ----------
    logits
        Decoder output before the sigmoid, (n, 1, h, w).
    target
        Real patterns in [0, 1].
    reduction
        ``"sum"`` over pixels (the reference code) or ``"mean"`` over pixels
        (the paper's eq. 7); either way averaged over the batch.

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.losses import bce_reconstruction
    >>> x = torch.full((1, 1, 2, 2), 0.5)
    >>> round(float(bce_reconstruction(torch.zeros(1, 1, 2, 2), x, "mean")), 4)  # ln 2
    0.6931
    """
    per_pixel = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    per_pattern = per_pixel.flatten(1)
    if reduction == "sum":
        return per_pattern.sum(1).mean()
    if reduction == "mean":
        return per_pattern.mean(1).mean()
    raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")


def quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product of quaternions (..., 4), scalar first (orix's convention)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def disorientation(
    q_pred: torch.Tensor, q_true: torch.Tensor, symmetry: torch.Tensor, eps: float = 1e-16
) -> torch.Tensor:
    """Symmetry-reduced disorientation angle in radians, differentiable.

    The smallest rotation angle between ``q_true`` and any symmetry
    equivalent ``s * q_pred`` (crystal symmetry acts from the left, as in
    orix). The angle is ``2 atan2(|v|, |w|)`` of the relative rotation
    ``(w, v)``, which, unlike ``2 acos(|w|)``, keeps finite gradients near
    0 deg; ``eps`` softens ``|v|`` at exactly zero.

    Parameters
    ----------
    q_pred
        Quaternions (n, 4); normalised here.
    q_true
        Unit quaternions (n, 4).
    symmetry
        Proper rotations of the point group (m, 4), e.g. from
        :func:`~kikuchipy_gen.attributes.symmetry_quaternions`.
    eps
        Smoothing of the vector-part norm.

    Returns
    -------
    torch.Tensor
        (n,) angles in radians.

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.attributes import symmetry_quaternions
    >>> from kikuchipy_gen.losses import disorientation
    >>> s = symmetry_quaternions("m-3m")
    >>> q90 = torch.tensor([[2**-0.5, 0, 0, 2**-0.5]], dtype=torch.float64)  # 90 deg about z
    >>> round(float(disorientation(q90, torch.tensor([[1.0, 0, 0, 0]], dtype=torch.float64), s)), 6)
    0.0
    """
    q_pred = F.normalize(q_pred, dim=-1)
    symmetry = symmetry.to(dtype=q_pred.dtype, device=q_pred.device)
    conj = q_true * q_true.new_tensor([1.0, -1.0, -1.0, -1.0])
    equivalents = quaternion_multiply(symmetry[None], q_pred[:, None])  # (n, m, 4)
    relative = quaternion_multiply(conj[:, None], equivalents)
    w = relative[..., 0].abs()
    v = torch.sqrt(relative[..., 1:].pow(2).sum(-1) + eps)
    angles = 2 * torch.atan2(v, w)
    return angles.min(dim=1).values


def disorientation_loss(q_pred: torch.Tensor, q_true: torch.Tensor, symmetry: torch.Tensor) -> torch.Tensor:
    """Mean disorientation in radians, eq. (9).

    Examples
    --------
    A 10 deg rotation about z, and a 90 deg one that the cube's symmetry makes no rotation:

    >>> import math
    >>> import torch
    >>> from kikuchipy_gen.attributes import symmetry_quaternions
    >>> from kikuchipy_gen.losses import disorientation_loss
    >>> def about_z(deg):
    ...     return torch.tensor([[math.cos(math.radians(deg) / 2), 0, 0, math.sin(math.radians(deg) / 2)]])
    >>> identity, cube = about_z(0), symmetry_quaternions("m-3m").float()
    >>> round(math.degrees(disorientation_loss(about_z(10), identity, cube)), 2)
    10.0
    >>> round(math.degrees(disorientation_loss(about_z(90), identity, cube)), 2)
    0.0
    """
    return disorientation(q_pred, q_true, symmetry).mean()


def dot_orientation_loss(q_pred: torch.Tensor, q_true: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """The reference code's orientation loss ``scale * (1 - |<q, q'>|)`` (no crystal symmetry).

    The reference code uses ``scale = 1e4`` (training takes it from
    :attr:`~kikuchipy_gen.models.TrainConfig.dot_scale`) and the plain
    product ``<q, q'>``; here its absolute value, so that ``q`` and ``-q``
    (the same rotation) give zero.

    Parameters
    ----------
    q_pred
        Quaternions (n, 4); normalised here.
    q_true
        Unit quaternions (n, 4).
    scale
        Factor of the loss.

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.losses import dot_orientation_loss
    >>> q = torch.tensor([[1.0, 0, 0, 0]])
    >>> dot_orientation_loss(-q, q)  # q and -q are the same rotation
    tensor(0.)
    >>> q90 = torch.tensor([[2**-0.5, 0, 0, 2**-0.5]])  # 90 deg about z
    >>> round(float(dot_orientation_loss(q90, q, scale=1e4)), 1)  # the reference's factor
    2928.9
    """
    return scale * (1 - torch.sum(F.normalize(q_pred, dim=-1) * q_true, dim=-1).abs()).mean()


def voltage_mse(v_pred: torch.Tensor, v_true: torch.Tensor) -> torch.Tensor:
    """Mean squared error of (scaled) voltages, eq. (10).

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.losses import voltage_mse
    >>> voltage_mse(torch.tensor([0.5, 1.0]), torch.tensor([0.5, 0.0]))
    tensor(0.5000)
    """
    return F.mse_loss(v_pred.reshape(-1).float(), v_true.reshape(-1).float())


def wasserstein_critic(score_real: torch.Tensor, score_fake: torch.Tensor, bounded: bool = False) -> torch.Tensor:
    """Critic loss ``-E[D(x)] + E[D(G(z))]``, eq. (11).

    Parameters
    ----------
    score_real, score_fake
        Critic scores of real and generated patterns.
    bounded
        Pass the scores through a sigmoid first, as the reference code does
        (``-E[s(D(x))] + E[s(D(G(z)))]``, in [-1, 1]); the paper's eq. (11)
        has the raw scores.

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.losses import wasserstein_critic
    >>> wasserstein_critic(torch.tensor([2.0, 4.0]), torch.tensor([1.0, 1.0]))  # -3 + 1
    tensor(-2.)
    >>> wasserstein_critic(torch.tensor([0.0]), torch.tensor([0.0]), bounded=True)  # -0.5 + 0.5
    tensor(0.)
    """
    if bounded:
        score_real, score_fake = torch.sigmoid(score_real), torch.sigmoid(score_fake)
    return -score_real.mean() + score_fake.mean()


def wasserstein_generator(score_fake: torch.Tensor, bounded: bool = False) -> torch.Tensor:
    """Generator loss ``-E[D(G(z))]``, eq. (12).

    Parameters
    ----------
    score_fake
        Critic scores of generated patterns.
    bounded
        Through a sigmoid first, as the reference code does
        (``-E[s(D(G(z)))]``).

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.losses import wasserstein_generator
    >>> wasserstein_generator(torch.tensor([1.0, 3.0]))
    tensor(-2.)
    >>> wasserstein_generator(torch.tensor([0.0]), bounded=True)
    tensor(-0.5000)
    """
    if bounded:
        score_fake = torch.sigmoid(score_fake)
    return -score_fake.mean()


@dataclass(frozen=True)
class AdaptiveKL:
    """The adaptive KL coefficient: a step function of the current KL.

    ``coefficient(kl)`` is ``high`` above ``upper``, ``mid`` above ``lower``
    and ``low`` otherwise (reference code: 1.5 / 0.1 / 0.01 at 15 and 5),
    so the KL term pulls hard only while the latent distribution is far from
    N(0, I) and otherwise leaves room for reconstruction.

    Examples
    --------
    >>> from kikuchipy_gen.losses import AdaptiveKL
    >>> k = AdaptiveKL()
    >>> k(20.0), k(10.0), k(1.0)
    (1.5, 0.1, 0.01)
    """

    upper: float = 15.0
    lower: float = 5.0
    high: float = 1.5
    mid: float = 0.1
    low: float = 0.01

    def __call__(self, kl: float) -> float:
        kl = float(kl)
        if kl > self.upper:
            return self.high
        if kl > self.lower:
            return self.mid
        return self.low
