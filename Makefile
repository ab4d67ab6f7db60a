# Two commands matter: `make run` puts the station on air, `make test` runs every test.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format bench clean chromium

run: $(VENV)/.installed
	$(BIN)/radio serve

test: $(VENV)/.installed-dev chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# Real-time stream tests run apart, so CPU-heavy tests (speech, analysis) cannot starve
	# the stations whose pace they measure; the browser tests last, a few at a time.
	$(BIN)/pytest -n 6 --dist loadgroup -m "not realtime and not browser"
	$(BIN)/pytest -n 6 --dist loadgroup -m "realtime and not browser"
	$(BIN)/pytest -n 3 --dist loadgroup -m browser

# The browser tests drive Debian's Chromium; Playwright never downloads a browser here.
chromium:
	@command -v chromium >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.installed-dev
	bash tests/bench/install.sh
	$(BIN)/python -m tests.bench.listeners
	$(BIN)/python -m tests.bench.playout
	$(BIN)/python -m tests.bench.scheduler
	$(BIN)/python -m tests.bench.speech
	$(BIN)/python -m tests.bench.board

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) state .pytest_cache .ruff_cache
