"""The three sub-networks of the EBSD-CVAE/GAN (Fig. 1 of the paper).

Encoder: depthwise-separable conv blocks with leaky ReLU and residual
shortcuts (Xception-like), then dense layers that see the attributes and
output the latent mean and log-variance. Decoder/generator: a latent branch
and an attribute branch of dense layers added together, reshaped to a small
feature map and grown back by transposed-conv residual blocks to pattern
size. Critic + classifier: a shared separable-conv trunk and, in the paper's
layout, a shared dense layer, then a small critic head (one score) and a small
classifier head (unit quaternion, and the voltage as one more output if used).
:func:`describe_preset` counts a preset's parameters on the meta device.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from kikuchipy_gen.models.config import ConvDecoderConfig, ModelConfig

__all__ = ["CriticClassifier", "Decoder", "Encoder", "describe_preset"]


class _SeparableConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1),
        )


class _ResidualBlock(nn.Module):
    """Two separable convs (with normalisation) plus a 1x1 shortcut; stride 1 or 2."""

    def __init__(self, c_in: int, c_out: int, stride: int, act: nn.Module, norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [act, _SeparableConv(c_in, c_out)]
        if norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers += [act, _SeparableConv(c_out, c_out)]
        if norm:
            layers.append(nn.BatchNorm2d(c_out))
        if stride == 2:
            layers.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.body = nn.Sequential(*layers)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class _UpBlock(nn.Module):
    """Transposed-conv residual block; stride 2 doubles the size."""

    def __init__(self, c_in: int, c_out: int, stride: int, act: nn.Module) -> None:
        super().__init__()
        up = dict(stride=2, padding=1, output_padding=1) if stride == 2 else dict(padding=1)
        self.body = nn.Sequential(
            act,
            nn.ConvTranspose2d(c_in, c_out, 3, **up),
            nn.BatchNorm2d(c_out),
            act,
            nn.ConvTranspose2d(c_out, c_out, 3, padding=1),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = (
            nn.ConvTranspose2d(c_in, c_out, 1, stride=2, output_padding=1) if stride == 2 else nn.Conv2d(c_in, c_out, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


def _mlp(sizes: list[int], act: nn.Module) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), act]
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Pattern and attributes -> latent mean and log-variance, eqs. (1)-(2).

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.models import Encoder, preset
    >>> enc = Encoder(preset("compact"))
    >>> mean, logvar = enc(torch.rand(2, 1, 60, 60), torch.rand(2, 4))
    >>> mean.shape, logvar.shape
    (torch.Size([2, 64]), torch.Size([2, 64]))
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        act = nn.LeakyReLU(config.leaky_slope)
        c = config.stem_channels
        self.stem = nn.Sequential(nn.Conv2d(1, c, 3, padding=1), act, nn.Conv2d(c, c, 3, padding=1))
        blocks = []
        for c_out, stride in config.blocks:
            blocks.append(_ResidualBlock(c, c_out, stride, act, norm=True))
            c = c_out
        self.blocks = nn.Sequential(*blocks, act)
        h, w = (s // 4 for s in config.pattern_shape)
        dense = [c * h * w + config.n_attributes, *config.encoder_dense]
        self.dense = _mlp(dense, act)
        # Bounds what one optimiser step can do to the latent mean (see
        # ModelConfig.encoder_head_norm); Identity keeps older checkpoints' keys.
        self.head_norm = (
            nn.LayerNorm(dense[-1], elementwise_affine=False) if config.encoder_head_norm else nn.Identity()
        )
        self.head = nn.Linear(dense[-1], 2 * config.latent_dim)

    def forward(self, x: torch.Tensor, attributes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent mean and log-variance of patterns given their attributes.

        Parameters
        ----------
        x
            (b, 1, rows, cols) patterns in [0, 1].
        attributes
            (b, n_attributes) attribute vectors.

        Returns
        -------
        tuple of torch.Tensor
            ``(mean, logvar)``, each (b, latent_dim).

        Examples
        --------
        >>> import torch
        >>> from kikuchipy_gen.models import Encoder, preset
        >>> mean, logvar = Encoder(preset("compact"))(torch.rand(2, 1, 60, 60), torch.rand(2, 4))
        >>> mean.shape
        torch.Size([2, 64])
        """
        features = self.blocks(self.stem(x)).flatten(1)
        out = self.head(self.head_norm(self.dense(torch.cat([features, attributes.to(features.dtype)], dim=1))))
        mean, logvar = out.chunk(2, dim=1)
        return mean, _BoundedLogVar.apply(logvar)


class _BoundedLogVar(torch.autograd.Function):
    """A log-variance softly bounded to (-30, 10), whose gradient passes unbounded.

    The bound keeps ``exp(logvar)`` finite. Its own derivative vanishes far
    outside it (``sigmoid(10 - x)`` above), so a raw output thrown past the
    bound by one large step got no pull back from the KL term: in two GPU
    trainings (rutile, corundum) three of 16 latent dimensions sat at
    log-variance 10 for thousands of steps, the KL at 33,000 instead of
    about 3. The gradient is passed as if the bound were the identity, which
    it is to within 0.01 inside (-25, 5).
    """

    @staticmethod
    def forward(ctx, raw: torch.Tensor) -> torch.Tensor:
        upper = 10 - nn.functional.softplus(10 - raw)
        return -30 + nn.functional.softplus(upper + 30)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


