#!/usr/bin/env bash
# What runs on a lent GPU machine (device tool) in one call: an offline install from
# carried wheels (.whl), the GPU generation benchmark, then zoo models trained side by
# side on the GPU until DEADLINE seconds after the start, each exported (best checkpoint)
# and packed into $OUT with its recipe, times and history. De-ebsd master patterns come
# from the carried cache (.mpcache, made here by the same recipe), so the machine's time
# goes to training. The evaluation runs afterwards on any machine:
#   python benchmarks/build_zoo_model.py PHASE runs/zoo/PHASE ARGS --evaluate
# MODELS holds "phase:cvae_epochs:texture_size[:npx]" entries (texture size empty: default).
# MAX_STEPS sets the steps per epoch (shorter epochs: the time limit loses less of one).
# SKIP_BENCH skips the generation benchmark; COMPILE_BENCH runs the eager/compiled decoder
# benchmark beside the trainings, on the GPU while they build their datasets.
# SITE names a .tar.xz of the wheels already unpacked (smaller than the wheels, for the
# device tool's 64 MiB); GPU_TESTS runs tests/test_gpu.py and the consistency check first.
# BENCH_ARGS go to the generation benchmark (e.g. "--chunks 1024 2048").
set -o pipefail
start=$SECONDS
if [ -n "$SITE" ]; then
    mkdir -p /tmp/site
    python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall('/tmp/site', filter='fully_trusted')" "$SITE" || exit 3
else
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
fi
export PYTHONPATH=/tmp/site:$PWD/benchmarks:$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg KIKUCHIPY_GEN_CACHE=$PWD/${MPCACHE:-.mpcache}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, kikuchipy, orix, de_ebsd, kikuchipy_gen; print(torch.__version__, torch.cuda.is_available(), kikuchipy.__version__)" || exit 4
echo "installed at $(( SECONDS - start )) s"
if [ -n "$GPU_TESTS" ]; then
    timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tail -6 | tee $OUT/gpu_tests.txt
    timeout 60 python3 benchmarks/gpu_consistency.py --models ni-10-30kv --no-compile --json $OUT/gpu_consistency.json 2>&1 \
        | grep -v Warning | tee $OUT/gpu_consistency.md
fi
if [ -z "$SKIP_BENCH" ]; then
    timeout 120 python3 benchmarks/gpu_generation.py $BENCH_ARGS --json $OUT/gpu_generation.json 2>&1 | grep -v Warning | tee $OUT/gpu_generation.md
fi
seconds=$(( ${DEADLINE:-560} - (SECONDS - start) ))
echo "training for $seconds s from $(( SECONDS - start )) s"
mkdir -p zoo; cores=$(nproc); models=(${MODELS:-ti-alpha:6:}); per=$(( cores / ${#models[@]} )); i=0
for spec in "${models[@]}"; do
    IFS=: read -r phase epochs texture npx <<< "$spec"
    name=$phase${texture:+_t$texture}
    args="--cvae-epochs $epochs ${texture:+--texture-size $texture} ${npx:+--npx $npx} ${MAX_STEPS:+--max-steps $MAX_STEPS}"
    echo "$name: $args on cores $(( i * per ))-$(( i * per + per - 1 ))"
    pin=""; command -v taskset > /dev/null && pin="taskset -c $(( i * per ))-$(( i * per + per - 1 ))"
    OMP_NUM_THREADS=$per $pin \
        python3 benchmarks/build_zoo_model.py "$phase" "zoo/$name" $args --device cuda --seconds "$seconds" \
        > "zoo/$name.log" 2>&1 &
    i=$(( i + 1 ))
done
if [ -n "$COMPILE_BENCH" ]; then
    # On the GPU while the trainings build their datasets on the CPU cores.
    timeout 240 python3 benchmarks/gpu_decoder_compile.py --json $OUT/gpu_decoder_compile.json 2>&1 \
        | grep -v Warning > $OUT/gpu_decoder_compile.md &
fi
wait
for spec in "${models[@]}"; do
    IFS=: read -r phase epochs texture npx <<< "$spec"
    name=$phase${texture:+_t$texture}
    grep -E "epoch|stopped|Error|error" "zoo/$name.log" | tail -12
    tar czf "$OUT/$name.tgz" -C zoo "$name.log" "$name/model" "$name/recipe.json" "$name/timings.json" "$name/run/history.csv"
done
echo "done at $(( SECONDS - start )) s"
