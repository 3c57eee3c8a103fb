"""Rewrite model folders with the texels no lookup reads set to zero (smaller in git and wheels).

Models exported since ``GeometricDecoder.exported_state`` existed are written
this way already; this rewrites older ones, such as those shipped in
``kikuchipy_gen/pretrained``. Only ``decoder.safetensors`` changes (its
description, card and history stay as they are, an older format included);
the patterns must not change at all,
which ``benchmarks/pattern_fingerprint.py --model NAME`` checks when run
before and after. Prints each file's size and its gzip size, before and after.

    python benchmarks/compact_models.py kikuchipy_gen/pretrained/*
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

from safetensors.torch import save_file

from kikuchipy_gen.models.bundle import ModelBundle


def _sizes(path: Path) -> str:
    data = path.read_bytes()
    return f"{len(data) / 1e6:.2f} MB ({len(gzip.compress(data)) / 1e6:.2f} MB gzipped)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args()
    for folder in args.folders:
        bundle = ModelBundle.read(folder)
        decoder = bundle.build_decoder()
        if not hasattr(decoder, "exported_state"):
            print(f"{folder}: not a geometric decoder; left as it is")
            continue
        weights = folder / "decoder.safetensors"
        before = _sizes(weights)
        state = {k: v.contiguous() for k, v in decoder.exported_state().items()}
        tmp = weights.with_suffix(".tmp")
        save_file(state, tmp)
        tmp.replace(weights)
        ModelBundle.read(folder)  # still a valid model
        print(f"{folder}: {before} -> {_sizes(weights)}")


if __name__ == "__main__":
    main()
