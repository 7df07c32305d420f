"""`rkky-mc analyze`: many run files -> disorder averages with jackknife errors, Binder
ratios, χ_SG, ξ_L/L, crossings, T_c, equilibration checks, tables and figures.

One run file = one disorder sample.  Files are grouped by their physical parameters (model,
spin type, N, L, lattice, concentration, k_F, J0, normalisation, cutoff, damping, field,
EA distribution, temperature ladder; *not* seeds, output paths or the length of the run).
Groups that differ only in size (and ladder) form a *series*; crossings are taken between
the sizes of a series.

Thermal averages ⟨·⟩ of one sample use its measured part (sweep ≥ anneal.thermalization)
unless ``include_thermalization``; a file still running is read up to ``n_valid``.  Per
measurement, walker quantities are averaged over the R ladders and overlap quantities over
the P ladder pairs.  Disorder averages [·] are plain means over samples; every error is a
jackknife error over samples (ratios of averages — Binder g, ξ_L — are computed from the
averages and jackknifed as such).  Several files with the same couplings (sha256) in one
group are one disorder sample: their thermal averages are averaged (a warning says so).

Quantities (per group and temperature; ``units`` column of the table):

    energy            [⟨e⟩], e = H/N
    specific_heat     [N(⟨e²⟩ − ⟨e⟩²)]/T²  (per spin, k_B = 1)
    abs_magnetization [⟨|m|⟩]  (Heisenberg: |m| the norm of the vector m)
    q2, q4            [⟨q²⟩], [⟨q⁴⟩]  (Heisenberg q² = Σ_μν q_μν², q⁴ = (q²)²)
    chi_sg            N [⟨q²⟩]
    chi_sg_scaled     χ_SG / N^(1/3) (SK only): mean-field finite-size scaling has
                      χ_SG = N^(1/3) F(N^(1/3)(T − T_c)), so these curves cross at T_c
    binder            Ising ½(3 − [⟨q⁴⟩]/[⟨q²⟩]²); Heisenberg ½(11 − 9 [⟨q⁴⟩]/[⟨q²⟩]²)
    chi_sg_kmin       N [⟨overlap_k2⟩] = χ_SG(k_min), k averaged over x̂, ŷ, ẑ (models with
                      positions; overlap_k2 is normalised like q², so χ(0)/χ(k_min) =
                      [⟨q²⟩]/[⟨overlap_k2⟩])
    xi                ξ_L = √(χ(0)/χ(k_min) − 1) / (2 sin(k_min/2)), k_min = 2π/L, L the box
                      side (NaN where χ(0) < χ(k_min), i.e. at high T where ξ_L ≈ 0)
    xi_over_L         ξ_L / L
    link_overlap      [⟨q_l⟩] as stored: J²-weighted, Σ J_ij² τ_ij / Σ J_ij²
    link_overlap_bonds [⟨q_b⟩], the unweighted bond overlap (1/N_b) Σ_{bonds i<j} τ_ij^a τ_ij^b
                      (groups whose files store it: CSR couplings — EA, RKKY with a cutoff)
    swap_acceptance   per neighbour pair (T = the lower temperature of the pair), whole run
    round_trips       per ladder, whole run (T = NaN)

Exact equilibrium identities (Gaussian couplings, Ising, disorder average; PHYSICS.md):
rows identity_lhs (= [⟨e_J⟩], e_J = e + h[⟨m⟩] the coupling energy), identity_rhs and
identity_diff (lhs − rhs, jackknifed jointly), per temperature and per log window.

    SK: e_J = −(β/2)(1 − [⟨q²⟩]) at every N.  Needs only the overlap.
    EA Gaussian: e_J = −(β/N) Σ_bonds σ²(1 − [⟨s_i s_j⟩²]) = −(z/2)β(1 − [⟨q_b⟩]), z/2 =
        Σ_bonds σ²/N = 3 (also for L = 2, where the ±x bonds merge into one of variance 2),
        with q_b the *unweighted* bond overlap (⟨τ^a τ^b⟩ = ⟨s_i s_j⟩² for independent
        replicas), stored as ``link_overlap_bonds`` for CSR-stored couplings.  The stored
        J²-weighted link overlap would not do: strong bonds are more correlated (at high T
        ⟨s_is_j⟩ ≈ βJ_b, so [q_b] ≈ β² while the weighted one ≈ β² E[J⁴]/E[J²] = 3β²).
        Files without the bond overlap (written before it was stored, dense storage, or
        anneal.link_overlap = false) get no identity rows but ``ql_implied`` = 1 + T e_J/(z/2),
        the [⟨q_b⟩] the identity predicts, without pass/fail.

Equilibration: the same averages over logarithmic windows of sweeps [2^k, 2^(k+1)) of the
whole run (thermalization included); the last two windows are compared (difference
jackknifed over the samples that have both) and flagged beyond ``drift_sigma`` errors.

Crossings: for each pair of sizes of a series, where g (and ξ_L/L, and for SK χ_SG/N^(1/3))
cross, jackknifed over the samples of both sizes; T_c estimates from successive pairs
(stats.tc_estimates).

Modules: samples (one run file), groups, averages (per-group estimators), estimators (binning,
jackknife, crossings, T_c, drift), equilibration, crossings (per series), pipeline (the whole
analysis), tables (CSV/HDF5), plots (figures), command (`rkky-mc analyze`).
"""

from .command import analyze_command
from .pipeline import AnalysisResult, analyze
from .samples import AnalysisError, group_key
from .tables import read_csv, read_tables

__all__ = ["AnalysisError", "AnalysisResult", "analyze", "analyze_command", "group_key",
           "read_csv", "read_tables"]
