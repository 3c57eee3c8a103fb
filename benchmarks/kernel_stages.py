"""Where the CPU kernel's time goes, stage by stage: the kernel cut short after each stage.

``kernel_profile.py`` leaves one stage out at a time; on a VM whose speed
changes between calls, and where a missing stage changes what the compiler
does with the others, its differences can come out negative. Here each copy
of the kernel runs the stages in order and stops (``continue``) after one of
them: the copies do the same work as the kernel up to their cut, so the
differences of their cumulative times are the stages' costs, in order:
projection (rotation, fold, Lambert coordinates, lookup), standardisation,
box means, the padded copy, the per-pixel features, the edge filters, the
MLP, the sigmoid.

Single-threaded (``numba.set_num_threads(1)``), copies alternated, repeated.

    python benchmarks/kernel_stages.py [--quick] [--patterns 1024] [--repeats 9] [--json results.json]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import spread, write_json
from kernel_profile import _variant, kernel_arguments, kernel_inputs

# (stage, the line the copy stops before, its indent); each must occur once in the kernel.
CUTS = [
    ("projection", "        # Standardise as torch does", "        "),
    ("+ standardisation", "        _box_means(x, rows,", "        "),
    ("+ box means", "        for r in range(rows):\n            inside, source = padded[r + 1]", "        "),
    ("+ padded copy", "        for r0 in range(0, rows, tile_rows):", "        "),
    ("+ features", "            # 3x3 edge filters", "            "),
    ("+ edge filters", "            if fused:\n                _mlp_8_6", "            "),
    ("+ MLP", "            _sigmoid(logit, n,", "            "),
]


def main() -> None:
    args = kernel_arguments(__doc__.splitlines()[0], default_repeats=9)
    n = args.patterns
    info, mlmp, decoder, q, attributes, z = kernel_inputs(n, random_latent=True)
    with tempfile.TemporaryDirectory() as tmp:
        modules = {}
        for i, (stage, anchor, indent) in enumerate(CUTS):
            modules[stage] = _variant(Path(tmp), f"cut{i}", [(anchor, f"{indent}continue\n{anchor}")])
        modules["+ sigmoid (the kernel)"] = _variant(Path(tmp), "full", [])
        for module in modules.values():
            module.decode_cpu(decoder, z[:2], attributes[:2], q[:2])  # compile outside the timing
        times = {stage: [] for stage in modules}
        for _ in range(args.repeats):
            for stage, module in modules.items():
                t0 = time.perf_counter()
                module.decode_cpu(decoder, z, attributes, q)
                times[stage].append((time.perf_counter() - t0) / n * 1e6)
    print(f"\n{mlmp!r}, {n} patterns per timing, {args.repeats} alternated rounds, 1 thread\n")
    print("| stopped after | cumulative us per pattern, median (min-max) | the stage, us |\n|---|---|---|")
    previous = 0.0
    for stage, t in times.items():
        median = statistics.median(t)
        print(f"| {stage} | {median:.1f} ({min(t):.1f}-{max(t):.1f}) | {median - previous:.1f} |")
        previous = median
    write_json(
        {
            "machine": info,
            "patterns": args.patterns,
            "repeats": args.repeats,
            "model": repr(mlmp),
            "us_per_pattern": {stage: spread(t) for stage, t in times.items()},
        },
        args.json,
    )


if __name__ == "__main__":
    sys.exit(main())
