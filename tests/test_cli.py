import subprocess
import sys

import numpy as np
import pytest

from kikuchipy_gen.cli import main
from kikuchipy_gen.dataset import open_dataset


def test_help_speaks_to_scientists():
    out = subprocess.run(
        [sys.executable, "-m", "kikuchipy_gen.cli", "dataset", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout
    for words in ("EMsampleRFZ", "333,227", "CLAHE", "--resume", "kV", "Bruker"):
        assert words in out


def test_dataset_command(tmp_path, capsys):
    out = tmp_path / "ni.zarr"
    fig = tmp_path / "ni.png"
    code = main([
        "dataset", str(out), "--n", "8", "--chunk-size", "100", "--no-progress", "--figure", str(fig),
    ])
    assert code == 0
    ds = open_dataset(out)
    assert ds.sizes == {"train": 193, "val": 20, "test": 50}
    assert ds.attrs["chunk_size"] == 100
    assert fig.stat().st_size > 10_000
    assert "Orientations (m-3m, n=8): train 193, val 20, test 50" in capsys.readouterr().out


def test_dataset_command_kinematical_energies(tmp_path):
    out = tmp_path / "pt.zarr"
    code = main([
        "dataset", str(out), "--source", "kinematical", "--phase", "pt", "--half-size", "40",
        "--energies", "10", "30", "--n", "6", "--shape", "40", "40", "--no-progress",
    ])
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


def test_demo(tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--n", "6"]) == 0
    for name in ("ni_emsoft_20kV", "ni_kinematical"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
        assert open_dataset(tmp_path / f"{name}.zarr").sizes["train"] > 0
