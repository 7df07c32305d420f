# rkky_mc — set-up, demo run and tests. Every target creates/refreshes the venv it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RKKY   := $(VENV)/bin/rkky-mc
# numba's compiled kernels are cached here (survives between runs, not committed)
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache

.PHONY: all install install-test run test validate bench clean

all: test

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# the package alone (make run; matplotlib included), and with the extras the tests exercise:
# pytest/pytest-xdist/scipy/xarray/pandas/ruff, mpi4py + the mpich wheel for `sweep --mpi`.
# numpy, numba and llvmlite are pinned by constraints.txt: the versions tests/digests.json
# was made with
$(VENV)/.installed: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,mpi]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## make run: the demo job (runs/demo.toml) -> runs/out/demo.h5
run: $(VENV)/.installed
	$(RKKY) run runs/demo.toml --overwrite

## make test: lint, then the fast test suite over both cores
test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check rkky_mc tests analysis
	$(PY) -m pytest -q -n 2

## make validate: long physics validations (pytest -m slow), then the QUICK reproductions
## of issue 17 (mk/repro.mk: repro-ea-heisenberg and repro-rkky-dm with QUICK=1, ≤ 10 min each)
validate: $(VENV)/.installed-test
	$(PY) -m pytest -q -m slow
	$(MAKE) repro-quick

## make bench: spin-update throughput on this machine (with peapods 0.2.0 for the EA
## comparison where a wheel exists; numpy stays at the pinned version)
bench: $(VENV)/.installed
	@$(PY) -m pip install --quiet -c constraints.txt peapods==0.2.0 2>/dev/null \
	  || echo "make bench: peapods 0.2.0 does not install here; its comparison is skipped"
	$(RKKY) bench

clean:
	rm -rf $(VENV) .numba_cache runs/out *.egg-info

# sweep and analysis targets live in mk/*.mk
-include $(wildcard mk/*.mk)
