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
.PHONY: soak

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

build: venv
	$(BIN)/attentive build --preset $(PRESET)

# make run serves what it can: a model whose datasets cannot be fetched is named, with how to
# place them, and skipped; make build stays strict.
run: venv
	$(BIN)/attentive build --preset $(PRESET) --skip-missing-data
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

# Load and soak (not part of `make test`): SOAK_CLIENTS clients for SOAK_SECONDS against a server
# on SOAK_REPOSITORY (built with PRESET first if missing), then the same load for SOAK_RSS_SECONDS
# sampling the server's memory. Figures: results/soak.json and results/soak-rss.json.
SOAK_REPOSITORY  ?= model_repository
SOAK_CLIENTS     ?= 64
SOAK_SECONDS     ?= 60
SOAK_RSS_SECONDS ?= 600

soak: venv
	@test -d $(SOAK_REPOSITORY) || $(BIN)/attentive build --preset $(PRESET) --repository $(SOAK_REPOSITORY)
	$(PY) -m benchmarks.soak --repository $(SOAK_REPOSITORY) --clients $(SOAK_CLIENTS) \
		--duration $(SOAK_SECONDS) --out results/soak.json
	$(PY) -m benchmarks.soak --repository $(SOAK_REPOSITORY) --clients $(SOAK_CLIENTS) \
		--duration $(SOAK_RSS_SECONDS) --sample 5 --out results/soak-rss.json

bench-quality: venv
	$(BIN)/attentive bench quality --preset full

# Speed (not timed tests): onnxruntime vs PyTorch eager, served vs in-process, dynamic batching,
# cold start and RSS of the built repository (built with PRESET first if missing), the issue-8
# goals marked met / missed. Figures: results/perf/perf.{json,md}. E.g. PERF_ARGS="--provider cuda".
.PHONY: bench-perf
PERF_ARGS ?=
bench-perf: venv
	@test -d model_repository || $(BIN)/attentive build --preset $(PRESET)
	$(BIN)/attentive bench perf $(PERF_ARGS)

clean:
	rm -rf $(VENV) model_repository runs results
