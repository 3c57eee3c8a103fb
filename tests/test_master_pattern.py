import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from kikuchipy.detectors import EBSDDetector
from kikuchipy.signals import EBSD, LazyEBSD
from orix.crystal_map import CrystalMap, PhaseList
from orix.quaternion import Rotation

from kikuchipy_gen.attributes import encode_attributes
from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.master_pattern import MODEL_FORMAT, PRETRAINED_DIR, MLMasterPattern, available_pretrained
from kikuchipy_gen.models import preset
from kikuchipy_gen.models.geometric import GeometricDecoder
from kikuchipy_gen.models.networks import Decoder
from kikuchipy_gen.preprocessing import preprocess
from kikuchipy_gen.refinement import disorientation
from kikuchipy_gen.sampling import random_rotations
from kikuchipy_gen.training import Trainer, export_checkpoint

from .conftest import TINY
from .test_training import _mean_pattern_bce


@pytest.fixture(scope="module")
def pretrained():
    return MLMasterPattern.from_pretrained()


@pytest.fixture(scope="module")
def tiny(geometric_run):
    return MLMasterPattern.load(geometric_run.out)


@pytest.fixture(scope="module")
def conv_model(ni_dataset):
    cfg = preset("compact", **TINY)
    torch.manual_seed(0)
    return MLMasterPattern.from_dataset(cfg, Decoder(cfg).state_dict(), ni_dataset)


# In this module, not test_geometric.py: the session fixture geometric_run is then
# built by one test worker only (xdist gives each worker whole modules).
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


def test_attributes_and_repr(pretrained):
    assert "ni-10-30kv" in available_pretrained()
    assert pretrained.energy_range == (10.0, 30.0) and pretrained.energies == [10.0, 15.0, 20.0, 25.0, 30.0]
    assert pretrained.phase.point_group.name == "m-3m"
    assert pretrained.detector.shape == (60, 60)
    assert pretrained.training["dataset_fingerprint"]
    assert repr(pretrained) == "<MLMasterPattern ni (m-3m), 10-30 kV, 60x60 px, geometric decoder>"
    with pytest.raises(ValueError, match="available"):
        MLMasterPattern.from_pretrained("nope")


def test_lazy_equals_computed_and_chunking(pretrained):
    rot = Rotation.random(23)
    lazy = pretrained.get_patterns(rot, energy=17.0, chunk_size=5)
    assert isinstance(lazy, LazyEBSD) and lazy.data.chunks[0] == (5, 5, 5, 5, 3)
    eager = pretrained.get_patterns(rot, energy=17.0, chunk_size=16, compute=True, show_progressbar=False)
    assert isinstance(eager, EBSD) and not isinstance(eager, LazyEBSD)
    lazy.compute(show_progressbar=False)
    assert np.allclose(lazy.data, eager.data, atol=1e-6)
    assert eager.data.dtype == np.float32 and 0 <= eager.data.min() and eager.data.max() <= 1
    # Seeded latents: the same per pattern whatever the chunking, and not the mean.
    a = pretrained.get_patterns(rot, energy=17.0, latent=7, chunk_size=4, compute=True, show_progressbar=False)
    b = pretrained.get_patterns(rot, energy=17.0, latent=7, chunk_size=23, compute=True, show_progressbar=False)
    c = pretrained.get_patterns(rot, energy=17.0, latent=8, compute=True, show_progressbar=False)
    assert np.allclose(a.data, b.data, atol=1e-6)
    assert not np.allclose(a.data, c.data, atol=1e-3) and not np.allclose(a.data, eager.data, atol=1e-3)


def test_xmap_detector_and_2d_rotations(pretrained):
    rot = Rotation.random((3, 4))
    s = pretrained.get_patterns(rot, energy=20, chunk_size=5, compute=True, show_progressbar=False)
    assert s.data.shape == (3, 4, 60, 60) and s.axes_manager.navigation_shape == (4, 3)
    assert s.xmap.shape == (3, 4)
    assert np.allclose(s.xmap.rotations.data, rot.data.reshape(-1, 4))
    assert s.detector.shape == (60, 60) and np.allclose(s.detector.pc, pretrained.detector.pc)
    # Pattern [i, j] is the one for rotation [i, j] (C order throughout).
    flat = pretrained.get_patterns(Rotation(rot.data.reshape(-1, 4)), energy=20, compute=True, show_progressbar=False)
    assert np.allclose(s.data.reshape(12, 60, 60), flat.data, atol=1e-6)


