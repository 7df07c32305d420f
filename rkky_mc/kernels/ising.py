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
per ``prange`` iteration. Within a dense block the site loop is outside (row i of J is loaded
once and serves every walker of the block), the walker loop inside; CSR blocks run one walker
after another (see there). Walker w only ever uses its own
stream ``rng[w]``, its own spins and fields, and the same compiled arithmetic, so its results
are bit-for-bit independent of the thread count. Calls with little work
(``len(sites) * W < fields.PARALLEL_MIN_WORK``) run serially in the calling thread (one
block), avoiding the cost of a parallel region.

``sites`` is the visiting order (any length, entries in [0, N)). With Metropolis use random
sites: with a fixed order and ΔE = 0 always accepted, free spins flip deterministically.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from .fields import FASTMATH, _ising_energies_range, batch_coupling_row, n_blocks
from .rng import accept_exp, exp_test, u64_to_uniform, uniform, xoshiro_step
from .schedule import random_sites

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
#   order, with J[r_a, i] from a small matrix of the couplings among the batch's sites, whose
#   row for batch position a is gathered when some walker first flips there); then its flips are added to its field row up to eight per pass. The field
#   row is read and written once per pass instead of once per flip: about half the memory
#   traffic once rows of J and fields no longer fit in L2 (large N).
# Each field element receives exactly the additions of the one-at-a-time update, in the same
# order and with the same rounding (J symmetric; FASTMATH allows neither contraction nor
# reassociation), and every walker draws the same random numbers: the results are the same bits
# (tests/test_kernels_ising.py).
FLIP_BATCH = 16
# Which walkers defer, by bytes per coupling: walkers whose acceptance in their previous sweep
# was at least DEFERRED_MIN_ACCEPTANCE[itemsize] at N ≥ N_min (list of (N_min, acceptance),
# the largest N_min ≤ N applies; none below the first). Deferring pays per flip and costs a
# little per attempt (the pending corrections, the on-demand gather), so it is chosen walker by
# walker: a tempering ladder holds both kinds. Measured through the bench's SK kernel on this
# project's 2-core AMD EPYC VM, all 32 walkers at one T (ns per attempt, one at a time vs
# deferred, interleaved): float64 N = 1000 acceptance 0.14 43.8 vs 49.9, 0.28 64.3 vs 59.7,
# 0.74 153 vs 129; N = 2000 0.14 99.8 vs 89.6, 0.74 323 vs 228; float32 N = 2000 0.14 41.9 vs
# 46.8, 0.28 70.9 vs 70.2, 0.74 171 vs 130; float64 N = 700 (bench ladder) 44.7 vs 48.4.
# One at a time for the low-temperature walkers also keeps a T = 0.5 sweep ≥ 3× cheaper than
# a T = 3 one at N = 1000 (all walkers deferred: 2.6–2.9×).
DEFERRED_MIN_ACCEPTANCE = {8: [(1000, 0.2), (1500, 0.0)], 4: [(2000, 0.25)]}


def deferred_min_acceptance(N: int, itemsize: int = 8) -> float:
    """Acceptance from which a walker's flips are deferred at N spins (inf: never)."""
    out = np.inf
    for n_min, acc in DEFERRED_MIN_ACCEPTANCE.get(itemsize, DEFERRED_MIN_ACCEPTANCE[8]):
        if N >= n_min:
            out = acc
    return out


