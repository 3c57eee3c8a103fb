"""Geometry-aware decoder: a learned master pattern behind exact projection (preset ``geometric``).

A conv decoder has to learn the gnomonic projection and the crystal symmetry
from data. Here the orientation enters through exact geometry instead: every
detector pixel's direction is rotated into the crystal frame and looked up in
a *learned* square-Lambert master pattern
(:func:`~kikuchipy_gen.projection.project_patterns`). The network learns only
what the physics makes expensive: the master pattern and its dependence on
the voltage. A small head in detector space then maps the projected
intensities to the dataset's preprocessing (CLAHE), modulated by the latent z.

This first version interpolates linearly in voltage between learned master
patterns at evenly spaced knots (one knot for single-voltage data).
"""

from __future__ import annotations

import torch
from kikuchipy.detectors import EBSDDetector
from torch import nn

from kikuchipy_gen.attributes import VOLTAGE_SCALE
from kikuchipy_gen.models.config import ModelConfig
from kikuchipy_gen.projection import detector_directions, rotate_vectors, sample_lambert

__all__ = ["GeometricDecoder"]


class GeometricDecoder(nn.Module):
    """Latent z and attributes -> pattern logits through a learned master pattern.

    Parameters
    ----------
    config
        Model configuration; uses ``texture_size``, ``voltage_knots``,
        ``energy_range``, ``latent_dim`` and ``head_channels``.
    detector
        Detector to project onto; change it later with :meth:`set_detector`.

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.detector import default_detector
    >>> from kikuchipy_gen.models import preset
    >>> from kikuchipy_gen.models.geometric import GeometricDecoder
    >>> dec = GeometricDecoder(preset("geometric", texture_size=41), default_detector())
    >>> dec(torch.randn(2, 16), torch.tensor([[1.0, 0, 0, 0]] * 2)).shape
    torch.Size([2, 1, 60, 60])
    """

    def __init__(self, config: ModelConfig, detector: EBSDDetector) -> None:
        super().__init__()
        n, knots = config.texture_size, config.voltage_knots
        self.use_voltage = config.use_voltage
        self.register_buffer("knot_voltages", torch.linspace(*config.energy_range, knots) / VOLTAGE_SCALE)
        self.texture = nn.Parameter(0.01 * torch.randn(knots, 2, n, n))
        c = config.head_channels
        self.head_in = nn.Conv2d(1, c, 3, padding=1)
        self.head_mid = nn.Conv2d(c, c, 3, padding=2, dilation=2)
        self.head_deep = nn.Conv2d(c, c, 3, padding=4, dilation=4)
        self.head_out = nn.Conv2d(c, 1, 3, padding=1)
        self.film = nn.Linear(config.latent_dim, 2 * c)
        self.gain = nn.Parameter(torch.ones(1))
        self.act = nn.LeakyReLU(config.leaky_slope)
        self.set_detector(detector)

    def set_detector(self, detector: EBSDDetector) -> None:
        """Project onto another detector (any shape, pattern centre, tilts)."""
        self.shape = tuple(detector.shape)
        self.register_buffer("directions", detector_directions(detector).float(), persistent=False)

    def master_pattern(self, voltage: torch.Tensor | None = None) -> torch.Tensor:
        """Learned master pattern(s): (2, n, n), or (b, 2, n, n) for b scaled voltages."""
        if voltage is None or self.texture.shape[0] == 1:
            return self.texture[0] if voltage is None else self.texture[0].expand(len(voltage), -1, -1, -1)
        knots = self.knot_voltages
        position = (voltage.clamp(knots[0], knots[-1]) - knots[0]) / (knots[1] - knots[0])
        lower = position.floor().long().clamp(max=len(knots) - 2)
        weight = (position - lower).view(-1, 1, 1, 1)
        return (1 - weight) * self.texture[lower] + weight * self.texture[lower + 1]

    def forward(self, z: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        q = attributes[:, :4].float()
        voltage = attributes[:, 4].float() if self.use_voltage else None
        master = self.master_pattern(voltage) if voltage is not None else self.texture[0]
        v = rotate_vectors(q, self.directions.to(q.device))
        x = sample_lambert(master.float(), v).reshape(-1, 1, *self.shape)
        # Per-pattern standardisation: CLAHE removes absolute intensity anyway.
        x = (x - x.mean(dim=(2, 3), keepdim=True)) / (x.std(dim=(2, 3), keepdim=True) + 1e-4)
        # Bounded modulation: z refines the head, it cannot blow it up (an
        # unbounded FiLM let the KL run away when one batch was overfitted).
        scale, shift = torch.tanh(self.film(z.float())).chunk(2, dim=1)
        h = self.act(self.head_in(x))
        h = self.act(self.head_mid(h) * (1 + scale[..., None, None]) + shift[..., None, None])
        h = self.act(self.head_deep(h)) + h
        return self.gain * x + self.head_out(h)
