"""Model and training configuration: dataclasses stored as JSON, never pickles."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from kikuchipy_gen.losses import AdaptiveKL

__all__ = [
    "ConvDecoderConfig",
    "GeometricDecoderConfig",
    "ModelConfig",
    "TrainConfig",
    "load_config",
    "preset",
    "save_config",
]


@dataclass
class ConvDecoderConfig:
    """The paper's transposed-conv decoder (Fig. 1): dense branches, then up-sampling blocks.

    Its residual blocks mirror :attr:`ModelConfig.blocks`.

    Parameters
    ----------
    dense
        Hidden widths of the z and attribute branches (paper: 1024-2048-4096).
    channels
        Channels of the first feature map, at a quarter of the pattern size
        (paper: 256).

    Examples
    --------
    >>> from kikuchipy_gen.models.config import ConvDecoderConfig
    >>> ConvDecoderConfig(dense=[64], channels=8).kind
    'conv'
    """

    kind: ClassVar[str] = "conv"
    dense: list[int] = field(default_factory=lambda: [1024, 2048, 4096])
    channels: int = 256

    def __post_init__(self) -> None:
        self.dense = [int(d) for d in self.dense]
        if not self.dense or min(self.dense) < 1 or self.channels < 1:
            raise ValueError("decoder dense widths and channels must be >= 1")


@dataclass
class GeometricDecoderConfig:
    """The geometry-aware decoder: a learned master pattern behind exact projection.

    See :mod:`kikuchipy_gen.models.geometric`.

    Parameters
    ----------
    texture_size
        Lambert pixels a side of the learned master pattern (odd).
    voltage_knots
        Number of voltages the master pattern is learned at, evenly spaced
        over ``energy_range``; more than one needs a voltage-conditioned
        model (:attr:`ModelConfig.use_voltage`).
    energy_range
        (lowest, highest) knot voltage in kV.
    head, head_channels, head_window
        The detector-space head: ``"local-contrast"`` (default; local
        standardisation over ``head_window`` pixels and 3x3 edge features,
        then a per-pixel MLP of ``head_channels`` units; a fused numba
        kernel runs it on CPU) or ``"dilated"`` (four dilated 3x3
        convolutions of ``head_channels`` channels; a little better BCE per
        training step, about 10x slower on CPU).
    symmetry
        Which symmetry the learned master pattern has by construction
        (directions are reduced into its fundamental sector): ``"laue"``
        (the phase's Laue group, default), ``"point_group"`` or ``"none"``
        (learned from data).

    Examples
    --------
    >>> from kikuchipy_gen.models.config import GeometricDecoderConfig
    >>> GeometricDecoderConfig(texture_size=41).kind
    'geometric'
    """

    kind: ClassVar[str] = "geometric"
    texture_size: int = 201
    voltage_knots: int = 1
    energy_range: tuple[float, float] = (10.0, 30.0)
    head: str = "local-contrast"
    head_channels: int = 16
    head_window: int = 15
    symmetry: str = "laue"

    def __post_init__(self) -> None:
        self.energy_range = tuple(float(e) for e in self.energy_range)
        if self.head not in ("local-contrast", "dilated"):
            raise ValueError(f"head must be 'local-contrast' or 'dilated', got {self.head!r}")
        if self.head_window < 3 or self.head_window % 2 == 0:
            raise ValueError(f"head_window must be odd and >= 3, got {self.head_window}")
        if self.symmetry not in ("laue", "point_group", "none"):
            raise ValueError(f"symmetry must be 'laue', 'point_group' or 'none', got {self.symmetry!r}")
        if self.texture_size < 5 or self.texture_size % 2 == 0:
            raise ValueError("texture_size must be odd and >= 5 (Lambert pixels a side)")
        if self.voltage_knots < 1:
            raise ValueError("voltage_knots must be >= 1")
        if len(self.energy_range) != 2 or not self.energy_range[0] <= self.energy_range[1]:
            raise ValueError(f"energy_range must be (low, high) in kV, got {self.energy_range}")


_DECODER_CONFIGS = {c.kind: c for c in (ConvDecoderConfig, GeometricDecoderConfig)}


@dataclass
class ModelConfig:
    """Architecture of the EBSD-CVAE/GAN (Fig. 1 of the paper).

    The encoder and the critic/classifier are the paper's; the decoder is
    one of two kinds, each with its own configuration in :attr:`decoder`.

    Parameters
    ----------
    pattern_shape
        Pattern (rows, columns); both divisible by 4 (two stride-2 stages).
    use_voltage
        Whether the last attribute is the voltage (adds a voltage head to
        the classifier).
    n_attributes
        Length of the attribute vector. Derived when not given: 4 (the
        quaternion), 5 with the voltage. Only the first/last dense layers
        depend on it.
    latent_dim
        Size of z (paper: 500).
    stem_channels
        Channels of the two plain 3x3 convolutions that open the encoder.
    blocks
        (channels, stride) of the encoder's residual blocks; the conv
        decoder mirrors them.
    encoder_dense, critic_dense
        Hidden dense layer widths.
    critic_blocks
        (channels, stride) of the critic/classifier trunk.
    leaky_slope
        Negative slope of the leaky ReLUs.
    decoder
        :class:`ConvDecoderConfig` (the paper's transposed-conv decoder,
        default) or :class:`GeometricDecoderConfig`; the kind's name
        (``"conv"``, ``"geometric"``) gives its defaults.

    Examples
    --------
    >>> from kikuchipy_gen.models.config import ModelConfig
    >>> cfg = ModelConfig(use_voltage=True, decoder="geometric")
    >>> cfg.n_attributes, cfg.decoder.kind
    (5, 'geometric')
    """

    pattern_shape: tuple[int, int] = (60, 60)
    use_voltage: bool = False
    n_attributes: int | None = None
    latent_dim: int = 500
    stem_channels: int = 256
    blocks: list[tuple[int, int]] = field(default_factory=lambda: [(256, 1), (512, 1), (728, 2), (512, 2)])
    encoder_dense: list[int] = field(default_factory=lambda: [2048, 2048, 1024])
    critic_blocks: list[tuple[int, int]] = field(default_factory=lambda: [(256, 1), (512, 2), (728, 2)])
    critic_dense: list[int] = field(default_factory=lambda: [2048, 1024])
    leaky_slope: float = 0.2
    decoder: ConvDecoderConfig | GeometricDecoderConfig = field(default_factory=ConvDecoderConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.use_voltage, bool):
            raise TypeError(f"use_voltage must be true or false, got {self.use_voltage!r}")
        self.pattern_shape = tuple(int(s) for s in self.pattern_shape)
        self.decoder = _decoder_config(self.decoder)
        self.blocks = [tuple(int(v) for v in b) for b in self.blocks]
        self.critic_blocks = [tuple(int(v) for v in b) for b in self.critic_blocks]
        if len(self.pattern_shape) != 2 or any(s % 4 or s < 8 for s in self.pattern_shape):
            raise ValueError(f"pattern_shape must be two sizes divisible by 4, got {self.pattern_shape}")
        if sum(s == 2 for _, s in self.blocks) != 2 or any(s not in (1, 2) for _, s in self.blocks):
            raise ValueError("blocks must hold exactly two stride-2 blocks (and stride-1 ones)")
        if self.n_attributes is None:
            self.n_attributes = 5 if self.use_voltage else 4
        if self.n_attributes < 4:
            raise ValueError("n_attributes must be >= 4 (the orientation quaternion)")
        if self.use_voltage and self.n_attributes < 5:
            raise ValueError("use_voltage needs n_attributes >= 5 (quaternion + voltage)")
        if self.latent_dim < 1:
            raise ValueError("latent_dim must be >= 1")
        if isinstance(self.decoder, GeometricDecoderConfig) and self.decoder.voltage_knots > 1 and not self.use_voltage:
            raise ValueError("voltage_knots > 1 needs use_voltage=True")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary; the decoder's section carries its ``kind``.

        Examples
        --------
        >>> from kikuchipy_gen.models.config import ModelConfig
        >>> ModelConfig().to_dict()["decoder"]["kind"]
        'conv'
        """
        d = asdict(self)
        d["decoder"] = {"kind": self.decoder.kind, **d["decoder"]}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], strict: bool = True) -> ModelConfig:
        """Build from :meth:`to_dict`'s dictionary, or from a flat one.

        Model files of the first format (the shipped model's among them) and
        configs written by hand keep the decoder's fields at the top level
        beside ``decoder = "conv"`` or ``"geometric"``; they are moved into
        the decoder's section.

        Parameters
        ----------
        d
            The dictionary.
        strict
            Whether a flat field of the other decoder kind is an error.
            Format-1 model files wrote every field whatever the kind, so
            they are read with ``strict=False`` (such fields are dropped).

        Returns
        -------
        ModelConfig

        Examples
        --------
        >>> from kikuchipy_gen.models.config import ModelConfig
        >>> cfg = ModelConfig.from_dict({"decoder": "geometric", "texture_size": 41})
        >>> cfg.decoder.texture_size, ModelConfig.from_dict(cfg.to_dict()) == cfg
        (41, True)
        """
        return cls(**_split_decoder_fields(d, strict=strict))