@njit(**_KW)
def _metropolis_dense_single(J, spins, fields, beta_w, sites, rng, accepted, ws):
    N = spins.shape[1]
    for ii in range(sites.shape[0]):
        i = sites[ii]
        for w in ws:
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
def _heatbath_dense_single(J, spins, fields, beta_w, sites, rng, accepted, ws):
    N = spins.shape[1]
    for ii in range(sites.shape[0]):
        i = sites[ii]
        for w in ws:
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
def _dense_deferred(J, spins, fields, beta_w, sites, rng, accepted, ws, heatbath):
    n = sites.shape[0]
    rows = np.empty(FLIP_BATCH, dtype=np.int64)   # site of each pending flip
    pos = np.empty(FLIP_BATCH, dtype=np.int64)    # its index in the batch
    cs = np.empty(FLIP_BATCH, dtype=fields.dtype)  # 2 s_new
    Jb = np.empty((FLIP_BATCH, FLIP_BATCH), dtype=J.dtype)
    have = np.zeros(FLIP_BATCH, dtype=np.bool_)  # rows of Jb gathered for this batch
    for b0 in range(0, n, FLIP_BATCH):
        b1 = min(b0 + FLIP_BATCH, n)
        have[:] = False
        for w in ws:
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
                if not have[ii - b0]:
                    batch_coupling_row(J, sites, b0, b1, ii - b0, Jb)
                    have[ii - b0] = True
                rows[m] = i
                pos[m] = ii - b0
                cs[m] = -(s + s)
                m += 1
            if m > 0:
                _apply_flips(J, fields, w, rows, cs, m)
                accepted[w] += m


def _defers(batch, w):
    """Whether walker w's flips are deferred: ``batch`` is one flag for all walkers (int) or
    one per walker (array)."""


@overload(_defers, jit_options=dict(cache=True))
def _defers_impl(batch, w):
    if isinstance(batch, (types.Integer, types.Boolean)):
        return lambda batch, w: batch != 0
    return lambda batch, w: batch[w] != 0


@njit(**_KW)
def _dense_block(J, spins, fields, beta_w, sites, rng, accepted, w0, w1, heatbath, batch):
    n_def = 0
    for w in range(w0, w1):
        n_def += _defers(batch, w)
    ws_def = np.empty(n_def, dtype=np.int64)
    ws_one = np.empty(w1 - w0 - n_def, dtype=np.int64)
    a = 0
    for w in range(w0, w1):
        if _defers(batch, w):
            ws_def[a] = w
            a += 1
        else:
            ws_one[w - w0 - a] = w
    if n_def > 0:
        _dense_deferred(J, spins, fields, beta_w, sites, rng, accepted, ws_def, heatbath)
    if ws_one.shape[0] > 0:
        if heatbath:
            _heatbath_dense_single(J, spins, fields, beta_w, sites, rng, accepted, ws_one)
        else:
            _metropolis_dense_single(J, spins, fields, beta_w, sites, rng, accepted, ws_one)


# ----------------------------------------------------------------------------- CSR blocks
# Walker outer, sites inner: a sparse row is a handful of couplings, so sharing it between
# walkers gains nothing, while one walker's spins, fields and stream stay in L1 and registers
# for the whole pass (its stream state is loaded once and stored once). Indices are cast to
# unsigned, which spares numba's negative-index wraparound test on every access. Each walker
# sees exactly the operations of the site-outer order, so the bits are the same.
@njit(**_KW)
def _metropolis_csr_walker(indptr, indices, data, spins, fields, beta_w, sites, rng, w):
    """Walker ``w``'s Metropolis pass over ``sites``; returns its number of flips."""
    beta = beta_w[w]
    sw = spins[w]
    fw = fields[w]
    s0, s1, s2, s3 = rng[w, 0], rng[w, 1], rng[w, 2], rng[w, 3]
    n_flips = 0
    for ii in range(sites.shape[0]):
        i = np.uint64(sites[ii])
        s = sw[i]
        two_s = s + s
        de = two_s * fw[i]
        if de > 0:
            r, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
            if not exp_test(u64_to_uniform(r), beta * de):
                continue
        sw[i] = -s
        c = -two_s
        for k in range(indptr[i], indptr[i + 1]):
            fw[np.uint32(indices[k])] += c * data[k]
        n_flips += 1
    rng[w, 0], rng[w, 1], rng[w, 2], rng[w, 3] = s0, s1, s2, s3
    return n_flips


