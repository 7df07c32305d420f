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
# Three equivalent orders for a walker's moves, chosen walker by walker by ``mode`` (same bits):
#
# SITE_OUTER (one at a time): at site i, row i of J is loaded once and serves every walker of
#   the block that flips there; each accepted flip streams that walker's field row.
# DEFERRED: the sites are taken in batches of FLIP_BATCH. Within a batch each
#   walker decides its moves site after site, bringing the visited site's field up to date from
#   its pending flips of the batch (h_i = fields[w, i] + c_a J[r_a, i], pending flips a in their
#   order, with J[r_a, i] from a small matrix of the couplings among the batch's sites, whose
#   row for batch position a is gathered when some walker first flips there); then its flips
#   are added to its field row up to eight per pass. The field row is read and written once
#   per pass instead of once per flip: about half the memory traffic once rows of J and
#   fields no longer fit in L2 (large N, high acceptance).
# WALKER_OUTER: the walker makes its whole pass on its own (_dense_walker): its spins and
#   fields stay in L1, its stream state in registers, and each flip streams row i of J, shared
#   with no other walker. Decisions are cheapest this way, so it wins where few moves are
#   accepted (low temperature).
# Each field element receives exactly the additions of the one-at-a-time update, in the same
# order and with the same rounding (J symmetric; FASTMATH allows neither contraction nor
# reassociation), and every walker draws the same random numbers: the results are the same bits
# (tests/test_kernels_ising.py).
FLIP_BATCH = 16
SITE_OUTER, DEFERRED, WALKER_OUTER = 0, 1, 2
# The order of each walker, by bytes per coupling, from its acceptance in its previous sweep
# (Simulation.choose_dense_modes): WALKER_OUTER below WALKER_OUTER_MAX_ACCEPTANCE, else
# DEFERRED from DEFERRED_MIN_ACCEPTANCE, else SITE_OUTER. Each table is a list of
# (N_min, acceptance): the largest N_min ≤ N applies (none below the first: never deferred,
# never walker-outer). A tempering ladder holds all three kinds.
# Measured through the SK kernel (bench's ladder sample) on this project's 2-core AMD EPYC VM,
# one core, all 32 walkers at one T, ns per attempt as site-outer / deferred / walker-outer,
# interleaved (2026-11-24):
#   float64 N = 256:  acceptance 0.06 16.0/21.5/11.8, 0.29 34.4/39.4/28.9, 0.75 56.9/53.2/50.9
#   float64 N = 500:  0.06 15.6/18.8/11.6, 0.28 39.8/39.6/37.3, 0.44 49.3/57.5/54.2,
#                     0.74 91.1/77.9/97.8
#   float64 N = 1000: 0.07 24.4/28.6/20.0, 0.15 36.4/43.0/35.8, 0.28 57.7/62.6/56.4,
#                     0.43 82.1/82.4/92.2, 0.74 123/119/154
#   float64 N = 2000: 0.07 52.6/56.3/44.9, 0.15 90.9/91.6/94.7, 0.29 166/131/177,
#                     0.74 312/229/424
#   float32 N = 1000: 0.07 15.9/19.6/12.2, 0.28 42.7/43.7/39.6, 0.43 65.0/55.2/62.5,
#                     0.74 99.4/76.1/94.2
#   float32 N = 2000: 0.07 28.3/35.1/23.3, 0.15 45.7/50.3/43.9, 0.29 67.5/71.9/77.1,
#                     0.74 192/134/219
#   float32 N = 4000: 0.08 70.7/74.6/65.8, 0.15 119/116/147
# The VM drifts by 10–20 % between rounds; the thresholds sit at the crossings that repeat.
# Checked on the bench's ladder (16 T × 2 in [0.3, 2], acceptance 0.04–0.6, all three orders
# mixed), which at one T does not predict: float32 N = 1000 deferring from acceptance 0.4 was
# ~5 % slower than never (38–41 vs 36–37 ns, three runs). With cache-line-aligned arrays
# (2026-11-24), float32 deferring from 0.25 against never: N = 2000 75–83 vs 67–71 ns (five
# runs), N = 4000 158 vs 146 ns; from 0.5 or 0.6 still slower than never. So float32 defers
# only walkers above 0.7 (hotter ladders, annealing), where all-at-one-T gains ~30 %. float64
# keeps deferring: N = 2000 from 0 128–134 vs never 137–141 ns; N = 1000 from 0.2 is within
# ±3 % of never and of 0.7; walker-outer below 0.2 there is within ±5 % of the other splits.
WALKER_OUTER_MAX_ACCEPTANCE = {8: [(0, 0.3), (1000, 0.2), (1500, 0.1)],
                               4: [(0, 0.3), (1500, 0.2), (3000, 0.1)]}