def test_energy_per_rotation(pretrained):
    rot = Rotation.random(4)
    energies = np.array([10.0, 14.0, 22.5, 30.0])
    s = pretrained.get_patterns(rot, energy=energies, compute=True, show_progressbar=False)
    for i, e in enumerate(energies):
        one = pretrained.get_patterns(rot[i : i + 1], energy=e, compute=True, show_progressbar=False)
        assert np.allclose(s.data[i], one.data[0], atol=1e-6)
    # Voltage changes the pattern.
    assert np.abs(s.data[0] - pretrained.decode(rot[:1], energy=30.0)[0]).mean() > 1e-3


def test_energy_errors(pretrained, tiny):
    rot = Rotation.random(2)
    with pytest.raises(ValueError, match="outside the trained range 10-30 kV"):
        pretrained.get_patterns(rot, energy=35)
    assert pretrained.get_patterns(rot, energy=35, extrapolate=True).data.shape == (2, 60, 60)
    # No energy: the highest, as kikuchipy's EBSDMasterPattern.get_patterns.
    assert np.array_equal(pretrained.get_patterns(rot).data.compute(), pretrained.decode(rot, energy=30.0))
    with pytest.raises(ValueError, match="one value per rotation"):
        pretrained.get_patterns(rot, energy=[10, 20, 30])
    with pytest.raises(ValueError, match="positive"):
        pretrained.get_patterns(rot, energy=-5)
    with pytest.raises(ValueError, match="number"):
        pretrained.get_patterns(rot, energy="high")
    # A single-voltage model generates its voltage only.
    assert tiny.get_patterns(rot).data.shape == (2, 60, 60)
    with pytest.raises(ValueError, match="not conditioned on voltage"):
        tiny.get_patterns(rot, energy=15)


def test_energies_just_outside_the_trained_range_are_refused(pretrained):
    rot = Rotation.random(2)
    for e in (9.5, 9.99, 5.0, 0.5, 30.01, 30.5):
        with pytest.raises(ValueError, match="outside the trained range 10-30 kV"):
            pretrained.get_patterns(rot, energy=e)
        with pytest.raises(ValueError, match="outside the trained range"):
            pretrained.decode(rot, energy=e)
        with pytest.raises(ValueError, match="outside the trained range"):
            pretrained.to_master_pattern(e)
    with pytest.raises(ValueError, match="outside the trained range"):
        pretrained.get_patterns(rot, energy=[20.0, 9.5])
    # Within the tolerance of an end, and with extrapolate=True, they are generated;
    # outside the knots the end texture is held.
    for e in (10.0, 10 - 5e-4, 30.0):
        assert pretrained.decode(rot, energy=e).shape == (2, 60, 60)
    assert np.array_equal(pretrained.decode(rot, energy=5.0, extrapolate=True), pretrained.decode(rot, energy=10.0))


def _committed_band_widths():
    report = Path(__file__).parents[1] / "docs" / "reports" / "pretrained_ni" / "metrics.json"
    energies = json.loads(report.read_text())["energies"]
    return {float(k): v["band_width_px"] for k, v in energies.items()}


