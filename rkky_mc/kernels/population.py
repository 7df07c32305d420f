"""Population annealing kernels (numba): weights, resampling, family statistics, pairs.

Arrays and scalars in; explicit xoshiro256** streams (kernels/rng.py). The driver is
rkky_mc/drivers/population_annealing.py.

Conventions: the population is R replicas (slots) k = 0 … R−1 with total energies E_k
(units of J0 or the model's scale). ``family[k]`` is the initial replica (slot at β = 0)
that slot k descends from. Resampling keeps the parents in slot order (``parents`` is
non-decreasing), so ``family`` stays non-decreasing and every family occupies one
contiguous block of slots (true at β = 0, where family[k] = k, and kept by every
resampling). Every sum runs serially in slot order: results never depend on the thread
count.

Resampling is multinomial with a fixed population size R: R parents drawn independently
with probabilities w_k / Σ w, w_k = exp(−Δβ E_k), so E[n_k] = R w_k / Σ w exactly. The R
sorted uniforms come from R + 1 exponential spacings of the resampling stream (one pass,
the same numbers in the same order for any thread count).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import dm as _dm
from . import heisenberg as _heis
from .fields import n_blocks
from .ising import _dense_block, _dense_walker
from .rng import _NONZERO, uniform, uniform_open
from .schedule import random_sites

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, inline="always")
def _mix64(z):
    """splitmix64's finaliser (Steele, Lea, Flood 2014): a bijection of uint64 whose every
    output bit depends on every input bit."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def derive_streams(key, step, tag, out):
    """derive_streams_from with first = 0: out[k] for slots k = 0 … len(out) − 1."""
    derive_streams_from(key, step, tag, 0, out)


@njit(cache=True)
def derive_streams_from(key, step, tag, first, out):
    """out[k] = the xoshiro256** state of slot first + k at annealing step ``step`` for purpose
    ``tag`` (0: moves, 1: Ising Metropolis visiting order), a function of (key, step, tag,
    k) only — never a copy of a parent's stream (copies sharing a stream would stay
    identical forever). ``key``: (4,) uint64 from SeedSequence(anneal.seed). The word
    hashes (key, step, tag, k) through chained splitmix64 mixes, then the four state words
    are four splitmix64 outputs from it (the seeding Blackman and Vigna recommend)."""
    n = out.shape[0]
    base = _mix64(key[0] ^ _mix64(key[1] ^ _mix64(np.uint64(step) * _GOLDEN + key[2])))
    base = _mix64(base ^ (np.uint64(tag) * _GOLDEN + key[3]))
    for k in range(n):
        z = _mix64(base ^ _mix64(np.uint64(first + k) + _GOLDEN))
        nonzero = np.uint64(0)
        for j in range(4):
            z = z + _GOLDEN
            out[k, j] = _mix64(z)
            nonzero |= out[k, j]
        if nonzero == np.uint64(0):
            out[k, 0] = _NONZERO


@njit(cache=True)
def reweight(energies, dbeta, weights):
    """Weights of the step β → β + dbeta: weights[k] = exp(−dbeta E_k − m), m = max_k
    (−dbeta E_k) (so the largest is 1: no overflow, log-sum-exp). Returns
    ln(mean_k exp(−dbeta E_k)) = m + ln(Σ weights / R), the step's increment of ln Z.
    Summed serially in slot order."""
    R = energies.shape[0]
    m = -np.inf
    for k in range(R):
        x = -dbeta * energies[k]
        if x > m:
            m = x
    total = 0.0
    for k in range(R):
        w = np.exp(-dbeta * energies[k] - m)
        weights[k] = w
        total += w
    return m + np.log(total / R)


@njit(cache=True)
def multinomial_parents(weights, rng, stream, parents):
    """Multinomial resampling: parents (R,) int64, non-decreasing, R independent draws of
    slot k with probability weights[k] / Σ weights. Draws R + 1 numbers of ``rng[stream]``
    (exponential spacings give the R sorted uniforms in one pass)."""
    R = weights.shape[0]
    total_w = 0.0
    for k in range(R):
        total_w += weights[k]
    # sorted uniforms u_(j) = (Σ_{i ≤ j} x_i) / Σ_{i ≤ R} x_i, x_i ~ Exp(1)
    spacings = np.empty(R + 1)
    total_x = 0.0
    for j in range(R + 1):
        x = -np.log(uniform_open(rng, stream))
        spacings[j] = x
        total_x += x
    last = R - 1
    while last > 0 and not weights[last] > 0.0:
        last -= 1
    cum_x = 0.0
    i = 0
    cum_w = weights[0]
    for j in range(R):
        cum_x += spacings[j]
        u = cum_x / total_x * total_w
        while cum_w <= u and i < last:
            i += 1
            cum_w += weights[i]
        while not weights[i] > 0.0 and i < last:  # never a parent of weight 0
            i += 1
            cum_w += weights[i]
        parents[j] = i
    return parents


