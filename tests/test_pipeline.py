"""One call from a phase to a model: a tiny end-to-end run, its resumption and bad input."""

import json
import shutil

import de_ebsd  # noqa: F401  - a declared test dependency: a broken install fails, not skips
import numpy as np
import pytest
from orix.crystal_map import CrystalMap, Phase, PhaseList
from orix.quaternion import Orientation, Rotation, symmetry

from kikuchipy_gen import pipeline
from kikuchipy_gen.cli import _parser, main
from kikuchipy_gen.master_pattern import MLMasterPattern
from kikuchipy_gen.pipeline import LAUE_DEFAULTS, build_model, resolve_recipe

from .test_phases import NI_CIF

# Tiny everything: de-ebsd at npx 12 with a small Monte Carlo, a coarse grid,
# a few training steps of a small encoder, no evaluation in the runs themselves.
TINY = dict(
    n=4,
    npx=12,
    mc_electrons=2000,
    train={
        "cvae_epochs": 1,
        "critic_epochs": 1,
        "gan_epochs": 1,
        "max_steps_per_epoch": 2,
        "checkpoint_every": 1000,
        "max_val_patterns": 16,
        "cvae_batch_size": 8,
        "critic_batch_size": 8,
        "gan_batch_size": 8,
        "model": {
            "texture_size": 21,
            "stem_channels": 8,
            "blocks": [(8, 2), (16, 2)],
            "encoder_dense": [32],
            "critic_blocks": [(8, 1), (16, 2)],
            "critic_dense": [16],
        },
    },
    evaluation={"n_test": 4, "n_refine": 2, "dictionary_n": 4, "voltage_matrix": False, "method": "nelder-mead"},
    device="cpu",
    show_progressbar=False,
)


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    # One master-pattern cache for the whole file, never the user's.
    monkeypatch.setenv("KIKUCHIPY_GEN_CACHE", str(tmp_path_factory.getbasetemp() / "mp_cache"))


def _mtimes(folder):
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "ni"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KIKUCHIPY_GEN_CACHE", str(tmp_path_factory.getbasetemp() / "mp_cache"))
        mlmp = build_model("ni", out, [10, 20], **TINY)
    return out, mlmp


def test_end_to_end(built):
    out, mlmp = built
    assert mlmp.energy_range == (10.0, 20.0) and mlmp.phase.point_group.name == "m-3m"
    loaded = MLMasterPattern.load(out / "model")
    assert loaded.bundle.digest == mlmp.bundle.digest
    s = loaded.get_patterns(Rotation.random(2), energy=15.0, compute=True, show_progressbar=False)
    assert s.data.shape == (2, 60, 60) and np.isfinite(s.data).all()
    assert (out / "report/report.md").is_file() and (out / "report/metrics.json").is_file()
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["energies"] == [10.0, 20.0] and recipe["dataset"]["n"] == 4
    assert recipe["model"]["voltage_knots"] == 2 and recipe["source"]["npx"] == 12
    assert "symmetry" not in recipe["model"]  # Ni is centrosymmetric: the preset's Laue symmetry
    assert recipe["provenance"].startswith("kikuchipy-gen's built-in phase `ni`")
    assert not list(out.glob(".*partial*")) and not list(out.glob("**/.*.tmp"))
    # Every step's time, summed over calls, and the machine, for the model card.
    timings = json.loads((out / "timings.json").read_text())
    assert set(timings["steps"]) == {"dataset", "train", "export", "evaluate"}
    assert all(t > 0 for t in timings["steps"].values()) and "cores" in timings["machine"]
    card = (out / "model/MODEL_CARD.md").read_text()
    metrics = json.loads((out / "report/metrics.json").read_text())
    assert card.startswith("# ni: an ML master pattern of ni (Fm-3m, Laue group m-3m)")
    assert "Provenance: kikuchipy-gen's built-in phase `ni`" in card and "npx = 12" in card
    rows = [line for line in card.splitlines() if line.startswith(("| 10 |", "| 15 |", "| 20 |"))]
    assert len(rows) == 3 and f"{metrics['energies']['15']['bce']:.4f}" in rows[1]
    assert f"{sum(timings['steps'].values()) / 60:.0f} min in all" in card


