"""The default get_patterns path (issue 16): chunking, the eager result, the
skipped orientation reduction, the mirror fold, the fused head. Behaviour
only; timings are benchmarks/get_patterns_default.py's."""

import dask
import hyperspy.api as hs
import numba
import numpy as np
import pytest
import torch
from kikuchipy.signals import EBSD, LazyEBSD
from orix.quaternion import Rotation
from orix.quaternion import symmetry as S

from kikuchipy_gen import master_pattern
from kikuchipy_gen.attributes import attribute_tensor, fundamental_zone_quaternions
from kikuchipy_gen.detector import default_detector, detector_to_dict
from kikuchipy_gen.master_pattern import MLMasterPattern, _default_rotations_per_chunk
from kikuchipy_gen.models import preset
from kikuchipy_gen.models._cpu_decode import decode_cpu
from kikuchipy_gen.models.geometric import GeometricDecoder
from kikuchipy_gen.phases import phase_to_dict
from kikuchipy_gen.sampling import random_rotations
from kikuchipy_gen.sector import SectorReduction, _apply, _check_directions, _fold
from kikuchipy_gen.sources import KikuchipyNickelSource

from .test_cpu_decode import _compare, _decoder

# Groups whose sector walls are all mirrors, or mirrors and an equator the
# inversion crosses (-3m, 2/m, -1), fold; the others search.
FOLD_GROUPS = [S.Oh, S.D6h, S.D4h, S.D2h, S.Td, S.D3d, S.C2h, S.Ci]
OTHER_GROUPS = [S.Th, S.C4h, S.S6, S.C6h, S.O, S.C1]


@pytest.fixture(scope="module")
def pretrained():
    return MLMasterPattern.from_pretrained()


def _tiny_model(symmetry: str) -> MLMasterPattern:
    source = KikuchipyNickelSource()
    cfg = preset("geometric", texture_size=41, symmetry=symmetry)
    torch.manual_seed(0)
    dec = GeometricDecoder(cfg, default_detector(), source.phase.point_group)
    with torch.no_grad():
        dec.texture.add_(torch.randn_like(dec.texture))
    info = {
        "phase": phase_to_dict(source.phase),
        "detector": detector_to_dict(default_detector()),
        "energies": [20.0],
        "source": source.to_dict(),
    }
    return MLMasterPattern(cfg, dec.state_dict(), info)


