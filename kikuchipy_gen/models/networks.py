"""The three sub-networks of the EBSD-CVAE/GAN (Fig. 1 of the paper).

Encoder: depthwise-separable conv blocks with leaky ReLU and residual
shortcuts (Xception-like), then dense layers that see the attributes and
output the latent mean and log-variance. Decoder/generator: a latent branch
and an attribute branch of dense layers added together, reshaped to a small
feature map and grown back by transposed-conv residual blocks to pattern
size. Critic + classifier: a shared separable-conv trunk, a critic head (one
score) and classifier heads (unit quaternion, and voltage if used).
"""

from __future__ import annotations

import torch
from torch import nn

from kikuchipy_gen.models.config import ConvDecoderConfig, ModelConfig

__all__ = ["CriticClassifier", "Decoder", "Encoder"]


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
        self.head = nn.Linear(dense[-1], 2 * config.latent_dim)

    def forward(self, x: torch.Tensor, attributes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.blocks(self.stem(x)).flatten(1)
        out = self.head(self.dense(torch.cat([features, attributes.to(features.dtype)], dim=1)))
        mean, logvar = out.chunk(2, dim=1)
        # Softly bounded log-variance in (-30, 10): exp() stays finite, and unlike a
        # hard clamp the KL gradient still pulls back a log-variance at the bound.
        logvar = 10 - nn.functional.softplus(10 - logvar)
        return mean, -30 + nn.functional.softplus(logvar + 30)


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
        h = self.z_branch(z) + self.attr_branch(attributes.to(z.dtype))
        return self.out(self.blocks(h.view(-1, self.c, self.h, self.w)))


class CriticClassifier(nn.Module):
    """Pattern -> critic score and predicted attributes, eqs. (4)-(5).

    Returns ``(score, quaternion, voltage)``; ``quaternion`` is l2-normalised
    and ``voltage`` (scaled like the attribute) is None without a voltage head.

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
        c = config.critic_blocks[0][0]
        layers: list[nn.Module] = [nn.Conv2d(1, c, 3, padding=1)]
        for c_out, stride in config.critic_blocks:
            layers.append(_ResidualBlock(c, c_out, stride, act, norm=False))
            c = c_out
        self.trunk = nn.Sequential(*layers, act, nn.Flatten())
        down = 2 ** sum(s == 2 for _, s in config.critic_blocks)
        h, w = (-(-s // down) for s in config.pattern_shape)
        flat = c * h * w
        self.critic = nn.Sequential(_mlp([flat, *config.critic_dense], act), nn.Linear(config.critic_dense[-1], 1))
        self.orientation = nn.Sequential(_mlp([flat, *config.critic_dense], act), nn.Linear(config.critic_dense[-1], 4))
        self.voltage = (
            nn.Sequential(_mlp([flat, *config.critic_dense], act), nn.Linear(config.critic_dense[-1], 1))
            if config.use_voltage
            else None
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        f = self.trunk(x)
        q = nn.functional.normalize(self.orientation(f).float(), dim=1)
        v = None if self.voltage is None else self.voltage(f).squeeze(1)
        return self.critic(f).squeeze(1), q, v
