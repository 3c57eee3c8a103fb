"""A training checkpoint at the zoo's texture size, the read-texel footprint found once or every time.

Every checkpoint writes the decoder's exported state, whose texels outside
the fundamental sector's footprint are zeros
(:meth:`~kikuchipy_gen.models.geometric.GeometricDecoder.read_texels`). The
footprint depends only on the texture's size, the symmetry and the device; it
is found by reducing a Lambert grid four times finer than the texture into
the sector, which at 401 texels a side is 1.3 million directions per
hemisphere. The one command's training (``kikuchipy-gen model``) writes a
checkpoint at its start, every 400 steps, at the end of the epoch and when it
is done. Two routes, alternated after a warm-up:

* ``now``: the package as it is (the footprint found at the first checkpoint
  and kept);
* ``before``: the footprint found again at each checkpoint, as before.

The decoder is nickel's (m-3m), on the package's tiny dataset; the footprint's cost
hardly depends on the group, the fine grid's size decides it.

    python benchmarks/checkpoint_cost.py [--quick] [--repeats 5] [--json PATH]

Full: about a minute on 2 quiet cores. ``--quick``: texture 101, 2 rounds.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import alternate, machine_info, print_header, ratios, spread, write_json

from kikuchipy_gen.data import tiny_dataset
from kikuchipy_gen.models import TrainConfig, preset
from kikuchipy_gen.training import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="texture 101, 2 rounds (a smoke test)")
    parser.add_argument("--repeats", type=int, help="alternated rounds (default 5; 2 quick)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    repeats = (2 if args.quick else 5) if args.repeats is None else args.repeats
    if repeats < 1:
        parser.error("--repeats must be >= 1")
    size = 101 if args.quick else 401

    info = machine_info()
    print_header(info)
    data = tiny_dataset(tempfile.mkdtemp())
    model = preset("geometric", texture_size=size, use_voltage=True, n_attributes=5, voltage_knots=5)
    config = TrainConfig(dataset=str(data.path), out=tempfile.mkdtemp(), model=model, sample_grid=False)
    trainer = Trainer(config)
    decoder = trainer.decoder

    def before() -> None:
        decoder._texel_mask_cache = None
        trainer.save_checkpoint("bench")

    routes = {"now": lambda: trainer.save_checkpoint("bench"), "before": before}
    times = alternate(routes, repeats)
    ratio = ratios(times["before"], times["now"])
    now, old = spread(times["now"]), spread(times["before"])
    print(f"geometric preset, texture {size}, 5 voltage knots, point group m-3m; {repeats} rounds")
    print("| route | seconds per checkpoint, median (min-max) |\n|---|---|")
    print(f"| now | {now['median']:.2f} ({now['min']:.2f}-{now['max']:.2f}) |")
    print(f"| before | {old['median']:.2f} ({old['min']:.2f}-{old['max']:.2f}) |")
    print(f"before / now, per round: {ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})")
    write_json(
        {
            "machine": info,
            "quick": args.quick,
            "texture": size,
            "point_group": "m-3m",
            "now_s": now,
            "before_s": old,
            "before_over_now": ratio,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
