import pytest
import torch

from kikuchipy_gen.models import CriticClassifier, Decoder, Encoder, ModelConfig, TrainConfig, load_config, preset

from .conftest import TINY


def _reduced(name, **kw):
    """A preset at reduced width: same structure, tiny channels and dense layers."""
    return preset(name, **{**TINY, **kw})


@pytest.mark.parametrize("name", ["paper", "compact"])
@pytest.mark.parametrize("n_attr, voltage", [(4, False), (5, True), (7, True)])
def test_shapes(name, n_attr, voltage):
    cfg = _reduced(name, n_attributes=n_attr, use_voltage=voltage)
    x, a = torch.rand(3, 1, 60, 60), torch.rand(3, n_attr)
    mean, logvar = Encoder(cfg)(x, a)
    assert mean.shape == logvar.shape == (3, cfg.latent_dim)
    logits = Decoder(cfg)(mean, a)
    assert logits.shape == (3, 1, 60, 60)
    score, q, v = CriticClassifier(cfg)(torch.sigmoid(logits))
    assert score.shape == (3,)
    assert torch.allclose(q.norm(dim=1), torch.ones(3), atol=1e-5)
    assert (v is None) == (not voltage)


def test_other_pattern_shapes():
    cfg = _reduced("compact", pattern_shape=(40, 48))
    logits = Decoder(cfg)(torch.randn(2, cfg.latent_dim), torch.rand(2, 4))
    assert logits.shape == (2, 1, 40, 48)
    assert Encoder(cfg)(torch.rand(2, 1, 40, 48), torch.rand(2, 4))[0].shape == (2, 16)


def test_attribute_length_changes_only_first_and_last_layers():
    small, large = _reduced("compact", n_attributes=4), _reduced("compact", n_attributes=5, use_voltage=True)
    for cls in (Encoder, Decoder, CriticClassifier):
        a, b = cls(small).state_dict(), cls(large).state_dict()
        differing = [k for k in a if k not in b or a[k].shape != b[k].shape]
        extra = [k for k in b if k not in a]
        if cls is Encoder:
            assert differing == ["dense.0.weight"]
        elif cls is Decoder:
            assert differing == ["attr_branch.0.0.weight"]
        else:
            assert differing == [] and all(k.startswith("voltage.") for k in extra)


def test_paper_preset_is_the_design_size():
    cfg = preset("paper")
    assert cfg.latent_dim == 500
    assert cfg.blocks == [(256, 1), (512, 1), (728, 2), (512, 2)]
    assert cfg.decoder.dense == [1024, 2048, 4096]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pattern_shape": (62, 60)}, "divisible by 4"),
        ({"blocks": [(8, 2), (8, 1)]}, "two stride-2"),
        ({"n_attributes": 3}, "n_attributes"),
        ({"use_voltage": True, "n_attributes": 4}, "use_voltage"),
    ],
)
def test_bad_model_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)


def test_config_files(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text(
        'dataset = "d.zarr"\ncvae_epochs = 2\n[model]\npreset = "compact"\nuse_voltage = true\nn_attributes = 5\n'
    )
    cfg = load_config(f)
    assert cfg.cvae_epochs == 2 and cfg.model.latent_dim == 64 and cfg.model.use_voltage
    again = TrainConfig.from_dict(cfg.to_dict())
    assert again == cfg
    with pytest.raises(ValueError, match="Unknown training option"):
        TrainConfig.from_dict({"learning_rate": 1})
    with pytest.raises(ValueError, match="lipschitz"):
        TrainConfig(lipschitz="spectral")
    with pytest.raises(ValueError, match="does not exist"):
        load_config(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="Unknown preset"):
        preset("huge")
