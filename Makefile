# Two commands do everything on a fresh machine:
#   make run   - create .venv, install, build the missing models of the zoo, then serve them
#   make test  - create .venv, install, lint, run the default test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
PRESET ?= quick
STAMP  := $(VENV)/.installed

.PHONY: venv run build serve test test-slow lint format protos bench-quality clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

build: venv
	$(BIN)/attentive build --preset $(PRESET)

run: build
	$(BIN)/attentive serve

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy attentive taxonomy training export server benchmarks

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: venv lint
	$(PY) -m pytest -q -p no:cacheprovider

test-slow: venv
	$(PY) -m pytest -q -m slow

protos: venv
	$(PY) -m protos.generate

bench-quality: venv
	$(BIN)/attentive bench quality --preset full

clean:
	rm -rf $(VENV) model_repository runs results
