PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install test lint bench bench-smoke

install:
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'

test:
	bash tests/run.sh

lint:
	ruff check engine tests

bench:
	$(PYTHON) -m bench.run

bench-smoke:
	$(PYTHON) -m bench.run --smoke
