"""User errors give one line on stderr and exit status 2, before any work, never a traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kikuchipy_gen.cli import _check_writable, main

NO_PROC = not Path("/proc/self").is_dir()


def _one_line_error(capsys, argv, code=2):
    assert main(argv) == code
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    return err


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if a command gets as far as loading a model."""
    from kikuchipy_gen.master_pattern import MLMasterPattern

    def fail(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(MLMasterPattern, "from_pretrained", fail)
    monkeypatch.setattr(MLMasterPattern, "load", fail)


@pytest.fixture
def no_sampling(monkeypatch):
    """Fail the test if ``dataset`` gets as far as sampling orientations."""
    import kikuchipy_gen.sampling

    def fail(*args, **kwargs):
        raise AssertionError("orientations were sampled before the input was checked")

    monkeypatch.setattr(kikuchipy_gen.sampling, "split_orientations", fail)


def _pickled(path, marker):
    class Unpickled:
        # Unpickling calls open(marker, "w"): the marker betrays any unpickling.
        def __reduce__(self):
            return open, (str(marker), "w")

    np.save(path, np.array([Unpickled()], dtype=object), allow_pickle=True)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("garbage.ang", b"garbage\nmore garbage\n", "Could not read a crystal map from"),
        ("garbage.h5", b"not an HDF5 file", "Could not read a crystal map from"),
        ("euler.toml", b"a = 1\n", "unsupported file type '.toml'"),
        ("empty.npy", np.zeros((0, 4)), "holds no orientations"),
        ("empty.txt", b"", "holds no orientations"),
        ("nan.npy", np.array([[1, 0, 0, 0], [np.nan, 0, 0, 0]]), "quaternion row 1 (counting from 0) is not finite"),
        ("inf.npy", np.array([[1, 0, 0, 0], [1, 0, 0, 0], [0, np.inf, 0, 0]]), "quaternion row 2"),
        (
            "zero.npy",
            np.array([[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]),
            "row 1 (counting from 0) is zero (and 1 more)",
        ),
        ("nan_euler.csv", b"10,20,30\n10,nan,30\n", "Euler angle row 1"),
        ("five.npy", np.ones((3, 5)), "expected rows of 4 quaternion components or 3 Euler angles"),
        ("words.txt", b"a b c d\n", "Could not read orientations from"),
    ],
)
def test_generate_bad_orientation_files(tmp_path, capsys, no_model, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.save(path, content)
    out = tmp_path / "out.h5"
    err = _one_line_error(capsys, ["generate", "--orientations", str(path), "--energy", "20", "--out", str(out)])
    assert err.startswith("kikuchipy-gen: error: ") and message in err and name in err
    assert not out.exists()


def test_generate_never_unpickles(tmp_path, capsys, no_model):
    path, marker = tmp_path / "pickled.npy", tmp_path / "unpickled"
    _pickled(path, marker)
    err = _one_line_error(capsys, ["generate", "--orientations", str(path), "--out", str(tmp_path / "o.h5")])
    assert "pickled.npy" in err and "allow_pickle=False" in err
    assert not marker.exists()


def test_generate_normalises_quaternions(tmp_path, capsys):
    import kikuchipy as kp
    from orix.quaternion import Rotation

    q = Rotation.random(3).data
    np.save(tmp_path / "unit.npy", q)
    np.save(tmp_path / "scaled.npy", q * np.array([[0.5], [3.0], [-2.0]]))
    for name in ("unit", "scaled"):
        argv = ["generate", "--orientations", str(tmp_path / f"{name}.npy"), "--energy", "20", "--no-progress"]
        assert main([*argv, "--out", str(tmp_path / f"{name}.h5")]) == 0
    assert np.array_equal(kp.load(tmp_path / "unit.h5").data, kp.load(tmp_path / "scaled.h5").data)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--device", "tpu"], "--device 'tpu' is not a torch device"),
        (["--energy", "nan"], "--energy must be a voltage in kV, a finite number, got nan"),
        (["--energy", "inf"], "--energy must be a voltage in kV"),
        (["--n", "0"], "--n must be >= 1, got 0"),
        (["--n", "-3"], "--n must be >= 1"),
        (["--chunk-size", "0"], "--chunk-size must be >= 1"),
    ],
)
def test_generate_bad_options(tmp_path, capsys, no_model, argv, message):
    base = ["generate", "--out", str(tmp_path / "x.h5")]
    if "--n" not in argv:
        base += ["--n", "3"]
    err = _one_line_error(capsys, [*base, *argv])
    assert message in err


def test_generate_cuda_without_cuda(tmp_path, capsys, no_model, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cuda", "cuda:1"):
        err = _one_line_error(capsys, ["generate", "--n", "3", "--device", device, "--out", str(tmp_path / "x.h5")])
        assert f"--device {device}: CUDA is not available on this machine" in err and "--device cpu" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sample-tilt", "nan"], "--sample-tilt must be an angle in degrees, a finite number, got nan"),
        (["--camera-tilt", "nan"], "--camera-tilt must be an angle in degrees"),
        (["--camera-tilt=-inf"], "got -inf"),
        (["--pc", "0.4", "inf", "0.5"], "--pc must be three finite numbers"),
        (["--pc", "nan", "0.2", "0.5"], "--pc must be three finite numbers"),
        (["--chunk-size", "0"], "--chunk-size must be >= 1"),
        (["--figure", "fig.jpeg2"], "--figure must end with one of"),
    ],
)
def test_dataset_bad_geometry(tmp_path, capsys, no_sampling, argv, message):
    out = tmp_path / "d.zarr"
    err = _one_line_error(capsys, ["dataset", str(out), "--n", "4", "--no-progress", *argv])
    assert message in err
    assert not out.exists()


