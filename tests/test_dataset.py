import os
import subprocess
import sys
import time

import numpy as np
import pytest
from orix.quaternion import Rotation

from kikuchipy_gen.dataset import EBSDDataset, build_dataset, open_dataset
from kikuchipy_gen.detector import default_detector
from kikuchipy_gen.preprocessing import CLAHE, preprocess
from kikuchipy_gen.sources import KinematicalSource


class _FailingSource(KinematicalSource):
    """Kinematical source whose projection is interrupted after some chunks."""

    def __init__(self, fail_after, **kwargs):
        super().__init__(**kwargs)
        self.fail_after = fail_after
        self.calls = 0

    def master_pattern(self, energy):
        mp = super().master_pattern(energy)
        source = self
        original = mp.get_patterns

        def get_patterns(*args, **kwargs):
            if source.fail_after is not None and source.calls >= source.fail_after:
                raise KeyboardInterrupt
            source.calls += 1
            return original(*args, **kwargs)

        mp.get_patterns = get_patterns
        return mp


def test_round_trip_matches_direct_projection(ni_dataset, ni_source, tiny_splits):
    ds = open_dataset(ni_dataset.path)
    assert ds.sizes == {"train": 193, "val": 20, "test": 50}
    assert ds.energies == [20.0]
    assert ds.pattern_shape == (60, 60)
    assert ds.phase.name == "ni"
    assert ds.provenance["kind"] == "kikuchipy-nickel"
    rot = ds.rotations("test")
    assert np.allclose(rot.data, tiny_splits["test"].data)
    direct = ni_source.master_pattern(20).get_patterns(rot, default_detector(), compute=True, show_progressbar=False)
    expected = preprocess(direct)
    s = ds.patterns("test")
    assert s._lazy and s.axes_manager.navigation_shape == (50,)
    assert np.array_equal(np.asarray(s.data.compute()), expected)
    # The signal carries what kikuchipy needs for indexing.
    assert np.allclose(s.xmap.rotations.data, rot.data)
    assert np.allclose(s.detector.pc, default_detector().pc)
    # The source can be rebuilt from the stored provenance.
    assert np.array_equal(ds.source.master_pattern(20).data, ni_source.master_pattern(20).data)


