"""Three-stage training of the EBSD-CVAE/GAN.

1. ``cvae``: encoder + decoder with BCE reconstruction and the adaptive KL term.
2. ``critic``: critic + classifier pre-trained on real patterns (attribute
   regression) against fakes from the frozen stage-1 decoder.
3. ``gan``: joint training; the critic takes one step in ``critic_every``,
   the generator (decoder, and encoder unless ``update_encoder`` is off) the
   others, with the classifier's attribute losses and the adversarial term.

Each stage has its own Adam optimiser (``opt_cvae``, ``opt_critic``, and for
the joint stage ``opt_gan`` and ``opt_gan_critic``, new ones as in the
reference code); when a stage begins, the moments of optimisers that no later
step uses are released, so the peak memory is the weights, their gradients
and the current stage's Adam moments.

Everything a run needs to continue lives in ``<out>/checkpoints/last``:
weights (safetensors), optimiser and RNG state (``torch.load`` with
``weights_only=True``) and a JSON state. Resuming continues exactly where the
checkpoint was written. Every checkpoint folder is also a model bundle
(:mod:`kikuchipy_gen.models.bundle`), so
:meth:`kikuchipy_gen.MLMasterPattern.load` reads ``best``, ``cvae_end``,
``gan_end`` or ``last`` directly.

Launched by ``torchrun``, the networks train data-parallel through
:class:`torch.nn.parallel.DistributedDataParallel`, each rank on its shard.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from kikuchipy_gen.attributes import VOLTAGE_SCALE, attribute_tensor, symmetry_quaternions
from kikuchipy_gen.dataset import EBSDDataset
from kikuchipy_gen.loader import PatternStream
from kikuchipy_gen.losses import (
    AdaptiveKL,
    bce_reconstruction,
    disorientation_loss,
    dot_orientation_loss,
    kl_gaussian,
    voltage_mse,
    wasserstein_critic,
    wasserstein_generator,
)
from kikuchipy_gen.models import CriticClassifier, Encoder, TrainConfig
from kikuchipy_gen.models.bundle import ModelBundle, build_decoder, info_from_dataset

__all__ = ["STAGES", "Trainer", "export_checkpoint", "train"]

_logger = logging.getLogger(__name__)

STAGES = ("cvae", "critic", "gan")
# Shuffling seeds: epoch e of stage s reshuffles with s * _STAGE_SEED_STRIDE + e,
# so no two (stage, epoch) pairs of a run see the same order.
_STAGE_SEED_STRIDE = 10_000
_HISTORY_PLOT_EVERY_S = 60.0
# Written last into a checkpoint's temporary folder: the folder is whole.
_COMPLETE = "COMPLETE"


@dataclass
class _State:
    stage: str = "cvae"
    epoch: int = 0
    batch: int = 0  # batches done in the current epoch
    step: int = 0  # optimiser steps over the whole run
    best_val: float = math.inf
    history: list[dict[str, Any]] = field(default_factory=list)


def train(config: TrainConfig, resume: bool = False, show_progressbar: bool = True) -> Trainer:
    """Run (or continue) all three stages; returns the finished trainer.

    Parameters
    ----------
    config
        Training configuration; ``config.dataset`` is a dataset path.
    resume
        Continue from ``<config.out>/checkpoints/last``.
    show_progressbar
        Show progress bars with ETA.

    Returns
    -------
    Trainer

    Examples
    --------
    >>> from kikuchipy_gen.models import TrainConfig, preset
    >>> from kikuchipy_gen.training import train
    >>> config = TrainConfig(dataset="runs/ni_n30.zarr", out="runs/cvae", model=preset("compact"))
    >>> trainer = train(config)  # doctest: +SKIP
    >>> trainer = train(config, resume=True)  # after an interruption  # doctest: +SKIP
    """
    trainer = Trainer(config, resume=resume)
    trainer.run(show_progressbar=show_progressbar)
    return trainer


class Trainer:
    """Holds the networks, optimisers and state of one training run.

    Parameters
    ----------
    config
        Training configuration.
    resume
        Load ``<out>/checkpoints/last`` instead of starting anew.

    Examples
    --------
    Two steps per epoch of each stage on :func:`~kikuchipy_gen.data.tiny_dataset`:

    >>> import tempfile
    >>> from kikuchipy_gen.data import tiny_dataset
    >>> from kikuchipy_gen.models import TrainConfig, preset
    >>> from kikuchipy_gen.training import Trainer
    >>> model = preset("geometric", texture_size=21)
    >>> data = str(tiny_dataset().path)
    >>> epochs = dict(cvae_epochs=1, critic_epochs=1, gan_epochs=1, max_steps_per_epoch=2, sample_grid=False)
    >>> cfg = TrainConfig(dataset=data, out=tempfile.mkdtemp(), model=model, **epochs)
    >>> trainer = Trainer(cfg)
    >>> trainer.run(show_progressbar=False)
    >>> trainer.state.stage, trainer.state.step
    ('done', 6)
    """

    def __init__(self, config: TrainConfig, resume: bool = False) -> None:
        self.config = config
        self.out = Path(config.out)
        # Checked on every rank before the process group forms: a refusal on
        # one rank alone would leave the others waiting in a collective.
        if not resume and _find_checkpoint(self.out / "checkpoints" / "last") is not None:
            raise FileExistsError(
                f"{str(self.out)!r} already holds a run; pass --resume to continue it or choose --out"
            )
        self.dataset = EBSDDataset(config.dataset)
        m = config.model
        if tuple(m.pattern_shape) != self.dataset.pattern_shape:
            raise ValueError(
                f"Model pattern_shape {tuple(m.pattern_shape)} differs from the dataset's {self.dataset.pattern_shape}"
            )
        if len(self.dataset.energies) > 1 and not m.use_voltage:
            raise ValueError(
                f"The dataset has {len(self.dataset.energies)} energies; set use_voltage=True "
                "to condition on the voltage"
            )
        self.rank, self.world_size = _init_distributed(config.device)
        self.device = _device(config.device, self.world_size > 1)
        emulated_bf16 = config.mixed_precision and self.device.type == "cpu" and not _fast_cpu_bf16()
        if emulated_bf16:
            _logger.warning(
                "mixed_precision=True on a CPU without AVX-512 (torch's capability: %s): bf16 autocast "
                "is emulated there and runs several times slower than fp32 (a step 5-8x slower on a 2-core "
                "AVX2 AMD EPYC, benchmarks/training_throughput.py); set mixed_precision = false",
                torch.backends.cpu.get_cpu_capability(),
            )
        self.point_group = self.dataset.phase.point_group
        self.symmetry = symmetry_quaternions(self.point_group).to(self.device, torch.float32)
        self.kl_coefficient = AdaptiveKL(**config.kl_schedule)

        # The run draws from its own random stream (seeded here, saved in
        # checkpoints): a notebook's global torch RNG is left as it was.
        with self._own_rng(None):
            torch.manual_seed(config.seed)
            self.encoder = Encoder(m).to(self.device)
            self.decoder = build_decoder(m, self.dataset.detector, self.point_group).to(self.device)
            self.critic = CriticClassifier(m).to(self.device)
            self._rng_state = torch.get_rng_state()
        if _channels_last(config.memory_format, self.device, (self.encoder, self.critic), emulated_bf16):
            # Before the optimisers and any checkpoint: Adam's moments and
            # loaded weights take the parameters' layout.
            # The encoder and critic only: the decoder is exported, and the
            # geometric one's 4-D parameter is a texture, not a convolution.
            for net in (self.encoder, self.critic):
                net.to(memory_format=torch.channels_last)
        # The training steps call these; under torchrun they are the
        # DistributedDataParallel wrappers, which average gradients across
        # ranks. Validation and figures call the plain modules (rank 0 alone
        # may run them, and they must take part in no collective).
        self._encoder, self._decoder, self._critic = (
            (_data_parallel(net, self.device) for net in (self.encoder, self.decoder, self.critic))
            if self.world_size > 1
            else (self.encoder, self.decoder, self.critic)
        )
        betas = (config.adam_beta1, 0.999)
        self.opt_cvae = _adam(self._generator_params(True), config.cvae_lr, betas, self.device)
        self.opt_critic = _adam(self.critic.parameters(), config.critic_lr, betas, self.device)
        self.opt_gan = _adam(self._generator_params(config.update_encoder), config.gan_lr, betas, self.device)
        self.opt_gan_critic = _adam(self.critic.parameters(), config.gan_critic_lr, betas, self.device)
        self.state = _State()
        self._running = False
        self._last_saved_step: int | None = None
        self._history_plotted_at = -math.inf
        if resume:
            self.load_checkpoint(self.out / "checkpoints" / "last")

    # ------------------------------------------------------------------ run
    def run(self, show_progressbar: bool = True) -> None:
        """Run the remaining epochs of every stage.

        Parameters
        ----------
        show_progressbar
            Show a progress bar per epoch (rank 0 only).

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.data import tiny_dataset
        >>> from kikuchipy_gen.models import TrainConfig, preset
        >>> from kikuchipy_gen.training import Trainer
        >>> model = preset("geometric", texture_size=21)
        >>> data = str(tiny_dataset().path)
        >>> epochs = dict(cvae_epochs=1, critic_epochs=1, gan_epochs=1, max_steps_per_epoch=2, sample_grid=False)
        >>> cfg = TrainConfig(dataset=data, out=tempfile.mkdtemp(), model=model, **epochs)
        >>> trainer = Trainer(cfg)
        >>> trainer.run(show_progressbar=False)
        >>> [row["stage"] for row in trainer.state.history if "val_bce_per_pixel" in row]
        ['cvae', 'critic', 'gan']
        """
        with self._own_rng(self._rng_state):
            self._running = True
            try:
                if self._last_saved_step is None or not (self.out / "checkpoints" / "last").is_dir():
                    # Before any step: an interruption from here on always
                    # leaves a run that --resume continues.
                    self.save_checkpoint()
                self._run(show_progressbar)
            finally:
                self._running = False
                self._rng_state = torch.get_rng_state()

    @contextlib.contextmanager
    def _own_rng(self, state: torch.Tensor | None) -> Iterator[None]:
        """Fork torch's CPU (and this CUDA device's) RNG; start from ``state`` when given."""
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if state is not None:
                torch.set_rng_state(state)
            yield

    def _run(self, show_progressbar: bool) -> None:
        show_progressbar = show_progressbar and self.rank == 0
        epochs = {"cvae": self.config.cvae_epochs, "critic": self.config.critic_epochs, "gan": self.config.gan_epochs}
        batch_sizes = {
            "cvae": self.config.cvae_batch_size,
            "critic": self.config.critic_batch_size,
            "gan": self.config.gan_batch_size,
        }
        for stage in STAGES[STAGES.index(self.state.stage) if self.state.stage in STAGES else len(STAGES) :]:
            self.state.stage = stage
            for optimizer in self._finished_optimizers(stage):
                optimizer.state.clear()  # never stepped again: release its Adam moments
            _logger.info(
                "Stage %s: epoch %d of %d, step %d", stage, self.state.epoch + 1, epochs[stage], self.state.step
            )
            stream = PatternStream(
                self.dataset, "train", seed=self.config.seed, rank=self.rank, world_size=self.world_size
            )
            while self.state.epoch < epochs[stage]:
                stream.set_epoch(STAGES.index(stage) * _STAGE_SEED_STRIDE + self.state.epoch)
                n_batches = math.ceil(len(stream) / batch_sizes[stage])
                if self.config.max_steps_per_epoch:
                    n_batches = min(n_batches, self.config.max_steps_per_epoch)
                if self.world_size > 1:
                    # Shards may differ by a chunk; every rank must take the same steps.
                    count = torch.tensor(n_batches)
                    torch.distributed.all_reduce(count, op=torch.distributed.ReduceOp.MIN)
                    n_batches = int(count)
                desc = f"{stage} epoch {self.state.epoch + 1}/{epochs[stage]}"
                bar = tqdm(total=n_batches, initial=self.state.batch, desc=desc, disable=not show_progressbar)
                for i, batch in enumerate(self._batches(stream, batch_sizes[stage])):
                    if i >= n_batches:
                        break
                    if i < self.state.batch:
                        continue  # consumed before the checkpoint we resumed from
                    losses = getattr(self, f"_{stage}_step")(batch)
                    self.state.batch = i + 1
                    self.state.step += 1
                    if self.state.step % self.config.log_every == 0:
                        self.state.history.append(
                            {"stage": stage, "epoch": self.state.epoch, "step": self.state.step, **losses}
                        )
                    bar.set_postfix(
                        {k: f"{v:.4g}" for k, v in losses.items() if k in ("bce", "kl", "critic", "orientation_deg")}
                    )
                    bar.update()
                    if self.state.step % self.config.checkpoint_every == 0:
                        self.save_checkpoint()
                bar.close()
                self._end_epoch(stage, last_of_stage=self.state.epoch + 1 >= epochs[stage])
            if stage != "critic" and epochs[stage] > 0:
                # The model as each generator stage left it: the paper compares
                # the CVAE with the CVAE/GAN (Table 1).
                self.save_checkpoint(f"{stage}_end")
            self.state.epoch, self.state.batch = 0, 0
        self.state.stage = "done"
        self.save_checkpoint()

    def _end_epoch(self, stage: str, last_of_stage: bool = True) -> None:
        val = self.validate()
        self.state.history.append(
            {
                "stage": stage,
                "epoch": self.state.epoch,
                "step": self.state.step,
                **{f"val_{k}": v for k, v in val.items()},
            }
        )
        _logger.info(
            "%s epoch %d: validation %s", stage, self.state.epoch + 1, ", ".join(f"{k} {v:.4g}" for k, v in val.items())
        )
        # The best model is judged by what it generates, at z = 0, not by its
        # reconstructions through the encoder: a decoder that leans on z can
        # reconstruct better and generate worse.
        if stage != "critic" and val["bce_per_pixel_z0"] < self.state.best_val:
            self.state.best_val = val["bce_per_pixel_z0"]
            self.save_checkpoint("best")
        self.state.epoch += 1
        self.state.batch = 0
        self.save_checkpoint()
        if self.config.sample_grid and self.rank == 0:
            from kikuchipy_gen.training_plots import plot_history, save_sample_grid

            save_sample_grid(
                *self.sample_patterns(), self.out / "samples" / f"{self.state.step:07d}_{stage}{self.state.epoch}.png"
            )
            # Drawing the curves costs about half a second: with short epochs
            # (tests, tiny runs) it would take a tenth of the time, so it is
            # redrawn at most once a minute and at the end of every stage.
            now = time.monotonic()
            if last_of_stage or now - self._history_plotted_at >= _HISTORY_PLOT_EVERY_S:
                plot_history(self.state.history, self.out / "loss_curves.png")
                self._history_plotted_at = now

    # ---------------------------------------------------------------- steps
    def _cvae_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        self._train_mode(generator=True, critic=False)
        x, attr = batch["pattern"], batch["attributes"]
        with self._autocast():
            mean, logvar = self._encoder(x, attr)
            z = self._latent_dropout(mean + torch.randn_like(mean) * (0.5 * logvar).exp())
            logits = self._decoder(z, attr)
        bce = bce_reconstruction(logits, x, self.config.bce_reduction)
        kl = kl_gaussian(mean.float(), logvar.float())
        k = self.kl_coefficient(kl.item())
        loss = self.config.alpha_rec * bce + self.config.kl_weight * k * kl
        out = {
            "loss": loss.item(),
            "bce": bce.item(),
            "kl": kl.item(),
            "kl_coefficient": k,
            "bce_per_pixel": bce.item() / (x[0].numel() if self.config.bce_reduction == "sum" else 1),
        }
        self._update(self.opt_cvae, loss, out)
        return out

    def _critic_step(self, batch: dict[str, torch.Tensor], fake: torch.Tensor | None = None) -> dict[str, float]:
        self._train_mode(generator=False, critic=True)
        x, attr = batch["pattern"], batch["attributes"]
        if fake is None:
            with torch.no_grad(), self._autocast():
                z = torch.randn(len(x), self.config.model.latent_dim, device=self.device)
                fake = torch.sigmoid(self._decoder(z, attr).float())
        with self._autocast():
            # Real and fake in one forward pass: a DistributedDataParallel
            # module takes one forward per backward. The critic has no batch
            # statistics, so this equals two separate passes.
            score, q_real, v_real = self._critic(torch.cat([x, fake.detach().to(x.dtype)]))
            score_real, score_fake = score[: len(x)], score[len(x) :]
            q_real = q_real[: len(x)]
            v_real = None if v_real is None else v_real[: len(x)]
        orientation = self._orientation_loss(q_real, attr[:, :4])
        adversarial = wasserstein_critic(
            score_real.float(), score_fake.float(), bounded=self.config.critic_loss == "sigmoid"
        )
        loss = self.config.alpha_orientation * orientation + self.config.alpha_critic * adversarial
        out = {"critic": adversarial.item(), "orientation": orientation.item()}
        if v_real is not None:
            voltage = voltage_mse(v_real, attr[:, 4])
            loss = loss + self.config.alpha_voltage * voltage
            out["voltage_mse_kv2"] = voltage.item() * VOLTAGE_SCALE**2
        self._update(self._critic_optimizer(), loss, out)
        self._lipschitz()
        if self.config.orientation_loss == "disorientation":
            out["orientation_deg"] = math.degrees(orientation.item())
        return {"loss": loss.item(), **out}

    def _gan_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        x, attr = batch["pattern"], batch["attributes"]
        if self.state.step % self.config.critic_every == 0:
            self._train_mode(generator=False, critic=True)
            with torch.no_grad(), self._autocast():
                mean, logvar = self._encoder(x, attr)
                z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
                fake = torch.sigmoid(self._decoder(z, attr).float())
            return self._critic_step(batch, fake)
        self._train_mode(generator=True, critic=False)
        with self._autocast():
            mean, logvar = self._encoder(x, attr)
            z = self._latent_dropout(mean + torch.randn_like(mean) * (0.5 * logvar).exp())
            logits = self._decoder(z, attr)
            score_fake, q_fake, v_fake = self._critic(torch.sigmoid(logits.float()))
        bce = bce_reconstruction(logits, x, self.config.bce_reduction)
        kl = kl_gaussian(mean.float(), logvar.float())
        k = self.kl_coefficient(kl.item())
        target = attr[:, :4]
        if self.config.generator_orientation_target == "critic_real":
            # The reference code's target: the classifier's reading of the real
            # pattern, C(real), instead of the orientation the pattern was made at.
            with torch.no_grad(), self._autocast():
                _, target, _ = self.critic(x)  # the plain module: no DDP forward without a backward
        orientation = self._orientation_loss(q_fake, target)
        adversarial = wasserstein_generator(score_fake.float(), bounded=self.config.critic_loss == "sigmoid")
        loss = (
            self.config.alpha_rec * bce
            + self.config.kl_weight * k * kl
            + self.config.alpha_orientation * orientation
            + self.config.alpha_adversarial * adversarial
        )
        out = {
            "bce": bce.item(),
            "kl": kl.item(),
            "kl_coefficient": k,
            "generator": adversarial.item(),
            "orientation": orientation.item(),
        }
        if v_fake is not None:
            voltage = voltage_mse(v_fake, attr[:, 4])
            loss = loss + self.config.alpha_voltage * voltage
            out["voltage_mse_kv2"] = voltage.item() * VOLTAGE_SCALE**2
        self._update(self.opt_gan, loss, out)
        out["bce_per_pixel"] = bce.item() / (x[0].numel() if self.config.bce_reduction == "sum" else 1)
        return {"loss": loss.item(), **out}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Reconstruction (latent mean) and classifier metrics on the validation split.

        Returns
        -------
        dict
            ``bce_per_pixel`` (decoded at the latent mean), ``bce_per_pixel_z0``
            (decoded at z = 0, as a model generates), ``kl``, ``abs_dev`` and
            ``classifier_deg`` (mean disorientation of the classifier's
            orientations, degrees).

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.data import tiny_dataset
        >>> from kikuchipy_gen.models import TrainConfig, preset
        >>> from kikuchipy_gen.training import Trainer
        >>> model = preset("geometric", texture_size=21)
        >>> data = str(tiny_dataset().path)
        >>> epochs = dict(cvae_epochs=1, critic_epochs=1, gan_epochs=1, max_steps_per_epoch=2, sample_grid=False)
        >>> cfg = TrainConfig(dataset=data, out=tempfile.mkdtemp(), model=model, **epochs)
        >>> trainer = Trainer(cfg)
        >>> sorted(trainer.validate())
        ['abs_dev', 'bce_per_pixel', 'bce_per_pixel_z0', 'classifier_deg', 'kl']
        """
        split = "val" if "val" in self.dataset.sizes else "train"
        self.encoder.eval(), self.decoder.eval(), self.critic.eval()
        sums: dict[str, float] = {}
        n = 0
        for batch in self._validation_batches(split):
            x, attr = batch["pattern"], batch["attributes"]
            with self._autocast():
                mean, logvar = self.encoder(x, attr)
                logits = self.decoder(mean, attr)
                logits_z0 = self.decoder(torch.zeros_like(mean), attr)
                _, q, _ = self.critic(x)
            metrics = {
                "bce_per_pixel": bce_reconstruction(logits, x, "mean").item(),
                "bce_per_pixel_z0": bce_reconstruction(logits_z0, x, "mean").item(),
                "kl": kl_gaussian(mean.float(), logvar.float()).item(),
                "abs_dev": (torch.sigmoid(logits.float()) - x).abs().mean().item(),
                "classifier_deg": math.degrees(disorientation_loss(q, attr[:, :4], self.symmetry).item()),
            }
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + value * len(x)
            n += len(x)
        return {k: v / n for k, v in sums.items()}

    @torch.no_grad()
    def sample_patterns(self, n: int = 6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Real, reconstructed and N(0, I)-sampled patterns of the first validation orientations.

        Uses its own random generator, so training stays reproducible.

        Parameters
        ----------
        n
            Number of patterns.

        Returns
        -------
        tuple of torch.Tensor
            Three float (n, rows, cols) CPU tensors in [0, 1].

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.data import tiny_dataset
        >>> from kikuchipy_gen.models import TrainConfig, preset
        >>> from kikuchipy_gen.training import Trainer
        >>> model = preset("geometric", texture_size=21)
        >>> data = str(tiny_dataset().path)
        >>> epochs = dict(cvae_epochs=1, critic_epochs=1, gan_epochs=1, max_steps_per_epoch=2, sample_grid=False)
        >>> cfg = TrainConfig(dataset=data, out=tempfile.mkdtemp(), model=model, **epochs)
        >>> trainer = Trainer(cfg)
        >>> real, reconstructed, sampled = trainer.sample_patterns(n=3)
        >>> sampled.shape
        torch.Size([3, 60, 60])
        """
        split = "val" if "val" in self.dataset.sizes else "train"
        stream = PatternStream(self.dataset, split, shuffle=False, rank=0, world_size=1)
        batch = next(self._batches(stream, n))
        x, attr = batch["pattern"], batch["attributes"]
        self.encoder.eval(), self.decoder.eval()
        mean, _ = self.encoder(x, attr)
        recon = torch.sigmoid(self.decoder(mean, attr).float())
        z = torch.randn(len(x), mean.shape[1], generator=torch.Generator().manual_seed(0)).to(x.device)
        sampled = torch.sigmoid(self.decoder(z, attr).float())
        return tuple(t.squeeze(1).float().cpu() for t in (x, recon, sampled))

    def bundle(self) -> ModelBundle:
        """The decoder as it is now, as a model bundle with its training provenance.

        Returns
        -------
        kikuchipy_gen.models.bundle.ModelBundle

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.data import tiny_dataset
        >>> from kikuchipy_gen.models import TrainConfig, preset
        >>> from kikuchipy_gen.training import Trainer
        >>> model = preset("geometric", texture_size=21)
        >>> data = str(tiny_dataset().path)
        >>> epochs = dict(cvae_epochs=1, critic_epochs=1, gan_epochs=1, max_steps_per_epoch=2, sample_grid=False)
        >>> cfg = TrainConfig(dataset=data, out=tempfile.mkdtemp(), model=model, **epochs)
        >>> trainer = Trainer(cfg)
        >>> from kikuchipy_gen import MLMasterPattern
        >>> MLMasterPattern.from_bundle(trainer.bundle()).energies
        [20.0]
        """
        info = _training_info(self.config, self.dataset.attrs, vars(self.state))
        return ModelBundle(self.config.model, _exported_weights(self.decoder), info)

    def _validation_batches(self, split: str) -> Iterator[dict[str, torch.Tensor]]:
        # The same patterns every time, an equal share per voltage: the stream is
        # voltage-major, so capping it as a whole would judge the best model on
        # the first voltages alone. Every rank validates on the whole split, so
        # all agree on the best model.
        energies = self.dataset.energies
        share = math.ceil(self.config.max_val_patterns / len(energies))
        for energy in energies:
            stream = PatternStream(self.dataset, split, energies=[energy], shuffle=False, rank=0, world_size=1)
            seen = 0
            for batch in self._batches(stream, min(64, share)):
                yield batch
                seen += len(batch["pattern"])
                if seen >= share:
                    break

    # -------------------------------------------------------------- helpers
    def _batches(self, stream: PatternStream, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        # A private generator: DataLoader otherwise draws its base seed from the
        # global RNG, which would make a resumed run differ from an unbroken one.
        loader = DataLoader(
            stream,
            batch_size=batch_size,
            num_workers=self.config.num_workers,
            generator=torch.Generator().manual_seed(self.config.seed),
        )
        use_voltage = self.config.model.use_voltage
        for batch in loader:
            # Datasets store fundamental-zone quaternions (scalar part >= 0), so
            # no reduction here.
            attr = attribute_tensor(batch["rotation"], batch["energy"] if use_voltage else None)
            yield {"pattern": batch["pattern"].to(self.device), "attributes": attr.to(self.device)}

    def _latent_dropout(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` with the rows of a ``latent_dropout`` share of the batch set to the prior mean, 0."""
        p = self.config.latent_dropout
        if p == 0:
            return z
        keep = torch.rand(len(z), 1, device=z.device) >= p
        return z * keep.to(z.dtype)

    def _orientation_loss(self, q_pred: torch.Tensor, q_true: torch.Tensor) -> torch.Tensor:
        if self.config.orientation_loss == "disorientation":
            return disorientation_loss(q_pred.float(), q_true.float(), self.symmetry)
        return dot_orientation_loss(q_pred.float(), q_true.float(), scale=self.config.dot_scale)

    def _critic_optimizer(self) -> torch.optim.Optimizer:
        """The critic's optimiser in the current stage."""
        if self.state.stage == "gan" and self.config.gan_critic_optimizer == "new":
            return self.opt_gan_critic
        return self.opt_critic

    def _finished_optimizers(self, stage: str) -> list[torch.optim.Optimizer]:
        """Optimisers that no step of ``stage`` or a later stage uses."""
        if stage == "critic":
            return [self.opt_cvae]
        if stage == "gan":
            return [self.opt_cvae] + ([self.opt_critic] if self.config.gan_critic_optimizer == "new" else [])
        return []

    def _generator_params(self, with_encoder: bool) -> list[torch.nn.Parameter]:
        params = list(self.decoder.parameters())
        return params + list(self.encoder.parameters()) if with_encoder else params

    def _train_mode(self, generator: bool, critic: bool) -> None:
        self.encoder.train(generator)
        self.decoder.train(generator)
        self.critic.train(critic)

    def _autocast(self):
        if not self.config.mixed_precision:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _update(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, terms: dict[str, float]) -> None:
        if not torch.isfinite(loss):
            culprits = [k for k, v in terms.items() if not math.isfinite(v)] or ["the weighted sum"]
            raise FloatingPointError(
                f"Training diverged: {', '.join(culprits)} became non-finite at step {self.state.step + 1} "
                f"({self.state.stage} stage); checkpoints/last keeps the last finite weights "
                f"(step {self._last_saved_step}); lower the learning rate and resume"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # under torchrun, DDP averages the gradients over ranks here
        optimizer.step()

    @torch.no_grad()
    def _lipschitz(self) -> None:
        mode = self.config.lipschitz
        bound = self.critic.lipschitz_modules()
        if mode == "clip":
            for p in (p for m in bound for p in m.parameters()):
                p.clamp_(-self.config.clip_value, self.config.clip_value)
        elif mode == "maxnorm":
            # The reference code's MaxNorm(5) on conv kernels: cap each output filter's norm.
            for module in (sub for m in bound for sub in m.modules()):
                if isinstance(module, torch.nn.Conv2d):
                    w = module.weight
                    norms = w.flatten(1).norm(dim=1).clamp_min(1e-12)
                    w.mul_((self.config.maxnorm / norms).clamp(max=1.0).view(-1, 1, 1, 1))

    # ---------------------------------------------------------- checkpoints
    def save_checkpoint(self, name: str = "last") -> Path:
        """Write weights, optimiser/RNG state and run state atomically (rank 0 only).

        Parameters
        ----------
        name
            Checkpoint name: a folder under ``<out>/checkpoints``.

        Returns
        -------
        pathlib.Path
            The checkpoint folder.

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.data import tiny_dataset
        >>> from kikuchipy_gen.models import TrainConfig, preset
        >>> from kikuchipy_gen.training import Trainer
        >>> model = preset("geometric", texture_size=21)
        >>> data = str(tiny_dataset().path)
        >>> epochs = dict(cvae_epochs=1, critic_epochs=1, gan_epochs=1, max_steps_per_epoch=2, sample_grid=False)
        >>> cfg = TrainConfig(dataset=data, out=tempfile.mkdtemp(), model=model, **epochs)
        >>> trainer = Trainer(cfg)
        >>> path = trainer.save_checkpoint("mine")
        >>> path.name, (path / "decoder.safetensors").is_file()
        ('mine', True)
        """
        final = self.out / "checkpoints" / name
        if self.rank != 0:
            return final
        for net in ("encoder", "decoder", "critic"):
            for key, value in getattr(self, net).state_dict().items():
                if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                    raise FloatingPointError(
                        f"Not writing checkpoint {name!r} at step {self.state.step}: {net} weight {key!r} holds "
                        f"non-finite values (the training diverged); checkpoints/last keeps step "
                        f"{self._last_saved_step}; lower the learning rate and resume"
                    )
        tmp = final.with_name(name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for net in ("encoder", "critic"):  # the decoder's weights are the bundle's
            state = {k: v.detach().cpu().contiguous() for k, v in getattr(self, net).state_dict().items()}
            save_file(state, tmp / f"{net}.safetensors")
        torch.save(
            {
                "opt_cvae": self.opt_cvae.state_dict(),
                "opt_critic": self.opt_critic.state_dict(),
                "opt_gan": self.opt_gan.state_dict(),
                "opt_gan_critic": self.opt_gan_critic.state_dict(),
                "torch_rng": torch.get_rng_state() if self._running else self._rng_state,
            },
            tmp / "optimizers.pt",
        )
        state = {k: v for k, v in vars(self.state).items() if k != "history"}
        (tmp / "state.json").write_text(json.dumps(state))
        (tmp / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2))
        (tmp / "dataset.json").write_text(json.dumps(self.dataset.attrs, indent=2))
        info = _training_info(self.config, self.dataset.attrs, vars(self.state), checkpoint=name)
        ModelBundle(self.config.model, _exported_weights(self.decoder), info).write(tmp)
        _write_history(self.state.history, tmp / "history.csv")
        (tmp / _COMPLETE).write_text(str(self.state.step))  # written last: tmp is whole
        if final.exists():
            # A kill between these renames leaves last.old and a complete
            # last.tmp: _find_checkpoint resumes from the newer of them.
            old = final.with_name(name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
        if name == "last":
            self._last_saved_step = self.state.step
        shutil.copy(final / "history.csv", self.out / "history.csv")
        _logger.debug("Wrote checkpoint %s at step %d", final, self.state.step)
        return final

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint`.

        A write interrupted at any instant leaves a complete copy (the
        folder itself, its finished ``.tmp`` or the ``.old`` it replaced);
        the newest is read.

        Parameters
        ----------
        path
            The checkpoint folder, e.g. ``<out>/checkpoints/last``.

        Examples
        --------
        >>> import tempfile
        >>> from kikuchipy_gen.data import tiny_dataset
        >>> from kikuchipy_gen.models import TrainConfig, preset
        >>> from kikuchipy_gen.training import Trainer
        >>> model = preset("geometric", texture_size=21)
        >>> data = str(tiny_dataset().path)
        >>> epochs = dict(cvae_epochs=1, critic_epochs=1, gan_epochs=1, max_steps_per_epoch=2, sample_grid=False)
        >>> cfg = TrainConfig(dataset=data, out=tempfile.mkdtemp(), model=model, **epochs)
        >>> trainer = Trainer(cfg)
        >>> path = trainer.save_checkpoint("start")
        >>> trainer.run(show_progressbar=False)
        >>> trainer.load_checkpoint(path)  # back to step 0
        >>> trainer.state.step, trainer.state.stage
        (0, 'cvae')
        """
        path = _find_checkpoint(Path(path))
        if path is None:
            raise ValueError(f"No checkpoint to resume in {str(self.out)!r}; start without --resume")
        saved = TrainConfig.from_dict(json.loads((path / "config.json").read_text()))
        if saved.model != self.config.model:
            raise ValueError("The checkpoint's model config differs from this config's; cannot resume")
        for net in ("encoder", "decoder", "critic"):
            getattr(self, net).load_state_dict(load_file(path / f"{net}.safetensors", device=str(self.device)))
        try:
            extra = torch.load(path / "optimizers.pt", weights_only=True, map_location=self.device)
        except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError...
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(
                f"{str(path / 'optimizers.pt')!r} is not an optimiser state this package wrote ({first}); "
                "nothing in it was run"
            ) from None
        _load_adam(self.opt_cvae, extra["opt_cvae"])
        _load_adam(self.opt_critic, extra["opt_critic"])
        _load_adam(self.opt_gan, extra["opt_gan"])
        self._rng_state = extra["torch_rng"].cpu()
        self.state = _State(
            **json.loads((path / "state.json").read_text()), history=_read_history(path / "history.csv")
        )
        if "opt_gan_critic" in extra:
            _load_adam(self.opt_gan_critic, extra["opt_gan_critic"])
        elif self.state.stage == "gan" and self.config.gan_critic_optimizer == "new":
            # Written before the joint stage had its own critic optimiser: that
            # run's critic stepped with the pre-training's optimiser.
            _logger.warning(
                "%s predates gan_critic_optimizer and stopped in the joint stage; its critic continues with "
                "a fresh optimiser at gan_critic_lr. Set gan_critic_optimizer = 'pretraining' to continue it "
                "as it was trained",
                path,
            )
        self._last_saved_step = self.state.step


def _find_checkpoint(final: Path) -> Path | None:
    """The newest complete copy of a checkpoint, or None.

    A write is complete in ``final`` (renamed there only when whole), in
    ``final.tmp`` once its marker is written, and in ``final.old`` (the copy
    being replaced) between the two renames.
    """
    candidates = []
    for path, complete in (
        (final, final / "state.json"),
        (final.with_name(final.name + ".tmp"), final.with_name(final.name + ".tmp") / _COMPLETE),
        (final.with_name(final.name + ".old"), final.with_name(final.name + ".old") / "state.json"),
    ):
        if complete.is_file():
            try:
                step = json.loads((path / "state.json").read_text())["step"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            candidates.append((int(step), path != final, path))
    if not candidates:
        return None
    # The most steps; at a tie the folder itself.
    return max(candidates, key=lambda c: (c[0], not c[1]))[2]


def _exported_weights(decoder: torch.nn.Module) -> dict[str, torch.Tensor]:
    # A geometric decoder's unread texels are written as zeros (smaller files).
    exported = getattr(decoder, "exported_state", None)
    return exported() if exported is not None else decoder.state_dict()


def export_checkpoint(path: str | Path) -> ModelBundle:
    """Give a checkpoint written before checkpoints were model bundles its ``model.json``.

    Parameters
    ----------
    path
        Checkpoint folder (``config.json``, ``dataset.json``,
        ``decoder.safetensors``, optionally ``state.json``).

    Returns
    -------
    kikuchipy_gen.models.bundle.ModelBundle
        The bundle now written into ``path``.

    Examples
    --------
    >>> from kikuchipy_gen.training import export_checkpoint
    >>> export_checkpoint("runs/old/checkpoints/best")  # doctest: +SKIP
    """
    path = Path(path)
    for name in ("config.json", "dataset.json", "decoder.safetensors"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{str(path)!r} is not a checkpoint folder: it lacks {name}")
    config = TrainConfig.from_dict(json.loads((path / "config.json").read_text()))
    attrs = json.loads((path / "dataset.json").read_text())
    state = json.loads((path / "state.json").read_text()) if (path / "state.json").is_file() else {}
    info = _training_info(config, attrs, state, checkpoint=path.name)
    bundle = ModelBundle(config.model, load_file(path / "decoder.safetensors"), info)
    bundle.write(path, overwrite=True)
    return bundle


def _training_info(
    config: TrainConfig, attrs: dict[str, Any], state: dict[str, Any], checkpoint: str | None = None
) -> dict[str, Any]:
    """A bundle's info: the dataset's facts and the run's provenance."""
    training = {
        "dataset_fingerprint": attrs.get("fingerprint"),
        "splits": attrs.get("splits"),
        "state": {k: v for k, v in state.items() if isinstance(v, (int, float, str))},
        "train_config": {k: v for k, v in config.to_dict().items() if k != "model"},
    }
    if checkpoint is not None:
        training = {"checkpoint": checkpoint, **training}
    return info_from_dataset(attrs, training)


def _adam(params: Any, lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.Adam:
    """Adam with torch's fused kernel where it has one (CPU and CUDA), else its default implementation."""
    # The fused kernel updates each tensor in one pass: a CPU step of the
    # geometric preset's 3.9 million generator weights took about 6 ms against
    # 24-27 (benchmarks/cpu_step_routes.py). It computes the same update in another
    # order of operations, so weights agree to rounding, not to the bit.
    fused = True if device.type in ("cpu", "cuda") else None
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused)


def _load_adam(optimizer: torch.optim.Adam, state: dict[str, Any]) -> None:
    """Load a saved Adam state, keeping this optimiser's implementation.

    torch takes every setting of a saved group, ``fused`` included: a
    checkpoint written before the fused kernel would otherwise resume on the
    slower loop, and one written on a CUDA machine would ask for it elsewhere.
    """
    kept = [{k: group.get(k) for k in ("fused", "foreach")} for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, implementation in zip(optimizer.param_groups, kept):
        group.update(implementation)


def _data_parallel(net: torch.nn.Module, device: torch.device) -> DistributedDataParallel:
    return DistributedDataParallel(net, device_ids=[device] if device.type == "cuda" else None)


def _init_distributed(device: str) -> tuple[int, int]:
    """Join the process group when launched by ``torchrun``; (rank, world size)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1
    dist = torch.distributed
    if not dist.is_initialized():
        use_nccl = device != "cpu" and torch.cuda.is_available()
        dist.init_process_group(backend="nccl" if use_nccl else "gloo")
    return dist.get_rank(), dist.get_world_size()


# Input channel counts of a convolution whose channels-last backward sometimes
# never returned on the CPU (torch 2.13, AVX2; benchmarks/channels_last_probe.py):
# a 1x1 stride-2 convolution of a 60x60 map hung in 2-5 of 5 fresh processes from
# each of 2-7 channels; from 1, 8, 12, 16 and 32 channels none did. Networks with
# such a convolution train contiguous on a CPU.
_CPU_CHANNELS_LAST_HANGS = range(2, 8)


def _channels_last(
    memory_format: str, device: torch.device, nets: tuple[torch.nn.Module, ...], emulated_bf16: bool = False
) -> bool:
    """Whether to lay out ``nets`` channels-last, or a ``ValueError`` where that would hang."""
    if memory_format == "contiguous" or (memory_format == "auto" and device.type != "cpu"):
        return False
    if memory_format == "auto" and emulated_bf16:
        # Without AVX-512 oneDNN takes no bf16 convolution, and torch's fallback
        # ran a channels-last step 1.6-2.2x slower than a contiguous one (both
        # CPU presets, torch 2.13, AVX2).
        _logger.info("Training contiguous: bf16 autocast is emulated on this CPU, slower still channels-last")
        return False
    narrow = sorted(
        {
            m.in_channels
            for net in nets
            for m in net.modules()
            if isinstance(m, torch.nn.Conv2d) and m.in_channels in _CPU_CHANNELS_LAST_HANGS
        }
    )
    if not narrow or device.type != "cpu":
        return True
    if memory_format == "channels_last":
        raise ValueError(
            f"memory_format='channels_last' on a CPU with convolutions of {narrow} input channels: torch's "
            f"channels-last backward of such a convolution hung at times ({_CPU_CHANNELS_LAST_HANGS.start}-"
            f"{_CPU_CHANNELS_LAST_HANGS.stop - 1} channels); use 'auto' or 'contiguous'"
        )
    _logger.info("Training contiguous: convolutions of %s input channels hang channels-last on a CPU", narrow)
    return False


def _fast_cpu_bf16() -> bool:
    # bf16 autocast pays off on CPUs with AVX-512 (AMX and AVX512-BF16 on
    # Sapphire Rapids: 1.8x a training step); on AVX2 torch emulates it.
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def _device(name: str, distributed: bool = False) -> torch.device:
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        local = int(os.environ.get("LOCAL_RANK", "0")) if distributed else torch.cuda.current_device()
        return torch.device("cuda", local)
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but no CUDA device is available")
    return device


def _write_history(history: list[dict[str, Any]], path: Path) -> None:
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)


def _read_history(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rows.append({k: _parse(v) for k, v in row.items() if v != ""})
    return rows


def _parse(value: str) -> Any:
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in value else number
