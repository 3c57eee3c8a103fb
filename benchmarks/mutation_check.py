"""Do the tests catch the bugs that matter? Break the code on purpose and see.

Each mutation below is one plausible bug (a swapped hemisphere, a flipped
sign, a dropped bound) made by string replacement in a temporary copy of the
package. The test files named after the module run against the copy; a
mutation is *killed* when a test fails, and *survives* when they all pass.
Before the mutations, the unmutated copy must pass the same files, so a kill
means the tests saw the bug, not a broken setup.

The copy sits in a temporary folder next to copies of ``tests/``, the
committed report the tests read and ``pyproject.toml``; pytest runs there, so
the folder (and its ``kikuchipy_gen``) comes first on ``sys.path``, ahead of
the editable install. The script checks that the copy is what gets imported.

Run from the repository root::

    python benchmarks/mutation_check.py            # all mutations
    python benchmarks/mutation_check.py cpu_x_sign knot_clamp_removed

Equivalent mutants are left out: storing the sector operators transposed,
for one, gives each operator's inverse, which is again in the group, and
the sector tests use the same matrices, so the output cannot change.

Prints one line per mutation and the score (killed / total); exits 1 when a
mutation survives or is broken (its tests could not run on it: pytest exited with
neither 0 nor 1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # inside kikuchipy_gen/
    old: str
    new: str
    tests: tuple[str, ...]
    what: str


MUTATIONS = [
    Mutation(
        "cpu_hemispheres_swapped",
        "models/_cpu_decode.py",
        "(0 if vz >= 0 else 1)",
        "(1 if vz >= 0 else 0)",
        ("tests/test_cpu_decode.py",),
        "CPU kernel reads the lower hemisphere for z >= 0",
    ),
    Mutation(
        "cpu_rows_columns_swapped",
        "models/_cpu_decode.py",
        "* plane + r0 * size + c0",
        "* plane + c0 * size + r0",
        ("tests/test_cpu_decode.py",),
        "CPU kernel indexes the texture transposed",
    ),
    Mutation(
        "cpu_x_sign_flipped",
        "models/_cpu_decode.py",
        "col = min(max((sx *",
        "col = min(max((-sx *",
        ("tests/test_cpu_decode.py",),
        "CPU kernel mirrors the Lambert X coordinate",
    ),
    Mutation(
        "cpu_box_window_short",
        "models/_cpu_decode.py",
        "(bottom_a[c + w] - bottom_a[c] - top_a[c + w] + top_a[c]) * f",
        "(bottom_a[c + w - 1] - bottom_a[c] - top_a[c + w - 1] + top_a[c]) * f",
        ("tests/test_cpu_decode.py",),
        "CPU kernel's local mean leaves out the box's last column",
    ),
    Mutation(
        "cpu_fold_swap_unsigned",
        "models/_cpu_decode.py",
        "va[j] = sa * max(u, -w)",
        "va[j] = max(u, -w)",
        ("tests/test_cpu_decode.py",),
        "CPU kernel's diagonal-mirror fold drops the sign of a negative-normal component",
    ),
    Mutation(
        "torch_hemispheres_swapped",
        "projection.py",
        "torch.where(vectors[..., 2] >= 0, upper, lower)",
        "torch.where(vectors[..., 2] >= 0, lower, upper)",
        ("tests/test_projection.py",),
        "torch projection reads the lower hemisphere for z >= 0",
    ),
    Mutation(
        "torch_y_sign_from_x",
        "projection.py",
        "big_y = torch.where(use_x, sx * r",
        "big_y = torch.where(use_x, sy * r",
        ("tests/test_projection.py",),
        "Lambert Y takes the sign of x (sx -> sy in the Y branch)",
    ),
    Mutation(
        "decoder_hemispheres_swapped",
        "models/geometric.py",
        "torch.where(v[..., 2] >= 0, vals[:, 0], vals[:, 1])",
        "torch.where(v[..., 2] >= 0, vals[:, 1], vals[:, 0])",
        ("tests/test_geometric.py",),
        "GeometricDecoder.project reads the lower hemisphere for z >= 0",
    ),
    Mutation(
        "voltage_reversed",
        "attributes.py",
        "(e / VOLTAGE_SCALE)",
        "((40 - e) / VOLTAGE_SCALE)",
        ("tests/test_master_pattern.py",),
        "the decoder is fed 40 - E kV",
    ),
    Mutation(
        "energy_lower_bound_dropped",
        "master_pattern.py",
        "e.min() < lo - ENERGY_TOLERANCE or ",
        "",
        ("tests/test_master_pattern.py",),
        "energies below the trained range are accepted",
    ),
    Mutation(
        "knot_clamp_removed",
        "models/geometric.py",
        "        voltage = voltage.clamp(knots[0], knots[-1])\n",
        "",
        ("tests/test_geometric.py",),
        "voltages outside the knots extrapolate silently",
    ),
    Mutation(
        "file_knots_unchecked",
        "models/bundle.py",
        "            if not torch.allclose(knots, wanted, rtol=0, atol=1e-4):",
        "            if False:",
        ("tests/test_tampered_models.py",),
        "a model file's voltage knots are trusted (equal knots divide the blend by zero)",
    ),
    Mutation(
        "decoder_reads_unreduced_directions",
        "models/geometric.py",
        "            v = self.sector(v)\n",
        "            pass\n",
        ("tests/test_geometric.py",),
        "pixels read the symmetric texture where they fall, not in the sector (serrated band edges)",
    ),
    Mutation(
        "cpu_sector_reduction_skipped",
        "models/_cpu_decode.py",
        "if ops.shape[0] > 0:",
        "if False:",
        ("tests/test_cpu_decode.py",),
        "CPU kernel reads the symmetric texture where pixels fall, not in the sector",
    ),
    Mutation(
        "critic_optimizer_not_restored",
        "training.py",
        '_load_adam(self.opt_critic, extra["opt_critic"])',
        'extra["opt_critic"]',
        ("tests/test_training_resume.py::test_resume_in_critic_stage_continues_identically",),
        "a run resumed in critic pre-training restarts Adam's moments",
    ),
    Mutation(
        "resumed_adam_loses_its_fused_kernel",
        "training.py",
        "        group.update(implementation)",
        "        pass",
        ("tests/test_training_resume.py::test_checkpoint_of_the_loop_optimiser_resumes_fused",),
        "a checkpoint of the loop Adam resumes on the loop, not the fused kernel",
    ),
    Mutation(
        "emulated_bf16_keeps_channels_last",
        "training.py",
        'if memory_format == "auto" and emulated_bf16:',
        'if memory_format == "auto" and emulated_bf16 and False:',
        ("tests/test_training.py::test_bf16_on_a_cpu_without_avx512_is_warned_about",),
        "under emulated bf16 'auto' lays the networks out channels-last, 1.6-2.2x slower",
    ),
    Mutation(
        "read_texels_hemisphere_ignored",
        "models/geometric.py",
        "read = torch.where(upper, read[:, 0], read[:, 1])  # (k, texels read)",
        "read = read[:, 0]",
        ("tests/test_geometric.py::test_training_projection_resamples_only_read_texels_and_matches_the_whole_texture",),
        "training resamples every read texel from the upper hemisphere",
    ),
    Mutation(
        "box_mean_counts_the_padding",
        "models/geometric.py",
        "return ((i + half).clamp(max=n - 1) - (i - half).clamp(min=0) + 1).to(like.dtype)",
        "return torch.full((n,), 2.0 * half + 1, dtype=like.dtype, device=like.device)",
        ("tests/test_geometric.py",),
        "box means near the border divide by the whole window",
    ),
    Mutation(
        "gan_optimizer_not_restored",
        "training.py",
        '_load_adam(self.opt_gan, extra["opt_gan"])',
        'extra["opt_gan"]',
        ("tests/test_training_resume.py::test_resume_in_gan_stage_continues_identically",),
        "a run resumed in the joint stage restarts the generator's Adam moments",
    ),
    Mutation(
        "gan_critic_optimizer_not_restored",
        "training.py",
        '_load_adam(self.opt_gan_critic, extra["opt_gan_critic"])',
        'extra["opt_gan_critic"]',
        ("tests/test_training_resume.py::test_resume_in_gan_stage_continues_identically",),
        "a run resumed in the joint stage restarts the critic's Adam moments",
    ),
    Mutation(
        "classifier_trunk_clipped",
        "models/networks.py",
        "            return [self]\n        return [self.trunk",
        "            return [self]\n        return [self, self.trunk",
        ("tests/test_networks.py",),
        "weight clipping binds the classifier's own trunk too (it cannot learn)",
    ),
    Mutation(
        "sector_inside_test_ignored",
        "sector.py",
        "(inside.to(dt) * 4 + ",
        "(inside.to(dt) * 0 + ",
        ("tests/test_sector.py",),
        "the full search picks the image nearest the centre even when it lies outside the sector",
    ),
    Mutation(
        "sector_search_skipped",
        "sector.py",
        "        if outside.any():\n            index[outside]",
        "        if False:\n            index[outside]",
        ("tests/test_sector.py",),
        "directions whose nearest-centre image is outside are never searched (m-3, 432)",
    ),
    Mutation(
        "disorientation_ignores_symmetry",
        "losses.py",
        "angles.min(dim=1).values",
        "angles[:, 0]",
        ("tests/test_losses.py",),
        "the disorientation loss is the plain misorientation (first operator only)",
    ),
    Mutation(
        "disorientation_sign_of_q",
        "losses.py",
        "w = relative[..., 0].abs()",
        "w = relative[..., 0]",
        ("tests/test_losses.py",),
        "q and -q are treated as different orientations",
    ),
    Mutation(
        "kl_logvar_sign",
        "losses.py",
        "logvar.exp() - logvar - 1",
        "logvar.exp() + logvar - 1",
        ("tests/test_losses.py",),
        "KL divergence with the log-variance sign flipped",
    ),
    Mutation(
        "wasserstein_critic_sign",
        "losses.py",
        "return -score_real.mean() + score_fake.mean()",
        "return score_real.mean() - score_fake.mean()",
        ("tests/test_losses.py",),
        "the critic is trained to prefer fake patterns",
    ),
    Mutation(
        "bce_sum_is_mean",
        "losses.py",
        "return per_pattern.sum(1).mean()",
        "return per_pattern.mean(1).mean()",
        ("tests/test_losses.py",),
        "BCE 'sum' reduction averages over pixels (the reconstruction term 3,600x weaker)",
    ),
    Mutation(
        "adaptive_kl_high_low_swapped",
        "losses.py",
        "return self.high",
        "return self.low",
        ("tests/test_losses.py",),
        "the adaptive KL coefficient is low when the KL is high",
    ),
    Mutation(
        "logvar_gradient_through_the_bound",
        "models/networks.py",
        "return mean, _BoundedLogVar.apply(logvar)",
        "return mean, -30 + nn.functional.softplus(10 - nn.functional.softplus(10 - logvar) + 30)",
        ("tests/test_networks.py",),
        "the KL gradient dies past the log-variance's soft bound",
    ),
    Mutation(
        "encoder_head_norm_ignored",
        "models/networks.py",
        "if config.encoder_head_norm else nn.Identity()",
        "if False else nn.Identity()",
        ("tests/test_networks.py",),
        "the encoder's head norm left out, so Adam steps can throw the latent mean",
    ),
    Mutation(
        "latent_dropout_ignored",
        "training.py",
        "        if p == 0:\n            return z",
        "        if True:\n            return z",
        ("tests/test_training.py",),
        "latent_dropout set but every row decoded at the encoder's sample",
    ),
    Mutation(
        "best_checkpoint_by_encoder_mean",
        "training.py",
        'val["bce_per_pixel_z0"] < self.state.best_val',
        'val["bce_per_pixel"] < self.state.best_val',
        ("tests/test_training.py",),
        "the best checkpoint judged by reconstructions through the encoder, not by generation at z = 0",
    ),
    Mutation(
        "agreement_worst_match_not_best",
        "refinement.py",
        "indices.append(i[:, 0] if i.ndim == 2 else i.reshape(-1))",
        "indices.append(i[:, -1] if i.ndim == 2 else i.reshape(-1))",
        ("tests/test_refinement.py",),
        "indexing agreement compares the last of keep_n matches, not the best",
    ),
    Mutation(
        "agreement_symmetry_ignored",
        "refinement.py",
        "apart = disorientation(xmap_a, xmap_b, phase_or_point_group).reshape(-1)",
        'apart = disorientation(xmap_a, xmap_b, "1").reshape(-1)',
        ("tests/test_refinement.py",),
        "indexing agreement calls an equivalent orientation of another entry another basin",
    ),
    Mutation(
        "basins_symmetry_ignored",
        "refinement.py",
        "free[block] &= disorientation(q[block], first[block], phase_or_point_group) > min_angle",
        'free[block] &= disorientation(q[block], first[block], "1") > min_angle',
        ("tests/test_refinement.py",),
        "a symmetry-equivalent of the best match counts as another dictionary basin",
    ),
    Mutation(
        "best_basin_lowest_score",
        "refinement.py",
        "basin = scores.argmax(axis=0)",
        "basin = np.where(np.isinf(scores), np.inf, scores).argmin(axis=0)",
        ("tests/test_refinement.py",),
        "refinement from several basins keeps the one of lowest NCC",
    ),
    Mutation(
        "settle_inverted",
        "refinement.py",
        "todo &= scores[: b + 1].max(axis=0) < settle * reference",
        "todo &= scores[: b + 1].max(axis=0) >= settle * reference",
        ("tests/test_refinement.py",),
        "the patterns like their peers are refined from deeper basins, those below them are not",
    ),
]


def _workspace(tmp: Path) -> Path:
    """A folder with a copy of the package, the tests and what the tests read from the repository."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    shutil.copytree(ROOT / "kikuchipy_gen", tmp / "kikuchipy_gen", ignore=ignore)
    shutil.copytree(ROOT / "tests", tmp / "tests", ignore=ignore)
    report = Path("docs") / "reports" / "pretrained_ni"
    shutil.copytree(ROOT / report, tmp / report)
    shutil.copy2(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    return tmp


def _env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(work), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _check_imports_copy(work: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import kikuchipy_gen; print(kikuchipy_gen.__file__)"],
        cwd=work,
        env=_env(work),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(out).resolve().is_relative_to(work.resolve()):
        raise RuntimeError(f"The tests would import {out}, not the copy in {work}")


def _run_tests(work: Path, tests: tuple[str, ...]) -> tuple[int, float, str]:
    """(pytest's exit status, seconds, last lines of its output)."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--rootdir", str(work), *tests]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=_env(work), capture_output=True, text=True)
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
    return proc.returncode, time.perf_counter() - start, tail


# pytest's exit status: 0 all passed, 1 a test failed. Anything else (2: collection
# errors, e.g. the mutant does not import) means no test ran on the mutant: that is
# a broken mutation, not a kill.
_VERDICTS = {0: "SURVIVED", 1: "killed"}


def _apply(work: Path, m: Mutation) -> str:
    path = work / "kikuchipy_gen" / m.path
    original = path.read_text()
    if original.count(m.old) != 1:
        raise RuntimeError(f"{m.name}: {m.old!r} occurs {original.count(m.old)} times in {m.path}, not once")
    mutated = original.replace(m.old, m.new)
    compile(mutated, str(path), "exec")  # a mutant that is not Python is a bug of this script
    path.write_text(mutated)
    return original


def main(names: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not names or m.name in names]
    unknown = set(names) - {m.name for m in MUTATIONS}
    if unknown:
        raise SystemExit(f"Unknown mutations {sorted(unknown)}; choose from {[m.name for m in MUTATIONS]}")
    with tempfile.TemporaryDirectory(prefix="kpg-mutants-") as tmp:
        work = _workspace(Path(tmp))
        _check_imports_copy(work)
        files = tuple(sorted({t for m in chosen for t in m.tests}))
        status, seconds, tail = _run_tests(work, files)
        if status != 0:
            print(f"The unmutated copy fails its tests ({seconds:.0f} s); fix them first:\n{tail}")
            return 2
        print(f"baseline: {len(files)} test files pass on the unmutated copy ({seconds:.0f} s)")
        killed = 0
        for m in chosen:
            original = _apply(work, m)
            try:
                status, seconds, tail = _run_tests(work, m.tests)
            finally:
                (work / "kikuchipy_gen" / m.path).write_text(original)
            verdict = _VERDICTS.get(status, "BROKEN")
            killed += verdict == "killed"
            failed = next((line for line in tail.splitlines() if line.startswith("FAILED")), tail.splitlines()[-1])
            print(f"{verdict:8s} {m.name:28s} {seconds:5.0f} s  {m.what}")
            print(f"         {'':28s}         {failed[:150]}")
        print(f"score: {killed}/{len(chosen)} mutations killed")
    return 0 if killed == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
