"""One call from a crystal phase to a trained, evaluated ML master pattern.

:func:`build_model` runs four steps into one folder, each skipped when its
output is complete, so an interrupted build continues where it stopped when
the same call is made again:

1. ``dataset.zarr``: dynamical (de-ebsd) patterns at every energy
   (:func:`~kikuchipy_gen.dataset.build_dataset`, resumed chunk by chunk;
   not needed, so not built, once ``model/`` exists);
2. ``run/``: the ``geometric`` preset trained, its texture at the physics'
   resolution: the CVAE stage, or all three stages with ``stages="all"``
   (:class:`~kikuchipy_gen.training.Trainer`, resumed from its last checkpoint);
3. ``model/``: the model bundle of the best checkpoint, moved into place whole;
4. ``report/``: the evaluation report (:func:`~kikuchipy_gen.evaluation.evaluate`),
   moved into place whole;
5. ``model/MODEL_CARD.md``: the model card
   (:func:`~kikuchipy_gen.model_card.model_card`), rewritten on every call.

``recipe.json``, written first, holds the resolved settings; a folder made
with other settings is refused before any work. ``timings.json`` adds up
each step's seconds over all the calls, with the machine.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from orix.crystal_map import Phase

from kikuchipy_gen.phases import get_phase, phase_to_dict

__all__ = ["LAUE_DEFAULTS", "build_model", "resolve_recipe"]

_logger = logging.getLogger(__name__)

RECIPE_FORMAT = "kikuchipy-gen-model-recipe/1"

# Per Laue group: (training grid density n, dictionary density n, training
# steps per epoch). A pattern covers a fixed solid angle of the sphere, while
# the fundamental sector the model learns is 1/|Laue group| of it: Ni's (m-3m)
# sector is 1/48 of the sphere, Ti-alpha's (6/mmm) 1/24, rutile's (4/mmm) 1/16,
# a -3m phase's 1/12, a triclinic phase's 1/2. The learned texture has that many
# more free texels, so it needs more patterns, and more steps, to see each of
# them as often. The same grid density n keeps the angular spacing (n = 30:
# about 2.5 deg) and gives that growth by itself: the fundamental zone of
# orientations grows as the rotation group shrinks (n = 30: 9,077 orientations
# for m-3m, 18,623 for 6/mmm, 27,225 for 4/mmm, 36,199 for -3m, 54,169 for mmm).
# The training steps per epoch grow with it, so that an epoch sees a similar
# share of the larger set (the shipped Ni recipe: 1,200 steps of 32 patterns);
# the groups of four or fewer rotations take a coarser grid (n = 22, about 3.4
# deg) to keep the dataset and the training within a CPU budget. The
# evaluation's physics dictionary is finer than the training grid: the paper
# indexes at its training density, n = 100 (0.9 deg), and misses no pattern;
# at n = 30 (2.5 deg) a pseudo-symmetric twin's best-aligned entry outscores
# the truth's nearest one for a third of the 60 x 60 test patterns at 20-30 kV
# (alpha-iron, alpha-titanium, rutile), and which way those near-ties fall
# decided single patterns of the refined means. At n = 50 (1.5 deg) dictionary
# indexing misses 0-4.5 % and both routes refine every test pattern (the
# shipped m-3m, 6/mmm, 4/mmm and -3m models, benchmarks/RESULTS.md). Each
# voltage's dictionary is projected once, and its size grows as the rotation
# group shrinks (n = 50: 41,625 for m-3m, 124,885 for 4/mmm); the groups of
# four or fewer rotations take n = 40 (1.9 deg), which no built model has
# measured yet, to keep their evaluation within the CPU budget.
# -3m takes 1,200 steps, not 2,400: corundum's model plateaus within them
# (BCE within 0.0008 of the 2,400-step model at every training voltage, the same
# refinement; benchmarks/RESULTS.md), and the one command then takes 13 min on
# two cores instead of 20.5 (master patterns cached). 6/mmm, a sector half the
# size of -3m's, takes 1,200 too, not 1,800: alpha-titanium's BCE within 0.0003
# of the 1,800-step model at every voltage, the same refinement, 15 min instead
# of 19.8 (the latter from an empty cache, on a slow day of the VM). m-3m, the
# smallest sector, takes 800: alpha-iron's BCE within 0.0004 of the 1,200-step
# model at every voltage, every refined and DI number the same (misses
# included). The other groups keep their steps until a run shows the same.
LAUE_DEFAULTS: dict[str, tuple[int, int, int]] = {
    "m-3m": (30, 50, 800),
    "m-3": (30, 50, 1800),
    "6/mmm": (30, 50, 1200),
    "4/mmm": (30, 50, 2400),
    "-3m": (30, 50, 1200),
    "6/m": (30, 50, 2400),
    "4/m": (22, 40, 2400),
    "-3": (22, 40, 2400),
    "mmm": (22, 40, 2400),
    "2/m": (22, 40, 2400),
    "-1": (22, 40, 2400),
}

# The learned texture has the physics master pattern's resolution: 2 * npx + 1
# Lambert pixels a side. The patterns are projected from de-ebsd's master
# pattern with bilinear interpolation, so a coarser texture cannot hold their
# finest band detail: validation BCE per pixel of alpha-titanium (npx 200,
# optimum about 0.501) was 0.5171 with a texture of 201, 0.5092 with 301 and
# 0.5047 with 401 (benchmarks/RESULTS.md, "GPU, second lease").
_MAX_DEFAULT_TEXTURE = 401

# One CVAE epoch of the steps above, at the shipped Ni model's learning rate and
# batch (examples/configs/pretrained_ni_cpu.toml). With a texture at the
# physics' resolution the validation BCE is within 2e-4 of its best after one
# epoch (alpha-titanium: 0.50483, then 0.50475, 0.50469), and the critic and
# joint CVAE/GAN stages change nothing measurable for this decoder (Table 1,
# docs/reports/table1: BCE 2-4e-4, refined orientations 0.001 deg) while they
# cost more time than the CVAE: they run with ``stages="all"``.
_TRAIN = {
    "cvae_epochs": 1,
    "cvae_batch_size": 32,
    "cvae_lr": 3e-3,
    "critic_epochs": 0,
    "critic_batch_size": 32,
    "critic_lr": 1e-4,
    "gan_epochs": 0,
    "gan_batch_size": 32,
    "gan_lr": 3e-4,
    "checkpoint_every": 400,
    "max_val_patterns": 1000,
    "sample_grid": False,
    "gan_critic_optimizer": "pretraining",
    "latent_dropout": 0.5,
}
# stages="all": the paper's three stages, one epoch each after the CVAE.
_ALL_STAGES = {"critic_epochs": 1, "gan_epochs": 1}
_MODEL = {"classifier_trunk": "shared"}
_EVALUATE = {
    "n_test": 200,
    "n_refine": 100,
    "method": "ln_bobyqa",
    "voltage_matrix": True,
    "matrix_patterns": 30,
    "refine_basins": 8,
}
# --quick: a coarse model in a few minutes, to try a phase before the real run.
_QUICK = {
    "npx": 100,
    "n": 15,
    "train": {"cvae_epochs": 2, "max_steps_per_epoch": 150, "checkpoint_every": 100, "max_val_patterns": 200},
    "evaluate": {"n_test": 40, "n_refine": 20, "voltage_matrix": False},
}
_NPX = 200
_RECIPE, _MODEL_DIR, _REPORT_DIR, _DATASET, _RUN = "recipe.json", "model", "report", "dataset.zarr", "run"
_TIMINGS, _CARD = "timings.json", "MODEL_CARD.md"


def resolve_recipe(
    phase: str | Path | Phase,
    energies: Sequence[float] = (10, 15, 20, 25, 30),
    *,
    n: int | None = None,
    npx: int | None = None,
    quick: bool = False,
    stages: str = "cvae",
    mc_electrons: int = 200_000,
    train: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check the inputs of :func:`build_model` and return its resolved settings.

    Every check that needs no long work is made here: the phase is one
    de-ebsd can simulate, the energies are increasing, distinct and ones the
    dynamical source accepts.

    Parameters
    ----------
    phase, energies, n, npx, quick, stages, mc_electrons, train, evaluation
        As :func:`build_model`.

    Returns
    -------
    dict
        JSON-safe settings: phase, source, energies, dataset, model,
        training and evaluation (what ``recipe.json`` holds).

    Raises
    ------
    ValueError
        On any bad input, with one line naming the value and the fix.

    Examples
    --------
    >>> from kikuchipy_gen.pipeline import resolve_recipe
    >>> r = resolve_recipe("ti-alpha", [10, 20, 30])  # doctest: +SKIP
    >>> r["laue_group"], r["dataset"]["n"], r["model"]["voltage_knots"]  # doctest: +SKIP
    ('6/mmm', 30, 3)
    """
    from kikuchipy_gen.preprocessing import CLAHE
    from kikuchipy_gen.sources import DynamicalSource

    phase_arg, phase = phase, get_phase(phase)
    laue = phase.point_group.laue.name
    if laue not in LAUE_DEFAULTS:
        raise ValueError(f"No defaults for Laue group {laue!r}; known: {', '.join(LAUE_DEFAULTS)}")
    n_default, dictionary_n, steps = LAUE_DEFAULTS[laue]
    if stages not in ("cvae", "all"):
        raise ValueError(f"stages must be 'cvae' or 'all' (the critic and joint CVAE/GAN stages too), got {stages!r}")
    _check_dynamical_phase(phase)
    n_default = _QUICK["n"] if quick else n_default
    n = n_default if n is None else _positive_int(n, "n")
    npx = (_QUICK["npx"] if quick else _NPX) if npx is None else _positive_int(npx, "npx")
    source = DynamicalSource(phase, npx=npx, mc_electrons=mc_electrons, cache_dir=None)
    texture_size = min(2 * npx + 1, _MAX_DEFAULT_TEXTURE)
    energies = _check_energies(energies, source)

    provenance = _provenance(phase_arg)
    model: dict[str, Any] = {
        **_MODEL,
        "texture_size": texture_size,
        "use_voltage": len(energies) > 1,
        "n_attributes": 5 if len(energies) > 1 else 4,
        "voltage_knots": len(energies),
        "energy_range": [energies[0], energies[-1]],
        "knot_energies": energies,
    }
    if not phase.point_group.contains_inversion:
        # Dynamical diffraction breaks Friedel's law in a crystal without a
        # centre of symmetry (quartz, point group 32: in de-ebsd's 20 kV master
        # pattern, directions related by inversion differ on average by a sixth
        # of the pixel standard deviation), so
        # the learned master pattern keeps the point group's symmetry, not the
        # Laue group's (a fundamental sector twice the size).
        model["symmetry"] = "point_group"
        _logger.info(
            "%s has no centre of symmetry: the model learns point group %s", phase.name, phase.point_group.name
        )
    training = {
        **_TRAIN,
        "max_steps_per_epoch": steps,
        **(_ALL_STAGES if stages == "all" else {}),
        **(_QUICK["train"] if quick else {}),
    }
    # The paper indexes at its training density, n = 100; at the n = 30 of the
    # grids here pseudo-symmetric twins take many best matches, so the
    # dictionary is the Laue group's (finer) unless the grid is finer still.
    # A quick build, a smoke test, indexes at its own coarse grid.
    dictionary_n = n if quick else max(dictionary_n, n)
    evaluate_kw = {**_EVALUATE, "dictionary_n": dictionary_n, **(_QUICK["evaluate"] if quick else {})}
    for key, value in (train or {}).items():
        if key == "model":
            model.update(value)
        elif key in ("dataset", "out"):
            raise ValueError(f"train[{key!r}] is set by build_model (the output folder); leave it out")
        else:
            training[key] = value
    evaluate_kw.update(evaluation or {})
    if evaluate_kw.get("unseen") is not None:
        evaluate_kw["unseen"] = _check_unseen(evaluate_kw["unseen"], energies)
    recipe = {
        "format": RECIPE_FORMAT,
        "phase": phase_to_dict(phase),
        "provenance": provenance,
        "laue_group": laue,
        "energies": energies,
        "source": {k: v for k, v in source.to_dict().items() if k != "phase"},
        "dataset": {"n": n, "clahe": CLAHE().to_dict(), "chunk_size": 1024},
        "model": {"preset": "geometric", **model},
        "training": training,
        "evaluation": evaluate_kw,
    }
    _train_config(recipe, Path("."))  # every field checked now, not after the dataset
    return json.loads(json.dumps(recipe))


