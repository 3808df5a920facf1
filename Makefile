# The two front-door commands are `make run` and `make test`; each sets itself up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint install clean screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/orchdash run

lint: $(STAMP)
	$(BIN)/ruff check dashboard queries tests
	$(BIN)/ruff format --check dashboard queries tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	bash tests/system-packages.sh
	$(BIN)/pytest -m "not bench"

# The README's screenshots, taken by the browser tests (which otherwise keep them out of the tree).
screenshots: $(STAMP)
	ORCHDASH_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest -m browser tests/e2e/test_pages.py tests/e2e/test_screens.py tests/e2e/test_digest_browser.py

# Then the pages and the live table again on Debian's PostgreSQL 15 with its defaults, at 1M rows.
bench: $(STAMP)
	$(BIN)/pytest -m bench -s $(wildcard tests/bench) tests/security
	bash tests/bench/pg15.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
