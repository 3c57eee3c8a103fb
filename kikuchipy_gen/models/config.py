"""Model and training configuration: dataclasses stored as JSON, never pickles."""

from __future__ import annotations

import copy
import functools
import json
import math
import numbers
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
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


# Model and config files are untrusted input: every field is checked against its
# annotation (_check_fields), then against a range. The upper bounds are sanity
# bounds, checked before anything is allocated, so that a file cannot ask for an
# absurd amount of memory; each is several times what a real model uses (the
# paper preset: 60x60 patterns, latent 500, widths up to 4096 and 728 channels).
_MAX_PATTERN_SIZE = 1024  # pixels a side: 17x the paper's 60, a whole unbinned camera
_MAX_WIDTH = 8192  # channels and dense widths: twice the paper's widest layer
_MAX_LATENT_DIM = 4096  # eight times the paper's 500
_MAX_ATTRIBUTES = 64  # a quaternion, a voltage and room for more conditions
_MAX_LAYERS = 16  # residual blocks and dense layers per list (the paper has <= 4)
_MAX_TEXTURE_SIZE = 2001  # Lambert pixels a side: 10x the default 201; 4001 wanted 12 GB
_MAX_VOLTAGE_KNOTS = 64  # over 10-30 kV one per 0.3 kV, finer than any dataset's voltages; the shipped has 5
_MAX_HEAD_CHANNELS = 1024  # the shipped model has 8, the default 16
_MAX_HEAD_WINDOW = 255  # pixels: 17x the default 15; wider is no longer a local contrast
# Sizes multiply: the dense layers next to the flattened feature map have
# (channels x pattern area / 16) x width weights. Their total is bounded by 2**33
# (32 GiB of float32; with gradients and Adam's two moments 128 GiB, the memory of
# the largest single GPU, and DistributedDataParallel keeps a whole copy on each).
# The paper preset with a voltage head has 1.2e9.
_MAX_WEIGHTS = 2**33
_MAX_BATCH_SIZE = 65536  # a typo guard: the paper trains with 8-16
_MAX_WORKERS = 256  # DataLoader worker processes
# Adam moves every weight by about lr per step whatever the gradient's scale, so
# an lr above 1 wrecks weights initialised at ~1/sqrt(fan_in) in one step; the
# paper uses 4e-6-1e-4 and the CPU configs up to 3e-3. Above 1 is a typo.
_MAX_LR = 1.0
_MAX_DOT_SCALE = 1e6  # the reference code's factor is 1e4
_MAX_SEED = 2**64 - 1  # the largest seed torch accepts (numpy takes any seed >= 0)


def _show(value: Any) -> str:
    """``repr`` of a value for an error message, shortened."""
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4300 digits
        text = f"an integer of {value.bit_length()} bits"
    return text if len(text) <= 60 else text[:57] + "..."


_SINGULAR = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}
_PLURAL = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}