def build_model(
    phase: str | Path | Phase,
    out: str | Path,
    energies: Sequence[float] = (10, 15, 20, 25, 30),
    *,
    n: int | None = None,
    npx: int | None = None,
    quick: bool = False,
    stages: str = "cvae",
    evaluate: bool = True,
    mc_electrons: int = 200_000,
    train: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    device: str = "auto",
    show_progressbar: bool | None = None,
):
    """Build the dataset, train, export and evaluate an ML master pattern of a phase.

    Resumable at every step: a step whose output is complete is skipped, the
    dataset continues chunk by chunk and the training from its last
    checkpoint, and the model and report appear only whole. Rerunning the
    same call after an interruption keeps all finished work.

    Parameters
    ----------
    phase
        A name in :data:`~kikuchipy_gen.phases.BUILTIN_PHASES` (``"ni"``,
        ``"fe-alpha"``, ``"ti-alpha"``, ``"rutile"``, ...), a CIF file with
        occupancies and isotropic displacements (U_iso), or an orix phase.
    out
        Output folder: ``recipe.json``, ``timings.json``, ``dataset.zarr``,
        ``run/``, ``model/`` (load it with
        :meth:`MLMasterPattern.load <kikuchipy_gen.MLMasterPattern.load>`;
        its ``MODEL_CARD.md`` says what it is and how good) and ``report/``.
    energies
        Beam energies in kV, increasing; the model learns one texture per
        energy (its voltage knots) and blends the two nearest between them.
    n
        Training grid density (EMsoft's ``n``); default per Laue group
        (:data:`LAUE_DEFAULTS`).
    npx
        Half-width of de-ebsd's Lambert master patterns; default 200.
    quick
        A coarse model in minutes (npx 100, n 15, a few hundred steps, a
        small evaluation) to try a phase first.
    stages
        ``"cvae"`` (default): one CVAE epoch, which brings the geometric
        decoder within 2e-4 of its best validation BCE; ``"all"``: then the
        paper's critic pre-training and joint CVAE/GAN stages, one epoch
        each, which changed nothing measurable for this decoder (Table 1)
        and more than double the training time.
    evaluate
        Write the evaluation report; without it the report is skipped (a
        later call with ``evaluate=True`` adds it).
    mc_electrons
        Electrons of de-ebsd's Monte Carlo depth profile.
    train
        Overrides of :class:`~kikuchipy_gen.models.TrainConfig` fields; a
        ``"model"`` entry overrides fields of the ``geometric`` preset.
    evaluation
        Overrides of :func:`~kikuchipy_gen.evaluation.evaluate`'s settings.
    device
        Training device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
    show_progressbar
        Progress bars; default, as kikuchipy:
        ``hyperspy.api.preferences.General.show_progressbar``.

    Returns
    -------
    kikuchipy_gen.MLMasterPattern
        The model in ``out/model``.

    Raises
    ------
    ValueError
        On bad input (a phase de-ebsd cannot use, energies out of order,
        duplicated or outside the source's range) or a folder holding
        another recipe, before any long work.

    Examples
    --------
    >>> from kikuchipy_gen.pipeline import build_model
    >>> mlmp = build_model("ti-alpha", "models/ti", energies=[10, 15, 20, 25, 30])  # doctest: +SKIP
    >>> mlmp.phase.point_group.name  # doctest: +SKIP
    '6/mmm'
    """
    from kikuchipy_gen.master_pattern import MLMasterPattern

    out = Path(out)
    recipe = resolve_recipe(
        phase,
        energies,
        n=n,
        npx=npx,
        quick=quick,
        stages=stages,
        mc_electrons=mc_electrons,
        train=train,
        evaluation=evaluation,
    )
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"The output folder {str(out)!r} is a file; give a folder")
    _keep_recorded_legacy(out, recipe, evaluation or {}, train or {})
    _claim_folder(out, recipe)
    bar = _show_progressbar(show_progressbar)
    _logger.info("Building a %s model (%s) in %s", recipe["phase"]["name"], recipe["laue_group"], out)
    _timed(out, "dataset", device, _dataset_step, out, recipe, bar)
    _timed(out, "train", device, _train_step, out, recipe, device, bar)
    _timed(out, "export", device, _export_step, out)
    if evaluate:
        _timed(out, "evaluate", device, _evaluate_step, out, recipe, bar)
    _card_step(out, recipe)
    return MLMasterPattern.load(out / _MODEL_DIR)