def test_train_config_errors(tmp_path, capsys):
    as_list = tmp_path / "list.json"
    as_list.write_text(json.dumps([1, 2]))
    folder = tmp_path / "configs"
    folder.mkdir()
    for path in (as_list, folder, tmp_path / "missing.toml"):
        err = _one_line_error(capsys, ["train", str(path), "--no-progress"])
        assert err.startswith("kikuchipy-gen: error: ") and path.name in err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_train_unreadable_config(tmp_path, capsys):
    path = tmp_path / "secret.json"
    path.write_text("{}")
    path.chmod(0)
    try:
        err = _one_line_error(capsys, ["train", str(path)])
    finally:
        path.chmod(0o600)
    assert "secret.json" in err


def test_train_os_errors_are_one_line(tmp_path, capsys, monkeypatch):
    """An OSError from the config parser (here: unreadable) prints as it is, on one line."""
    import kikuchipy_gen.models

    def unreadable(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(kikuchipy_gen.models, "load_config", unreadable)
    err = _one_line_error(capsys, ["train", str(tmp_path / "c.json")])
    assert err == f"kikuchipy-gen: error: [Errno 13] Permission denied: '{tmp_path / 'c.json'}'"


@pytest.mark.skipif(NO_PROC, reason="needs Linux /proc, where no folder can be created")
def test_unwritable_outputs_fail_before_any_work(tmp_path, capsys, no_model, no_sampling, monkeypatch):
    import kikuchipy_gen.demo

    def no_demo(*args, **kwargs):
        raise AssertionError("the demo ran before its output was checked")

    monkeypatch.setattr(kikuchipy_gen.demo, "run_demo", no_demo)
    for argv in (
        ["generate", "--n", "3", "--out", "/proc/x/g.h5"],
        ["dataset", str(tmp_path / "d.zarr"), "--figure", "/proc/x/fig.png"],
        ["evaluate", "--out", "/proc/x"],
        ["demo", "--out", "/proc/x"],
    ):
        err = _one_line_error(capsys, argv)
        assert "Cannot write the output" in err and "'/proc/x'" in err and "choose another path" in err, err
    assert not (tmp_path / "d.zarr").exists()


def test_outputs_under_a_file_or_onto_a_folder(tmp_path, capsys, no_model):
    (tmp_path / "file").write_text("x")
    err = _one_line_error(capsys, ["generate", "--n", "3", "--out", str(tmp_path / "file" / "g.h5")])
    assert "Cannot write the output file" in err and "Not a directory" in err
    (tmp_path / "folder.h5").mkdir()
    err = _one_line_error(capsys, ["generate", "--n", "3", "--overwrite", "--out", str(tmp_path / "folder.h5")])
    assert "is a directory" in err


def test_check_writable_removes_what_it_creates(tmp_path):
    _check_writable(tmp_path / "a" / "b" / "out.h5", "file")
    _check_writable(tmp_path / "c" / "d", "directory")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(NotADirectoryError, match="is a file"):
        (tmp_path / "f").write_text("x")
        _check_writable(tmp_path / "f", "directory")


def test_user_errors_and_interrupts(tmp_path, capsys, monkeypatch):
    import kikuchipy_gen.demo

    def raising(error):
        def run_demo(*args, **kwargs):
            raise error

        return run_demo

    argv = ["demo", "--out", str(tmp_path)]
    monkeypatch.setattr(kikuchipy_gen.demo, "run_demo", raising(KeyError("energy")))
    assert _one_line_error(capsys, argv) == "kikuchipy-gen: error: missing key 'energy'"
    monkeypatch.setattr(kikuchipy_gen.demo, "run_demo", raising(KeyError("No phase 'x'; choose ni or pt")))
    assert _one_line_error(capsys, argv) == "kikuchipy-gen: error: No phase 'x'; choose ni or pt"
    monkeypatch.setattr(kikuchipy_gen.demo, "run_demo", raising(ValueError("first line\n  second line\n")))
    assert _one_line_error(capsys, argv) == "kikuchipy-gen: error: first line second line"
    monkeypatch.setattr(kikuchipy_gen.demo, "run_demo", raising(IsADirectoryError(21, "Is a directory", "x")))
    assert _one_line_error(capsys, argv) == "kikuchipy-gen: error: [Errno 21] Is a directory: 'x'"
    monkeypatch.setattr(kikuchipy_gen.demo, "run_demo", raising(KeyboardInterrupt()))
    assert _one_line_error(capsys, argv, code=130) == "kikuchipy-gen: interrupted"
    # --debug, before the command, shows the traceback instead.
    with pytest.raises(KeyboardInterrupt):
        main(["--debug", *argv])
    monkeypatch.setattr(kikuchipy_gen.demo, "run_demo", raising(ValueError("bad")))
    with pytest.raises(ValueError, match="bad"):
        main(["--debug", *argv])
    # argparse's own errors are unchanged: usage and exit status 2.
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--n", "x", "--out", "o.h5"])
    assert exc.value.code == 2 and "invalid int value" in capsys.readouterr().err


def test_command_line_exit_status(tmp_path):
    """The installed entry point: one line, status 2, and a traceback only with --debug."""
    bad = tmp_path / "garbage.h5"
    bad.write_bytes(b"garbage")
    argv = ["generate", "--orientations", str(bad), "--out", str(tmp_path / "o.h5")]
    run = subprocess.run([sys.executable, "-m", "kikuchipy_gen.cli", *argv], capture_output=True, text=True)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("kikuchipy-gen: error: Could not read a crystal map from")
    assert len(run.stderr.strip().splitlines()) == 1
    run = subprocess.run([sys.executable, "-m", "kikuchipy_gen.cli", "--debug", *argv], capture_output=True, text=True)
    assert run.returncode == 1 and "Traceback" in run.stderr
