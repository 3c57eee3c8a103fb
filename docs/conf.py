"""Sphinx configuration: ``pip install -e .[docs] && sphinx-build docs docs/_build``."""

project = "kikuchipy-gen"
author = "kikuchipy-gen developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc"]
autosummary_generate = True
numpydoc_show_class_members = False
html_theme = "pydata_sphinx_theme"
exclude_patterns = ["_build"]
