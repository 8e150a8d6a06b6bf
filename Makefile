# Every target does its own set-up: a fresh clone needs only Python 3.10+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-integration test-gpu test-slow lint compare clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## The main job on the embedded demo: House Prices, strong recipe, 5-fold CV, validated submission.
demo: install
	$(BIN)/python scripts/make_demo.py house_prices
	$(BIN)/python scripts/run.py house_prices

## The default test suite (fast; end-to-end runs: `make test-integration`; slow tests: `make test-slow`).
test: install
	$(BIN)/python -m pytest -n 2

## End-to-end runs: notebooks, kill and resume, torchrun, determinism of the image recipes.
test-integration: install
	$(BIN)/python -m pytest -n 2 -m integration

## CUDA correctness and the device benchmark, on a machine with a GPU (skipped without one).
test-gpu: install
	$(BIN)/python -m pytest -m gpu tests/test_gpu.py
	$(BIN)/python scripts/bench_gpu.py

test-slow: install
	$(BIN)/python -m pytest -m slow

lint: install
	$(BIN)/ruff check .

## Baseline vs linear vs gbm vs AutoML on the House Prices demo.
compare: install
	$(BIN)/python scripts/make_demo.py house_prices
	$(BIN)/python scripts/compare.py house_prices

clean:
	rm -rf runs .pytest_cache
