import copy

import numpy as np
import pytest
import torch
from orix.crystal_map import Phase
from orix.quaternion import Rotation

from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.models import preset
from kikuchipy_gen.models.config import GeometricDecoderConfig
from kikuchipy_gen.models.geometric import GeometricDecoder
from kikuchipy_gen.projection import project_patterns

from .conftest import asymmetric_lambert

# Point group "1" (no symmetry imposed) and one group of each crystal family the zoo trains.
GROUPS = ["1", "6/mmm", "4/mmm", "-3m", "m-3m"]


def test_projects_its_texture_exactly():
    cfg = preset("geometric", texture_size=41)
    dec = GeometricDecoder(cfg, default_detector())
    q = torch.nn.functional.normalize(torch.randn(3, 4), dim=1)
    with torch.no_grad():
        direct = project_patterns(dec.texture[0], q, default_detector())
        # The head sees the standardised projection of the learned texture.
        x = (direct - direct.mean(dim=(1, 2), keepdim=True)) / (direct.std(dim=(1, 2), keepdim=True) + 1e-4)
        dec.head.mix_out.weight.zero_(), dec.head.mix_out.bias.zero_()
        out = dec(torch.zeros(3, cfg.latent_dim), q)
    assert torch.allclose(out[:, 0], x, atol=1e-5)


def test_any_detector_and_voltage_knots():
    cfg = preset("geometric", texture_size=21, use_voltage=True, n_attributes=5, voltage_knots=3)
    dec = GeometricDecoder(cfg, default_detector())
    attr = torch.tensor([[1.0, 0, 0, 0, 10 / 30], [1.0, 0, 0, 0, 20 / 30], [1.0, 0, 0, 0, 25 / 30]])
    assert dec(torch.randn(3, cfg.latent_dim), attr).shape == (3, 1, 60, 60)
    # Knots at 10, 20, 30 kV: 20 kV is the middle texture, 25 kV halfway to the last.
    m = dec.master_pattern(attr[:, 4])
    assert torch.allclose(m[1], dec.texture[1]) and torch.allclose(m[2], 0.5 * (dec.texture[1] + dec.texture[2]))
    dec.set_detector(default_detector(shape=(32, 48), pc=(0.5, 0.4, 0.7)))
    assert dec(torch.randn(3, cfg.latent_dim), attr).shape == (3, 1, 32, 48)
    with pytest.raises(ValueError, match="use_voltage"):
        preset("geometric", voltage_knots=2)
    with pytest.raises(ValueError, match="head must be"):
        preset("geometric", head="conv")
    with pytest.raises(ValueError, match="head_window must be odd"):
        preset("geometric", head_window=14)


def test_uneven_voltage_knots_blend_their_two_neighbours():
    """Knots at 10, 12, 20, 30 kV: each voltage blends its two neighbours linearly in kV."""
    cfg = preset(
        "geometric", texture_size=21, use_voltage=True, n_attributes=5, voltage_knots=4, knot_energies=[10, 12, 20, 30]
    )
    dec = GeometricDecoder(cfg, default_detector())
    assert torch.allclose(dec.knot_voltages * 30, torch.tensor([10.0, 12.0, 20.0, 30.0]))
    t = dec.texture.detach()
    kv = torch.tensor([10.0, 11.0, 12.0, 14.0, 20.0, 27.5, 30.0, 8.0, 35.0])
    m = dec.master_pattern(kv / 30).detach()
    expected = [t[0], (t[0] + t[1]) / 2, t[1], 0.75 * t[1] + 0.25 * t[2], t[2], 0.25 * t[2] + 0.75 * t[3], t[3]]
    for i, e in enumerate(expected + [t[0], t[3]]):
        assert torch.allclose(m[i], e, atol=1e-6), kv[i]
    # Evenly spaced knots of the same count would put 14 kV elsewhere.
    even = GeometricDecoder(
        preset("geometric", texture_size=21, use_voltage=True, n_attributes=5, voltage_knots=4), default_detector()
    )
    assert torch.allclose(even.knot_voltages * 30, torch.tensor([10.0, 16.6667, 23.3333, 30.0]))


