from pathlib import Path

import kikuchipy as kp
import numpy as np
import pytest
from orix.quaternion import Rotation

from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.phases import get_phase
from kikuchipy_gen.sources import (
    DynamicalSource,
    EMsoftFileSource,
    KinematicalSource,
    source_from_dict,
    validate_master_pattern,
)

EMSOFT_FILE = Path(kp.__file__).parent / "data/emsoft_ebsd_master_pattern/master_patterns.h5"


def _band_coverage(mp, fraction=0.05):
    """Fraction of the sphere inside Kikuchi bands (Lambert is equal-area)."""
    data = np.asarray(mp.data, dtype=float)
    background = np.median(data)
    return float(np.mean(data > background + fraction * (data.max() - background)))


def test_nickel_default(ni_source):
    assert ni_source.energies == (20.0,)
    mp = ni_source.master_pattern(20)
    validate_master_pattern(mp)
    assert mp.data.shape == (2, 401, 401)
    assert mp.phase.point_group.name == "m-3m"
    assert mp.metadata.Acquisition_instrument.SEM.beam_energy == 20.0
    with pytest.raises(ValueError, match="no 15 kV master pattern; available: 20 kV"):
        ni_source.master_pattern(15)


def test_emsoft_file_energy_axis():
    src = EMsoftFileSource(EMSOFT_FILE)
    assert src.energies == tuple(float(e) for e in range(10, 21))
    full = kp.load(EMSOFT_FILE, projection="lambert", hemisphere="both")
    mp = src.master_pattern(15)
    assert mp.data.shape == (2, 13, 13)
    # Energy 15 kV is bin 5 on the file's (hemisphere, energy, y, x) array.
    assert np.array_equal(mp.data, full.data[:, 5])
    assert not np.array_equal(mp.data, full.data[:, 6])
    with pytest.raises(ValueError, match="no 15.5 kV"):
        src.master_pattern(15.5)
    # A recorded path is not opened on its own: the caller names the file.
    with pytest.raises(ValueError, match="not opened on its own"):
        source_from_dict(src.to_dict())
    rebuilt = source_from_dict(src.to_dict(), path=EMSOFT_FILE)
    assert np.array_equal(rebuilt.master_pattern(15).data, mp.data)


def test_provenance_chooses_no_folder_and_no_file(tmp_path):
    # A provenance read from a file names no cache folder and no parameter
    # the source does not take; a recorded file is opened only when given.
    other = tmp_path / "other.h5"
    other.write_bytes(EMSOFT_FILE.read_bytes()[:-1] + b"x")
    emsoft = EMsoftFileSource(EMSOFT_FILE).to_dict()
    with pytest.raises(ValueError, match="SHA-256"):
        source_from_dict({**emsoft, "path": "/etc/shadow"}, path=other)
    dynamical = {"kind": "dynamical", "phase": EMsoftFileSource(EMSOFT_FILE).to_dict()["phase"], "npx": 20}
    with pytest.raises(ValueError, match="unknown parameter"):
        source_from_dict({**dynamical, "cache_dir": str(tmp_path / "evil")})
    with pytest.raises(ValueError, match="npx"):
        source_from_dict({**dynamical, "npx": 10**6})
    src = source_from_dict(dynamical, cache_dir=tmp_path / "mine")
    assert src.cache_dir == tmp_path / "mine"
    with pytest.raises(ValueError, match="JSON object"):
        source_from_dict(["dynamical"])
    assert not (tmp_path / "evil").exists()


def test_emsoft_file_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        EMsoftFileSource(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="Could not read"):
        EMsoftFileSource(bad)


def test_kinematical_band_width_shrinks_with_voltage():
    src = KinematicalSource("ni", half_size=60)
    # Bragg angle of (200) follows the electron wavelength: 1.98 deg at 10 kV.
    theta = {e: float(np.rad2deg(src.reflectors(e).theta.max())) for e in (10, 20, 30)}
    assert theta[10] > theta[20] > theta[30]
    coverage = {e: _band_coverage(src.master_pattern(e)) for e in (10, 15, 20, 25, 30)}
    values = [coverage[e] for e in sorted(coverage)]
    assert all(a > b for a, b in zip(values, values[1:])), coverage
    # Band area follows theta; overlapping bands make it grow a bit slower.
    assert 1.3 < coverage[10] / coverage[30] < theta[10] / theta[30] + 0.1


