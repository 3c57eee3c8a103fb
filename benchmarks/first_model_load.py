"""The first model load of a session: importing kikuchipy-gen, then ``MLMasterPattern.from_pretrained()``.

Each run is a fresh process, so both times are what a notebook's first cell
pays. To compare two versions of the code, run it in alternating processes
with ``PYTHONPATH`` at a ``git worktree`` of the other commit (from a folder
other than the repository root, where the checkout itself comes first on
``sys.path``).

    python benchmarks/first_model_load.py
"""

import sys
import time

start = time.perf_counter()
import kikuchipy_gen  # noqa: E402
from kikuchipy_gen.master_pattern import MLMasterPattern  # noqa: E402

imported = time.perf_counter()
MLMasterPattern.from_pretrained()
loaded = time.perf_counter()
print(
    f"{kikuchipy_gen.__file__}: import {1e3 * (imported - start):.0f} ms, "
    f"first from_pretrained {1e3 * (loaded - imported):.0f} ms"
)
sys.exit(0)
