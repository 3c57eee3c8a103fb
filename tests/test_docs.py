"""The documentation builds with warnings as errors: the API reference, the executed
examples gallery and the executed tutorial notebooks.

A broken docstring (numpydoc, a missing Examples section of a public function or class),
a failing example script or a failing notebook cell fails this test. About a minute on
two CPU cores. Links to other projects' documentation (intersphinx) need a network and
are left out here.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_without_warnings(tmp_path):
    env = {**os.environ, "KIKUCHIPY_GEN_DOCS_INTERSPHINX": "0", "MPLBACKEND": "Agg"}
    out = tmp_path / "html"
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-b",
        "html",
        "-d",
        str(tmp_path / "doctrees"),  # a fresh environment: every page is read again
        "-D",
        "sphinx_gallery_conf.run_stale_examples=1",  # every example runs, changed or not
        str(ROOT / "docs"),
        str(out),
    ]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]

    # The API page of the product's main method shows all its parameters.
    page = (out / "generated" / "kikuchipy_gen.MLMasterPattern.get_patterns.html").read_text()
    for name in (
        "rotations",
        "detector",
        "energy",
        "dtype_out",
        "compute",
        "show_progressbar",
        "latent",
        "extrapolate",
    ):
        assert f"<strong>{name}</strong>" in page, name
    # The gallery ran: every executed example drew its figures.
    gallery = out / "examples"
    for name in ("patterns_per_voltage", "voltage_sweep_band_width", "any_detector", "compare_with_physics"):
        assert list((gallery / "generation").glob(f"{name}.html")), name
    for name in ("compare_with_physics", "dask_distributed", "train_tiny_model"):
        assert list((out / "_images").glob(f"sphx_glr_{name}_*.png")), name
    assert list((out / "_images").glob("sphx_glr_real_nickel_patterns_*.png"))
    assert list((out / "_images").glob("sphx_glr_index_and_refine_generated_*.png"))
    # The tutorials were executed in the build (a fresh kernel each; an error
    # fails the build): their printed results and inline figures are in the pages.
    for name in ("getting_started", "training_your_own_model"):
        page = (out / "tutorials" / f"{name}.html").read_text()
        assert "refined: median" in page and page.count("<img") >= 2, name
    assert "resuming at step" in (out / "tutorials" / "training_your_own_model.html").read_text()