def test_kinematical_is_deterministic_and_round_trips():
    src = KinematicalSource("pt", half_size=30, min_dspacing=1.2)
    provenance = src.to_dict()
    a = src.master_pattern(12.5).data
    assert src.to_dict() == provenance  # simulation does not alter the source's phase
    b = source_from_dict(src.to_dict()).master_pattern(12.5).data
    assert np.array_equal(a, b)
    assert src.master_pattern(12.5).phase.name == "pt"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"min_dspacing": 0}, "min_dspacing"),
        ({"min_intensity": 1.5}, "min_intensity"),
        ({"half_size": 3}, "half_size"),
    ],
)
def test_kinematical_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KinematicalSource("ni", **kwargs)


@pytest.mark.parametrize("energy, match", [(0.5, "outside"), (20000, "outside"), ("x", "number")])
def test_bad_energies(energy, match):
    with pytest.raises(ValueError, match=match):
        KinematicalSource("ni", half_size=20).master_pattern(energy)


def test_validate_master_pattern_errors(ni_source):
    stereo = kp.data.nickel_ebsd_master_pattern_small(projection="stereographic")
    with pytest.raises(ValueError, match="stereographic"):
        validate_master_pattern(stereo)
    upper = kp.data.nickel_ebsd_master_pattern_small(projection="lambert", hemisphere="upper")
    with pytest.raises(ValueError, match="hemisphere"):
        validate_master_pattern(upper)
    no_phase = ni_source.master_pattern(20)
    no_phase.phase = no_phase.phase.__class__()
    with pytest.raises(ValueError, match="no phase"):
        validate_master_pattern(no_phase)
    multi = kp.load(EMSOFT_FILE, projection="lambert", hemisphere="both")
    with pytest.raises(ValueError, match="several energies"):
        validate_master_pattern(multi)
    with pytest.raises(ValueError, match="EBSDMasterPattern"):
        validate_master_pattern(np.zeros((2, 5, 5)))


def _patterns(mp, rot):
    s = mp.get_patterns(rot, default_detector(), compute=True, show_progressbar=False)
    return s.data.reshape(rot.size, -1).astype(float)


def test_dynamical_matches_emsoft_and_caches(tmp_path, ni_source):
    import de_ebsd  # noqa: F401  - a declared test dependency: a broken install fails

    src = DynamicalSource("ni", npx=60, mc_electrons=20_000, cache_dir=tmp_path)
    mp = src.master_pattern(20)
    validate_master_pattern(mp)
    assert mp.data.shape == (2, 121, 121)
    cached = src.cache_path(20)
    assert cached.is_file()
    assert np.array_equal(
        DynamicalSource("ni", npx=60, mc_electrons=20_000, cache_dir=tmp_path).master_pattern(20).data, mp.data
    )

    # Projected through kikuchipy, de-ebsd's patterns agree with EMsoft's (same
    # Lambert convention); a wrong hemisphere or transposition would not.
    rot = Rotation.random(20)
    ours, ref = _patterns(mp, rot), _patterns(ni_source.master_pattern(20), rot)
    r = [np.corrcoef(a, b)[0, 1] for a, b in zip(ours, ref)]
    assert np.mean(r) > 0.6, np.mean(r)
    other = Rotation.random(20)
    r_wrong = [np.corrcoef(a, b)[0, 1] for a, b in zip(ours, _patterns(ni_source.master_pattern(20), other))]
    assert np.mean(r_wrong) < 0.3


