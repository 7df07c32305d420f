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

from .fields import FASTMATH, n_blocks
from .rng import accept_exp, uniform

_KW = dict(cache=True, fastmath=FASTMATH, error_model="numpy")


# --------------------------------------------------------------------------- dense blocks
@njit(**_KW)
def _metropolis_dense_block(J, spins, fields, beta_w, sites, rng, accepted, w0, w1):
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
def _heatbath_dense_block(J, spins, fields, beta_w, sites, rng, accepted, w0, w1):
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
def ising_sweep_dense(J, spins, fields, beta_w, sites, rng, heatbath, accepted):
    """One pass over ``sites`` for every walker, dense (N, N) couplings."""
    W = spins.shape[0]
    nb = n_blocks(W, sites.shape[0] * W)
    if nb <= 1:
        if heatbath:
            _heatbath_dense_block(J, spins, fields, beta_w, sites, rng, accepted, 0, W)
        else:
            _metropolis_dense_block(J, spins, fields, beta_w, sites, rng, accepted, 0, W)
    else:
        for b in prange(nb):
            w0 = (b * W) // nb
            w1 = ((b + 1) * W) // nb
            if heatbath:
                _heatbath_dense_block(J, spins, fields, beta_w, sites, rng, accepted, w0, w1)
            else:
                _metropolis_dense_block(J, spins, fields, beta_w, sites, rng, accepted,
                                        w0, w1)


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
