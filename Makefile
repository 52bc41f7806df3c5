# Sovetnik: `make run` starts the product, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SOVETNIK := $(VENV)/bin/sovetnik
STAMP := $(VENV)/.installed
# torch is installed first and pinned: an unpinned torch pulls GBs of CUDA packages.
TORCH_PIN := torch==2.13.0
TORCH_PIP_ARGS ?=

.PHONY: install index run test lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is required (set PYTHON=python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q $(TORCH_PIP_ARGS) $(TORCH_PIN)
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

index: install
	$(SOVETNIK) kb ingest knowledge/docs

run: index
	@echo "Web chat: http://127.0.0.1:8080/   Console: http://127.0.0.1:8080/console"
	@echo "(console accounts: $(SOVETNIK) users add NAME --role manager|admin; stop with Ctrl+C)"
	$(SOVETNIK) serve

test: install
	$(VENV)/bin/ruff check bots agents knowledge pipelines store tests benchmarks
	$(VENV)/bin/mypy bots agents knowledge pipelines store
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check bots agents knowledge pipelines store tests benchmarks
	$(VENV)/bin/mypy bots agents knowledge pipelines store

clean:
	rm -rf $(VENV) var .pytest_cache
