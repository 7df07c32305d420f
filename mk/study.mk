# The T_g(c) study of dilute CuMn-like RKKY alloys (issue 19; analysis/study_tg.py,
# rkky_mc/analysis/study.py, results in analysis/README.md). Not part of `make test`.
#   make study-tg            the full study: c = 0.5, 1, 2, 4, 8 at.% × Ising, Heisenberg,
#                            4 sizes × 128 samples, plus a damped set (3 sizes × 64); several
#                            hours on 2 cores (analysis/README.md), resumable: run it again
#                            to continue (SWEEP_ARGS='--max-walltime 02:00:00' for a session)
#   make study-tg QUICK=1    smoke test of the pipeline (3 tiny sizes × 24 samples, short
#                            runs), ≤ 15 min on 2 cores; not physics
#   make study-tg-plan [QUICK=1]   print every (set, c, spin, L, N, samples, ladder)
# -> runs/out/study_tg[_quick]/ (sweep files in specs/), analysis/out/study_tg[_quick]/tg.csv,
#    slopes.csv, cost.csv, tg_c.png, tg_over_c.png, captions.md

STUDY_FLAGS := $(if $(QUICK),--quick,)

.PHONY: study-tg study-tg-plan

study-tg: $(VENV)/.installed-test
	$(PY) analysis/study_tg.py $(STUDY_FLAGS) --jobs $(SWEEP_JOBS) --sweep-args '--quiet $(SWEEP_ARGS)'

study-tg-plan: $(VENV)/.installed
	$(PY) analysis/study_tg.py $(STUDY_FLAGS) --plan
