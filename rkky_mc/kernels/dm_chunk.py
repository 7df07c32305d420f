"""The compiled schedule for Heisenberg spins with Dzyaloshinskii–Moriya couplings (dense).

``dm_chunk_dense`` is ``chunk.heisenberg_chunk_dense`` with the DM vectors ``Dc`` (3, N, N)
after ``J`` and the kernels of kernels/dm.py in place of kernels/heisenberg.py's: the same
schedule (float32-style refresh slot, move pass, over-relaxation, energies, swaps,
measurements), the same argument order otherwise, so ``Simulation`` swaps the kernel and the
coupling tuple and nothing else. Each sweep is what ``Simulation.sweep`` does call by call
for a DM sample (tests/test_dm_run.py checks the bits).

Measurements are chunk.py's Heisenberg helpers: the link overlap weights pairs by J_ij²
only (D does not enter it). Dense float64 only (kernels/dm.py); ``refresh_every`` is 0 for
float64 runs but kept, with kernels/dm.py's from-scratch fields, for the same schedule.

Composition rules of chunk.py: kernels called by name, move as an integer id, ``cache=True``,
non-literal constants (a literal would compile a second specialization of the callee).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import dm as kdm
from .chunk import HEATBATH, _heisenberg_measure_dense, _refresh_due
from .tempering import tempering_swaps

_KW = dict(cache=True)


@njit(**_KW)
def dm_chunk_dense(J, Dc, sx, sy, sz, hx, hy, hz, energies, beta_w, betas, perm, rng_walkers,
                   rng_ladders, sites_seq, flips, dense_mode, n_accepted, direction, half_trips,
                   H_field, H, update, overrelaxation, refresh_every, s0, n_sweeps,
                   measure_every, pair_a, pair_b, cosk, sink, link_on, k2_total, triplets,
                   tcosk, tsink, out_energy, out_mag, out_q, out_qk2, out_link, out_bonds,
                   out_walker, out_sweep, out_chi_q, out_chi_qk2, out_chi_k2):
    """``n_sweeps`` sweeps of a Heisenberg ensemble with dense J (N, N) and DM vectors Dc
    (3, N, N): a Metropolis or heat-bath pass, then ``overrelaxation`` over-relaxation
    passes, the energies, the swaps, a measurement every ``measure_every`` sweeps. Arguments
    as chunk.heisenberg_chunk_dense. Returns the rows written."""
    R, T = perm.shape
    row = np.int64(0)  # not the literal 0: one specialization of the measurement calls
    heatbath = update == HEATBATH
    for s in range(s0, s0 + n_sweeps):
        if _refresh_due(s, refresh_every):
            kdm.dm_local_fields_dense(J, Dc, sx, sy, sz, H_field, hx, hy, hz)
            kdm.dm_energies(sx, sy, sz, hx, hy, hz, H, energies)
        kdm.dm_heisenberg_sweep_dense(J, Dc, sx, sy, sz, hx, hy, hz, beta_w, sites_seq,
                                      rng_walkers, heatbath, flips, dense_mode)
        for _ in range(overrelaxation):
            kdm.dm_overrelax_dense(J, Dc, sx, sy, sz, hx, hy, hz, sites_seq, dense_mode)
        kdm.dm_energies(sx, sy, sz, hx, hy, hz, H, energies)
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
