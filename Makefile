# Two commands on a fresh machine: `make demo` installs everything and runs the
# main job on the shipped model; `make test` installs and runs the tests
# (.ci/run calls it). `make docs` builds the documentation (warnings are errors).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test docs

install: $(STAMP)

# The CPU wheel of torch first, so that no dependency pulls a multi-GB CUDA
# build; reinstalled when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[tests,dynamical]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/kikuchipy-gen demo --out demo_output

# Two workers, whole modules each: the CI machine has two cores (tests/conftest.py
# hands out the longest modules first and gives each worker one thread).
test: install
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

docs: install
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html
