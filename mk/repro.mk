# Reproductions of issue 17 item 4 (analysis/repro.py, rkky_mc/analysis/repro.py; results and
# budgets in analysis/README.md, "Chirality and DM reproductions"). Resumable: run again to
# continue (finished run files are skipped). QUICK=1 variants run inside `make validate`.
#   make repro-ea-heisenberg          3D EA Gaussian Heisenberg, L = 4, 6, 8 × 128 samples:
#                                     spin and chiral ξ_L/L crossings vs T_SG = 0.131,
#                                     T_CG = 0.142 (Ogawa et al. 2020); ≈ 1.1–1.5 h on 2 cores
#   make repro-ea-heisenberg QUICK=1  L = 4, 6 × 32 samples, ≤ 10 min (measured 2 min 50 s)
#   make repro-rkky-dm                dilute RKKY Heisenberg c = 5 %, L = 4, 6, 8 × 128 samples,
#                                     DM off / random / fert_levy at rms|D|/rms|J| = 0.05, 0.2;
#                                     ≈ 1.1 h on 2 cores
#   make repro-rkky-dm QUICK=1        L = 4, 6 × 24 samples, ≤ 10 min (measured 2 min 51 s)
#   make repro-plan [QUICK=1]         print both plans (sets, L, N, samples, ladder, schedule)
# -> runs/out/repro_<name>[_quick]/ (sweep files in specs/), analysis/out/repro_<name>[_quick]/
#    results.csv, results.md, xi_over_L.png, timing.json (rkky-dm: dm_ratios.csv), analyze_<set>/

REPRO_FLAGS := $(if $(QUICK),--quick,)

.PHONY: repro-ea-heisenberg repro-rkky-dm repro-plan repro-quick

repro-ea-heisenberg: $(VENV)/.installed-test
	$(PY) analysis/repro.py ea-heisenberg $(REPRO_FLAGS) --jobs $(SWEEP_JOBS) --sweep-args '--quiet $(SWEEP_ARGS)'

repro-rkky-dm: $(VENV)/.installed-test
	$(PY) analysis/repro.py rkky-dm $(REPRO_FLAGS) --jobs $(SWEEP_JOBS) --sweep-args '--quiet $(SWEEP_ARGS)'

repro-plan: $(VENV)/.installed
	$(PY) analysis/repro.py ea-heisenberg $(REPRO_FLAGS) --plan
	$(PY) analysis/repro.py rkky-dm $(REPRO_FLAGS) --plan

# the QUICK variants one after the other (make validate)
repro-quick:
	$(MAKE) repro-ea-heisenberg QUICK=1
	$(MAKE) repro-rkky-dm QUICK=1
