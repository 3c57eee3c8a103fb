"""The config parser is typed and strict: model and config files are untrusted input."""

import json
import math
import re
import shutil
import typing
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pytest

from kikuchipy_gen.losses import AdaptiveKL
from kikuchipy_gen.master_pattern import PRETRAINED_DIR, MLMasterPattern
from kikuchipy_gen.models import ModelConfig, TrainConfig, load_config, preset
from kikuchipy_gen.models.config import ConvDecoderConfig, GeometricDecoderConfig

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # a test dependency; the table below runs without it
    st = None

ROOT = Path(__file__).resolve().parents[1]
KL = asdict(AdaptiveKL())


def _train(**kw):
    return TrainConfig.from_dict(kw)


def _model(**kw):
    return ModelConfig.from_dict(kw)


# Flat decoder fields as format-1 model files have them (preset("compact", decoder_dense=...)
# would keep the preset's own value of a field its decoder section names).
def _geometric(**kw):
    return ModelConfig.from_dict({"use_voltage": True, "decoder": "geometric", **kw})


def _conv(**kw):
    return ModelConfig.from_dict({"decoder": "conv", **kw})


# (builder, field, value, exception): each must raise, naming the field.
BAD = [
    (_train, "cvae_epochs", "3", TypeError),
    (_train, "cvae_epochs", 2.5, TypeError),
    (_train, "cvae_epochs", True, TypeError),
    (_train, "cvae_epochs", -3, ValueError),
    (_train, "gan_epochs", None, TypeError),
    (_train, "critic_batch_size", 0, ValueError),
    (_train, "gan_batch_size", 10**6, ValueError),
    (_train, "cvae_batch_size", 16.0, TypeError),
    (_train, "cvae_lr", 1e38, ValueError),
    (_train, "cvae_lr", 0, ValueError),
    (_train, "critic_lr", -1e-4, ValueError),
    (_train, "gan_lr", math.nan, ValueError),
    (_train, "gan_lr", 10**400, ValueError),
    (_train, "gan_lr", "3e-4", TypeError),
    (_train, "mixed_precision", "no", TypeError),
    (_train, "mixed_precision", 0, TypeError),
    (_train, "memory_format", "nhwc", ValueError),
    (_train, "memory_format", 1, TypeError),
    (_train, "update_encoder", "yes", TypeError),
    (_train, "sample_grid", 1, TypeError),
    (_train, "max_val_patterns", 0, ValueError),
    (_train, "num_workers", -1, ValueError),
    (_train, "num_workers", 10_000, ValueError),
    (_train, "max_steps_per_epoch", 0, ValueError),
    (_train, "max_steps_per_epoch", 1.5, TypeError),
    (_train, "alpha_rec", -0.1, ValueError),
    (_train, "alpha_voltage", math.inf, ValueError),
    (_train, "kl_weight", "0.8", TypeError),
    (_train, "clip_value", 0, ValueError),
    (_train, "maxnorm", -5.0, ValueError),
    (_train, "kl_schedule", {"upper": 15.0}, ValueError),
    (_train, "kl_schedule", {**KL, "extra": 1.0}, ValueError),
    (_train, "kl_schedule", {**KL, "high": "1.5"}, TypeError),
    (_train, "kl_schedule", {**KL, "mid": math.nan}, ValueError),
    (_train, "kl_schedule", {**KL, "low": -0.01}, ValueError),
    (_train, "kl_schedule", {**KL, "lower": 20.0}, ValueError),
    (_train, "kl_schedule", [1.0, 2.0], TypeError),
    (_train, "seed", -1, ValueError),
    (_train, "seed", 2**64, ValueError),
    (_train, "seed", 1.0, TypeError),
    (_train, "adam_beta1", 1.0, ValueError),
    (_train, "dataset", 3, TypeError),
    (_train, "out", None, TypeError),
    (_train, "device", ["cpu"], TypeError),
    (_train, "lipschitz", "spectral", ValueError),
    (_train, "log_every", 0, ValueError),
    (_train, "checkpoint_every", 0, ValueError),
    (_train, "critic_every", 1, ValueError),
    (_train, "gan_critic_lr", 0.0, ValueError),
    (_train, "gan_critic_lr", 2.0, ValueError),
    (_train, "gan_critic_lr", "4e-6", TypeError),
    (_train, "gan_critic_optimizer", "shared", ValueError),
    (_train, "gan_critic_optimizer", None, TypeError),
    (_train, "critic_loss", "hinge", ValueError),
    (_train, "generator_orientation_target", "critic", ValueError),
    (_train, "dot_scale", 0.0, ValueError),
    (_train, "dot_scale", 1e7, ValueError),
    (_train, "dot_scale", math.inf, ValueError),
    (_train, "dot_scale", "1e4", TypeError),
    (_train, "model", "compact", TypeError),
    (_train, "model", [1], TypeError),
    (_model, "use_voltage", "no", TypeError),
    (_model, "use_voltage", 1, TypeError),
    (_model, "pattern_shape", [60], TypeError),
    (_model, "pattern_shape", [60, 60.0], TypeError),
    (_model, "pattern_shape", "60x60", TypeError),
    (_model, "pattern_shape", [2048, 2048], ValueError),
    (_model, "pattern_shape", [1024, 1024], ValueError),  # each side allowed, the paper widths make 4e11 weights
    (_model, "latent_dim", 2.5, TypeError),
    (_model, "latent_dim", 0, ValueError),
    (_model, "latent_dim", 5000, ValueError),
    (_model, "n_attributes", "5", TypeError),
    (_model, "n_attributes", 65, ValueError),
    (_model, "n_attributes", 10**5000, ValueError),
    (_model, "stem_channels", 10**5, ValueError),
    (_model, "blocks", [[8, 1]] * 15 + [[8, 2]] * 2, ValueError),
    (_model, "blocks", [[8, 2], [8, 2], [8, 3]], ValueError),
    (_model, "blocks", [[8, 2, 1], [8, 2]], TypeError),
    (_model, "blocks", [[9000, 2], [8, 2]], ValueError),
    (_model, "blocks", [[8.0, 2], [8, 2]], TypeError),
    (_model, "encoder_dense", [0], ValueError),
    (_model, "encoder_dense", "64", TypeError),
    (_model, "encoder_dense", [64.0], TypeError),
    (_model, "critic_dense", [], ValueError),
    (_model, "critic_blocks", [], ValueError),
    (_model, "critic_blocks", [[8, 0]], ValueError),
    (_model, "critic_layout", "split", ValueError),
    (_model, "critic_layout", 1, TypeError),
    (_model, "critic_head_dense", [0], ValueError),
    (_model, "classifier_dense", [10**5], ValueError),
    (_model, "classifier_dense", "64", TypeError),
    (_model, "leaky_slope", -0.1, ValueError),
    (_model, "leaky_slope", "0.2", TypeError),
    (_model, "decoder", 3, TypeError),
    (_model, "decoder", {"kind": "transformer"}, ValueError),
    (_model, "decoder", {"kind": ["conv"]}, ValueError),
    (_geometric, "texture_size", 4001, ValueError),
    (_geometric, "texture_size", 40, ValueError),
    (_geometric, "texture_size", 41.0, TypeError),
    (_geometric, "voltage_knots", 65, ValueError),
    (_geometric, "voltage_knots", 0, ValueError),
    (_geometric, "head_window", 301, ValueError),
    (_geometric, "head_window", 14, ValueError),
    (_geometric, "head_channels", 2000, ValueError),
    (_geometric, "head", None, TypeError),
    (_geometric, "symmetry", 1, TypeError),
    (_geometric, "energy_range", [30.0, 10.0], ValueError),
    (_geometric, "energy_range", [0, 30.0], ValueError),
    (_geometric, "energy_range", ["10", 30.0], TypeError),
    (_geometric, "energy_range", [10.0, 20.0, 30.0], TypeError),
    (_conv, "decoder_dense", [10**5], ValueError),
    (_conv, "decoder_dense", [], ValueError),
    (_conv, "decoder_channels", 0, ValueError),
    (_conv, "decoder_channels", "32", TypeError),
]


