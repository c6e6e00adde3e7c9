# Each target installs what it needs into .venv first, so both work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/hcx --data-dir .demo demo

lint: install
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/gen_parties.py --check
	$(BIN)/python scripts/gen_envelope_vectors.py --check

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/validate.py --quick
	$(BIN)/python bench/normalise.py --quick
	$(BIN)/python bench/ledger.py --quick
	$(BIN)/python bench/federation.py --quick
	$(BIN)/python bench/taxii.py --quick
	$(BIN)/python bench/age.py --quick
	$(BIN)/python bench/evidence.py --quick
	$(BIN)/python bench/transfer.py --quick
	$(BIN)/python bench/psi.py --quick
	$(BIN)/python bench/indicators.py --quick
	$(BIN)/python bench/evidence_flow.py --quick

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