def test_knot_energies_are_checked():
    for bad, match in (
        ([10, 12, 30], "hold voltage_knots = 4"),
        ([10, 20, 12, 30], "must increase"),
        ([10, 12, 12, 30], "must increase"),
        ([9, 12, 20, 30], "from energy_range"),
        ([10, 12, 20, 31], "from energy_range"),
    ):
        with pytest.raises(ValueError, match=match):
            GeometricDecoderConfig(voltage_knots=4, knot_energies=bad)
    with pytest.raises(ValueError, match="finite"):
        GeometricDecoderConfig(voltage_knots=2, knot_energies=[10, float("nan")])
    with pytest.raises(TypeError, match="knot_energies"):
        GeometricDecoderConfig(voltage_knots=2, knot_energies="10 30")
    assert GeometricDecoderConfig(voltage_knots=3, energy_range=(10, 20)).knot_voltages() == [10.0, 15.0, 20.0]
    assert GeometricDecoderConfig(voltage_knots=1, energy_range=(20, 20)).knot_voltages() == [20.0]


def _standardised(x):
    x = x.reshape(len(x), -1).astype(np.float64)
    return (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)


def _pattern_correlation(a, b):
    return (_standardised(a) * _standardised(b)).mean(1)


def test_lambert_export_round_trip_without_symmetry():
    from orix.crystal_map import Phase
    from orix.quaternion import Rotation

    phase = Phase("ni", point_group="m-3m")
    dec = GeometricDecoder(preset("geometric", texture_size=41, symmetry="none"), default_detector(), phase.point_group)
    mp = dec.to_master_pattern(phase, energy=20)
    # Without imposed symmetry the export is the texture itself...
    assert np.allclose(mp.data, dec.texture[0].detach().numpy(), atol=1e-6)
    assert mp.phase.point_group.name == "m-3m" and mp.hemisphere == "both" and mp.projection == "lambert"
    # ...and kikuchipy's projection of it is the decoder's, pixel for pixel.
    rot, det = Rotation.random(6), default_detector(shape=(30, 40), pc=(0.45, 0.3, 0.6))
    ref = mp.get_patterns(rot, det, energy=20, dtype_out="float32", compute=True, show_progressbar=False).data
    ours = project_patterns(dec.texture[0].detach(), torch.from_numpy(rot.data).float(), det).numpy()
    assert np.abs(ours - ref).max() < 1e-5


def test_lambert_export_with_symmetry_reproduces_physics(ni_source):
    """A texture equal to a physics master pattern exports to (nearly) that master pattern."""
    from orix.quaternion import Rotation

    physics = ni_source.master_pattern(20)
    data = np.asarray(physics.data, dtype=np.float32)
    cfg = preset("geometric", texture_size=data.shape[-1])
    dec = GeometricDecoder(cfg, default_detector(), physics.phase.point_group)
    with torch.no_grad():
        dec.texture.copy_(torch.from_numpy(data)[None])
    mp = dec.to_master_pattern(physics.phase, energy=20)
    q = np.random.default_rng(7).standard_normal((30, 4))
    rot, det = Rotation(q / np.linalg.norm(q, axis=1, keepdims=True)), default_detector()
    exported = mp.get_patterns(rot, det, energy=20, dtype_out="float32", compute=True, show_progressbar=False).data
    reference = physics.get_patterns(
        rot, det, energy=20, dtype_out="float32", compute=True, show_progressbar=False
    ).data
    # The sector reduction only resamples the (symmetric) physics: interpolation error.
    assert _pattern_correlation(exported, reference).min() > 0.99
    # The decoder reads the export where a pixel's direction lies in the
    # fundamental sector; elsewhere it reads the equivalent point inside.
    with torch.no_grad():
        internal = dec.project(torch.from_numpy(rot.data).float()).reshape(-1, 60, 60).numpy()
    raw = mp.deepcopy()
    ours = raw.get_patterns(rot, det, energy=20, dtype_out="float32", compute=True, show_progressbar=False).data
    in_sector = _unreduced_pixels(dec, rot).reshape(ours.shape)
    assert in_sector.sum() > 1000
    # float32 lookup rounding; a few pixels next to a Lambert pole, where 1 - |z|
    # cancels in float32, differ more (seen once: 7e-4 of the range).
    diff = np.abs(ours - internal)[in_sector]
    assert np.quantile(diff, 0.999) < 5e-4 * np.ptp(internal) and diff.max() < 3e-3 * np.ptp(internal)
    # Elsewhere the difference is the physics' own interpolation between
    # equivalent points of a Lambert grid (a 3-fold axis does not map the grid
    # onto itself): kikuchipy reading physics at g v and at v differ as much.
    assert _pattern_correlation(internal, reference).min() > 0.99


