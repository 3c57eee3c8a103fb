#!/usr/bin/env bash
# Build the shipped model end to end: dynamical Ni data at five voltages, training,
# export into kikuchipy_gen/pretrained/ni-10-30kv (or $1). Stages can be limited in
# time with TRAIN_SECONDS (the run checkpoints; the best checkpoint is exported). CONFIG picks
# the training config: the GPU one by default, examples/configs/pretrained_ni_cpu.toml on 2 cores.
set -euo pipefail
target=${1:-kikuchipy_gen/pretrained/ni-10-30kv}
python -m kikuchipy_gen.cli dataset runs/ni_dyn.zarr --source dynamical --energies 10 15 20 25 30 --n 30 \
    --chunk-size 512 --resume --no-progress
timeout "${TRAIN_SECONDS:-100000}" python -m kikuchipy_gen.cli train "${CONFIG:-examples/configs/pretrained_ni_gpu.toml}" \
    --no-progress || echo "training stopped (status $?); exporting the best checkpoint so far"
python - "$target" <<'PY'
import sys
from kikuchipy_gen.master_pattern import MLMasterPattern
m = MLMasterPattern.load("runs/pretrained_ni")
m.save(sys.argv[1], overwrite=True)
print("saved", m, "to", sys.argv[1])
PY