def _describe(hint: Any) -> str:
    """What a value of type ``hint`` is, in words: ``list[int]`` -> 'a list of integers'."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _SINGULAR:
        return _SINGULAR[hint]
    if origin is tuple:
        return f"a list of {len(args)} {_PLURAL[args[0]]}"
    if origin is list and typing.get_origin(args[0]) is tuple:
        return f"a list of ({', '.join(_PLURAL[a][:-1] for a in typing.get_args(args[0]))}) pairs"
    if origin is list:
        return f"a list of {_PLURAL[args[0]]}"
    if origin is dict:
        return f"a table of {_PLURAL[args[1]]}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join("None" if a is type(None) else _describe(a) for a in args)
    return f"a {hint.__name__}"


def _check_value(name: str, value: Any, hint: Any) -> Any:
    """``value`` checked against the annotation ``hint`` and normalised (lists, floats).

    Raises TypeError naming ``name`` for a wrong type and ValueError for a
    non-finite number.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)

    def wrong() -> TypeError:
        return TypeError(f"{name} must be {_describe(hint)}, got {_show(value)}")

    if hint is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise wrong()
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise wrong()
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {_show(value)}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise wrong()
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if all(is_dataclass(a) for a in options):
            if not isinstance(value, tuple(options)):
                raise wrong()
            return value
        (option,) = options
        if value is None:
            raise wrong()
        return _check_value(name, value, option)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise wrong()
        return tuple(_check_value(f"{name}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args)))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise wrong()
        return [_check_value(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise wrong()
        return {k: _check_value(f"{name}[{k!r}]", v, args[1]) for k, v in value.items()}
    if is_dataclass(hint):
        if not isinstance(value, hint):
            raise wrong()
        return value
    raise NotImplementedError(f"no check for annotation {hint!r} of {name}")


@functools.cache
def _annotations(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _check_fields(config: Any) -> None:
    """Check every field of a config dataclass against its annotation, normalising it in place."""
    hints = _annotations(type(config))
    for f in fields(config):
        setattr(config, f.name, _check_value(f.name, getattr(config, f.name), hints[f.name]))


def _check_range(name: str, value: Any, low: Any = None, high: Any = None, above: Any = None) -> None:
    """``low <= value <= high`` and ``value > above``, where given."""
    if above is not None and not value > above:
        raise ValueError(f"{name} must be > {above}, got {_show(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"<= {high}" if low is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bound}, got {_show(value)}")


def _check_layers(name: str, layers: list, min_layers: int = 1) -> None:
    """A list of widths or of (width, stride) blocks: its length and each width."""
    if not min_layers <= len(layers) <= _MAX_LAYERS:
        raise ValueError(f"{name} must hold between {min_layers} and {_MAX_LAYERS} layers, got {len(layers)}")
    for i, layer in enumerate(layers):
        width = layer[0] if isinstance(layer, tuple) else layer
        _check_range(f"{name}[{i}]", width, 1, _MAX_WIDTH)
        if isinstance(layer, tuple) and layer[1] not in (1, 2):
            raise ValueError(f"{name}[{i}] has stride {layer[1]}; strides are 1 or 2")


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
        _check_fields(self)
        _check_layers("decoder dense", self.dense)
        _check_range("decoder channels", self.channels, 1, _MAX_WIDTH)


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
        over ``energy_range`` unless ``knot_energies`` places them; more
        than one needs a voltage-conditioned model
        (:attr:`ModelConfig.use_voltage`).
    energy_range
        (lowest, highest) knot voltage in kV.
    knot_energies
        The knot voltages in kV, increasing, from ``energy_range``'s low to
        its high end, ``voltage_knots`` of them; None spaces them evenly.
        Between two knots the model blends their master patterns, and a
        blend of two band widths is wider than either: knots closer where
        the band width changes fastest (low kV) keep the blend faithful
        there.
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
    >>> GeometricDecoderConfig(voltage_knots=4, knot_energies=[10, 12, 20, 30]).knot_voltages()
    [10.0, 12.0, 20.0, 30.0]
    """

    kind: ClassVar[str] = "geometric"
    texture_size: int = 201
    voltage_knots: int = 1
    energy_range: tuple[float, float] = (10.0, 30.0)
    knot_energies: list[float] | None = None
    head: str = "local-contrast"
    head_channels: int = 16
    head_window: int = 15
    symmetry: str = "laue"

    def __post_init__(self) -> None:
        _check_fields(self)
        if self.head not in ("local-contrast", "dilated"):
            raise ValueError(f"head must be 'local-contrast' or 'dilated', got {_show(self.head)}")
        if self.symmetry not in ("laue", "point_group", "none"):
            raise ValueError(f"symmetry must be 'laue', 'point_group' or 'none', got {_show(self.symmetry)}")
        if not 3 <= self.head_window <= _MAX_HEAD_WINDOW or self.head_window % 2 == 0:
            raise ValueError(
                f"head_window must be odd and between 3 and {_MAX_HEAD_WINDOW}, got {_show(self.head_window)}"
            )
        if not 5 <= self.texture_size <= _MAX_TEXTURE_SIZE or self.texture_size % 2 == 0:
            raise ValueError(
                f"texture_size must be odd and between 5 and {_MAX_TEXTURE_SIZE} (Lambert pixels a side), "
                f"got {_show(self.texture_size)}"
            )
        _check_range("head_channels", self.head_channels, 1, _MAX_HEAD_CHANNELS)
        _check_range("voltage_knots", self.voltage_knots, 1, _MAX_VOLTAGE_KNOTS)
        low, high = self.energy_range
        if not 0 < low <= high or (self.voltage_knots > 1 and low == high):
            raise ValueError(
                f"energy_range must be (low, high) in kV with 0 < low <= high, and low < high for more than "
                f"one voltage knot; got {self.energy_range}"
            )
        if self.knot_energies is not None:
            knots = self.knot_energies
            if len(knots) != self.voltage_knots:
                raise ValueError(
                    f"knot_energies must hold voltage_knots = {self.voltage_knots} voltages, got {len(knots)}"
                )
            if any(b <= a for a, b in zip(knots[:-1], knots[1:])) or (knots[0], knots[-1]) != (low, high):
                raise ValueError(
                    f"knot_energies must increase from energy_range's {low:g} to its {high:g} kV, got {_show(knots)}"
                )

    def knot_voltages(self) -> list[float]:
        """The knot voltages in kV: ``knot_energies``, or evenly spaced over ``energy_range``."""
        if self.knot_energies is not None:
            return list(self.knot_energies)
        low, high = self.energy_range
        if self.voltage_knots == 1:
            return [low]
        step = (high - low) / (self.voltage_knots - 1)
        return [low + i * step for i in range(self.voltage_knots - 1)] + [high]


_DECODER_CONFIGS = {c.kind: c for c in (ConvDecoderConfig, GeometricDecoderConfig)}


@dataclass
class ModelConfig:
    """Architecture of the EBSD-CVAE/GAN (Fig. 1 of the paper).

    The defaults are the ``paper`` preset: the layer sizes of the paper's
    reference code (``docs/faithfulness.rst`` lists where the blocks
    differ). The decoder is one of two kinds, each with its own
    configuration in :attr:`decoder`.

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
    encoder_dense
        Hidden dense layer widths of the encoder.
    encoder_head_norm
        Layer-normalise (no affine) what enters the encoder's
        mean/log-variance head. Each latent mean is then at most
        ``sqrt(width)`` times the norm of its row of head weights plus its
        bias, which Adam's bounded steps grow only linearly, whatever the
        layers before the head do. Without it, Adam's sign-sized steps are
        multiplied by every dense layer's fan-in: ten steps that push the
        same way take the mean of the geometric preset from about 1 to
        10^4 (test_networks.py), the jump GPU trainings showed (KL 4 ->
        10^9). Off by default; on in the ``"geometric"`` preset. With it
        the geometric decoder learns to use z, and the patterns it generates
        at z = 0 (the product) were 0.003 BCE further from the physics,
        unless training decodes part of each batch at z = 0
        (:class:`TrainConfig`'s ``latent_dropout``, 0.5 in
        :func:`~kikuchipy_gen.pipeline.build_model`'s recipe; the preset then
        generated 0.0004-0.0006 nearer than its former encoder, without
        stride or norm: benchmarks/RESULTS.md).
    critic_blocks
        (channels, stride) of the critic/classifier's convolutional trunk
        (paper: 256, 512, 728 at 60x60, then 256 at stride 2, so that the
        reference's flatten->2048 layer sees 256 x 30 x 30 = 230,400
        features).
    critic_layout
        ``"shared"`` (the paper and its reference code): one dense trunk of
        widths ``critic_dense`` on the flattened features, then a small
        critic head (``critic_head_dense`` -> 1 score) and a small
        classifier head (``classifier_dense`` -> the quaternion, plus the
        voltage as one more output of its last layer). ``"separate"``:
        three full dense stacks of ``critic_dense`` on the flattened
        features (critic, quaternion, voltage), the layout of models
        trained before the shared one existed; the CPU presets keep it.
    classifier_trunk
        ``"shared"`` (the reference code): the classifier reads the critic's
        convolutional trunk. ``"own"``: the classifier has a trunk of the
        same shape to itself, and the Lipschitz constraint (weight clipping
        or MaxNorm) binds only the critic. On a shared trunk the 0.01
        clipping and the unbounded Wasserstein term leave the classifier
        unable to learn orientations (measured on a tiny model: no better
        than answering the mean orientation; with its own trunk it is).
    critic_dense
        Widths of the dense trunk (``"shared"``, paper: 2048) or of each
        head's stack (``"separate"``).
    critic_head_dense, classifier_dense
        Hidden widths of the critic and classifier heads after the shared
        trunk (reference code: 1024-256 and 2048-1024-256); unused by
        ``"separate"``.
    leaky_slope
        Negative slope of the leaky ReLUs.
    decoder
        :class:`ConvDecoderConfig` (the paper's transposed-conv decoder,
        default) or :class:`GeometricDecoderConfig`; the kind's name
        (``"conv"``, ``"geometric"``) gives its defaults.

    Notes
    -----
    Model files are untrusted input, so every field is checked against its
    type (``true``/``false`` for booleans, integers where sizes go) and
    against a range when the config is built, before any layer is
    allocated: pattern sides <= 1024, widths and channels <= 8192,
    ``latent_dim`` <= 4096, at most 16 blocks or dense layers per list, and
    about 8.6e9 weights in the layers that grow with the pattern (the paper
    preset has 1.2e9). Errors name the field, the value and what it should be.

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
    encoder_head_norm: bool = False
    critic_blocks: list[tuple[int, int]] = field(default_factory=lambda: [(256, 1), (512, 1), (728, 1), (256, 2)])
    critic_layout: str = "shared"
    classifier_trunk: str = "shared"
    critic_dense: list[int] = field(default_factory=lambda: [2048])
    critic_head_dense: list[int] = field(default_factory=lambda: [1024, 256])
    classifier_dense: list[int] = field(default_factory=lambda: [2048, 1024, 256])
    leaky_slope: float = 0.2
    decoder: ConvDecoderConfig | GeometricDecoderConfig = field(default_factory=ConvDecoderConfig)

    def __post_init__(self) -> None:
        self.decoder = _decoder_config(self.decoder)
        _check_fields(self)
        if any(s % 4 or not 8 <= s <= _MAX_PATTERN_SIZE for s in self.pattern_shape):
            raise ValueError(
                f"pattern_shape must be two sizes divisible by 4, between 8 and {_MAX_PATTERN_SIZE}, "
                f"got {_show(self.pattern_shape)}"
            )
        _check_layers("blocks", self.blocks)
        if sum(s == 2 for _, s in self.blocks) != 2:
            raise ValueError("blocks must hold exactly two stride-2 blocks (and stride-1 ones)")
        _check_layers("critic_blocks", self.critic_blocks)
        _check_layers("encoder_dense", self.encoder_dense, min_layers=0)
        _check_layers("critic_dense", self.critic_dense)
        if self.critic_layout not in ("shared", "separate"):
            raise ValueError(f"critic_layout must be 'shared' or 'separate', got {_show(self.critic_layout)}")
        if self.classifier_trunk not in ("shared", "own"):
            raise ValueError(f"classifier_trunk must be 'shared' or 'own', got {_show(self.classifier_trunk)}")
        _check_layers("critic_head_dense", self.critic_head_dense, min_layers=0)
        _check_layers("classifier_dense", self.classifier_dense, min_layers=0)
        _check_range("stem_channels", self.stem_channels, 1, _MAX_WIDTH)
        if self.n_attributes is None:
            self.n_attributes = 5 if self.use_voltage else 4
        if self.n_attributes < 4:
            raise ValueError("n_attributes must be >= 4 (the orientation quaternion)")
        _check_range("n_attributes", self.n_attributes, high=_MAX_ATTRIBUTES)
        if self.use_voltage and self.n_attributes < 5:
            raise ValueError("use_voltage needs n_attributes >= 5 (quaternion + voltage)")
        _check_range("latent_dim", self.latent_dim, 1, _MAX_LATENT_DIM)
        _check_range("leaky_slope", self.leaky_slope, 0, 1)
        if isinstance(self.decoder, GeometricDecoderConfig) and self.decoder.voltage_knots > 1 and not self.use_voltage:
            raise ValueError("voltage_knots > 1 needs use_voltage=True")
        if self._largest_weights() > _MAX_WEIGHTS:
            raise ValueError(
                f"This architecture has about {self._largest_weights():.2g} weights in the layers that grow with "
                f"pattern_shape, more than the {_MAX_WEIGHTS:.2g} one GPU can train; make pattern_shape or the "
                "widths smaller (the last of blocks and critic_blocks, the first of encoder_dense and critic_dense, "
                "the decoder's dense and channels, or voltage_knots x texture_size)"
            )

    def _largest_weights(self) -> int:
        """Weights of the layers that grow with pattern area (encoder, decoder and critic dense layers)."""
        h, w = (s // 4 for s in self.pattern_shape)
        first = self.encoder_dense[0] if self.encoder_dense else 2 * self.latent_dim
        n = (self.blocks[-1][0] * h * w + self.n_attributes) * first
        down = 2 ** sum(s == 2 for _, s in self.critic_blocks)
        heads = 1 if self.critic_layout == "shared" else 3 if self.use_voltage else 2
        n += (
            heads
            * self.critic_blocks[-1][0]
            * math.prod(-(-s // down) for s in self.pattern_shape)
            * self.critic_dense[0]
        )
        if isinstance(self.decoder, ConvDecoderConfig):
            return n + 2 * self.decoder.dense[-1] * self.decoder.channels * h * w
        return n + self.decoder.voltage_knots * 2 * self.decoder.texture_size**2

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
        if not isinstance(d, dict):
            raise TypeError(f"A model config must be a table (dict) of ModelConfig fields, got {_show(d)}")
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
    if not isinstance(kind, str) or kind not in _DECODER_CONFIGS:
        raise ValueError(f"decoder must be 'conv' or 'geometric', got {_show(kind)}")
    cls = _DECODER_CONFIGS[kind]
    unknown = set(value) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"Unknown {kind} decoder option(s): {sorted(unknown, key=str)}")
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
    if not isinstance(kind, str):
        raise ValueError(f"decoder must be 'conv' or 'geometric', got {_show(kind)}")
    for other, names in _FLAT_NAMES.items():
        for flat, name in names.items():
            if flat not in d:
                continue
            value = d.pop(flat)
            if other == kind:
                section[name] = value  # a flat override wins over the section (preset overrides)
            elif strict:
                raise ValueError(f"{flat!r} is an option of the {other} decoder; this model has a {kind} decoder")
    d["decoder"] = section
    if "critic_layout" not in d and "critic_dense" in d:
        # Written before the shared layout existed (model files of formats 1
        # and 2, checkpoints' config.json): their critic had separate heads.
        d["critic_layout"] = "separate"
    known = {f.name for f in fields(ModelConfig)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"Unknown model option(s): {sorted(unknown, key=str)}")
    return d


@dataclass
class TrainConfig:
    """Hyperparameters of the three training stages.

    The learning rates (CVAE 8e-6, joint stage 4e-6 for both networks),
    batch sizes (16, 8), the CVAE's 30 epochs, Adam's beta1, the summed BCE,
    the adaptive KL schedule, the 1-in-11 critic schedule and the loss
    coefficients 0.1 (orientation) and 0.05 (adversarial) default to the
    paper's reference code (DESIGN.md section 2). The critic pre-training
    (``critic_lr`` 1e-4, 5 epochs), the joint stage's 10 epochs and
    ``alpha_voltage`` are this project's choices: the reference has no
    critic pre-training script and the paper leaves these to its
    Supplementary Information. With the default ``paper`` model this is a
    GPU run of days, not a CPU one (the ``examples/configs/*_cpu.toml``
    files are the CPU recipes). Where the
    paper and the code differ the default is the paper's and the code's
    choice is an option: ``lipschitz="clip"`` (code: ``"maxnorm"``),
    ``orientation_loss="disorientation"`` (code: ``"dot"``),
    ``critic_loss="wasserstein"`` (code: ``"sigmoid"``),
    ``generator_orientation_target="truth"`` (code: ``"critic_real"``),
    ``update_encoder=True`` (code: the decoder alone). ``docs/faithfulness.rst``
    lists every item.

    Every field is checked against its type and range when the config is
    built: epochs >= 0, batch sizes 1-65536, learning rates in (0, 1], loss
    coefficients >= 0 and finite, ``dot_scale`` in (0, 1e6];
    ``kl_schedule`` holds the :class:`~kikuchipy_gen.losses.AdaptiveKL`
    fields, all of them.

    Each stage has its own Adam optimiser: ``cvae_lr`` (encoder and
    decoder), ``critic_lr`` (critic pre-training), and in the joint stage
    ``gan_lr`` (generator) and ``gan_critic_lr`` (critic), both new
    optimisers as in the reference code (4e-6 each).
    ``gan_critic_optimizer="pretraining"`` instead carries the
    pre-training's optimiser (and ``critic_lr``) into the joint stage: the
    recipe of the shipped model and of runs made before the option existed.

    ``latent_dropout`` is the share of each CVAE and joint-stage batch
    decoded at z = 0, the prior's mean at which a model generates, instead
    of at the encoder's sample (0, the paper, by default). Training then
    fits the generation path itself: an encoder that carries
    pattern-specific detail through z cannot leave the z = 0 patterns
    worse than the ones validation sees (``benchmarks/RESULTS.md``).

    ``memory_format`` lays out the convolutional networks' weights and
    activations: ``"auto"`` (the default) is ``"channels_last"`` on a CPU,
    where oneDNN's convolutions run a training step 1.3-1.5x faster in
    that layout (``benchmarks/training_throughput.py``), and
    ``"contiguous"`` on a GPU, where it has not been measured. On a CPU a
    network with a convolution of 2-7 input channels trains contiguous:
    torch 2.13's channels-last backward of such a convolution hung at
    times (and ``"channels_last"`` is then refused). Under bf16
    autocast on a CPU without AVX-512, where torch emulates bf16,
    ``"auto"`` is contiguous too: channels-last was 1.6-2.2x slower still.
    The choice changes the rounding of a step, not what is learned.

    Examples
    --------
    >>> from kikuchipy_gen.models import TrainConfig
    >>> TrainConfig(cvae_epochs=2, cvae_lr=1e-3).cvae_epochs
    2
    >>> TrainConfig().gan_critic_lr
    4e-06
    >>> TrainConfig(cvae_epochs="2")
    Traceback (most recent call last):
    ...
    TypeError: cvae_epochs must be an integer, got '2'
    """

    dataset: str = ""
    out: str = "run"
    model: ModelConfig = field(default_factory=ModelConfig)
    seed: int = 0
    device: str = "auto"
    mixed_precision: bool = False
    memory_format: str = "auto"
    # Stage 1: CVAE
    cvae_epochs: int = 30
    cvae_batch_size: int = 16
    cvae_lr: float = 8e-6
    adam_beta1: float = 0.5
    bce_reduction: str = "sum"
    kl_weight: float = 0.8
    latent_dropout: float = 0.0
    kl_schedule: dict[str, float] = field(default_factory=lambda: asdict(AdaptiveKL()))
    # Stage 2: critic + classifier pre-training
    critic_epochs: int = 5
    critic_batch_size: int = 16
    critic_lr: float = 1e-4
    # Stage 3: joint CVAE/GAN
    gan_epochs: int = 10
    gan_batch_size: int = 8
    gan_lr: float = 4e-6
    gan_critic_lr: float = 4e-6
    gan_critic_optimizer: str = "new"
    critic_every: int = 11
    update_encoder: bool = True
    lipschitz: str = "clip"
    clip_value: float = 0.01
    maxnorm: float = 5.0
    orientation_loss: str = "disorientation"
    dot_scale: float = 1e4
    critic_loss: str = "wasserstein"
    generator_orientation_target: str = "truth"
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
        elif isinstance(self.model, str):
            raise TypeError(
                f"model must be a table of ModelConfig fields, got {_show(self.model)}; "
                f"for a preset write [model] preset = {_show(self.model)}"
            )
        _check_fields(self)
        if self.lipschitz not in ("clip", "maxnorm", "none"):
            raise ValueError(f"lipschitz must be 'clip', 'maxnorm' or 'none', got {_show(self.lipschitz)}")
        if self.orientation_loss not in ("disorientation", "dot"):
            raise ValueError(f"orientation_loss must be 'disorientation' or 'dot', got {_show(self.orientation_loss)}")
        if self.critic_loss not in ("wasserstein", "sigmoid"):
            raise ValueError(f"critic_loss must be 'wasserstein' or 'sigmoid', got {_show(self.critic_loss)}")
        if self.generator_orientation_target not in ("truth", "critic_real"):
            raise ValueError(
                "generator_orientation_target must be 'truth' or 'critic_real', "
                f"got {_show(self.generator_orientation_target)}"
            )
        if self.gan_critic_optimizer not in ("new", "pretraining"):
            raise ValueError(
                f"gan_critic_optimizer must be 'new' or 'pretraining', got {_show(self.gan_critic_optimizer)}"
            )
        _check_range("dot_scale", self.dot_scale, high=_MAX_DOT_SCALE, above=0)
        _check_range("gan_critic_lr", self.gan_critic_lr, high=_MAX_LR, above=0)
        if self.memory_format not in ("auto", "channels_last", "contiguous"):
            raise ValueError(
                f"memory_format must be 'auto', 'channels_last' or 'contiguous', got {_show(self.memory_format)}"
            )
        if self.bce_reduction not in ("sum", "mean"):
            raise ValueError(f"bce_reduction must be 'sum' or 'mean', got {_show(self.bce_reduction)}")
        _check_range("seed", self.seed, 0, _MAX_SEED)
        for stage in ("cvae", "critic", "gan"):
            _check_range(f"{stage}_epochs", getattr(self, f"{stage}_epochs"), low=0)
            _check_range(f"{stage}_batch_size", getattr(self, f"{stage}_batch_size"), 1, _MAX_BATCH_SIZE)
            _check_range(f"{stage}_lr", getattr(self, f"{stage}_lr"), high=_MAX_LR, above=0)
        if not 0 <= self.adam_beta1 < 1:
            raise ValueError(f"adam_beta1 must be in [0, 1), got {self.adam_beta1}")
        for name in (
            "kl_weight",
            "alpha_rec",
            "alpha_orientation",
            "alpha_voltage",
            "alpha_adversarial",
            "alpha_critic",
        ):
            _check_range(name, getattr(self, name), low=0)
        _check_range("latent_dropout", self.latent_dropout, 0, 1)
        _check_kl_schedule(self.kl_schedule)
        if self.critic_every < 2:
            raise ValueError(f"critic_every must be >= 2 (one critic step in critic_every), got {self.critic_every}")
        _check_range("clip_value", self.clip_value, above=0)
        _check_range("maxnorm", self.maxnorm, above=0)
        _check_range("checkpoint_every", self.checkpoint_every, low=1)
        _check_range("log_every", self.log_every, low=1)
        if self.max_steps_per_epoch is not None:
            _check_range("max_steps_per_epoch", self.max_steps_per_epoch, low=1)
        _check_range("max_val_patterns", self.max_val_patterns, low=1)
        _check_range("num_workers", self.num_workers, 0, _MAX_WORKERS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary.

        Returns
        -------
        dict
            Every field; ``model`` as :meth:`ModelConfig.to_dict` gives it.

        Examples
        --------
        >>> from kikuchipy_gen.models import TrainConfig, preset
        >>> d = TrainConfig(dataset="ni.zarr", out="run", model=preset("geometric")).to_dict()
        >>> d["cvae_lr"], d["model"]["decoder"]["kind"]
        (8e-06, 'geometric')
        """
        return {**asdict(self), "model": self.model.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a dictionary, rejecting unknown keys.

        Parameters
        ----------
        d
            Fields of :class:`TrainConfig`, as :meth:`to_dict` writes them.

        Returns
        -------
        TrainConfig

        Examples
        --------
        >>> from kikuchipy_gen.models import TrainConfig, preset
        >>> cfg = TrainConfig(dataset="ni.zarr", out="run", model=preset("geometric"))
        >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
        True
        """
        if not isinstance(d, dict):
            raise TypeError(f"A training config must be a table (dict) of TrainConfig fields, got {_show(d)}")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"Unknown training option(s): {sorted(unknown, key=str)}")
        d = dict(d)
        if isinstance(d.get("model"), dict):
            d["model"] = ModelConfig.from_dict(d["model"])
        return cls(**d)


def _check_kl_schedule(schedule: dict[str, float]) -> None:
    """The :class:`~kikuchipy_gen.losses.AdaptiveKL` fields, all of them, with sane values."""
    names = [f.name for f in fields(AdaptiveKL)]
    missing, unknown = [n for n in names if n not in schedule], sorted(set(schedule) - set(names))
    if missing or unknown:
        raise ValueError(
            f"kl_schedule must have exactly the keys {names}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {unknown}" if unknown else "")
        )
    if not schedule["lower"] <= schedule["upper"]:
        raise ValueError(f"kl_schedule's lower threshold must be <= its upper one, got {schedule}")
    for name in ("high", "mid", "low"):
        _check_range(f"kl_schedule[{name!r}]", schedule[name], low=0)


_COMPACT = {
    "latent_dim": 64,
    "stem_channels": 16,
    "blocks": [(16, 1), (32, 1), (48, 2), (32, 2)],
    "encoder_dense": [512, 256],
    "critic_blocks": [(16, 1), (32, 2), (48, 2)],
    # The CPU presets keep the critic they were trained and benchmarked with,
    # but give the classifier its own trunk (see classifier_trunk).
    "critic_layout": "separate",
    "classifier_trunk": "own",
    "critic_dense": [256],
}
_PRESETS = {
    "paper": {"critic_layout": "shared"},
    "compact": {**_COMPACT, "decoder": {"kind": "conv", "dense": [256, 512], "channels": 32}},
    # The geometric decoder reads z only through a bounded term, so its encoder
    # can be cheap: striding in the first block (the same weights) makes a CPU
    # training step 1.4x faster, and the head norm keeps Adam from throwing the
    # latent mean (the GPU trainings' KL fault). Both let the decoder lean on z,
    # which training with latent_dropout (the one command's 0.5) undoes: z = 0
    # then generates better than the former encoder's (benchmarks/RESULTS.md).
    "geometric": {
        **_COMPACT,
        "latent_dim": 16,
        "blocks": [(16, 2), (32, 1), (48, 2), (32, 1)],
        "encoder_head_norm": True,
        "decoder": {"kind": "geometric", "head_channels": 8},
    },
}


def preset(name: str, **overrides: Any) -> ModelConfig:
    """A named architecture: ``"paper"`` (GPU-sized), ``"compact"`` or ``"geometric"`` (CPU).

    Parameters
    ----------
    name
        ``"paper"``: the widths of DESIGN.md (latent 500, 256-728 channels,
        dense layers up to 4096). ``"compact"``: same structure, widths that
        train on a laptop. ``"geometric"``: the compact encoder, striding in
        its first block and with the head norm (``encoder_head_norm``; train
        it with :class:`TrainConfig`'s ``latent_dropout``), a latent of 16
        and the geometric decoder.
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
    if not isinstance(name, str) or name not in _PRESETS:
        raise ValueError(f"Unknown preset {_show(name)}; use 'paper', 'compact' or 'geometric'")
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

    A ``preset`` key (``"paper"``, ``"compact"`` or ``"geometric"``) under
    ``model`` fills in the architecture, and other ``model`` keys override it.
    Every field is checked against its type and range, and errors name the
    file.

    Parameters
    ----------
    path
        A ``.toml`` file, or JSON (any other suffix).

    Returns
    -------
    TrainConfig

    Examples
    --------
    >>> from kikuchipy_gen.models import load_config
    >>> cfg = load_config("examples/configs/geometric_cpu.toml")  # doctest: +SKIP
    >>> cfg.model.decoder.kind  # doctest: +SKIP
    'geometric'
    """
    path = Path(path)
    where = f"Config file {str(path)!r}"
    if path.is_dir():
        raise ValueError(f"{where} is a directory; pass the .toml or .json file in it")
    if not path.is_file():
        raise ValueError(f"{where} does not exist")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except PermissionError as err:
        raise PermissionError(f"{where} cannot be read (permission denied); check its permissions") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{where} is not UTF-8 text: {err}") from err
    d = _parse(text, toml=path.suffix.lower() == ".toml", where=where)
    if not isinstance(d, dict):
        raise TypeError(f"{where} must hold a table of TrainConfig fields at the top level, got {_show(d)}")
    model = d.get("model", {})
    if isinstance(model, str):
        raise TypeError(
            f"{where}: model = {_show(model)} is a string; the model section is a table, "
            f'e.g. [model] preset = {_show(model)} in TOML or "model": {{"preset": {_show(model)}}} in JSON'
        )
    if not isinstance(model, dict):
        raise TypeError(f"{where}: the model section must be a table of ModelConfig fields, got {_show(model)}")
    try:
        if "preset" in model:
            model = dict(model)
            d["model"] = preset(model.pop("preset"), **model)
        return TrainConfig.from_dict(d)
    except TypeError as err:
        raise TypeError(f"{where}: {err}") from err
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from err


def _parse(text: str, toml: bool, where: str) -> Any:
    """JSON or TOML text; syntax errors name the file (the parsers give the line)."""
    if toml:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10: the same parser, as the tomli package
            import tomli as tomllib
    try:
        return tomllib.loads(text) if toml else json.loads(text)
    except RecursionError as err:
        raise ValueError(f"{where} is nested too deeply to parse") from err
    except ValueError as err:  # JSONDecodeError and TOMLDecodeError give the line and column
        raise ValueError(f"{where} is not valid {'TOML' if toml else 'JSON'}: {err}") from err