# ----------------------------------------------------------------- the steps
def _dataset_step(out: Path, recipe: dict[str, Any], show_progressbar: bool) -> bool:
    from kikuchipy_gen.dataset import EBSDDataset, build_dataset
    from kikuchipy_gen.detector import default_detector
    from kikuchipy_gen.preprocessing import CLAHE
    from kikuchipy_gen.sampling import split_orientations

    path = out / _DATASET
    if (out / _MODEL_DIR / "model.json").is_file():
        # Only the training reads the dataset, and an exported model is a
        # finished training: a folder holding the model alone (trained on
        # another machine, or its dataset deleted) goes on to the evaluation.
        _logger.info("Model %s is exported; no dataset needed", out / _MODEL_DIR)
        return False
    if _dataset_complete(path):
        _logger.info("Dataset %s is complete; kept", path)
        return False
    source = _source(recipe)
    d = recipe["dataset"]
    splits = split_orientations(source.phase.point_group, d["n"])
    _logger.info("Dataset: %s at %s kV", ", ".join(f"{k} {v.size:,}" for k, v in splits.items()), recipe["energies"])
    clahe = CLAHE(d["clahe"]["clip_limit"], tuple(d["clahe"]["tiles"]), d["clahe"]["nbins"])
    build_dataset(
        path,
        source,
        splits,
        recipe["energies"],
        default_detector(),
        clahe,
        d["chunk_size"],
        resume=True,
        show_progressbar=show_progressbar,
    )
    EBSDDataset(path)  # complete
    return True