class Decoder(nn.Module):
    """Latent z and attributes -> pattern logits, eq. (3).

    The output is the logit of each pixel; ``torch.sigmoid`` gives the pattern
    in [0, 1] (the BCE loss works on logits for numerical safety).

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.models import Decoder, preset
    >>> dec = Decoder(preset("compact"))
    >>> dec(torch.randn(2, 64), torch.rand(2, 4)).shape
    torch.Size([2, 1, 60, 60])
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        act = nn.LeakyReLU(config.leaky_slope)
        self.h, self.w = (s // 4 for s in config.pattern_shape)
        if not isinstance(config.decoder, ConvDecoderConfig):
            raise TypeError(f"Decoder is the conv decoder; this config has a {config.decoder.kind} decoder")
        dense, self.c = config.decoder.dense, config.decoder.channels
        size = self.c * self.h * self.w
        self.z_branch = nn.Sequential(_mlp([config.latent_dim, *dense], act), nn.Linear(dense[-1], size))
        self.attr_branch = nn.Sequential(_mlp([config.n_attributes, *dense], act), nn.Linear(dense[-1], size))
        blocks, c = [], self.c
        for c_out, stride in config.blocks:
            blocks.append(_UpBlock(c, c_out, stride, act))
            c = c_out
        self.blocks = nn.Sequential(*blocks, act)
        self.out = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, z: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        """Pattern logits from latent vectors and attributes.

        Parameters
        ----------
        z
            (b, latent_dim) latent vectors.
        attributes
            (b, n_attributes) attribute vectors.

        Returns
        -------
        torch.Tensor
            (b, 1, rows, cols) logits; ``sigmoid`` gives intensities in [0, 1].

        Examples
        --------
        >>> import torch
        >>> from kikuchipy_gen.models import Decoder, preset
        >>> Decoder(preset("compact"))(torch.randn(2, 64), torch.rand(2, 4)).shape
        torch.Size([2, 1, 60, 60])
        """
        h = self.z_branch(z) + self.attr_branch(attributes.to(z.dtype))
        return self.out(self.blocks(h.view(-1, self.c, self.h, self.w)))


class CriticClassifier(nn.Module):
    """Pattern -> critic score and predicted attributes, eqs. (4)-(5).

    Returns ``(score, quaternion, voltage)``; ``quaternion`` is l2-normalised
    and ``voltage`` (scaled like the attribute) is None without a voltage
    head. With ``critic_layout="shared"`` (the paper preset) one dense trunk
    feeds a small critic head and a small classifier head, and the voltage
    is one more output of the classifier's last layer (the paper: adding
    the voltage changes "the last layer of classifier"); with
    ``"separate"`` (the CPU presets) three full dense stacks sit on the
    flattened features.

    Examples
    --------
    >>> import torch
    >>> from kikuchipy_gen.models import CriticClassifier, preset
    >>> net = CriticClassifier(preset("compact", use_voltage=True, n_attributes=5))
    >>> score, q, v = net(torch.rand(3, 1, 60, 60))
    >>> score.shape, q.shape, v.shape
    (torch.Size([3]), torch.Size([3, 4]), torch.Size([3]))
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        act = nn.ReLU()
        self.trunk = _critic_trunk(config, act)
        self.classifier_trunk = _critic_trunk(config, act) if config.classifier_trunk == "own" else None
        down = 2 ** sum(s == 2 for _, s in config.critic_blocks)
        h, w = (-(-s // down) for s in config.pattern_shape)
        flat = config.critic_blocks[-1][0] * h * w
        self.shared = config.critic_layout == "shared"
        if self.shared:
            width = config.critic_dense[-1]
            self.dense = _mlp([flat, *config.critic_dense], act)
            own = config.classifier_trunk == "own"
            self.classifier_dense = _mlp([flat, *config.critic_dense], act) if own else None
            self.critic = _head([width, *config.critic_head_dense], 1, act)
            self.classifier = _head([width, *config.classifier_dense], 4 + config.use_voltage, act)
            return
        self.critic = _head([flat, *config.critic_dense], 1, act)
        self.orientation = _head([flat, *config.critic_dense], 4, act)
        self.voltage = _head([flat, *config.critic_dense], 1, act) if config.use_voltage else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Critic score, orientation and voltage read from patterns.

        Parameters
        ----------
        x
            (b, 1, rows, cols) patterns in [0, 1].

        Returns
        -------
        tuple
            ``(score, quaternion, voltage)``: (b,) scores, (b, 4) unit
            quaternions and (b,) scaled voltages, or None without a voltage head.

        Examples
        --------
        >>> import torch
        >>> from kikuchipy_gen.models import CriticClassifier, preset
        >>> score, q, v = CriticClassifier(preset("compact"))(torch.rand(2, 1, 60, 60))
        >>> score.shape, q.shape, v
        (torch.Size([2]), torch.Size([2, 4]), None)
        """
        f = self.trunk(x)
        g = f if self.classifier_trunk is None else self.classifier_trunk(x)
        if self.shared:
            f = self.dense(f)
            g = f if self.classifier_dense is None else self.classifier_dense(g)
            attributes = self.classifier(g)
            q = nn.functional.normalize(attributes[:, :4].float(), dim=1)
            v = attributes[:, 4] if attributes.shape[1] > 4 else None
            return self.critic(f).squeeze(1), q, v
        q = nn.functional.normalize(self.orientation(g).float(), dim=1)
        v = None if self.voltage is None else self.voltage(g).squeeze(1)
        return self.critic(f).squeeze(1), q, v

    def lipschitz_modules(self) -> list[nn.Module]:
        """The modules the critic's Lipschitz constraint binds: all, or the critic's own beside a classifier trunk.

        Returns
        -------
        list of torch.nn.Module

        Examples
        --------
        >>> from kikuchipy_gen.models import CriticClassifier, preset
        >>> net = CriticClassifier(preset("compact", classifier_trunk="own"))
        >>> [type(m).__name__ for m in net.lipschitz_modules()]
        ['Sequential', 'Sequential']
        """
        if self.classifier_trunk is None:
            return [self]
        return [self.trunk, *([self.dense] if self.shared else []), self.critic]


def _critic_trunk(config: ModelConfig, act: nn.Module) -> nn.Sequential:
    """The critic/classifier's convolutional trunk, flattened."""
    c = config.critic_blocks[0][0]
    layers: list[nn.Module] = [nn.Conv2d(1, c, 3, padding=1)]
    for c_out, stride in config.critic_blocks:
        layers.append(_ResidualBlock(c, c_out, stride, act, norm=False))
        c = c_out
    return nn.Sequential(*layers, act, nn.Flatten())


def _head(sizes: list[int], n_out: int, act: nn.Module) -> nn.Sequential:
    """Dense layers of ``sizes`` (activated), then a linear layer to ``n_out``."""
    return nn.Sequential(_mlp(sizes, act), nn.Linear(sizes[-1], n_out))


_BYTES_PER_PARAMETER = {"weights": 4, "gradients": 4, "adam": 8}  # float32; Adam keeps two moments


def describe_preset(name: str | ModelConfig, **overrides: Any) -> dict[str, Any]:
    """Parameter counts and the float32 training memory of a preset, built on the meta device.

    Nothing is allocated: the networks are built on PyTorch's ``meta``
    device, so the paper preset (1.2e9 parameters) costs no memory here.
    The memory of a stage is every network's weights, plus gradients and
    Adam's two moments for the parameters the stage trains (the trainer
    releases the moments of finished stages); in the joint stage gradients
    reach all three networks. Activations and the data loader come on top.

    Parameters
    ----------
    name
        A preset name (``"paper"``, ``"compact"``, ``"geometric"``) or a
        :class:`ModelConfig`.
    **overrides
        :func:`~kikuchipy_gen.models.preset` overrides, e.g.
        ``use_voltage=True``.

    Returns
    -------
    dict
        ``parameters`` per network (``encoder``, ``decoder``, ``critic``,
        ``total``) and ``memory_bytes`` per stage (``cvae``, ``critic``,
        ``gan``) and their ``peak``.

    Examples
    --------
    >>> from kikuchipy_gen.models import describe_preset
    >>> d = describe_preset("paper", use_voltage=True)
    >>> d["parameters"]["total"] > 1e9, round(d["memory_bytes"]["peak"] / 1e9, 1)
    (True, 19.9)
    """
    from kikuchipy_gen.models.config import preset

    config = name if isinstance(name, ModelConfig) else preset(name, **overrides)
    counts = {}
    with torch.device("meta"):
        counts["encoder"] = _count(Encoder(config))
        counts["critic"] = _count(CriticClassifier(config))
        if isinstance(config.decoder, ConvDecoderConfig):
            counts["decoder"] = _count(Decoder(config))
    if "decoder" not in counts:  # the geometric decoder builds projection tables from its detector: small, on CPU
        from orix.quaternion.symmetry import Oh

        from kikuchipy_gen.detector import default_detector
        from kikuchipy_gen.models.bundle import build_decoder

        counts["decoder"] = _count(build_decoder(config, default_detector(config.pattern_shape), Oh))
    counts = {k: counts[k] for k in ("encoder", "decoder", "critic")}
    counts["total"] = sum(counts.values())
    b = _BYTES_PER_PARAMETER
    weights = b["weights"] * counts["total"]
    trained = {
        "cvae": counts["encoder"] + counts["decoder"],
        "critic": counts["critic"],
        "gan": counts["total"],
    }
    memory = {stage: weights + (b["gradients"] + b["adam"]) * n for stage, n in trained.items()}
    memory["peak"] = max(memory.values())
    return {"preset": name if isinstance(name, str) else None, "parameters": counts, "memory_bytes": memory}


def _count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
