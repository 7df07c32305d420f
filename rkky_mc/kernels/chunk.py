"""The compiled schedule: a chunk of sweeps, swaps, field refreshes and measurements in one call.

``Simulation.run`` hands a chunk of ``n_sweeps`` sweeps, starting at sweep ``s0`` (the number of
sweeps done), to one of the four functions below, chosen by spin type and coupling storage:

    ising_chunk_dense, ising_chunk_csr, heisenberg_chunk_dense, heisenberg_chunk_csr

Each sweep s = s0 … s0 + n_sweeps − 1 is exactly what ``Simulation.sweep`` used to do call by
call (the same kernels, in the same order, on the same arrays: the same bits):

1. float32 only (``refresh_every`` > 0): before sweep s > 0 with s % refresh_every == 0 the
   local fields and energies are recomputed from scratch;
2. the move pass of every walker (``update``: METROPOLIS or HEATBATH), then ``overrelaxation``
   over-relaxation passes (Heisenberg), then every walker's energy;
3. Ising, dense couplings: each walker's move order for the next sweep (``choose_modes``);
4. the tempering swaps of every ladder (T > 1);
5. if s % measure_every == 0: one measurement row, written into the preallocated row buffers
   ``out_*`` at the next free row (energy, magnetization, overlap, overlap_k2, link_overlap,
   link_overlap_bonds, walker, sweep; Heisenberg also chiral_overlap, chiral_overlap_k2,
   chirality_sq from the sample's ``triplets`` and their centroid phases ``tcosk, tsink``,
   kernels/chirality.py; see rkky_mc/observables.py for their definitions). Ising rows have
   no chirality: the caller leaves those series NaN.

The functions return the number of rows written. Python sees the loop only between chunks
(progress, stop checks, commits), so a chunk is sized to ~50–100 ms (Simulation.run).

Composition is cacheable: every kernel is called by name (no function arguments, no closures),
the move is an integer id and the storage is which function is called. A new move adds one
branch to each chunk function it applies to (docs/architecture.md, "Adding things").
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import chirality as kchir
from . import fields as kfields
from . import heisenberg as kheis
from . import ising as kising
from . import measure as kmeasure
from .schedule import random_sites
from .tempering import tempering_swaps

# move ids (anneal.update)
METROPOLIS = 0
HEATBATH = 1

_KW = dict(cache=True)


# ---------------------------------------------------------------------------- measurements
@njit(**_KW)
def _common_row(energies, perm, N, sweep, row, out_energy, out_walker, out_sweep):
    R, T = perm.shape
    for r in range(R):
        for t in range(T):
            w = perm[r, t]
            out_energy[row, t, r] = energies[w] / N
            out_walker[row, t, r] = np.int32(w - r * T)
    out_sweep[row] = sweep


@njit(**_KW)
def _no_link(out_link, out_bonds, row):
    out_link[row, :, :] = np.nan
    out_bonds[row, :, :] = np.nan


@njit(**_KW)
def _ising_measure_spins(spins, energies, perm, pair_a, pair_b, cosk, sink, sweep, row,
                         out_energy, out_mag, out_q, out_qk2, out_link, out_bonds, out_walker,
                         out_sweep):
    """The storage-independent part of an Ising row (link overlaps NaN until filled);
    returns whether there are ladder pairs (the link overlaps need them)."""
    _common_row(energies, perm, spins.shape[1], sweep, row, out_energy, out_walker, out_sweep)
    kmeasure.ising_magnetization(spins, perm, out_mag[row])
    _no_link(out_link, out_bonds, row)
    if pair_a.shape[0] == 0:
        return False
    kmeasure.ising_overlap(spins, perm, pair_a, pair_b, cosk, sink, out_q[row], out_qk2[row])
    return True


@njit(**_KW)
def _ising_measure_dense(J, spins, energies, perm, pair_a, pair_b, cosk, sink, link_on,
                         k2_total, sweep, row, out_energy, out_mag, out_q, out_qk2, out_link,
                         out_bonds, out_walker, out_sweep):
    if _ising_measure_spins(spins, energies, perm, pair_a, pair_b, cosk, sink, sweep, row,
                            out_energy, out_mag, out_q, out_qk2, out_link, out_bonds, out_walker,
                            out_sweep) and link_on:
        kmeasure.ising_link_overlap_dense(J, spins, perm, pair_a, pair_b, out_link[row], k2_total)


@njit(**_KW)
def _ising_measure_csr(indptr, indices, data, spins, energies, perm, pair_a, pair_b, cosk,
                       sink, link_on, k2_total, n_bonds, sweep, row, out_energy, out_mag, out_q,
                       out_qk2, out_link, out_bonds, out_walker, out_sweep):
    if _ising_measure_spins(spins, energies, perm, pair_a, pair_b, cosk, sink, sweep, row,
                            out_energy, out_mag, out_q, out_qk2, out_link, out_bonds, out_walker,
                            out_sweep) and link_on:
        kmeasure.ising_link_overlaps_csr(indptr, indices, data, spins, perm, pair_a, pair_b,
                                         out_link[row], out_bonds[row], k2_total, n_bonds)


@njit(**_KW)
def _heisenberg_measure_spins(sx, sy, sz, energies, perm, pair_a, pair_b, cosk, sink, triplets,
                              tcosk, tsink, sweep, row, out_energy, out_mag, out_q, out_qk2,
                              out_link, out_bonds, out_walker, out_sweep, out_chi_q, out_chi_qk2,
                              out_chi_k2):
    """The storage-independent part of a Heisenberg row, chiral series included (link
    overlaps NaN until filled); returns whether there are ladder pairs."""
    kchir.chiral_measure(sx, sy, sz, triplets, perm, pair_a, pair_b, tcosk, tsink,
                         out_chi_q[row], out_chi_qk2[row], out_chi_k2[row])
    _common_row(energies, perm, sx.shape[1], sweep, row, out_energy, out_walker, out_sweep)
    kmeasure.heisenberg_magnetization(sx, sy, sz, perm, out_mag[row])
    _no_link(out_link, out_bonds, row)
    if pair_a.shape[0] == 0:
        return False
    kmeasure.heisenberg_overlap(sx, sy, sz, perm, pair_a, pair_b, cosk, sink, out_q[row],
                                out_qk2[row])
    return True


@njit(**_KW)
def _heisenberg_measure_dense(J, sx, sy, sz, energies, perm, pair_a, pair_b, cosk, sink,
                              link_on, k2_total, triplets, tcosk, tsink, sweep, row, out_energy,
                              out_mag, out_q, out_qk2, out_link, out_bonds, out_walker, out_sweep,
                              out_chi_q, out_chi_qk2, out_chi_k2):
    if _heisenberg_measure_spins(sx, sy, sz, energies, perm, pair_a, pair_b, cosk, sink,
                                 triplets, tcosk, tsink, sweep, row, out_energy, out_mag, out_q,
                                 out_qk2, out_link, out_bonds, out_walker, out_sweep, out_chi_q,
                                 out_chi_qk2, out_chi_k2) and link_on:
        kmeasure.heisenberg_link_overlap_dense(J, sx, sy, sz, perm, pair_a, pair_b,
                                               out_link[row], k2_total)


@njit(**_KW)
def _heisenberg_measure_csr(indptr, indices, data, sx, sy, sz, energies, perm, pair_a, pair_b,
                            cosk, sink, link_on, k2_total, n_bonds, triplets, tcosk, tsink,
                            sweep, row, out_energy, out_mag, out_q, out_qk2, out_link, out_bonds,
                            out_walker, out_sweep, out_chi_q, out_chi_qk2, out_chi_k2):
    if _heisenberg_measure_spins(sx, sy, sz, energies, perm, pair_a, pair_b, cosk, sink,
                                 triplets, tcosk, tsink, sweep, row, out_energy, out_mag, out_q,
                                 out_qk2, out_link, out_bonds, out_walker, out_sweep, out_chi_q,
                                 out_chi_qk2, out_chi_k2) and link_on:
        kmeasure.heisenberg_link_overlaps_csr(indptr, indices, data, sx, sy, sz, perm, pair_a,
                                              pair_b, out_link[row], out_bonds[row], k2_total,
                                              n_bonds)


@njit(**_KW)
def _refresh_due(s, refresh_every):
    return refresh_every > 0 and s > 0 and s % refresh_every == 0


# ---------------------------------------------------------------------------------- Ising
@njit(**_KW)
def ising_chunk_dense(J, spins, fields, energies, beta_w, betas, perm, rng_walkers, rng_ladders,
                      rng_sites, sites_seq, sites_rand, flips, flips_seen, dense_mode,
                      defer_from, walker_outer_below, n_accepted, direction, half_trips,
                      H_field, H, update, refresh_every, s0, n_sweeps, measure_every, pair_a,
                      pair_b, cosk, sink, link_on, k2_total, out_energy, out_mag, out_q,
                      out_qk2, out_link, out_bonds, out_walker, out_sweep):
    """``n_sweeps`` sweeps of an Ising ensemble with dense (N, N) couplings ``J``.

    ``H_field``: the field h in J's dtype (the field recomputation), ``H`` in float64 (the
    energies). ``defer_from`` / ``walker_outer_below``: choose_modes' thresholds in flips per
    sweep. Returns the number of measurement rows written (from row 0)."""
    R, T = perm.shape
    row = np.int64(0)  # not the literal 0: one specialization of the measurement calls
    # one boolean variable for both calls of ising_sweep_dense: literal True / False would
    # compile two specializations of it
    heatbath = update == HEATBATH
    for s in range(s0, s0 + n_sweeps):
        if _refresh_due(s, refresh_every):
            kfields.local_fields_dense(J, spins, H_field, fields)
            kfields.ising_energies(spins, fields, H, energies)
        if heatbath:
            kising.ising_sweep_dense(J, spins, fields, beta_w, sites_seq, rng_walkers, heatbath,
                                     flips, dense_mode)
        else:
            # random sites, one sequence per ladder: with one sequence for all walkers,
            # zero-field free spins of two ladders would flip together
            for r in range(R):
                w0 = r * T
                w1 = w0 + T
                sites = sites_rand[r]
                random_sites(rng_sites, r, sites)
                kising.ising_sweep_dense(J, spins[w0:w1], fields[w0:w1], beta_w[w0:w1], sites,
                                         rng_walkers[w0:w1], heatbath, flips[w0:w1],
                                         dense_mode[w0:w1])
        kfields.ising_energies(spins, fields, H, energies)
        kising.choose_modes(flips, flips_seen, dense_mode, defer_from, walker_outer_below)
        if T > 1:
            tempering_swaps(energies, betas, perm, beta_w, rng_ladders, n_accepted, direction,
                            half_trips)
        if s % measure_every == 0:
            _ising_measure_dense(J, spins, energies, perm, pair_a, pair_b, cosk, sink, link_on,
                                 k2_total, s, row, out_energy, out_mag, out_q, out_qk2,
                                 out_link, out_bonds, out_walker, out_sweep)
            row += 1
    return row


@njit(**_KW)
def ising_chunk_csr(indptr, indices, data, spins, fields, energies, beta_w, betas, perm,
                    rng_walkers, rng_ladders, rng_sites, sites_seq, sites_rand, flips,
                    n_accepted, direction, half_trips, H_field, H, update, refresh_every, s0,
                    n_sweeps, measure_every, pair_a, pair_b, cosk, sink, link_on, k2_total,
                    n_bonds, out_energy, out_mag, out_q, out_qk2, out_link, out_bonds, out_walker,
                    out_sweep):
    """``n_sweeps`` sweeps of an Ising ensemble with CSR couplings (indptr, indices, data);
    arguments as in ising_chunk_dense, ``k2_total`` = Σ_{i<j} J_ij² and ``n_bonds`` the
    number of bonds (measure.k2_sum_csr, bond_count_csr: constants of the sample)."""
    R, T = perm.shape
    row = np.int64(0)  # not the literal 0: one specialization of the measurement calls
    heatbath = update == HEATBATH
    for s in range(s0, s0 + n_sweeps):
        if _refresh_due(s, refresh_every):
            kfields.local_fields_csr(indptr, indices, data, spins, H_field, fields)
            kfields.ising_energies(spins, fields, H, energies)
        if heatbath:
            kising.ising_sweep_csr(indptr, indices, data, spins, fields, beta_w, sites_seq,
                                   rng_walkers, heatbath, flips)
            kfields.ising_energies(spins, fields, H, energies)
        else:  # random sites per ladder, the sweeps and the energies in one kernel
            kising.ising_metropolis_sweep_csr(indptr, indices, data, spins, fields, beta_w,
                                              sites_rand, rng_sites, rng_walkers, flips, H,
                                              energies)
        if T > 1:
            tempering_swaps(energies, betas, perm, beta_w, rng_ladders, n_accepted, direction,
                            half_trips)
        if s % measure_every == 0:
            _ising_measure_csr(indptr, indices, data, spins, energies, perm, pair_a, pair_b,
                               cosk, sink, link_on, k2_total, n_bonds, s, row, out_energy,
                               out_mag, out_q, out_qk2, out_link, out_bonds, out_walker,
                               out_sweep)
            row += 1
    return row


# ----------------------------------------------------------------------------- Heisenberg
@njit(**_KW)
def heisenberg_chunk_dense(J, sx, sy, sz, hx, hy, hz, energies, beta_w, betas, perm,
                           rng_walkers, rng_ladders, sites_seq, flips, dense_mode, n_accepted,
                           direction, half_trips, H_field, H, update, overrelaxation,
                           refresh_every, s0, n_sweeps, measure_every, pair_a, pair_b, cosk,
                           sink, link_on, k2_total, triplets, tcosk, tsink, out_energy, out_mag,
                           out_q, out_qk2, out_link, out_bonds, out_walker, out_sweep,
                           out_chi_q, out_chi_qk2, out_chi_k2):
    """``n_sweeps`` sweeps of a Heisenberg ensemble with dense couplings: a Metropolis or
    heat-bath pass, then ``overrelaxation`` over-relaxation passes. ``dense_mode``: the
    field-update order (heisenberg.dense_batch_mode; same bits). ``triplets`` (N_t, 3) and
    ``tcosk, tsink`` (K, N_t): the chirality triplets and their centroid phases (N_t = 0:
    the chiral rows are NaN). Returns rows written."""
    R, T = perm.shape
    row = np.int64(0)  # not the literal 0: one specialization of the measurement calls
    heatbath = update == HEATBATH
    for s in range(s0, s0 + n_sweeps):
        if _refresh_due(s, refresh_every):
            kfields.local_fields3_dense(J, sx, sy, sz, H_field, hx, hy, hz)
            kfields.heisenberg_energies(sx, sy, sz, hx, hy, hz, H, energies)
        kheis.heisenberg_sweep_dense(J, sx, sy, sz, hx, hy, hz, beta_w, sites_seq, rng_walkers,
                                     heatbath, flips, dense_mode)
        for _ in range(overrelaxation):
            kheis.heisenberg_overrelax_dense(J, sx, sy, sz, hx, hy, hz, sites_seq, dense_mode)
        kfields.heisenberg_energies(sx, sy, sz, hx, hy, hz, H, energies)
        if T > 1:
            tempering_swaps(energies, betas, perm, beta_w, rng_ladders, n_accepted, direction,
                            half_trips)
        if s % measure_every == 0:
            _heisenberg_measure_dense(J, sx, sy, sz, energies, perm, pair_a, pair_b, cosk, sink,
                                      link_on, k2_total, triplets, tcosk, tsink, s, row,
                                      out_energy, out_mag, out_q, out_qk2, out_link, out_bonds,
                                      out_walker, out_sweep, out_chi_q, out_chi_qk2, out_chi_k2)
            row += 1
    return row


@njit(**_KW)
def heisenberg_chunk_csr(indptr, indices, data, sx, sy, sz, hx, hy, hz, energies, beta_w,
                         betas, perm, rng_walkers, rng_ladders, sites_seq, flips, n_accepted,
                         direction, half_trips, H_field, H, update, overrelaxation,
                         refresh_every, s0, n_sweeps, measure_every, pair_a, pair_b, cosk,
                         sink, link_on, k2_total, n_bonds, triplets, tcosk, tsink, out_energy,
                         out_mag, out_q, out_qk2, out_link, out_bonds, out_walker, out_sweep,
                         out_chi_q, out_chi_qk2, out_chi_k2):
    """As heisenberg_chunk_dense with CSR couplings (``k2_total``, ``n_bonds`` as in
    ising_chunk_csr)."""
    R, T = perm.shape
    row = np.int64(0)  # not the literal 0: one specialization of the measurement calls
    heatbath = update == HEATBATH
    for s in range(s0, s0 + n_sweeps):
        if _refresh_due(s, refresh_every):
            kfields.local_fields3_csr(indptr, indices, data, sx, sy, sz, H_field, hx, hy, hz)
            kfields.heisenberg_energies(sx, sy, sz, hx, hy, hz, H, energies)
        kheis.heisenberg_sweep_csr(indptr, indices, data, sx, sy, sz, hx, hy, hz, beta_w,
                                   sites_seq, rng_walkers, heatbath, flips)
        for _ in range(overrelaxation):
            kheis.heisenberg_overrelax_csr(indptr, indices, data, sx, sy, sz, hx, hy, hz,
                                           sites_seq)
        kfields.heisenberg_energies(sx, sy, sz, hx, hy, hz, H, energies)
        if T > 1:
            tempering_swaps(energies, betas, perm, beta_w, rng_ladders, n_accepted, direction,
                            half_trips)
        if s % measure_every == 0:
            _heisenberg_measure_csr(indptr, indices, data, sx, sy, sz, energies, perm, pair_a,
                                    pair_b, cosk, sink, link_on, k2_total, n_bonds, triplets,
                                    tcosk, tsink, s, row, out_energy, out_mag, out_q, out_qk2,
                                    out_link, out_bonds, out_walker, out_sweep, out_chi_q,
                                    out_chi_qk2, out_chi_k2)
            row += 1
    return row
