import numpy as np
import pytest
import torch
from orix.quaternion import Rotation
from orix.quaternion.symmetry import Oh

from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.models import preset
from kikuchipy_gen.models._cpu_decode import decode_cpu, supports_cpu_kernel
from kikuchipy_gen.models.geometric import GeometricDecoder

from .test_geometric import GROUPS, _asymmetric_decoder


def _decoder(detector, group=Oh, **overrides):
    torch.manual_seed(3)
    cfg = preset("geometric", texture_size=41, **overrides)
    dec = GeometricDecoder(cfg, detector, group).eval()
    with torch.no_grad():
        # Smooth structure plus noise, and weights away from their init, so
        # every term of the head matters.
        u = torch.linspace(-3, 3, 41)
        dec.texture.copy_(torch.sin(2 * u)[:, None] * torch.cos(3 * u) + 0.3 * torch.randn_like(dec.texture))
        for p in dec.head.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return dec


def _compare(dec, z, attributes):
    fast = decode_cpu(dec, z, attributes)
    with torch.no_grad():
        ref = torch.sigmoid(dec(z, attributes))[:, 0].numpy()
    assert fast.shape == ref.shape and fast.dtype == np.float32
    diff = np.abs(fast - ref)
    # float32 in both; the two only part where the Lambert map is ill-conditioned (its poles).
    assert diff.mean() < 1e-5 and np.quantile(diff, 0.9999) < 1e-3, (diff.mean(), diff.max())
    assert ref.std() > 0.05  # the patterns are not flat, so the comparison means something
    return fast


def test_kernel_equals_torch_decoder_with_voltage_blend():
    dec = _decoder(default_detector(), use_voltage=True, n_attributes=5, voltage_knots=3)
    n = 40
    q = torch.from_numpy(Rotation.random(n).data).float()
    # On knots, between knots, and clamped outside the knots (10-30 kV, scaled by 30).
    volts = torch.tensor([10, 15, 20, 27.5, 30, 5, 40, 12.3] * 5, dtype=torch.float32)[:, None] / 30
    _compare(dec, torch.randn(n, 16), torch.cat([q, volts], dim=1))


def test_kernel_equals_torch_decoder_with_uneven_knots():
    dec = _decoder(
        default_detector(), use_voltage=True, n_attributes=5, voltage_knots=4, knot_energies=[10, 12, 15, 30]
    )
    n = 36
    q = torch.from_numpy(Rotation.random(n).data).float()
    volts = torch.tensor([10, 11, 12, 13.5, 15, 22.5, 30, 8, 31] * 4, dtype=torch.float32)[:, None] / 30
    _compare(dec, torch.randn(n, 16), torch.cat([q, volts], dim=1))


def test_kernel_on_an_unseen_detector_without_voltage():
    det = default_detector(shape=(48, 64), pc=(0.45, 0.3, 0.6))
    dec = _decoder(det)
    q = torch.from_numpy(Rotation.random(12).data).float()
    out = _compare(dec, torch.randn(12, 16), q)
    assert out.shape == (12, 48, 64)


def test_kernel_writes_into_a_given_array_and_refuses_a_wrong_one():
    det = default_detector(shape=(48, 64), pc=(0.45, 0.3, 0.6))
    dec = _decoder(det)
    q = torch.from_numpy(Rotation.random(6).data).float()
    z = torch.randn(6, 16)
    fresh = decode_cpu(dec, z, q)
    result = np.full((10, 48, 64), -1, dtype=np.float32)
    assert decode_cpu(dec, z, q, out=result[2:8]).base is result  # the slice itself, filled
    assert np.array_equal(result[2:8], fresh)
    assert (result[:2] == -1).all() and (result[8:] == -1).all()  # nothing outside it
    for bad in (
        np.empty((6, 48, 64), np.float64),
        np.empty((5, 48, 64), np.float32),
        np.empty((6, 64, 48), np.float32),
        np.empty((6, 48, 128), np.float32)[:, :, ::2],  # not contiguous
    ):
        with pytest.raises(ValueError, match="C-contiguous float32"):
            decode_cpu(dec, z, q, out=bad)


