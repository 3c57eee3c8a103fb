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
    trainer = Trainer(_config(local_dataset, out, cvae_epochs=18, critic_epochs=2, gan_epochs=2, sample_grid=True))
    trainer.run(show_progressbar=False)
    return trainer


def _val_rows(trainer, stage):
    return [r for r in trainer.state.history if r["stage"] == stage and "val_bce_per_pixel" in r]


def test_three_stages_learn(trained, local_dataset):
    cvae = _val_rows(trained, "cvae")
    assert len(cvae) == 18
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


@pytest.mark.xfail(
    strict=True,
    reason="the classifier's validation error after 2 critic epochs (8.2 deg; 6.2-8.8 deg over 10 epochs, "
    "measured) is no better than answering the neighbourhood's centre (6.1 deg): it has not learned the "
    "orientations within 8 deg (undertrained, or a bug in the classifier path)",
)
def test_classifier_beats_predicting_the_centre(trained, local_dataset):
    centre = _centre_prediction_deg(local_dataset)
    assert 3.0 < centre < 8.0, centre
    critic = _val_rows(trained, "critic")
    assert critic[-1]["val_classifier_deg"] < 0.8 * centre, (critic[-1]["val_classifier_deg"], centre)


def test_outputs_written(trained):
    out = trained.out
    for name in ("history.csv", "loss_curves.png", "samples/samples.gif"):
        assert (out / name).stat().st_size > 0
    assert len(list((out / "samples").glob("*.png"))) == 22
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


class _Interrupted(Trainer):
    def _cvae_step(self, batch):
        if self.state.step == 4:
            raise KeyboardInterrupt
        return super()._cvae_step(batch)


def test_resume_continues_identically(local_dataset, tmp_path):
    kw = dict(cvae_epochs=2, critic_epochs=1, gan_epochs=1, max_steps_per_epoch=6, checkpoint_every=3, critic_every=3)
    full = Trainer(_config(local_dataset, tmp_path / "full", **kw))
    full.run(show_progressbar=False)

    broken = _Interrupted(_config(local_dataset, tmp_path / "broken", **kw))
    with pytest.raises(KeyboardInterrupt):
        broken.run(show_progressbar=False)
    resumed = Trainer(_config(local_dataset, tmp_path / "broken", **kw), resume=True)
    assert resumed.state.step == 3 and resumed.state.batch == 3  # mid-epoch checkpoint
    resumed.run(show_progressbar=False)

    a, b = _weights(full), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda h: [{k: v for k, v in r.items()} for r in h]
    assert strip(full.state.history) == strip(resumed.state.history)


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


def test_torchrun_data_parallel(local_dataset, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    worker = Path(__file__).with_name("_ddp_worker.py")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        str(worker),
        str(local_dataset.path),
        str(tmp_path / "ddp"),
    ]
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # Both ranks report; their lines may interleave in the shared stdout.
    assert result.stdout.count("replicas identical: True") == 2, result.stdout
    assert "identical: False" not in result.stdout
    assert (tmp_path / "ddp" / "checkpoints" / "last" / "decoder.safetensors").is_file()
    # Started again on the finished run without --resume: every rank refuses
    # at once (none waits in a collective for a rank that has already failed).
    again = subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    )
    assert again.returncode != 0
    assert again.stderr.count("already holds a run") >= 2, again.stderr[-2000:]


@pytest.mark.parametrize("mode", ["clip", "maxnorm"])
def test_lipschitz_constraints(local_dataset, tmp_path, mode):
    from kikuchipy_gen.loader import PatternStream

    trainer = Trainer(
        _config(local_dataset, tmp_path / mode, lipschitz=mode, clip_value=0.02, maxnorm=0.5, critic_lr=1e-1)
    )
    batch = next(trainer._batches(PatternStream(trainer.dataset, "train"), 8))
    trainer._critic_step(batch)
    params = list(trainer.critic.parameters())
    if mode == "clip":
        assert max(p.abs().max().item() for p in params) <= 0.02 + 1e-7
    else:
        convs = [m.weight for m in trainer.critic.modules() if isinstance(m, torch.nn.Conv2d)]
        assert max(w.flatten(1).norm(dim=1).max().item() for w in convs) <= 0.5 + 1e-5
        # Dense layers are left alone, as MaxNorm sits on the conv kernels only.
        assert max(p.abs().max().item() for p in params) > 0.02