# ------------------------------------------------------------- chunking
def test_default_chunking_keeps_every_thread_busy_and_chunks_bounded():
    det = default_detector()  # 60x60: 14,400 bytes a float32 pattern
    # Few rotations: at least 32 a chunk (a chunk's set-up is not free).
    assert _default_rotations_per_chunk(10, det, "float32", threads=2) == 32
    # 1,000 on 2 threads: about four chunks a thread, not one chunk in all.
    per = _default_rotations_per_chunk(1_000, det, "float32", threads=2)
    assert per == 125 and -(-1_000 // per) == 8
    # Many: no chunk above 8 MiB.
    per = _default_rotations_per_chunk(200_000, det, "float32", threads=2)
    assert per * 60 * 60 * 4 <= 8 * 2**20 < (per + 1) * 60 * 60 * 4
    # Larger patterns or types: fewer rotations a chunk, never none.
    assert _default_rotations_per_chunk(200_000, det, "float64", threads=2) == per // 2
    big = default_detector(shape=(4096, 4096))
    assert _default_rotations_per_chunk(100, big, "float64", threads=16) == 1


def test_get_patterns_uses_the_default_rule_and_explicit_chunks_win(pretrained):
    rot = random_rotations(1_000, seed=1)
    expected = _default_rotations_per_chunk(1_000, pretrained.detector, "float32")
    assert pretrained.get_patterns(rot).data.chunks[0][0] == expected
    assert pretrained.get_patterns(rot, chunk_shape=300).data.chunks[0] == (300, 300, 300, 100)
    assert pretrained.get_patterns(rot, chunk_bytes="1 MiB").data.chunks[0][0] == 2**20 // (60 * 60 * 4)
    # 2-D maps: whole rows a chunk, as before.
    assert pretrained.get_patterns(random_rotations(64, seed=1).reshape(8, 8)).data.chunks[1] == (8,)


def test_gpu_chunks_are_large_batches_bounded_in_bytes():
    det = default_detector()
    # One torch batch a chunk: 2,048 rotations of 60x60 (an H200 ran them at
    # 119,234/s against 69,270/s in the CPU rule's 512), never more than asked.
    assert _default_rotations_per_chunk(32_768, det, "float32", gpu=True) == 2048
    assert _default_rotations_per_chunk(100, det, "float32", gpu=True) == 100
    # Larger patterns: at most 32 MiB a chunk, never none.
    per = _default_rotations_per_chunk(32_768, default_detector(shape=(240, 240)), "float32", gpu=True)
    assert per * 240 * 240 * 4 <= 32 * 2**20 < (per + 1) * 240 * 240 * 4
    assert _default_rotations_per_chunk(10, default_detector(shape=(4096, 4096)), "float64", gpu=True) == 1


def test_get_patterns_chunks_by_the_device_it_runs_on(pretrained, monkeypatch):
    rot = random_rotations(5_000, seed=1)
    cpu_rule = _default_rotations_per_chunk(5_000, pretrained.detector, "float32")
    # Lazy: nothing runs, so a machine without CUDA can ask for it.
    assert pretrained.get_patterns(rot, device="cuda").data.chunks[0] == (2048, 2048, 904)
    assert pretrained.get_patterns(rot, device="cpu").data.chunks[0][0] == cpu_rule
    monkeypatch.setattr(master_pattern, "default_device", lambda: torch.device("cuda"))
    assert pretrained.get_patterns(rot).data.chunks[0][0] == 2048
    assert pretrained.get_patterns(rot, chunk_shape=300).data.chunks[0][0] == 300
    with pytest.raises(RuntimeError):
        pretrained.get_patterns(rot, device="nonsense")


# ----------------------------------------------------------- the eager result
def test_compute_true_stores_the_chunks_without_lazy_compute(pretrained, monkeypatch):
    rot = random_rotations(40, seed=2)
    lazy = pretrained.get_patterns(rot, energy=17.5, chunk_shape=7)
    reference = lazy.data.compute()
    monkeypatch.setattr(LazyEBSD, "compute", lambda *a, **k: pytest.fail("LazyEBSD.compute was called"))
    eager = pretrained.get_patterns(rot, energy=17.5, chunk_shape=7, compute=True, show_progressbar=False)
    assert type(eager) is EBSD and isinstance(eager.data, np.ndarray)
    assert np.array_equal(eager.data, reference)
    # The same signal as the lazy one: axes, crystal map, detector, metadata.
    assert eager.axes_manager.as_dictionary() == lazy.axes_manager.as_dictionary()
    assert np.array_equal(eager.xmap.rotations.data, lazy.xmap.rotations.data)
    assert np.array_equal(eager.xmap.prop["energy"], lazy.xmap.prop["energy"])
    assert np.allclose(eager.detector.pc, lazy.detector.pc)
    assert eager.metadata.General.title == lazy.metadata.General.title
    assert eager.metadata.Acquisition_instrument.SEM.beam_energy == 17.5


def test_progressbar_follows_the_argument_then_hyperspy(pretrained, monkeypatch):
    shown = []

    class Spy:
        def __init__(self, *args, disable=False, **kwargs):
            self.disable = disable

        def __enter__(self):
            shown.append(not self.disable)
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n=1):
            pass

    monkeypatch.setattr(master_pattern, "ProgressBar", lambda: Spy())  # dask's, on a scheduler of one's own
    monkeypatch.setattr(master_pattern, "tqdm", Spy)  # on dask's default pool
    rot = random_rotations(2, seed=3)
    previous = hs.preferences.General.show_progressbar
    try:
        for scheduler in (None, "sync"):
            with dask.config.set(scheduler=scheduler):
                for preference in (False, True):
                    hs.preferences.General.show_progressbar = preference
                    pretrained.get_patterns(rot, compute=True)
                pretrained.get_patterns(rot, compute=True, show_progressbar=False)
                pretrained.get_patterns(rot, compute=True, show_progressbar=True)
    finally:
        hs.preferences.General.show_progressbar = previous
    # The preference False, then True, then the argument False, then True; on
    # the dask route only a shown bar is entered.
    assert shown == [False, True, False, True, True, True]


def test_compute_runs_on_the_scheduler_the_user_chose(pretrained, monkeypatch):
    rot = random_rotations(300, seed=7)
    reference = pretrained.get_patterns(rot, energy=12.5, latent=3, chunk_shape=64).data.compute()
    stored = []
    store = master_pattern.da.store
    monkeypatch.setattr(master_pattern.da, "store", lambda *a, **k: stored.append(1) or store(*a, **k))
    # dask's default: no graph, the chunks straight into the output; the same
    # patterns, seeded latents included, whatever the chunking.
    eager = pretrained.get_patterns(rot, energy=12.5, latent=3, chunk_shape=50, compute=True, show_progressbar=False)
    assert not stored and np.array_equal(eager.data, reference)
    # A scheduler of one's own, by name or as a function, runs the graph.
    calls = []

    def mine(dsk, keys, **kwargs):
        calls.append(keys)
        return dask.get(dsk, keys, **kwargs)

    for scheduler in ("sync", mine):
        with dask.config.set(scheduler=scheduler):
            s = pretrained.get_patterns(
                rot, energy=12.5, latent=3, chunk_shape=80, compute=True, show_progressbar=False
            )
        assert np.array_equal(s.data, reference)
    assert len(stored) == 2 and len(calls) == 1