def test_kernel_rejects_other_decoders():
    dec = GeometricDecoder(preset("geometric", texture_size=21, head="dilated"), default_detector(), Oh)
    assert not supports_cpu_kernel(dec) and supports_cpu_kernel(_decoder(default_detector()))
    with pytest.raises(TypeError, match="local-contrast"):
        decode_cpu(dec, torch.zeros(1, 16), torch.tensor([[1.0, 0, 0, 0]]))
    voltage = _decoder(default_detector(), use_voltage=True, n_attributes=5, voltage_knots=2)
    with pytest.raises(ValueError, match=r"attributes must be \(n, 5\)"):
        decode_cpu(voltage, torch.zeros(1, 16), torch.tensor([[1.0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="z must be"):
        decode_cpu(voltage, torch.zeros(2, 16), torch.tensor([[1.0, 0, 0, 0, 0.5]]))


def test_kernel_follows_texture_updates():
    dec = _decoder(default_detector())
    z, q = torch.zeros(2, 16), torch.tensor([[1.0, 0, 0, 0], [0.5, 0.5, 0.5, 0.5]])
    before = decode_cpu(dec, z, q)
    with torch.no_grad():
        dec.texture.mul_(-1)  # an in-place update, as an optimiser step makes
    after = decode_cpu(dec, z, q)
    with torch.no_grad():
        ref = torch.sigmoid(dec(z, q))[:, 0].numpy()
    assert np.abs(after - before).mean() > 0.05 and np.abs(after - ref).mean() < 1e-5


# m-3 and 4/m have no fold plan: the kernel searches the operators (_reduce_to_sector).
@pytest.mark.parametrize("point_group", [*GROUPS, "m-3", "4/m"])
def test_kernel_equals_torch_decoder_on_an_asymmetric_texture(point_group):
    """No symmetry to hide behind: hemispheres, rows and columns, and signs must all be right.

    The cubic textures above are unchanged by mirrors, transposition and
    swapping hemispheres; a texture with no symmetry of its own (point group
    1, or a Laue group imposed on it) and an off-centre, non-square detector
    are not. The torch decoder is itself held to kikuchipy in test_geometric.
    """
    det = default_detector(shape=(36, 52), pc=(0.42, 0.27, 0.55))
    dec, _ = _asymmetric_decoder(point_group, det, knots=3)
    dec.eval()
    with torch.no_grad():
        for p in dec.head.parameters():
            p.add_(0.3 * torch.randn_like(p))
    n = 24
    q = torch.from_numpy(Rotation.random(n).data).float()
    volts = torch.tensor([10, 13.7, 20, 26, 30, 5] * 4, dtype=torch.float32)[:, None] / 30
    out = _compare(dec, torch.randn(n, 16), torch.cat([q, volts], dim=1))
    assert out.shape == (n, 36, 52)


def test_vectorised_sigmoid_equals_torch_over_the_whole_float_range():
    from kikuchipy_gen.models._cpu_decode import _sigmoid

    rng = np.random.default_rng(0)
    logit = np.concatenate([np.linspace(-200, 200, 40_001), rng.normal(0, 4, 10_000), [0.0, -0.0, 1e-30]])
    logit = logit.astype(np.float32)
    n = logit.size
    exponent = np.empty(n, np.int32)
    out = np.full(n + 3, -1.0, np.float32)  # the kernel writes the first n, nothing after
    _sigmoid(logit, n, np.empty(n, np.float32), exponent, exponent.view(np.float32), out[:n])
    expected = torch.sigmoid(torch.from_numpy(logit)).numpy()
    assert np.abs(out[:n] - expected).max() <= 2.4e-7  # two float32 steps at 1
    assert out[:n].min() >= 0 and out[:n].max() <= 1 and np.all(out[n:] == -1)
    assert np.all(np.diff(out[:40_001]) >= 0)  # monotonic, as the sigmoid is


def test_runtime_writes_into_a_given_array_on_both_routes_and_refuses_a_wrong_one():
    # The numba kernel (the shipped geometric model) and the torch route (a conv
    # decoder) both fill the caller's array; a wrong one is refused before any work.
    from kikuchipy_gen.master_pattern import PRETRAINED_DIR
    from kikuchipy_gen.models.bundle import ModelBundle
    from kikuchipy_gen.models.networks import Decoder
    from kikuchipy_gen.models.runtime import DecoderRuntime

    from .conftest import TINY

    shipped = ModelBundle.read(PRETRAINED_DIR / "ni-10-30kv")
    torch.manual_seed(0)
    conv_config = preset("compact", **TINY)
    conv = ModelBundle(conv_config, Decoder(conv_config).state_dict(), shipped.info)
    q = Rotation.random(3).data
    for bundle in (shipped, conv):
        runtime = DecoderRuntime(bundle)
        args = (q, np.full(3, 20.0), torch.zeros(3, bundle.config.latent_dim), bundle.detector)
        fresh = runtime.decode(*args)
        result = np.full((5, 60, 60), -1, dtype=np.float32)
        assert runtime.decode(*args, out=result[1:4]).base is result
        assert np.array_equal(result[1:4], fresh) and (result[[0, 4]] == -1).all()
        with pytest.raises(ValueError, match=r"out must be a C-contiguous float32 array of shape \(3, 60, 60\)"):
            runtime.decode(*args, out=np.empty((3, 60, 60), np.float64))


@pytest.mark.parametrize(
    ("rows", "cols", "window", "offset"),
    [(60, 60, 15, 0.0), (36, 52, 15, 0.0), (5, 9, 15, 0.0), (12, 7, 3, 0.0), (20, 20, 7, 40.0)],
)
def test_box_means_equal_torch_average_pooling(rows, cols, window, offset):
    """The integral-image box means are geometric._box_mean's, clipped borders included.

    Also for an image smaller than the window and for data far from the
    standardised mean (the sums of x**2 - 1 then lose their small-values
    advantage, not their correctness).
    """
    from kikuchipy_gen.models._cpu_decode import _box_means
    from kikuchipy_gen.models.geometric import _box_mean

    rng = np.random.default_rng(rows * cols + window)
    x = (rng.normal(size=rows * cols) + offset).astype(np.float32)
    half = window // 2
    mean, mean_sq = np.full(rows * cols + 1, np.nan, np.float32), np.full(rows * cols, np.nan, np.float32)
    inv_rows = (1 / np.array([min(r + half, rows - 1) - max(r - half, 0) + 1 for r in range(rows)])).astype(np.float32)
    inv_cols = (1 / np.array([min(c + half, cols - 1) - max(c - half, 0) + 1 for c in range(cols)])).astype(np.float32)
    _box_means(
        x,
        rows,
        cols,
        half,
        np.zeros((2, rows + 1, cols), np.float32),
        np.zeros((2, rows + 1 + 2 * half, cols + 1 + 2 * half), np.float32),
        inv_rows,
        inv_cols,
        mean,
        mean_sq,
    )
    image = torch.from_numpy(x.astype(np.float64).reshape(1, rows, cols))
    expected, expected_sq = _box_mean(image, window).numpy().ravel(), _box_mean(image**2, window).numpy().ravel()
    # float32 rounding of the integral's values: tiny for standardised data
    # (the kernel's), relative to the data's size otherwise.
    tol = 2e-6 if offset == 0 else 1e-5
    assert np.abs(mean[:-1] - expected).max() < tol * (1 + offset)
    assert np.abs(mean_sq - expected_sq).max() < tol * (1 + offset**2)
    assert np.isnan(mean[-1])  # nothing written past the image


def test_signed_permutation_mirrors_fold_as_flips_and_swaps(monkeypatch):
    """The fold's flips and signed swaps give the patterns its mirror matrices give."""
    from orix.quaternion.symmetry import D2h, D3d, D4h, D6h, Td

    from kikuchipy_gen.models import _cpu_decode
    from kikuchipy_gen.sector import SectorReduction

    kinds = _cpu_decode._mirror_kinds(*SectorReduction(Oh).mirror_fold()[:2])
    # m-3m: every mirror of its plan is a sign flip (axis normal) or a signed swap (diagonal normal).
    assert set(kinds[:, 0]) == {_cpu_decode._FLIP, _cpu_decode._SWAP}
    # -3m folds its lower hemisphere by the inversion: no signed permutation of one or two axes.
    d3d = _cpu_decode._mirror_kinds(*SectorReduction(D3d).mirror_fold()[:2])
    assert d3d[0, 0] == _cpu_decode._GENERAL
    det = default_detector(shape=(36, 52), pc=(0.42, 0.27, 0.55))
    n = 16
    q = torch.from_numpy(Rotation.random(n).data).float()
    seen = set()
    for group in (Oh, Td, D4h, D2h, D6h, D3d):
        dec = _decoder(det, group)
        seen.update(_cpu_decode._mirror_kinds(*dec.sector.mirror_fold()[:2])[:, 0].tolist())
        z = torch.randn(n, 16)
        fast = decode_cpu(dec, z, q)
        with monkeypatch.context() as m:
            m.setattr(_cpu_decode, "_mirror_kinds", lambda normals, matrices: np.zeros((len(normals), 5), np.int64))
            by_matrices = decode_cpu(dec, z, q)
        assert np.abs(fast - by_matrices).max() < 1e-5, group.name
    assert seen == {_cpu_decode._GENERAL, _cpu_decode._FLIP, _cpu_decode._SWAP}


@pytest.mark.parametrize("point_group", ["m-3m", "4/mmm", "mmm", "6/mmm", "-3m"])
def test_fold_alone_reaches_the_sector_by_flips_and_swaps(point_group):
    """The fold itself, before any fall-back search, takes every direction into the sector.

    The kernel sends directions a fold leaves behind a wall to the operator
    search, which would hide a wrong flip or swap in the patterns (only the
    time would show it); here the search is switched off (infinite
    tolerance) and the folded directions are checked directly.
    """
    from orix.quaternion.symmetry import get_point_group

    from kikuchipy_gen.models import _cpu_decode
    from kikuchipy_gen.sector import SectorReduction

    group = {"m-3m": Oh}.get(point_group) or get_point_group(
        {"4/mmm": 136, "mmm": 47, "6/mmm": 194, "-3m": 166}[point_group]
    ).laue
    sector = SectorReduction(group)
    normals, matrices, passes = sector.mirror_fold()
    rng = np.random.default_rng(7)
    v = rng.normal(size=(3, 5_000))
    v = (v / np.linalg.norm(v, axis=0)).astype(np.float32)
    walls = sector.tested_normals.numpy().astype(np.float32)
    ops, centers = sector.ops.numpy().astype(np.float32), sector.tested_center.numpy().astype(np.float32)
    folded = {}
    for route, kinds in (
        ("kinds", _cpu_decode._mirror_kinds(normals, matrices)),
        ("matrices", np.zeros((len(normals), 5), np.int64)),
    ):
        out = v.copy()
        _cpu_decode._fold_to_sector(
            out,
            normals.astype(np.float32),
            matrices.astype(np.float32),
            passes,
            kinds,
            ops,
            centers,
            walls,
            np.float32(np.inf),
            np.empty(v.shape[1], np.float32),
        )
        folded[route] = out
        # walls[0]: the sector's own walls (operator 0 is the identity).
        assert (np.einsum("kc,cp->kp", walls[0], out) >= -1e-6).all(), route
    assert np.abs(folded["kinds"] - folded["matrices"]).max() < 1e-6
    assert np.allclose(np.linalg.norm(folded["kinds"], axis=0), 1, atol=1e-6)  # a reflection keeps lengths