def test_rerun_does_nothing(built, monkeypatch):
    out, mlmp = built
    before = _mtimes(out)

    def fail(*args, **kwargs):
        raise AssertionError("a finished step ran again")

    monkeypatch.setattr("kikuchipy_gen.dataset.build_dataset", fail)
    monkeypatch.setattr("kikuchipy_gen.training.Trainer.run", fail)
    monkeypatch.setattr("kikuchipy_gen.evaluation.evaluate", fail)
    again = build_model("ni", out, [10, 20], **TINY)
    assert again.bundle.digest == mlmp.bundle.digest
    assert _mtimes(out) == before


def test_exported_model_needs_no_run_folder(built, tmp_path, monkeypatch):
    # The run's checkpoints and the dataset deleted after the export (to save
    # space; or the model trained on another machine) and the report not yet
    # written: the rerun evaluates the exported model and builds and trains nothing.
    out, mlmp = built
    copy = tmp_path / "ni"
    shutil.copytree(out, copy)
    for folder in ("run", "report", "dataset.zarr"):
        shutil.rmtree(copy / folder)

    def fail(*args, **kwargs):
        raise AssertionError("the dataset or the training ran again")

    monkeypatch.setattr("kikuchipy_gen.dataset.build_dataset", fail)
    monkeypatch.setattr("kikuchipy_gen.training.Trainer.run", fail)
    again = build_model("ni", copy, [10, 20], **TINY)
    assert again.bundle.digest == mlmp.bundle.digest
    assert (copy / "report" / "report.md").is_file()
    assert not (copy / "run").exists() and not (copy / "dataset.zarr").exists()


