# Two commands do all set-up on a fresh machine with Python 3.11: `make run`, `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run central test lint chromium postgres bench heads api-fuzz clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# `make run MACHINE=vending`: the engine as an MDB coin changer in a virtual vending
# machine instead of a ccTalk acceptor in a parking machine.
MACHINE ?= parking

run: $(STAMP)
	$(BIN)/coinval run $(if $(filter vending,$(MACHINE)),--mdb)

# A fleet's central calibration service on a PostgreSQL cluster of its own under
# .coinval/central (made on first use, kept), until Ctrl-C: `make central WORKERS=4`.
WORKERS ?= 2

central: $(STAMP) postgres
	$(BIN)/coinval central --workers $(WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The console's browser tests drive Debian's chromium through Playwright (Playwright's own
# browser downloads are not reachable here): install it when missing, saying so. If that
# fails the tests that need it are skipped, naming the package.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; else \
		echo "make: Debian's chromium is missing (the console's browser tests need it): apt-get install -y chromium"; \
		if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
		{ $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
			&& echo "make: chromium installed: $$(command -v chromium)" \
			|| echo "make: could not install chromium: the browser tests will be skipped (apt-get install -y chromium)"; \
	fi

# The calibration tests run on SQLite and on PostgreSQL: the tests start a throwaway
# cluster of their own (a free loopback port, removed after the run) with the machine's
# server binaries, or use COINVAL_TEST_PG_URL. Install Debian's server when missing; if
# that fails the PostgreSQL tests are skipped, saying why.
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
		|| [ -n "$$COINVAL_TEST_PG_URL" ]; then :; else \
		echo "make: PostgreSQL's server is missing (the store tests need it): apt-get install -y postgresql"; \
		if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
		{ $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
			&& echo "make: PostgreSQL installed: $$(ls -d /usr/lib/postgresql/*/bin)" \
			|| echo "make: could not install PostgreSQL: its store tests will be skipped (apt-get install -y postgresql)"; \
	fi

# The suite in two processes (pytest-xdist, one module's tests in one process): it waits
# on pseudo-terminals, servers and subprocesses more than it computes, so two cores run it
# in about half the time. `make test PYTEST_WORKERS=0` runs it in one.
PYTEST_WORKERS ?= 2

test: lint chromium postgres
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope

# The speed and accuracy report under reports/: every figure measured by this run.
# The bench extras add matplotlib (plots) and scikit-learn (baselines).
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,plots,baselines]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) chromium
	@mkdir -p reports
	COINVAL_BENCH_BIG=1 $(BIN)/python -m pytest benchmarks --benchmark-enable \
		--benchmark-json=reports/benchmark.json -p no:cacheprovider -q
	$(BIN)/coinval bench speed reports/benchmark.json reports/speed.md
	$(BIN)/coinval bench scaling reports/benchmark.json reports
	$(BIN)/coinval evaluate --n 2000 --teach-batches 5,6,7,8 --progress never --out reports/accuracy.md > /dev/null
	$(BIN)/coinval evaluate --n 2000 --teach-batches 5,6,7,8 --security narrow --progress never --out reports/accuracy-narrow.md > /dev/null
	$(BIN)/coinval evaluate --n 2000 --teach-batches 5,6,7,8 --wear 1 --dirt 1 --progress never --out reports/accuracy-stress.md > /dev/null
	$(BIN)/coinval evaluate --n 2000 --teach-batches 5,6,7,8 --teach-n 25 --progress never --out reports/accuracy-teach25.md > /dev/null
	$(BIN)/coinval evaluate --n 2000 --teach-batches 0 --progress never --out reports/accuracy-launch.md > /dev/null
	$(BIN)/coinval evaluate --n 2000 --teach-batches 5,6,7,8 --head phys2:seed:20261126 --progress never --out reports/accuracy-phys2.md > /dev/null
	$(BIN)/coinval bench accuracy --n 2000 --teach-batches 5,6,7,8 --progress never --out-dir reports
	$(BIN)/coinval bench probe --out reports/probe.md
	$(BIN)/coinval bench ceiling --out reports/ceiling.md
	$(BIN)/coinval bench summary reports
	$(BIN)/python -m benchmarks.console_screenshots reports/console
	@echo "report: reports/summary.md reports/speed.md reports/scaling.md reports/scaling.png" \
		"reports/accuracy*.md reports/k2*.png reports/accuracy-vs-baselines.md" \
		"reports/accuracy-det.png reports/probe.md reports/ceiling.md" \
		"reports/benchmark.json reports/console/*.png"

# The accuracy trial on 59 simulated heads, taught from circulation and at a launch (~9 min).
heads: $(STAMP)
	@mkdir -p reports
	$(BIN)/coinval bench heads --teach-batches 0,9,10,11 --out reports/heads.md
	$(BIN)/coinval bench heads --teach-batches 0 --out reports/heads-launch.md

# Every operation of the calibration API's OpenAPI schema, many generated requests each: no 5xx.
api-fuzz: $(STAMP)
	COINVAL_FUZZ_EXAMPLES=$${COINVAL_FUZZ_EXAMPLES:-200} $(BIN)/python -m pytest \
		tests/calibration/test_api_schema_fuzz.py -p no:cacheprovider -q

clean:
	rm -rf $(VENV) build *.egg-info
