# Everything runs inside .venv, created on first use from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000

.PHONY: run test install clean audio test-postgres test-proxy test-clock browser check simulate diagram bench fuzz

# make check and make simulate end with the staff command's own exit code 1 (errors), as the staff
# guide says, without make's "make: *** ... Error 1" line: in question mode (-q) make runs only the
# recipe lines marked "+", and exits 1, silently, when one exits 1 (otherwise make would exit 2).
# Only when every goal is one of these, since question mode runs no unmarked line.
STAFF_GOALS := check simulate
ifneq ($(MAKECMDGOALS),)
ifeq ($(filter-out $(STAFF_GOALS),$(MAKECMDGOALS)),)
MAKEFLAGS += -q
endif
endif

# pip prints only its errors (-qq).
PIP := $(BIN)/python -m pip --quiet --quiet --disable-pip-version-check

# The packages are installed again whenever pyproject.toml differs from the copy kept by the last
# install: compared by content, not by date, since a copied tree or an old .venv can carry dates
# that make an out-of-date .venv look current.
INSTALLED := $(VENV)/installed-pyproject.toml

# "+": it runs before make check and make simulate too (see STAFF_GOALS).
install:
	+@if ! cmp -s pyproject.toml $(INSTALLED); then \
		echo "Setting up $(VENV) with the packages in pyproject.toml (the first time takes about three minutes)." && \
		$(PYTHON) -m venv $(VENV) && \
		$(PIP) install --upgrade pip && \
		$(PIP) install -e '.[test]' && \
		cp pyproject.toml $(INSTALLED); \
	fi

# Development server: signatures are not checked (IVR_DEV_INSECURE=1) and the clinic
# number is a demo one unless CLINIC_PHONE_NUMBER is already set.
run: install
	@echo "The line in development mode: open http://127.0.0.1:$(PORT)/ (the preview: a phone keypad that"
	@echo "walks the real menus). Twilio's webhook is http://127.0.0.1:$(PORT)/voice. Ctrl-C stops it."
	@IVR_DEV_INSECURE=1 CLINIC_PHONE_NUMBER=$${CLINIC_PHONE_NUMBER:-+12145550100} \
		$(BIN)/flask --app app run --port $(PORT)

# Record every prompt with gTTS into audio/ (needs internet; see audio/README.md). No Twilio token needed.
audio: install
	$(BIN)/flask --app app build-audio

# On every CPU (pytest-xdist): each twiml crawl stays in one process (--dist loadgroup, see
# tests/test_twiml_conformance.py). The 15 slowest tests are listed at the end (pyproject.toml).
test: install browser
	$(BIN)/python -m pytest -n auto --dist loadgroup

# The whole suite as if it ran at times when clock-dependent tests have broken: a weekday 10:00 and
# 20:00 in Dallas, a Saturday, Christmas Eve, and the two nights the clocks change (each run starts two
# minutes before). time-machine moves the process's clock (tests/conftest.py, IVR_TEST_CLOCK); make
# test must pass at any hour, and this shows it. Not for CI: it runs the suite six times.
CLOCK_TIMES := 2026-12-08T16:00 2026-12-09T02:00 2026-12-12T17:00 2026-12-24T16:00 2027-03-14T07:58 \
	2027-11-07T06:58
test-clock: install browser
	@for time in $(CLOCK_TIMES); do \
		echo "== make test as if it were $$time UTC"; \
		IVR_TEST_CLOCK=$$time $(BIN)/python -m pytest -q -p no:cacheprovider -n auto --dist loadgroup || exit 1; \
	done

# A long random search for inputs that break a webhook (make test runs a fixed set). Not for CI:
# each run draws new data. A failure prints the example to add to tests/test_fuzz.py.
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/test_fuzz.py -x

# The database's tests (call log, migrations) against a real PostgreSQL: Debian's postgresql
# package (installed if missing, as root) runs a throwaway cluster in a temporary folder.
DATABASE_TESTS := tests/test_calllog.py tests/test_calllog_faults.py tests/test_migrations.py \
	tests/test_voicemail_email.py tests/test_database_budget.py tests/test_language_memory.py \
	tests/test_text_messages.py tests/test_callbacks.py
test-postgres: install
	@$(PIP) install -e '.[test,postgres]'
	bash tests/with-postgres.sh $(BIN)/python -m pytest $(DATABASE_TESTS)

# Debian's nginx (deploy/nginx-proxy.conf) in front of gunicorn on loopback, attacked with huge and
# slow requests while a signed /voice is timed (tests/proxy_load.py). nginx is installed here when
# missing and we are root, without starting Debian's own nginx service (policy-rc.d).
test-proxy: install
	@if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing nginx (apt-get) for the proxy test"; \
			made=; if [ ! -e /usr/sbin/policy-rc.d ]; then \
				printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made=1; \
			fi; \
			apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null; \
			status=$$?; [ -z "$$made" ] || rm -f /usr/sbin/policy-rc.d; [ $$status = 0 ] || exit $$status; \
		else \
			echo "nginx is missing: install it (sudo apt-get install nginx) or run make test-proxy as root"; exit 1; \
		fi; \
	fi
	$(BIN)/python tests/proxy_load.py

# The preview page is tested in a real browser: Debian's chromium and chromium-driver, installed
# here when missing and we are root (CI, fresh machines). Otherwise that test skips and says why.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing chromium and chromium-driver (apt-get) for the preview page's browser test"; \
			apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
				chromium chromium-driver >/dev/null; \
		else \
			echo "chromium/chromedriver missing and not root: the browser test will be skipped"; \
		fi; \
	fi

# Staff tools (docs/editing-scripts.md). None needs a Twilio token. make check ARGS="--menus FOLDER"
check: install
	+@$(BIN)/flask --app app check $(ARGS)

# make simulate ARGS="--lang es --keys 2,1,*,0"
simulate: install
	+@$(BIN)/flask --app app simulate $(ARGS)

diagram: install
	@$(BIN)/flask --app app diagram --update README.md

# Not a test: the seconds a caller listens before each summary, how well spoken questions are
# matched, CPU per webhook in-process, what key 5 adds to a webhook, then load under gunicorn (about a minute each). Each prints
# its numbers and fails if it misses its target (see docs/performance.md).
bench: install
	$(BIN)/python bench/time_to_information.py; tti=$$?; \
	$(BIN)/python bench/questions.py; questions=$$?; \
	$(BIN)/python bench/breakdown.py; cpu=$$?; \
	$(BIN)/python bench/to_your_phone.py 2>/dev/null; \
	$(BIN)/python bench/run.py && exit $$((tti || questions || cpu))

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
