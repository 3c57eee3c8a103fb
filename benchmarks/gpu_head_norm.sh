#!/usr/bin/env bash
# One device-tool call on a lent GPU (16 cores), about 8 minutes: does the encoder's head
# norm (ModelConfig.encoder_head_norm) end the KL fault that GPU trainings showed, and
# does channels-last pay for training on a GPU?
#   1. Two rutile trainings side by side (the zoo recipe, whose rutile run faulted at step
#      4,120 in the fourth lease: knots 10/12/15/20/25/30 kV, texture 401, epochs of 1,200
#      steps), the same seed and data, both with the former preset's encoder (full resolution, no
#      latent dropout: --former-encoder), one with the head norm (then an option, off) and one
#      without; each on 6 cores, for TRAIN_SECONDS (default 360) from the carried master
#      patterns. The KL of every logged step (every 10th) is summed up in $OUT/kl_fault.md.
#   2. On the other 4 cores, while the trainings build their datasets: the training
#      step's throughput on the GPU, contiguous (the default there) against channels-last
#      and bf16 (training_throughput.py), then tests/test_gpu.py.
# Prepared here by `bash benchmarks/gpu_carry.sh rutile 10 12 15 20 25 30`, then
#   device run: bash benchmarks/gpu_head_norm.sh   (carry: .gpucarry)
set -o pipefail
start=$SECONDS
mkdir -p /tmp/site zoo
python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall('/tmp/site', filter='fully_trusted')" \
    .gpucarry/site.tar.xz || exit 3
export PYTHONPATH=/tmp/site:$PWD/benchmarks:$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export KIKUCHIPY_GEN_CACHE=$PWD/.gpucarry/mpcache
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, kikuchipy, kikuchipy_gen; print(torch.__version__, torch.cuda.is_available(), kikuchipy.__version__)" || exit 4
echo "installed at $(( SECONDS - start )) s"

seconds=${TRAIN_SECONDS:-360}
i=0
for variant in head_norm no_head_norm; do
    # Both under the encoder the fourteenth session compared (--former-encoder).
    flag="--former-encoder"; [ "$variant" = head_norm ] && flag="--former-encoder --head-norm"
    cores="$(( 4 + 6 * i ))-$(( 9 + 6 * i ))"
    OMP_NUM_THREADS=6 taskset -c "$cores" python3 benchmarks/build_zoo_model.py rutile "zoo/$variant" \
        --cvae-epochs 20 --texture-size 401 --max-steps 1200 $flag --device cuda \
        --seconds "$seconds" \
        > "zoo/$variant.log" 2>&1 &
    i=$(( i + 1 ))
done

OMP_NUM_THREADS=4 taskset -c 0-3 timeout 150 python3 benchmarks/training_throughput.py --device cuda \
    --presets geometric compact --routes fp32 channels_last bf16 --batch-size 32 --steps 20 --repeats 5 \
    --json "$OUT/training_throughput.json" 2>&1 | grep -v Warning | tee "$OUT/training_throughput.md"
echo "throughput done at $(( SECONDS - start )) s"
OMP_NUM_THREADS=4 taskset -c 0-3 timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 \
    | tail -8 | tee "$OUT/gpu_tests.txt"
echo "tests done at $(( SECONDS - start )) s"
wait

python3 - zoo/head_norm zoo/no_head_norm <<'EOF' | tee "$OUT/kl_fault.md"
import csv, sys
from pathlib import Path

print("| encoder | CVAE steps | KL median after step 200 | KL max after step 200 | logged steps with KL > 100 | first | best val BCE/pixel |")
print("|---|---|---|---|---|---|---|")
for run in map(Path, sys.argv[1:]):
    rows = [r for r in csv.DictReader(open(run / "run" / "history.csv")) if r.get("stage") == "cvae"]
    kl = [(int(r["step"]), float(r["kl"])) for r in rows if r.get("kl")]
    late = sorted(v for s, v in kl if s > 200)
    high = [s for s, v in kl if v > 100]
    val = [float(r["val_bce_per_pixel"]) for r in rows if r.get("val_bce_per_pixel")]
    median = late[len(late) // 2] if late else float("nan")
    print(f"| {run.name} | {max((s for s, _ in kl), default=0)} | {median:.4g} | "
          f"{max(late, default=float('nan')):.4g} | {len(high)} | {high[0] if high else '-'} | "
          f"{min(val, default=float('nan')):.5f} |")
EOF
tar czf "$OUT/histories.tgz" zoo/*.log zoo/*/run/history.csv zoo/*/timings.json 2>/dev/null
echo "done at $(( SECONDS - start )) s"