def _decoder_config(value: Any) -> ConvDecoderConfig | GeometricDecoderConfig:
    if isinstance(value, tuple(_DECODER_CONFIGS.values())):
        return value
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, dict):
        raise TypeError(f"decoder must be 'conv', 'geometric' or a decoder config, got {type(value).__name__}")
    value = dict(value)
    kind = value.pop("kind", "conv")
    if kind not in _DECODER_CONFIGS:
        raise ValueError(f"decoder must be 'conv' or 'geometric', got {kind!r}")
    cls = _DECODER_CONFIGS[kind]
    unknown = set(value) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"Unknown {kind} decoder option(s): {sorted(unknown)}")
    return cls(**value)


# Format-1 (flat) names of the decoders' fields.
_FLAT_NAMES = {
    "conv": {"decoder_dense": "dense", "decoder_channels": "channels"},
    "geometric": {f.name: f.name for f in fields(GeometricDecoderConfig)},
}


def _split_decoder_fields(d: dict[str, Any], strict: bool) -> dict[str, Any]:
    """Move flat decoder fields into the ``decoder`` section; reject unknown names."""
    d = dict(d)
    decoder = d.get("decoder", "conv")
    if isinstance(decoder, str):
        section: dict[str, Any] = {"kind": decoder}
    elif isinstance(decoder, dict):
        section = dict(decoder)
    else:
        return d  # already a decoder config object
    kind = section.get("kind", "conv")
    for other, names in _FLAT_NAMES.items():
        for flat, name in names.items():
            if flat not in d:
                continue
            value = d.pop(flat)
            if other == kind:
                section.setdefault(name, value)
            elif strict:
                raise ValueError(f"{flat!r} is an option of the {other} decoder; this model has a {kind} decoder")
    d["decoder"] = section
    known = {f.name for f in fields(ModelConfig)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"Unknown model option(s): {sorted(unknown)}")
    return d


