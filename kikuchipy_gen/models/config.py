"""Model and training configuration: dataclasses stored as JSON, never pickles."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["ModelConfig", "TrainConfig", "load_config", "preset", "save_config"]


@dataclass
class ModelConfig:
    """Architecture of the EBSD-CVAE/GAN (Fig. 1 of the paper).

    Parameters
    ----------
    pattern_shape
        Pattern (rows, columns); both divisible by 4 (two stride-2 stages).
    n_attributes
        Length of the attribute vector: 4 (quaternion) or 5 (with voltage),
        or more. Only the first/last dense layers depend on it.
    use_voltage
        Whether the last attribute is the voltage (adds a voltage head to
        the classifier).
    latent_dim
        Size of z (paper: 500).
    stem_channels
        Channels of the two plain 3x3 convolutions that open the encoder.
    blocks
        (channels, stride) of the residual blocks; the decoder mirrors them.
    encoder_dense, decoder_dense, critic_dense
        Hidden dense layer widths.
    decoder_channels
        Channels of the decoder's first feature map (paper: 256).
    decoder
        ``"conv"`` (the paper's transposed-conv decoder) or ``"geometric"``
        (a learned master pattern behind exact projection, see
        :mod:`kikuchipy_gen.models.geometric`).
    texture_size, voltage_knots, energy_range
        Geometric decoder: Lambert pixels a side of the learned master
        pattern and number of voltages it is learned at (evenly spaced over
        ``energy_range`` in kV).
    head, head_channels, head_window
        Geometric decoder's detector-space head: ``"local-contrast"``
        (default; local standardisation over ``head_window`` pixels and
        3x3 edge features, then a per-pixel MLP of ``head_channels``
        units; a fused numba kernel runs it on CPU) or ``"dilated"`` (four
        dilated 3x3 convolutions of ``head_channels`` channels; a little
        better BCE per training step, about 10x slower on CPU).
    symmetry
        Geometric decoder: which symmetry the learned master pattern has by
        construction (directions are reduced into its fundamental sector):
        ``"laue"`` (the phase's Laue group, default), ``"point_group"`` or
        ``"none"`` (learned from data).
    critic_blocks
        (channels, stride) of the critic/classifier trunk.
    leaky_slope
        Negative slope of the leaky ReLUs.
    """

    pattern_shape: tuple[int, int] = (60, 60)
    n_attributes: int = 4
    use_voltage: bool = False
    latent_dim: int = 500
    stem_channels: int = 256
    blocks: list[tuple[int, int]] = field(default_factory=lambda: [(256, 1), (512, 1), (728, 2), (512, 2)])
    encoder_dense: list[int] = field(default_factory=lambda: [2048, 2048, 1024])
    decoder_dense: list[int] = field(default_factory=lambda: [1024, 2048, 4096])
    decoder_channels: int = 256
    critic_blocks: list[tuple[int, int]] = field(default_factory=lambda: [(256, 1), (512, 2), (728, 2)])
    critic_dense: list[int] = field(default_factory=lambda: [2048, 1024])
    leaky_slope: float = 0.2
    decoder: str = "conv"
    texture_size: int = 201
    voltage_knots: int = 1
    energy_range: tuple[float, float] = (10.0, 30.0)
    head: str = "local-contrast"
    head_channels: int = 16
    head_window: int = 15
    symmetry: str = "laue"

    def __post_init__(self) -> None:
        self.pattern_shape = tuple(int(s) for s in self.pattern_shape)
        self.energy_range = tuple(float(e) for e in self.energy_range)
        if self.decoder not in ("conv", "geometric"):
            raise ValueError(f"decoder must be 'conv' or 'geometric', got {self.decoder!r}")
        if self.head not in ("local-contrast", "dilated"):
            raise ValueError(f"head must be 'local-contrast' or 'dilated', got {self.head!r}")
        if self.head_window < 3 or self.head_window % 2 == 0:
            raise ValueError(f"head_window must be odd and >= 3, got {self.head_window}")
        if self.symmetry not in ("laue", "point_group", "none"):
            raise ValueError(f"symmetry must be 'laue', 'point_group' or 'none', got {self.symmetry!r}")
        if self.texture_size < 5 or self.texture_size % 2 == 0:
            raise ValueError("texture_size must be odd and >= 5 (Lambert pixels a side)")
        if self.voltage_knots < 1 or (self.voltage_knots > 1 and not self.use_voltage):
            raise ValueError("voltage_knots > 1 needs use_voltage=True")
        self.blocks = [tuple(int(v) for v in b) for b in self.blocks]
        self.critic_blocks = [tuple(int(v) for v in b) for b in self.critic_blocks]
        if len(self.pattern_shape) != 2 or any(s % 4 or s < 8 for s in self.pattern_shape):
            raise ValueError(f"pattern_shape must be two sizes divisible by 4, got {self.pattern_shape}")
        if sum(s == 2 for _, s in self.blocks) != 2 or any(s not in (1, 2) for _, s in self.blocks):
            raise ValueError("blocks must hold exactly two stride-2 blocks (and stride-1 ones)")
        if self.n_attributes < 4:
            raise ValueError("n_attributes must be >= 4 (the orientation quaternion)")
        if self.use_voltage and self.n_attributes < 5:
            raise ValueError("use_voltage needs n_attributes >= 5 (quaternion + voltage)")
        if self.latent_dim < 1:
            raise ValueError("latent_dim must be >= 1")


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
    kl_schedule: dict[str, float] = field(
        default_factory=lambda: {"upper": 15.0, "lower": 5.0, "high": 1.5, "mid": 0.1, "low": 0.01}
    )
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
            self.model = ModelConfig(**self.model)
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
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a dictionary, rejecting unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"Unknown training option(s): {sorted(unknown)}")
        d = dict(d)
        if "model" in d and isinstance(d["model"], dict):
            model_known = {f.name for f in fields(ModelConfig)}
            bad = set(d["model"]) - model_known
            if bad:
                raise ValueError(f"Unknown model option(s): {sorted(bad)}")
            d["model"] = ModelConfig(**d["model"])
        return cls(**d)


_COMPACT = {
    "latent_dim": 64,
    "stem_channels": 16,
    "blocks": [(16, 1), (32, 1), (48, 2), (32, 2)],
    "encoder_dense": [512, 256],
    "decoder_dense": [256, 512],
    "decoder_channels": 32,
    "critic_blocks": [(16, 1), (32, 2), (48, 2)],
    "critic_dense": [256],
}


_GEOMETRIC = {**_COMPACT, "decoder": "geometric", "latent_dim": 16, "texture_size": 201,
              "head_channels": 8}


def preset(name: str, **overrides: Any) -> ModelConfig:
    """A named architecture: ``"paper"`` (GPU-sized), ``"compact"`` or ``"geometric"`` (CPU).

    Parameters
    ----------
    name
        ``"paper"``: the widths of DESIGN.md (latent 500, 256-728 channels,
        dense layers up to 4096). ``"compact"``: same structure, widths that
        train on a laptop.
    **overrides
        Any :class:`ModelConfig` field, e.g. ``use_voltage=True, n_attributes=5``.

    Returns
    -------
    ModelConfig

    Examples
    --------
    >>> from kikuchipy_gen.models.config import preset
    >>> preset("compact", use_voltage=True, n_attributes=5).latent_dim
    64
    """
    if name == "paper":
        return ModelConfig(**overrides)
    if name == "compact":
        return ModelConfig(**{**_COMPACT, **overrides})
    if name == "geometric":
        return ModelConfig(**{**_GEOMETRIC, **overrides})
    raise ValueError(f"Unknown preset {name!r}; use 'paper', 'compact' or 'geometric'")


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
        import tomllib

        d = tomllib.loads(text)
    else:
        d = json.loads(text)
    model = d.get("model", {})
    if isinstance(model, dict) and "preset" in model:
        model = dict(model)
        d["model"] = preset(model.pop("preset"), **model)
    return TrainConfig.from_dict(d)