def test_clahe_output_is_near_uniform(ni_dataset, ni_source, tiny_splits):
    x = np.asarray(ni_dataset.patterns_array("train")[0])
    counts = np.bincount(x.ravel() // 32, minlength=8) / x.size
    # CLAHE flattens the histogram: each of 8 bins holds 12.5% +- 3%.
    assert np.all(np.abs(counts - 1 / 8) < 0.03), counts
    rot = tiny_splits["train"][:100]
    raw = preprocess(
        ni_source.master_pattern(20).get_patterns(rot, default_detector(), compute=True, show_progressbar=False),
        clahe=None,
    )
    raw_counts = np.bincount(raw.ravel() // 32, minlength=8) / raw.size
    assert np.abs(raw_counts - 1 / 8).max() > 0.05, raw_counts


def test_clahe_parameters():
    assert CLAHE().kikuchipy_kwargs((60, 60)) == {
        "kernel_size": (15, 15),
        "clip_limit": 10 / 256,
        "nbins": 256,
    }
    with pytest.raises(ValueError, match="clip limit"):
        CLAHE(clip_limit=0)
    with pytest.raises(ValueError, match="too many"):
        CLAHE(tiles=(40, 40)).kikuchipy_kwargs((60, 60))


def test_several_energies(kinematical_dataset):
    ds = kinematical_dataset
    assert ds.energies == [10.0, 30.0]
    arr = ds.patterns_array("val")
    assert arr.shape == (2, 20, 60, 60)
    assert arr.chunks == (1, 20, 60, 60)
    # Different energies give different (narrower-band) patterns.
    assert not np.array_equal(arr[0], arr[1])
    assert ds.patterns("val", energy=30).metadata.Acquisition_instrument.SEM.beam_energy == 30
    with pytest.raises(ValueError, match="Choose an energy"):
        ds.patterns("val")
    with pytest.raises(ValueError, match="No 20 kV"):
        ds.patterns("val", energy=20)
    with pytest.raises(ValueError, match="No split"):
        ds.patterns("holdout", energy=10)


def test_energy_lookup_uses_the_package_tolerance(kinematical_dataset):
    from kikuchipy_gen.attributes import ENERGY_TOLERANCE

    assert kinematical_dataset.energy_index(30 - ENERGY_TOLERANCE / 2) == 1
    with pytest.raises(ValueError, match="No 30.002 kV"):
        kinematical_dataset.energy_index(30 + 2 * ENERGY_TOLERANCE)


@pytest.mark.parametrize("threads", [1, 2])
def test_resume_after_interruption(tmp_path, tiny_splits, monkeypatch, threads):
    # Each chunk is projected in one piece per dask thread: one get_patterns call each.
    from kikuchipy_gen import preprocessing

    monkeypatch.setattr(preprocessing, "CPU_COUNT", threads)
    kwargs = dict(phase="ni", half_size=40)
    splits = {"train": tiny_splits["train"], "val": tiny_splits["val"]}
    path = tmp_path / "resume.zarr"
    failing = _FailingSource(fail_after=3 * threads, **kwargs)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(path, failing, splits, energies=[15, 25], chunk_size=40, show_progressbar=False)
    # Unfinished: refuses to open, refuses to be silently rebuilt, keeps done chunks.
    with pytest.raises(ValueError, match="did not finish"):
        open_dataset(path)
    partial = EBSDDataset(path, allow_incomplete=True)
    assert partial._root["train"]["done"][:].sum() == 3
    with pytest.raises(FileExistsError, match="unfinished dataset"):
        build_dataset(path, _FailingSource(None, **kwargs), splits, energies=[15, 25], chunk_size=40)

    resumed = _FailingSource(fail_after=None, **kwargs)
    ds = build_dataset(path, resumed, splits, energies=[15, 25], chunk_size=40, resume=True, show_progressbar=False)
    n_chunks = 2 * (5 + 1)  # two energies x (5 train + 1 val chunks)
    assert resumed.calls == (n_chunks - 3) * threads

    reference = build_dataset(
        tmp_path / "ref.zarr",
        KinematicalSource(**kwargs),
        splits,
        energies=[15, 25],
        chunk_size=40,
        show_progressbar=False,
    )
    for split in splits:
        assert np.array_equal(ds.patterns_array(split)[:], reference.patterns_array(split)[:])


def test_resume_with_other_inputs_is_refused(tmp_path, tiny_splits):
    path = tmp_path / "a.zarr"
    src = KinematicalSource("ni", half_size=30)
    build_dataset(path, src, tiny_splits["val"], energies=[20], show_progressbar=False)
    with pytest.raises(ValueError, match="other inputs"):
        build_dataset(path, src, tiny_splits["val"], energies=[25], resume=True)
    # Resuming a complete build with the same inputs does nothing and succeeds.
    ds = build_dataset(path, src, tiny_splits["val"], energies=[20], resume=True, show_progressbar=False)
    assert ds.sizes == {"train": 20}


def test_existing_paths(tmp_path, tiny_splits):
    src = KinematicalSource("ni", half_size=30)
    rot = tiny_splits["val"]
    path = tmp_path / "x.zarr"
    build_dataset(path, src, rot, energies=[20], show_progressbar=False)
    with pytest.raises(FileExistsError, match="--overwrite"):
        build_dataset(path, src, rot, energies=[20])
    ds = build_dataset(path, src, rot, energies=[30], overwrite=True, show_progressbar=False)
    assert ds.energies == [30.0]
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a kikuchipy-gen dataset"):
        build_dataset(other, src, rot, energies=[20], overwrite=True)
    assert (other / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="not a kikuchipy-gen dataset"):
        open_dataset(other)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"energies": [20, 20]}, "distinct"),
        ({"energies": [15]}, "no 15 kV"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"orientations": {}}, "No orientations"),
        ({"orientations": {"train": np.zeros((3, 4))}}, "orix Rotation"),
        ({"resume": True, "overwrite": True}, "not both"),
    ],
)
def test_build_bad_input(tmp_path, ni_source, tiny_splits, kwargs, match):
    args = {"orientations": tiny_splits["val"], "show_progressbar": False} | kwargs
    with pytest.raises(ValueError, match=match):
        build_dataset(tmp_path / "bad.zarr", ni_source, **args)
    assert not (tmp_path / "bad.zarr").exists() or kwargs.get("resume")


def test_energy_required_for_open_sources(tmp_path, tiny_splits):
    with pytest.raises(ValueError, match="Give the energies"):
        build_dataset(tmp_path / "k.zarr", KinematicalSource("ni", half_size=20), tiny_splits["val"])


def test_detector_geometry_is_used(tmp_path, ni_source, tiny_splits):
    det = default_detector(shape=(40, 50), pc=(0.5, 0.5, 0.6), sample_tilt=65, tilt=5)
    ds = build_dataset(tmp_path / "d.zarr", ni_source, tiny_splits["test"], detector=det, show_progressbar=False)
    assert ds.pattern_shape == (40, 50)
    assert ds.detector.sample_tilt == 65 and ds.detector.tilt == 5
    assert np.allclose(ds.detector.pc, [0.5, 0.5, 0.6])
    with pytest.raises(ValueError, match="Pattern centre"):
        default_detector(pc=(0.5, 0.5))
    with pytest.raises(ValueError, match="shape"):
        default_detector(shape=(4, 60))