def _unreduced_pixels(dec, rot):
    """(n, pixels) mask: pixels whose crystal direction already lies in the decoder's fundamental sector."""
    from kikuchipy_gen.projection import rotate_vectors

    with torch.no_grad():
        v = rotate_vectors(torch.from_numpy(rot.data).float(), dec.directions)
        return ((dec.sector(v) - v).norm(dim=-1) < 1e-6).numpy()


def test_lambert_export_errors():
    from orix.crystal_map import Phase

    cfg = preset("geometric", texture_size=21, use_voltage=True, n_attributes=5, voltage_knots=3)
    dec = GeometricDecoder(cfg, default_detector())
    with pytest.raises(ValueError, match="give an energy"):
        dec.lambert_master_pattern()
    with pytest.raises(ValueError, match="odd"):
        dec.lambert_master_pattern(20, size=40)
    with pytest.raises(TypeError, match="orix Phase"):
        dec.to_master_pattern("ni", 20)
    # Between knots the export follows the linear blend.
    low, mid, high = (dec.lambert_master_pattern(e) for e in (10, 15, 20))
    assert torch.allclose(mid, 0.5 * (low + high), atol=1e-6)
    assert dec.to_master_pattern(Phase("ni", point_group="m-3m"), 15).data.shape == (2, 21, 21)


def _asymmetric_decoder(point_group, detector, knots=1, size=41):
    """A geometric decoder whose learned texture has no symmetry of its own (one field per knot)."""
    phase = Phase("x", point_group=point_group)
    voltage = dict(use_voltage=True, n_attributes=5, voltage_knots=knots) if knots > 1 else {}
    symmetry = "none" if point_group == "1" else "laue"
    dec = GeometricDecoder(
        preset("geometric", texture_size=size, symmetry=symmetry, **voltage), detector, phase.point_group
    )
    with torch.no_grad():
        dec.texture.copy_(torch.from_numpy(np.stack([asymmetric_lambert(size, seed=k) for k in range(knots)])))
    return dec, phase