@dataclass
class TrainConfig:
    """Hyperparameters of the three training stages.

    Defaults follow the paper's reference code (DESIGN.md section 2) where
    it states them; step counts are small so a default run finishes on a CPU.
    """

    dataset: str = ""
    out: str = "run"
    model: ModelConfig = field(default_factory=ModelConfig)
    seed: int = 0
    device: str = "auto"
    mixed_precision: bool = False
    # Stage 1: CVAE
    cvae_epochs: int = 30
    cvae_batch_size: int = 16
    cvae_lr: float = 8e-6
    adam_beta1: float = 0.5
    bce_reduction: str = "sum"
    kl_weight: float = 0.8
    kl_schedule: dict[str, float] = field(default_factory=lambda: asdict(AdaptiveKL()))
    # Stage 2: critic + classifier pre-training
    critic_epochs: int = 5
    critic_batch_size: int = 16
    critic_lr: float = 1e-4
    # Stage 3: joint CVAE/GAN
    gan_epochs: int = 10
    gan_batch_size: int = 8
    gan_lr: float = 4e-6
    critic_every: int = 11
    update_encoder: bool = True
    lipschitz: str = "clip"
    clip_value: float = 0.01
    maxnorm: float = 5.0
    orientation_loss: str = "disorientation"
    # Loss coefficients of eqs. (13)-(14)
    alpha_rec: float = 1.0
    alpha_orientation: float = 0.1
    alpha_voltage: float = 0.1
    alpha_adversarial: float = 0.05
    alpha_critic: float = 1.0
    # Bookkeeping
    checkpoint_every: int = 500
    log_every: int = 10
    max_steps_per_epoch: int | None = None
    # Validation patterns, an equal share per voltage, the same ones each time.
    max_val_patterns: int = 512
    num_workers: int = 0
    sample_grid: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = ModelConfig.from_dict(self.model)
        if self.lipschitz not in ("clip", "maxnorm", "none"):
            raise ValueError(f"lipschitz must be 'clip', 'maxnorm' or 'none', got {self.lipschitz!r}")
        if self.orientation_loss not in ("disorientation", "dot"):
            raise ValueError("orientation_loss must be 'disorientation' or 'dot'")
        if self.bce_reduction not in ("sum", "mean"):
            raise ValueError("bce_reduction must be 'sum' or 'mean'")
        if self.log_every < 1 or self.checkpoint_every < 1:
            raise ValueError("log_every and checkpoint_every must be >= 1")
        if self.critic_every < 2:
            raise ValueError("critic_every must be >= 2 (one critic step in critic_every)")
        for name in ("cvae_batch_size", "critic_batch_size", "gan_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {**asdict(self), "model": self.model.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a dictionary, rejecting unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"Unknown training option(s): {sorted(unknown)}")
        d = dict(d)
        if isinstance(d.get("model"), dict):
            d["model"] = ModelConfig.from_dict(d["model"])
        return cls(**d)


_COMPACT = {
    "latent_dim": 64,
    "stem_channels": 16,
    "blocks": [(16, 1), (32, 1), (48, 2), (32, 2)],
    "encoder_dense": [512, 256],
    "critic_blocks": [(16, 1), (32, 2), (48, 2)],
    "critic_dense": [256],
}
_PRESETS = {
    "paper": {},
    "compact": {**_COMPACT, "decoder": {"kind": "conv", "dense": [256, 512], "channels": 32}},
    "geometric": {**_COMPACT, "latent_dim": 16, "decoder": {"kind": "geometric", "head_channels": 8}},
}


def preset(name: str, **overrides: Any) -> ModelConfig:
    """A named architecture: ``"paper"`` (GPU-sized), ``"compact"`` or ``"geometric"`` (CPU).

    Parameters
    ----------
    name
        ``"paper"``: the widths of DESIGN.md (latent 500, 256-728 channels,
        dense layers up to 4096). ``"compact"``: same structure, widths that
        train on a laptop.
    **overrides
        Any :class:`ModelConfig` field, e.g. ``use_voltage=True``, or a field
        of the preset's decoder by name (``texture_size=41``).

    Returns
    -------
    ModelConfig

    Examples
    --------
    >>> from kikuchipy_gen.models.config import preset
    >>> preset("compact", use_voltage=True).latent_dim
    64
    >>> preset("geometric", texture_size=41).decoder.texture_size
    41
    """
    if name not in _PRESETS:
        raise ValueError(f"Unknown preset {name!r}; use 'paper', 'compact' or 'geometric'")
    base = copy.deepcopy(_PRESETS[name])
    decoder = base.pop("decoder", {"kind": "conv"})
    overrides = dict(overrides)
    if isinstance(overrides.get("decoder"), dict):
        decoder = {**decoder, **overrides.pop("decoder")}
    return ModelConfig.from_dict({**base, "decoder": decoder, **overrides})


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write a training configuration as JSON."""
    Path(path).write_text(json.dumps(config.to_dict(), indent=2))


def load_config(path: str | Path) -> TrainConfig:
    """Read a training configuration from JSON or TOML.

    A ``preset`` key (``"paper"`` or ``"compact"``) under ``model`` fills in
    the architecture, and other ``model`` keys override it.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Config file {str(path)!r} does not exist")
    text = path.read_text()
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10: the same parser, as the tomli package
            import tomli as tomllib

        d = tomllib.loads(text)
    else:
        d = json.loads(text)
    model = d.get("model", {})
    if isinstance(model, dict) and "preset" in model:
        model = dict(model)
        d["model"] = preset(model.pop("preset"), **model)
    return TrainConfig.from_dict(d)
