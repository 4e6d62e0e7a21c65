# fashioncaffe — every experiment is a target.  `make help` lists them.
# The first target run creates .venv and installs what the project needs (torch: the CPU build on
# machines without an NVIDIA driver, the CUDA build where one is present).

SHELL      := /bin/bash
PYTHON     ?= python3
VENV       ?= .venv
PY         := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
SCALE      ?= tiny
DATA       ?= synthetic
GPU        ?=
SEEDS      ?=
VARIANTS   ?=
WEIGHTS    ?=
FORCE      ?=
# pip arguments for torch; override e.g. TORCH_SPEC="torch --index-url <your CPU wheel index>"
TORCH_SPEC ?= $(shell if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; \
                then echo "torch>=2.1"; else echo "torch==2.13.0"; fi)

.DEFAULT_GOAL := help

help: ## list the targets with a one-line description
	@echo "fashioncaffe targets (variables: SCALE=ci|tiny|small|full DATA=synthetic|<path> SEEDS=\"1 2 3\" GPU=<ids> VARIANTS=a,b WEIGHTS=<caffemodel> FORCE=1)"
	@{ grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "%s\t%s\n", $$1, $$2}'; \
	   $(foreach p,$(PAPERS),$(call paper_help,$(p))) } | sort -u | \
	  awk 'BEGIN {FS = "\t"}; {printf "  \033[1m%-22s\033[0m %s\n", $$1, $$2}'

$(VENV_STAMP): setup.cfg pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo ">> installing into $(VENV) (torch: $(TORCH_SPEC))"
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	@# compat editable mode puts the checkout itself on sys.path, so the `caffe` shim package is a
	@# regular package there and wins over a stray `caffe` folder without __init__ earlier on the path
	@$(PY) -m pip install -q -e ".[test]" --config-settings editable_mode=compat
	@touch $@

install: $(VENV_STAMP) ## create .venv and install fashioncaffe with its dependencies

test: $(VENV_STAMP) ## the fast test suite (what CI runs)
	$(PY) -m pytest -q -m "not slow and not gpu" -p no:cacheprovider

test-all: $(VENV_STAMP) ## every test, the slow ones included (GPU tests run where CUDA is present)
	$(PY) -m pytest -q -p no:cacheprovider

reference: $(VENV_STAMP) ## replay the BVLC Caffe reference cases (tests/caffe_reference, recorded with real BVLC Caffe)
	$(PY) tests/caffe_reference/check.py --module fashioncaffe

clean: ## delete everything the targets generated (runs/: data, trainings, tables, demo) and Python caches; keeps .venv
	rm -rf runs build dist .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## clean, and delete the virtual environment (.venv) too
	rm -rf $(VENV)

include mk/paper.mk
-include mk/data.mk $(sort $(wildcard mk/paper[0-9]*.mk))

.PHONY: help install test test-all reference clean distclean

demo: $(VENV_STAMP) ## the main job: tiny synthetic wardrobe → LMDB → train paper 000 multi-weight → mAP@50 table → ONNX → onnxruntime
	$(PY) -m tools.demo --out runs/demo

.PHONY: demo

SEARCH_PORT ?= 8004
search-demo: $(VENV_STAMP) ## paper 004's fashion search as a web app on http://127.0.0.1:$(SEARCH_PORT) (trains the tiny model first if none exists)
	PYTHONPATH="$(CURDIR)" $(PY) -m tools.search_app --data $(DATA) --scale $(SCALE) --port $(SEARCH_PORT)

.PHONY: search-demo