def test_band_width_narrows_with_voltage_as_the_physics(pretrained, ni_source):
    """Bands of generated patterns narrow monotonically from 10 to 30 kV, by the physics' amounts.

    Two independent references: the committed evaluation of the shipped
    model against de-ebsd dynamical simulations (docs/reports/pretrained_ni),
    and kikuchipy's EMsoft Ni master pattern at 20 kV.
    """
    from kikuchipy_gen.evaluation.metrics import band_width
    from kikuchipy_gen.evaluation.physics import clahe_from_info, physics_patterns

    rot = Rotation.random(40)
    energies = [10.0, 12.5, 15.0, 20.0, 25.0, 30.0]
    widths = np.array([band_width(pretrained.decode(rot, energy=e)) for e in energies])
    # Measured (seeds 0-2): 0.948, 0.813, 0.755, 0.702, 0.666 px at 10-30 kV in 5 kV steps.
    assert np.all(np.diff(widths) < -0.02), widths
    assert widths[0] - widths[-1] > 0.2, widths
    committed = _committed_band_widths()
    for e, w in zip(energies, widths):
        physics = committed[e]["physics"]
        # The committed generated widths differ from the physics by 1.6-9.4 %.
        assert abs(w - physics) < 0.12 * physics, (e, w, physics)
        if e in pretrained.energies:
            assert abs(w - physics) < 0.04 * physics, (e, w, physics)
    clahe = clahe_from_info(pretrained.info.get("preprocessing"))
    emsoft = band_width(physics_patterns(ni_source.master_pattern(20), rot, pretrained.detector, 20, clahe))
    assert abs(widths[energies.index(20.0)] - emsoft) < 0.03 * emsoft, (widths, emsoft)


def test_bad_inputs(pretrained):
    rot = Rotation.random(2)
    with pytest.raises(TypeError, match="orix Rotation"):
        pretrained.get_patterns(np.zeros((2, 4)), energy=20)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        pretrained.get_patterns(Rotation.random((2, 2, 2)), energy=20)
    with pytest.raises(ValueError, match="dtype_out"):
        pretrained.get_patterns(rot, energy=20, dtype_out="int8")
    with pytest.raises(ValueError, match="latent"):
        pretrained.get_patterns(rot, energy=20, latent="random")
    with pytest.raises(ValueError, match="latent"):
        pretrained.get_patterns(rot, energy=20, latent=-1)
    with pytest.raises(ValueError, match="chunk_size"):
        pretrained.get_patterns(rot, energy=20, chunk_size=0)
    with pytest.raises(TypeError, match="EBSDDetector"):
        pretrained.get_patterns(rot, detector="60x60", energy=20)
    with pytest.raises(RuntimeError):
        pretrained.get_patterns(rot, energy=20, device="tpu9")
    for q in ([np.nan, 0, 0, 1], [np.inf, 0, 0, 0], [0, 0, 0, 0]):
        with np.errstate(all="ignore"):
            with pytest.raises(ValueError, match="finite, non-zero quaternions"):
                pretrained.get_patterns(Rotation([[1, 0, 0, 0], q]), energy=20)
    with pytest.raises(ValueError, match="finite"):
        pretrained.to_master_pattern(float("nan"))
    with pytest.raises(ValueError, match="Tilts must be finite"):
        default_detector(sample_tilt=float("nan"))
    with pytest.raises(ValueError, match="larger than 4096"):
        pretrained.get_patterns(rot, detector=EBSDDetector((20000, 20000)), energy=20)


def test_uint8_output(pretrained):
    rot = Rotation.random(3)
    f = pretrained.get_patterns(rot, energy=20, compute=True, show_progressbar=False).data
    u = pretrained.get_patterns(rot, energy=20, dtype_out="uint8", compute=True, show_progressbar=False).data
    assert u.dtype == np.uint8 and np.abs(u.astype(float) - 255 * f).max() <= 0.5 + 1e-3


def test_detectors(pretrained, conv_model):
    rot = Rotation.random(3)
    other = default_detector(shape=(40, 52), pc=(0.45, 0.35, 0.6), tilt=5)
    s = pretrained.get_patterns(rot, detector=other, energy=20, compute=True, show_progressbar=False)
    assert s.data.shape == (3, 40, 52) and s.detector.shape == (40, 52)
    # Conv decoders know one detector only.
    assert conv_model.get_patterns(rot, detector=conv_model.detector).data.shape == (3, 60, 60)
    with pytest.raises(ValueError, match="only for the detector it was trained for"):
        conv_model.get_patterns(rot, detector=other)
    with pytest.raises(ValueError, match="only for the detector"):
        conv_model.get_patterns(rot, detector=default_detector(pc=(0.5, 0.5, 0.5)))
    with pytest.raises(TypeError, match="conv decoder"):
        conv_model.to_master_pattern()