@njit(cache=True, parallel=True)
def gather_rows(src, parents, dst):
    """dst[k] = src[parents[k]] for (R, N) arrays (copies of whole rows: bit for bit)."""
    R = dst.shape[0]
    for k in prange(R):
        dst[k, :] = src[parents[k], :]


@njit(cache=True)
def expand_rows(rows, index):
    """rows[k] = rows[index[k]] for k = R−1 … 0, in place: ``index`` non-decreasing with
    index[k] ≤ k (the position of slot k's parent among the distinct parents, which the
    first rows hold), so every row read is still unwritten. MPI resampling receives each
    distinct parent once and expands here (copies of whole rows: bit for bit)."""
    for k in range(rows.shape[0] - 1, -1, -1):
        j = index[k]
        if j != k:
            rows[k, :] = rows[j, :]


@njit(cache=True)
def family_statistics(family, n_initial):
    """(families, rho_t, rho_s) of a population: families = initial replicas with
    descendants; rho_t = Σ_f n_f² / R; rho_s = R exp(Σ_f ν_f ln ν_f), ν_f = n_f / R
    (Wang, Machta, Katzgraber, PRE 92, 063307 (2015)). ``family`` (R,) int64 labels in
    [0, n_initial). Both ρ are 1 when every family has one member, R when one family holds
    all. Sums in family order."""
    R = family.shape[0]
    counts = np.zeros(n_initial, dtype=np.int64)
    for k in range(R):
        counts[family[k]] += 1
    families = 0
    sq = 0.0
    ent = 0.0
    for f in range(n_initial):
        n = counts[f]
        if n > 0:
            families += 1
            sq += np.float64(n) * np.float64(n)
            nu = np.float64(n) / R
            ent += nu * np.log(nu)
    return families, sq / R, R * np.exp(ent)


@njit(cache=True)
def draw_pairs(family, rng, stream, pair_a, pair_b):
    """Fill pair_a, pair_b (P,) with slot pairs from different families: a uniform over the
    population, b uniform over the slots outside a's family (two numbers of ``rng[stream]``
    per pair). ``family`` must be non-decreasing (contiguous families; see the module
    docstring). Returns False (pairs untouched, nothing drawn) when one family holds all."""
    R = family.shape[0]
    if R == 0 or family[0] == family[R - 1]:
        return False
    for p in range(pair_a.shape[0]):
        a = min(np.int64(uniform(rng, stream) * R), R - 1)
        f = family[a]
        lo = a
        while lo > 0 and family[lo - 1] == f:
            lo -= 1
        hi = a + 1
        while hi < R and family[hi] == f:
            hi += 1
        others = R - (hi - lo)
        b = min(np.int64(uniform(rng, stream) * others), others - 1)
        if b >= lo:
            b += hi - lo
        pair_a[p] = a
        pair_b[p] = b
    return True


