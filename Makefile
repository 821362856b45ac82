PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install test test-fast test-browser browser lint bench bench-deps bench-smoke wrk

install:
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'

# The whole suite on two workers (PostgreSQL started for the scale-out tests).
test:
	bash tests/run.sh -n 2

# The inner loop: no PostgreSQL, no slow or real-time-waiting tests, no browser; a few dozen
# Hypothesis examples a property; bytecode cached between runs (assertion rewriting is most of
# collection); three workers on two cores so tests that wait on a real clock overlap.
test-fast:
	env -u PYTHONDONTWRITEBYTECODE ENGINE_TEST_PROFILE=fast \
	  $(PYTHON) -m pytest -n 3 -m "not slow and not postgres and not browser"

# The console's browser tests (Debian's chromium + chromedriver, installed when missing).
test-browser: browser
	$(PYTHON) -m pytest tests/console

browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1) ; } || \
	  echo "chromium or chromedriver not installed: the browser tests skip (and fail under CI=true)"

lint:
	ruff check engine sandbox tests bench
	mypy

bench: wrk bench-deps browser
	$(PYTHON) -m bench.run

# dlt and duckdb for the durable-pull comparison (the `bench` extra); without them that
# benchmark's row says how to install them.
bench-deps:
	@$(PYTHON) -c "import dlt, duckdb" >/dev/null 2>&1 || $(PIP) install --quiet -e '.[bench]' || \
	  echo "dlt/duckdb not installed: the dlt comparison reports itself unavailable (pip install -e '.[bench]')"

# The webhook benchmark's load generator; without it (not root, no apt-get) the benchmark falls
# back to its Python client.
wrk:
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1) ; } || \
	  echo "wrk not installed: the webhook benchmark uses its Python client"

bench-smoke:
	$(PYTHON) -m bench.run --smoke
