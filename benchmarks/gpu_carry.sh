#!/usr/bin/env bash
# Prepare what a lent GPU machine needs and lacks, in .gpucarry/ (ignored by git), to
# name in the device tool's `carry`: our dependencies that its image does not hold, as
# Python 3.12 wheels unpacked into one .tar.xz (19 MB against 28 MB of wheels: the tool
# carries 64 MiB with the working tree), and the de-ebsd master patterns of PHASE at the
# given voltages from this machine's cache (made first if missing), so the GPU's time
# goes to training.
#   bash benchmarks/gpu_carry.sh rutile 10 12 15 20 25 30
# then, on the device tool:
#   SITE=.gpucarry/site.tar.xz MPCACHE=.gpucarry/mpcache MODELS="rutile:20:401" ... bash benchmarks/gpu_zoo.sh
set -euo pipefail
phase=${1:?phase}; shift
py=${PYTHON:-.venv/bin/python}
mkdir -p .gpucarry/mpcache .gpucarry/wheels
grep -qx "/.gpucarry/" .git/info/exclude 2>/dev/null || echo "/.gpucarry/" >> .git/info/exclude
# The GPU image (device tool, KINDS.md) has torch, numpy, scipy, numba, scikit-image,
# matplotlib, h5py, pandas, tqdm...; these versions are the ones pyproject.toml resolves here.
for p in dask de-ebsd deprecated diffpy.structure diffsims hyperspy kikuchipy orix locket natsort \
    numcodecs partd pint flexcache flexparser platformdirs pooch prettytable wcwidth py-bobyqa pycifrw ply \
    python-box rosettasciio traits transforms3d zarr asciitree fasteners lazy-importer importlib_metadata tzdata; do
    version=$($py -m pip show "$p" 2>/dev/null | sed -n 's/^Version: //p')
    $py -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .gpucarry/wheels "$p==$version"
done
site=$(mktemp -d)
for w in .gpucarry/wheels/*.whl; do unzip -q -o "$w" -d "$site"; done
# xz -9e: 19.0 MB against 20.9 MB, which the 64 MiB limit needed in the fifth lease.
XZ_OPT=-9e tar cJf .gpucarry/site.tar.xz -C "$site" .
rm -rf "$site" .gpucarry/wheels
$py - "$phase" "$@" <<'EOF'
import shutil, sys
from kikuchipy_gen.sources import DynamicalSource

src = DynamicalSource(sys.argv[1], npx=200)  # the pipeline's npx
for kv in map(float, sys.argv[2:]):
    src.master_pattern(kv)
    shutil.copy(src.cache_path(kv), ".gpucarry/mpcache/")
EOF
du -sh .gpucarry/*
