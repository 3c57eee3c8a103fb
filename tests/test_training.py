import json

import numpy as np
import pytest
import torch

from kikuchipy_gen.cli import main
from kikuchipy_gen.models import TrainConfig, preset
from kikuchipy_gen.training import Trainer

from .conftest import TINY


def _config(dataset, out, **kw):
    base = dict(
        dataset=str(dataset.path),
        out=str(out),
        model=preset("compact", **TINY),
        cvae_lr=2e-3,
        critic_lr=1e-3,
        gan_lr=2e-4,
        cvae_batch_size=16,
        gan_batch_size=8,
        critic_batch_size=16,
        checkpoint_every=1000,
        sample_grid=False,
        max_val_patterns=256,
        log_every=1,
    )
    return TrainConfig(**{**base, **kw})


def _weights(trainer):
    return {
        f"{net}.{k}": v.clone()
        for net in ("encoder", "decoder", "critic")
        for k, v in getattr(trainer, net).state_dict().items()
    }


def _mean_pattern_bce(ds):
    train = ds.patterns_array("train")[0].astype(float) / 255
    val = ds.patterns_array("val")[0].astype(float) / 255
    m = train.mean(0).clip(1e-6, 1 - 1e-6)
    return float(-(val * np.log(m) + (1 - val) * np.log(1 - m)).mean())