DEFERRED_MIN_ACCEPTANCE = {8: [(1000, 0.2), (1500, 0.0)], 4: [(2000, 0.7)]}


def _by_size(table, N, itemsize, below):
    out = below
    for n_min, acc in table.get(itemsize, table[8]):
        if N >= n_min:
            out = acc
    return out


def deferred_min_acceptance(N: int, itemsize: int = 8) -> float:
    """Acceptance from which a walker's flips are deferred at N spins (inf: never)."""
    return _by_size(DEFERRED_MIN_ACCEPTANCE, N, itemsize, np.inf)


def walker_outer_max_acceptance(N: int, itemsize: int = 8) -> float:
    """Acceptance below which a walker makes its pass on its own (walker-outer) at N spins
    (0: never)."""
    return _by_size(WALKER_OUTER_MAX_ACCEPTANCE, N, itemsize, 0.0)


@njit(cache=True)
def choose_modes(flips, flips_seen, mode, defer_from, walker_outer_below):
    """Each walker's order for the next sweep from its flips since ``flips_seen`` (then brought
    up to date): WALKER_OUTER below ``walker_outer_below`` flips, else DEFERRED from
    ``defer_from`` flips, else SITE_OUTER. One compiled call: it runs after every sweep."""
    for w in range(flips.shape[0]):
        n = flips[w] - flips_seen[w]
        flips_seen[w] = flips[w]
        if n < walker_outer_below:
            mode[w] = WALKER_OUTER
        elif n >= defer_from:
            mode[w] = DEFERRED
        else:
            mode[w] = SITE_OUTER


# Indices are cast to uint64 (sites and walkers are valid by construction): numba then emits
# no negative-index wrap-around on any access (5–10 % of the site-outer sweep at N = 1000).
@njit(**_KW)
def _metropolis_dense_single(J, spins, fields, beta_w, sites, rng, accepted, ws):
    u0 = np.uint64(0)
    u1 = np.uint64(spins.shape[1])
    for ii in range(sites.shape[0]):
        i = np.uint64(sites[ii])
        for k in range(ws.shape[0]):
            w = np.uint64(ws[k])
            s = spins[w, i]
            two_s = s + s
            de = two_s * fields[w, i]
            if de > 0:
                if not accept_exp(rng, w, beta_w[w] * de):
                    continue
            spins[w, i] = -s
            c = -two_s  # 2 s_new
            for j in range(u0, u1):
                fields[w, j] += c * J[i, j]
            accepted[w] += 1


@njit(**_KW)
def _heatbath_dense_single(J, spins, fields, beta_w, sites, rng, accepted, ws):
    u0 = np.uint64(0)
    u1 = np.uint64(spins.shape[1])
    for ii in range(sites.shape[0]):
        i = np.uint64(sites[ii])
        for k in range(ws.shape[0]):
            w = np.uint64(ws[k])
            s = spins[w, i]
            p_up = 1.0 / (1.0 + np.exp(-2.0 * beta_w[w] * fields[w, i]))
            up = uniform(rng, w) < p_up
            if up == (s > 0):
                continue
            spins[w, i] = -s
            c = -(s + s)
            for j in range(u0, u1):
                fields[w, j] += c * J[i, j]
            accepted[w] += 1


