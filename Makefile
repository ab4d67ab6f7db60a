# Two commands matter: `make run` puts the station on air, `make test` runs every test.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test screenshots lint format bench clean chromium debian-ffmpeg stress-ng postgresql icecast2

run: $(VENV)/.installed
	$(BIN)/radio serve

# Every phase runs, even after one fails; the end lists the phases that failed (and the
# command fails). Real-time stream tests run apart, so CPU-heavy tests (speech, analysis)
# cannot starve the stations whose pace they measure; the browser tests last, a few at a
# time. The test that loads the machine on purpose (marked `alone`) runs by itself.
# `make test HOGS=2` runs it all beside two `stress-ng --cpu 2` (four busy cores'
# worth), stopped however the run ends: the suite must pass on a busy machine too.
HOGS ?= 0
# `make test DB=postgres` runs the same phases on PostgreSQL: the tests start a throwaway
# server of Debian's postgresql package themselves (tests/database.py). .ci/run runs both.
DB ?= sqlite
ifeq ($(filter $(DB),sqlite postgres),)
$(error DB must be sqlite or postgres, not "$(DB)")
endif
export RADIO_TEST_DATABASE := $(DB)
# Each phase names its slowest tests at the end (where the suite's time goes).
UNIT_TESTS := $(BIN)/pytest --durations=15 -n 6 --dist loadgroup -m "not realtime and not browser"
REALTIME_TESTS := $(BIN)/pytest --durations=15 -n 6 --dist loadgroup -m "realtime and not browser and not alone"
ALONE_TESTS := $(BIN)/pytest -m alone
BROWSER_TESTS := $(BIN)/pytest --durations=10 -n 3 --dist loadgroup -m browser
test: $(VENV)/.installed-dev chromium debian-ffmpeg icecast2 $(if $(filter-out 0,$(HOGS)),stress-ng) \
		$(if $(filter postgres,$(DB)),postgresql)
	@echo "== database: $(DB)"; hogs=""; trap 'kill $$hogs 2>/dev/null; wait' EXIT; trap 'exit 130' INT TERM; \
	for i in $$(seq 1 $(HOGS)); do \
		stress-ng --cpu 2 --timeout 3h --quiet & hogs="$$hogs $$!"; done; \
	[ -z "$$hogs" ] || echo "== CPU hogs (stress-ng --cpu 2) running:$$hogs"; \
	before=$$(git status --porcelain 2>/dev/null); failed=""; \
	phase() { name=$$1; shift; echo "== $$name: $$*"; "$$@" || failed="$$failed $$name"; }; \
	phase lint $(BIN)/ruff check .; \
	phase format $(BIN)/ruff format --check .; \
	phase layers $(BIN)/lint-imports --no-logo; \
	phase unit $(UNIT_TESTS); \
	phase realtime $(REALTIME_TESTS); \
	phase alone $(ALONE_TESTS); \
	phase browser $(BROWSER_TESTS); \
	after=$$(git status --porcelain 2>/dev/null); \
	if [ "$$before" != "$$after" ]; then \
		echo "== the run changed the checkout:"; echo "$$after"; failed="$$failed clean-checkout"; fi; \
	if [ -n "$$failed" ]; then echo "== make test FAILED:$$failed"; exit 1; fi; \
	echo "== make test: every phase passed"

# The browser tests write their screenshots in build/screenshots/ (git-ignored); this
# refreshes the ones the README shows.
screenshots: $(VENV)/.installed-dev chromium
	rm -rf build/screenshots
	$(BROWSER_TESTS)
	mkdir -p docs/screenshots
	cp build/screenshots/*.png docs/screenshots/

# $(call apt-install,PACKAGES): Debian's packages the tests need, installed with apt (after
# `sudo` when not root) by the targets below, each only when its check finds them missing.
apt-install = { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(1) >/dev/null; }

# The browser tests drive Debian's Chromium; Playwright never downloads a browser here.
chromium:
	@command -v chromium >/dev/null || $(call apt-install,chromium fonts-dejavu-core)

# Debian's ffmpeg and ffprobe: the tests' second reader of what the station writes (HLS
# segments, recordings), independent of the bundled ffmpeg the station itself runs.
debian-ffmpeg:
	@{ [ -x /usr/bin/ffmpeg ] && [ -x /usr/bin/ffprobe ]; } || $(call apt-install,ffmpeg)

# Debian's icecast2 for the relay and live-input tests, installed before the suite starts
# (tests/icecast.py's install, which the tests fall back on when run on their own).
icecast2: $(VENV)/.installed-dev
	@command -v icecast2 >/dev/null || $(BIN)/python -c \
		"from tests.icecast import icecast_binary; print('icecast2:', icecast_binary())"

# PostgreSQL for `make test DB=postgres` (only its programs: the tests run their own server).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || $(call apt-install,postgresql)

# CPU hogs for `make test HOGS=N`.
stress-ng:
	@command -v stress-ng >/dev/null || $(call apt-install,stress-ng)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.installed-dev
	bash tests/bench/install.sh
	$(BIN)/python -m tests.bench.listeners
	$(BIN)/python -m tests.bench.scaleout
	$(BIN)/python -m tests.bench.playout
	$(BIN)/python -m tests.bench.scheduler
	$(BIN)/python -m tests.bench.speech
	$(BIN)/python -m tests.bench.board
	$(BIN)/python -m tests.bench.soak --minutes 30
	RADIO_ARCHIVE_AGO=600 $(BIN)/pytest -m realtime tests/stream/test_archive_ten_minutes.py

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
