"""Ising single-spin sweeps, dense and CSR couplings (numba).

State: ``spins`` (W, N) with values ±1 and ``fields`` (W, N), h_i = Σ_j J_ij s_j + H, both of
the dtype of J (float64 or float32). A flip of s_i changes the energy by ΔE = 2 s_i h_i and,
when done, every field of that walker by h_j += 2 s_new J_ij (a contiguous row update for
dense J; J_ii = 0 so h_i itself is unchanged).

Moves
  Metropolis: flip if ΔE ≤ 0, else if u < exp(−β ΔE). A uniform is drawn only when ΔE > 0;
              exp is skipped where a cheap bound already rejects (rng.accept_exp: the same
              decision bit for bit).
  Heat bath:  s = +1 with probability 1/(1 + exp(−2 β h_i)), one uniform per visit.
``accepted[w]`` is incremented once per spin that changed sign (Metropolis: accepted flips;
heat bath: visits whose draw differs from the old spin).

Threading: walkers are split into ``min(W, numba.get_num_threads())`` contiguous blocks, one
per ``prange`` iteration. Within a block the site loop is outside (row i of J is loaded once
and serves every walker of the block), the walker loop inside. Walker w only ever uses its own
stream ``rng[w]``, its own spins and fields, and the same compiled arithmetic, so its results
are bit-for-bit independent of the thread count. Calls with little work
(``len(sites) * W < fields.PARALLEL_MIN_WORK``) run serially in the calling thread (one
block), avoiding the cost of a parallel region.

``sites`` is the visiting order (any length, entries in [0, N)). With Metropolis use random
sites: with a fixed order and ΔE = 0 always accepted, free spins flip deterministically.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .fields import FASTMATH, batch_couplings, n_blocks
from .rng import accept_exp, uniform

_KW = dict(cache=True, fastmath=FASTMATH, error_model="numpy")


# --------------------------------------------------------------------------- dense blocks
# Two equivalent ways to apply accepted flips, chosen per call by ``batch`` (same bits):
#
# one at a time (batch = 0): at site i, row i of J is loaded once and serves every walker of
#   the block; each accepted flip streams that walker's field row. Best while the walkers'
#   field rows and J's row stay in L1/L2 (small N).
# deferred (batch = 1): the sites are taken in batches of FLIP_BATCH. Within a batch each
#   walker decides its moves site after site, bringing the visited site's field up to date from
#   its pending flips of the batch (h_i = fields[w, i] + c_a J[r_a, i], pending flips a in their
#   order, with J[r_a, i] from a small matrix of the couplings among the batch's sites gathered
#   once per batch); then its flips are added to its field row up to eight per pass. The field
#   row is read and written once per pass instead of once per flip: about half the memory
#   traffic once rows of J and fields no longer fit in L2 (large N).
# Each field element receives exactly the additions of the one-at-a-time update, in the same
# order and with the same rounding (J symmetric; FASTMATH allows neither contraction nor
# reassociation), and every walker draws the same random numbers: the results are the same bits
# (tests/test_kernels_ising.py).
FLIP_BATCH = 16
# Deferred updates from this many spins on, by bytes per coupling. Measured through
# Simulation.sweep on this project's 2-core AMD EPYC VM, 16 × 2 walkers, fresh random sites:
# float64 N = 700 one at a time 44 vs deferred 46 ns, N = 1000 60.5 vs 58.7 ns, N = 2000 140
# vs 129 ns; float32 N = 1000 35 vs 39 ns, N = 2000 73 vs 72 ns, N = 3000 110 vs 100 ns. At
# N = 1000 the small gain costs the low-temperature sweeps most (the 16×16 gather per batch is
# paid whatever the acceptance: a T = 0.5 sweep became only 2.9× cheaper than a T = 3 one,
# 3.9–4.8× one at a time), hence float64 from N = 1500.
DEFERRED_MIN_N = {8: 1500, 4: 2500}


def dense_batch_mode(N: int, itemsize: int = 8) -> int:
    """The ``batch`` argument of ising_sweep_dense for N spins with couplings of
    ``itemsize`` bytes (see above)."""
    return 1 if N >= DEFERRED_MIN_N.get(itemsize, 1000) else 0


@njit(**_KW)
def _metropolis_dense_single(J, spins, fields, beta_w, sites, rng, accepted, w0, w1):
    N = spins.shape[1]
    for ii in range(sites.shape[0]):
        i = sites[ii]
        for w in range(w0, w1):
            s = spins[w, i]
            two_s = s + s
            de = two_s * fields[w, i]
            if de > 0:
                if not accept_exp(rng, w, beta_w[w] * de):
                    continue
            spins[w, i] = -s
            c = -two_s  # 2 s_new
            for j in range(N):
                fields[w, j] += c * J[i, j]
            accepted[w] += 1


@njit(**_KW)
def _heatbath_dense_single(J, spins, fields, beta_w, sites, rng, accepted, w0, w1):
    N = spins.shape[1]
    for ii in range(sites.shape[0]):
        i = sites[ii]
        for w in range(w0, w1):
            s = spins[w, i]
            p_up = 1.0 / (1.0 + np.exp(-2.0 * beta_w[w] * fields[w, i]))
            up = uniform(rng, w) < p_up
            if up == (s > 0):
                continue
            spins[w, i] = -s
            c = -(s + s)
            for j in range(N):
                fields[w, j] += c * J[i, j]
            accepted[w] += 1


@njit(**_KW)
def _apply_flips(J, fields, w, rows, cs, nf):
    """fields[w, j] += cs[a] J[rows[a], j] for a = 0 … nf−1 in that order, every j: up to
    eight flips per pass over the row.

    Column indices are uint64 (numba then emits no negative-index wrap-around and LLVM
    vectorizes the loops); no array views (each would cost an atomic reference count)."""
    u0 = np.uint64(0)
    u1 = np.uint64(fields.shape[1])
    a = 0
    while nf - a >= 8:
        r0 = rows[a]
        r1 = rows[a + 1]
        r2 = rows[a + 2]
        r3 = rows[a + 3]
        r4 = rows[a + 4]
        r5 = rows[a + 5]
        r6 = rows[a + 6]
        r7 = rows[a + 7]
        c0 = cs[a]
        c1 = cs[a + 1]
        c2 = cs[a + 2]
        c3 = cs[a + 3]
        c4 = cs[a + 4]
        c5 = cs[a + 5]
        c6 = cs[a + 6]
        c7 = cs[a + 7]
        for j in range(u0, u1):
            fields[w, j] = (((((((fields[w, j] + c0 * J[r0, j]) + c1 * J[r1, j])
                                + c2 * J[r2, j]) + c3 * J[r3, j]) + c4 * J[r4, j])
                             + c5 * J[r5, j]) + c6 * J[r6, j]) + c7 * J[r7, j]
        a += 8
    while nf - a >= 4:
        r0 = rows[a]
        r1 = rows[a + 1]
        r2 = rows[a + 2]
        r3 = rows[a + 3]
        c0 = cs[a]
        c1 = cs[a + 1]
        c2 = cs[a + 2]
        c3 = cs[a + 3]
        for j in range(u0, u1):
            fields[w, j] = (((fields[w, j] + c0 * J[r0, j]) + c1 * J[r1, j])
                            + c2 * J[r2, j]) + c3 * J[r3, j]
        a += 4
    left = nf - a
    if left == 3:
        r0 = rows[a]
        r1 = rows[a + 1]
        r2 = rows[a + 2]
        c0 = cs[a]
        c1 = cs[a + 1]
        c2 = cs[a + 2]
        for j in range(u0, u1):
            fields[w, j] = ((fields[w, j] + c0 * J[r0, j]) + c1 * J[r1, j]) + c2 * J[r2, j]
    elif left == 2:
        r0 = rows[a]
        r1 = rows[a + 1]
        c0 = cs[a]
        c1 = cs[a + 1]
        for j in range(u0, u1):
            fields[w, j] = (fields[w, j] + c0 * J[r0, j]) + c1 * J[r1, j]
    elif left == 1:
        r0 = rows[a]
        c0 = cs[a]
        for j in range(u0, u1):
            fields[w, j] = fields[w, j] + c0 * J[r0, j]


@njit(**_KW)
def _dense_deferred(J, spins, fields, beta_w, sites, rng, accepted, w0, w1, heatbath):
    n = sites.shape[0]
    rows = np.empty(FLIP_BATCH, dtype=np.int64)   # site of each pending flip
    pos = np.empty(FLIP_BATCH, dtype=np.int64)    # its index in the batch
    cs = np.empty(FLIP_BATCH, dtype=fields.dtype)  # 2 s_new
    Jb = np.empty((FLIP_BATCH, FLIP_BATCH), dtype=J.dtype)
    for b0 in range(0, n, FLIP_BATCH):
        b1 = min(b0 + FLIP_BATCH, n)
        batch_couplings(J, sites, b0, b1, Jb)
        for w in range(w0, w1):
            beta = beta_w[w]
            m = 0
            for ii in range(b0, b1):
                i = sites[ii]
                s = spins[w, i]
                h = fields[w, i]
                for a in range(m):  # pending flips of this batch, in order
                    h = h + cs[a] * Jb[pos[a], ii - b0]
                if heatbath:
                    p_up = 1.0 / (1.0 + np.exp(-2.0 * beta * h))
                    up = uniform(rng, w) < p_up
                    if up == (s > 0):
                        continue
                else:
                    de = (s + s) * h
                    if de > 0:
                        if not accept_exp(rng, w, beta * de):
                            continue
                spins[w, i] = -s
                rows[m] = i
                pos[m] = ii - b0
                cs[m] = -(s + s)
                m += 1
            if m > 0:
                _apply_flips(J, fields, w, rows, cs, m)
                accepted[w] += m


@njit(**_KW)
def _dense_block(J, spins, fields, beta_w, sites, rng, accepted, w0, w1, heatbath, batch):
    if batch:
        _dense_deferred(J, spins, fields, beta_w, sites, rng, accepted, w0, w1, heatbath)
    elif heatbath:
        _heatbath_dense_single(J, spins, fields, beta_w, sites, rng, accepted, w0, w1)
    else:
        _metropolis_dense_single(J, spins, fields, beta_w, sites, rng, accepted, w0, w1)


# ----------------------------------------------------------------------------- CSR blocks
@njit(**_KW)
def _metropolis_csr_block(indptr, indices, data, spins, fields, beta_w, sites, rng, accepted,
                          w0, w1):
    for ii in range(sites.shape[0]):
        i = sites[ii]
        k0 = indptr[i]
        k1 = indptr[i + 1]
        for w in range(w0, w1):
            s = spins[w, i]
            two_s = s + s
            de = two_s * fields[w, i]
            if de > 0:
                if not accept_exp(rng, w, beta_w[w] * de):
                    continue
            spins[w, i] = -s
            c = -two_s
            for k in range(k0, k1):
                fields[w, indices[k]] += c * data[k]
            accepted[w] += 1


@njit(**_KW)
def _heatbath_csr_block(indptr, indices, data, spins, fields, beta_w, sites, rng, accepted,
                        w0, w1):
    for ii in range(sites.shape[0]):
        i = sites[ii]
        k0 = indptr[i]
        k1 = indptr[i + 1]
        for w in range(w0, w1):
            s = spins[w, i]
            p_up = 1.0 / (1.0 + np.exp(-2.0 * beta_w[w] * fields[w, i]))
            up = uniform(rng, w) < p_up
            if up == (s > 0):
                continue
            spins[w, i] = -s
            c = -(s + s)
            for k in range(k0, k1):
                fields[w, indices[k]] += c * data[k]
            accepted[w] += 1


# ------------------------------------------------------------------------------ sweeps
# Walkers split into n_blocks contiguous blocks, one prange iteration each; a call with
# little work (len(sites)·W < fields.PARALLEL_MIN_WORK) runs serially in the calling thread.
@njit(parallel=True, **_KW)
def ising_sweep_dense(J, spins, fields, beta_w, sites, rng, heatbath, accepted, batch=0):
    """One pass over ``sites`` for every walker, dense (N, N) couplings. ``batch``: 0 applies
    flips one at a time, 1 deferred (same bits; ``dense_batch_mode(N)`` picks the faster)."""
    W = spins.shape[0]
    nb = n_blocks(W, sites.shape[0] * W)
    if nb <= 1:
        _dense_block(J, spins, fields, beta_w, sites, rng, accepted, 0, W, heatbath, batch)
    else:
        for b in prange(nb):
            w0 = (b * W) // nb
            w1 = ((b + 1) * W) // nb
            _dense_block(J, spins, fields, beta_w, sites, rng, accepted, w0, w1, heatbath,
                         batch)


@njit(parallel=True, **_KW)
def ising_sweep_csr(indptr, indices, data, spins, fields, beta_w, sites, rng, heatbath,
                    accepted):
    """One pass over ``sites`` for every walker, CSR couplings (indptr, indices, data)."""
    W = spins.shape[0]
    nb = n_blocks(W, sites.shape[0] * W)
    if nb <= 1:
        if heatbath:
            _heatbath_csr_block(indptr, indices, data, spins, fields, beta_w, sites, rng,
                                accepted, 0, W)
        else:
            _metropolis_csr_block(indptr, indices, data, spins, fields, beta_w, sites, rng,
                                  accepted, 0, W)
    else:
        for b in prange(nb):
            w0 = (b * W) // nb
            w1 = ((b + 1) * W) // nb
            if heatbath:
                _heatbath_csr_block(indptr, indices, data, spins, fields, beta_w, sites, rng,
                                    accepted, w0, w1)
            else:
                _metropolis_csr_block(indptr, indices, data, spins, fields, beta_w, sites,
                                      rng, accepted, w0, w1)
