"""Geometry-aware decoder: a learned master pattern behind exact projection (preset ``geometric``).

A conv decoder has to learn the gnomonic projection and the crystal symmetry
from data. Here the orientation enters through exact geometry instead: every
detector pixel's direction is rotated into the crystal frame and looked up in
a *learned* square-Lambert master pattern
(:func:`~kikuchipy_gen.projection.project_patterns`). The network learns only
what the physics makes expensive: the master pattern and its dependence on
the voltage. A small head in detector space then maps the projected
intensities to the dataset's preprocessing (CLAHE), modulated by the latent z:
by default :class:`LocalContrastHead`, which mirrors what CLAHE does (a
local, monotone contrast stretch) at a cost small enough for a fused CPU
kernel (:mod:`kikuchipy_gen.models._cpu_decode`).

Directions are reduced into the fundamental sector of the phase's Laue group
(:class:`~kikuchipy_gen.sector.SectorReduction`), pixel by pixel, so the
learned master pattern has the crystal's symmetry exactly, symmetry-equivalent
orientations give identical patterns, and every pattern trains the same texels.
Voltage is interpolated linearly between learned master patterns at knot
voltages, the training voltages (evenly spaced unless the config places them;
one knot for single-voltage data). :meth:`GeometricDecoder.to_master_pattern`
exports the learned master pattern at any voltage as a kikuchipy
:class:`~kikuchipy.signals.EBSDMasterPattern`.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from kikuchipy.detectors import EBSDDetector
from kikuchipy.signals import EBSDMasterPattern
from orix.crystal_map import Phase
from orix.quaternion import Symmetry
from orix.quaternion.symmetry import C1
from torch import nn

from kikuchipy_gen.attributes import VOLTAGE_SCALE
from kikuchipy_gen.lambert import lambert_master_pattern
from kikuchipy_gen.models.config import GeometricDecoderConfig, ModelConfig
from kikuchipy_gen.projection import (
    detector_directions,
    lambert_coordinates,
    lambert_directions,
    rotate_vectors,
    sample_lambert,
)
from kikuchipy_gen.sector import SectorReduction

__all__ = ["DilatedHead", "GeometricDecoder", "LocalContrastHead"]

# Channels of the 3x3 edge filters the local-contrast head adds to its features.
_EDGE_FEATURES = 4
# Added to the local variance: flat regions are not blown up to +-inf.
_LOCAL_EPS = 1e-2


class GeometricDecoder(nn.Module):
    """Latent z and attributes -> pattern logits through a learned master pattern.

    Parameters
    ----------
    config
        Model configuration with a
        :class:`~kikuchipy_gen.models.config.GeometricDecoderConfig` decoder;
        also uses ``latent_dim``, ``use_voltage`` and ``leaky_slope``.
    detector
        Detector to project onto; change it later with :meth:`set_detector`.
    point_group
        The phase's point group; with the decoder's ``symmetry`` it fixes the
        symmetry imposed on the learned master pattern. None imposes none.

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.detector import default_detector
    >>> from kikuchipy_gen.models import preset
    >>> from kikuchipy_gen.models.geometric import GeometricDecoder
    >>> from orix.quaternion.symmetry import Oh
    >>> dec = GeometricDecoder(preset("geometric", texture_size=41), default_detector(), Oh)
    >>> dec(torch.randn(2, 16), torch.tensor([[1.0, 0, 0, 0]] * 2)).shape
    torch.Size([2, 1, 60, 60])
    >>> dec.sector
    SectorReduction(symmetry=m-3m, order=48)
    """

    def __init__(self, config: ModelConfig, detector: EBSDDetector, point_group: Symmetry | None = None) -> None:
        super().__init__()
        geometric = config.decoder
        if not isinstance(geometric, GeometricDecoderConfig):
            raise TypeError(f"GeometricDecoder needs a geometric decoder config, got a {geometric.kind} one")
        n, knots = geometric.texture_size, geometric.voltage_knots
        self.use_voltage = config.use_voltage
        # Built on the meta device, the decoder only shows its tensors' shapes
        # (ModelBundle checks a file's weights so, before allocating them). Its
        # values are then skipped: the first arithmetic on meta tensors in a
        # process is slow (torch sets up its Python meta kernels), 0.9 s of a
        # session's first model load.
        self._shapes_only = torch.empty(0).is_meta
        if self._shapes_only:
            self.register_buffer("knot_voltages", torch.empty(knots))
            self.texture = nn.Parameter(torch.empty(knots, 2, n, n))
        else:
            knot_kv = torch.tensor(geometric.knot_voltages(), dtype=torch.float32)
            self.register_buffer("knot_voltages", knot_kv / VOLTAGE_SCALE)
            self.texture = nn.Parameter(0.01 * torch.randn(knots, 2, n, n))
        head = LocalContrastHead if geometric.head == "local-contrast" else DilatedHead
        self.head = head(config)
        if point_group is None or geometric.symmetry == "none":
            point_group = C1
        elif geometric.symmetry == "laue":
            point_group = point_group.laue
        self.sector = SectorReduction(point_group)
        self._set_symmetry_lookup(n)
        # read_texels' answer depends on the texture's size, the symmetry and
        # the device only, and takes seconds at 401 texels a side: every
        # training checkpoint writes the exported state.
        self._texel_mask_cache: tuple[tuple[int, torch.device], torch.Tensor] | None = None
        self._read_lookup_cache: tuple[tuple[int, torch.device], tuple[torch.Tensor, ...]] | None = None
        self.set_detector(detector)

    def _set_symmetry_lookup(self, n: int) -> None:
        # Where every texel of the symmetric texture reads the learned one: its
        # direction reduced into the fundamental sector. Precomputed once. The
        # decoder reads this texture only at directions in the sector (see
        # project) and its texels just outside, whose values then continue the
        # sector's across its walls; the exported master pattern is the whole
        # texture, so kikuchipy's projection of it agrees with the decoder's up
        # to interpolation where a pixel lies outside the sector.
        if self.sector.order == 1 or self._shapes_only:
            self.register_buffer("symmetry_grid", None, persistent=False)
            self.register_buffer("symmetry_upper", None, persistent=False)
            return
        v = self.sector(lambert_directions(n)).reshape(1, -1, 3)
        self.register_buffer("symmetry_grid", lambert_coordinates(v).float()[:, None], persistent=False)
        self.register_buffer("symmetry_upper", (v[0, :, 2] >= 0), persistent=False)

    def set_detector(self, detector: EBSDDetector) -> None:
        """Project onto another detector (any shape, pattern centre, tilts).

        Parameters
        ----------
        detector
            Detector to project onto from now on.

        Examples
        --------
        >>> import torch
        >>> from orix.quaternion.symmetry import Oh
        >>> from kikuchipy_gen.detector import default_detector
        >>> from kikuchipy_gen.models import preset
        >>> from kikuchipy_gen.models.geometric import GeometricDecoder
        >>> dec = GeometricDecoder(preset("geometric", texture_size=21), default_detector(), Oh)
        >>> dec.set_detector(default_detector(shape=(40, 50)))
        >>> dec(torch.zeros(1, 16), torch.tensor([[1.0, 0, 0, 0]])).shape
        torch.Size([1, 1, 40, 50])
        """
        self.shape = tuple(detector.shape)
        directions = None if self._shapes_only else detector_directions(detector).float()
        self.register_buffer("directions", directions, persistent=False)

    @torch.no_grad()
    def read_texels(self) -> torch.Tensor:
        """Which texels of the learned texture the decoder can ever read: (2, n, n) bool.

        With a symmetry, every lookup (projection and :meth:`symmetric_textures`)
        is at a direction reduced into the fundamental sector, so only the
        sector's footprint in each hemisphere is read: about 2.7 % of the
        texels for m-3m, 7 % for 4/mmm. The footprint is found by reducing a
        Lambert grid 4 times finer than the texture and marking each sample's
        bilinear neighbours, widened by one texel. The others keep their
        initial random values through training; :meth:`exported_state` writes
        them as zeros so that a model file compresses to a tenth.

        Returns
        -------
        torch.Tensor
            True for the texels a lookup can reach; all True without symmetry.

        Examples
        --------
        >>> from orix.quaternion.symmetry import Oh
        >>> from kikuchipy_gen.detector import default_detector
        >>> from kikuchipy_gen.models import preset
        >>> from kikuchipy_gen.models.geometric import GeometricDecoder
        >>> dec = GeometricDecoder(preset("geometric", texture_size=41), default_detector(), Oh)
        >>> mask = dec.read_texels()
        >>> mask.shape, round(mask.float().mean().item(), 2)
        (torch.Size([2, 41, 41]), 0.05)
        """
        n = self.texture.shape[-1]
        if self.symmetry_grid is None:
            return torch.ones(2, n, n, dtype=torch.bool, device=self.texture.device)
        key = (n, self.texture.device)
        if self._texel_mask_cache is None or self._texel_mask_cache[0] != key:
            self._texel_mask_cache = (key, self._find_read_texels(n))
        return self._texel_mask_cache[1].clone()

    def _find_read_texels(self, n: int) -> torch.Tensor:
        v = self.sector(lambert_directions(4 * n).reshape(-1, 3).to(self.texture.device))
        xy = lambert_coordinates(v[None])[0]
        # align_corners=True: -1 and 1 are the centres of the first and last texels.
        col, row = ((xy + 1) / 2 * (n - 1)).floor().long().unbind(-1)
        hemisphere = (v[:, 2] < 0).long()
        mask = torch.zeros(2, n, n, dtype=torch.bool, device=self.texture.device)
        for dr in (-1, 0, 1, 2):
            for dc in (-1, 0, 1, 2):
                mask[hemisphere, (row + dr).clamp(0, n - 1), (col + dc).clamp(0, n - 1)] = True
        return mask

    def exported_state(self) -> dict[str, torch.Tensor]:
        """The ``state_dict`` to write a model with: texels no lookup reads set to zero.

        The decoder's output is unchanged (the zeros are never read, see
        :meth:`read_texels`), and the file compresses about 15-fold in git or
        a wheel. Training checkpoints keep the full state.

        Returns
        -------
        dict

        Examples
        --------
        >>> import torch
        >>> from orix.quaternion.symmetry import Oh
        >>> from kikuchipy_gen.detector import default_detector
        >>> from kikuchipy_gen.models import preset
        >>> from kikuchipy_gen.models.geometric import GeometricDecoder
        >>> dec = GeometricDecoder(preset("geometric", texture_size=41), default_detector(), Oh)
        >>> state = dec.exported_state()
        >>> bool((state["texture"] == 0).any()), bool((dec.texture == 0).any())
        (True, False)
        """
        state = self.state_dict()
        state["texture"] = self.texture.detach() * self.read_texels()
        return state

    def for_detector(self, detector: EBSDDetector) -> GeometricDecoder:
        """This decoder for another detector, sharing its weights and symmetry lookup.

        Cheap (only the detector's pixel directions are computed), for
        inference with many pattern centres; do not train the result.

        Parameters
        ----------
        detector
            Detector to project onto.

        Returns
        -------
        GeometricDecoder

        Examples
        --------
        >>> from orix.quaternion.symmetry import Oh
        >>> from kikuchipy_gen.detector import default_detector
        >>> from kikuchipy_gen.models import preset
        >>> from kikuchipy_gen.models.geometric import GeometricDecoder
        >>> dec = GeometricDecoder(preset("geometric", texture_size=21), default_detector(), Oh)
        >>> other = dec.for_detector(default_detector(shape=(30, 40)))
        >>> other.shape, dec.shape, other.texture is dec.texture
        ((30, 40), (60, 60), True)
        """
        clone = copy.copy(self)
        # Own buffer table (the directions), shared parameters and submodules.
        clone._buffers = dict(self._buffers)
        clone.set_detector(detector)
        return clone

    def symmetric_textures(self) -> torch.Tensor:
        """The learned master patterns at the knots with the imposed symmetry: (knots, 2, n, n).

        Returns
        -------
        torch.Tensor
            One texture per voltage knot, both hemispheres.

        Examples
        --------
        >>> import torch
        >>> from orix.quaternion.symmetry import Oh
        >>> from kikuchipy_gen.detector import default_detector
        >>> from kikuchipy_gen.models import preset
        >>> from kikuchipy_gen.models.geometric import GeometricDecoder
        >>> config = preset("geometric", texture_size=21, voltage_knots=3, use_voltage=True)
        >>> dec = GeometricDecoder(config, default_detector(), Oh)
        >>> dec.symmetric_textures().shape  # knots at 10, 20 and 30 kV
        torch.Size([3, 2, 21, 21])
        """
        if self._shapes_only:
            raise RuntimeError("This decoder was built on the meta device for its shapes only; build it on a device")
        if self.symmetry_grid is None:
            return self.texture
        k, _, n, _ = self.texture.shape
        both = F.grid_sample(
            self.texture.reshape(1, 2 * k, n, n),
            self.symmetry_grid.to(self.texture.dtype),
            mode="bilinear",
            padding_mode="border",
            align_corners=True,
        )
        both = both.reshape(k, 2, -1)
        sym = torch.where(self.symmetry_upper, both[:, 0], both[:, 1])  # (k, 2n^2)
        return sym.reshape(k, 2, n, n)

    def _projected_textures(self) -> torch.Tensor:
        """:meth:`symmetric_textures` where :meth:`project` can read them, zeros elsewhere, when training.

        A training step resampled every texel of the symmetric texture and
        sent gradients back through all of them, though the projection reads
        only the fundamental sector's footprint (:meth:`read_texels`: 4 % of
        the texels for m-3m, 11 % for -3m): at 401 texels a side that lookup
        and its backward were a quarter of a -3m CPU step. With gradients on, only the read texels
        are resampled (each as in :meth:`symmetric_textures`) and scattered
        into zeros. Without them the whole texture is taken: the footprint
        costs seconds to find once, and inference does not repeat the lookup
        per step.
        """
        if self.symmetry_grid is None or not (torch.is_grad_enabled() and self.texture.requires_grad):
            return self.symmetric_textures()
        k, _, n, _ = self.texture.shape
        index, grid, upper = self._read_lookup(n)
        read = F.grid_sample(
            self.texture.reshape(1, 2 * k, n, n),
            grid.to(self.texture.dtype),
            mode="bilinear",
            padding_mode="border",
            align_corners=True,
        ).reshape(k, 2, -1)
        read = torch.where(upper, read[:, 0], read[:, 1])  # (k, texels read)
        return self.texture.new_zeros(k, 2 * n * n).index_copy(1, index, read).reshape(k, 2, n, n)

    def _read_lookup(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # The read texels' flat indices and their rows of the symmetry lookup,
        # cached like read_texels (whose cache this fills).
        key = (n, self.texture.device)
        if self._read_lookup_cache is None or self._read_lookup_cache[0] != key:
            index = self.read_texels().flatten().nonzero()[:, 0]
            self._read_lookup_cache = (key, (index, self.symmetry_grid[:, :, index], self.symmetry_upper[index]))
        return self._read_lookup_cache[1]

    def _knots(self, voltage: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Outside the knots the end textures are held (no extrapolation).
        knots = self.knot_voltages
        voltage = voltage.clamp(knots[0], knots[-1])
        # Knots need not be evenly spaced; on the top knot the last interval
        # is used with weight 1.
        lower = (torch.searchsorted(knots, voltage, right=True) - 1).clamp(0, len(knots) - 2)
        weight = (voltage - knots[lower]) / (knots[lower + 1] - knots[lower])
        return lower, weight

    def master_pattern(self, voltage: torch.Tensor | None = None) -> torch.Tensor:
        """Learned master pattern(s): (2, n, n), or (b, 2, n, n) for b scaled voltages.

        Parameters
        ----------
        voltage
            (b,) voltages divided by 30 kV (the attribute scale), blended
            linearly between the knots; None gives the first knot.

        Returns
        -------
        torch.Tensor

        Examples
        --------
        >>> import torch
        >>> from orix.quaternion.symmetry import Oh
        >>> from kikuchipy_gen.detector import default_detector
        >>> from kikuchipy_gen.models import preset
        >>> from kikuchipy_gen.models.geometric import GeometricDecoder
        >>> config = preset("geometric", texture_size=21, voltage_knots=3, use_voltage=True)
        >>> dec = GeometricDecoder(config, default_detector(), Oh)
        >>> dec.master_pattern(torch.tensor([10.0, 17.5]) / 30).shape
        torch.Size([2, 2, 21, 21])
        """
        textures = self.symmetric_textures()
        if voltage is None or textures.shape[0] == 1:
            return textures[0] if voltage is None else textures[0].expand(len(voltage), -1, -1, -1)
        lower, weight = self._knots(voltage)
        weight = weight.view(-1, 1, 1, 1)
        return (1 - weight) * textures[lower] + weight * textures[lower + 1]

    def project(self, quaternions: torch.Tensor, voltage: torch.Tensor | None = None) -> torch.Tensor:
        """Raw projected intensities (b, rows * cols) of the learned master pattern.

        Parameters
        ----------
        quaternions
            (b, 4) unit quaternions.
        voltage
            (b,) voltages divided by 30 kV, or None.

        Returns
        -------
        torch.Tensor

        Examples
        --------
        >>> import torch
        >>> from orix.quaternion.symmetry import Oh
        >>> from kikuchipy_gen.detector import default_detector
        >>> from kikuchipy_gen.models import preset
        >>> from kikuchipy_gen.models.geometric import GeometricDecoder
        >>> dec = GeometricDecoder(preset("geometric", texture_size=21), default_detector(), Oh)
        >>> dec.project(torch.tensor([[1.0, 0, 0, 0]]), torch.tensor([0.5])).shape
        torch.Size([1, 3600])
        """
        textures = self._projected_textures().float()
        k, _, n, _ = textures.shape
        v = rotate_vectors(quaternions.float(), self.directions.to(quaternions.device))  # (b, p, 3)
        if self.symmetry_grid is not None:
            # Each pixel reads the fundamental sector, so pixels that are mirror
            # images across a sector wall read the same texels. Sampling the
            # symmetric texture where the pixel falls instead would mix texels
            # copied exactly (inside the sector) with texels resampled from it
            # (outside), and where a wall is curved in the Lambert square that
            # border is a staircase: band edges crossing it were serrated.
            v = self.sector(v)
        b, p = v.shape[:2]
        grid = lambert_coordinates(v).reshape(1, 1, b * p, 2)
        # All knots and both hemispheres in one lookup; the voltage blend is
        # then done on b * p samples, not on b full textures.
        vals = F.grid_sample(
            textures.reshape(1, 2 * k, n, n), grid, mode="bilinear", padding_mode="border", align_corners=True
        ).reshape(k, 2, b, p)
        vals = torch.where(v[..., 2] >= 0, vals[:, 0], vals[:, 1])  # (k, b, p)
        if k == 1 or voltage is None:
            return vals[0]
        lower, weight = self._knots(voltage.float())
        items = torch.arange(b, device=v.device)
        return (1 - weight[:, None]) * vals[lower, items] + weight[:, None] * vals[lower + 1, items]

    def forward(self, z: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        """Pattern logits (b, 1, rows, cols): projection, standardisation, head.

        Parameters
        ----------
        z
            (b, latent_dim) latent vectors.
        attributes
            (b, 4) fundamental-zone quaternions, or (b, 5) with the voltage
            divided by 30 kV appended (see
            :func:`~kikuchipy_gen.attributes.attribute_tensor`).

        Returns
        -------
        torch.Tensor
            Logits; ``torch.sigmoid`` gives intensities in [0, 1].

        Examples
        --------
        >>> import torch
        >>> from orix.quaternion.symmetry import Oh
        >>> from kikuchipy_gen.detector import default_detector
        >>> from kikuchipy_gen.models import preset
        >>> from kikuchipy_gen.models.geometric import GeometricDecoder
        >>> dec = GeometricDecoder(preset("geometric", texture_size=21), default_detector(), Oh)
        >>> from kikuchipy_gen.attributes import attribute_tensor
        >>> import numpy as np
        >>> attributes = attribute_tensor(np.array([[1.0, 0, 0, 0]]), np.array([20.0]))
        >>> torch.sigmoid(dec(torch.zeros(1, 16), attributes)).shape
        torch.Size([1, 1, 60, 60])
        """
        q = attributes[:, :4].float()
        voltage = attributes[:, 4].float() if self.use_voltage else None
        x = self.project(q, voltage).reshape(-1, 1, *self.shape)
        # Per-pattern standardisation: CLAHE removes absolute intensity anyway.
        x = (x - x.mean(dim=(2, 3), keepdim=True)) / (x.std(dim=(2, 3), keepdim=True) + 1e-4)
        return self.head(x, z.float())

    @torch.no_grad()
    def lambert_master_pattern(self, energy: float | None = None, size: int | None = None) -> torch.Tensor:
        """The learned master pattern as the decoder sees it, on a Lambert grid.

        This is exactly the texture :meth:`forward` projects: symmetric under
        the imposed group over the whole sphere, both hemispheres, blended
        between voltage knots. Another ``size`` resamples it.

        Parameters
        ----------
        energy
            Voltage in kV (needed with more than one voltage knot).
        size
            Pixels a side (odd); default ``texture_size``.

        Returns
        -------
        torch.Tensor
            float32 (2, size, size) on the CPU, upper hemisphere first.

        Examples
        --------
        >>> import torch
        >>> from orix.quaternion.symmetry import Oh
        >>> from kikuchipy_gen.detector import default_detector
        >>> from kikuchipy_gen.models import preset
        >>> from kikuchipy_gen.models.geometric import GeometricDecoder
        >>> dec = GeometricDecoder(preset("geometric", texture_size=21), default_detector(), Oh)
        >>> dec.lambert_master_pattern(20.0).shape
        torch.Size([2, 21, 21])
        >>> dec.lambert_master_pattern(20.0, size=51).shape
        torch.Size([2, 51, 51])
        """
        if self.texture.shape[0] > 1 and energy is None:
            raise ValueError("This decoder is conditioned on voltage: give an energy in kV")
        size = self.texture.shape[-1] if size is None else int(size)
        if size < 5 or size % 2 == 0:
            raise ValueError(f"size must be odd and >= 5, got {size}")
        if energy is None:
            master = self.master_pattern()
        else:
            master = self.master_pattern(torch.tensor([energy / VOLTAGE_SCALE], device=self.texture.device))[0]
        if size != master.shape[-1]:
            v = lambert_directions(size).to(master.device).reshape(1, -1, 3)
            master = sample_lambert(master.double(), v).reshape(2, size, size)
        return master.detach().float().cpu()

    def to_master_pattern(
        self, phase: Phase, energy: float | None = None, size: int | None = None
    ) -> EBSDMasterPattern:
        """Export the learned master pattern as a kikuchipy ``EBSDMasterPattern``.

        kikuchipy's ``get_patterns`` on the result reproduces this decoder's
        projection (before the detector-space head) to interpolation
        accuracy, so ``EBSD.refine_orientation`` and dictionary generation of
        kikuchipy run against the learned physics. Intensities are in the
        texture's arbitrary units (the head standardises each pattern).

        Parameters
        ----------
        phase
            Phase to attach (the one the model was trained on).
        energy
            Voltage in kV.
        size
            Lambert pixels a side (odd); default ``texture_size``.

        Returns
        -------
        kikuchipy.signals.EBSDMasterPattern
            Lambert projection, both hemispheres, ``phase`` set, one energy.

        Examples
        --------
        >>> from orix.crystal_map import Phase
        >>> from kikuchipy_gen.detector import default_detector
        >>> from kikuchipy_gen.models import preset
        >>> from kikuchipy_gen.models.geometric import GeometricDecoder
        >>> phase = Phase("ni", point_group="m-3m")
        >>> dec = GeometricDecoder(preset("geometric", texture_size=41), default_detector(), phase.point_group)
        >>> mp = dec.to_master_pattern(phase, energy=20)
        >>> mp.data.shape, mp.projection, mp.hemisphere
        ((2, 41, 41), 'lambert', 'both')
        """
        if not isinstance(phase, Phase):
            raise TypeError(f"phase must be an orix Phase, got {type(phase).__name__}")
        title = f"{phase.name} learned master pattern" + ("" if energy is None else f", {energy:g} kV")
        return lambert_master_pattern(self.lambert_master_pattern(energy, size).numpy(), phase, energy, title)


class LocalContrastHead(nn.Module):
    """Detector-space head: local standardisation and a per-pixel MLP, modulated by z.

    CLAHE maps each pixel through its neighbourhood's (clipped) intensity
    distribution, which for band contrast is close to a monotone function
    of the locally standardised intensity. The head therefore computes, per
    pixel, the standardised projection ``x``, ``(x - mean) / std`` over a
    ``head_window`` box and four 3x3 edge filters of ``x``, and maps them
    through a two-layer MLP whose hidden units are scaled and shifted by the
    latent z (bounded by tanh). The output is ``gain * x + MLP``, logits.

    Box sums use cumulative sums and the MLP is per pixel, so a 60x60 pattern
    costs about 0.6 MMAC with 8 hidden units (the ``geometric`` preset),
    against 18 for the dilated head with 16 channels (see
    :class:`DilatedHead`); on CPU the whole decoder runs as one numba kernel.

    Parameters
    ----------
    config
        Uses ``latent_dim``, ``leaky_slope`` and the geometric decoder's
        ``head_channels`` and ``head_window``.

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.models import preset
    >>> from kikuchipy_gen.models.geometric import LocalContrastHead
    >>> head = LocalContrastHead(preset("geometric"))
    >>> head(torch.randn(2, 1, 60, 60), torch.zeros(2, 16)).shape
    torch.Size([2, 1, 60, 60])
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c = config.decoder.head_channels
        self.window = config.decoder.head_window
        self.slope = config.leaky_slope
        self.edges = nn.Conv2d(1, _EDGE_FEATURES, 3, padding=1)
        self.mix_in = nn.Linear(2 + _EDGE_FEATURES, c)
        self.mix_mid = nn.Linear(c, c)
        self.mix_out = nn.Linear(c, 1)
        self.film = nn.Linear(config.latent_dim, 2 * c)
        self.gain = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Logits (b, 1, rows, cols) from standardised projections ``x`` of the same shape.

        Parameters
        ----------
        x
            (b, 1, rows, cols) projected intensities, standardised per pattern.
        z
            (b, latent_dim) latent vectors.

        Returns
        -------
        torch.Tensor

        Examples
        --------
        >>> import torch
        >>> from kikuchipy_gen.models import preset
        >>> from kikuchipy_gen.models.geometric import LocalContrastHead
        >>> head = LocalContrastHead(preset("geometric"))
        >>> head(torch.randn(2, 1, 60, 60), torch.zeros(2, 16)).shape
        torch.Size([2, 1, 60, 60])
        """
        mean = _box_mean(x[:, 0], self.window)
        var = (_box_mean(x[:, 0] ** 2, self.window) - mean**2).clamp(min=0)
        local = (x[:, 0] - mean) * torch.rsqrt(var + _LOCAL_EPS)
        # Pixels last, so the per-pixel MLP is plain matrix products.
        features = torch.cat([x[:, 0, ..., None], local[..., None], self.edges(x).permute(0, 2, 3, 1)], dim=-1)
        scale, shift = torch.tanh(self.film(z)).chunk(2, dim=1)
        h = F.leaky_relu(self.mix_in(features), self.slope)
        h = F.leaky_relu(self.mix_mid(h) * (1 + scale[:, None, None]) + shift[:, None, None], self.slope)
        return self.gain * x + self.mix_out(h).permute(0, 3, 1, 2)


class DilatedHead(nn.Module):
    """Detector-space head: four 3x3 convolutions, dilated 1-2-4-1, modulated by z.

    A 17-pixel receptive field of ``head_channels`` channels: a little lower
    BCE than :class:`LocalContrastHead` for the same training steps, but
    about 18 MMAC per 60x60 pattern with 16 channels, which made CPU
    generation ten times slower than kikuchipy's projection.

    Parameters
    ----------
    config
        Uses ``latent_dim``, ``leaky_slope`` and the geometric decoder's
        ``head_channels``.

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.models import preset
    >>> from kikuchipy_gen.models.geometric import DilatedHead
    >>> head = DilatedHead(preset("geometric", head="dilated"))
    >>> head(torch.randn(2, 1, 60, 60), torch.zeros(2, 16)).shape
    torch.Size([2, 1, 60, 60])
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c = config.decoder.head_channels
        self.head_in = nn.Conv2d(1, c, 3, padding=1)
        self.head_mid = nn.Conv2d(c, c, 3, padding=2, dilation=2)
        self.head_deep = nn.Conv2d(c, c, 3, padding=4, dilation=4)
        self.head_out = nn.Conv2d(c, 1, 3, padding=1)
        self.film = nn.Linear(config.latent_dim, 2 * c)
        self.gain = nn.Parameter(torch.ones(1))
        self.act = nn.LeakyReLU(config.leaky_slope)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Logits (b, 1, rows, cols) from standardised projections ``x`` of the same shape.

        Parameters
        ----------
        x
            (b, 1, rows, cols) projected intensities, standardised per pattern.
        z
            (b, latent_dim) latent vectors.

        Returns
        -------
        torch.Tensor

        Examples
        --------
        >>> import torch
        >>> from kikuchipy_gen.models import preset
        >>> from kikuchipy_gen.models.geometric import DilatedHead
        >>> head = DilatedHead(preset("geometric", head="dilated"))
        >>> head(torch.randn(2, 1, 60, 60), torch.zeros(2, 16)).shape
        torch.Size([2, 1, 60, 60])
        """
        # Bounded modulation: z refines the head, it cannot blow it up (an
        # unbounded FiLM let the KL run away when one batch was overfitted).
        scale, shift = torch.tanh(self.film(z)).chunk(2, dim=1)
        h = self.act(self.head_in(x))
        h = self.act(self.head_mid(h) * (1 + scale[..., None, None]) + shift[..., None, None])
        h = self.act(self.head_deep(h)) + h
        return self.gain * x + self.head_out(h)


def _box_mean(x: torch.Tensor, window: int) -> torch.Tensor:
    """Mean over a ``window`` x ``window`` box clipped at the borders, of (b, rows, cols).

    The same as ``F.avg_pool2d(x[:, None], window, 1, window // 2,
    count_include_pad=False)``, from running sums: two cumulative sums and
    two differences a pixel, whatever the window. The 15 x 15 pool costs
    225 additions a pixel and was the largest single operation of a CPU
    training step (11 % of it, forward and backward). float16 and bfloat16
    input is summed in float32.

    >>> import torch
    >>> import torch.nn.functional as F
    >>> from kikuchipy_gen.models.geometric import _box_mean
    >>> x = torch.randn(2, 9, 7, dtype=torch.float64)
    >>> pool = F.avg_pool2d(x[:, None], 5, stride=1, padding=2, count_include_pad=False)[:, 0]
    >>> bool(torch.allclose(_box_mean(x, 5), pool))
    True
    """
    half = window // 2
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    sums = _box_sum(_box_sum(work, half, -1), half, -2)
    rows, cols = x.shape[-2:]
    count = _clipped_counts(rows, half, work)[:, None] * _clipped_counts(cols, half, work)
    return (sums / count).to(x.dtype)


def _box_sum(x: torch.Tensor, half: int, dim: int) -> torch.Tensor:
    """Sums over ``2 * half + 1`` neighbours along ``dim`` (-1 or -2), the zeros beyond the border left out."""
    n = x.shape[dim]
    # half + 1 zeros before, so that a window's sum is the difference of two
    # running sums with no clipping; the zeros add nothing beyond the border.
    padded = F.pad(x, (half + 1, half) if dim == -1 else (0, 0, half + 1, half))
    running = padded.cumsum(dim)
    return running.narrow(dim, 2 * half + 1, n) - running.narrow(dim, 0, n)


def _clipped_counts(n: int, half: int, like: torch.Tensor) -> torch.Tensor:
    """How many of ``n`` pixels each one's ``2 * half + 1`` window covers."""
    i = torch.arange(n, device=like.device)
    return ((i + half).clamp(max=n - 1) - (i - half).clamp(min=0) + 1).to(like.dtype)
