#!/usr/bin/env bash
# GPU check of the torch decoder's sector fold (device tool, one call): the fold
# against the operator search, then the product path and the compiled decoder.
# Run from the repository root with the wheels carried (.whl); results under $OUT.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYTHONWARNINGS=ignore
nvidia-smi --query-gpu=name,memory.total --format=csv
timeout 180 python3 benchmarks/torch_decoder_routes.py --device cuda --batch 32768 \
    --models ni-10-30kv ti-alpha-10-30kv corundum-10-30kv --json $OUT/torch_decoder_routes.json 2>&1 | tee $OUT/torch_decoder_routes.md
timeout 130 python3 benchmarks/gpu_generation.py --n 32768 --json $OUT/gpu_generation.json 2>&1 | tee $OUT/gpu_generation.md
timeout 110 python3 benchmarks/gpu_decoder_compile.py --n 32768 --json $OUT/gpu_decoder_compile.json 2>&1 | tee $OUT/gpu_decoder_compile.md
ls -la $OUT