@pytest.mark.parametrize("build, name, value, error", BAD, ids=[f"{i}-{name}" for i, (_, name, _, _) in enumerate(BAD)])
def test_bad_values_name_the_field(build, name, value, error):
    with pytest.raises(error) as info:
        build(**{name: value})
    # Flat format-1 names (decoder_dense) are reported by the decoder's own name (dense).
    assert name.removeprefix("decoder_") in str(info.value)


def test_the_messages_say_what_the_value_should_be():
    with pytest.raises(TypeError, match=re.escape("cvae_epochs must be an integer, got '3'")):
        TrainConfig(cvae_epochs="3")
    with pytest.raises(TypeError, match="mixed_precision must be true or false, got 'no'"):
        TrainConfig(mixed_precision="no")
    with pytest.raises(TypeError, match=re.escape("blocks[1][0] must be an integer, got 2.5")):
        ModelConfig(blocks=[(8, 2), (2.5, 2)])
    with pytest.raises(ValueError, match=re.escape("cvae_lr must be <= 1.0, got 1e+38")):
        TrainConfig(cvae_lr=1e38)
    with pytest.raises(ValueError, match="missing \\['high'"):
        TrainConfig(kl_schedule={"upper": 1.0, "lower": 0.5})
    with pytest.raises(TypeError, match=re.escape("[model] preset = 'compact'")):
        TrainConfig(model="compact")


