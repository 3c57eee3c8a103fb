"""The tutorial notebooks run top to bottom in a fresh kernel (nbclient)."""

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "docs" / "tutorials").glob("*.ipynb"))


def test_there_are_tutorials():
    assert [p.name for p in TUTORIALS] == ["getting_started.ipynb"]


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path):
    notebook = nbformat.read(shutil.copy(path, tmp_path), as_version=4)
    # Files the notebook writes land in tmp_path, not in the repository.
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # The figures were drawn inline (the generated patterns and the IPF map).
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2
    text = "".join(o.get("text", "") for o in outputs)
    assert "refined: median" in text