@pytest.mark.parametrize("point_group", GROUPS)
def test_projection_matches_kikuchipy_for_each_crystal_family(point_group):
    """The decoder projects (before its head) what kikuchipy projects from the exported master pattern.

    Off-centre, non-square detector and a texture with no symmetry of its own:
    with ``symmetry="none"`` a swapped hemisphere, mirror or transposition
    shows; with a Laue group the export carries the imposed symmetry.
    """
    det = default_detector(shape=(36, 52), pc=(0.42, 0.27, 0.55))
    dec, phase = _asymmetric_decoder(point_group, det)
    mp = dec.to_master_pattern(phase, energy=20)
    if point_group == "1":
        assert np.array_equal(mp.data, dec.texture[0].detach().numpy())
    rot = Rotation.random(20)
    ref = mp.get_patterns(rot, det, energy=20, dtype_out="float32", compute=True, show_progressbar=False).data
    with torch.no_grad():
        ours = dec.project(torch.from_numpy(rot.data).float()).reshape(-1, *det.shape).numpy()
    # With a symmetry, the decoder reads the export where a pixel's direction
    # lies in the fundamental sector (elsewhere, the equivalent point there).
    compared = np.ones(ours.shape, dtype=bool)
    if point_group != "1":
        compared = _unreduced_pixels(dec, rot).reshape(ours.shape)
        assert compared.sum() > 200, compared.sum()
    diff = np.abs(ours - ref)[compared]
    # float32 lookups; a few pixels next to a Lambert pole differ more.
    assert np.quantile(diff, 0.999) < 1e-3 * np.ptp(ref) and diff.mean() < 1e-4 * np.ptp(ref), diff.max()
    # The imposed symmetry is exact: every symmetry-equivalent orientation gives
    # the same pattern, pixel by pixel, even from a texture with no symmetry.
    if point_group != "1":
        pg = phase.point_group.laue.proper_subgroup
        for g in pg[1:]:
            other = Rotation(g.data) * rot  # a symmetry acts on the crystal frame, after q
            with torch.no_grad():
                twin = dec.project(torch.from_numpy(other.data).float()).reshape(-1, *det.shape).numpy()
            d = np.abs(twin - ours) / np.ptp(ref)
            # Rounding decides the operator for a direction on a sector wall.
            assert np.quantile(d, 0.999) < 1e-4 and d.max() < 1e-2, (g, np.quantile(d, 0.999), d.max())


def test_band_edges_are_not_serrated_where_they_cross_sector_walls():
    """Mirror images across a sector wall read the same texels (issue 15, item 5).

    The shipped model, 240 x 240 px: the raw projection (before the head)
    of an orientation and of each symmetry-equivalent one must agree pixel by
    pixel. When the decoder sampled its symmetric texture where each pixel
    fell, texels copied from the sector and texels resampled into the rest
    met along a staircase where a wall is curved in the Lambert square; band
    edges crossing it were serrated (up to 0.6 of the pattern's range
    between equivalent orientations, measured).
    """
    import kikuchipy_gen as kpg
    from kikuchipy_gen.sampling import random_rotations

    mlmp = kpg.MLMasterPattern.from_pretrained()
    det = default_detector(shape=(240, 240))
    dec = mlmp._runtime.decoder(det, torch.device("cpu"))
    rot = random_rotations(4, seed=3)
    voltage = torch.full((rot.size,), 20.0 / 30)
    with torch.no_grad():
        ref = dec.project(torch.from_numpy(rot.data).float(), voltage).numpy()
        pg = mlmp.phase.point_group.laue.proper_subgroup
        worst = 0.0
        for g in pg[1:]:
            other = (Rotation(g.data) * rot).data
            twin = dec.project(torch.from_numpy(other).float(), voltage).numpy()
            worst = max(worst, float(np.quantile(np.abs(twin - ref), 0.9999) / np.ptp(ref)))
    assert worst < 1e-3, worst


def test_voltage_outside_the_knots_holds_the_end_textures():
    """Outside the knots the decoder clamps: exactly the end knot's pattern, no extrapolation."""
    det = default_detector(shape=(30, 44), pc=(0.45, 0.3, 0.6))
    dec, _ = _asymmetric_decoder("1", det, knots=3, size=21)
    q = torch.from_numpy(Rotation.random(6).data).float()
    with torch.no_grad():

        def at(kv):
            return dec.project(q, torch.full((len(q),), kv / 30.0))

        low, high = at(10.0), at(30.0)
        for kv in (9.5, 5.0, 0.0):
            assert torch.equal(at(kv), low), kv
        for kv in (30.5, 40.0, 60.0):
            assert torch.equal(at(kv), high), kv
        # ... and the end knots are the end textures themselves.
        assert torch.allclose(low, project_patterns(dec.texture[0], q, det).reshape(len(q), -1), atol=1e-5)
        assert torch.allclose(high, project_patterns(dec.texture[-1], q, det).reshape(len(q), -1), atol=1e-5)
        z = torch.zeros(len(q), dec.head.film.in_features)
        attrs = [torch.cat([q, torch.full((len(q), 1), kv / 30.0)], dim=1) for kv in (30.0, 45.0)]
        assert torch.equal(dec(z, attrs[0]), dec(z, attrs[1]))
        assert torch.equal(dec.lambert_master_pattern(30.0), dec.lambert_master_pattern(45.0))
        assert torch.equal(dec.lambert_master_pattern(10.0), dec.lambert_master_pattern(2.0))