def test_good_values_are_normalised():
    cfg = TrainConfig(cvae_lr=1, max_steps_per_epoch=np.int64(3), model={"pattern_shape": [40, 48]})
    assert type(cfg.cvae_lr) is float and cfg.cvae_lr == 1.0
    assert type(cfg.max_steps_per_epoch) is int
    assert cfg.model.pattern_shape == (40, 48)
    m = preset("geometric", texture_size=np.int64(41), energy_range=[10, 30], use_voltage=True, voltage_knots=3)
    assert type(m.decoder.texture_size) is int and m.decoder.energy_range == (10.0, 30.0)
    assert ModelConfig(blocks=[[8, 1], [8, 2], [8, 2]]).blocks == [(8, 1), (8, 2), (8, 2)]
    assert TrainConfig(max_steps_per_epoch=None).max_steps_per_epoch is None


@pytest.mark.parametrize("name", ["paper", "compact", "geometric"])
def test_presets_build_and_round_trip(name):
    cfg = TrainConfig(model=preset(name, use_voltage=True))
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict(), allow_nan=False))) == cfg


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_example_configs_load(path):
    cfg = load_config(path)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_shipped_model_loads_and_a_huge_texture_is_refused_before_allocation(tmp_path):
    assert MLMasterPattern.from_pretrained().energy_range == (10.0, 30.0)
    folder = tmp_path / "model"
    shutil.copytree(PRETRAINED_DIR / "ni-10-30kv", folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["model"]["texture_size"] = 4001  # once tried to allocate 12.3 GB
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="texture_size must be odd and between 5 and 2001"):
        MLMasterPattern.load(folder)