def test_interrupted_run_resumes(tmp_path, monkeypatch):
    out = tmp_path / "ni"
    kw = {**TINY, "evaluate": False}

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    # Killed while exporting: the dataset and the training are finished, no model.
    monkeypatch.setattr(pipeline, "_export_step", interrupt)
    with pytest.raises(KeyboardInterrupt):
        build_model("ni", out, [20], **kw)
    assert (out / "dataset.zarr").is_dir() and not (out / "model").exists()
    kept = _mtimes(out / "dataset.zarr")
    trained = _mtimes(out / "run")
    monkeypatch.undo()
    monkeypatch.setenv("KIKUCHIPY_GEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("kikuchipy_gen.training.Trainer.run", interrupt)  # must not run again
    mlmp = build_model("ni", out, [20], **kw)
    assert mlmp.energies == [20.0] and (out / "model/model.json").is_file()
    assert _mtimes(out / "dataset.zarr") == kept and _mtimes(out / "run") == trained
    assert not (out / "report").exists()


def test_interrupted_training_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    from kikuchipy_gen.training import Trainer

    out = tmp_path / "ni"
    calls = []
    original = Trainer.__init__

    def spy(self, config, resume=False):
        calls.append(resume)
        original(self, config, resume=resume)

    def stop_after_checkpoint(self, *args, **kwargs):
        self.save_checkpoint()
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "__init__", spy)
    monkeypatch.setattr(Trainer, "_run", stop_after_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        build_model("ni", out, [20], **{**TINY, "evaluate": False})
    monkeypatch.undo()
    monkeypatch.setenv("KIKUCHIPY_GEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(Trainer, "__init__", spy)
    build_model("ni", out, [20], **{**TINY, "evaluate": False})
    assert calls == [False, True]
    state = json.loads((out / "run/checkpoints/last/state.json").read_text())
    assert state["stage"] == "done"


def test_training_begun_under_an_older_preset_resumes_with_its_architecture(tmp_path, monkeypatch):
    # A run started before a preset default changed (the leaky slope stands
    # for such a change here), or before a field existed (encoder_head_norm):
    # the run finishes as begun instead of refusing its checkpoint.
    from kikuchipy_gen.training import Trainer

    out = tmp_path / "ni"

    def stop_after_checkpoint(self, *args, **kwargs):
        self.save_checkpoint()
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_run", stop_after_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        build_model("ni", out, [20], **{**TINY, "evaluate": False})
    monkeypatch.undo()
    saved = out / "run/checkpoints/last/config.json"
    config = json.loads(saved.read_text())
    del config["model"]["encoder_head_norm"]
    config["model"]["leaky_slope"] = 0.1
    saved.write_text(json.dumps(config))
    monkeypatch.setenv("KIKUCHIPY_GEN_CACHE", str(tmp_path / "cache"))
    build_model("ni", out, [20], **{**TINY, "evaluate": False})
    model = json.loads(saved.read_text())["model"]
    assert model["encoder_head_norm"] is False and model["leaky_slope"] == 0.1
    assert json.loads((out / "run/checkpoints/last/state.json").read_text())["stage"] == "done"


def test_a_folder_without_provenance_continues(tmp_path):
    # Folders from before the phase's provenance was recorded, or a CIF since
    # renamed: the provenance is a record, not a setting, so they continue.
    recipe = resolve_recipe("ni", [20], quick=True)
    pipeline._claim_folder(tmp_path / "m", {k: v for k, v in recipe.items() if k != "provenance"})
    pipeline._claim_folder(tmp_path / "m", recipe)
    with pytest.raises(ValueError, match="another recipe"):
        pipeline._claim_folder(tmp_path / "m", {**recipe, "energies": [25.0]})


def test_noncentrosymmetric_phase_keeps_its_point_group(tmp_path):
    # Quartz (32): dynamical patterns break Friedel's law, so the model must not
    # impose the Laue group's inversion; a CIF's provenance carries its checksum.
    r = resolve_recipe("quartz", [10, 20])
    assert r["laue_group"] == "-3m" and r["model"]["symmetry"] == "point_group"
    config = pipeline._train_config(r, tmp_path)
    assert config.model.decoder.symmetry == "point_group"
    half = NI_CIF.replace("_atom_site_occupancy", "_atom_site_occupancy\n_atom_site_U_iso_or_equiv")
    cif = _cif(tmp_path, half.replace("Ni1 Ni 0 0 0 1", "Ni1 Ni 0 0 0 1 0.005"), "ni.cif")
    import hashlib

    assert (
        resolve_recipe(cif, [20])["provenance"]
        == f"CIF file `ni.cif` (sha256 {hashlib.sha256(cif.read_bytes()).hexdigest()})"
    )


def test_other_recipe_refused(built):
    out, _ = built
    with pytest.raises(ValueError, match=r"another recipe \(dataset.n: 4 in the folder, 5 now"):
        build_model("ni", out, [10, 20], **{**TINY, "n": 5})
    with pytest.raises(ValueError, match="energies"):
        build_model("ni", out, [10, 30], **TINY)


def _cif(tmp_path, text, name="x.cif"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "energies, match",
    [
        ([20, 10], "increasing order, got 20 10; give 10 20"),
        ([10, 10], "distinct"),
        ([0.5, 10], "outside"),
        ([10, float("nan")], "finite"),
        ([], "at least one"),
    ],
)
def test_bad_energies(energies, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        build_model("ni", tmp_path / "x", energies, **TINY)
    assert not (tmp_path / "x").exists()


def test_bad_phases(tmp_path):
    no_atoms = _cif(tmp_path, NI_CIF.split("loop_")[0], "no_atoms.cif")
    with pytest.raises(ValueError, match="has no atoms"):
        resolve_recipe(no_atoms)
    no_dw = _cif(tmp_path, NI_CIF, "no_dw.cif")  # occupancy given, no U_iso
    with pytest.raises(ValueError, match="no Debye-Waller factor.*_atom_site_U_iso_or_equiv"):
        resolve_recipe(no_dw)
    half = NI_CIF.replace("_atom_site_occupancy", "_atom_site_occupancy\n_atom_site_U_iso_or_equiv")
    ok = _cif(tmp_path, half.replace("Ni1 Ni 0 0 0 1", "Ni1 Ni 0 0 0 1 0.005"), "ok.cif")
    assert resolve_recipe(ok, [20])["phase"]["atoms"][0]["Uiso"] == 0.005
    empty = _cif(tmp_path, half.replace("Ni1 Ni 0 0 0 1", "Ni1 Ni 0 0 0 0 0.005"), "empty.cif")
    with pytest.raises(ValueError, match=r"occupancy must be in \(0, 1\]"):
        resolve_recipe(empty)
    # The whole cell given as the asymmetric unit: every atom would count four times.
    from diffpy.structure import Atom, Lattice, Structure

    cell = Structure(
        [Atom("Ni", xyz, Uisoequiv=0.005) for xyz in ([0, 0, 0], [0, 0.5, 0.5])], Lattice(3.52, 3.52, 3.52, 90, 90, 90)
    )
    with pytest.raises(ValueError, match="same symmetry orbit"):
        resolve_recipe(Phase("ni", space_group=225, structure=cell))


def test_unsupported_settings(tmp_path):
    # An element de-ebsd has no scattering factors for (einsteinium).
    from diffpy.structure import Atom, Lattice, Structure

    s = Structure([Atom("Es", [0, 0, 0], Uisoequiv=0.005)], Lattice(4.0, 4.0, 4.0, 90, 90, 90))
    with pytest.raises(ValueError, match="de-ebsd .* cannot simulate it: Unknown element symbol 'Es'"):
        resolve_recipe(Phase("es", space_group=225, structure=s))
    # A rhombohedral group on hexagonal axes (corundum's R-3c) is the standard setting: accepted.
    assert resolve_recipe("corundum", [10, 20])["laue_group"] == "-3m"
    # A non-standard setting (diffpy numbers these above 230): R-3m on rhombohedral axes.
    r = Structure([Atom("Bi", [0.2, 0.2, 0.2], Uisoequiv=0.005)], Lattice(4.75, 4.75, 4.75, 57.2, 57.2, 57.2))
    with pytest.raises(ValueError, match="non-standard setting"):
        resolve_recipe(Phase("bi", space_group=1166, structure=r))


def test_laue_defaults_cover_every_group():
    from orix.quaternion.symmetry import _groups

    assert {g.laue.name for g in _groups} == set(LAUE_DEFAULTS)
    assert all(len(row) == 3 and all(v > 0 for v in row) for row in LAUE_DEFAULTS.values())
    # The dictionary is the evaluation's own default for the group, finer than the training grid.
    from kikuchipy_gen.evaluation.report import _min_dictionary_n

    for g in _groups:
        n, dictionary_n, _ = LAUE_DEFAULTS[g.laue.name]
        assert dictionary_n == _min_dictionary_n(g) > n
    r = resolve_recipe("ti-alpha", [10, 20, 30])
    assert r["evaluation"]["dictionary_n"] == 50
    assert resolve_recipe("ti-alpha", [10, 20], n=60)["evaluation"]["dictionary_n"] == 60  # a finer grid
    assert resolve_recipe("ti-alpha", [10, 20], quick=True)["evaluation"]["dictionary_n"] == 15  # a smoke test
    assert r["laue_group"] == "6/mmm" and r["dataset"]["n"] == 30 and r["training"]["max_steps_per_epoch"] == 1200
    # The texture at the physics' resolution (2 npx + 1), at most 401 a side.
    assert r["source"]["npx"] == 200 and r["model"]["texture_size"] == 401
    assert resolve_recipe("ti-alpha", [10, 20], npx=60)["model"]["texture_size"] == 121
    assert resolve_recipe("ti-alpha", [10, 20], npx=300)["model"]["texture_size"] == 401
    # The CVAE by default; all three stages on request.
    t = r["training"]
    assert (t["cvae_epochs"], t["critic_epochs"], t["gan_epochs"]) == (1, 0, 0)
    t = resolve_recipe("ti-alpha", [10, 20], stages="all")["training"]
    assert (t["cvae_epochs"], t["critic_epochs"], t["gan_epochs"]) == (1, 1, 1)
    with pytest.raises(ValueError, match="stages must be 'cvae' or 'all'"):
        resolve_recipe("ti-alpha", [10, 20], stages="gan")
    assert r["model"]["voltage_knots"] == 3 and r["model"]["energy_range"] == [10.0, 30.0]
    assert r["model"]["knot_energies"] == [10.0, 20.0, 30.0]
    assert resolve_recipe("ni", [20], quick=True)["model"]["use_voltage"] is False


def test_uneven_energies_are_the_knots_and_unseen_voltages_are_checked():
    r = resolve_recipe("ti-alpha", [10, 12, 20, 30], evaluation={"unseen": [11, 12.5]})
    assert r["model"]["knot_energies"] == [10.0, 12.0, 20.0, 30.0] and r["model"]["voltage_knots"] == 4
    assert r["evaluation"]["unseen"] == [11.0, 12.5]
    # The recipe's model is one the decoder takes, knots where the energies are.
    from kikuchipy_gen.models.config import preset

    cfg = preset(r["model"]["preset"], **{k: v for k, v in r["model"].items() if k != "preset"})
    assert cfg.decoder.knot_voltages() == [10.0, 12.0, 20.0, 30.0]
    for unseen, match in (([35], "trained 10-30 kV, got 35"), ([5, 12], "got 5"), (["x"], "numbers")):
        with pytest.raises(ValueError, match=match):
            resolve_recipe("ti-alpha", [10, 12, 20, 30], evaluation={"unseen": unseen})


def test_model_of_another_symmetry_refused():
    mlmp = MLMasterPattern.from_pretrained()
    rot = Rotation.random(2)
    with pytest.raises(ValueError, match="symmetry 6/mmm, but this model generates 'ni'"):
        mlmp.get_patterns(Orientation(rot.data, symmetry.D6h), energy=20)
    xmap = CrystalMap(rot, phase_list=PhaseList(Phase("ti", point_group="6/mmm")))
    with pytest.raises(ValueError, match="holds phase 'ti'"):
        mlmp.get_patterns(xmap, energy=20)
    # Plain rotations, and orientations of the same Laue group, stay accepted.
    for ok in (rot, Orientation(rot.data, symmetry.O), Orientation(rot.data, symmetry.Oh)):
        assert mlmp.get_patterns(ok, energy=20).data.shape == (2, 60, 60)


def test_cli_model_parsing():
    args = _parser().parse_args(["model", "ti-alpha", "--out", "m", "--energies", "10", "20", "--n", "12"])
    assert args.command == "model" and args.phase == "ti-alpha" and args.energies == [10.0, 20.0]
    assert args.n == 12 and not args.quick and not args.no_evaluate and args.device == "auto"
    assert args.stages == "cvae"
    assert _parser().parse_args(["model", "ti-alpha", "--out", "m", "--stages", "all"]).stages == "all"
    args = _parser().parse_args(["model", "x.cif", "--out", "m", "--quick", "--no-evaluate", "--no-progress"])
    assert args.quick and args.no_evaluate and args.no_progress
    assert args.energies == [10.0, 15.0, 20.0, 25.0, 30.0] and args.unseen is None
    args = _parser().parse_args(["model", "ni", "--out", "m", "--energies", "10", "12", "20", "--unseen", "11", "15"])
    assert args.energies == [10.0, 12.0, 20.0] and args.unseen == [11.0, 15.0]


def test_cli_model_errors(tmp_path, capsys):
    assert main(["model", "ni", "--out", str(tmp_path / "m"), "--energies", "20", "10"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "increasing order" in err
    assert main(["model", "ni", "--out", str(tmp_path / "m"), "--energies", "10", "20", "--unseen", "25"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained 10-20 kV, got 25" in err
    assert main(["model", "unobtainium", "--out", str(tmp_path / "m")]) == 2
    assert "Unknown phase" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_cli_evaluate_no_progress_keeps_kikuchipys_prints_away(built, tmp_path, capsys):
    # kikuchipy prints its settings, speed and dask's bar at every indexing and
    # refinement call; under --no-progress the command prints its own line only.
    out, _ = built
    argv = ["evaluate", "--model", str(out / "model"), "--n-test", "4", "--dictionary-n", "4", "--n-refine", "2"]
    argv += ["--method", "nelder-mead", "--no-voltage-matrix", "--unseen"]
    assert main([*argv, "--out", str(tmp_path / "quiet"), "--no-progress"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 and printed[0].startswith(f"Wrote {tmp_path / 'quiet' / 'report.md'} (")
    assert (tmp_path / "quiet" / "report.md").is_file()
    # With progress shown, kikuchipy's output comes through as before.
    assert main([*argv, "--out", str(tmp_path / "loud")]) == 0
    printed = capsys.readouterr().out
    assert "Dictionary indexing information" in printed and "Refinement speed" in printed


def test_cli_model_runs(built, capsys):
    out, _ = built
    # The finished folder: the command checks the recipe and keeps everything.
    argv = ["model", "ni", "--out", str(out), "--energies", "10", "20", "--n", "4", "--npx", "12", "--no-progress"]
    assert main(argv) == 2  # the command's Monte Carlo default differs from the tiny recipe
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds a model of another recipe" in err


class _Stop(Exception):
    pass


def _spy_on_evaluate(monkeypatch) -> dict:
    """Record the settings build_model evaluates a folder with, and stop it there."""
    seen = {}

    def spy(model, out, **kwargs):
        seen.update(kwargs)
        raise _Stop

    monkeypatch.setattr("kikuchipy_gen.evaluation.evaluate", spy)
    return seen


def _copy_without_report(out, tmp_path):
    copy = tmp_path / "ni"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "report")
    return copy, json.loads((copy / "recipe.json").read_text())


def test_a_folder_older_than_refine_basins_evaluates_as_it_meant(built, tmp_path, monkeypatch):
    # A recipe written before evaluation.refine_basins existed meant refinement
    # from the best match only: such a folder continues, and evaluates so.
    copy, recipe = _copy_without_report(built[0], tmp_path)
    assert recipe["evaluation"]["refine_basins"] == 8
    del recipe["evaluation"]["refine_basins"]
    (copy / "recipe.json").write_text(json.dumps(recipe))
    seen = _spy_on_evaluate(monkeypatch)
    with pytest.raises(_Stop):
        build_model("ni", copy, [10, 20], **TINY)
    assert seen["refine_basins"] == 1 and seen["n_refine"] == TINY["evaluation"]["n_refine"]
    # Older still: a recipe without the model's knot energies (knots evenly spaced) continues too.
    del recipe["model"]["knot_energies"]
    (copy / "recipe.json").write_text(json.dumps(recipe))
    seen.clear()
    with pytest.raises(_Stop):
        build_model("ni", copy, [10, 20], **TINY)
    assert seen["refine_basins"] == 1
    recipe["model"]["knot_energies"] = [10.0, 20.0]
    (copy / "recipe.json").write_text(json.dumps(recipe))
    # Asked for explicitly, the new setting is a different recipe.
    with pytest.raises(ValueError, match=r"evaluation.refine_basins: \(unset\) in the folder, 8 now"):
        build_model("ni", copy, [10, 20], **{**TINY, "evaluation": {**TINY["evaluation"], "refine_basins": 8}})


def test_a_folder_older_than_latent_dropout_trains_as_it_began(tmp_path):
    # A recipe written before training.latent_dropout existed decoded every row
    # at the encoder's sample: such a folder continues, and trains so.
    recipe = resolve_recipe("ni", [20], quick=True)
    assert recipe["training"]["latent_dropout"] == 0.5
    old = json.loads(json.dumps(recipe))
    del old["training"]["latent_dropout"]
    out = tmp_path / "m"
    pipeline._claim_folder(out, old)
    pipeline._keep_recorded_legacy(out, recipe, {}, {})
    pipeline._claim_folder(out, recipe)
    assert pipeline._train_config(recipe, out).latent_dropout == 0
    # Asked for explicitly, the new setting is a different recipe.
    asked = resolve_recipe("ni", [20], quick=True, train={"latent_dropout": 0.5})
    pipeline._keep_recorded_legacy(out, asked, {}, {"latent_dropout": 0.5})
    with pytest.raises(ValueError, match=r"training.latent_dropout: \(unset\) in the folder, 0.5 now"):
        pipeline._claim_folder(out, asked)


@pytest.mark.parametrize("key, recorded, now", [("method", "bobyqa", "ln_bobyqa"), ("dictionary_n", 30, 50)])
def test_a_folder_that_recorded_an_old_default_keeps_it(built, tmp_path, monkeypatch, key, recorded, now):
    # The refinement's default became NLopt's BOBYQA, the dictionary's n = 50;
    # a folder whose recipe recorded the old default continues with it, unless
    # the caller asks otherwise.
    copy, recipe = _copy_without_report(built[0], tmp_path)
    recipe["evaluation"][key] = recorded
    unset = {k: v for k, v in TINY["evaluation"].items() if k != key}
    assert resolve_recipe("ni", [10, 20], evaluation=unset)["evaluation"][key] == now
    (copy / "recipe.json").write_text(json.dumps(recipe))
    seen = _spy_on_evaluate(monkeypatch)
    with pytest.raises(_Stop):
        build_model("ni", copy, [10, 20], **{**TINY, "evaluation": unset})
    assert seen[key] == recorded
    assert json.loads((copy / "recipe.json").read_text())["evaluation"][key] == recorded
    with pytest.raises(ValueError, match=rf"evaluation.{key}: {recorded} in the folder, {now} now"):
        build_model("ni", copy, [10, 20], **{**TINY, "evaluation": {**unset, key: now}})
