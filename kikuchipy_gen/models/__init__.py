"""The EBSD-CVAE/GAN networks and their configuration."""

from kikuchipy_gen.models.config import ModelConfig, TrainConfig, load_config, preset, save_config
from kikuchipy_gen.models.networks import CriticClassifier, Decoder, Encoder

__all__ = [
    "CriticClassifier",
    "Decoder",
    "Encoder",
    "ModelConfig",
    "TrainConfig",
    "load_config",
    "preset",
    "save_config",
]