@pytest.fixture(scope="module")
def trained(local_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    # The classifier has its own trunk (the compact preset's default): on the
    # critic's clipped one it learned nothing (no better than the centre).
    # The CVAE leaves its 0.691 plateau only after about 150 steps, whatever
    # the batch: 18 epochs of 16 reach 0.671 against the mean pattern's
    # 0.691; 12 epochs of 8 (384 steps) take two thirds of the time. The
    # classifier is at 4.0 deg after 5 critic epochs, where 0.8 x the
    # centre's 6.1 deg is the bar (8 gave 3.8).
    trainer = Trainer(
        _config(local_dataset, out, cvae_epochs=12, cvae_batch_size=8, critic_epochs=5, gan_epochs=2, sample_grid=True)
    )
    trainer.run(show_progressbar=False)
    return trainer


def _val_rows(trainer, stage):
    return [r for r in trainer.state.history if r["stage"] == stage and "val_bce_per_pixel" in r]


def test_three_stages_learn(trained, local_dataset):
    cvae = _val_rows(trained, "cvae")
    assert len(cvae) == 12
    baseline = _mean_pattern_bce(local_dataset)  # the best a model ignoring its inputs can do
    first, last = cvae[0]["val_bce_per_pixel"], cvae[-1]["val_bce_per_pixel"]
    assert last < first and last < baseline - 0.01, (first, last, baseline)
    # Critic/classifier pre-training teaches the classifier the orientations.
    critic = _val_rows(trained, "critic")
    assert critic[-1]["val_classifier_deg"] < cvae[-1]["val_classifier_deg"] - 5
    gan = [r for r in trained.state.history if r["stage"] == "gan" and "generator" in r]
    critic_steps = [r for r in trained.state.history if r["stage"] == "gan" and "critic" in r]
    assert gan and critic_steps and len(gan) > 5 * len(critic_steps)
    assert trained.state.stage == "done"


def _centre_prediction_deg(dataset):
    """Mean disorientation (deg) of the validation orientations from the neighbourhood's centre.

    What a classifier that ignores its input and answers the centre scores:
    all of ``local_dataset`` lies within 8 deg of one orientation, so "improves
    by 5 deg" is no evidence of learning; beating this is.
    """
    from orix.quaternion import Orientation, Rotation

    from kikuchipy_gen.phases import get_point_group

    sym = get_point_group("m-3m").proper_subgroup
    val = Orientation(dataset.rotations("val").data.reshape(-1, 4), symmetry=sym)
    centre = Rotation.from_axes_angles([1, 2, 3], 30, degrees=True)  # conftest.local_dataset's centre
    c = Orientation(np.repeat(centre.data, val.size, axis=0), symmetry=sym)
    return float(np.rad2deg(val.angle_with(c)).mean())


def test_classifier_beats_predicting_the_centre(trained, local_dataset):
    centre = _centre_prediction_deg(local_dataset)
    assert 3.0 < centre < 8.0, centre
    critic = _val_rows(trained, "critic")
    assert critic[-1]["val_classifier_deg"] < 0.8 * centre, (critic[-1]["val_classifier_deg"], centre)


def test_outputs_written(trained):
    out = trained.out
    for name in ("history.csv", "loss_curves.png", "samples/samples.gif"):
        assert (out / name).stat().st_size > 0
    assert len(list((out / "samples").glob("*.png"))) == 12 + 5 + 2  # one per epoch of each stage
    for ckpt in ("last", "best"):
        files = {p.name for p in (out / "checkpoints" / ckpt).iterdir()}
        assert {
            "encoder.safetensors",
            "decoder.safetensors",
            "critic.safetensors",
            "optimizers.pt",
            "state.json",
            "config.json",
            "dataset.json",
            "history.csv",
        } <= files
    assert not list((out / "checkpoints").glob("*.tmp"))
    provenance = json.loads((out / "checkpoints" / "last" / "dataset.json").read_text())
    assert provenance["source"]["kind"] == "kikuchipy-nickel"


def test_checkpoint_reloads_to_identical_outputs(trained):
    reloaded = Trainer(trained.config, resume=True)
    z, attr = torch.randn(4, 16), torch.rand(4, 4)
    trained.decoder.eval(), reloaded.decoder.eval()
    with torch.no_grad():
        assert torch.equal(trained.decoder(z, attr), reloaded.decoder(z, attr))
    assert reloaded.state.history == trained.state.history
    assert reloaded.state.step == trained.state.step


def test_voltage_attribute_run(kinematical_dataset, tmp_path):
    model = preset("compact", **TINY, use_voltage=True, n_attributes=5)
    cfg = _config(
        kinematical_dataset,
        tmp_path / "v",
        model=model,
        cvae_epochs=1,
        critic_epochs=1,
        gan_epochs=1,
        max_steps_per_epoch=4,
        critic_every=2,
        mixed_precision=True,
        log_every=2,
    )
    trainer = Trainer(cfg)
    trainer.run(show_progressbar=False)
    assert any("voltage_mse_kv2" in r for r in trainer.state.history)
    step_rows = [r for r in trainer.state.history if "loss" in r]
    assert [r["step"] for r in step_rows] == [2, 4, 6, 8, 10, 12]
    with pytest.raises(ValueError, match="use_voltage"):
        Trainer(_config(kinematical_dataset, tmp_path / "nv"))
    # Validation takes an equal share of every voltage, not the first ones only
    # (the split is stored voltage-major), and the same patterns every time.
    trainer.config.max_val_patterns = 10
    seen = [b["attributes"][:, 4] * 30 for b in trainer._validation_batches("val")]
    volts = torch.cat(seen)
    assert sorted(volts.unique().round().tolist()) == [10.0, 30.0]
    assert (volts.round() == 10).sum() == (volts.round() == 30).sum() == 5
    again = torch.cat([b["pattern"] for b in trainer._validation_batches("val")])
    assert torch.equal(again, torch.cat([b["pattern"] for b in trainer._validation_batches("val")]))


def test_training_bad_input(local_dataset, kinematical_dataset, tmp_path, trained):
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(trained.config)
    with pytest.raises(ValueError, match="No checkpoint"):
        Trainer(_config(local_dataset, tmp_path / "fresh"), resume=True)
    with pytest.raises(ValueError, match="pattern_shape"):
        Trainer(_config(local_dataset, tmp_path / "s", model=preset("compact", **TINY, pattern_shape=(40, 40))))
    other = _config(local_dataset, trained.out, model=preset("compact", **{**TINY, "latent_dim": 8}))
    with pytest.raises(ValueError, match="model config differs"):
        Trainer(other, resume=True)


def test_train_command(local_dataset, tmp_path, capsys):
    cfg = _config(local_dataset, tmp_path / "cli", cvae_epochs=1, critic_epochs=1, gan_epochs=1, max_steps_per_epoch=2)
    f = tmp_path / "cfg.json"
    f.write_text(json.dumps(cfg.to_dict()))
    assert main(["train", str(f), "--no-progress"]) == 0
    assert "Finished 6 steps" in capsys.readouterr().out
    assert main(["train", str(f), "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", str(f), "--no-progress", "--resume"]) == 0


@pytest.mark.parametrize("mode", ["clip", "maxnorm"])
def test_lipschitz_constraints(local_dataset, tmp_path, mode):
    from kikuchipy_gen.loader import PatternStream

    trainer = Trainer(
        _config(local_dataset, tmp_path / mode, lipschitz=mode, clip_value=0.02, maxnorm=0.5, critic_lr=1e-1)
    )
    batch = next(trainer._batches(PatternStream(trainer.dataset, "train"), 8))
    trainer._critic_step(batch)
    # The critic's own modules are bound; the classifier's own trunk and head
    # (the compact preset's classifier_trunk="own") are not.
    critic = trainer.critic
    bound = [p for m in critic.lipschitz_modules() for p in m.parameters()]
    free = [*critic.classifier_trunk.parameters(), *critic.orientation.parameters()]
    if mode == "clip":
        assert max(p.abs().max().item() for p in bound) <= 0.02 + 1e-7
        assert max(p.abs().max().item() for p in free) > 0.02
    else:
        convs = [m.weight for b in critic.lipschitz_modules() for m in b.modules() if isinstance(m, torch.nn.Conv2d)]
        assert max(w.flatten(1).norm(dim=1).max().item() for w in convs) <= 0.5 + 1e-5
        # Dense layers are left alone, as MaxNorm sits on the conv kernels only.
        assert max(p.abs().max().item() for p in bound) > 0.02
        free_convs = [m.weight for m in critic.classifier_trunk.modules() if isinstance(m, torch.nn.Conv2d)]
        assert max(w.flatten(1).norm(dim=1).max().item() for w in free_convs) > 0.5


def test_critic_keeps_its_pretraining_optimizer_when_asked(local_dataset, tmp_path):
    kw = dict(cvae_epochs=1, critic_epochs=1, gan_epochs=1, max_steps_per_epoch=3, critic_every=2)
    trainer = Trainer(_config(local_dataset, tmp_path / "p", gan_critic_optimizer="pretraining", **kw))
    before = None

    def record(stage):
        nonlocal before
        if stage == "gan":
            before = {k: v["step"].item() for k, v in trainer.opt_critic.state_dict()["state"].items()}

    original = trainer._finished_optimizers
    trainer._finished_optimizers = lambda stage: (record(stage), original(stage))[1]
    trainer.run(show_progressbar=False)
    after = {k: v["step"].item() for k, v in trainer.opt_critic.state_dict()["state"].items()}
    n_critic = len([r for r in trainer.state.history if r["stage"] == "gan" and "critic" in r])
    assert n_critic == 2 and before and all(after[k] == before[k] + n_critic for k in before)
    assert not trainer.opt_gan_critic.state


def test_generator_orientation_target_is_the_classifier_reading_of_the_real_pattern(local_dataset, tmp_path):
    from kikuchipy_gen.loader import PatternStream

    for target in ("truth", "critic_real"):
        trainer = Trainer(_config(local_dataset, tmp_path / target, generator_orientation_target=target))
        batch = next(trainer._batches(PatternStream(trainer.dataset, "train"), 8))
        seen = []
        trainer._orientation_loss = lambda q, t, seen=seen: (seen.append(t), (q - t).abs().mean())[1]
        trainer.state.step = 1  # a generator step
        with torch.no_grad():
            _, q_real, _ = trainer.critic(batch["pattern"])
        trainer._gan_step(batch)
        expected = q_real if target == "critic_real" else batch["attributes"][:, :4]
        assert torch.allclose(seen[0].float(), expected.float()), target


@pytest.mark.parametrize("stage", ["cvae", "gan"])
def test_latent_dropout_decodes_its_share_of_the_batch_at_z0(local_dataset, tmp_path, stage):
    from kikuchipy_gen.loader import PatternStream

    zero_rows, encoder_moved = {}, {}
    for p in (0.0, 0.5, 1.0):
        # kl_weight 0: with every row at z = 0 the encoder then gets no gradient at all.
        trainer = Trainer(_config(local_dataset, tmp_path / f"{stage}{p}", latent_dropout=p, kl_weight=0.0))
        batch = next(trainer._batches(PatternStream(trainer.dataset, "train"), 64))
        seen = []
        trainer.decoder.register_forward_pre_hook(lambda _, args, seen=seen: seen.append(args[0].detach()))
        before = [w.detach().clone() for w in trainer.encoder.parameters()]
        trainer.state.step = 1  # in the joint stage, a generator step
        (trainer._cvae_step if stage == "cvae" else trainer._gan_step)(batch)
        zero_rows[p] = int((seen[0] == 0).all(dim=1).sum())
        encoder_moved[p] = any(not torch.equal(b, w) for b, w in zip(before, trainer.encoder.parameters()))
    assert zero_rows[0.0] == 0 and zero_rows[1.0] == 64
    assert 16 <= zero_rows[0.5] <= 48, zero_rows
    assert encoder_moved[0.0] and encoder_moved[0.5] and not encoder_moved[1.0]


def test_latent_dropout_bad_input():
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="latent_dropout"):
            TrainConfig(latent_dropout=bad)
    with pytest.raises(TypeError, match="latent_dropout"):
        TrainConfig(latent_dropout="0.5")


