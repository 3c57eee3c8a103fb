"""The ``kikuchipy-gen`` command line."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from kikuchipy_gen.refinement import REFINEMENT_METHODS

__all__ = ["main"]

_SOURCES = ("nickel", "emsoft", "kinematical", "dynamical")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    A user error (bad input, a missing or unwritable file) prints one line,
    ``kikuchipy-gen: error: <message>``, instead of a traceback; ``--debug``
    (before the command) shows the traceback.

    Parameters
    ----------
    argv
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 2 on bad input, 130 when interrupted.

    Examples
    --------
    >>> from kikuchipy_gen.cli import main
    >>> main(["generate", "--n", "0", "--out", "x.h5"])  # doctest: +SKIP
    kikuchipy-gen: error: --n must be >= 1, got 0
    2
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except _USER_ERRORS as err:
        if args.debug:
            raise
        print(f"kikuchipy-gen: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        # Leading newline: the interrupt usually lands in the middle of a progress bar.
        print(f"\nkikuchipy-gen: {_INTERRUPTED.get(args.command, 'interrupted')}", file=sys.stderr)
        return 130


# OSError covers FileNotFoundError, FileExistsError, PermissionError,
# IsADirectoryError and NotADirectoryError; ImportError an optional dependency.
_USER_ERRORS = (ValueError, TypeError, KeyError, OSError, ImportError, FloatingPointError)

_INTERRUPTED = {
    "dataset": "interrupted; finished chunks are kept, rerun the same command with --resume to continue",
    "train": "interrupted; rerun the same command with --resume to continue from the last checkpoint",
    "generate": "interrupted; no file was written",
    "model": "interrupted; finished steps are kept, rerun the same command to continue",
}


def _one_line(err: BaseException) -> str:
    """The message of ``err`` on one line; a KeyError's message, or the key it lacked."""
    message = str(err)
    if isinstance(err, KeyError) and len(err.args) == 1:
        key = err.args[0]
        message = key if isinstance(key, str) and " " in key.strip() else f"missing key {key!r}"
    message = " ".join(line.strip() for line in message.splitlines() if line.strip())
    return message or type(err).__name__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kikuchipy-gen",
        description="Deep generative simulation of EBSD patterns (EBSD-CVAE/GAN) for kikuchipy.",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_dataset_parser(sub)
    _add_train_parser(sub)
    _add_generate_parser(sub)
    _add_evaluate_parser(sub)
    _add_demo_parser(sub)
    _add_presets_parser(sub)
    _add_model_parser(sub)
    return parser


