"""Observables of one measurement: plain functions over the ensemble state.

Every array is indexed by temperature (not by walker): ``[t, r]`` for walker quantities of
ladder r, ``[t, p]`` for ladder pairs p = (a, b), a < b, in lexicographic order.

- energy (T, R): energy per spin, units of J0 (or the model's coupling scale)
- magnetization (T, R) Ising m = Σ s_i / N; Heisenberg (T, R, 3) the vector m
- overlap (T, P): Ising q_ab = Σ s_i^a s_i^b / N; Heisenberg (T, P, 3, 3) q_μν
- overlap_k2 (T, P): (1/3) Σ_{k = 2π/L x̂, ŷ, ẑ} Σ_μν |q_μν(k)|² (nan without positions)
- link_overlap (T, P): Σ_{i<j} J_ij² (S_i^a·S_j^a)(S_i^b·S_j^b) / Σ_{i<j} J_ij²
- link_overlap_bonds (T, P): (1/N_b) Σ_{i<j, J_ij ≠ 0} (S_i^a·S_j^a)(S_i^b·S_j^b), the
  unweighted bond overlap; CSR-stored couplings only (nan for dense storage, where it is
  redundant with q² for SK, and when the link overlap is switched off)
- walker (T, R): which walker of ladder r sits at temperature t
- chiral_overlap (T, P): q_χ = (1/N_t) Σ_t κ_t^a κ_t^b, κ_t = S_j·(S_i × S_k) of triplet
  t = (j, i, k) (observables_chiral.py); chiral_overlap_k2 (T, P): its k_min analogue of
  overlap_k2 at the triplet centroids; chirality_sq (T, R): (1/N_t) Σ_t κ_t². NaN without
  triplets (SK, a file without positions, N < 3) and for Ising spins.
"""
from __future__ import annotations

import numpy as np

from .kernels import chirality as kchir
from .kernels import measure as kmeasure
from .observables_chiral import NO_TRIPLETS, sample_triplets, triplet_phases


def wave_phases(sample):
    """cos(k·R_i), sin(k·R_i) for the three smallest wave vectors k = 2π/L_μ ê_μ.

    Returns arrays of shape (3, N); (0, N) when the model has no positions (SK, file).
    """
    if sample.positions is None or sample.box is None:
        empty = np.zeros((0, sample.n_spins), dtype=np.float64)
        return empty, empty.copy()
    k = 2.0 * np.pi / np.asarray(sample.box, dtype=np.float64)
    phase = (np.asarray(sample.positions, dtype=np.float64) * k).T  # (3, N): k_μ R_iμ
    return np.ascontiguousarray(np.cos(phase)), np.ascontiguousarray(np.sin(phase))


def chiral_inputs(sample):
    """(triplets (N_t, 3) int64, cosk, sink (K, N_t)) of a sample for the chiral series:
    ``sample.triplets`` (built with a Heisenberg sample), else from its model and
    positions; none for Ising spins."""
    if sample.spin != "heisenberg":
        tri = NO_TRIPLETS.copy()
    else:
        tri = getattr(sample, "triplets", None)
        if tri is None:
            tri = sample_triplets(sample.model, sample.positions, sample.box)
    tri = np.ascontiguousarray(tri, dtype=np.int64).reshape(-1, 3)
    cosk, sink = triplet_phases(tri, sample.positions, sample.box)
    return tri, np.ascontiguousarray(cosk), np.ascontiguousarray(sink)


def measure(sim) -> dict:
    """One row of every time series from the current state of ``sim`` (a Simulation): the
    reference the compiled chunks are tested against. The spin type computes the rows that
    depend on the spin's components (rkky_mc/spins/)."""
    T, R, P, N = sim.T, sim.R, sim.P, sim.N
    perm = sim.perm
    energy = sim.energies[perm].T / N  # (T, R)
    walker = (perm - (np.arange(R) * T)[:, None]).T.astype(np.int32)
    mag, q, qk2 = sim.spin.reference_magnetization_overlap(sim)
    link = np.full((T, P), np.nan)
    bonds = np.full((T, P), np.nan)
    chiral = {}
    if sim.spin.name == "heisenberg":  # Ising spins have no chirality: the rows stay NaN
        chiral = {"chiral_overlap": np.full((T, P), np.nan),
                  "chiral_overlap_k2": np.full((T, P), np.nan),
                  "chirality_sq": np.full((T, R), np.nan)}
        kchir.chiral_measure(sim.sx, sim.sy, sim.sz, sim.triplets, perm, sim.pair_a, sim.pair_b,
                             sim.tcosk, sim.tsink, *chiral.values())
    if P and sim.cfg.anneal.link_overlap:
        link, bonds = link_overlaps(sim)
    return {
        "energy": energy,
        "magnetization": mag,
        "overlap": q,
        "overlap_k2": qk2,
        "link_overlap": link,
        "link_overlap_bonds": bonds,
        "walker": walker,
        **chiral,
    }


def k2_total(sim) -> float:
    """Σ_{i<j} J_ij² of the dense couplings: a constant of the sample, computed once per
    Simulation (an O(N²) pass saved at every measurement)."""
    k2 = getattr(sim, "_k2_total_dense", None)
    if k2 is None:
        k2 = float(kmeasure.k2_sum_dense(sim.J))
        sim._k2_total_dense = k2
    return k2


def csr_link_norms(sim) -> tuple:
    """(Σ_{i<j} J_ij², N_b) of the CSR couplings: the normalisations of the link and bond
    overlaps, computed once per Simulation (the chunk functions take them as arguments)."""
    norms = getattr(sim, "_csr_link_norms", None)
    if norms is None:
        norms = (float(kmeasure.k2_sum_csr(*sim.csr)), float(kmeasure.bond_count_csr(*sim.csr)))
        sim._csr_link_norms = norms
    return norms


def link_overlap(sim) -> np.ndarray:
    """J²-weighted link overlap per temperature and ladder pair, shape (T, P).

    The kernels take the couplings themselves and square them on the fly: no J∘J copy."""
    out = np.zeros((sim.T, sim.P))
    k2 = k2_total(sim) if sim.J is not None else -1.0
    sim.spin.reference_link_overlap(sim, out, k2)
    return out


def link_overlaps(sim) -> tuple:
    """(link_overlap, link_overlap_bonds), each (T, P): the J²-weighted link overlap and the
    unweighted bond overlap (CSR storage only, one τ for both; nan for dense storage)."""
    if sim.J is not None:
        return link_overlap(sim), np.full((sim.T, sim.P), np.nan)
    out = np.zeros((sim.T, sim.P))
    bonds = np.zeros((sim.T, sim.P))
    sim.spin.reference_link_overlaps_csr(sim, out, bonds)
    return out, bonds