def test_validation_measures_the_generation_path_at_z0(local_dataset, tmp_path):
    trainer = Trainer(_config(local_dataset, tmp_path / "v"))
    forward = trainer.encoder.forward
    val = {}
    for shift in (0.0, 10.0):
        # The encoder's mean replaced by z = shift: only the first metric may follow it.
        trainer.encoder.forward = lambda x, a, s=shift: tuple(torch.zeros_like(t) + s for t in forward(x, a))
        val[shift] = trainer.validate()
    assert val[0.0]["bce_per_pixel"] == pytest.approx(val[0.0]["bce_per_pixel_z0"], rel=1e-6)
    assert val[10.0]["bce_per_pixel_z0"] == pytest.approx(val[0.0]["bce_per_pixel_z0"], rel=1e-6)
    assert abs(val[10.0]["bce_per_pixel"] - val[10.0]["bce_per_pixel_z0"]) > 1e-5, val


def test_best_checkpoint_is_judged_by_what_the_model_generates(local_dataset, tmp_path):
    # A decoder that leans on z can reconstruct better through the encoder and
    # generate worse at z = 0: the second epoch here is not the best.
    trainer = Trainer(_config(local_dataset, tmp_path / "b"))
    epochs = iter([{"bce_per_pixel": 0.6, "bce_per_pixel_z0": 0.5}, {"bce_per_pixel": 0.4, "bce_per_pixel_z0": 0.7}])
    trainer.validate = lambda: next(epochs)
    saved = []
    trainer.save_checkpoint = lambda name="last": saved.append(name)
    trainer._end_epoch("cvae")
    trainer._end_epoch("cvae")
    assert saved == ["best", "last", "last"] and trainer.state.best_val == 0.5


