"""A model folder is untrusted input: every tampered copy of the shipped model gives a
clear error, runs nothing, writes nothing and allocates little."""

import json
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from orix.quaternion import Rotation
from safetensors.torch import load_file, save_file

from kikuchipy_gen.master_pattern import PRETRAINED_DIR, MLMasterPattern

SHIPPED = PRETRAINED_DIR / "ni-10-30kv"
MARKER = "kikuchipy_gen_unpickled_marker"


class _Payload:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def _copy(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(SHIPPED, folder)
    return folder


def _edit_meta(folder: Path, edit) -> None:
    meta = json.loads((folder / "model.json").read_text())
    edit(meta)
    (folder / "model.json").write_text(json.dumps(meta))


def _corpus(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Tampered model folders and the words their error must contain."""
    marker = tmp_path / MARKER
    corpus = {}

    def add(name, match, edit_meta=None, weights=None):
        folder = _copy(tmp_path, name)
        if edit_meta is not None:
            _edit_meta(folder, edit_meta)
        if weights is not None:
            weights(folder / "decoder.safetensors")
        corpus[name] = (folder, match)

    add("pickle", "not a safetensors", weights=lambda p: p.write_bytes(pickle.dumps(_Payload(str(marker)))))
    add("torch-save", "not a safetensors", weights=lambda p: torch.save({"x": _Payload(str(marker))}, p))

    def as_zip(p):
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("data.pkl", pickle.dumps(_Payload(str(marker))))

    add("zip", "not a safetensors", weights=as_zip)
    add("truncated", "not a safetensors", weights=lambda p: p.write_bytes(p.read_bytes()[:1000]))
    add("empty-weights", "not a safetensors", weights=lambda p: p.write_bytes(b""))

    def nan_weights(p):
        w = load_file(p)
        w["head.gain"] = torch.tensor([float("nan")])
        save_file(w, p)

    add("nan", "head.gain", weights=nan_weights)

    def inf_texture(p):
        w = load_file(p)
        w["texture"][0, 0, 0, 0] = float("inf")
        save_file(w, p)

    add("inf", "texture", weights=inf_texture)

    def wrong_shape(p):
        w = load_file(p)
        w["head.film.weight"] = torch.zeros(3, 3)
        save_file(w, p)

    add("wrong-shape", "do not fit", weights=wrong_shape)

    def equal_knots(p):
        # Two equal knots would divide the blend by zero.
        w = load_file(p)
        w["knot_voltages"][1] = w["knot_voltages"][0]
        save_file(w, p)

    add("equal-knots", "voltage knots", weights=equal_knots)
    add(
        "knots-moved",
        "voltage knots",
        edit_meta=lambda m: m["model"].update(knot_energies=[10.0, 12.0, 20.0, 25.0, 30.0]),
    )
    add("knots-unsorted", "knot_energies", edit_meta=lambda m: m["model"].update(knot_energies=[10, 20, 15, 25, 30]))
    add("texture-2001", "texture", edit_meta=lambda m: m["model"].update(texture_size=2001))
    add("texture-huge", "texture_size", edit_meta=lambda m: m["model"].update(texture_size=40001))
    add("knots", "voltage_knots", edit_meta=lambda m: m["model"].update(voltage_knots=10**6))
    add("latent-huge", "latent_dim", edit_meta=lambda m: m["model"].update(latent_dim=10**8))
    add("detector-huge", "Detector shape", edit_meta=lambda m: m["info"]["detector"].update(shape=[20000, 20000]))
    add("detector-nan-pc", "Pattern centre", edit_meta=lambda m: m["info"]["detector"].update(pc=[0.4, None, 0.5]))
    add("no-model", "'model'", edit_meta=lambda m: m.pop("model"))
    add("no-info-phase", "phase", edit_meta=lambda m: m["info"].pop("phase"))
    add("phase-garbage", "malformed", edit_meta=lambda m: m["info"].update(phase="ni; rm -rf /"))
    add("energies-negative", "energies", edit_meta=lambda m: m["info"].update(energies=[-5.0]))
    add("use-voltage-string", "use_voltage", edit_meta=lambda m: m["model"].update(use_voltage="no"))
    add("format", "format", edit_meta=lambda m: m.update(format="kikuchipy-gen-model/99"))

    for name, text, match in (
        ("json-list", "[1, 2, 3]", "JSON object"),
        ("json-garbage", "{not json", "not valid JSON"),
        ("json-binary", "\x00\x01\x02", "not valid JSON"),
    ):
        folder = _copy(tmp_path, name)
        (folder / "model.json").write_text(text)
        corpus[name] = (folder, match)
    return corpus


def test_tampered_models_give_one_line_errors_and_run_nothing(tmp_path):
    corpus = _corpus(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for name, (folder, match) in corpus.items():
        with pytest.raises((ValueError, TypeError, FileNotFoundError)) as info:
            MLMasterPattern.load(folder)
        message = str(info.value)
        assert match in message, f"{name}: {message}"
        assert "\n" not in message, f"{name}: not one line"
    assert not (tmp_path / MARKER).exists(), "code in a model file ran"
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before, "loading wrote a file"


def test_recorded_paths_are_neither_followed_nor_written(tmp_path):
    evil = tmp_path / "evil_cache"
    folder = _copy(tmp_path, "cache-dir")
    _edit_meta(folder, lambda m: m["info"]["source"].update(cache_dir=str(evil)))
    mlmp = MLMasterPattern.load(folder)  # generation never reads the source
    assert mlmp.get_patterns(Rotation.identity((1,)), energy=20).data.shape == (1, 60, 60)
    with pytest.raises(ValueError, match="unknown parameter"):
        mlmp.reference_master_pattern(20)
    assert not evil.exists()
    # An EMsoft provenance pointing anywhere: not opened unless the caller names the file.
    folder = _copy(tmp_path, "emsoft-path")
    phase = json.loads((SHIPPED / "model.json").read_text())["info"]["phase"]
    _edit_meta(
        folder, lambda m: m["info"].update(source={"kind": "emsoft-file", "phase": phase, "path": "/etc/shadow"})
    )
    with pytest.raises(ValueError, match="not opened on its own"):
        MLMasterPattern.load(folder).reference_master_pattern(20)


def test_tampered_corpus_allocates_little(tmp_path):
    # In a fresh process: loading every tampered model raises the peak
    # memory by less than 1 GB over loading the shipped model once.
    _corpus(tmp_path)
    script = f"""
import resource, sys
from pathlib import Path
from kikuchipy_gen.master_pattern import MLMasterPattern, PRETRAINED_DIR
MLMasterPattern.load(PRETRAINED_DIR / "ni-10-30kv")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for folder in sorted(Path({str(tmp_path)!r}).iterdir()):
    if folder.is_dir():
        try:
            MLMasterPattern.load(folder)
        except (ValueError, TypeError, FileNotFoundError):
            pass
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 2**20)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    extra_gib = float(result.stdout.strip().splitlines()[-1])
    assert extra_gib < 1.0, f"tampered models raised peak memory by {extra_gib:.2f} GiB"


def test_generated_patterns_of_the_shipped_model_are_finite():
    # The guard against non-finite weights must not reject the real model.
    mlmp = MLMasterPattern.from_pretrained()
    from kikuchipy_gen.sampling import random_rotations

    assert np.isfinite(mlmp.decode(random_rotations(4), energy=20.0)).all()
