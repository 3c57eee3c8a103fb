"""Library code leaves the process as it found it: a notebook keeps its backend, streams and threads."""

import logging
import sys
import warnings

import matplotlib
import numba
import numpy as np
import torch

from kikuchipy_gen.demo import run_demo
from kikuchipy_gen.evaluation import evaluate
from kikuchipy_gen.training import Trainer

from .test_training import _config


def _process_state() -> dict:
    import matplotlib.pyplot as plt

    root = logging.getLogger()
    return {
        "matplotlib backend": matplotlib.get_backend(),
        "open pyplot figures": plt.get_fignums(),
        "sys.stdout": sys.stdout,
        "sys.stderr": sys.stderr,
        "numba threads": numba.get_num_threads(),
        "torch threads": torch.get_num_threads(),
        "torch default dtype": torch.get_default_dtype(),
        "torch grad enabled": torch.is_grad_enabled(),
        # A tuple of bytes, so that == compares the states themselves.
        "torch global RNG": tuple(torch.get_rng_state().tolist()),
        "warnings.filters": list(warnings.filters),
        "numpy errstate": np.geterr(),
        "root logger": (root.level, list(root.handlers)),
    }


def test_demo_evaluation_and_training_leave_process_state_alone(ni_dataset, tmp_path):
    previous_backend = matplotlib.get_backend()
    # Not Agg (conftest's choice): a library that switches to Agg must show here.
    matplotlib.use("svg")
    # torch imports sympy on first use of some checks, and sympy's import adds a
    # warnings filter for its own deprecations: import time, and not this package's.
    import sympy  # noqa: F401

    try:
        before = _process_state()

        run_demo(tmp_path / "demo", n_dictionary=4, n_patterns=2, n_refine=1)

        cfg = _config(
            ni_dataset,
            tmp_path / "run",
            cvae_epochs=1,
            critic_epochs=1,
            gan_epochs=1,
            max_steps_per_epoch=2,
            max_val_patterns=16,
            sample_grid=True,  # the training figures are drawn too
        )
        Trainer(cfg).run(show_progressbar=False)
        assert list((tmp_path / "run" / "samples").glob("*.png")) and (tmp_path / "run" / "loss_curves.png").is_file()

        evaluate(
            tmp_path / "run" / "checkpoints" / "last",
            tmp_path / "report",
            unseen=[],
            n_test=4,
            dictionary_n=5,
            n_refine=2,
            matrix_patterns=2,
            show_progressbar=False,
        )

        after = _process_state()
        changed = {k: (before[k], after[k]) for k in before if after[k] != before[k]}
        assert not changed, f"library code changed process-wide state (before, after): {changed}"
    finally:
        matplotlib.use(previous_backend)
