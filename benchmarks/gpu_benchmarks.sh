#!/usr/bin/env bash
# GPU benchmarks on the lent machine (device tool), after the shipped model exists.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYTHONWARNINGS=ignore
python3 benchmarks/generation_throughput.py --model kikuchipy_gen/pretrained/ni-10-30kv --n 16384 --chunk-size 4096 2>&1 | tee $OUT/generation.md
timeout 120 python3 benchmarks/training_throughput.py --preset geometric --device cuda --steps 20 --batch-size 64 2>&1 | tail -12 | tee $OUT/training_geometric.md
timeout 150 python3 benchmarks/training_throughput.py --preset paper --device cuda --steps 5 --batch-size 16 2>&1 | tail -12 | tee $OUT/training_paper.md
