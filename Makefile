# Every target bootstraps .venv on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

# Two `make test` at once (a loaded machine, a developer and CI) must not install into the
# venv while the other one runs tests from it: one installs under a lock, the other waits and
# then finds the stamp fresh.
$(STAMP): pyproject.toml
	@flock .venv.lock sh -c '\
	  if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ]; then exit 0; fi; \
	  set -e; \
	  test -x $(BIN)/python || $(PY) -m venv $(VENV); \
	  $(BIN)/python -m pip install --quiet --upgrade pip; \
	  $(BIN)/python -m pip install --quiet -e ".[dev]"; \
	  touch $(STAMP)'

demo: $(STAMP)
	$(BIN)/python -m uploader demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check uploader tests benchmarks
	$(BIN)/ruff format --check uploader tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .venv.lock runs .pytest_cache .mypy_cache .ruff_cache
