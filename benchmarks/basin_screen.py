"""The basin search's optimisers: time and outcome of ``refine_best_basin`` per screen and final method.

The evaluation refines each pattern from several dictionary basins with a
quick screen, then refines the best basin with its final method
(:func:`kikuchipy_gen.refinement.refine_best_basin`). This script repeats the
evaluation's steps at one voltage (its test orientations, physics dictionary
and 2.5 matches a basin) and runs the search once per route, the routes
alternated over ``--repeats`` rounds. A route is ``SCREEN[/MAXFUN]:METHOD``:
the screen's method (and its most NCC evaluations a pattern and basin,
default 300) and the final method; a screen equal to the method refines with
it alone. Printed per route: the median time, the basins kept that differ
from the first route's, and the misses (refined >= 0.5 deg) of the generated
and the physics patterns.

    python benchmarks/basin_screen.py ti-alpha-10-30kv --energy 25 --basins 24 \\
        --routes nelder-mead:bobyqa nelder-mead:ln_bobyqa ln_bobyqa:ln_bobyqa
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import time

import numpy as np
from _common import kept_dictionaries, machine_info, print_header
from orix.quaternion import Rotation

from kikuchipy_gen.evaluation import report
from kikuchipy_gen.evaluation.physics import as_ebsd, clahe_from_info, ranked_matches
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.refinement import REFINEMENT_METHODS, disorientation, refine_best_basin
from kikuchipy_gen.sampling import sample_orientations


def _route(text: str) -> tuple[str, int, str]:
    """``SCREEN[/MAXFUN]:METHOD`` as (screen, maxfun, method)."""
    try:
        screen, method = text.split(":")
        screen, _, maxfun = screen.partition("/")
        maxfun = int(maxfun or 300)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a route is SCREEN[/MAXFUN]:METHOD, got {text!r}") from None
    if screen not in REFINEMENT_METHODS or method not in REFINEMENT_METHODS:
        raise argparse.ArgumentTypeError(f"methods are {REFINEMENT_METHODS}, got {text!r}")
    return screen, maxfun, method


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a shipped model's name or a model folder")
    parser.add_argument("--energy", type=float, required=True, help="voltage (kV)")
    parser.add_argument("--n-refine", type=int, default=100)
    parser.add_argument("--basins", type=int, default=24)
    parser.add_argument(
        "--routes",
        type=_route,
        nargs="+",
        default=[_route("nelder-mead:bobyqa"), _route("ln_bobyqa:ln_bobyqa")],
        help="SCREEN[/MAXFUN]:METHOD each; the first is the reference",
    )
    parser.add_argument("--repeats", type=int, default=3, help="alternated rounds [default: 3]")
    args = parser.parse_args()

    try:
        mlmp = MLMasterPattern.from_pretrained(args.model)
    except ValueError:
        mlmp = MLMasterPattern.load(args.model)
    e, phase, det = args.energy, mlmp.phase, mlmp.detector
    test_rot, _ = report._test_orientations(mlmp, None, None, 0)
    density, _ = report._dictionary_density(mlmp)
    masters, _, _ = report._physics_master_patterns(mlmp, [e], [])
    clahe = clahe_from_info(mlmp.info.get("preprocessing"))
    patterns, _ = report._pixel_metrics(mlmp, masters, test_rot, clahe)
    dictionary = kept_dictionaries(masters, sample_orientations(phase.point_group, n=density), det, clahe)[e]
    keep_n = max(report._KEEP_N, math.ceil(report._MATCHES_PER_BASIN * args.basins))
    n = min(args.n_refine, test_rot.size)
    sub, rot = slice(0, n), Rotation(test_rot.data[:n])
    inputs = {}
    with contextlib.redirect_stdout(io.StringIO()):  # kikuchipy's indexing and refinement reports
        for kind in ("generated", "physics"):
            s = as_ebsd(patterns[e].of(kind), test_rot, phase, det)
            indexed = s.dictionary_indexing(dictionary, keep_n=keep_n)
            inputs[kind] = (as_ebsd(patterns[e].of(kind)[sub], rot, phase, det), ranked_matches(indexed, sub))

    print_header(machine_info())
    print(f"{args.model}, {e:g} kV, {n} patterns each, {keep_n} matches, {args.basins} basins, settle {report._SETTLE}")
    names = [f"{s}/{m}:{f}" for s, m, f in args.routes]
    times = {name: [] for name in names}
    outcome = {}
    for r in range(args.repeats):
        order = list(zip(names, args.routes, strict=True))
        for name, (screen, maxfun, method) in order if r % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            result = {}
            with contextlib.redirect_stdout(io.StringIO()):
                for kind, (s, ranked) in inputs.items():
                    xmap = refine_best_basin(
                        s,
                        ranked,
                        det,
                        masters[e],
                        e,
                        n_basins=args.basins,
                        method=method,
                        screen_method=screen,
                        settle=report._SETTLE,
                        screen_kwargs={"maxfun": maxfun},
                    )
                    result[kind] = (np.asarray(xmap.prop["basin"]), disorientation(xmap, rot, phase))
            times[name].append(time.perf_counter() - t0)
            outcome[name] = result
            print(f"# round {r + 1}, {name}: {times[name][-1]:.1f} s", flush=True)

    reference = outcome[names[0]]
    print(
        "| screen/maxfun:method | time, both kinds (s), median (min-max) | vs first "
        "| basins kept unlike the first's, gen / phys "
        "| misses, gen / phys | generated-only / physics-only | refined mean where both < 0.5 deg, gen / phys |"
    )
    print("|---|---|---|---|---|---|---|")
    t_ref = np.median(times[names[0]])
    for name in names:
        (bg, ag), (bp, ap) = outcome[name]["generated"], outcome[name]["physics"]
        changed = [int((b != reference[kind][0]).sum()) for kind, b in (("generated", bg), ("physics", bp))]
        ok = (ag < 0.5) & (ap < 0.5)
        t = np.asarray(times[name])
        print(
            f"| {name} | {np.median(t):.1f} ({t.min():.1f}-{t.max():.1f}) | {t_ref / np.median(t):.2f}x | "
            f"{changed[0]} / {changed[1]} | {int((ag >= 0.5).sum())} / {int((ap >= 0.5).sum())} | "
            f"{int(((ag >= 0.5) & (ap < 0.5)).sum())} / {int(((ap >= 0.5) & (ag < 0.5)).sum())} | "
            f"{ag[ok].mean():.4f} / {ap[ok].mean():.4f} |"
        )


if __name__ == "__main__":
    main()
