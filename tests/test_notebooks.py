"""The tutorial notebooks.

They run top to bottom in a fresh kernel in the documentation build (myst-nb,
``nb_execution_mode = "force"``, errors raise), which ``tests/test_docs.py``
runs and checks; running them here again would double their CI time.
"""

from pathlib import Path

import nbformat

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "docs" / "tutorials").glob("*.ipynb"))


def test_there_are_tutorials():
    assert [p.name for p in TUTORIALS] == ["getting_started.ipynb", "training_your_own_model.ipynb"]


def test_tutorials_are_valid_and_committed_without_outputs():
    # Outputs come from the build's fresh run, never from a stale kernel.
    for path in TUTORIALS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code and not any(cell.outputs or cell.execution_count for cell in code), path.name
