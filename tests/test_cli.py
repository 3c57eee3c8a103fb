import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kikuchipy_gen.cli import main
from kikuchipy_gen.dataset import open_dataset


def test_help_speaks_to_scientists():
    out = subprocess.run(
        [sys.executable, "-m", "kikuchipy_gen.cli", "dataset", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for words in ("EMsampleRFZ", "333,227", "CLAHE", "--resume", "kV", "Bruker"):
        assert words in out


def test_dataset_command(tmp_path, capsys):
    out = tmp_path / "ni.zarr"
    fig = tmp_path / "ni.png"
    code = main(
        [
            "dataset",
            str(out),
            "--n",
            "8",
            "--chunk-size",
            "100",
            "--no-progress",
            "--figure",
            str(fig),
        ]
    )
    assert code == 0
    ds = open_dataset(out)
    assert ds.sizes == {"train": 193, "val": 20, "test": 50}
    assert ds.attrs["chunk_size"] == 100
    assert fig.stat().st_size > 10_000
    assert "Orientations (m-3m, n=8): train 193, val 20, test 50" in capsys.readouterr().out


def test_dataset_command_kinematical_energies(tmp_path):
    out = tmp_path / "pt.zarr"
    code = main(
        [
            "dataset",
            str(out),
            "--source",
            "kinematical",
            "--phase",
            "pt",
            "--half-size",
            "40",
            "--energies",
            "10",
            "30",
            "--n",
            "6",
            "--shape",
            "40",
            "40",
            "--no-progress",
        ]
    )
    assert code == 0
    ds = open_dataset(out)
    assert ds.energies == [10.0, 30.0] and ds.pattern_shape == (40, 40) and ds.phase.name == "pt"
    arr = ds.patterns_array("test")
    assert not np.array_equal(arr[0], arr[1])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--energies", "15"], "no 15 kV master pattern"),
        (["--n", "0"], "n must be an integer"),
        (["--n", "5", "--resolution", "3"], "not both"),
        (["--source", "emsoft"], "needs --emsoft-file"),
        (["--source", "kinematical", "--phase", "kryptonite"], "Unknown phase"),
        (["--pc", "0.5", "0.5", "-1"], "Pattern centre"),
        (["--clahe-clip", "0"], "clip limit"),
    ],
)
def test_dataset_command_errors(tmp_path, capsys, args, message):
    out = tmp_path / "bad.zarr"
    assert main(["dataset", str(out), "--no-progress", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_existing_output_error(tmp_path, capsys):
    out = tmp_path / "exists.zarr"
    out.mkdir()
    (out / "x").write_text("x")
    assert main(["dataset", str(out), "--n", "4"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_demo(tmp_path, caplog):
    """The README's main command: the shipped model indexes physics it never saw."""
    import kikuchipy as kp

    from kikuchipy_gen.demo import run_demo

    with caplog.at_level(logging.INFO, logger="kikuchipy_gen.demo"):
        results = run_demo(tmp_path, n_dictionary=30, n_patterns=12, n_refine=6)
    assert (tmp_path / "generated_per_voltage.png").stat().st_size > 50_000
    assert kp.load(tmp_path / "generated_17.5kV.h5").data.shape == (12, 60, 60)
    # EMsoft Ni against a dictionary generated from the de-ebsd-trained model.
    assert results["indexing_median"] < 4.0 and results["refined_median"] < 0.2, results
    assert results["dictionary_size"] == 9077
    assert "Indexed 12 EMsoft Ni 20 kV patterns" in caplog.text
    # The figure is made without pyplot: nothing left open in its global list.
    if "matplotlib.pyplot" in sys.modules:
        assert not sys.modules["matplotlib.pyplot"].get_fignums()
    assert main(["demo", "--out", str(tmp_path), "--n", "1"]) == 2


def test_demo_command_prints_the_results(tmp_path, capsys, monkeypatch):
    import kikuchipy_gen.demo

    def fake_run_demo(out, n_dictionary, n_patterns, n_refine):
        assert (n_dictionary, n_patterns, n_refine) == (30, 12, 10)
        return {
            "indexing_mean": 1.5,
            "indexing_median": 1.2,
            "indexing_s": 3.0,
            "dictionary_size": 9077,
            "refined_mean": 0.1,
            "refined_median": 0.08,
            "refine_s": 2.0,
        }

    monkeypatch.setattr(kikuchipy_gen.demo, "run_demo", fake_run_demo)
    assert main(["demo", "--out", str(tmp_path), "--patterns", "12"]) == 0
    out = capsys.readouterr().out
    assert "Indexed 12 EMsoft Ni 20 kV patterns against 9,077 generated ones" in out
    assert "median 0.080 deg" in out and "Demo done" in out


def test_demo_and_generate_one_pattern(tmp_path, capsys):
    """One pattern is a count like any other (orix shapes a one-point map (), HyperSpy (1,))."""
    import kikuchipy as kp

    from kikuchipy_gen.sampling import random_rotations

    assert main(["demo", "--out", str(tmp_path / "demo"), "--n", "10", "--patterns", "1"]) == 0
    out = capsys.readouterr().out
    assert "Indexed 1 EMsoft Ni 20 kV patterns" in out and "Refined 1 of them" in out
    assert main(["generate", "--n", "1", "--energy", "20", "--out", str(tmp_path / "one.h5"), "--no-progress"]) == 0
    assert "Wrote 1 patterns" in capsys.readouterr().out
    # The files keep the orientation and phase of their one pattern.
    demo, one = kp.load(tmp_path / "demo" / "generated_17.5kV.h5"), kp.load(tmp_path / "one.h5")
    for s in (demo, one):
        assert s.data.shape == (60, 60) and s.xmap.size == 1
        assert s.xmap.phases_in_data[0].point_group.name == "m-3m"
    assert np.allclose(one.xmap.rotations.data.reshape(4), random_rotations(1, seed=0).data.reshape(4))


def test_evaluate_methods_are_the_refinement_ones(capsys):
    from kikuchipy_gen.refinement import REFINEMENT_METHODS

    with pytest.raises(SystemExit):
        main(["evaluate", "--out", "x", "--method", "powell"])
    err = capsys.readouterr().err
    assert "invalid choice: 'powell'" in err
    assert all(repr(m) in err for m in REFINEMENT_METHODS)


def test_generate_command(tmp_path, capsys):
    import kikuchipy as kp
    from orix.quaternion import Rotation

    out = tmp_path / "gen.h5"
    assert main(["generate", "--n", "12", "--energy", "17", "--out", str(out), "--no-progress"]) == 0
    s = kp.load(out)
    assert s.data.shape == (12, 60, 60) and s.data.dtype == np.uint8
    assert s.xmap.size == 12 and s.xmap.phases[0].point_group.name == "m-3m"
    printed = capsys.readouterr().out
    assert "Wrote 12 patterns" in printed and "Completed" not in printed  # --no-progress: no bar
    # --seed 0 (the default) draws the package's seeded random orientations.
    from kikuchipy_gen.master_pattern import MLMasterPattern
    from kikuchipy_gen.sampling import random_rotations

    seeded = MLMasterPattern.from_pretrained().get_patterns(
        random_rotations(12, seed=0), energy=17, dtype_out="uint8", compute=True, show_progressbar=False
    )
    assert np.array_equal(s.data, seeded.data)
    # Given orientations (quaternions or Euler angles) give the same patterns as the API.
    rot = Rotation.random(3)
    np.save(tmp_path / "q.npy", rot.data)
    np.savetxt(tmp_path / "euler.txt", np.rad2deg(rot.to_euler()))
    for name in ("q.npy", "euler.txt"):
        target = tmp_path / f"{name}.h5"
        assert (
            main(
                [
                    "generate",
                    "--orientations",
                    str(tmp_path / name),
                    "--energy",
                    "25",
                    "--dtype",
                    "float32",
                    "--out",
                    str(target),
                    "--no-progress",
                ]
            )
            == 0
        )
        from kikuchipy_gen.master_pattern import MLMasterPattern

        ref = MLMasterPattern.from_pretrained().decode(rot, energy=25)
        assert np.allclose(kp.load(target).data, ref, atol=1e-4)


def test_generate_streams_chunk_by_chunk(tmp_path, capsys):
    """The file is written from the lazy signal, one --chunk-size chunk at a time, with a progress bar."""
    import h5py
    import kikuchipy as kp

    from kikuchipy_gen.master_pattern import MLMasterPattern
    from kikuchipy_gen.sampling import random_rotations

    out = tmp_path / "many.h5"
    argv = ["generate", "--n", "2000", "--seed", "3", "--energy", "22", "--chunk-size", "300", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "100% Completed" in printed and "Wrote 2,000 patterns" in printed
    expected = MLMasterPattern.from_pretrained().get_patterns(
        random_rotations(2000, seed=3), energy=22, dtype_out="uint8", compute=True, show_progressbar=False
    )
    s = kp.load(out, lazy=True)
    assert s.data.shape == (2000, 60, 60) and s.xmap.size == 2000
    assert np.array_equal(np.asarray(s.data.compute()), expected.data)
    # The same rotations; the file stores Euler angles, so q may come back as -q.
    assert np.allclose(np.abs(np.sum(s.xmap.rotations.data * expected.xmap.rotations.data, axis=1)), 1)
    with h5py.File(out) as f:
        assert f["Scan 1/EBSD/Data/patterns"].chunks == (300, 60, 60)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.h5"]  # no temporary file left


def test_generate_failure_leaves_no_file(tmp_path, capsys, monkeypatch):
    """An error while the patterns are computed leaves neither the output nor a partial file."""
    from kikuchipy_gen import master_pattern

    def fail(self, *args):
        raise ValueError("decoder failed")

    monkeypatch.setattr(master_pattern._DecodeBlocks, "__call__", fail)
    out = tmp_path / "x.h5"
    assert main(["generate", "--n", "50", "--chunk-size", "10", "--energy", "20", "--out", str(out)]) == 2
    assert "kikuchipy-gen: error: decoder failed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--n", "3", "--energy", "40"], "outside the trained range"),
        (["--n", "3", "--energy", "20", "--latent", "x"], "--latent"),
        (["--orientations", "missing.npy", "--energy", "20"], "No orientation file"),
        (["--n", "3", "--energy", "20", "--model", "no/such/dir"], "No model folder"),
    ],
)
def test_generate_errors(tmp_path, capsys, argv, message):
    assert main(["generate", *argv, "--out", str(tmp_path / "x.h5"), "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_generate_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "x.h5"
    out.write_bytes(b"")
    assert main(["generate", "--n", "2", "--energy", "20", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["generate", "--n", "2", "--energy", "20", "--out", str(tmp_path / "x.png")]) == 2


def test_presets_command_prints_counts_and_memory(capsys, tmp_path):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "1,243,151,974" in out and "14.09 / 10.77 / 19.89" in out  # the paper preset, fp32 GB per stage
    assert all(name in out for name in ("paper", "compact", "geometric"))
    assert main(["presets", "paper", "--voltage"]) == 0
    assert "1,243,155,303" in capsys.readouterr().out
    config = Path(__file__).parents[1] / "examples" / "configs" / "paper_gpu.toml"
    assert main(["presets", "--config", str(config)]) == 0
    assert main(["presets", "huge"]) == 2
    assert "Unknown preset(s) ['huge']" in capsys.readouterr().err