def test_save_load_round_trip(tiny, geometric_run, tmp_path):
    rot = Rotation.random(5)
    ref = tiny.get_patterns(rot, compute=True, show_progressbar=False).data
    path = tiny.save(tmp_path / "model")
    meta = json.loads((path / "model.json").read_text())
    assert meta["format"] == MODEL_FORMAT and meta["info"]["energies"] == [20.0]
    again = MLMasterPattern.load(path)
    assert np.array_equal(again.get_patterns(rot, compute=True, show_progressbar=False).data, ref)
    # A checkpoint folder loads too, e.g. the CVAE before its GAN stage.
    ckpt = MLMasterPattern.load(geometric_run.out / "checkpoints" / "last")
    assert ckpt.get_patterns(rot, compute=True, show_progressbar=False).data.shape == (5, 60, 60)
    cvae = MLMasterPattern.load(geometric_run.out / "checkpoints" / "cvae_end")
    assert cvae.training["state"]["stage"] == "cvae" and ckpt.training["state"]["stage"] == "done"
    with pytest.raises(FileExistsError):
        tiny.save(path)
    tiny.save(path, overwrite=True)
    with pytest.raises(FileNotFoundError):
        MLMasterPattern.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither a saved model"):
        MLMasterPattern.load(tmp_path / "empty")
    meta["format"] = "something/9"
    (path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="format"):
        MLMasterPattern.load(path)
    # A checkpoint from before checkpoints were bundles: an error naming the
    # one-off conversion, which then gives the same model.
    legacy = tmp_path / "legacy"
    shutil.copytree(geometric_run.out / "checkpoints" / "last", legacy)
    (legacy / "model.json").unlink()
    with pytest.raises(ValueError, match="export_checkpoint"):
        MLMasterPattern.load(legacy)
    export_checkpoint(legacy)
    assert np.array_equal(
        MLMasterPattern.load(legacy).get_patterns(rot, compute=True, show_progressbar=False).data,
        ckpt.get_patterns(rot, compute=True, show_progressbar=False).data,
    )


def test_format_1_model_converts_to_format_2_unchanged(tmp_path):
    # The shipped model is a format-1 file (flat model config); written again it
    # is format 2, and both generate the same patterns through both decoders
    # (the CPU kernel by default, torch on request of the decoder itself).
    shipped = MLMasterPattern.from_pretrained()
    assert json.loads((PRETRAINED_DIR / "ni-10-30kv" / "model.json").read_text())["format"] == "kikuchipy-gen-model/1"
    again = MLMasterPattern.load(shipped.save(tmp_path / "v2"))
    assert json.loads((tmp_path / "v2" / "model.json").read_text())["model"]["decoder"]["kind"] == "geometric"
    assert again.config == shipped.config
    rot = random_rotations(16, seed=4)
    energies = np.linspace(10, 30, 16)
    assert np.array_equal(again.decode(rot, energies), shipped.decode(rot, energies))
    attr = encode_attributes(rot, "m-3m", energies)
    with torch.no_grad():
        a, b = (m.bundle.build_decoder()(torch.zeros(16, 16), attr) for m in (again, shipped))
    assert torch.equal(a, b)


def test_to_master_pattern(pretrained, tiny):
    mp = pretrained.to_master_pattern(17.5)
    assert mp.data.shape == (2, 201, 201) and mp.phase.point_group.name == "m-3m"
    with pytest.raises(ValueError, match="outside"):
        pretrained.to_master_pattern(40)
    assert tiny.to_master_pattern().data.shape == (2, 61, 61)


def _physics(ni_source, rot, detector):
    mp = ni_source.master_pattern(20)
    s = mp.get_patterns(rot, detector, energy=20, compute=True, show_progressbar=False)
    return preprocess(s).astype(np.float32) / 255


def _as_signal(data, rot, phase, detector):
    xmap = CrystalMap(rot, phase_list=PhaseList(phase), x=np.arange(rot.size))
    return EBSD(data, xmap=xmap, detector=detector)


