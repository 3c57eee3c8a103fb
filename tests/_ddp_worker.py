"""Launched by torchrun in test_training_resume.py: a two-rank CPU run of a tiny model."""

import sys

import torch
from conftest import TINY  # noqa: E402  (tests/ is on sys.path when run as a script)

from kikuchipy_gen.models import TrainConfig, preset
from kikuchipy_gen.training import Trainer

dataset, out = sys.argv[1], sys.argv[2]
cfg = TrainConfig(
    dataset=dataset,
    out=out,
    model=preset("compact", **TINY),
    device="cpu",
    cvae_epochs=1,
    critic_epochs=1,
    gan_epochs=1,
    max_steps_per_epoch=3,
    critic_every=2,
    sample_grid=False,
    cvae_lr=1e-3,
    checkpoint_every=1000,
    max_val_patterns=64,
)
trainer = Trainer(cfg)
trainer.run(show_progressbar=False)
flat = torch.cat([p.detach().flatten() for p in trainer.decoder.parameters()])
gathered = [torch.zeros_like(flat) for _ in range(trainer.world_size)]
torch.distributed.all_gather(gathered, flat)
same = all(torch.equal(gathered[0], g) for g in gathered)
print(f"rank {trainer.rank}/{trainer.world_size} replicas identical: {same} steps {trainer.state.step}", flush=True)
torch.distributed.destroy_process_group()
