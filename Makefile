# The two commands of the README's quick start are `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The one version source: pyproject.toml. The image's tag and label are derived from it.
VERSION := $(shell awk -F'"' '/^version = "/ { print $$2; exit }' pyproject.toml)

.PHONY: demo test lint typecheck unit system-deps bench image clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: simulator, exporter, agent (and Prometheus when installed); prints the URLs to open
demo: $(STAMP)
	$(BIN)/python scripts/demo.py

## test: everything CI runs, installing what the tests need first
test: $(STAMP) system-deps lint typecheck unit

system-deps:
	bash scripts/install-system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

## bench: the benchmark suite; tables on stdout, JSON under benchmarks/results/
bench: $(STAMP)
	$(BIN)/python -m benchmarks

## image: the container image, tagged and labelled with the version of pyproject.toml
image:
	docker build --build-arg VERSION=$(VERSION) -t runai-failure-analysis:$(VERSION) .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .demo
