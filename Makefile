# Everything runs inside .venv, created on first use from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000

.PHONY: run test install clean audio test-postgres

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Development server: signatures are not checked (IVR_DEV_INSECURE=1) and the clinic
# number is a demo one unless CLINIC_PHONE_NUMBER is already set.
run: install
	IVR_DEV_INSECURE=1 CLINIC_PHONE_NUMBER=$${CLINIC_PHONE_NUMBER:-+12145550100} \
		$(BIN)/flask --app app run --port $(PORT)

# Record every prompt with gTTS into audio/ (needs internet; see audio/README.md).
# Building reads the scripts only, so no Twilio token is needed here.
audio: install
	IVR_DEV_INSECURE=1 $(BIN)/flask --app app build-audio

test: install
	$(BIN)/python -m pytest

# The call log's tests against a real PostgreSQL: Debian's postgresql package (installed if
# missing, as root) runs a throwaway cluster in a temporary folder.
test-postgres: $(VENV)/.postgres
	bash tests/with-postgres.sh $(BIN)/python -m pytest tests/test_calllog.py

$(VENV)/.postgres: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