def test_dynamical_batches_of_beams_change_nothing(monkeypatch):
    # DynamicalSource runs de-ebsd in batches of _BEAM_CHUNK beam directions
    # instead of its default single batch (half the time at npx 200): the
    # master pattern must be the very same numbers.
    import de_ebsd

    from kikuchipy_gen.sources import dynamical

    src = DynamicalSource("ni", npx=12, mc_electrons=1000, cache_dir=None)
    crystal = dynamical._to_de_ebsd_crystal(de_ebsd, src.phase)
    microscope = de_ebsd.Microscope(energy=20e3, sample_tilt=src.sample_tilt)
    simulator = de_ebsd.MasterPatternSimulator(crystal, microscope, npx=src.npx, dmin=src.dmin)
    one_batch = simulator.compute(device="cpu", mc_electrons=src.mc_electrons).data[0].numpy()

    batches = []
    compute = de_ebsd.MasterPatternSimulator.compute

    def counted(self, *args, **kwargs):
        return compute(self, *args, progress=lambda done, total: batches.append(total), **kwargs)

    monkeypatch.setattr(de_ebsd.MasterPatternSimulator, "compute", counted)
    monkeypatch.setattr(dynamical, "_BEAM_CHUNK", 16)
    batched = src._simulate(20)
    assert batches and batches[-1] > 1  # the small batch size reached de-ebsd
    assert batched.dtype == np.float32 and np.array_equal(batched, one_batch.astype(np.float32))


def test_energy_tolerance_is_the_package_one(ni_source):
    from kikuchipy_gen.attributes import ENERGY_TOLERANCE

    assert ni_source.check_energy(20 + ENERGY_TOLERANCE / 2) == 20.0
    with pytest.raises(ValueError, match="no 20.002 kV"):
        ni_source.check_energy(20 + 2 * ENERGY_TOLERANCE)


def test_dynamical_wraps_arrays_with_the_lambert_builder(tmp_path):
    import de_ebsd  # noqa: F401  - a declared test dependency: a broken install fails

    src = DynamicalSource("ni", npx=5, mc_electrons=1000, cache_dir=tmp_path)
    data = np.random.default_rng(0).random((2, 11, 11))
    path = src.cache_path(15)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, data=data)  # a cached result: no simulation runs
    mp = src.master_pattern(15)
    validate_master_pattern(mp)
    assert mp.data.dtype == np.float32 and np.allclose(mp.data, data)
    assert [ax.name for ax in mp.axes_manager._axes] == ["hemisphere", "height", "width"]
    assert all(ax.offset == -5 and ax.units == "px" for ax in mp.axes_manager.signal_axes)
    assert mp.metadata.Simulation.EBSD_master_pattern.BSE_simulation.energy == 15.0
    assert mp.metadata.Acquisition_instrument.SEM.beam_energy == 15.0
    assert mp.metadata.General.title == "dynamical ni 15 kV"


@pytest.mark.parametrize("phase", ["corundum", "ni", "fe-alpha", "quartz"])
def test_dynamical_centring_matches_the_space_group(phase):
    # de-ebsd drops reflections for the lattice centring. They must be exactly
    # those the space group's pure translations extinguish, taken here from
    # diffpy's operators, independently of de-ebsd; and every atom's lattice sum
    # over its expanded orbit vanishes there. Corundum (R-3c on hexagonal axes)
    # checks the obverse rule: a reverse one would drop allowed reflections.
    from diffpy.structure.spacegroups import GetSpaceGroup
    from diffpy.structure.symmetryutilities import ExpandAsymmetricUnit

    from kikuchipy_gen.sources.dynamical import _import_de_ebsd, _to_de_ebsd_crystal

    p = get_phase(phase)
    allowed_by = _to_de_ebsd_crystal(_import_de_ebsd(), p).allowed_by_centering
    r = np.arange(-4, 5)
    hkl = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    sg = GetSpaceGroup(p.space_group.number)
    shifts = np.array([op.t for op in sg.iter_symops() if np.allclose(op.R, np.eye(3))])
    extinct = np.abs(np.exp(2j * np.pi * hkl @ shifts.T).sum(axis=1)) < 1e-6
    assert extinct.any() == (sg.short_name[0] != "P")
    np.testing.assert_array_equal(allowed_by(hkl), ~extinct)
    for atom in p.structure:
        orbit = np.asarray(ExpandAsymmetricUnit(sg, [atom.xyz]).expandedpos[0])
        assert (np.abs(np.exp(2j * np.pi * hkl[extinct] @ orbit.T).sum(axis=1)) < 1e-6).all()
