import numpy as np
import pytest
import torch

from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.models import preset
from kikuchipy_gen.models.geometric import GeometricDecoder
from kikuchipy_gen.projection import project_patterns
from kikuchipy_gen.training import Trainer

from .test_training import _mean_pattern_bce


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


def test_geometric_training_learns_fast(local_dataset, geometric_run):
    trainer, cfg, model = geometric_run, geometric_run.config, geometric_run.config.model
    rows = [r for r in trainer.state.history if r["stage"] == "cvae" and "val_bce_per_pixel" in r]
    baseline = _mean_pattern_bce(local_dataset)
    # 64 steps are enough to beat every input-ignoring prediction by a wide margin.
    assert rows[-1]["val_bce_per_pixel"] < baseline - 0.05, (rows[-1], baseline)
    assert trainer.state.stage == "done"
    reloaded = Trainer(cfg, resume=True)
    z, attr = torch.randn(2, model.latent_dim), torch.tensor([[1.0, 0, 0, 0]] * 2)
    trainer.decoder.eval(), reloaded.decoder.eval()
    with torch.no_grad():
        assert torch.equal(trainer.decoder(z, attr), reloaded.decoder(z, attr))


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
    # The export is exactly what the decoder projects (before its head).
    with torch.no_grad():
        internal = dec.project(torch.from_numpy(rot.data).float()).reshape(-1, 60, 60).numpy()
    raw = mp.deepcopy()
    ours = raw.get_patterns(rot, det, energy=20, dtype_out="float32", compute=True, show_progressbar=False).data
    # float32 lookup rounding; a few pixels next to a Lambert pole, where 1 - |z|
    # cancels in float32, differ more (seen once: 7e-4 of the range).
    diff = np.abs(ours - internal)
    assert np.quantile(diff, 0.9999) < 5e-4 * np.ptp(internal) and diff.max() < 3e-3 * np.ptp(internal)


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