def test_dot_orientation_loss_has_the_reference_factor(local_dataset, tmp_path):
    from kikuchipy_gen.loader import PatternStream

    values = {}
    for scale in (1.0, 1e4):
        trainer = Trainer(_config(local_dataset, tmp_path / str(scale), orientation_loss="dot", dot_scale=scale))
        batch = next(trainer._batches(PatternStream(trainer.dataset, "train"), 8))
        values[scale] = trainer._critic_step(batch)["orientation"]
    assert values[1e4] == pytest.approx(1e4 * values[1.0], rel=1e-5)
    assert TrainConfig().dot_scale == 1e4


@pytest.mark.parametrize(("capability", "warned"), [("AVX2", True), ("AVX512", False)])
def test_bf16_on_a_cpu_without_avx512_is_warned_about(local_dataset, tmp_path, monkeypatch, caplog, capability, warned):
    """bf16 autocast is emulated on AVX2 CPUs (5-8x slower than fp32 there): the log says so, once, at set-up,
    and "auto" then lays the networks out contiguous, where torch's emulated convolutions are least slow."""
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    with caplog.at_level("WARNING", logger="kikuchipy_gen.training"):
        bf16 = Trainer(_config(local_dataset, tmp_path / "bf16", mixed_precision=True, device="cpu"))
        fp32 = Trainer(_config(local_dataset, tmp_path / "fp32", mixed_precision=False, device="cpu"))
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "bf16" in r.getMessage()]
    assert len(messages) == (1 if warned else 0)
    if warned:
        assert "AVX2" in messages[0] and "mixed_precision = false" in messages[0]

    def nhwc(trainer):
        w = next(
            m.weight for m in trainer.encoder.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[1] > 1
        )
        return w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()

    assert nhwc(fp32) and nhwc(bf16) == (not warned)
    # Asked for by name, channels-last is kept.
    forced = Trainer(
        _config(local_dataset, tmp_path / "forced", mixed_precision=True, device="cpu", memory_format="channels_last")
    )
    assert nhwc(forced)


