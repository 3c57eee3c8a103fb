"""The package as pip installs it: metadata, dependencies, the top-level namespace and file formats."""

import ast
import importlib
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement

import kikuchipy_gen

PACKAGE_DIR = Path(kikuchipy_gen.__file__).parent
DIST = "kikuchipy-gen"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(extras: tuple[str, ...] = (), any_python: bool = False) -> list[Requirement]:
    """Declared requirements that apply here: the base ones, plus those of ``extras``.

    With ``any_python``, also those meant for other Python versions.
    """
    out = []
    for line in importlib.metadata.requires(DIST) or []:
        req = Requirement(line)
        marker = req.marker
        if marker is not None and any_python and "extra" not in str(marker):
            marker = None
        if marker is None or any(marker.evaluate({"extra": e}) for e in ("", *extras)):
            out.append(req)
    return out


def _modules_by_distribution() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            out.setdefault(_normalise(dist), []).append(module)
    return out


def _third_party_imports() -> set[str]:
    """Top-level names of every absolute import in the package that is neither stdlib nor ours."""
    names = set()
    for path in PACKAGE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "kikuchipy_gen"}


# ------------------------------------------------------------------ metadata


def test_metadata_states_licence_python_and_urls():
    meta = importlib.metadata.metadata(DIST)
    assert meta["License-Expression"] == "GPL-3.0-or-later"
    assert "LICENSE" in (meta.get_all("License-File") or [])
    assert meta["Version"] == kikuchipy_gen.__version__
    assert meta.get_all("Project-URL"), "no project URLs"
    # Every Python version named in the classifiers is allowed by requires-python,
    # and the one running the tests is among them.
    requires_python = Requirement(f"python{meta['Requires-Python']}").specifier
    versions = [
        c.rsplit(" ", 1)[-1]
        for c in meta.get_all("Classifier")
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert versions and all(requires_python.contains(v) for v in versions), versions
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in versions


def test_declared_dependencies_are_installed_and_importable():
    modules = _modules_by_distribution()
    for req in _requirements(extras=("dynamical",)):
        version = importlib.metadata.version(req.name)
        assert req.specifier.contains(version, prereleases=True), f"{req.name} {version} is not {req.specifier}"
        candidates = sorted(m for m in modules.get(_normalise(req.name), []) if not m.startswith("_"))
        assert candidates, f"{req.name} is installed but provides no importable top-level module"
        # The module named like the distribution where there is one (torch, not torchgen).
        name = next((m for m in candidates if _normalise(m) == _normalise(req.name)), candidates[0])
        importlib.import_module(name)


def test_every_third_party_import_is_declared():
    modules = _modules_by_distribution()
    # Whatever the Python version: tomli is declared for 3.10 only, and not installed here.
    declared = {_normalise(r.name) for r in _requirements(extras=("dynamical",), any_python=True)}
    provided = {m for dist in declared for m in modules.get(dist, [dist.replace("-", "_")])}
    undeclared = sorted(_third_party_imports() - provided)
    assert not undeclared, f"kikuchipy_gen imports {undeclared}, which no declared dependency provides"


def test_toml_config_falls_back_to_tomli(tmp_path, monkeypatch):
    # Python 3.10 has no tomllib: load_config must take the tomli package, which
    # has the same API (tomllib is tomli, moved into the standard library).
    import tomllib

    from kikuchipy_gen.models import load_config

    monkeypatch.setitem(sys.modules, "tomllib", None)  # `import tomllib` raises ModuleNotFoundError
    monkeypatch.setitem(sys.modules, "tomli", tomllib)
    path = tmp_path / "train.toml"
    path.write_text('dataset = "d.zarr"\ncvae_epochs = 2\n[model]\npreset = "compact"\n')
    assert load_config(path).cvae_epochs == 2


# ------------------------------------------------------------------ namespace


def test_import_is_cheap():
    code = (
        "import sys, kikuchipy_gen\n"
        "names = dir(kikuchipy_gen)\n"
        "heavy = ('torch', 'kikuchipy', 'hyperspy', 'orix', 'matplotlib', 'numba', 'dask', 'zarr')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_public_namespace():
    names = dir(kikuchipy_gen)
    assert names == sorted(kikuchipy_gen.__all__)
    for name in ("MLMasterPattern", "available_pretrained", "__version__", "dataset", "models", "sources", "training"):
        assert name in names
    from kikuchipy_gen import master_pattern

    assert kikuchipy_gen.MLMasterPattern is master_pattern.MLMasterPattern
    assert "ni-10-30kv" in kikuchipy_gen.available_pretrained()
    for name in kikuchipy_gen.__all__:
        assert getattr(kikuchipy_gen, name) is not None
    assert kikuchipy_gen.evaluation.evaluate is not None  # submodules reached as attributes
    assert "cli" not in names
    with pytest.raises(AttributeError, match="has no attribute 'MLMasterPatern'"):
        kikuchipy_gen.MLMasterPatern  # noqa: B018


# ------------------------------------------------------------------ file formats


@pytest.fixture(scope="module")
def generated():
    from orix.quaternion import Rotation

    rot = Rotation.random(4)
    mlmp = kikuchipy_gen.MLMasterPattern.from_pretrained()
    return mlmp.get_patterns(rot, energy=20.0, compute=True, show_progressbar=False)


def test_h5ebsd_round_trip(generated, tmp_path):
    # kikuchipy's h5ebsd keeps the orientations and the detector.
    import kikuchipy as kp

    s = generated
    s.save(tmp_path / "patterns.h5")
    t = kp.load(tmp_path / "patterns.h5")
    assert isinstance(t, kp.signals.EBSD)
    assert np.array_equal(t.data, s.data)
    assert np.allclose(t.xmap.rotations.data, s.xmap.rotations.data)
    assert t.xmap.phases[0].point_group.name == s.xmap.phases[0].point_group.name
    assert np.allclose(t.detector.pc, s.detector.pc) and t.detector.shape == s.detector.shape


# rosettasciio's zspy writer (0.15) still calls zarr 2's NestedDirectoryStore, deprecated there.
@pytest.mark.filterwarnings("ignore:The NestedDirectoryStore is deprecated:FutureWarning")
def test_zspy_round_trip(generated, tmp_path):
    # HyperSpy's zarr format; kikuchipy.load does not read it, hyperspy does.
    # kikuchipy writes xmap and detector only to h5ebsd, so here they are not compared.
    import hyperspy.api as hs
    import kikuchipy as kp

    s = generated
    s.save(tmp_path / "patterns.zspy")
    t = hs.load(tmp_path / "patterns.zspy")
    assert isinstance(t, kp.signals.EBSD)
    assert np.array_equal(t.data, s.data)
    assert t.metadata.Acquisition_instrument.SEM.beam_energy == pytest.approx(20.0)
    lazy = hs.load(tmp_path / "patterns.zspy", lazy=True)
    assert isinstance(lazy, kp.signals.LazyEBSD)
    assert np.array_equal(lazy.data.compute(), s.data)
