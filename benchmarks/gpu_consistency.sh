#!/usr/bin/env bash
# Second GPU call of 2026-11-26: GPU routes against the CPU kernel, and a rerun of the generation benchmark.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYTHONWARNINGS=ignore
timeout 200 python3 benchmarks/gpu_consistency.py --models ni-10-30kv corundum-10-30kv --json $OUT/gpu_consistency.json 2>&1 | tee $OUT/gpu_consistency.md
timeout 100 python3 benchmarks/gpu_generation.py --n 32768 --json $OUT/gpu_generation_rerun.json 2>&1 | tee $OUT/gpu_generation_rerun.md
