"""Do generated and physics patterns get the same dictionary match, pattern by pattern? Every shipped model.

Issue 15 asks for dictionary-indexing medians "equal to physics". A median sits
on one pattern, and a pattern whose two best matches score almost alike can fall
either way, so the medians of two routes can differ while nearly every pattern
gets the same match. For each shipped model this runs ``kikuchipy-gen evaluate``'s
settings of the committed zoo reports (200 random test orientations, seed 0, the
dictionary at the training density, every training voltage and midpoint) without
refinement, and prints, per voltage, the DI medians of both routes and
:func:`kikuchipy_gen.refinement.indexing_agreement`: the share of patterns with the
same match, and the counts of different matches that are dictionary neighbours
(within 5 deg) or in another basin. Nothing is timed.

    python benchmarks/indexing_agreement.py [MODEL ...] [--json PATH]

About 10 minutes for the five models on 2 cores with their master patterns cached.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import machine_info, print_header, write_json

from kikuchipy_gen.evaluation import evaluate
from kikuchipy_gen.master_pattern import MLMasterPattern, available_pretrained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="shipped model names (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    info = machine_info()
    print_header(info)
    results = {}
    for name in args.models or available_pretrained():
        with tempfile.TemporaryDirectory() as tmp:
            m = evaluate(
                MLMasterPattern.from_pretrained(name), tmp, n_refine=0, voltage_matrix=False, show_progressbar=False
            )
        rows = {}
        for kv, e in m["energies"].items():
            d, a = e["dictionary_indexing"], e["indexing_agreement"]
            rows[kv] = {"median_generated": d["generated"]["median"], "median_physics": d["physics"]["median"], **a}
            print(
                f"{name} {kv} kV: DI median generated {d['generated']['median']:.3f} / physics "
                f"{d['physics']['median']:.3f} deg; same match {100 * a['same']:.1f} %, different: "
                f"{a['neighbours']} neighbours, {a['elsewhere']} elsewhere",
                flush=True,
            )
        results[name] = rows
    write_json({"machine": info, "models": results}, args.json)


if __name__ == "__main__":
    main()