def test_compute_on_a_map_whose_chunks_split_its_rows(pretrained):
    # Chunks of 3 along rows of 8: each chunk's slice of the result is not one
    # contiguous block, so the chunk is decoded apart and copied in; uint8 too.
    rot = random_rotations(40, seed=9).reshape(5, 8)
    for dtype in ("float32", "uint8"):
        lazy = pretrained.get_patterns(rot, dtype_out=dtype, chunk_shape=3)
        assert lazy.data.chunks[1] == (3, 3, 2)
        eager = pretrained.get_patterns(rot, dtype_out=dtype, chunk_shape=3, compute=True, show_progressbar=False)
        assert eager.data.dtype == dtype and np.array_equal(eager.data, lazy.data.compute())


def test_a_failing_chunk_raises_and_the_rest_are_not_started(pretrained, monkeypatch):
    started = []
    call = master_pattern._DecodeBlocks.__call__

    def failing(self, *blocks, block_info=None, out=None):
        started.append(block_info[None]["array-location"][0])
        if block_info[None]["array-location"][0][0] == 0:
            raise RuntimeError("chunk failed")
        return call(self, *blocks, block_info=block_info, out=out)

    monkeypatch.setattr(master_pattern._DecodeBlocks, "__call__", failing)
    with dask.config.set(num_workers=1):
        with pytest.raises(RuntimeError, match="chunk failed"):
            pretrained.get_patterns(random_rotations(100, seed=8), chunk_shape=10, compute=True, show_progressbar=False)
    assert started == [(0, 10)]  # one thread: the failure stops the call at once
    with pytest.raises(RuntimeError, match="chunk failed"):
        pretrained.get_patterns(random_rotations(100, seed=8), chunk_shape=10, compute=True, show_progressbar=False)


def test_generation_leaves_process_wide_settings_alone(pretrained):
    before = (numba.get_num_threads(), torch.get_num_threads(), dict(dask.config.config))
    pretrained.get_patterns(random_rotations(50, seed=4), compute=True, show_progressbar=False)
    pretrained.get_patterns(random_rotations(50, seed=4)).data.compute()
    assert (numba.get_num_threads(), torch.get_num_threads(), dict(dask.config.config)) == before


# ------------------------------------------------- orientations, unreduced
def test_equivalent_orientations_give_identical_patterns(pretrained):
    # No reduction into the fundamental zone on this path: the decoder's
    # sector reduction makes the 24 equivalents of an orientation one
    # pattern, to the bit (the cubic fold only permutes and negates).
    assert pretrained._runtime.symmetric
    q = random_rotations(3, seed=5)
    equivalents = Rotation(S.Oh.proper_subgroup.data[:, None]) * Rotation(q.data[None])  # (24, 3)
    s = pretrained.get_patterns(Rotation(equivalents.data.reshape(-1, 4)), energy=17.5).data.compute()
    s = s.reshape(24, 3, *s.shape[1:])
    assert np.array_equal(s, np.broadcast_to(s[:1], s.shape))
    # And those are the patterns of the reduced orientations, to rounding.
    reduced = pretrained.get_patterns(
        Rotation(fundamental_zone_quaternions(q, "m-3m")), energy=17.5, compute=True, show_progressbar=False
    ).data
    assert np.abs(reduced - s[0]).max() < 1e-5


def test_a_decoder_without_imposed_symmetry_still_reduces_orientations():
    mlmp = _tiny_model("none")
    assert not mlmp._runtime.symmetric and _tiny_model("laue")._runtime.symmetric
    q = random_rotations(2, seed=6)
    equivalents = Rotation(S.Oh.proper_subgroup.data[:4, None]) * Rotation(q.data[None])
    s = mlmp.get_patterns(Rotation(equivalents.data.reshape(-1, 4)), compute=True, show_progressbar=False).data
    s = s.reshape(4, 2, *s.shape[1:])
    # Its texture has no symmetry, so only the reduction makes these agree.
    assert np.abs(s - s[:1]).max() < 1e-5


