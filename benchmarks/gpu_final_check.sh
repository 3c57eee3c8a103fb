#!/usr/bin/env bash
# Third GPU call of 2026-11-26, on the final code (fold; box mean as one 2-D pool):
# GPU routes against the CPU kernel (compiled included), then the generation benchmark.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYTHONWARNINGS=ignore
timeout 150 python3 benchmarks/gpu_consistency.py --models ni-10-30kv corundum-10-30kv --json $OUT/gpu_consistency.json 2>&1 | tee $OUT/gpu_consistency.md
timeout 100 python3 benchmarks/gpu_generation.py --n 32768 --json $OUT/gpu_generation.json 2>&1 | tee $OUT/gpu_generation.md
timeout 60 python3 benchmarks/torch_decoder_routes.py --device cuda --batch 32768 --models ni-10-30kv corundum-10-30kv --json $OUT/torch_decoder_routes.json 2>&1 | tee $OUT/torch_decoder_routes.md