# ------------------------------------------------------------------ files
def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_config_file_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="is a directory"):
        load_config(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    cases = [
        ("syntax.json", '{"cvae_epochs": 3,\n}', ValueError, "not valid JSON.*line 2"),
        ("syntax.toml", "cvae_epochs = 3\ncvae_lr = \n", ValueError, "not valid TOML.*line 2"),
        ("list.json", "[1, 2]", TypeError, "top level, got \\[1, 2\\]"),
        ("scalar.json", "3", TypeError, "top level, got 3"),
        ("model_list.json", '{"model": [1]}', TypeError, "model section must be a table"),
        ("model_string.toml", 'model = "compact"\n', TypeError, re.escape("[model] preset = 'compact'")),
        ("preset.toml", "[model]\npreset = 3\n", ValueError, "Unknown preset 3"),
        ("type.toml", 'cvae_epochs = "3"\n', TypeError, re.escape("cvae_epochs must be an integer, got '3'")),
        ("bool.toml", 'mixed_precision = "no"\n', TypeError, "mixed_precision must be true or false"),
        ("model_type.toml", "[model]\npreset = 'compact'\nlatent_dim = 2.5\n", TypeError, "latent_dim"),
        ("huge.toml", "[model]\npreset = 'geometric'\ntexture_size = 4001\n", ValueError, "texture_size"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, ValueError, "nested too deeply"),
        ("big_int.json", '{"seed": ' + "9" * 5000 + "}", ValueError, "not valid JSON"),
    ]
    for name, text, error, match in cases:
        path = _write(tmp_path, name, text)
        with pytest.raises(error, match=match) as info:
            load_config(path)
        assert name in str(info.value), name
    path = tmp_path / "latin1.toml"
    path.write_bytes('out = "r\xe9sum\xe9"\n'.encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.toml' is not UTF-8"):
        load_config(path)

    path = _write(tmp_path, "locked.toml", "cvae_epochs = 3\n")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)  # root reads any file, so chmod cannot show this
    with pytest.raises(PermissionError, match="locked.toml' cannot be read"):
        load_config(path)


# ------------------------------------------------------------ properties
def _kept(value, out, hint):
    """Whether a file's ``value`` has the annotation's type and the config kept it as ``out``.

    Written apart from config.py's checks: booleans are JSON booleans, integers
    are not floats or booleans, floats are finite numbers, lists hold such values.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return type(value) is bool and out is value
    if hint is int:
        return type(value) is int and type(out) is int and out == value
    if hint is float:
        return type(value) in (int, float) and type(out) is float and math.isfinite(out) and out == float(value)
    if hint is str:
        return type(value) is str and out == value
    if origin in (tuple, list):
        inner = args if origin is tuple else args * len(value) if isinstance(value, list) else ()
        return (
            isinstance(value, list)
            and type(out) is origin
            and len(value) == len(out) == len(inner)
            and all(map(_kept, value, out, inner))
        )
    if origin is dict:
        return (
            isinstance(value, dict)
            and type(out) is dict
            and value.keys() == out.keys()
            and all(_kept(value[k], out[k], args[1]) for k in value)
        )
    if value is None:  # int | None: None, or derived from other fields (n_attributes)
        return type(None) in args
    return any(_kept(value, out, a) for a in args if a is not type(None))


FIELDS = (
    [(TrainConfig, f.name) for f in fields(TrainConfig) if f.name != "model"]
    + [(ModelConfig, f.name) for f in fields(ModelConfig) if f.name != "decoder"]
    + [(ConvDecoderConfig, f.name) for f in fields(ConvDecoderConfig)]
    + [(GeometricDecoderConfig, f.name) for f in fields(GeometricDecoderConfig)]
)


def _build(cls, name, value):
    """The config with one field set from a file's value, and that field's object."""
    if cls is TrainConfig:
        cfg = TrainConfig.from_dict({name: value, "model": {"decoder": "geometric", "use_voltage": True}})
        return cfg, cfg
    if cls is ModelConfig:
        cfg = ModelConfig.from_dict({name: value})
        return cfg, cfg
    kind = cls.kind
    cfg = ModelConfig.from_dict({"use_voltage": True, "decoder": {"kind": kind, name: value}})
    return cfg, cfg.decoder


if st is not None:
    _scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(-3, 70)
        | st.floats()
        | st.floats(-2.0, 40.0)
        | st.text(max_size=8)
        | st.sampled_from(["conv", "geometric", "sum", "clip", "laue", "auto", "dot", "1", "true"])
    )
    _json = st.recursive(
        _scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
        max_leaves=12,
    )
    _tricky = st.sampled_from([True, False, None, 0, 1, -1, 2.5, 1.0, "3", "no", "", [], {}, [1, 2], [[8, 2]], 1e308])
    _values = _tricky | _json | st.lists(st.lists(st.integers(-1, 40), min_size=2, max_size=2), max_size=5)

    @settings(max_examples=400, deadline=None, derandomize=True, database=None)
    @given(st.sampled_from(FIELDS), _values)
    def test_random_values_for_random_fields(field_, value):
        cls, name = field_
        try:
            cfg, owner = _build(cls, name, value)
        except (TypeError, ValueError) as err:
            assert name in str(err) or name == "kind"
            return
        hint = typing.get_type_hints(cls)[name]
        assert _kept(value, getattr(owner, name), hint), (name, value, getattr(owner, name))
        d = json.loads(json.dumps(cfg.to_dict(), allow_nan=False))
        assert type(cfg).from_dict(d) == cfg

    _keys = st.sampled_from([n for _, n in FIELDS] + ["model", "preset", "decoder", "unknown"]) | st.text(max_size=6)

    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(_json | st.dictionaries(_keys, _json, max_size=6), st.sampled_from([".json", ".toml"]))
    def test_random_files_fail_only_with_value_or_type_errors(tmp_path, document, suffix):
        path = tmp_path / f"random{suffix}"
        if suffix == ".toml":
            path.write_text(_toml(document))
        else:
            path.write_text(json.dumps(document))
        try:
            cfg = load_config(path)
        except (TypeError, ValueError) as err:
            assert str(path.name) in str(err)
            return
        assert TrainConfig.from_dict(cfg.to_dict()) == cfg

else:

    @pytest.mark.skip(reason="needs hypothesis (pip install -e '.[tests]')")
    def test_random_values_for_random_fields():
        pass

    @pytest.mark.skip(reason="needs hypothesis (pip install -e '.[tests]')")
    def test_random_files_fail_only_with_value_or_type_errors():
        pass


def _toml(document):
    """Rough TOML of a JSON-like value: valid where TOML can say it, garbage otherwise (both are tested)."""
    if not isinstance(document, dict):
        return f"value = {json.dumps(document)}\n"
    return "".join(f"{json.dumps(k)} = {json.dumps(v)}\n" for k, v in document.items())
