# Reproductions of known results (issue 4): `make analysis` runs the three reproduction
# sweeps (targets sweep-sk-ising, sweep-sk-heisenberg, sweep-rkky-dilute of mk/sweeps.mk,
# outputs under runs/out/<name>/) and analyses them with `rkky-mc analyze` into
# analysis/out/<name>/ (tables, figures, summary.md). Not part of `make test`.
# SWEEP_OUT / ANALYSIS_OUT move the input / output trees.
# See analysis/README.md.
#
#   make analysis                 all three (sweeps first; finished runs are skipped)
#   make analysis-sk-ising        one of them (also analysis-sk-heisenberg, analysis-rkky-dilute)
#   make reanalyze                analyse what is in runs/out/ now, without running sweeps
#   ANALYZE_FLAGS="--interp cubic" make reanalyze

SWEEP_OUT     ?= runs/out
ANALYSIS_OUT  ?= analysis/out
ANALYZE_FLAGS ?=

.PHONY: analysis analysis-sk-ising analysis-sk-heisenberg analysis-rkky-dilute \
        reanalyze reanalyze-sk-ising reanalyze-sk-heisenberg reanalyze-rkky-dilute analysis-clean

# $(call analyze_set,<name under runs/out>,<summarize.py --check>)
# summary.md is written either way; a failed check is reported, not fatal to make.
define analyze_set
	@mkdir -p $(ANALYSIS_OUT)/$(1)
	@start=$$(date +%s); \
	$(RKKY) analyze $(SWEEP_OUT)/$(1) --out $(ANALYSIS_OUT)/$(1) $(ANALYZE_FLAGS) || exit $$?; \
	echo "analysis of $(SWEEP_OUT)/$(1): $$(( $$(date +%s) - start )) s" > $(ANALYSIS_OUT)/$(1)/analyze_time.txt
	@$(PY) analysis/summarize.py $(ANALYSIS_OUT)/$(1) --check $(2) > $(ANALYSIS_OUT)/$(1)/summary.md; \
	status=$$?; cat $(ANALYSIS_OUT)/$(1)/summary.md; cat $(ANALYSIS_OUT)/$(1)/analyze_time.txt; \
	if [ $$status -ne 0 ]; then echo "analysis/$(1): check did not pass (see summary.md)"; fi
endef

analysis: analysis-sk-ising analysis-sk-heisenberg analysis-rkky-dilute

analysis-sk-ising: sweep-sk-ising $(VENV)/.installed-test
	$(call analyze_set,sk_ising,sk-ising)

analysis-sk-heisenberg: sweep-sk-heisenberg $(VENV)/.installed-test
	$(call analyze_set,sk_heisenberg,sk-heisenberg)

analysis-rkky-dilute: sweep-rkky-dilute $(VENV)/.installed-test
	$(call analyze_set,rkky_dilute,rkky)

reanalyze: reanalyze-sk-ising reanalyze-sk-heisenberg reanalyze-rkky-dilute

reanalyze-sk-ising: $(VENV)/.installed-test
	$(call analyze_set,sk_ising,sk-ising)

reanalyze-sk-heisenberg: $(VENV)/.installed-test
	$(call analyze_set,sk_heisenberg,sk-heisenberg)

reanalyze-rkky-dilute: $(VENV)/.installed-test
	$(call analyze_set,rkky_dilute,rkky)

analysis-clean:
	rm -rf $(ANALYSIS_OUT)
