"""One pass of the evaluation's physics dictionary, and where its time goes: kikuchipy's projection, the scoring.

The evaluation indexes every pattern that needs a voltage's physics dictionary
in one kikuchipy ``dictionary_indexing`` call, so each voltage's dictionary is
projected (kikuchipy), equalised (CLAHE as in training) and scored once. This
times that pass for the shipped alpha-iron model at 20 kV (n = 50, 41,625
orientations; 520 patterns indexed, as an evaluation with the voltage matrix
does), against its parts, alternated after a warm-up:

* ``pass``: the evaluation's, :func:`kikuchipy_gen.evaluation.physics.physics_dictionary`
  indexed with kikuchipy (projection, CLAHE and scoring, chunk by chunk; each chunk
  projected and equalised in one piece per dask thread, in parallel);
* ``serial``: the same pass on dask's synchronous scheduler, one piece at a time, as
  the dictionary ran before its chunks were split (kikuchipy computes one chunk at a
  time, and projected it on one core);
* ``project``: kikuchipy's ``get_patterns`` of the same orientations alone;
* ``score``: the indexing alone, against the same dictionary held in memory.

The pass's time less the two parts is CLAHE and the passing of chunks, less what
runs at the same time on the other threads.

    python benchmarks/dictionary_pass.py [--quick] [--n 50] [--repeats 5] [--json PATH]

Full: about 2 minutes on 2 quiet cores. ``--quick``: n = 20, 2 rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
from pathlib import Path

import dask
from _common import alternate, machine_info, print_header, ratios, spread, write_json
from orix.quaternion import Rotation

from kikuchipy_gen.evaluation.physics import as_ebsd, clahe_from_info, physics_dictionary
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.sampling import random_rotations, sample_orientations

ENERGY = 20.0
INDEXED = 520  # 200 test patterns of each route and 4 x 30 voltage-matrix rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 20, 2 rounds (a smoke test)")
    parser.add_argument("--n", type=int, help="dictionary density (default 50; 20 quick)")
    parser.add_argument("--repeats", type=int, help="alternated rounds (default 5; 2 quick)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    n = (20 if args.quick else 50) if args.n is None else args.n
    repeats = (2 if args.quick else 5) if args.repeats is None else args.repeats
    if n < 1 or repeats < 1:
        parser.error("--n and --repeats must be >= 1")

    info = machine_info()
    print_header(info)
    mlmp = MLMasterPattern.from_pretrained("fe-alpha-10-30kv")
    det, phase = mlmp.detector, mlmp.phase
    master = mlmp.reference_master_pattern(ENERGY)
    clahe = clahe_from_info(mlmp.info.get("preprocessing"))
    dict_rot = Rotation(sample_orientations(phase.point_group, n=n).data.reshape(-1, 4))
    rot = random_rotations(INDEXED, 0)
    patterns = as_ebsd(mlmp.decode(rot, energy=ENERGY), rot, phase, det)
    kept = physics_dictionary(master, dict_rot, det, ENERGY, clahe, keep=True)

    def index(dictionary_of) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # kikuchipy prints a summary
            patterns.dictionary_indexing(dictionary_of(), keep_n=20)

    def project() -> None:
        master.get_patterns(dict_rot, det, energy=ENERGY, dtype_out="float32", show_progressbar=False).data.compute()

    def serial() -> None:
        with dask.config.set(scheduler="synchronous"):
            index(lambda: physics_dictionary(master, dict_rot, det, ENERGY, clahe))

    routes = {
        "pass": lambda: index(lambda: physics_dictionary(master, dict_rot, det, ENERGY, clahe)),
        "serial": serial,
        "project": project,
        "score": lambda: index(lambda: kept),
    }
    times = alternate(routes, repeats)
    size = dict_rot.size
    results = {"machine": info, "quick": args.quick, "n": n, "dictionary": size, "indexed": INDEXED, "routes": {}}
    print(f"alpha-iron, {ENERGY:g} kV, dictionary n = {n} ({size:,} patterns), {INDEXED} patterns indexed, keep_n 20")
    print("| route | dictionary patterns/s, median (min-max) | seconds | share of the pass |\n|---|---|---|---|")
    whole = statistics.median(times["pass"])
    for name, values in times.items():
        rates = spread([size / t for t in values])
        results["routes"][name] = {"patterns_per_s": rates, "seconds": spread(values)}
        share = statistics.median(values) / whole
        print(
            f"| {name} | {rates['median']:,.0f} ({rates['min']:,.0f}-{rates['max']:,.0f}) "
            f"| {statistics.median(values):.1f} | {100 * share:.0f} % |"
        )
    ratio = ratios(times["serial"], times["pass"])
    results["pass_speedup_over_serial"] = ratio
    print(f"pass against serial, per round: {ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})")
    write_json(results, args.json)


if __name__ == "__main__":
    main()
