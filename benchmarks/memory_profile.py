"""Where the memory of writing generated patterns goes, phase by phase (issue 16).

``generate_memory.py`` measures the peak RSS of writing patterns lazily; this
script says what makes it. Each size runs in a fresh process under
``tracemalloc`` (numpy's arrays are traced), in the phases of ``kikuchipy-gen
generate``: drawing the rotations, the lazy ``get_patterns``, then kikuchipy's
h5ebsd writer, split where it writes the patterns (chunk by chunk, dask's
threads) and where it converts the crystal map to a dictionary (the whole map
to Euler angles at once). For each phase: the memory held after it and its
peak above what was held before it. Then what the lazy signal holds per
pattern, array by array.

Traced memory is what Python and numpy asked for; RSS also counts the
interpreter, the libraries and what the allocator keeps after a free.

    python benchmarks/memory_profile.py [--quick] [--n 50000 1000000] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import machine_info, print_header, write_json

_CODE = """
import contextlib, io, json, tracemalloc
import kikuchipy.io.plugins.kikuchipy_h5ebsd._api as api
from kikuchipy_gen import MLMasterPattern
from kikuchipy_gen.sampling import random_rotations

mlmp = MLMasterPattern.from_pretrained()
phases = []

def mark(name):
    held, peak = tracemalloc.get_traced_memory()
    before = phases[-1]["held"] if phases else 0
    phases.append({{"phase": name, "held": held, "peak_above_before": peak - before}})
    tracemalloc.reset_peak()

def around(owner, attr, before, name):
    inner = getattr(owner, attr)
    def wrapped(*args, **kwargs):
        mark(before)
        result = inner(*args, **kwargs)
        mark(name)
        return result
    setattr(owner, attr, wrapped)

around(api, "overwrite_dataset", "save: up to the patterns (checks, file header)",
       "writer: the patterns, chunk by chunk")
around(api.KikuchipyH5EBSDWriter, "get_xmap_dict", "writer: between patterns and crystal map",
       "writer: the crystal map as a dictionary (Euler angles)")
tracemalloc.start()
rot = random_rotations({n}, seed=0)
mark("random_rotations")
s = mlmp.get_patterns(rot, dtype_out="uint8", show_progressbar=False)
mark("get_patterns (lazy)")
with contextlib.redirect_stdout(io.StringIO()):  # kikuchipy's writer prints dask's bar regardless
    s.save({out!r}, overwrite=True)
mark("writer: the rest (crystal map and header written, file closed)")
# After the phases, and through the private attributes: orix's public ones
# (rotations, prop, is_in_data) return masked copies.
xmap = s.xmap
held = {{
    "input rotations (orix keeps (n, 5) float64)": rot._data.nbytes,
    "crystal map rotations (the same)": xmap._rotations._data.nbytes,
    "crystal map phase ids": xmap._phase_id.nbytes,
    "crystal map ids": xmap._id.nbytes,
    "crystal map x": xmap._x.nbytes,
    "crystal map is_in_data": xmap.is_in_data.nbytes,
    "crystal map energies": dict.__getitem__(xmap._prop, "energy").nbytes,
    "hyperspy's navigation axis": s.axes_manager.navigation_axes[0].axis.nbytes,
}}
chunks = len(s.data.chunks[0])
print("RESULT", json.dumps({{"phases": phases, "held": held, "chunks": chunks}}))
"""


def _profile(n: int, folder: Path) -> dict:
    out = folder / f"p{n}.h5"
    result = subprocess.run([sys.executable, "-c", _CODE.format(n=n, out=str(out))], capture_output=True, text=True)
    out.unlink(missing_ok=True)
    if result.returncode:
        raise RuntimeError(f"n = {n} failed:\n{result.stderr[-3000:]}")
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT"))
    return json.loads(line.split(" ", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 and 50,000 patterns (a smoke test)")
    parser.add_argument("--n", type=int, nargs=2, help="two numbers of patterns (default 50,000 1,000,000)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    sizes = args.n or ([5_000, 50_000] if args.quick else [50_000, 1_000_000])
    if sizes[0] >= sizes[1] or sizes[0] < 1:
        parser.error("--n takes two increasing positive numbers")
    info = machine_info()
    print_header(info)
    with tempfile.TemporaryDirectory() as tmp:
        runs = {n: _profile(n, Path(tmp)) for n in sizes}
    small, large = (runs[n] for n in sizes)
    extra = sizes[1] - sizes[0]
    mib = 2**20
    print(f"\nuint8 60x60 patterns, the shipped model, traced memory (MiB); {sizes[0]:,} and {sizes[1]:,} patterns\n")
    print(
        f"| phase | held after, {sizes[0]:,} | held after, {sizes[1]:,} | peak above, {sizes[0]:,} "
        f"| peak above, {sizes[1]:,} | held, bytes per extra pattern |"
    )
    print("|---|---|---|---|---|---|")
    rows = []
    for a, b in zip(small["phases"], large["phases"]):
        per = (b["held"] - a["held"]) / extra
        rows.append({"phase": a["phase"], "small": a, "large": b, "held_bytes_per_pattern": per})
        print(
            f"| {a['phase']} | {a['held'] / mib:.1f} | {b['held'] / mib:.1f} | {a['peak_above_before'] / mib:.1f} "
            f"| {b['peak_above_before'] / mib:.1f} | {per:.0f} |"
        )
    print(f"\nWhat the lazy signal and its input hold per pattern at {sizes[1]:,} ({large['chunks']} chunks):\n")
    print("| array | bytes per pattern |\n|---|---|")
    for name, nbytes in large["held"].items():
        print(f"| {name} | {nbytes / sizes[1]:.0f} |")
    write_json({"machine": info, "sizes": sizes, "phases": rows, "held": large["held"]}, args.json)


if __name__ == "__main__":
    sys.exit(main())