def _add_presets_parser(sub: argparse._SubParsersAction) -> None:
    pr = sub.add_parser(
        "presets",
        help="parameter counts and float32 training memory of the model presets",
        description=(
            "Print each preset's parameters per network and the float32 memory a training stage needs "
            "for weights, gradients and Adam's two moments (activations come on top). The networks are "
            "built on PyTorch's meta device: nothing is allocated."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    pr.add_argument("names", nargs="*", metavar="NAME", help="presets to describe (default: all)")
    pr.add_argument("--voltage", action="store_true", help="with the voltage attribute (use_voltage=True)")
    pr.add_argument("--config", type=Path, help="describe the model of this training config instead")
    pr.set_defaults(func=_cmd_presets)


def _add_model_parser(sub: argparse._SubParsersAction) -> None:
    mo = sub.add_parser(
        "model",
        help="one command from a phase to a trained, evaluated ML master pattern (resumable)",
        description=(
            "Build the dynamical (de-ebsd) dataset of a phase, train the geometric model (its texture at "
            "the master pattern's resolution; one CVAE epoch, or all three stages with --stages all), "
            "export it to OUT/model and write its evaluation report to OUT/report. Every "
            "step is kept when finished: rerun the same command after an interruption to continue. "
            "Defaults per Laue group (grid density, steps, dictionary) are in "
            "kikuchipy_gen.pipeline.LAUE_DEFAULTS; OUT/recipe.json records the settings."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    mo.add_argument("phase", help="phase preset (ni, fe-alpha, ti-alpha, rutile, corundum, quartz, ...) or CIF file")
    mo.add_argument("--out", type=Path, required=True, help="output folder")
    mo.add_argument(
        "--energies", type=float, nargs="+", default=[10.0, 15.0, 20.0, 25.0, 30.0], metavar="KV", help="increasing"
    )
    mo.add_argument("--n", type=int, help="training grid density (EMsoft n) [default: per Laue group]")
    mo.add_argument("--npx", type=int, help="de-ebsd Lambert half-width [default: 200; 100 with --quick]")
    mo.add_argument("--quick", action="store_true", help="a coarse model in minutes, to try a phase first")
    mo.add_argument(
        "--stages",
        choices=("cvae", "all"),
        default="cvae",
        help="training stages: the CVAE, or all three (then the critic and the joint CVAE/GAN, one epoch each)",
    )
    mo.add_argument(
        "--unseen",
        type=float,
        nargs="+",
        metavar="KV",
        help="voltages between the training ones to evaluate at [default: the midpoints]",
    )
    mo.add_argument("--no-evaluate", action="store_true", help="skip the evaluation report")
    mo.add_argument("--device", default="auto", help="training device: cpu, cuda, cuda:N or auto")
    mo.add_argument(
        "--no-progress", action="store_true", help="hide progress bars and what kikuchipy prints while evaluating"
    )
    mo.set_defaults(func=_cmd_model)


def _add_dataset_parser(sub: argparse._SubParsersAction) -> None:
    ds = sub.add_parser(
        "dataset",
        help="build a training dataset of simulated EBSD patterns",
        description=(
            "Sample orientations in the fundamental zone (cubochoric grid, as EMsoft's "
            "EMsampleRFZ), project EBSD patterns from a physics master pattern with "
            "kikuchipy, equalise them with CLAHE as in the paper and store them chunk by "
            "chunk in a zarr directory, with training, validation and test orientations "
            "that share none. An interrupted build continues with --resume."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ds.add_argument("out", type=Path, help="output directory, e.g. ni.zarr")
    g = ds.add_argument_group("master pattern source")
    g.add_argument(
        "--source",
        choices=_SOURCES,
        default="nickel",
        help="nickel: EMsoft Ni 20 kV shipped with kikuchipy; emsoft: an EMsoft master "
        "pattern file; kinematical: diffsims/kikuchipy at any kV; dynamical: de-ebsd "
        "Bloch-wave simulation at any kV (pip install 'kikuchipy-gen[dynamical]')",
    )
    g.add_argument("--emsoft-file", type=Path, help="EMsoft master pattern file (--source emsoft)")
    g.add_argument(
        "--phase",
        help="phase preset (ni, pt, al, cu) or CIF file [default: ni; for --source emsoft: the file's phase]",
    )
    g.add_argument(
        "--energies",
        type=float,
        nargs="+",
        metavar="KV",
        help="beam energies in kV (default: the source's only energy, else 20)",
    )
    g.add_argument("--npx", type=int, default=200, help="dynamical: Lambert half-width (pixels)")
    g.add_argument("--half-size", type=int, default=200, help="kinematical: half-size (pixels)")
    g = ds.add_argument_group("orientations")
    g.add_argument(
        "--n",
        type=int,
        default=None,
        help="training grid density (EMsampleRFZ n; 100 gives the paper's 333,227 for m-3m) [default: 100]",
    )
    g.add_argument("--resolution", type=float, help="training grid spacing in degrees, instead of --n")
    g.add_argument("--n-val", type=int, help="validation grid density (default: coprime, about n/2)")
    g.add_argument("--n-test", type=int, help="test grid density (default: coprime, below --n-val)")
    g = ds.add_argument_group("detector")
    g.add_argument("--shape", type=int, nargs=2, default=(60, 60), metavar=("ROWS", "COLS"))
    g.add_argument(
        "--pc",
        type=float,
        nargs=3,
        default=None,
        metavar=("X", "Y", "Z"),
        help="pattern centre, Bruker convention [default: 0.421 0.2206 0.5049, kikuchipy's Ni example geometry]",
    )
    g.add_argument("--sample-tilt", type=float, default=70.0, help="degrees")
    g.add_argument("--camera-tilt", type=float, default=0.0, help="degrees")
    g = ds.add_argument_group("preprocessing (CLAHE as OpenCV, the paper's reference code)")
    g.add_argument("--clahe-clip", type=float, default=10.0, help="OpenCV clipLimit")
    g.add_argument("--clahe-tiles", type=int, nargs=2, default=(4, 4), metavar=("ROWS", "COLS"))
    g.add_argument("--no-clahe", action="store_true", help="store rescaled patterns without CLAHE")
    g = ds.add_argument_group("storage")
    g.add_argument("--chunk-size", type=int, default=1024, help="patterns per chunk")
    g.add_argument("--resume", action="store_true", help="continue an interrupted build")
    g.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    g.add_argument("--figure", type=Path, help="also save a PNG of patterns per energy here")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    ds.set_defaults(func=_cmd_dataset)


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser(
        "train",
        help="train the EBSD-CVAE/GAN on a dataset (three stages, resumable)",
        description=(
            "Train the EBSD-CVAE/GAN in three stages: CVAE with the adaptive KL "
            "coefficient, critic/classifier pre-training, then joint CVAE/GAN. CONFIG is a "
            "JSON or TOML file of TrainConfig fields; its model section may name a preset "
            "('paper' for a GPU, 'compact' for a CPU). Checkpoints, history.csv, "
            "loss_curves.png and samples/ go to the output directory."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    tr.add_argument("config", type=Path, help="training configuration (.json or .toml)")
    tr.add_argument("--dataset", help="dataset path (overrides the config)")
    tr.add_argument("--out", help="output directory (overrides the config)")
    tr.add_argument("--device", help="cpu, cuda or auto (overrides the config)")
    tr.add_argument("--bf16", action="store_true", help="bfloat16 autocast (fast on AMX CPUs and GPUs)")
    tr.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints/last")
    tr.add_argument("--no-progress", action="store_true", help="hide progress bars")
    tr.set_defaults(func=_cmd_train)


def _add_generate_parser(sub: argparse._SubParsersAction) -> None:
    gen = sub.add_parser(
        "generate",
        help="generate EBSD patterns with a trained model into a kikuchipy file",
        description=(
            "Generate patterns with an ML master pattern (a saved model, a training run, or the "
            "shipped model) for random or given orientations and write them as kikuchipy h5ebsd, "
            "with the orientations and detector, readable by kikuchipy.load."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    gen.add_argument(
        "--model", default="pretrained", help="model folder or training run, or 'pretrained' for the shipped model"
    )
    gen.add_argument("--energy", type=float, help="voltage in kV (default: the model's only one)")
    which = gen.add_mutually_exclusive_group(required=True)
    which.add_argument("--n", type=int, help="number of uniformly random orientations")
    which.add_argument(
        "--orientations",
        type=Path,
        help=".npy/.txt/.csv of quaternions (n, 4) or Bunge Euler angles in degrees (n, 3), "
        "or a crystal map orix reads (.ang, .ctf, .h5)",
    )
    gen.add_argument("--out", type=Path, required=True, help="output file (.h5)")
    gen.add_argument("--seed", type=int, default=0, help="seed of the random orientations")
    gen.add_argument("--latent", default="mean", help="'mean' (z = 0) or an integer seed for z ~ N(0, I)")
    gen.add_argument("--dtype", default="uint8", choices=("uint8", "uint16", "float32"))
    gen.add_argument(
        "--device", help="torch device: cpu, cuda, cuda:N or auto (default: cuda when available, else cpu)"
    )
    gen.add_argument("--chunk-size", type=int, default=1024, help="patterns per chunk")
    gen.add_argument("--extrapolate", action="store_true", help="allow energies outside the trained range")
    gen.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    gen.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    gen.set_defaults(func=_cmd_generate)


def _add_evaluate_parser(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser(
        "evaluate",
        help="the paper's quality analysis of a trained model, as a report folder",
        description=(
            "Compare generated patterns with the physics the model learned from (rebuilt from its "
            "recorded source, CLAHE'd as in training) on random test orientations: BCE against the "
            "optimum, pixel deviations, dictionary indexing against a physics dictionary, refinement "
            "(BOBYQA by default), the voltage matrix, band width versus voltage and the time of the "
            "physics route against the model. Writes report.md, metrics.json and PNG figures. "
            "Several --model give Table 1 (models side by side) in table1.md."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ev.add_argument(
        "--model",
        action="append",
        default=None,
        help="model folder or training run, or 'pretrained'; repeat to compare models",
    )
    ev.add_argument("--out", type=Path, required=True, help="report folder")
    ev.add_argument("--energies", type=float, nargs="+", help="training voltages to evaluate (default: all)")
    ev.add_argument(
        "--unseen",
        type=float,
        nargs="*",
        help="voltages between the training ones (default: midpoints; none if given empty)",
    )
    ev.add_argument(
        "--dataset",
        help="the model's training dataset: test on its held-out test grid (as the paper) instead of "
        "random orientations",
    )
    ev.add_argument(
        "--n-test",
        type=int,
        help="test orientations: that many of the --dataset test grid (default all of it), or random ones "
        "(default 200)",
    )
    ev.add_argument(
        "--dictionary-n",
        type=int,
        help="physics dictionary density (EMsoft n: 30 -> 9,077, 50 -> 41,625, 100 -> 333,227 m-3m "
        "orientations); default the model's training density, but at least 50 (40 for a Laue group of four or "
        "fewer rotations): at 2.5 deg (n = 30) pseudo-symmetric twins take many best matches",
    )
    ev.add_argument("--n-refine", type=int, default=100, help="patterns refined per voltage")
    ev.add_argument(
        "--method",
        default="ln_bobyqa",
        choices=REFINEMENT_METHODS,
        help="refinement optimiser: ln_bobyqa (NLopt's BOBYQA), bobyqa (Py-BOBYQA's, about 10x slower) or a "
        "Nelder-Mead [default: ln_bobyqa]",
    )
    ev.add_argument(
        "--refine-basins",
        type=int,
        default=8,
        help="refine from up to this many best distinct basins of the dictionary matches and keep the one "
        "of highest NCC (1: from the best match only)",
    )
    ev.add_argument("--no-voltage-matrix", action="store_true", help="skip Fig. 5's matrix")
    ev.add_argument("--matrix-patterns", type=int, default=30, help="patterns per voltage-matrix cell")
    ev.add_argument(
        "--matrix-start",
        choices=("indexing", "offset"),
        default="indexing",
        help="voltage matrix refinements start from dictionary indexing at the indexing voltage (the paper) "
        "or 1 deg off the truth",
    )
    ev.add_argument("--seed", type=int, default=0, help="seed of the test orientations")
    ev.add_argument(
        "--time-physics",
        action="store_true",
        help="time each training voltage's master pattern computed afresh (cache off) for Table 2",
    )
    ev.add_argument(
        "--emsoft-file",
        type=Path,
        help="for a model learned from an EMsoft master-pattern file: that file (a model file's recorded "
        "path is never opened on its own)",
    )
    ev.add_argument(
        "--no-progress", action="store_true", help="hide progress bars and what kikuchipy prints while indexing"
    )
    ev.set_defaults(func=_cmd_evaluate)


def _add_demo_parser(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo",
        help="run the main job on the shipped model",
        description=(
            "Load the shipped ML master pattern (Ni, 10-30 kV), save a figure of generated patterns "
            "across the voltage range, index EMsoft nickel patterns (kikuchipy's own master pattern, "
            "a physics source the model never saw) against a lazily generated dictionary, refine them "
            "with BOBYQA, and write generated patterns as a kikuchipy h5ebsd file."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    demo.add_argument("--out", type=Path, default=Path("demo_output"), help="output directory")
    demo.add_argument("--n", type=int, default=30, help="density of the generated dictionary (EMsoft n; 30 -> 9,077)")
    demo.add_argument("--patterns", type=int, default=40, help="physics patterns to index")
    demo.set_defaults(func=_cmd_demo)


def _make_source(args: argparse.Namespace):
    from kikuchipy_gen import sources

    if args.source == "nickel":
        return sources.KikuchipyNickelSource()
    if args.source == "emsoft":
        if args.emsoft_file is None:
            raise ValueError("--source emsoft needs --emsoft-file PATH")
        return sources.EMsoftFileSource(args.emsoft_file, phase=args.phase)
    if args.source == "kinematical":
        return sources.KinematicalSource(args.phase or "ni", half_size=args.half_size)
    return sources.DynamicalSource(args.phase or "ni", npx=args.npx)


def _cmd_dataset(args: argparse.Namespace) -> int:
    from kikuchipy_gen.dataset import build_dataset
    from kikuchipy_gen.detector import DEFAULT_PC, default_detector
    from kikuchipy_gen.preprocessing import CLAHE
    from kikuchipy_gen.sampling import resolution_to_steps, split_orientations

    if args.n is not None and args.resolution is not None:
        raise ValueError("Give --n or --resolution, not both")
    n = resolution_to_steps(args.resolution) if args.resolution is not None else args.n
    n = 100 if n is None else n
    for name in ("sample_tilt", "camera_tilt"):
        _check_finite(getattr(args, name), f"--{name.replace('_', '-')}", "an angle in degrees")
    if args.pc is not None and not all(math.isfinite(v) for v in args.pc):
        raise ValueError(f"--pc must be three finite numbers (Bruker convention), got {' '.join(map(str, args.pc))}")
    if args.chunk_size < 1:
        raise ValueError(f"--chunk-size must be >= 1, got {args.chunk_size}")
    detector = default_detector(
        args.shape, DEFAULT_PC if args.pc is None else args.pc, args.sample_tilt, args.camera_tilt
    )
    clahe = None if args.no_clahe else CLAHE(args.clahe_clip, tuple(args.clahe_tiles))
    # Validate cheap inputs before the costly ones (sampling, master patterns).
    if args.out.exists() and not (args.resume or args.overwrite):
        raise FileExistsError(
            f"{str(args.out)!r} exists; pass --resume to finish an interrupted build or --overwrite to replace it"
        )
    _check_writable(args.out, "directory")
    if args.figure is not None:
        _check_figure_path(args.figure)
    source = _make_source(args)
    energies = args.energies
    if energies is None:
        energies = list(source.energies) if source.energies and len(source.energies) == 1 else [20.0]
    for e in energies:
        source.check_energy(e)
    t0 = time.perf_counter()
    splits = split_orientations(source.phase.point_group, n, args.n_val, args.n_test)
    sizes = ", ".join(f"{k} {v.size:,}" for k, v in splits.items())
    print(f"Orientations ({source.phase.point_group.name}, n={n}): {sizes}")
    ds = build_dataset(
        args.out,
        source,
        splits,
        energies,
        detector,
        clahe,
        args.chunk_size,
        resume=args.resume,
        overwrite=args.overwrite,
        show_progressbar=not args.no_progress,
    )
    print(f"Wrote {ds} in {time.perf_counter() - t0:.1f} s")
    if args.figure is not None:
        from kikuchipy_gen.plotting import plot_patterns_per_energy

        plot_patterns_per_energy(ds, "test" if "test" in ds.sizes else "train").savefig(args.figure, dpi=120)
        print(f"Saved {args.figure}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from kikuchipy_gen.models import load_config
    from kikuchipy_gen.training import train

    config = load_config(args.config)
    for key in ("dataset", "out", "device"):
        if getattr(args, key):
            setattr(config, key, getattr(args, key))
    if args.bf16:
        config.mixed_precision = True
    if not config.dataset:
        raise ValueError("No dataset: set 'dataset' in the config or pass --dataset")
    if args.device:
        _check_device(args.device)
    _check_writable(Path(config.out), "directory")
    trainer = train(config, resume=args.resume, show_progressbar=not args.no_progress)
    best = trainer.state.best_val
    print(
        f"Finished {trainer.state.step} steps; best validation BCE per pixel (z = 0) {best:.4f}; "
        f"checkpoints in {trainer.out / 'checkpoints'}"
    )
    return 0


def _cmd_model(args: argparse.Namespace) -> int:
    from kikuchipy_gen.pipeline import build_model, resolve_recipe

    _check_device(args.device)
    kw = dict(n=args.n, npx=args.npx, quick=args.quick, stages=args.stages)
    if args.unseen is not None:
        kw["evaluation"] = {"unseen": args.unseen}
    recipe = resolve_recipe(args.phase, args.energies, **kw)  # every input checked before any work
    _check_writable(args.out, "directory")
    print(
        f"{recipe['phase']['name']} ({recipe['laue_group']}), {' '.join(f'{e:g}' for e in recipe['energies'])} kV, "
        f"n = {recipe['dataset']['n']}, npx = {recipe['source']['npx']}: building in {args.out}/"
    )
    t0 = time.perf_counter()
    with _quiet_kikuchipy(not args.no_progress):
        model = build_model(
            args.phase,
            args.out,
            args.energies,
            evaluate=not args.no_evaluate,
            device=args.device,
            show_progressbar=not args.no_progress,
            **kw,
        )
    print(f"Wrote {args.out / 'model'} ({model}) in {time.perf_counter() - t0:.0f} s")
    if not args.no_evaluate:
        print(f"Report: {args.out / 'report' / 'report.md'}")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    from kikuchipy_gen.models import describe_preset, load_config
    from kikuchipy_gen.models.config import _PRESETS

    if args.config is not None:
        if args.names:
            raise ValueError("Pass preset names or --config, not both")
        rows = [(str(args.config), describe_preset(load_config(args.config).model))]
    else:
        unknown = [n for n in args.names if n not in _PRESETS]
        if unknown:
            raise ValueError(f"Unknown preset(s) {unknown}; use {sorted(_PRESETS)}")
        overrides = {"use_voltage": True} if args.voltage else {}
        rows = [(n, describe_preset(n, **overrides)) for n in args.names or list(_PRESETS)]
    print(
        f"{'model':<12} {'encoder':>13} {'decoder':>13} {'critic':>13} {'total':>15}  "
        "fp32 GB (weights + grads + Adam): cvae / critic / gan stage"
    )
    for name, d in rows:
        p, m = d["parameters"], d["memory_bytes"]
        print(
            f"{name:<12} {p['encoder']:>13,} {p['decoder']:>13,} {p['critic']:>13,} {p['total']:>15,}  "
            f"{m['cvae'] / 1e9:.2f} / {m['critic'] / 1e9:.2f} / {m['gan'] / 1e9:.2f}"
        )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from kikuchipy_gen.demo import run_demo

    if args.n < 2 or args.patterns < 1:
        raise ValueError("--n must be >= 2 and --patterns >= 1")
    _check_writable(args.out, "directory")
    t0 = time.perf_counter()
    n_refine = min(10, args.patterns)
    r = run_demo(args.out, n_dictionary=args.n, n_patterns=args.patterns, n_refine=n_refine)
    print(f"Saved {args.out / 'generated_per_voltage.png'} (bands narrow as the voltage rises)")
    print(
        f"Indexed {args.patterns} EMsoft Ni 20 kV patterns against {r['dictionary_size']:,} generated ones: "
        f"disorientation mean {r['indexing_mean']:.2f} deg, median {r['indexing_median']:.2f} deg "
        f"({r['indexing_s']:.1f} s)"
    )
    print(
        f"Refined {n_refine} of them with BOBYQA against the EMsoft master pattern: "
        f"mean {r['refined_mean']:.3f} deg, median {r['refined_median']:.3f} deg ({r['refine_s']:.1f} s)"
    )
    print(f"Wrote {args.out / 'generated_17.5kV.h5'} (kikuchipy.load reads it, with orientations and detector)")
    print(f"Demo done in {time.perf_counter() - t0:.0f} s; outputs in {args.out}/")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from kikuchipy_gen.evaluation import comparison_table, evaluate
    from kikuchipy_gen.master_pattern import MLMasterPattern

    names = args.model or ["pretrained"]
    _check_writable(args.out, "directory")
    reports = {}
    for name in names:
        model = MLMasterPattern.from_pretrained() if name == "pretrained" else MLMasterPattern.load(name)
        folder = args.out if len(names) == 1 else args.out / Path(name).name
        with _quiet_kikuchipy(not args.no_progress):
            metrics = evaluate(
                model,
                folder,
                energies=args.energies,
                unseen=args.unseen,
                n_test=args.n_test,
                dictionary_n=args.dictionary_n,
                n_refine=args.n_refine,
                method=args.method,
                refine_basins=args.refine_basins,
                voltage_matrix=not args.no_voltage_matrix,
                matrix_patterns=args.matrix_patterns,
                matrix_start=args.matrix_start,
                dataset=args.dataset,
                seed=args.seed,
                time_physics=args.time_physics,
                show_progressbar=not args.no_progress,
                physics_path=args.emsoft_file,
            )
        reports[Path(name).name] = metrics
        print(f"Wrote {folder / 'report.md'} ({metrics['elapsed_s']:.0f} s)")
    if len(reports) > 1:
        (args.out / "table1.md").write_text(comparison_table(reports))
        print(f"Wrote {args.out / 'table1.md'}")
    return 0


_TABLE_SUFFIXES = (".npy", ".txt", ".csv")
_CRYSTAL_MAP_SUFFIXES = (".ang", ".ctf", ".h5", ".hdf5", ".h5ebsd")  # what orix.io.load reads


def _read_orientations(path: Path):
    """Rotations from a table of quaternions or Euler angles, or from a crystal map."""
    import numpy as np
    from orix.quaternion import Rotation

    if not path.is_file():
        raise ValueError(f"No orientation file at {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix not in _TABLE_SUFFIXES + _CRYSTAL_MAP_SUFFIXES:
        raise ValueError(
            f"--orientations {str(path)!r}: unsupported file type {suffix or '(none)'!r}; give quaternions (n, 4) "
            f"or Bunge Euler angles in degrees (n, 3) as {', '.join(_TABLE_SUFFIXES)}, or a crystal map "
            f"({', '.join(_CRYSTAL_MAP_SUFFIXES)})"
        )
    if suffix in _TABLE_SUFFIXES:
        data = _read_table(path, suffix)
        if data.shape[-1] == 3:
            _check_rows(data.reshape(-1, 3), path, "Euler angle")
            return Rotation.from_euler(np.deg2rad(data.reshape(-1, 3)))
        return Rotation(_unit_quaternions(data.reshape(-1, 4), path))
    from orix import io

    try:
        xmap = io.load(path)
    except Exception as err:  # orix's readers raise many kinds of errors on files they cannot parse
        raise ValueError(f"Could not read a crystal map from {str(path)!r}: {_one_line(err)}") from err
    if xmap.size == 0:
        raise ValueError(f"The crystal map in {str(path)!r} holds no points")
    q = _unit_quaternions(xmap.rotations.data.reshape(-1, 4), path)
    return Rotation(q.reshape(*xmap.shape, 4)) if xmap.size == int(np.prod(xmap.shape)) else Rotation(q)


def _read_table(path: Path, suffix: str):
    """A float array of rows of 3 or 4 numbers from .npy (never unpickled), .txt or .csv."""
    import warnings

    import numpy as np

    try:
        if suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        else:
            with warnings.catch_warnings():  # numpy warns on an empty file; the check below says so
                warnings.simplefilter("ignore", UserWarning)
                data = np.loadtxt(path, delimiter="," if suffix == ".csv" else None, ndmin=2)
        data = np.atleast_2d(np.asarray(data, dtype=float))
    except (ValueError, TypeError, OSError, EOFError) as err:
        raise ValueError(f"Could not read orientations from {str(path)!r}: {_one_line(err)}") from err
    if data.size == 0:
        raise ValueError(f"{str(path)!r} holds no orientations")
    if data.shape[-1] not in (3, 4):
        raise ValueError(
            f"{str(path)!r}: expected rows of 4 quaternion components or 3 Euler angles, got shape {data.shape}"
        )
    return data


def _check_rows(data, path: Path, what: str) -> None:
    import numpy as np

    bad = np.flatnonzero(~np.isfinite(data).all(axis=1))
    if bad.size:
        more = f" (and {bad.size - 1} more)" if bad.size > 1 else ""
        raise ValueError(
            f"{str(path)!r}: {what} row {bad[0]} (counting from 0) is not finite: {data[bad[0]]}{more}; "
            "every value must be a finite number"
        )


def _unit_quaternions(q, path: Path):
    """``q`` normalised, after checking every row is finite and non-zero."""
    import numpy as np

    _check_rows(q, path, "quaternion")
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    zero = np.flatnonzero(norm[:, 0] == 0)
    if zero.size:
        more = f" (and {zero.size - 1} more)" if zero.size > 1 else ""
        raise ValueError(
            f"{str(path)!r}: quaternion row {zero[0]} (counting from 0) is zero{more}; a rotation needs a "
            "non-zero quaternion (it is normalised)"
        )
    return q / norm


def _cmd_generate(args: argparse.Namespace) -> int:
    from kikuchipy_gen.master_pattern import MLMasterPattern
    from kikuchipy_gen.sampling import random_rotations

    # Every check that needs no model comes first, before any work.
    if args.out.suffix.lower() not in (".h5", ".hdf5", ".h5ebsd"):
        raise ValueError(f"--out must be an .h5 file (kikuchipy h5ebsd), got {str(args.out)!r}")
    if args.out.exists() and not args.overwrite:
        raise FileExistsError(f"{str(args.out)!r} exists; pass --overwrite to replace it")
    _check_writable(args.out, "file")
    if args.n is not None and args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    if args.energy is not None:
        _check_finite(args.energy, "--energy", "a voltage in kV")
    if args.chunk_size < 1:
        raise ValueError(f"--chunk-size must be >= 1, got {args.chunk_size}")
    latent = args.latent if args.latent == "mean" else _int_or_error(args.latent, "--latent")
    device = None if args.device in (None, "auto") else args.device
    _check_device(device)
    rot = _read_orientations(args.orientations) if args.orientations is not None else None

    model = MLMasterPattern.from_pretrained() if args.model == "pretrained" else MLMasterPattern.load(args.model)
    rot = random_rotations(args.n, seed=args.seed) if rot is None else rot
    t0 = time.perf_counter()
    # Lazy: kikuchipy's writer computes and stores the patterns chunk by chunk,
    # so memory stays at a few chunks whatever the number of patterns.
    s = model.get_patterns(
        rot,
        energy=args.energy,
        dtype_out=args.dtype,
        compute=False,
        chunk_shape=args.chunk_size,
        latent=latent,
        device=device,
        extrapolate=args.extrapolate,
    )
    if rot.size == 1:
        # A one-point map (orix shape ()) only fits a signal without navigation
        # axes; with navigation shape (1,) kikuchipy would write an empty map.
        s = s.inav[(0,) * s.axes_manager.navigation_dimension]
    _save_atomically(s, args.out, show_progressbar=not args.no_progress)
    print(f"Wrote {rot.size:,} patterns from {model} to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _save_atomically(s, out: Path, show_progressbar: bool) -> None:
    """Save ``s`` to a temporary file beside ``out``, then rename it: no half-written ``out``.

    kikuchipy's writer shows dask's progress bar on stdout while it stores a
    lazy signal; without a progress bar that output goes nowhere.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.stem}.partial-{os.getpid()}{out.suffix}")
    try:
        with _quiet_kikuchipy(show_progressbar):
            s.save(partial, overwrite=True)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


def _quiet_kikuchipy(show_progressbar: bool) -> contextlib.AbstractContextManager:
    """Under ``--no-progress``, a context that sends what kikuchipy prints on stdout nowhere.

    kikuchipy 0.13 prints unconditionally: its h5ebsd writer never passes
    rosettasciio's ``show_progressbar`` (dask's bar), and dictionary indexing
    and refinement print their settings, speed and dask's bar on every call
    (147 kB for one ``model corundum`` run). This is the command line's own
    process, scoped to the command's work: no library caller is affected, and
    the command's own lines are printed outside it. Errors, warnings and the
    tqdm bar of kikuchipy's dictionary indexing go to stderr, which stays.
    """
    import io

    return contextlib.nullcontext() if show_progressbar else contextlib.redirect_stdout(io.StringIO())


def _check_finite(value: float, option: str, what: str) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{option} must be {what}, a finite number, got {value}")


def _check_device(name: str | None) -> None:
    """Fail before any work on a device torch does not know or this machine lacks."""
    if name is None or name == "auto":
        return
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError) as err:
        raise ValueError(f"--device {name!r} is not a torch device; use cpu, cuda, cuda:N or auto") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "a CPU-only build" if torch.version.cuda is None else "which sees no GPU"
            raise ValueError(
                f"--device {name}: CUDA is not available on this machine (torch {torch.__version__}, {why}); "
                "use --device cpu"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"--device {name}: MPS is not available on this machine; use --device cpu")
    elif device.type != "cpu":
        raise ValueError(f"--device {name}: unsupported device type {device.type!r}; use cpu, cuda, cuda:N or auto")


def _check_writable(path: Path, kind: str) -> None:
    """Fail now, before any work, if the output ``kind`` ("file" or "directory") cannot be written.

    Creates the missing folders, writes and removes a temporary file in the
    folder, then removes the folders it created.
    """
    folder = path if kind == "directory" else path.parent
    if kind == "file" and path.is_dir():
        raise IsADirectoryError(f"The output file {str(path)!r} is a directory; give a file path")
    if kind == "directory" and path.exists() and not path.is_dir():
        raise NotADirectoryError(f"The output directory {str(path)!r} is a file; give a directory path")
    missing = []
    parent = folder
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    made = []
    try:
        for d in reversed(missing):
            d.mkdir()
            made.append(d)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".kikuchipy-gen-write-test-")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise type(err)(
            f"Cannot write the output {kind} {str(path)!r}: cannot create or write in {str(folder)!r} "
            f"({err.strerror or err}); choose another path"
        ) from err
    finally:
        for d in reversed(made):
            with contextlib.suppress(OSError):
                d.rmdir()


def _check_figure_path(path: Path) -> None:
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    if path.suffix.lower().lstrip(".") not in formats:
        raise ValueError(f"--figure must end with one of {', '.join('.' + f for f in formats)}, got {str(path)!r}")
    _check_writable(path, "file")


def _int_or_error(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError as err:
        raise ValueError(f"{name} must be 'mean' or an integer seed, got {value!r}") from err


if __name__ == "__main__":
    raise SystemExit(main())
