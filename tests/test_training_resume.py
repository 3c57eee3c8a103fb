"""Training resumed after an interruption in each stage, and data-parallel training.

Apart from ``test_training.py`` (whose module fixture trains a model for a minute and a
half), so that the two test workers can run them side by side.
"""

import pytest
import torch

from kikuchipy_gen.models import preset
from kikuchipy_gen.training import Trainer

from .conftest import TINY
from .test_training import _config, _weights


class _Interrupted(Trainer):
    def _cvae_step(self, batch):
        if self.state.step == 4:
            raise KeyboardInterrupt
        return super()._cvae_step(batch)


# Steps 0-5 CVAE, 6-11 critic pre-training, 12-17 joint; checkpoints every 3 steps.
KW = dict(cvae_epochs=1, critic_epochs=1, gan_epochs=1, max_steps_per_epoch=6, checkpoint_every=3, critic_every=3)


@pytest.fixture(scope="module")
def full(local_dataset, tmp_path_factory):
    """The unbroken run the interrupted ones must reproduce."""
    trainer = Trainer(_config(local_dataset, tmp_path_factory.mktemp("full") / "run", **KW))
    trainer.run(show_progressbar=False)
    return trainer


def test_resume_continues_identically(full, local_dataset, tmp_path):
    kw = KW
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


def test_checkpoint_of_the_loop_optimiser_resumes_fused(full, local_dataset, tmp_path):
    """A checkpoint written before the fused Adam kernel resumes on it, moments intact, and ends as the unbroken run."""
    broken = _Interrupted(_config(local_dataset, tmp_path / "old", **KW))
    with pytest.raises(KeyboardInterrupt):
        broken.run(show_progressbar=False)
    saved = tmp_path / "old" / "checkpoints" / "last" / "optimizers.pt"
    extra = torch.load(saved, weights_only=True)
    for name in ("opt_cvae", "opt_critic", "opt_gan", "opt_gan_critic"):
        for group in extra[name]["param_groups"]:
            group["fused"] = None  # as torch's default implementation saves it
    torch.save(extra, saved)

    resumed = Trainer(_config(local_dataset, tmp_path / "old", **KW), resume=True)
    opts = _optimizer_states(resumed)
    assert all(g["fused"] is True for opt in opts.values() for g in opt["param_groups"])
    moments = extra["opt_cvae"]["state"]
    assert moments and all(torch.equal(opts["opt_cvae"]["state"][i]["exp_avg"], moments[i]["exp_avg"]) for i in moments)
    resumed.run(show_progressbar=False)
    a, b = _weights(full), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


class _InterruptedInGan(Trainer):
    def _gan_step(self, batch):
        if self.state.step == 16:
            raise KeyboardInterrupt
        return super()._gan_step(batch)


def _optimizer_states(trainer):
    return {
        name: getattr(trainer, name).state_dict() for name in ("opt_cvae", "opt_critic", "opt_gan", "opt_gan_critic")
    }


def _assert_same_tree(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same_tree(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


class _InterruptedInCritic(Trainer):
    def _critic_step(self, batch, fake=None):
        if self.state.stage == "critic" and self.state.step == 10:
            raise KeyboardInterrupt
        return super()._critic_step(batch, fake)


def test_resume_in_critic_stage_continues_identically(full, local_dataset, tmp_path):
    # Critic pre-training is steps 6-11; checkpoints every 3 steps, so the run resumes from
    # step 9 with three critic steps in Adam's moments, which must come back exactly.
    kw = KW
    broken = _InterruptedInCritic(_config(local_dataset, tmp_path / "broken", **kw))
    with pytest.raises(KeyboardInterrupt):
        broken.run(show_progressbar=False)
    resumed = Trainer(_config(local_dataset, tmp_path / "broken", **kw), resume=True)
    assert resumed.state.stage == "critic" and resumed.state.step == 9
    assert resumed.opt_critic.state  # the moments of steps 6-8
    resumed.run(show_progressbar=False)
    a, b = _weights(full), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert full.state.history == resumed.state.history


def test_resume_in_gan_stage_continues_identically(local_dataset, tmp_path):
    # The paper's shared critic layout and the reference code's options, interrupted in the
    # joint stage (steps 13-18; checkpoints every 3 steps, so it resumes from step 15).
    model = preset("compact", **{**TINY, "critic_layout": "shared", "critic_head_dense": [8], "classifier_dense": [8]})
    kw = dict(
        model=model,
        cvae_epochs=1,
        critic_epochs=1,
        gan_epochs=1,
        max_steps_per_epoch=6,
        checkpoint_every=3,
        critic_every=3,
        gan_critic_lr=5e-4,
        critic_loss="sigmoid",
        generator_orientation_target="critic_real",
        orientation_loss="dot",
    )
    full = Trainer(_config(local_dataset, tmp_path / "full", **kw))
    full.run(show_progressbar=False)
    broken = _InterruptedInGan(_config(local_dataset, tmp_path / "broken", **kw))
    with pytest.raises(KeyboardInterrupt):
        broken.run(show_progressbar=False)
    resumed = Trainer(_config(local_dataset, tmp_path / "broken", **kw), resume=True)
    assert resumed.state.stage == "gan" and resumed.state.step == 15
    resumed.run(show_progressbar=False)

    a, b = _weights(full), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    _assert_same_tree(_optimizer_states(full), _optimizer_states(resumed))
    assert full.state.history == resumed.state.history
    # The joint stage's optimisers are new ones at their own rates; the finished stages'
    # Adam moments were released.
    assert full.opt_gan_critic.param_groups[0]["lr"] == 5e-4 and full.opt_gan_critic.state
    assert full.opt_gan.state and not full.opt_cvae.state and not full.opt_critic.state
    gan = [r for r in full.state.history if r["stage"] == "gan"]
    # The sigmoid-bounded critic and generator losses lie in [-1, 1] and [-1, 0].
    assert all(-1 <= r["critic"] <= 1 for r in gan if "critic" in r)
    assert all(-1 <= r["generator"] <= 0 for r in gan if "generator" in r)


def _free_port() -> int:
    # A port the OS just handed out: two suites on one machine do not collide
    # on a fixed one.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        str(_free_port()),
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
