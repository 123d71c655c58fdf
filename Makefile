# Two commands do all the set-up on a fresh machine:
#   make demo   - the end-to-end robustness study on the built-in synthetic data set
#   make test   - lint + the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch/torchvision are installed first and separately so that users elsewhere can pick their build:
#   make demo TORCH_SPEC="torch torchvision --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed
STUDY_ARGS ?=

.PHONY: demo demo-quick demo-full test lint venv clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch, torchvision" 2>/dev/null || $(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) tools/study.py configs/synthetic/study.yaml $(STUDY_ARGS)

demo-full: $(STAMP)
	$(PY) tools/study.py configs/synthetic/study.yaml --full $(STUDY_ARGS)

demo-quick: $(STAMP)
	$(PY) tools/study.py configs/synthetic/study.yaml --quick $(STUDY_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check videoabnn tools tests benchmarks datasets

test: lint
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) work_dirs .pytest_cache .ruff_cache
