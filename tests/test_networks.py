"""The critic/classifier's layouts and the preset sizes (built on the meta device)."""

import numpy as np
import pytest
import torch

from kikuchipy_gen.models import CriticClassifier, Encoder, ModelConfig, describe_preset, preset

from .conftest import TINY


def test_paper_critic_is_the_reference_size():
    # The reference's flatten->2048 layer (~472M weights) sees 256 x 30 x 30 = 230,400 features:
    # one shared dense trunk, then small critic and classifier heads.
    with torch.device("meta"):
        plain = CriticClassifier(preset("paper"))
        voltage = CriticClassifier(preset("paper", use_voltage=True))
    assert plain.dense[0].weight.shape == (2048, 256 * 30 * 30)
    count = lambda net: sum(p.numel() for p in net.parameters())
    # The voltage attribute is one more output of the classifier's last layer (256 inputs + bias).
    assert count(voltage) - count(plain) == 257
    d = describe_preset("paper")
    assert d["parameters"]["critic"] == count(plain) == 483_254_013
    assert d["parameters"]["total"] == 1_243_151_974
    assert d["memory_bytes"]["peak"] == d["memory_bytes"]["gan"] == 16 * d["parameters"]["total"]
    assert d["memory_bytes"]["peak"] < 32e9  # one 32 GB GPU, before activations


def test_shared_layout_outputs_and_separate_layout_keeps_its_weight_names():
    shared = preset("compact", **{**TINY, "critic_layout": "shared", "critic_head_dense": [8]}, use_voltage=True)
    score, q, v = CriticClassifier(shared)(torch.rand(3, 1, 60, 60))
    assert score.shape == (3,) and v.shape == (3,) and torch.allclose(q.norm(dim=1), torch.ones(3))
    _, _, v = CriticClassifier(preset("compact", **TINY, critic_layout="shared"))(torch.rand(2, 1, 60, 60))
    assert v is None
    # The CPU presets keep the three-stack critic, with the weight names checkpoints hold.
    names = set(CriticClassifier(preset("compact", **TINY, use_voltage=True)).state_dict())
    assert {"critic.1.weight", "orientation.1.weight", "voltage.1.weight", "critic.0.0.weight"} <= names


def test_configs_written_before_the_shared_layout_read_as_separate():
    old = preset("compact", **TINY).to_dict()
    del old["critic_layout"], old["critic_head_dense"], old["classifier_dense"]
    assert ModelConfig.from_dict(old).critic_layout == "separate"
    assert ModelConfig.from_dict(preset("paper").to_dict()) == preset("paper")
    assert preset("paper", critic_dense=[512]).critic_layout == "shared"
    with pytest.raises(ValueError, match="critic_layout must be 'shared' or 'separate'"):
        preset("paper", critic_layout="split")
    with pytest.raises(ValueError, match="classifier_dense"):
        preset("paper", classifier_dense=[0])


def test_geometric_and_compact_presets_are_described():
    for name in ("compact", "geometric"):
        d = describe_preset(name, use_voltage=True)
        assert 0 < d["parameters"]["decoder"] < d["parameters"]["total"]
        assert d["memory_bytes"]["peak"] == max(d["memory_bytes"][s] for s in ("cvae", "critic", "gan"))


@pytest.mark.parametrize("layout", ["separate", "shared"])
def test_own_classifier_trunk_is_outside_the_lipschitz_constraint(layout):
    config = preset("compact", **{**TINY, "critic_layout": layout, "critic_head_dense": [8]}, use_voltage=True)
    net = CriticClassifier(config)  # the compact preset's classifier has its own trunk
    assert config.classifier_trunk == "own" and net.classifier_trunk is not None
    bound = {id(p) for m in net.lipschitz_modules() for p in m.parameters()}
    classifier = [*net.classifier_trunk.parameters()]
    classifier += [*(net.classifier.parameters() if layout == "shared" else net.orientation.parameters())]
    assert classifier and not bound & {id(p) for p in classifier}
    assert {id(p) for p in net.trunk.parameters()} <= bound and {id(p) for p in net.critic.parameters()} <= bound
    # The classifier reads its own trunk: changing the critic's leaves its answer alone.
    x = torch.rand(2, 1, 60, 60)
    _, q, v = net(x)
    with torch.no_grad():
        for p in net.trunk.parameters():
            p.mul_(-3)
    score2, q2, v2 = net(x)
    assert torch.equal(q, q2) and torch.equal(v, v2)
    # On a shared trunk everything is bound.
    shared = CriticClassifier(preset("compact", **TINY, classifier_trunk="shared"))
    assert shared.classifier_trunk is None and shared.lipschitz_modules() == [shared]