@njit(**_KW)
def _metropolis_csr_block(indptr, indices, data, spins, fields, beta_w, sites, rng, accepted,
                          w0, w1):
    for w in range(w0, w1):
        accepted[w] += _metropolis_csr_walker(indptr, indices, data, spins, fields, beta_w,
                                              sites, rng, w)


@njit(**_KW)
def _heatbath_csr_block(indptr, indices, data, spins, fields, beta_w, sites, rng, accepted,
                        w0, w1):
    for w in range(w0, w1):
        beta = beta_w[w]
        sw = spins[w]
        fw = fields[w]
        s0, s1, s2, s3 = rng[w, 0], rng[w, 1], rng[w, 2], rng[w, 3]
        n_flips = 0
        for ii in range(sites.shape[0]):
            i = np.uint64(sites[ii])
            s = sw[i]
            p_up = 1.0 / (1.0 + np.exp(-2.0 * beta * fw[i]))
            r, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
            up = u64_to_uniform(r) < p_up
            if up == (s > 0):
                continue
            sw[i] = -s
            c = -(s + s)
            for k in range(indptr[i], indptr[i + 1]):
                fw[np.uint32(indices[k])] += c * data[k]
            n_flips += 1
        rng[w, 0], rng[w, 1], rng[w, 2], rng[w, 3] = s0, s1, s2, s3
        accepted[w] += n_flips


# ------------------------------------------------------------------------------ sweeps
# Walkers split into n_blocks contiguous blocks, one prange iteration each; a call with
# little work (len(sites)·W < fields.PARALLEL_MIN_WORK) runs serially in the calling thread.
@njit(parallel=True, **_KW)
def ising_sweep_dense(J, spins, fields, beta_w, sites, rng, heatbath, accepted, batch=0):
    """One pass over ``sites`` for every walker, dense (N, N) couplings. ``batch``: 0 applies
    flips one at a time, 1 deferred, or one such flag per walker (W,) (same bits whatever the
    choice; the Simulation picks per walker by its acceptance, see DEFERRED_MIN_ACCEPTANCE)."""
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


@njit(parallel=True, **_KW)
def ising_metropolis_sweep_csr(indptr, indices, data, spins, fields, beta_w, sites, rng_sites,
                               rng, accepted, H, energies):
    """A whole Metropolis sweep of R ladders in one call, CSR couplings: ladder r (walkers
    ``r*T … (r+1)*T − 1``, T = W / R) visits ``sites[r]``, first refilled with random sites
    from stream r of ``rng_sites``; then every walker's total energy goes to ``energies``.

    The same bits as ``random_sites`` and ``ising_sweep_csr`` per ladder followed by
    ``fields.ising_energies`` (what Simulation.sweep did call by call): one compiled call
    instead of 2R + 1 saves the Python dispatch (~10 µs a sweep, about 10 % at EA L = 8).
    ``sites``: (R, n) int64 buffer.
    """
    R = sites.shape[0]
    for r in range(R):
        random_sites(rng_sites, r, sites[r])
    W = spins.shape[0]
    nb = n_blocks(W, sites.shape[1] * W)
    if nb <= 1:
        _ladders_block(indptr, indices, data, spins, fields, beta_w, sites, rng, accepted, H,
                       energies, 0, W)
    else:
        for b in prange(nb):
            _ladders_block(indptr, indices, data, spins, fields, beta_w, sites, rng, accepted,
                           H, energies, (b * W) // nb, ((b + 1) * W) // nb)


@njit(**_KW)
def _ladders_block(indptr, indices, data, spins, fields, beta_w, sites, rng, accepted, H,
                   energies, w0, w1):
    """Walkers w0 … w1−1 of ising_metropolis_sweep_csr: a pass over their ladder's sites,
    then their energies."""
    T = spins.shape[0] // sites.shape[0]
    for w in range(w0, w1):
        accepted[w] += _metropolis_csr_walker(indptr, indices, data, spins, fields, beta_w,
                                              sites[w // T], rng, w)
        _ising_energies_range(spins, fields, H, energies, w, w + 1)
