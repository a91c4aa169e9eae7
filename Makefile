# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(VENV)/bin/python setup.cfg pyproject.toml
	$(PY) -m pip install -q -e '.[dev,durable,pg]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/cdrflow demo

test: $(STAMP)
	$(VENV)/bin/cdrflow lint rules mappings
	@$(PY) -m pytest -n 2 -q; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo 'pytest ran no tests: failing' >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/cdrflow lint rules mappings

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) var build *.egg-info