def _train_step(out: Path, recipe: dict[str, Any], device: str, show_progressbar: bool) -> bool:
    from kikuchipy_gen.training import Trainer, _find_checkpoint

    run = out / _RUN
    if (out / _MODEL_DIR / "model.json").is_file():
        # Exported only from a finished training, so the run's checkpoints
        # (tens of MB) may be deleted once the model is out.
        _logger.info("Model %s is exported; its training is finished", out / _MODEL_DIR)
        return False
    last = _find_checkpoint(run / "checkpoints" / "last")
    if last is not None and json.loads((last / "state.json").read_text()).get("stage") == "done":
        _logger.info("Training in %s is finished; kept", run)
        return False
    config = _train_config(recipe, out)
    config.device = device
    if last is not None:
        _keep_begun_architecture(config, last, run)
    _logger.info("Training %s (%s)", run, "resuming" if last is not None else "from the start")
    Trainer(config, resume=last is not None).run(show_progressbar=show_progressbar)
    return True


def _export_step(out: Path) -> bool:
    from kikuchipy_gen.master_pattern import MLMasterPattern

    final = out / _MODEL_DIR
    if (final / "model.json").is_file():
        _logger.info("Model %s is complete; kept", final)
        return False
    partial = out / f".{_MODEL_DIR}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    MLMasterPattern.load(out / _RUN).save(partial)  # the best checkpoint, else the last
    _replace_folder(partial, final)
    _logger.info("Wrote the model %s", final)
    return True


