# rkky_mc — set-up, demo run and tests. Every target creates/refreshes the venv it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# numba's compiled kernels are cached here (survives between runs, not committed)
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache

.PHONY: all install run test validate bench clean

all: test

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make run: the demo job (runs/demo.toml) -> runs/out/demo.h5
run: $(STAMP)
	$(VENV)/bin/rkky-mc run runs/demo.toml --overwrite

## make test: the fast test suite (minutes on 2 cores)
test: $(STAMP)
	$(PY) -m pytest -q

## make validate: long physics validations (pytest -m slow)
validate: $(STAMP)
	$(PY) -m pytest -q -m slow

## make bench: spin-update throughput on this machine
bench: $(STAMP)
	$(VENV)/bin/rkky-mc bench

clean:
	rm -rf $(VENV) .numba_cache runs/out *.egg-info
