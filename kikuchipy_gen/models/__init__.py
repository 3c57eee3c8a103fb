"""The EBSD-CVAE/GAN networks, their configuration and the model contract.

:mod:`kikuchipy_gen.models.bundle` owns what a trained model is (the bundle
format on disk and the decoder factory); :mod:`kikuchipy_gen.models.runtime`
runs a bundle's decoder (device choice, cached decoders, the CPU kernel).
"""

from kikuchipy_gen.models.config import (
    ConvDecoderConfig,
    GeometricDecoderConfig,
    ModelConfig,
    TrainConfig,
    load_config,
    preset,
    save_config,
)
from kikuchipy_gen.models.networks import CriticClassifier, Decoder, Encoder, describe_preset

__all__ = [
    "ConvDecoderConfig",
    "CriticClassifier",
    "Decoder",
    "Encoder",
    "GeometricDecoderConfig",
    "ModelConfig",
    "TrainConfig",
    "describe_preset",
    "load_config",
    "preset",
    "save_config",
]