def test_classifier_trunk_option_is_checked_and_old_configs_share_the_trunk():
    old = preset("compact", **TINY).to_dict()
    del old["classifier_trunk"]
    assert ModelConfig.from_dict(old).classifier_trunk == "shared"  # as they were trained
    assert preset("paper").classifier_trunk == "shared"  # the reference code
    with pytest.raises(ValueError, match="classifier_trunk must be 'shared' or 'own'"):
        preset("compact", classifier_trunk="separate")


def test_kl_pulls_back_a_log_variance_past_its_bound():
    # A raw log-variance thrown far past the bound (one large step) must still
    # feel the KL term's pull; through the soft bound's own derivative it got
    # exp(-40) of it, and Adam could not move it back.
    from kikuchipy_gen.losses import kl_gaussian

    torch.manual_seed(0)
    enc = Encoder(preset("compact"))
    latent = preset("compact").latent_dim
    with torch.no_grad():
        enc.head.bias[latent:] = torch.linspace(-80.0, 60.0, latent)
        enc.head.weight[latent:] = 0.0
    mean, logvar = enc(torch.rand(2, 1, 60, 60), torch.rand(2, 4))
    assert logvar.min() >= -30 and logvar.max() <= 10
    assert torch.isfinite(logvar.exp()).all()
    # Inside (-25, 5) the value is the raw one to within 0.01.
    raw = enc.head.bias[latent:].detach()
    inside = (raw > -25) & (raw < 5)
    assert inside.sum() >= 10
    np.testing.assert_allclose(logvar[0, inside].detach(), raw[inside], atol=0.01)
    kl_gaussian(mean, logvar).backward()
    grad = enc.head.bias.grad[latent:]
    # d KL / d logvar = 0.5 (exp(logvar) - 1): about 11,000 at the upper bound,
    # -0.5 at the lower one: every dimension is pulled towards 0.
    np.testing.assert_allclose(grad, 0.5 * (logvar.detach().exp().mean(0) - 1), rtol=1e-5)
    assert grad[-1] > 1e4 and grad[0] < -0.4


@pytest.mark.parametrize("name", ["geometric", "compact"])
def test_head_norm_keeps_ten_adam_steps_from_throwing_the_latent_mean(name):
    # The GPU trainings' KL fault: the latent mean went from about 1 to 10^4
    # within ten steps. Ten Adam steps at the CPU presets' learning rate that
    # all push the mean the same way reproduce it without the head norm (each
    # dense layer's fan-in multiplies what Adam's sign-sized steps do) and
    # move it by a few units with it. (On in the geometric preset, whose
    # trainings decode part of each batch at z = 0: see its docstring.)
    x, attributes = torch.rand(8, 1, 60, 60), torch.rand(8, 4)

    def largest_mean_after_ten_steps(head_norm: bool) -> float:
        torch.manual_seed(1)
        enc = Encoder(preset(name, encoder_head_norm=head_norm))
        opt = torch.optim.Adam(enc.parameters(), lr=3e-3)
        for _ in range(10):
            mean, _ = enc(x, attributes)
            opt.zero_grad()
            (-mean.sum()).backward()
            opt.step()
        return enc(x, attributes)[0].abs().max().item()

    assert preset("geometric").encoder_head_norm
    assert not any(preset(p).encoder_head_norm for p in ("compact", "paper"))
    assert largest_mean_after_ten_steps(True) < 20
    assert largest_mean_after_ten_steps(False) > 1000


def test_configs_written_before_the_head_norm_load_without_it():
    old = preset("compact", **TINY).to_dict()
    del old["encoder_head_norm"]
    cfg = ModelConfig.from_dict(old)
    assert cfg.encoder_head_norm is False  # the architecture their checkpoints hold
    enc = Encoder(cfg)
    # No weights of its own: a checkpoint loads with or without it.
    assert set(Encoder(preset("compact", **TINY, encoder_head_norm=True)).state_dict()) == set(enc.state_dict())
    with pytest.raises((TypeError, ValueError), match="encoder_head_norm"):
        preset("compact", encoder_head_norm="yes")
