# Parameter sweeps (rkky-mc sweep, docs/sweeps.md). Every target is restartable: re-running it
# skips finished run files, resumes interrupted ones and starts missing ones. A stopped sweep
# (Ctrl-C, SIGTERM, --max-walltime) exits 75, which make reports as an error: run it again.
#   make sweep-demo                  tiny demo, seconds          -> runs/out/sweep_demo/
#   make sweep-tutorial              the README tutorial's SK N = 32, 64 × 200, ~1 min
#                                                                -> runs/out/sweep_tutorial/
#   make sweep-sk-ising              SK Ising, ~20 min (2 cores) -> runs/out/sk_ising/
#   make sweep-sk-heisenberg         SK Heisenberg, ~13 min      -> runs/out/sk_heisenberg/
#   make sweep-rkky-dilute           dilute RKKY, ~10 min        -> runs/out/rkky_dilute/
#   make sweeps                      the three above
#   make sweep-status                done / partial / missing of every sweep
# SWEEP_JOBS (default: all cores) worker processes; SWEEP_ARGS adds options, e.g.
#   make sweep-sk-ising SWEEP_ARGS=--quiet      or      SWEEP_ARGS='--max-walltime 01:00:00'

SWEEP_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
SWEEP_ARGS ?=
SWEEP_FILES := runs/sweep_demo.toml runs/sweep_tutorial.toml runs/sk_ising.toml runs/sk_heisenberg.toml runs/rkky_dilute.toml

.PHONY: sweep-demo sweep-tutorial sweep-sk-ising sweep-sk-heisenberg sweep-rkky-dilute sweeps sweep-status

sweep-demo: $(VENV)/.installed
	$(RKKY) sweep runs/sweep_demo.toml --jobs $(SWEEP_JOBS) $(SWEEP_ARGS)

sweep-tutorial: $(VENV)/.installed
	$(RKKY) sweep runs/sweep_tutorial.toml --jobs $(SWEEP_JOBS) $(SWEEP_ARGS)

sweep-sk-ising: $(VENV)/.installed
	$(RKKY) sweep runs/sk_ising.toml --jobs $(SWEEP_JOBS) $(SWEEP_ARGS)

sweep-sk-heisenberg: $(VENV)/.installed
	$(RKKY) sweep runs/sk_heisenberg.toml --jobs $(SWEEP_JOBS) $(SWEEP_ARGS)

sweep-rkky-dilute: $(VENV)/.installed
	$(RKKY) sweep runs/rkky_dilute.toml --jobs $(SWEEP_JOBS) $(SWEEP_ARGS)

sweeps: sweep-sk-ising sweep-sk-heisenberg sweep-rkky-dilute

sweep-status: $(VENV)/.installed
	@for f in $(SWEEP_FILES); do $(RKKY) sweep $$f --status; done