# ------------------------------------------------------------ mirror fold
@pytest.mark.parametrize("group", FOLD_GROUPS, ids=lambda g: g.name)
def test_mirror_fold_lands_where_sector_reduction_does(group):
    reduce = SectorReduction(group)
    normals, matrices, passes = reduce.mirror_fold()
    assert np.allclose(np.linalg.norm(normals, axis=1), 1)
    assert np.allclose(matrices @ matrices, np.eye(3))  # reflections, and the inversion: involutions
    v = np.random.default_rng(7).normal(size=(20_000, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)

    # The image the operator search picks (forward's route for groups without a fold).
    def searched(x):
        t = torch.from_numpy(x)
        return _apply(reduce.ops[reduce.operator_index(t)], t).numpy()

    folded = _fold(v, normals, matrices, passes)
    assert np.allclose(folded, searched(v), atol=1e-9)
    # forward folds in torch: the same images, float64 and float32.
    assert np.allclose(reduce(torch.from_numpy(v)).numpy(), searched(v), atol=1e-9)
    v32 = torch.from_numpy(v).float()
    assert torch.allclose(reduce(v32), torch.from_numpy(searched(v)).float(), atol=1e-5)
    # The plan was checked on these (axes and diagonals included); a fresh
    # sample agrees (above), and so do they. On a wall that is no mirror (-3m's
    # equator) a direction has two images in the sector and either may be
    # picked: there, both must lie in the sector.
    dense = _check_directions()
    walls = reduce.tested_normals[0].numpy()
    interior = (searched(dense) @ walls.T).min(axis=1) > 1e-6
    assert interior.mean() > 0.99
    for image in (_fold(dense, normals, matrices, passes), reduce(torch.from_numpy(dense)).numpy()):
        assert np.allclose(image[interior], searched(dense)[interior], atol=1e-6)
        assert (image @ walls.T).min() >= -reduce.tol


@pytest.mark.parametrize("group", OTHER_GROUPS, ids=lambda g: g.name)
def test_no_fold_where_a_wall_is_crossed_only_by_a_rotation(group):
    assert SectorReduction(group).mirror_fold() is None


def test_cubic_fold_is_exact_signed_permutation():
    _, matrices, _ = SectorReduction(S.Oh).mirror_fold()
    assert np.all(np.isin(matrices, (-1.0, 0.0, 1.0)))


@pytest.mark.parametrize("group", [S.Oh, S.D3d], ids=lambda g: g.name)
def test_kernel_fold_equals_kernel_search(group):
    dec = _decoder(default_detector(), group, use_voltage=True, voltage_knots=3)
    q = random_rotations(40, seed=8).data.reshape(-1, 4)
    attributes = attribute_tensor(q, np.linspace(10, 30, 40))
    z = torch.randn(40, 16)
    folded = decode_cpu(dec, z, attributes, q)
    plan = dec.sector.mirror_fold()
    dec.sector._fold = None  # the operator search, as for groups without a fold
    try:
        searched = decode_cpu(dec, z, attributes, q)
    finally:
        dec.sector._fold = plan
    assert np.abs(folded - searched).max() < 1e-5


# ------------------------------------------------------------- the head
def test_kernel_at_the_top_knot_equals_torch():
    # kikuchipy's default energy is the highest: the kernel reads that knot
    # alone instead of blending it with weight one.
    dec = _decoder(default_detector(), use_voltage=True, voltage_knots=3)
    q = random_rotations(30, seed=9).data.reshape(-1, 4)
    _compare(dec, torch.randn(30, 16), attribute_tensor(q, np.full(30, 30.0)))


@pytest.mark.parametrize("channels", [8, 5])
def test_kernel_equals_torch_for_the_fused_and_the_general_head(channels):
    # 8 hidden units take the fused per-pixel MLP, other sizes the general one.
    dec = _decoder(default_detector(shape=(30, 45)), head_channels=channels)
    q = random_rotations(20, seed=10).data.reshape(-1, 4)
    _compare(dec, torch.randn(20, 16), attribute_tensor(q))


def test_float64_quaternions_are_checked():
    dec = _decoder(default_detector())
    q = random_rotations(3, seed=11).data.reshape(-1, 4)
    with pytest.raises(ValueError, match="quaternions must be"):
        decode_cpu(dec, torch.zeros(3, 16), attribute_tensor(q), q[:2])


def test_integer_patterns_are_the_float_patterns_clipped_and_rounded(pretrained):
    rot = random_rotations(20, seed=4)
    floats = pretrained.get_patterns(rot, compute=True, show_progressbar=False).data
    for dtype in ("uint8", "uint16"):
        top = np.float32(np.iinfo(dtype).max)
        s = pretrained.get_patterns(rot, dtype_out=dtype, compute=True, show_progressbar=False)
        assert s.data.dtype == dtype and np.array_equal(s.data, np.rint(floats * top).astype(dtype))
    # Out of range values (not from the sigmoid, but the conversion takes any float32).
    x = np.array([-0.5, 0.0, 0.5, 0.999, 1.0, 1.5], dtype=np.float32)
    assert master_pattern._to_dtype(x.copy(), "uint8").tolist() == [0, 0, 128, 255, 255, 255]
    assert master_pattern._to_dtype(x.copy(), "uint16").tolist() == [0, 0, 32768, 65469, 65535, 65535]