def test_stored_orientations_are_fundamental_zone_representatives(tmp_path, ni_source):
    from orix.quaternion import Orientation

    from kikuchipy_gen.attributes import encode_attributes
    from kikuchipy_gen.phases import get_point_group

    rot = Rotation.random(40)
    ds = build_dataset(tmp_path / "r.zarr", ni_source, rot, show_progressbar=False)
    stored = ds.rotations("train")
    sym = get_point_group("m-3m").proper_subgroup
    angle = Orientation(stored.data, symmetry=sym).angle_with(Orientation(rot.data, symmetry=sym))
    assert np.rad2deg(angle).max() < 1e-4
    assert np.all(stored.data[:, 0] >= 0)
    # The stored quaternions are the networks' attribute encoding.
    assert np.allclose(encode_attributes(rot, "m-3m").numpy(), stored.data, atol=1e-6)
    # The same patterns as the original rotations give, up to interpolation on
    # the master pattern's Lambert grid, which is symmetric only to grid accuracy.
    direct = preprocess(
        ni_source.master_pattern(20).get_patterns(rot, default_detector(), compute=True, show_progressbar=False)
    )
    stored_patterns = ds.patterns_array("train")[0].reshape(40, -1).astype(float)
    r = [np.corrcoef(a, b)[0, 1] for a, b in zip(stored_patterns, direct.reshape(40, -1))]
    assert min(r) > 0.95


def test_one_writer_per_path_in_one_process(tmp_path, ni_source, tiny_splits):
    """flock locks belong to open files, so a held lock stops even this process's second build."""
    from kikuchipy_gen.dataset import _build_lock

    path = tmp_path / "locked.zarr"
    with _build_lock(path):
        assert (tmp_path / "locked.zarr.lock").read_text().strip() == str(os.getpid())
        with pytest.raises(FileExistsError, match=rf"being built by another process \(pid {os.getpid()}\); wait"):
            build_dataset(path, ni_source, tiny_splits["val"], show_progressbar=False)
    assert not path.exists()
    build_dataset(path, ni_source, tiny_splits["val"], show_progressbar=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locked.zarr"]  # the lock file is gone


_SLOW_BUILD = """
import sys, time
from pathlib import Path
from kikuchipy_gen.dataset import build_dataset
from kikuchipy_gen.sampling import split_orientations
from kikuchipy_gen.sources import KikuchipyNickelSource

class Waiting(KikuchipyNickelSource):
    def master_pattern(self, energy):
        Path(sys.argv[2]).touch()
        while not Path(sys.argv[3]).exists():
            time.sleep(0.05)
        return super().master_pattern(energy)

build_dataset(sys.argv[1], Waiting(), split_orientations("m-3m", n_train=4), show_progressbar=False)
"""


def _wait_for(path, process, timeout=120):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the other process did not start"
        time.sleep(0.05)


def test_second_writer_of_a_path_is_refused(tmp_path, capsys):
    """`dataset --overwrite` while another process builds the same path: a clear error, the build finishes."""
    from kikuchipy_gen.cli import main

    path, started, go = tmp_path / "ni.zarr", tmp_path / "started", tmp_path / "go"
    builder = subprocess.Popen(
        [sys.executable, "-c", _SLOW_BUILD, str(path), str(started), str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(started, builder)
        assert main(["dataset", str(path), "--overwrite", "--n", "4", "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (
            f"kikuchipy-gen: error: The dataset at {str(path)!r} is being built by another process "
            f"(pid {builder.pid}); wait for it or choose another path"
        )
    finally:
        go.touch()
        stdout, stderr = builder.communicate(timeout=300)
    assert builder.returncode == 0, stderr
    assert open_dataset(path).sizes == {"train": 26, "val": 20, "test": 51}
    assert not (tmp_path / "ni.zarr.lock").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_a_killed_builder_does_not_block_the_path(tmp_path, ni_source, tiny_splits):
    path = tmp_path / "ni.zarr"
    script = (
        "import sys, time; from pathlib import Path; from kikuchipy_gen.dataset import _build_lock\n"
        "with _build_lock(Path(sys.argv[1])):\n    Path(sys.argv[2]).touch(); time.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script, str(path), str(tmp_path / "locked")])
    try:
        _wait_for(tmp_path / "locked", holder)
        with pytest.raises(FileExistsError, match=f"pid {holder.pid}"):
            build_dataset(path, ni_source, tiny_splits["val"], show_progressbar=False)
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert (tmp_path / "ni.zarr.lock").exists()  # left behind by the killed process, but no longer locked
    ds = build_dataset(path, ni_source, tiny_splits["val"], show_progressbar=False)
    assert ds.sizes == {"train": 20} and not (tmp_path / "ni.zarr.lock").exists()


def test_tiny_example_dataset_is_built_once_and_checks_its_folder(tmp_path):
    from kikuchipy_gen.data import tiny_dataset

    ds = tiny_dataset(tmp_path / "new")
    assert ds.sizes == {"train": 20, "val": 26, "test": 51} and ds.patterns_array("train").shape == (1, 20, 60, 60)
    again = tiny_dataset(tmp_path / "new")  # opened, not rebuilt
    assert again.attrs["fingerprint"] == ds.attrs["fingerprint"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        tiny_dataset(tmp_path / "file")
