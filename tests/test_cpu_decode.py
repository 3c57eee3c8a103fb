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
