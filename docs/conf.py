"""Sphinx configuration.

Build (from the repository root, after ``pip install -e ".[docs]"``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The examples gallery (``examples/``) and the tutorial notebooks (``docs/tutorials/``)
are executed during the build; ``-D plot_gallery=0 -D nb_execution_mode=off`` skips both
for a quick look at the text. Links to kikuchipy, orix, hyperspy, dask, torch, numpy and
matplotlib need their inventories from the internet: without a network they are left
out (the build passes, those names are shown unlinked); ``KIKUCHIPY_GEN_DOCS_INTERSPHINX=0``
leaves them out always, ``=1`` requires them.
"""

import os
import socket
from datetime import date

import kikuchipy_gen

project = "kikuchipy-gen"
author = "kikuchipy-gen developers"
copyright = f"{date.today().year}, {author}"
version = release = kikuchipy_gen.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_nb",
]
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "reports/table1/table1.md",
    "examples/*.ipynb",
    "examples/*/*.ipynb",
    "**.ipynb_checkpoints",
]
# myst-nb reads Markdown (the roadmap) and executes notebooks (the tutorials)
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# -- API reference: one page per public name, classes list their own members ----------
autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_default_options = {"show-inheritance": True}
autodoc_typehints = "none"  # numpydoc's Parameters section carries the types
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
# Every public function and class has a docstring (GL08) with an Examples section (EX01),
# as kikuchipy enforces it, and so do the methods and attributes of the classes, except
# fields of dataclasses (documented in their class's Parameters) and torch's ``training``.
numpydoc_validation_checks = {"GL08", "EX01"}
numpydoc_validation_exclude = {
    r"^kikuchipy_gen\.models\.(config\.)?(ModelConfig|ConvDecoderConfig|GeometricDecoderConfig|TrainConfig)"
    r"\.(?!to_dict$|from_dict$)\w+$",
    r"^kikuchipy_gen\.models\.(networks\.)?(Encoder|Decoder|CriticClassifier)\.training$",
    r"^kikuchipy_gen\.losses\.AdaptiveKL\.(upper|lower|high|mid|low)$",
    r"^kikuchipy_gen\.evaluation\.(\w+\.)?(EvaluationResult|EnergyResult|VoltageMatrix)"
    r"\.(?!to_dict$|from_dict$|to_json$|to_markdown$|write$)\w+$",
}

# -- Links to the ecosystem -------------------------------------------------------------
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "matplotlib": ("https://matplotlib.org/stable", None),
    "dask": ("https://docs.dask.org/en/stable", None),
    "torch": ("https://docs.pytorch.org/docs/stable", None),
    "hyperspy": ("https://hyperspy.org/hyperspy-doc/current", None),
    "orix": ("https://orix.readthedocs.io/en/stable", None),
    "kikuchipy": ("https://kikuchipy.org/en/stable", None),
}
intersphinx_timeout = 5


def _online(host: str = "kikuchipy.org") -> bool:
    try:
        socket.create_connection((host, 443), timeout=3).close()
    except OSError:
        return False
    return True


# Sphinx warns (and -W fails) when an inventory cannot be fetched, and that warning
# cannot be suppressed: without a network (the CI machine) the mapping is dropped.
# KIKUCHIPY_GEN_DOCS_INTERSPHINX=0 / 1 decides instead of the probe.
_intersphinx = os.environ.get("KIKUCHIPY_GEN_DOCS_INTERSPHINX")
if _intersphinx == "0" or (_intersphinx is None and not _online()):
    intersphinx_mapping = {}

# -- Examples gallery (sphinx-gallery) ------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "examples",
    # Every script runs at build time except the dataset builder (minutes, needs de-ebsd)
    "filename_pattern": r"^((?!ni_five_voltages).)*$",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "show_memory": False,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "min_reported_time": 1,
}

# -- Tutorials (myst-nb) ----------------------------------------------------------------
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_in_temp = True  # files a notebook writes do not land in docs/
nb_execution_show_tb = True

# -- HTML -------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"kikuchipy-gen {version}"
html_theme_options = {
    "github_url": None,
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "icon_links": [
        {"name": "kikuchipy", "url": "https://kikuchipy.org", "icon": "fa-solid fa-k", "type": "fontawesome"},
    ],
}
html_static_path = []