@njit(cache=True, parallel=True)
def ising_metropolis_dense_population(J, spins, fields, beta_w, sites, rng_sites, rng, accepted):
    """One Ising Metropolis sweep of every replica, dense couplings: replica k visits
    sites[k] (N random sites from its own stream rng_sites[k]; with one order for all,
    zero-field free spins of copies would flip together forever), then makes its pass on
    its own (ising._dense_walker, the walker-outer order of ising_sweep_dense: the same
    bits). Replicas in fixed blocks over threads; each uses only its own streams."""
    R = spins.shape[0]
    nb = n_blocks(R, sites.shape[1] * R)
    for b in prange(max(nb, 1)):
        for k in range((b * R) // nb, ((b + 1) * R) // nb):
            random_sites(rng_sites, k, sites[k])
            accepted[k] += _dense_walker(J, spins, fields, beta_w, sites[k], rng, k, False)


# Dense sweeps of a large population walk over it in blocks of WALKER_BLOCK replicas (one
# prange iteration each, a fixed size: never a function of the thread count). Within a block
# the site loop is outside and the replica loop inside, as in the ladder kernels, so the
# block's spins and fields (32 × N × 3 × 8 bytes = 96 KiB at N = 128, Heisenberg) stay in L2;
# one call over all 10⁴ replicas would stream the whole population from memory at every site
# (measured 3x slower per update at N = 128). Every replica's arithmetic and stream are its
# own, so the bits are those of one call over all of them.
WALKER_BLOCK = 32


@njit(cache=True, parallel=True)
def ising_sweep_dense_blocked(J, spins, fields, beta_w, sites, rng, heatbath, accepted, mode):
    """ising.ising_sweep_dense over replica blocks of WALKER_BLOCK (``mode``: one for all)."""
    R = spins.shape[0]
    nb = (R + WALKER_BLOCK - 1) // WALKER_BLOCK
    for b in prange(nb):
        _dense_block(J, spins, fields, beta_w, sites, rng, accepted, b * WALKER_BLOCK,
                     min(R, (b + 1) * WALKER_BLOCK), heatbath, mode)


@njit(cache=True, parallel=True)
def heisenberg_sweep_dense_blocked(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, heatbath,
                                   accepted, batch):
    """heisenberg.heisenberg_sweep_dense over replica blocks of WALKER_BLOCK."""
    R = sx.shape[0]
    nb = (R + WALKER_BLOCK - 1) // WALKER_BLOCK
    move = _heis._HEATBATH if heatbath else _heis._METROPOLIS
    for b in prange(nb):
        w0 = b * WALKER_BLOCK
        w1 = min(R, w0 + WALKER_BLOCK)
        if batch:
            _heis._dense_deferred(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted,
                                  w0, w1, move)
        elif heatbath:
            _heis._heatbath_dense_block(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng,
                                        accepted, w0, w1)
        else:
            _heis._metropolis_dense_block(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng,
                                          accepted, w0, w1)


@njit(cache=True, parallel=True)
def heisenberg_overrelax_dense_blocked(J, sx, sy, sz, hx, hy, hz, sites, batch):
    """heisenberg.heisenberg_overrelax_dense over replica blocks of WALKER_BLOCK."""
    R = sx.shape[0]
    nb = (R + WALKER_BLOCK - 1) // WALKER_BLOCK
    beta_w = np.zeros(0)
    rng = np.zeros((0, 4), dtype=np.uint64)
    accepted = np.zeros(0, dtype=np.int64)
    for b in prange(nb):
        w0 = b * WALKER_BLOCK
        w1 = min(R, w0 + WALKER_BLOCK)
        if batch:
            _heis._dense_deferred(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted,
                                  w0, w1, _heis._OVERRELAX)
        else:
            _heis._overrelax_dense_block(J, sx, sy, sz, hx, hy, hz, sites, w0, w1)


@njit(parallel=True, **_dm._KW)
def dm_sweep_dense_blocked(J, Dc, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, heatbath,
                           accepted, batch):
    """dm.dm_heisenberg_sweep_dense (DM vectors Dc (3, N, N)) over replica blocks of
    WALKER_BLOCK (the same bits: every replica's arithmetic and stream are its own)."""
    R = sx.shape[0]
    nb = (R + WALKER_BLOCK - 1) // WALKER_BLOCK
    move = _dm._HEATBATH if heatbath else _dm._METROPOLIS
    for b in prange(nb):
        _dm._run(J, Dc, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted, b * WALKER_BLOCK,
                 min(R, (b + 1) * WALKER_BLOCK), move, batch)


@njit(parallel=True, **_dm._KW)
def dm_overrelax_dense_blocked(J, Dc, sx, sy, sz, hx, hy, hz, sites, batch):
    """dm.dm_overrelax_dense over replica blocks of WALKER_BLOCK."""
    R = sx.shape[0]
    nb = (R + WALKER_BLOCK - 1) // WALKER_BLOCK
    beta_w = np.zeros(0)
    rng = np.zeros((0, 4), dtype=np.uint64)
    accepted = np.zeros(0, dtype=np.int64)
    for b in prange(nb):
        _dm._run(J, Dc, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted, b * WALKER_BLOCK,
                 min(R, (b + 1) * WALKER_BLOCK), _dm._OVERRELAX, batch)
