#!/usr/bin/env bash
# What was run on the lent GPU machine (device tool): offline install from carried wheels,
# the shipped model trained there, then the GPU benchmarks. Results: benchmarks/RESULTS.md.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.total --format=csv
python3 -c "import torch, kikuchipy, orix, kikuchipy_gen.master_pattern as m; print(torch.__version__, torch.cuda.is_available(), kikuchipy.__version__)" || exit 4
(time TRAIN_SECONDS=${TRAIN_SECONDS:-240} bash benchmarks/train_pretrained.sh $OUT/ni-10-30kv) 2>&1 | tee $OUT/train.log | grep -v "^\s*$" | tail -40
cp runs/pretrained_ni/history.csv $OUT/ 2>/dev/null
python3 benchmarks/generation_throughput.py --model runs/pretrained_ni --n 8192 --chunk-size 2048 2>&1 | tee $OUT/generation.md
timeout 70 python3 benchmarks/training_throughput.py --preset geometric --device cuda --steps 20 --batch-size 64 2>&1 | tail -12 | tee $OUT/training_geometric.md
timeout 80 python3 benchmarks/training_throughput.py --preset paper --device cuda --steps 5 --batch-size 16 2>&1 | tail -12 | tee $OUT/training_paper.md
ls -la $OUT