@pytest.mark.parametrize("memory_format, nhwc", [("auto", True), ("channels_last", True), ("contiguous", False)])
def test_memory_format_lays_out_the_conv_nets_and_survives_a_checkpoint(local_dataset, tmp_path, memory_format, nhwc):
    cfg = _config(local_dataset, tmp_path / memory_format, memory_format=memory_format, device="cpu", cvae_epochs=1)
    cfg.critic_epochs = cfg.gan_epochs = 0
    cfg.max_steps_per_epoch = 2
    trainer = Trainer(cfg)
    # A weight with one input channel or a 1x1 kernel is laid out both ways alike.
    convs = [
        m.weight
        for net in (trainer.encoder, trainer.critic)
        for m in net.modules()
        if isinstance(m, torch.nn.Conv2d) and m.weight.shape[1] > 1 and m.weight.shape[2] > 1
    ]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) == nhwc for w in convs)
    # The exported decoder keeps torch's layout whatever the choice.
    assert all(p.is_contiguous() for p in trainer.decoder.parameters())
    trainer.run(show_progressbar=False)
    assert all(np.isfinite(r["loss"]) for r in trainer.state.history if "loss" in r)
    reloaded = Trainer(cfg, resume=True)
    for net in ("encoder", "critic"):
        mine, theirs = getattr(trainer, net).state_dict(), getattr(reloaded, net).state_dict()
        assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    w = next(m.weight for m in reloaded.encoder.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[1] > 1)
    assert w.is_contiguous(memory_format=torch.channels_last) == nhwc


def test_memory_format_keeps_narrow_convolutions_contiguous_on_a_cpu(local_dataset, tmp_path):
    # A 1x1 stride-2 convolution from 3-7 channels hung in torch 2.13's
    # channels-last CPU backward (the docs' tiny example has a 4-channel stem).
    narrow = preset("compact", **{**TINY, "stem_channels": 4, "blocks": [(8, 2), (16, 2)]})
    cfg = _config(local_dataset, tmp_path / "auto", model=narrow, device="cpu", cvae_epochs=1, critic_epochs=0)
    cfg.gan_epochs, cfg.max_steps_per_epoch = 0, 2
    trainer = Trainer(cfg)
    assert trainer.encoder.blocks[0].shortcut.in_channels == 4
    conv = trainer.encoder.stem[2].weight  # 4 -> 4 channels, 3x3: the layouts differ
    assert conv.shape == (4, 4, 3, 3) and not conv.is_contiguous(memory_format=torch.channels_last)
    trainer.run(show_progressbar=False)  # returns: the layout that hung is not used
    assert trainer.state.step == 2
    with pytest.raises(ValueError, match=r"channels_last.*\[4\] input channels"):
        Trainer(_config(local_dataset, tmp_path / "cl", model=narrow, device="cpu", memory_format="channels_last"))