@pytest.mark.parametrize(
    "detector",
    [None, default_detector(shape=(48, 64), pc=(0.5, 0.3, 0.62), tilt=3)],
    ids=["trained detector", "unseen detector"],
)
def test_generated_dictionary_indexes_physics(tiny, local_dataset, ni_source, detector):
    """A lazily generated dictionary recovers the orientations of physics patterns."""
    det = tiny.detector if detector is None else detector
    train, val = local_dataset.rotations("train"), local_dataset.rotations("val")
    experimental = _as_signal(_physics(ni_source, val, det), val, tiny.phase, det)
    dictionary = tiny.get_patterns(train, detector=det, chunk_size=64)  # lazy
    xmap = experimental.dictionary_indexing(dictionary, keep_n=1)
    found = disorientation(xmap, val, tiny.phase)
    # The best any method can do here: the nearest training orientation.
    physics = _as_signal(_physics(ni_source, train, det), train, tiny.phase, det)
    best = experimental.dictionary_indexing(physics, keep_n=1)
    floor = disorientation(best, val, tiny.phase)
    assert found.mean() < floor.mean() + 0.5, (found.mean(), floor.mean())
    assert np.median(found) < 2.0
    if detector is None:
        # Training is what made the dictionary useful: the untrained model's is not.
        torch.manual_seed(1)
        untrained = MLMasterPattern(
            tiny.config, GeometricDecoder(tiny.config, det, tiny.phase.point_group).state_dict(), tiny.info
        )
        xmap0 = experimental.dictionary_indexing(untrained.get_patterns(train, chunk_size=64), keep_n=1)
        assert disorientation(xmap0, val, tiny.phase).mean() > found.mean() + 2.0


def test_refine_orientation_on_generated_patterns(tiny, ni_source):
    """The paper's evaluation: refine generated patterns against the physics master pattern."""
    from kikuchipy_gen.refinement import refine_orientations

    rot = Rotation.from_axes_angles([1, 2, 3], 30, degrees=True) * Rotation.from_axes_angles(
        [[1, 0, 0], [0, 1, 0], [0, 0, 1]], 2, degrees=True
    )
    generated = tiny.get_patterns(rot, compute=True, show_progressbar=False)
    start = Rotation.from_axes_angles([0, 1, 1], 1.0, degrees=True) * rot
    xmap = CrystalMap(start, phase_list=PhaseList(tiny.phase), x=np.arange(rot.size))
    refined = refine_orientations(generated, xmap, tiny.detector, ni_source.master_pattern(20), energy=20)
    before = disorientation(start, rot, tiny.phase)
    after = disorientation(refined.rotations, rot, tiny.phase)
    # From 1 deg off to about 0.1 deg (measured 0.08-0.13): a refinement that
    # only nudges the start, or a model whose patterns ignore the orientation, fails.
    assert np.allclose(before, 1.0, atol=1e-6) and np.all(after < 0.25), (before, after)


def test_dask_distributed_local_cluster(pretrained):
    import distributed

    rot = Rotation.random(12)
    ref = pretrained.get_patterns(rot, energy=20, latent=3, compute=True, show_progressbar=False).data
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster):
            s = pretrained.get_patterns(rot, energy=20, latent=3, chunk_size=4)
            out = s.data.compute()
    assert np.allclose(out, ref, atol=1e-6)


