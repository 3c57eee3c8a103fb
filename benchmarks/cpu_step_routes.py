"""A CPU training step, route by route: the head's box means, the Adam implementation, the symmetric texture.

Three changes of the sixteenth session, measured one after another and together,
alternated round by round on the same batch:

* the geometric head standardises each pixel over a 15 x 15 box clipped at the
  borders. ``pool`` took ``F.avg_pool2d(..., count_include_pad=False)`` (225 additions
  a pixel); ``running`` is :func:`kikuchipy_gen.models.geometric._box_mean` now (two
  cumulative sums and two differences a pixel);
* the optimiser: ``loop`` is torch's default Adam on a CPU (a for-loop over the
  tensors), ``fused`` its fused kernel, which ``Trainer`` now takes;
* the learned texture's symmetric copy: ``full`` resampled every texel of it each
  step (``GeometricDecoder.symmetric_textures``), ``read`` only those the projection
  can read (``GeometricDecoder._projected_textures`` now).

Routes of the CVAE step (``geometric`` preset, batch 32, latent dropout 0.5, as the
``model`` recipe): ``before`` (pool, loop, full), ``box`` (running, loop, full),
``adam`` (running, fused, full) and ``now`` (running, fused, read). Two phases:
kikuchipy's EMsoft nickel at 20 kV (m-3m, the preset's texture) and a kinematical
corundum dataset at 10-30 kV (-3m, the ``model`` recipe's 401-texel texture and five
voltage knots), each built small in a temporary folder. Also timed alone: the box mean
of a (32, 60, 60) batch forward and backward, and one Adam step over the corundum
model's generator weights. Printed: medians (min-max), the paired ratios, and the
largest difference of the head's output between the box routes.

    python benchmarks/cpu_step_routes.py [--quick] [--repeats 7] [--steps 10] [--json PATH]

Full: about 6 minutes on 2 quiet cores. ``--quick``: 2 rounds of 2 steps.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from _common import alternate, machine_info, print_header, ratios, spread, write_json

import kikuchipy_gen.models.geometric as geometric
from kikuchipy_gen.dataset import build_dataset
from kikuchipy_gen.loader import PatternStream
from kikuchipy_gen.models import TrainConfig, preset
from kikuchipy_gen.sampling import split_orientations
from kikuchipy_gen.sources import KikuchipyNickelSource, KinematicalSource
from kikuchipy_gen.training import Trainer

RUNNING = geometric._box_mean
BATCH = 32


def _pooled(x: torch.Tensor, window: int) -> torch.Tensor:
    half = window // 2
    return F.avg_pool2d(x[:, None], window, stride=1, padding=half, count_include_pad=False)[:, 0]


BOX = {"pool": _pooled, "running": RUNNING}
STEP_ROUTES = {
    "before": ("pool", "loop", "full"),
    "box": ("running", "loop", "full"),
    "adam": ("running", "fused", "full"),
    "now": ("running", "fused", "read"),
}
# (source, point group, energies, model settings beyond the preset)
PHASES = {
    "ni (m-3m)": (KikuchipyNickelSource, "m-3m", None, {}),
    "corundum (-3m)": (
        lambda: KinematicalSource("corundum", half_size=100),
        "-3m",
        [10.0, 15.0, 20.0, 25.0, 30.0],
        {"texture_size": 401, "voltage_knots": 5, "use_voltage": True, "n_attributes": 5},
    ),
}


@contextlib.contextmanager
def _box(name: str):
    """The head's box mean swapped for ``name``'s while inside."""
    geometric._box_mean = BOX[name]
    try:
        yield
    finally:
        geometric._box_mean = RUNNING


def _summary(seconds: dict[str, list[float]], per: float) -> dict[str, dict]:
    return {name: spread([per / s for s in values]) for name, values in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 steps (a smoke test)")
    parser.add_argument("--repeats", type=int, help="alternated rounds (default 7; 2 quick)")
    parser.add_argument("--steps", type=int, help="training steps per timing (default 10; 2 quick)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 7)
    steps = args.steps or (2 if args.quick else 10)
    if repeats < 1 or steps < 1:
        parser.error("--repeats and --steps must be >= 1")

    info = machine_info()
    print_header(info)
    window = preset("geometric").decoder.head_window
    x = torch.randn(BATCH, 60, 60, requires_grad=True)

    def box_alone(name: str) -> None:
        for _ in range(20):
            (BOX[name](x, window) ** 2).sum().backward()

    box_s = alternate({name: lambda n=name: box_alone(n) for name in BOX}, repeats)

    results = {
        "machine": info,
        "quick": args.quick,
        "repeats": repeats,
        "steps": steps,
        "batch": BATCH,
        "window": window,
        "box_mean_fwd_bwd_ms": {n: spread([1e3 * s / 20 for s in v]) for n, v in box_s.items()},
        "box_pool_over_running": ratios(box_s["pool"], box_s["running"]),
        "phases": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for label, settings in PHASES.items():
            results["phases"][label] = _phase(Path(tmp), label, settings, repeats, steps)

    def fmt(d: dict, digits: int = 2) -> str:
        return f"{d['median']:.{digits}f} ({d['min']:.{digits}f}-{d['max']:.{digits}f})"

    b = results["box_mean_fwd_bwd_ms"]
    print(
        f"box mean, (32, 60, 60), forward + backward, ms: pool {fmt(b['pool'])}, running {fmt(b['running'])}; "
        f"pool / running **{fmt(results['box_pool_over_running'])}**"
    )
    for label, r in results["phases"].items():
        a = r["adam_step_ms"]
        print(
            f"\n{label}, {r['generator_weights']:,} generator weights, texture {r['texture_size']}, "
            f"{r['knots']} knot(s). Adam step, ms: loop {fmt(a['loop'])}, fused {fmt(a['fused'])}; "
            f"loop / fused **{fmt(r['adam_loop_over_fused'])}**"
        )
        print(f"\n| CVAE step, batch {BATCH} | box mean | Adam | symmetric texture | patterns/s |")
        print("|---|---|---|---|---|")
        for name, (box, adam, texture) in STEP_ROUTES.items():
            print(f"| {name} | {box} | {adam} | {texture} | {fmt(r['step_patterns_per_s'][name], 1)} |")
        for key, ratio in r["step_ratios"].items():
            slow, fast = key.split("_over_")
            print(f"step time {slow} / {fast}: **{fmt(ratio)}**")
        print(f"head output, largest difference between the box routes: {r['head_output_max_abs_difference']:.2e}")
    write_json(results, args.json)


def _phase(tmp: Path, label: str, settings: tuple, repeats: int, steps: int) -> dict:
    """The Adam and step timings of one phase's small dataset and model."""
    make_source, group, energies, model = settings
    name = label.split()[0]
    ds = build_dataset(
        tmp / f"{name}.zarr",
        make_source(),
        split_orientations(group, n_train=8 if energies is None else 6),
        energies=energies,
        show_progressbar=False,
    )
    cfg = TrainConfig(
        dataset=str(ds.path),
        out=str(tmp / f"{name}_run"),
        model=preset("geometric", **model),
        sample_grid=False,
        latent_dropout=0.5,
    )
    trainer = Trainer(cfg)
    decoder = trainer.decoder
    batch = next(trainer._batches(PatternStream(ds, "train"), BATCH))
    params = list(trainer._generator_params(True))
    optimizers = {
        "fused": trainer.opt_cvae,
        "loop": torch.optim.Adam(params, lr=cfg.cvae_lr, betas=(cfg.adam_beta1, 0.999), fused=False),
    }
    assert all(g["fused"] for g in trainer.opt_cvae.param_groups), "Trainer's Adam is not the fused kernel"

    def adam_alone(route: str) -> None:
        for p in params:
            p.grad = torch.full_like(p, 1e-3)
        for _ in range(20):
            optimizers[route].step()

    adam_s = alternate({route: lambda r=route: adam_alone(r) for route in ("loop", "fused")}, repeats)

    def step(route: str) -> None:
        box, adam, texture = STEP_ROUTES[route]
        trainer.opt_cvae = optimizers[adam]
        if texture == "full":  # the instance attribute shadows the method
            decoder._projected_textures = decoder.symmetric_textures
        try:
            with _box(box):
                for _ in range(steps):
                    trainer._cvae_step(batch)
        finally:
            decoder.__dict__.pop("_projected_textures", None)
            trainer.opt_cvae = optimizers["fused"]

    step_s = alternate({route: lambda r=route: step(r) for route in STEP_ROUTES}, repeats)

    probe, z = torch.randn(8, 1, 60, 60), torch.randn(8, cfg.model.latent_dim)
    outs = {}
    with torch.no_grad():
        for box in BOX:
            with _box(box):
                outs[box] = decoder.head(probe, z)
    routes = list(STEP_ROUTES)
    return {
        "texture_size": cfg.model.decoder.texture_size,
        "knots": cfg.model.decoder.voltage_knots,
        "generator_weights": sum(p.numel() for p in params),
        "adam_step_ms": {r: spread([1e3 * s / 20 for s in v]) for r, v in adam_s.items()},
        "adam_loop_over_fused": ratios(adam_s["loop"], adam_s["fused"]),
        "step_patterns_per_s": _summary(step_s, steps * BATCH),
        "step_ratios": {
            **{f"{a}_over_{b}": ratios(step_s[a], step_s[b]) for a, b in zip(routes, routes[1:])},
            "before_over_now": ratios(step_s["before"], step_s["now"]),
        },
        "head_output_max_abs_difference": float((outs["pool"] - outs["running"]).abs().max()),
    }


if __name__ == "__main__":
    main()
