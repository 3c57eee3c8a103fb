"""A training killed at any instant of a checkpoint write resumes, and continues
exactly as the unbroken run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kikuchipy_gen.training import Trainer

from .test_training import _config, _weights

KW = dict(
    cvae_epochs=1,
    critic_epochs=1,
    gan_epochs=1,
    max_steps_per_epoch=4,
    checkpoint_every=2,
    critic_every=3,
    max_val_patterns=32,
)
WORKER = Path(__file__).with_name("_kill_worker.py")


def _killed_run(dataset, out, mode, k):
    config = json.dumps(_config(dataset, out, **KW).to_dict())
    result = subprocess.run(
        [sys.executable, str(WORKER), str(dataset.path), str(out), mode, str(k), config],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=WORKER.parent,
        # As many threads as the unbroken run in this process (one under
        # pytest-xdist): other sums would round differently, and the weights
        # must agree bit for bit.
        env={**os.environ, "TEST_TORCH_THREADS": str(torch.get_num_threads())},
    )
    return result.returncode


@pytest.fixture(scope="module")
def unbroken(local_dataset, tmp_path_factory):
    trainer = Trainer(_config(local_dataset, tmp_path_factory.mktemp("full") / "run", **KW))
    trainer.run(show_progressbar=False)
    return trainer


# Each checkpoint write renames last -> last.old, then last.tmp -> last (the
# first write of a name only the latter). With KW, rename 2 moves the step-0
# 'last' aside while step 2's (CVAE) is complete in last.tmp; renames 12 and
# 18 do the same for step 8 (critic) and step 12 (GAN). Killed right there the
# run has no 'last' at all. "writing" dies with the third checkpoint half
# written (resumed from step 2).
@pytest.mark.parametrize(
    "mode, k, stage", [("rename", 2, "cvae"), ("rename", 12, "critic"), ("rename", 18, "gan"), ("writing", 3, "cvae")]
)
def test_killed_during_a_checkpoint_write_resumes_identically(unbroken, local_dataset, tmp_path, mode, k, stage):
    out = tmp_path / "run"
    assert _killed_run(local_dataset, out, mode, k) == 9
    if mode == "rename":
        assert not (out / "checkpoints" / "last").exists()
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(_config(local_dataset, out, **KW))  # a plain rerun does not overwrite the run
    resumed = Trainer(_config(local_dataset, out, **KW), resume=True)
    assert resumed.state.stage == stage
    resumed.run(show_progressbar=False)
    a, b = _weights(unbroken), _weights(resumed)
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert (out / "checkpoints" / "last" / "model.json").is_file()
    assert not (out / "checkpoints" / "last.tmp").exists() and not (out / "checkpoints" / "last.old").exists()


def test_killed_during_the_first_checkpoint_write(local_dataset, tmp_path):
    # Nothing complete yet: --resume says so, and a plain rerun starts afresh.
    out = tmp_path / "run"
    assert _killed_run(local_dataset, out, "writing", 1) == 9
    with pytest.raises(ValueError, match="start without --resume"):
        Trainer(_config(local_dataset, out, **KW), resume=True)
    trainer = Trainer(_config(local_dataset, out, **KW))
    trainer.run(show_progressbar=False)
    assert trainer.state.stage == "done"


def test_diverging_training_keeps_the_last_finite_checkpoint(local_dataset, tmp_path):
    trainer = Trainer(_config(local_dataset, tmp_path / "run", **{**KW, "checkpoint_every": 1}))
    batches = trainer._batches

    def poisoned(stream, batch_size):
        # From the third batch on the patterns are NaN: the BCE term diverges.
        for i, batch in enumerate(batches(stream, batch_size)):
            if i >= 2:
                batch["pattern"] = torch.full_like(batch["pattern"], float("nan"))
            yield batch

    trainer._batches = poisoned
    with pytest.raises(FloatingPointError, match="bce.* at step 3 .*step 2") as info:
        trainer.run(show_progressbar=False)
    assert "\n" not in str(info.value)
    last = tmp_path / "run" / "checkpoints" / "last"
    from safetensors.torch import load_file

    for net in ("encoder", "decoder", "critic"):
        assert all(torch.isfinite(v).all() for v in load_file(last / f"{net}.safetensors").values())