def test_kikuchipy_signature_and_defaults(pretrained, tmp_path):
    from kikuchipy import load

    rot = random_rotations(6, seed=2)
    # Chunking by kikuchipy's names; the old name still works; both together do not.
    assert pretrained.get_patterns(rot, energy=20, chunk_shape=4).data.chunks[0] == (4, 2)
    assert pretrained.get_patterns(rot, energy=20, chunk_size=5).data.chunks[0] == (5, 1)
    assert pretrained.get_patterns(rot, energy=20, chunk_bytes=3 * 3600 * 4).data.chunks[0] == (3, 3)
    assert pretrained.get_patterns(rot, energy=20, chunk_bytes="1 MiB").data.chunks[0] == (6,)
    with pytest.raises(TypeError, match="not both"):
        pretrained.get_patterns(rot, energy=20, chunk_shape=2, chunk_bytes="1 MiB")
    with pytest.raises(TypeError):
        pretrained.get_patterns(rot, energy=20, chunks=2)
    with pytest.raises(ValueError, match="chunk_bytes"):
        pretrained.get_patterns(rot, energy=20, chunk_bytes=-3)
    # Axes named and in px as kikuchipy's; energies per rotation in the crystal map.
    kv = np.array([10.0, 12.5, 15, 20, 25, 30])
    s = pretrained.get_patterns(rot, energy=kv, compute=True, show_progressbar=False)
    axes = s.axes_manager
    assert [a.name for a in axes.navigation_axes + axes.signal_axes] == ["x", "dx", "dy"]
    assert all(a.units == "px" for a in axes.signal_axes)
    assert np.array_equal(s.xmap.prop["energy"], kv)
    s.save(tmp_path / "kv.h5")
    assert np.array_equal(load(tmp_path / "kv.h5").xmap.prop["energy"], kv)
    # show_progressbar=None follows hyperspy's preference: tests/test_default_path.py.


def test_one_pattern_centre_per_rotation(pretrained):
    rot = random_rotations(6, seed=3).reshape(2, 3)
    pcs = np.array([[0.40, 0.20, 0.50], [0.45, 0.25, 0.55], [0.40, 0.20, 0.50]] * 2).reshape(2, 3, 3)
    det = default_detector(shape=(40, 50))
    det.pc = pcs
    s = pretrained.get_patterns(rot, detector=det, energy=17.5, chunk_shape=4, compute=True, show_progressbar=False)
    assert s.data.shape == (2, 3, 40, 50) and s.detector.navigation_shape == (2, 3)
    # Pattern by pattern, the same as a detector with that one centre.
    flat = Rotation(rot.data.reshape(-1, 4))
    for i, pc in enumerate(pcs.reshape(-1, 3)):
        one = default_detector(shape=(40, 50), pc=tuple(pc))
        ref = pretrained.get_patterns(flat[i : i + 1], detector=one, energy=17.5, compute=True, show_progressbar=False)
        assert np.array_equal(s.data.reshape(-1, 40, 50)[i], ref.data[0])
    with pytest.raises(ValueError, match="navigation_shape"):
        pretrained.get_patterns(Rotation.random(5), detector=det, energy=20)
    bad = default_detector()
    bad.pc = np.array([[0.4, 0.2, np.nan]] * 2)
    with pytest.raises(ValueError, match="finite"):
        pretrained.get_patterns(Rotation.random(2), detector=bad, energy=20)


def test_kikuchipy_refinement_takes_the_ml_master_pattern(pretrained):
    # The ML master pattern goes where kikuchipy takes an EBSDMasterPattern:
    # the same result as refining against its exported learned texture.
    from orix.crystal_map import CrystalMap

    truth = random_rotations(3, seed=5)
    s = pretrained.get_patterns(truth, energy=17.5, compute=True, show_progressbar=False)
    start = Rotation.from_axes_angles([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.deg2rad(1.0)) * truth
    xmap = CrystalMap(start, phase_list=PhaseList(pretrained.phase), x=np.arange(3))
    kw = dict(energy=17.5, method="minimize", method_kwargs={"method": "Nelder-Mead"}, compute=True)
    ours = s.refine_orientation(xmap, s.detector, pretrained, **kw)
    exported = s.refine_orientation(xmap, s.detector, pretrained.to_master_pattern(17.5), **kw)
    assert np.allclose(ours.rotations.data, exported.rotations.data)
    assert np.all(disorientation(ours, truth, pretrained.phase) < 0.3)
    pc = s.refine_projection_center(ours, s.detector, pretrained, energy=17.5, compute=True)
    assert np.allclose(pc[1].pc_average, s.detector.pc_average, atol=0.01)
    both, detector = s.refine_orientation_projection_center(ours, s.detector, pretrained, energy=17.5, compute=True)
    assert np.all(disorientation(both, truth, pretrained.phase) < 0.3)
    assert np.allclose(detector.pc_average, s.detector.pc_average, atol=0.01)
    assert pretrained._is_suitable_for_projection() and pretrained.axes_manager.signal_shape == (201, 201)
