"""The CUDA product path gives the CPU kernel's patterns; skipped without a GPU.

Run on a lent GPU machine (``benchmarks/gpu_zoo.sh`` with ``GPU_TESTS=1``); CI has
none, so these never run there.
"""

import numpy as np
import pytest
import torch

from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.sampling import random_rotations

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

# Float32 rounding of the torch decoder against the numba kernel (issue 16's
# consistency check found at most 4.3e-4 for the nickel model).
_TOL = 2e-3


@pytest.fixture(scope="module")
def ni():
    return MLMasterPattern.from_pretrained("ni-10-30kv")


@pytest.mark.parametrize("chunk_shape", [None, 37, 4096])
def test_cuda_patterns_equal_kernel(ni, chunk_shape):
    # Many chunks in threads, each on its own stream, each copied into its
    # slice of the result: every slice must hold its own chunk's patterns.
    rot = random_rotations(3000, seed=1)
    energy = np.linspace(10, 30, rot.size)
    cpu = ni.get_patterns(rot, energy=energy, compute=True, device="cpu", show_progressbar=False)
    gpu = ni.get_patterns(
        rot, energy=energy, compute=True, device="cuda", chunk_shape=chunk_shape, show_progressbar=False
    )
    assert gpu.data.dtype == np.float32
    assert np.abs(gpu.data - cpu.data).max() < _TOL


def test_cuda_lazy_uint8_and_decode(ni):
    rot = random_rotations(500, seed=2)
    cpu = ni.get_patterns(rot, energy=20, dtype_out="uint8", compute=True, device="cpu", show_progressbar=False)
    lazy = ni.get_patterns(rot, energy=20, dtype_out="uint8", device="cuda", show_progressbar=False)
    lazy.compute(show_progressbar=False)
    assert lazy.data.dtype == np.uint8
    assert np.abs(lazy.data.astype(int) - cpu.data.astype(int)).max() <= 1
    x = ni.decode(rot[:7], energy=20, device="cuda")
    assert np.abs(x - cpu.data[:7] / 255).max() < 1 / 255 + _TOL


def test_read_texel_footprint_is_found_per_device_and_exports_the_same():
    # The footprint is cached per (size, device): a decoder moved to the GPU
    # finds it there, and the export (zeros outside it) is the CPU one.
    from orix.quaternion.symmetry import D3d

    from kikuchipy_gen.detector import default_detector
    from kikuchipy_gen.models import preset
    from kikuchipy_gen.models.geometric import GeometricDecoder

    torch.manual_seed(0)
    dec = GeometricDecoder(preset("geometric", texture_size=41), default_detector(), D3d)
    cpu_mask, cpu_state = dec.read_texels(), dec.exported_state()
    dec.to("cuda")
    gpu_mask = dec.read_texels()
    assert gpu_mask.device.type == "cuda" and torch.equal(gpu_mask.cpu(), cpu_mask)
    gpu_state = dec.exported_state()
    for key, value in cpu_state.items():
        assert torch.equal(gpu_state[key].cpu(), value), key