@njit(**_KW)
def _dense_walker(J, spins, fields, beta_w, sites, rng, w, heatbath):
    """Walker ``w``'s pass over ``sites`` on its own (walker-outer order): its spins and
    fields stay in L1 and its stream state in registers, and every accepted flip streams row i
    of J. Returns its number of flips. The operations of the site-outer kernels, walker by
    walker, so the same bits."""
    beta = beta_w[w]
    sw = spins[w]
    fw = fields[w]
    s0, s1, s2, s3 = rng[w, 0], rng[w, 1], rng[w, 2], rng[w, 3]
    u0 = np.uint64(0)
    u1 = np.uint64(fields.shape[1])
    n_flips = 0
    for ii in range(sites.shape[0]):
        i = np.uint64(sites[ii])
        s = sw[i]
        if heatbath:
            p_up = 1.0 / (1.0 + np.exp(-2.0 * beta * fw[i]))
            r, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
            if (u64_to_uniform(r) < p_up) == (s > 0):
                continue
        else:
            de = (s + s) * fw[i]
            if de > 0:
                r, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                if not exp_test(u64_to_uniform(r), beta * de):
                    continue
        sw[i] = -s
        c = -(s + s)
        for j in range(u0, u1):
            fw[j] += c * J[i, j]
        n_flips += 1
    rng[w, 0], rng[w, 1], rng[w, 2], rng[w, 3] = s0, s1, s2, s3
    return n_flips


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
        for k in range(ws.shape[0]):
            w = np.uint64(ws[k])
            beta = beta_w[w]
            m = 0
            for ii in range(b0, b1):
                i = np.uint64(sites[ii])
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


def _walker_mode(mode, w):
    """Walker w's update order (SITE_OUTER, DEFERRED or WALKER_OUTER): ``mode`` is one mode
    for all walkers (int) or one per walker (array)."""


@overload(_walker_mode, jit_options=dict(cache=True))
def _walker_mode_impl(mode, w):
    if isinstance(mode, (types.Integer, types.Boolean)):
        return lambda mode, w: np.int64(mode)
    return lambda mode, w: np.int64(mode[w])


@njit(**_KW)
def _dense_block(J, spins, fields, beta_w, sites, rng, accepted, w0, w1, heatbath, mode):
    ws_def = np.empty(w1 - w0, dtype=np.int64)
    ws_one = np.empty(w1 - w0, dtype=np.int64)
    n_def = 0
    n_one = 0
    for w in range(w0, w1):
        m = _walker_mode(mode, w)
        if m == WALKER_OUTER:
            accepted[w] += _dense_walker(J, spins, fields, beta_w, sites, rng, w, heatbath)
        elif m == DEFERRED:
            ws_def[n_def] = w
            n_def += 1
        else:
            ws_one[n_one] = w
            n_one += 1
    if n_def > 0:
        _dense_deferred(J, spins, fields, beta_w, sites, rng, accepted, ws_def[:n_def],
                        heatbath)
    if n_one > 0:
        if heatbath:
            _heatbath_dense_single(J, spins, fields, beta_w, sites, rng, accepted,
                                   ws_one[:n_one])
        else:
            _metropolis_dense_single(J, spins, fields, beta_w, sites, rng, accepted,
                                     ws_one[:n_one])


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
def ising_sweep_dense(J, spins, fields, beta_w, sites, rng, heatbath, accepted, mode=0):
    """One pass over ``sites`` for every walker, dense (N, N) couplings. ``mode``: the order
    of the walkers' moves, SITE_OUTER (0), DEFERRED (1) or WALKER_OUTER (2), one for all
    walkers or one per walker, (W,) uint8 (the same bits whatever the choice; the Simulation
    picks per walker by its acceptance, see WALKER_OUTER_MAX_ACCEPTANCE)."""
    W = spins.shape[0]
    nb = n_blocks(W, sites.shape[0] * W)
    if nb <= 1:
        _dense_block(J, spins, fields, beta_w, sites, rng, accepted, np.int64(0), W, heatbath, mode)
    else:
        for b in prange(nb):
            w0 = (b * W) // nb
            w1 = ((b + 1) * W) // nb
            _dense_block(J, spins, fields, beta_w, sites, rng, accepted, w0, w1, heatbath,
                         mode)


@njit(parallel=True, **_KW)
def ising_sweep_csr(indptr, indices, data, spins, fields, beta_w, sites, rng, heatbath,
                    accepted):
    """One pass over ``sites`` for every walker, CSR couplings (indptr, indices, data)."""
    W = spins.shape[0]
    nb = n_blocks(W, sites.shape[0] * W)
    if nb <= 1:
        if heatbath:
            _heatbath_csr_block(indptr, indices, data, spins, fields, beta_w, sites, rng,
                                accepted, np.int64(0), W)
        else:
            _metropolis_csr_block(indptr, indices, data, spins, fields, beta_w, sites, rng,
                                  accepted, np.int64(0), W)
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
                       energies, np.int64(0), W)
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
