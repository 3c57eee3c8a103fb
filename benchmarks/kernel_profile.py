"""Where the CPU kernel's time goes: the shipped model's numba kernel with one stage left out at a time.

A numba kernel cannot be profiled by Python's profilers, and its stages share
loops and buffers. So each stage is measured by its absence: a copy of
``kikuchipy_gen/models/_cpu_decode.py`` in a temporary folder with that stage
replaced by a trivial one (string replacement, as ``mutation_check.py`` does),
compiled, and timed against the unchanged copy. The outputs of the copies are
wrong; only their time means something. A stage's cost is the unchanged
kernel's time minus the copy's. Costs do not add up exactly: leaving a stage
out changes what the compiler and the caches do for the others (leaving out
the sector fold makes the lookups slower, as directions then spread over the
whole texture instead of one sector).

Single-threaded (``numba.set_num_threads(1)``), as dask's threads each run the
kernel serially; the variants alternate, repeated.

    python benchmarks/kernel_profile.py [--quick] [--patterns 1024] [--repeats 7] [--json PATH]

About a minute on 2 quiet cores, most of it compiling the seven copies. ``--quick``:
256 patterns, 3 rounds (a smoke test).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
from pathlib import Path

from _common import alternate, machine_info, print_header, write_json

ROOT = Path(__file__).resolve().parents[1]
KERNEL = ROOT / "kikuchipy_gen" / "models" / "_cpu_decode.py"

# name: (what is left out, [(old, new), ...]); each old string must occur in the kernel.
STAGES = {
    "sigmoid": (
        "the output sigmoid (logits written instead)",
        [
            (
                "_sigmoid(logit, n, mantissa, exponent, power, out[i, start : start + n])",
                "out[i, start : start + n] = logit[:n]",
            )
        ],
    ),
    "mlp": (
        "the head's per-pixel MLP (a feature taken as the logit)",
        [("    _mlp_8_6(params, b3, gain, slope, features, logit, n)\n", "    logit[:n] = features[1, :n]\n")],
    ),
    "box_means": (
        "the 15x15 box means of x and x^2 (constants instead)",
        [
            (
                "        _box_means(x, rows, cols, half, column_sums, integral, inv_rows, inv_cols, mean, mean_sq)",
                "        mean[:] = 0\n        mean_sq[:] = 1",
            )
        ],
    ),
    "lookup": (
        "the bilinear texture lookup (a coordinate instead)",
        [
            (
                "x[j] = _bilinear(flat, corner[j], col_step[j], row_step[j], frac_col[j], frac_row[j])",
                "x[j] = frac_col[j]",
            )
        ],
    ),
    "local_std": (
        "the local standardisation's square root and division",
        [
            (
                "f1[t] = (v - mu) / math.sqrt(var + eps)",
                "f1[t] = (v - mu) * var",
            )
        ],
    ),
    "edge_filters": (
        "the four 3x3 edge filters (the centre tap copied instead)",
        [
            (
                "                        row[c] = (\n"
                "                            b\n"
                "                            + e0 * above[c]\n"
                "                            + e1 * above[c + 1]\n"
                "                            + e2 * above[c + 2]\n"
                "                            + e3 * middle[c]\n"
                "                            + e4 * middle[c + 1]\n"
                "                            + e5 * middle[c + 2]\n"
                "                            + e6 * below[c]\n"
                "                            + e7 * below[c + 1]\n"
                "                            + e8 * below[c + 2]\n"
                "                        )\n",
                "                        row[c] = middle[c + 1]\n",
            )
        ],
    ),
    "lambert_arctan": (
        "the arctangent and division of the Lambert coordinates",
        [
            (
                "ra = r * k4pi * _atan01(min(ax, ay) / max(max(ax, ay), np.float32(1e-30)))",
                "ra = r * min(ax, ay)",
            )
        ],
    ),
    "variance_pass": (
        "the global variance pass of the standardisation",
        [("        for j in range(p):\n            v += (x[j] - m) ** 2\n", "        v = np.float32(p)\n")],
    ),
    "sector_fold": (
        "the fold into the fundamental sector",
        [("    if mirrors.shape[0] > 0:\n", "    if mirrors.shape[0] > 1_000_000:\n")],
    ),
}


def _variant(folder: Path, name: str, replacements: list[tuple[str, str]]):
    source = KERNEL.read_text()
    for old, new in replacements:
        if source.count(old) != 1:
            raise SystemExit(f"{name}: the kernel contains {old!r} {source.count(old)} times, not once; update STAGES")
        source = source.replace(old, new)
    path = folder / f"_kernel_{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"_kernel_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kernel_arguments(description: str, default_repeats: int) -> argparse.Namespace:
    """The kernel scripts' command line: ``patterns`` and ``repeats`` filled in from ``--quick``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="256 patterns, 3 rounds (a smoke test)")
    parser.add_argument("--patterns", type=int, help="patterns per timing (default 1,024; 256 quick)")
    parser.add_argument("--repeats", type=int, help=f"alternating rounds (default {default_repeats}; 3 quick)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    args.patterns = args.patterns or (256 if args.quick else 1024)
    args.repeats = args.repeats or (3 if args.quick else default_repeats)
    return args


def kernel_inputs(n: int, random_latent: bool) -> tuple:
    """One thread each for numba and torch, the header printed, and the shipped model's decoder inputs.

    Returns the machine record, the ML master pattern, its CPU decoder, and n random
    quaternions with their attributes (at the highest energy) and latents (zeros or
    normal).
    """
    import numba
    import numpy as np
    import torch
    from orix.quaternion import Rotation

    from kikuchipy_gen.attributes import attribute_tensor
    from kikuchipy_gen.master_pattern import MLMasterPattern

    numba.set_num_threads(1)
    torch.set_num_threads(1)
    info = machine_info()
    print_header(info)
    mlmp = MLMasterPattern.from_pretrained()
    decoder = mlmp._runtime.decoder(mlmp.detector, torch.device("cpu"))
    q = Rotation.random(n).data
    attributes = attribute_tensor(q, np.full(n, mlmp.energy_range[1]))
    z = (torch.randn if random_latent else torch.zeros)(n, mlmp.config.latent_dim)
    return info, mlmp, decoder, q, attributes, z


def main() -> None:
    args = kernel_arguments(__doc__.splitlines()[0], default_repeats=7)
    n, repeats = args.patterns, args.repeats
    info, mlmp, decoder, q, attributes, z = kernel_inputs(n, random_latent=False)

    with tempfile.TemporaryDirectory() as tmp:
        modules = {"kernel": _variant(Path(tmp), "kernel", [])}
        modules.update({name: _variant(Path(tmp), name, reps) for name, (_, reps) in STAGES.items()})
        for module in modules.values():
            module.decode_cpu(decoder, z[:2], attributes[:2], q[:2])  # compile outside the timing
        routes = {name: (lambda m=module: m.decode_cpu(decoder, z, attributes, q)) for name, module in modules.items()}
        times = alternate(routes, repeats, warm_up=False)
    per_pattern = {name: statistics.median(t) / n * 1e6 for name, t in times.items()}
    full = per_pattern["kernel"]
    print(f"\n{mlmp!r}, {n} patterns per timing, {repeats} alternated rounds, 1 thread\n")
    print("| left out | us per pattern | stage's cost, us | share |")
    print("|---|---|---|---|")
    print(f"| nothing (the kernel) | {full:.1f} | | |")
    for name, (what, _) in STAGES.items():
        cost = full - per_pattern[name]
        print(f"| {what} | {per_pattern[name]:.1f} | {cost:.1f} | {cost / full:.0%} |")
    write_json(
        {
            "machine": info,
            "model": repr(mlmp),
            "quick": args.quick,
            "patterns": n,
            "repeats": repeats,
            "us_per_pattern": per_pattern,
            "left_out": {name: what for name, (what, _) in STAGES.items()},
            "seconds": times,
        },
        args.json,
    )


if __name__ == "__main__":
    sys.exit(main())
