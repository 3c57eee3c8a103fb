"""Fingerprint the shipped model's output, to check that a refactor changed no pattern.

Writes (or compares with) an .npz of patterns the shipped model generates through every
route: the CPU kernel at trained and unseen voltages with z = 0 and seeded z, one
energy per rotation, another detector, the learned master pattern, and the torch
decoder. Run it on two checkouts::

    git worktree add /tmp/old <commit>
    PYTHONPATH=/tmp/old python benchmarks/pattern_fingerprint.py --out before.npz
    python benchmarks/pattern_fingerprint.py --compare before.npz

``--model NAME`` fingerprints another shipped model (``available_pretrained()``).

The comparison prints the largest absolute difference per route.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from kikuchipy.detectors import EBSDDetector
from orix.quaternion import Rotation

import kikuchipy_gen
from kikuchipy_gen.attributes import encode_attributes


def fingerprint(model: str | None = None) -> dict[str, np.ndarray]:
    mlmp = kikuchipy_gen.MLMasterPattern.from_pretrained(*([model] if model else []))
    q = np.random.default_rng(3).standard_normal((64, 4))
    rot = Rotation(q / np.linalg.norm(q, axis=1, keepdims=True))
    out = {}
    for kv in (10.0, 12.5, 17.5, 30.0):
        out[f"kernel_mean_{kv:g}kV"] = mlmp.decode(rot, energy=kv)
        out[f"kernel_seed5_{kv:g}kV"] = mlmp.decode(rot, energy=kv, latent=5)
    out["energy_per_rotation"] = np.asarray(mlmp.decode(rot, energy=np.linspace(10, 30, 64)))
    det = EBSDDetector((45, 70), pc=(0.5, 0.45, 0.6), sample_tilt=70, convention="bruker")
    out["other_detector"] = mlmp.decode(rot[:8], energy=20.0, detector=det)
    out["learned_master_pattern"] = np.asarray(mlmp.to_master_pattern(17.5).data)
    # The torch decoder (the training and GPU route); older checkouts built it privately.
    if hasattr(mlmp, "bundle"):
        decoder = mlmp.bundle.build_decoder()
    else:
        decoder = mlmp._decoder(mlmp.detector, torch.device("cpu"))
    with torch.no_grad():
        z = torch.zeros(64, mlmp.config.latent_dim)
        laue = mlmp.phase.point_group.laue.name
        out["torch_decoder"] = torch.sigmoid(decoder(z, encode_attributes(rot, laue, 22.0))).numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--out", help="write the fingerprint here (.npz)")
    which.add_argument("--compare", help="compare with a fingerprint written before")
    parser.add_argument("--model", help="a shipped model's name [default: the default model]")
    args = parser.parse_args()
    now = fingerprint(args.model)
    if args.out:
        np.savez(args.out, **now)
        print(f"Wrote {len(now)} arrays to {args.out}")
        return
    before = np.load(args.compare)
    for key, value in now.items():
        diff = np.abs(value.astype(np.float64) - before[key].astype(np.float64)).max()
        print(f"{key:28s} max |after - before| = {diff:.3g}")


if __name__ == "__main__":
    main()
