"""de-ebsd's batch of beam directions: its default against the one ``DynamicalSource`` passes.

One dynamical master pattern (default: corundum at 20 kV, npx 200, the -3m zoo
recipe's physics) is simulated in alternating fresh processes with de-ebsd's
default ``chunk_size`` and with ``kikuchipy_gen.sources.dynamical._BEAM_CHUNK``,
``--repeats`` times each. Each child reports wall, user and system seconds and its
peak RSS, and the parent checks that both batchings give bit-identical master
patterns. The phase's Monte Carlo is part of each time, as it is of a build.

    python benchmarks/dynamical_chunk_size.py [--phase corundum] [--npx 200] [--energy 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import machine_info, print_header, ratios, spread, write_json

_DE_EBSD_DEFAULT = 262_144


def _child(phase: str, npx: int, energy: float, chunk: int, out: str) -> None:
    import de_ebsd

    from kikuchipy_gen.phases import get_phase
    from kikuchipy_gen.sources import DynamicalSource
    from kikuchipy_gen.sources.dynamical import _to_de_ebsd_crystal

    src = DynamicalSource(get_phase(phase), npx=npx, cache_dir=None)
    crystal = _to_de_ebsd_crystal(de_ebsd, src.phase)
    microscope = de_ebsd.Microscope(energy=energy * 1e3, sample_tilt=src.sample_tilt)
    sim = de_ebsd.MasterPatternSimulator(crystal, microscope, npx=src.npx, dmin=src.dmin)
    t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    master = sim.compute(device="cpu", mc_electrons=src.mc_electrons, chunk_size=chunk)
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    np.save(out, master.data[0].numpy())
    print(
        json.dumps(
            {
                "wall_s": wall,
                "user_s": r1.ru_utime - r0.ru_utime,
                "sys_s": r1.ru_stime - r0.ru_stime,
                "peak_rss_gib": r1.ru_maxrss / 2**20,
            }
        )
    )


def main() -> None:
    from kikuchipy_gen.sources.dynamical import _BEAM_CHUNK

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", default="corundum")
    parser.add_argument("--npx", type=int, default=200)
    parser.add_argument("--energy", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--child", nargs=2, metavar=("CHUNK", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.phase, args.npx, args.energy, int(args.child[0]), args.child[1])
        return

    info = machine_info()
    print_header(info)
    routes = {"de-ebsd default": _DE_EBSD_DEFAULT, "kikuchipy-gen": _BEAM_CHUNK}
    runs: dict[str, list[dict]] = {name: [] for name in routes}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for name, chunk in routes.items():
                out = str(Path(tmp) / f"{chunk}.npy")
                cmd = [sys.executable, __file__, "--phase", args.phase, "--npx", str(args.npx)]
                cmd += ["--energy", str(args.energy), "--child", str(chunk), out]
                res = subprocess.run(cmd, check=True, capture_output=True, text=True)
                runs[name].append(json.loads(res.stdout.strip().splitlines()[-1]))
                r = runs[name][-1]
                print(
                    f"run {i + 1} {name:16s} chunk {chunk:>7,}: {r['wall_s']:6.1f} s wall, "
                    f"{r['user_s']:6.1f} s user, {r['sys_s']:5.1f} s sys, {r['peak_rss_gib']:.2f} GiB",
                    flush=True,
                )
        a, b = (np.load(Path(tmp) / f"{c}.npy") for c in routes.values())
        identical = bool(np.array_equal(a, b))
    wall = {name: [r["wall_s"] for r in rs] for name, rs in runs.items()}
    ratio = ratios(wall["de-ebsd default"], wall["kikuchipy-gen"])
    print(
        f"{args.phase} {args.energy:g} kV npx {args.npx}: median "
        f"{spread(wall['de-ebsd default'])['median']:.1f} s (default) vs "
        f"{spread(wall['kikuchipy-gen'])['median']:.1f} s (chunk {_BEAM_CHUNK:,}); "
        f"ratio median {ratio['median']:.2f} (min {ratio['min']:.2f}, max {ratio['max']:.2f}); "
        f"bit-identical: {identical}"
    )
    write_json(
        {"machine": info, "args": vars(args) | {"json": None}, "runs": runs, "ratio": ratio, "identical": identical},
        args.json,
    )


if __name__ == "__main__":
    main()
