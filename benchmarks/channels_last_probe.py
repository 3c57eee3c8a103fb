"""Which CPU convolutions hang in channels-last: each backward pass in fresh processes, with a time limit.

``TrainConfig.memory_format="auto"`` trains the encoder and critic channels-last on a CPU,
except where a convolution has 2-7 input channels (``training._CPU_CHANNELS_LAST_HANGS``):
there torch 2.13's channels-last backward of a 1x1 stride-2 convolution at times never
returned on an AVX2 AMD EPYC, in some processes and not in others. This script re-measures
that fence on the machine it runs on: for each case (kind of convolution, input channels,
map size) ``--repeats`` fresh Python processes each build the layer channels-last and run
one forward and backward pass on a batch of 8; a process not finished within ``--limit``
seconds is killed and counted as a hang. Run it after a torch upgrade: if nothing hangs
any more, the fence can go.

    python benchmarks/channels_last_probe.py [--quick] [--repeats 5] [--limit 10] [--json PATH]

Full: the 1x1 stride-2 convolution (the residual shortcut) from 1-8, 12, 16 and 32
channels at 60x60 and from 4 channels at 30x30, 3x3 and depthwise convolutions from 1, 4
and 16 channels, 5 processes each: about 5 minutes where the hangs are (each costs the
limit). ``--quick``: the shortcut from 2, 4 and 16 channels, 3 processes each.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from _common import machine_info, print_header, write_json

# One forward and backward pass of one layer, channels-last; prints seconds.
_CASE = """
import sys, time, torch
kind, c, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
layer = {
    "shortcut": lambda: torch.nn.Conv2d(c, 2 * c, 1, stride=2),
    "3x3": lambda: torch.nn.Conv2d(c, c, 3, padding=1),
    "depthwise": lambda: torch.nn.Conv2d(c, c, 3, padding=1, groups=c),
    "pointwise": lambda: torch.nn.Conv2d(c, 2 * c, 1),
}[kind]().to(memory_format=torch.channels_last)
x = torch.rand(8, c, size, size).contiguous(memory_format=torch.channels_last).requires_grad_()
t0 = time.perf_counter()
layer(x).sum().backward()
print(time.perf_counter() - t0)
"""
KINDS = ("shortcut", "3x3", "depthwise", "pointwise")


def _cases(quick: bool) -> list[tuple[str, int, int]]:
    if quick:
        return [("shortcut", c, 60) for c in (2, 4, 16)]
    cases = [("shortcut", c, 60) for c in (*range(1, 9), 12, 16, 32)] + [("shortcut", 4, 30)]
    return cases + [(kind, c, 60) for kind in ("3x3", "depthwise") for c in (1, 4, 16)]


def _probe(kind: str, channels: int, size: int, limit: float) -> dict:
    cmd = [sys.executable, "-c", _CASE, kind, str(channels), str(size)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"kind": kind, "channels": channels, "size": size, "outcome": "hang", "seconds": None}
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or [""]
        return {"kind": kind, "channels": channels, "size": size, "outcome": f"error: {tail[0]}", "seconds": None}
    return {"kind": kind, "channels": channels, "size": size, "outcome": "ok", "seconds": float(done.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the shortcut from 2, 4 and 16 channels, 3 processes")
    parser.add_argument("--repeats", type=int, help="fresh processes per case (default 5; 3 quick)")
    parser.add_argument("--limit", type=float, default=10.0, help="seconds before a process counts as hung")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    if not args.limit > 0 or repeats < 1:
        parser.error("--limit must be > 0 and --repeats >= 1")

    info = machine_info()
    print_header(info)
    print(
        f"| convolution | input channels | map (px) | hung (of {repeats}, limit {args.limit:g} s) "
        "| median ms of the rest |"
    )
    print("|---|---|---|---|---|")
    rows = []
    for kind, channels, size in _cases(args.quick):
        runs = [_probe(kind, channels, size, args.limit) for _ in range(repeats)]
        ms = [r["seconds"] * 1e3 for r in runs if r["outcome"] == "ok"]
        row = {
            "kind": kind,
            "channels": channels,
            "size": size,
            "hangs": sum(r["outcome"] == "hang" for r in runs),
            "errors": [r["outcome"] for r in runs if r["outcome"].startswith("error")],
            "ok_ms": ms,
        }
        rows.append(row)
        shown = f"{statistics.median(ms):.1f}" if ms else "-"
        hung = f"**{row['hangs']}**" if row["hangs"] else "0"
        print(f"| {kind} | {channels} | {size} | {hung} | {shown} |", flush=True)
    hangs = sorted({r["channels"] for r in rows if r["hangs"]})
    print(f"\nHung from {hangs} input channels." if hangs else "\nNothing hung.")
    write_json(
        {"machine": info, "quick": args.quick, "repeats": repeats, "limit_s": args.limit, "cases": rows}, args.json
    )


if __name__ == "__main__":
    main()
