"""Run by test_checkpoint_kill.py: a tiny training that dies (os._exit, as kill -9) at
a chosen point of a checkpoint write."""

import json
import os
import sys

import torch

from kikuchipy_gen import training
from kikuchipy_gen.models import TrainConfig

dataset, out, mode, k, config = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
calls = 0
torch.set_num_threads(int(os.environ.get("TEST_TORCH_THREADS", torch.get_num_threads())))


def _count() -> None:
    global calls
    calls += 1
    if calls == k:
        os._exit(9)


class _OS:
    """training.py's os, with replace() dying after the k-th rename."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def replace(src, dst):
        os.replace(src, dst)
        _count()


if mode == "rename":
    training.os = _OS()
elif mode == "writing":
    # Dies while the k-th checkpoint's temporary folder is half written.
    write_history = training._write_history

    def _dying_write_history(history, path):
        _count()
        write_history(history, path)

    training._write_history = _dying_write_history

cfg = TrainConfig.from_dict({**json.loads(config), "dataset": dataset, "out": out})
training.Trainer(cfg).run(show_progressbar=False)
