# Conveniences over the two README commands. `make help` lists them.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help install repro quick test readme dag

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/dvc: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/dvc  ## create .venv and install the project with its test extras

repro: install  ## run the whole pipeline at the committed settings (dvc repro)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc repro

quick: install  ## every stage on small settings in a temporary copy; committed results untouched
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m mnist_ae.sandbox

test: install  ## the test suite, including a tiny end-to-end dvc repro
	$(BIN)/pytest

readme: install  ## copy reports/results.md into README.md's results section
	$(BIN)/python stages/report.py --readme README.md

dag: install  ## print the stage graph as markdown
	$(BIN)/dvc dag --md