def _evaluate_step(out: Path, recipe: dict[str, Any], show_progressbar: bool) -> bool:
    from kikuchipy_gen.evaluation import evaluate

    final = out / _REPORT_DIR
    if (final / "report.md").is_file():
        _logger.info("Report %s is complete; kept", final)
        return False
    partial = out / f".{_REPORT_DIR}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    # A recipe older than a setting leaves it out and meant its legacy value.
    settings = {**_LEGACY_EVALUATION, **recipe["evaluation"]}
    metrics = evaluate(out / _MODEL_DIR, partial, show_progressbar=show_progressbar, **settings)
    _replace_folder(partial, final)
    _logger.info("Wrote the report %s (%.0f s)", final / "report.md", metrics.get("elapsed_s", math.nan))
    return True


def _card_step(out: Path, recipe: dict[str, Any]) -> None:
    """Write ``model/MODEL_CARD.md`` from the model, its report and the build's times, where it changed."""
    from kikuchipy_gen.model_card import model_card
    from kikuchipy_gen.models.bundle import ModelBundle

    info = ModelBundle.read(out / _MODEL_DIR).info
    metrics, timings = _read_json(out / _REPORT_DIR / "metrics.json"), _read_json(out / _TIMINGS)
    card = model_card(info, metrics, timings=timings, provenance=recipe.get("provenance"))
    path = out / _MODEL_DIR / _CARD
    if not path.is_file() or path.read_text() != card:
        _write_text(path, card)


