"""Scalar chirality of Heisenberg spins: κ_t = S_j·(S_i × S_k) for triplet rows (j, i, k)
(numba). Triplets are built in rkky_mc/observables_chiral.py.

Layout as in measure.py: spins ``sx, sy, sz`` (W, N); ``perm[r, t]`` = walker of ladder r at
temperature t; ladder pairs (pair_a[p], pair_b[p]) (measure.ladder_pairs); ``triplets``
(N_t, 3) int64; ``cosk, sink`` (K, N_t): cos/sin(k·R_t) at the triplet centroids
(measure.kmin_phases of the centroids: k = 2π/L_μ ê_μ, the k_min of overlap_k2).
κ is computed once per walker into ``kappa`` (W, N_t) float64 (``chiralities``), then

    chiral_overlap     q_χ = (1/N_t) Σ_t κ_t^a κ_t^b                          (T, P)
    chiral_overlap_k2  (1/K) Σ_k |(1/N_t) Σ_t κ_t^a κ_t^b e^{ik·R_t}|²         (T, P)
    chirality_sq       (1/N_t) Σ_t κ_t²                                       (T, R)

(cost O(N_t·P) per measurement; the overlap_k2 of measure.heisenberg_overlap with the 9
components replaced by the one chiral overlap). No triplets (N_t = 0): every output is nan.
Sums in float64, t ascending; each output element is computed by one thread: results do
not depend on the thread count.

Cost (measured, this 2-core VM): chiral_measure for 805 nearest-neighbour triplets of
N = 1000 fcc impurities (L = 17), 32 walkers (R = 4, T = 8, P = 6): 0.19 ms, about 2 % of
one dense DM heat-bath sweep of the same walkers (9 ms).

κ is odd under S → −S of every spin (−a·(−b × −c) = −a·(b × c), exactly in floating point)
and invariant under a global rotation (a proper rotation keeps the triple product).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def chiralities(sx, sy, sz, triplets, kappa):
    """kappa[w, t] = S_j·(S_i × S_k) of walker w for triplet t = (j, i, k)."""
    W = sx.shape[0]
    NT = triplets.shape[0]
    for w in prange(W):
        for t in range(NT):
            j = triplets[t, 0]
            i = triplets[t, 1]
            k = triplets[t, 2]
            ax = np.float64(sx[w, i])
            ay = np.float64(sy[w, i])
            az = np.float64(sz[w, i])
            bx = np.float64(sx[w, k])
            by = np.float64(sy[w, k])
            bz = np.float64(sz[w, k])
            kappa[w, t] = (np.float64(sx[w, j]) * (ay * bz - az * by)
                           + np.float64(sy[w, j]) * (az * bx - ax * bz)
                           + np.float64(sz[w, j]) * (ax * by - ay * bx))


@njit(cache=True, parallel=True)
def chiral_overlap(kappa, perm, pair_a, pair_b, out):
    """out[t, p] = (1/N_t) Σ_s κ_s^a κ_s^b, a = perm[pair_a[p], t], b = perm[pair_b[p], t]."""
    T = perm.shape[1]
    P = pair_a.shape[0]
    NT = kappa.shape[1]
    for idx in prange(T * P):
        t = idx // P
        p = idx - t * P
        if NT == 0:
            out[t, p] = np.nan
            continue
        wa = perm[pair_a[p], t]
        wb = perm[pair_b[p], t]
        s = 0.0
        for m in range(NT):
            s += kappa[wa, m] * kappa[wb, m]
        out[t, p] = s / NT


@njit(cache=True, parallel=True)
def chiral_overlap_k2(kappa, perm, pair_a, pair_b, cosk, sink, out):
    """out[t, p] = (1/K) Σ_k |q_χ(k)|², q_χ(k) = (1/N_t) Σ_s κ_s^a κ_s^b e^{ik·R_s}
    (nan when K = 0 or N_t = 0)."""
    T = perm.shape[1]
    P = pair_a.shape[0]
    NT = kappa.shape[1]
    K = cosk.shape[0]
    for idx in prange(T * P):
        t = idx // P
        p = idx - t * P
        if NT == 0 or K == 0:
            out[t, p] = np.nan
            continue
        wa = perm[pair_a[p], t]
        wb = perm[pair_b[p], t]
        acc = 0.0
        for k in range(K):
            re = 0.0
            im = 0.0
            for m in range(NT):
                tau = kappa[wa, m] * kappa[wb, m]
                re += tau * cosk[k, m]
                im += tau * sink[k, m]
            re /= NT
            im /= NT
            acc += re * re + im * im
        out[t, p] = acc / K


@njit(cache=True, parallel=True)
def chirality_sq(kappa, perm, out):
    """out[t, r] = (1/N_t) Σ_s κ_s² of walker perm[r, t] (nan when N_t = 0)."""
    R, T = perm.shape
    NT = kappa.shape[1]
    for idx in prange(T * R):
        t = idx // R
        r = idx - t * R
        if NT == 0:
            out[t, r] = np.nan
            continue
        w = perm[r, t]
        s = 0.0
        for m in range(NT):
            s += kappa[w, m] * kappa[w, m]
        out[t, r] = s / NT


@njit(cache=True)
def chiral_measure(sx, sy, sz, triplets, perm, pair_a, pair_b, cosk, sink, q, qk2, k2):
    """All three chiral series of one measurement: q (T, P), qk2 (T, P), k2 (T, R)."""
    kappa = np.empty((sx.shape[0], triplets.shape[0]))
    chiralities(sx, sy, sz, triplets, kappa)
    chiral_overlap(kappa, perm, pair_a, pair_b, q)
    chiral_overlap_k2(kappa, perm, pair_a, pair_b, cosk, sink, qk2)
    chirality_sq(kappa, perm, k2)


@njit(cache=True, parallel=True)
def nearest_two(pos, box, out):
    """out[i] = (j, k): the nearest and second-nearest other site of i, by minimum-image
    distance (the arithmetic of kernels.rkky.min_image_distance), ties to the lower index.
    Needs N ≥ 3. out (N, 2) int64."""
    N = pos.shape[0]
    for i in prange(N):
        d1 = math.inf
        d2 = math.inf
        j1 = -1
        j2 = -1
        for j in range(N):
            if j == i:
                continue
            s = 0.0
            for a in range(3):
                d = pos[i, a] - pos[j, a]
                d -= box[a] * np.rint(d / box[a])
                s += d * d
            r = math.sqrt(s)
            # j ascending: a later j with an equal distance never displaces an earlier one
            if r < d1:
                d2 = d1
                j2 = j1
                d1 = r
                j1 = j
            elif r < d2:
                d2 = r
                j2 = j
        out[i, 0] = j1
        out[i, 1] = j2