@pytest.mark.parametrize("point_group", GROUPS + ["mmm", "-1"])
def test_exported_state_zeroes_only_texels_no_lookup_reads(point_group):
    # A written model keeps the texels outside the fundamental sector's footprint
    # as zeros. No pattern, at any orientation, knot or blend between knots,
    # and no symmetric texture may change by a single bit.
    det = default_detector(shape=(33, 47), pc=(0.45, 0.3, 0.6))
    dec, _ = _asymmetric_decoder(point_group, det, knots=3, size=41)
    rot = torch.from_numpy(Rotation.random(400).data).float()
    voltage = torch.linspace(10, 30, 400) / 30
    with torch.no_grad():
        before = dec.project(rot, voltage), dec.symmetric_textures()
        mask = dec.read_texels()
        dec.texture.copy_(dec.exported_state()["texture"])
        after = dec.project(rot, voltage), dec.symmetric_textures()
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])
    # Every texel for no symmetry; about 2 / |Laue group| of them (both
    # hemispheres' share of the sector, plus its border) otherwise.
    order = Phase("x", point_group=point_group).point_group.laue.size
    share = mask.float().mean().item()
    assert share == 1.0 if point_group == "1" else 1 / order <= share < 2.5 / order + 0.06, share


@pytest.mark.parametrize("point_group", GROUPS + ["mmm", "32"])
def test_training_projection_resamples_only_read_texels_and_matches_the_whole_texture(point_group):
    """With gradients on, the projection takes the symmetric texture at the read texels only.

    Its patterns are the whole texture's to the bit, its gradients to float32
    rounding (the backward adds in another order), and the texels it leaves
    unresampled are the ones no lookup reads.
    """
    det = default_detector(shape=(33, 47), pc=(0.45, 0.3, 0.6))
    dec, _ = _asymmetric_decoder(point_group, det, knots=3, size=41)
    if point_group == "32":  # no inversion, the point group kept: both hemispheres are read
        dec = GeometricDecoder(
            preset("geometric", texture_size=41, symmetry="point_group", use_voltage=True, n_attributes=5),
            det,
            Phase("x", point_group="32").point_group,
        )
        with torch.no_grad():
            dec.texture.copy_(torch.from_numpy(asymmetric_lambert(41, seed=3))[None])
        assert dec.symmetry_upper.any() and not dec.symmetry_upper.all()
    rot = torch.from_numpy(Rotation.random(300).data).float()
    voltage = torch.linspace(10, 30, 300) / 30

    partial = dec._projected_textures()
    assert partial.requires_grad
    whole = dec.symmetric_textures()
    read = dec.read_texels()
    assert torch.equal(partial[:, read], whole[:, read])
    assert (partial[:, ~read] == 0).all() and (point_group == "1" or (~read).any())
    with torch.no_grad():
        assert torch.equal(dec._projected_textures(), whole.detach())  # inference: the whole texture

    ours = dec.project(rot, voltage)
    (grad,) = torch.autograd.grad((ours**2).sum(), dec.texture)
    dec._projected_textures = dec.symmetric_textures  # the former route: every texel each step
    theirs = dec.project(rot, voltage)
    (expected,) = torch.autograd.grad((theirs**2).sum(), dec.texture)
    assert torch.equal(ours, theirs)
    assert torch.allclose(grad, expected, rtol=1e-5, atol=1e-6 * expected.abs().max().item())