# ----------------------------------------------------------------- helpers
def _timed(out: Path, step: str, device: str, run: Callable[..., bool], *args: Any) -> None:
    """Run a step; add its seconds to ``timings.json`` unless it kept finished work (also when it fails)."""
    start, worked = time.perf_counter(), True
    try:
        worked = run(*args)
    finally:
        if worked:
            timings = _read_json(out / _TIMINGS) or {"steps": {}}
            timings["steps"][step] = timings["steps"].get(step, 0.0) + time.perf_counter() - start
            if step in ("dataset", "train"):
                # The machine that made the model; the report records its own
                # (an exported model may be evaluated elsewhere).
                timings["machine"] = _machine(device)
            _write_text(out / _TIMINGS, json.dumps(timings, indent=2))


def _write_text(path: Path, text: str) -> None:
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, path)


def _machine(device: str) -> str:
    """The machine in a line: CPU model, cores, torch's threads and the device asked for."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        cpu = names[0] if names else cpu
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() and device != "cpu" else ""
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} on {torch.get_num_threads()} threads{gpu}"


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _provenance(phase: Any) -> str:
    """Where a phase came from, for the model card: preset, CIF (with checksum) or Python."""
    import hashlib

    from kikuchipy_gen.phases import BUILTIN_PHASES

    if isinstance(phase, (str, Path)) and str(phase).lower() in BUILTIN_PHASES:
        return f"kikuchipy-gen's built-in phase `{str(phase).lower()}` (kikuchipy_gen.phases.BUILTIN_PHASES)"
    if isinstance(phase, (str, Path)):
        digest = hashlib.sha256(Path(phase).read_bytes()).hexdigest()
        return f"CIF file `{Path(phase).name}` (sha256 {digest})"
    return "an orix Phase given in Python"


# Evaluation settings added since a folder's recipe may have been written, and
# the value that folder's recipe meant by leaving them out.
_LEGACY_EVALUATION = {"refine_basins": 1}
# Evaluation settings whose default changed since: a folder that recorded the
# old default continues with it unless the caller sets the setting. The
# refinement became NLopt's BOBYQA (the same algorithm, about 10x faster), the
# dictionary n = 50 (40 for four or fewer rotations) instead of the grid's 30.
_CHANGED_EVALUATION_DEFAULTS = ("method", "dictionary_n")
# Training settings added since, whose absence meant TrainConfig's default: a
# folder that recorded none continues as it began (latent_dropout: 0).
_LEGACY_TRAINING = ("latent_dropout",)


def _keep_recorded_legacy(
    out: Path, recipe: dict[str, Any], evaluation: Mapping[str, Any], train: Mapping[str, Any]
) -> None:
    """Continue a folder whose recipe predates a setting with the value it meant.

    An evaluation or training setting the caller sets is a difference
    :func:`_claim_folder` reports. A model without ``knot_energies`` had its
    knots evenly spaced. A setting whose default changed keeps the value the
    folder recorded.
    """
    try:
        recorded = json.loads((out / _RECIPE).read_text())
        old = recorded["evaluation"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # a new folder, or one _claim_folder refuses with its own message
    if isinstance(recorded.get("model"), dict) and "knot_energies" not in recorded["model"]:
        recipe["model"].pop("knot_energies", None)
        _logger.info("%s: its recipe predates model.knot_energies; its knots stay evenly spaced", out)
    for key, value in _LEGACY_EVALUATION.items():
        if isinstance(old, dict) and key not in old and key not in evaluation:
            recipe["evaluation"].pop(key, None)
            _logger.info("%s: its recipe predates evaluation.%s; evaluating with %r as it did", out, key, value)
    for key in _CHANGED_EVALUATION_DEFAULTS:
        if isinstance(old, dict) and key in old and key not in evaluation and old[key] != recipe["evaluation"].get(key):
            recipe["evaluation"][key] = old[key]
            _logger.info("%s: evaluating with evaluation.%s = %r, as its recipe says", out, key, old[key])
    old_training = recorded.get("training")
    for key in _LEGACY_TRAINING:
        if isinstance(old_training, dict) and key not in old_training and key not in train:
            recipe["training"].pop(key, None)
            _logger.info("%s: its recipe predates training.%s; training without it, as it began", out, key)


def _claim_folder(out: Path, recipe: dict[str, Any]) -> None:
    """Write ``recipe.json`` into a new folder, or check an existing one holds the same recipe."""
    path = out / _RECIPE
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except ValueError as err:
            raise ValueError(f"{str(path)!r} is not valid JSON ({err}); remove it or choose another folder") from None
        differing = _differences(old, recipe)
        if differing:
            shown = "; ".join(f"{k}: {a} in the folder, {b} now" for k, a, b in differing[:4])
            more = f" (and {len(differing) - 4} more)" if len(differing) > 4 else ""
            raise ValueError(
                f"{str(out)!r} holds a model of another recipe ({shown}{more}); "
                "give the same settings to continue it, or choose another folder"
            )
        return
    if out.is_dir() and any(p.name != _RECIPE for p in out.iterdir()):
        raise FileExistsError(f"{str(out)!r} exists and is not a build_model folder (no {_RECIPE}); choose another")
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{_RECIPE}.tmp"
    tmp.write_text(json.dumps(recipe, indent=2))
    os.replace(tmp, path)


def _differences(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """The settings (dotted names) whose values differ between two recipes.

    The phase's provenance is a record, not a setting: a CIF moved or renamed,
    or a folder from before provenance was recorded, still continues.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted((set(old) | set(new)) - ({"provenance"} if not prefix else set()), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            out += _differences(old.get(key, "(unset)"), new.get(key, "(unset)"), name)
        return out
    return [] if old == new else [(prefix or "recipe", old, new)]


def _keep_begun_architecture(config, checkpoint: Path, run: Path) -> None:
    """Resume a run with the architecture it began with, where the preset has changed since.

    The recipe holds the preset's name and the caller's overrides, and a folder
    whose overrides differ is refused before this; so a checkpoint whose model
    differs was begun under an older preset (before one of its defaults
    changed), and the run finishes as it began instead of refusing its
    checkpoint.
    """
    from kikuchipy_gen.models import TrainConfig

    try:
        begun = TrainConfig.from_dict(json.loads((checkpoint / "config.json").read_text())).model
    except (OSError, ValueError, TypeError, KeyError):
        return  # the trainer reports an unreadable checkpoint itself
    if begun != config.model:
        now = config.model.to_dict()
        changed = sorted(k for k, v in begun.to_dict().items() if now.get(k) != v)
        _logger.info("%s: resuming with the architecture it began with (the preset has changed %s since)", run, changed)
        config.model = begun


def _train_config(recipe: dict[str, Any], out: Path):
    from kikuchipy_gen.models import TrainConfig, preset

    model = {k: v for k, v in recipe["model"].items() if k != "preset"}
    return TrainConfig(
        dataset=str(out / _DATASET),
        out=str(out / _RUN),
        model=preset(recipe["model"]["preset"], **model),
        **recipe["training"],
    )


def _source(recipe: dict[str, Any]):
    from kikuchipy_gen.phases import phase_from_dict
    from kikuchipy_gen.sources import DynamicalSource

    s = recipe["source"]
    return DynamicalSource(
        phase_from_dict(recipe["phase"]),
        npx=s["npx"],
        dmin=s["dmin"],
        sample_tilt=s["sample_tilt"],
        mc_electrons=s["mc_electrons"],
    )


def _dataset_complete(path: Path) -> bool:
    from kikuchipy_gen.dataset import EBSDDataset

    if not path.exists():
        return False
    try:
        EBSDDataset(path)
    except ValueError:
        return False
    return True


def _replace_folder(partial: Path, final: Path) -> None:
    """Move a finished folder into place; a half-written ``final`` from an older layout is replaced."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)


def _show_progressbar(show: bool | None) -> bool:
    if show is None:
        import hyperspy.api as hs

        return bool(hs.preferences.General.show_progressbar)
    return bool(show)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_energies(energies: Sequence[float], source) -> list[float]:
    """Energies as floats: finite, increasing, distinct and accepted by ``source``."""
    values = _kilovolts(energies, "energies")
    if not values:
        raise ValueError("Give at least one energy (kV)")
    shown = " ".join(f"{e:g}" for e in values)
    if not all(math.isfinite(e) for e in values):
        raise ValueError(f"energies must be finite numbers in kV, got {shown}")
    if len(set(values)) != len(values):
        raise ValueError(f"energies must be distinct, got {shown}")
    if values != sorted(values):
        raise ValueError(
            f"energies must be in increasing order, got {shown}; give {' '.join(f'{e:g}' for e in sorted(values))}"
        )
    for e in values:
        source.check_energy(e)
    return values


def _kilovolts(values: Sequence[float], name: str) -> list[float]:
    """A number or sequence of numbers as a list of floats, or a one-line error naming ``name``."""
    try:
        return [float(e) for e in np.atleast_1d(np.asarray(values, dtype=object)).tolist()]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers in kV, got {values!r}") from None


def _check_unseen(unseen: Sequence[float], energies: list[float]) -> list[float]:
    """Voltages to evaluate between the training ones: numbers inside the trained range."""
    values = _kilovolts(unseen, "unseen voltages")
    outside = [e for e in values if not energies[0] <= e <= energies[-1]]
    if outside:
        raise ValueError(
            f"unseen voltages must lie in the trained {energies[0]:g}-{energies[-1]:g} kV, got "
            f"{' '.join(f'{e:g}' for e in outside)}"
        )
    return values


def _check_dynamical_phase(phase: Phase) -> None:
    """Fail now on a phase de-ebsd cannot simulate, naming the atom or setting and the fix."""
    from kikuchipy_gen.sources.dynamical import _import_de_ebsd, _to_de_ebsd_crystal

    sg = phase.space_group
    if sg.number > 230:
        raise ValueError(
            f"Phase {phase.name!r}: space group {sg.short_name} (diffpy number {sg.number}) is a non-standard "
            "setting; give the cell in the standard setting of the International Tables (hexagonal axes for "
            "a rhombohedral lattice)"
        )
    for i, atom in enumerate(phase.structure):
        label = f"Phase {phase.name!r}, atom {i} ({atom.element})"
        occupancy, uiso = float(atom.occupancy), float(atom.Uisoequiv)
        if not (math.isfinite(occupancy) and 0 < occupancy <= 1):
            raise ValueError(f"{label}: occupancy must be in (0, 1], got {occupancy:g}")
        if not (math.isfinite(uiso) and uiso > 0):
            raise ValueError(
                f"{label} has no Debye-Waller factor (Uiso {uiso:g} A^2); de-ebsd needs one: give "
                "_atom_site_U_iso_or_equiv in the CIF (about 0.005 A^2 at room temperature)"
            )
        if uiso > 0.5:
            raise ValueError(f"{label}: Uiso {uiso:g} A^2 is implausibly large; give it in A^2 (about 0.005)")
    de = _import_de_ebsd()
    try:
        crystal = _to_de_ebsd_crystal(de, phase)
        crystal.allowed_by_centering(np.zeros((1, 3), dtype=int))
        _ = crystal.mean_atomic_number  # looks up every element's scattering data
    except (ValueError, KeyError) as err:
        message = " ".join(str(err).split())
        raise ValueError(
            f"Phase {phase.name!r} (space group {sg.short_name}, number {sg.number}): de-ebsd "
            f"{getattr(de, '__version__', '')} cannot simulate it: {message}"
        ) from None
    # A site that is a symmetry image of another (the whole cell given instead of
    # the asymmetric unit) would be counted once per image.
    seen: list[tuple[int, np.ndarray]] = []
    for i, orbit in enumerate(crystal.positions):
        for j, other in seen:
            delta = (orbit[:, None, :] - other[None, :, :] + 0.5) % 1.0 - 0.5
            if (np.abs(delta) < 1e-4).all(axis=-1).any():
                raise ValueError(
                    f"Phase {phase.name!r}: atoms {j} and {i} sit on the same symmetry orbit; give the "
                    "asymmetric unit (each site once), as a CIF lists it"
                )
        seen.append((i, orbit))