def test_read_texels_found_once_and_handed_out_as_copies():
    # Every checkpoint exports the texture: the footprint is found once, and a
    # caller changing its copy changes neither the next answer nor the export.
    dec, _ = _asymmetric_decoder("-3m", default_detector(), knots=2, size=41)
    first = dec.read_texels()
    fresh = dec._find_read_texels(41)
    assert torch.equal(first, fresh) and not first.all()
    first[:] = True
    clone = copy.copy(dec)  # as for_detector makes, sharing the cache
    assert torch.equal(dec.read_texels(), fresh) and torch.equal(clone.read_texels(), fresh)
    assert torch.equal(dec.exported_state()["texture"] != 0, fresh[None].expand_as(dec.texture))


@pytest.mark.parametrize("group", ["1", "m-3m", "-3m"])
def test_meta_build_has_the_real_shapes_and_refuses_to_project(group):
    # ModelBundle checks a file's weights against a decoder built on the meta
    # device; that build skips every value, so its shapes must be the real ones.

    from kikuchipy_gen.phases import get_point_group

    cfg = preset("geometric", texture_size=21, use_voltage=True, n_attributes=5, voltage_knots=3)
    pg = get_point_group(group)
    real = GeometricDecoder(cfg, default_detector(), pg).state_dict()
    with torch.device("meta"):
        shapes_only = GeometricDecoder(cfg, default_detector(), pg)
    meta = shapes_only.state_dict()
    assert meta.keys() == real.keys()
    assert all(meta[k].shape == real[k].shape for k in real)
    with pytest.raises(RuntimeError, match="meta device"):
        shapes_only(torch.zeros(1, cfg.latent_dim), torch.tensor([[1.0, 0, 0, 0, 0.5]]))


@pytest.mark.parametrize(
    ("shape", "window"), [((3, 60, 60), 15), ((2, 5, 9), 15), ((2, 12, 7), 3), ((1, 1, 1), 5), ((2, 33, 20), 31)]
)
def test_box_mean_is_the_clipped_average_pool_values_and_gradients(shape, window):
    """The running-sum box mean equals torch's average pool that leaves the padding out, gradient included.

    Also for windows larger than the image, where every box is clipped.
    """
    import torch.nn.functional as F

    from kikuchipy_gen.models.geometric import _box_mean

    torch.manual_seed(window)
    x = (torch.randn(*shape, dtype=torch.float64) + 3).requires_grad_()
    weights = torch.randn(*shape, dtype=torch.float64)
    half = window // 2
    pool = F.avg_pool2d(x[:, None], window, stride=1, padding=half, count_include_pad=False)[:, 0]
    ours = _box_mean(x, window)
    assert ours.shape == pool.shape and ours.dtype == torch.float64
    assert torch.allclose(ours, pool, rtol=0, atol=1e-12)
    (expected,) = torch.autograd.grad((pool * weights).sum(), x)
    (got,) = torch.autograd.grad((ours * weights).sum(), x)
    assert torch.allclose(got, expected, rtol=0, atol=1e-12)


def test_box_mean_sums_low_precision_input_in_float32():
    """bfloat16 input (CPU autocast) keeps its dtype out but is not summed in bfloat16."""
    import torch.nn.functional as F

    from kikuchipy_gen.models.geometric import _box_mean

    x = torch.randn(2, 60, 60).add(4).to(torch.bfloat16)
    pool = F.avg_pool2d(x.float()[:, None], 15, stride=1, padding=7, count_include_pad=False)[:, 0]
    ours = _box_mean(x, 15)
    assert ours.dtype == torch.bfloat16
    # One bfloat16 rounding of the mean (about 4, 8 bits of mantissa: 0.016);
    # a running sum in bfloat16 would be off by whole units.
    assert (ours.float() - pool).abs().max() <= 0.02
