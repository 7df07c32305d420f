"""Measurement kernels: magnetization, overlaps (scalar and 3×3 tensor), q(k), link overlap.

Numba only: arrays and scalars in, results written into ``out`` arrays.  Layout conventions
(see docs/internals.md):

- spins ``(W, N)`` (Ising ±1) or ``sx, sy, sz`` each ``(W, N)`` (Heisenberg unit vectors),
  float64 or float32; every sum is accumulated in float64.
- ``perm[r, t]`` = global walker index at temperature t of ladder r.
- ladder pairs p = (pair_a[p], pair_b[p]), a < b, lexicographic (:func:`ladder_pairs`).
- ``cosk, sink`` ``(K, N)``: cos(k·R_i), sin(k·R_i) for K wave vectors (K = 0: no q(k)).

Determinism: every output element is computed by one thread in a fixed order; threads only
ever take whole outputs (or fixed-size blocks whose partial sums are combined in a fixed
order), so results are bit-identical for any number of threads.
"""
import numpy as np
from numba import njit, prange

# Fixed block sizes of the link-overlap quadratic forms (never derived from the thread count)
_COL_BLOCK = 64  # columns (t, p[, μν]) per task: the τ block of all rows stays in cache
_ROW_UNITS = 32  # row units per task; a unit is the row pair (u, N-1-u) (balanced triangle)


@njit(cache=True)
def ladder_pairs(R):
    """(pair_a, pair_b) int64 arrays of the P = R(R-1)/2 ladder pairs a < b, lexicographic."""
    P = R * (R - 1) // 2
    pa = np.empty(P, dtype=np.int64)
    pb = np.empty(P, dtype=np.int64)
    p = 0
    for a in range(R):
        for b in range(a + 1, R):
            pa[p] = a
            pb[p] = b
            p += 1
    return pa, pb


# ---------------------------------------------------------------------------------------
# magnetization
# ---------------------------------------------------------------------------------------


@njit(cache=True, parallel=True)
def ising_magnetization(spins, perm, out):
    """out[t, r] = (1/N) Σ_i s_i of walker perm[r, t].  out (T, R) float64."""
    R, T = perm.shape
    N = spins.shape[1]
    for idx in prange(T * R):
        t = idx // R
        r = idx - t * R
        w = perm[r, t]
        s = 0.0
        for i in range(N):
            s += np.float64(spins[w, i])
        out[t, r] = s / N


@njit(cache=True, parallel=True)
def heisenberg_magnetization(sx, sy, sz, perm, out):
    """out[t, r, μ] = (1/N) Σ_i S_iμ of walker perm[r, t].  out (T, R, 3) float64."""
    R, T = perm.shape
    N = sx.shape[1]
    for idx in prange(T * R):
        t = idx // R
        r = idx - t * R
        w = perm[r, t]
        mx = 0.0
        my = 0.0
        mz = 0.0
        for i in range(N):
            mx += np.float64(sx[w, i])
            my += np.float64(sy[w, i])
            mz += np.float64(sz[w, i])
        out[t, r, 0] = mx / N
        out[t, r, 1] = my / N
        out[t, r, 2] = mz / N


# ---------------------------------------------------------------------------------------
# overlaps and q(k)
# ---------------------------------------------------------------------------------------


@njit(cache=True)
def kmin_phases(positions, box):
    """cos(k·R_i), sin(k·R_i) for k = 2π/L_μ ê_μ (μ = x, y, z): two (3, N) float64 arrays."""
    N = positions.shape[0]
    cosk = np.empty((3, N), dtype=np.float64)
    sink = np.empty((3, N), dtype=np.float64)
    for mu in range(3):
        k = 2.0 * np.pi / box[mu]
        for i in range(N):
            ph = k * positions[i, mu]
            cosk[mu, i] = np.cos(ph)
            sink[mu, i] = np.sin(ph)
    return cosk, sink


@njit(cache=True, parallel=True)
def ising_overlap(spins, perm, pair_a, pair_b, cosk, sink, q, qk2):
    """q[t, p] = (1/N) Σ_i s_i^a s_i^b;  qk2[t, p] = (1/K) Σ_k |q(k)|²,
    q(k) = (1/N) Σ_i s_i^a s_i^b e^{i k·R_i}  (nan when K = 0).
    a = perm[pair_a[p], t], b = perm[pair_b[p], t]."""
    T = perm.shape[1]
    P = pair_a.shape[0]
    N = spins.shape[1]
    K = cosk.shape[0]
    for idx in prange(T * P):
        t = idx // P
        p = idx - t * P
        wa = perm[pair_a[p], t]
        wb = perm[pair_b[p], t]
        s = 0.0
        for i in range(N):
            s += np.float64(spins[wa, i]) * np.float64(spins[wb, i])
        q[t, p] = s / N
        if K == 0:
            qk2[t, p] = np.nan
            continue
        acc = 0.0
        for k in range(K):
            re = 0.0
            im = 0.0
            for i in range(N):
                tau = np.float64(spins[wa, i]) * np.float64(spins[wb, i])
                re += tau * cosk[k, i]
                im += tau * sink[k, i]
            re /= N
            im /= N
            acc += re * re + im * im
        qk2[t, p] = acc / K


@njit(cache=True, parallel=True)
def heisenberg_overlap(sx, sy, sz, perm, pair_a, pair_b, cosk, sink, q, qk2):
    """q[t, p, μ, ν] = (1/N) Σ_i S_iμ^a S_iν^b;  qk2[t, p] = (1/K) Σ_k Σ_μν |q_μν(k)|²
    (nan when K = 0).  q (T, P, 3, 3), qk2 (T, P) float64."""
    T = perm.shape[1]
    P = pair_a.shape[0]
    N = sx.shape[1]
    K = cosk.shape[0]
    for idx in prange(T * P):
        t = idx // P
        p = idx - t * P
        wa = perm[pair_a[p], t]
        wb = perm[pair_b[p], t]
        acc = np.zeros(9)
        re = np.zeros((K, 9))
        im = np.zeros((K, 9))
        a = np.empty(3)
        b = np.empty(3)
        tau = np.empty(9)
        for i in range(N):
            a[0] = np.float64(sx[wa, i])
            a[1] = np.float64(sy[wa, i])
            a[2] = np.float64(sz[wa, i])
            b[0] = np.float64(sx[wb, i])
            b[1] = np.float64(sy[wb, i])
            b[2] = np.float64(sz[wb, i])
            for mu in range(3):
                for nu in range(3):
                    tau[3 * mu + nu] = a[mu] * b[nu]
            for m in range(9):
                acc[m] += tau[m]
            for k in range(K):
                c = cosk[k, i]
                s = sink[k, i]
                for m in range(9):
                    re[k, m] += tau[m] * c
                    im[k, m] += tau[m] * s
        for mu in range(3):
            for nu in range(3):
                q[t, p, mu, nu] = acc[3 * mu + nu] / N
        if K == 0:
            qk2[t, p] = np.nan
            continue
        tot = 0.0
        for k in range(K):
            for m in range(9):
                x = re[k, m] / N
                y = im[k, m] / N
                tot += x * x + y * y
        qk2[t, p] = tot / K


# ---------------------------------------------------------------------------------------
# link overlap: q_l = Σ_{i<j} K2_ij (S_i^a·S_j^a)(S_i^b·S_j^b) / Σ_{i<j} K2_ij, K2 = J∘J
# evaluated as quadratic forms Σ_{i<j} K2_ij τ_i[c] τ_j[c] over columns c:
#   Ising       c = t·P + p,            τ_i[c] = s_i^a s_i^b
#   Heisenberg  c = (t·P + p)·9 + 3μ+ν, τ_i[c] = S_iμ^a S_iν^b   (q_l sums the 9 columns)
# ---------------------------------------------------------------------------------------


@njit(cache=True)
def k2_sum_dense(K2):
    """Σ_{i<j} K2_ij (upper triangle, fixed order)."""
    N = K2.shape[0]
    s = 0.0
    for i in range(N):
        for j in range(i + 1, N):
            s += np.float64(K2[i, j])
    return s


@njit(cache=True)
def k2_sum_csr(indptr, indices, data2):
    """Σ_{i<j} K2_ij over the stored entries with column > row (fixed order)."""
    N = indptr.shape[0] - 1
    s = 0.0
    for i in range(N):
        for e in range(indptr[i], indptr[i + 1]):
            if indices[e] > i:
                s += np.float64(data2[e])
    return s


@njit(cache=True, parallel=True)
def _ising_tau(spins, perm, pair_a, pair_b, tau):
    T = perm.shape[1]
    P = pair_a.shape[0]
    N = spins.shape[1]
    for i in prange(N):
        for t in range(T):
            for p in range(P):
                wa = perm[pair_a[p], t]
                wb = perm[pair_b[p], t]
                tau[i, t * P + p] = np.float64(spins[wa, i]) * np.float64(spins[wb, i])


@njit(cache=True, parallel=True)
def _heisenberg_tau(sx, sy, sz, perm, pair_a, pair_b, tau):
    T = perm.shape[1]
    P = pair_a.shape[0]
    N = sx.shape[1]
    for i in prange(N):
        for t in range(T):
            for p in range(P):
                wa = perm[pair_a[p], t]
                wb = perm[pair_b[p], t]
                a0 = np.float64(sx[wa, i])
                a1 = np.float64(sy[wa, i])
                a2 = np.float64(sz[wa, i])
                b0 = np.float64(sx[wb, i])
                b1 = np.float64(sy[wb, i])
                b2 = np.float64(sz[wb, i])
                c = (t * P + p) * 9
                tau[i, c + 0] = a0 * b0
                tau[i, c + 1] = a0 * b1
                tau[i, c + 2] = a0 * b2
                tau[i, c + 3] = a1 * b0
                tau[i, c + 4] = a1 * b1
                tau[i, c + 5] = a1 * b2
                tau[i, c + 6] = a2 * b0
                tau[i, c + 7] = a2 * b1
                tau[i, c + 8] = a2 * b2


@njit(cache=True, parallel=True)
def _quadform_dense(K2, tau, partial):
    """partial[rb, c] = Σ_{rows i of row block rb} τ_i[c] Σ_{j>i} K2_ij τ_j[c].

    Tasks = (row block, column block), both of fixed size; within a task rows and j run in
    a fixed order, so each partial is independent of the thread count.  Row block rb holds
    the row units u = rb·_ROW_UNITS ... (unit u = rows u and N-1-u, equal work per unit)."""
    N, C = tau.shape
    n_units = (N + 1) // 2
    n_rb = partial.shape[0]
    n_cb = (C + _COL_BLOCK - 1) // _COL_BLOCK
    for task in prange(n_rb * n_cb):
        rb = task // n_cb
        cb = task - rb * n_cb
        c0 = cb * _COL_BLOCK
        cw = min(_COL_BLOCK, C - c0)
        acc = np.zeros(cw)
        u = np.empty(cw)
        u_lo = rb * _ROW_UNITS
        u_hi = min(n_units, u_lo + _ROW_UNITS)
        for unit in range(u_lo, u_hi):
            for side in range(2):
                i = unit if side == 0 else N - 1 - unit
                if side == 1 and i == unit:
                    continue
                for c in range(cw):
                    u[c] = 0.0
                for j in range(i + 1, N):
                    w = np.float64(K2[i, j])
                    if w == 0.0:
                        continue
                    for c in range(cw):
                        u[c] += w * tau[j, c0 + c]
                for c in range(cw):
                    acc[c] += tau[i, c0 + c] * u[c]
        for c in range(cw):
            partial[rb, c0 + c] = acc[c]


@njit(cache=True, parallel=True)
def _quadform_csr(indptr, indices, data2, tau, partial):
    """As _quadform_dense with K2 in CSR (both directions stored; entries with column > row
    are used, in stored order)."""
    N, C = tau.shape
    n_units = (N + 1) // 2
    n_rb = partial.shape[0]
    n_cb = (C + _COL_BLOCK - 1) // _COL_BLOCK
    for task in prange(n_rb * n_cb):
        rb = task // n_cb
        cb = task - rb * n_cb
        c0 = cb * _COL_BLOCK
        cw = min(_COL_BLOCK, C - c0)
        acc = np.zeros(cw)
        u = np.empty(cw)
        u_lo = rb * _ROW_UNITS
        u_hi = min(n_units, u_lo + _ROW_UNITS)
        for unit in range(u_lo, u_hi):
            for side in range(2):
                i = unit if side == 0 else N - 1 - unit
                if side == 1 and i == unit:
                    continue
                for c in range(cw):
                    u[c] = 0.0
                for e in range(indptr[i], indptr[i + 1]):
                    j = indices[e]
                    if j <= i:
                        continue
                    w = np.float64(data2[e])
                    if w == 0.0:
                        continue
                    for c in range(cw):
                        u[c] += w * tau[j, c0 + c]
                for c in range(cw):
                    acc[c] += tau[i, c0 + c] * u[c]
        for c in range(cw):
            partial[rb, c0 + c] = acc[c]


@njit(cache=True)
def _n_row_blocks(N):
    n_units = (N + 1) // 2
    return max(1, (n_units + _ROW_UNITS - 1) // _ROW_UNITS)


@njit(cache=True)
def _finish_link(partial, k2_total, ncomp, out):
    """out[t, p] = Σ_comp Σ_rb partial[rb, (t·P+p)·ncomp + comp] / k2_total (fixed order)."""
    T, P = out.shape
    n_rb = partial.shape[0]
    for t in range(T):
        for p in range(P):
            if not k2_total > 0.0:
                out[t, p] = np.nan
                continue
            c0 = (t * P + p) * ncomp
            tot = 0.0
            for m in range(ncomp):
                s = 0.0
                for rb in range(n_rb):
                    s += partial[rb, c0 + m]
                tot += s
            out[t, p] = tot / k2_total


@njit(cache=True)
def ising_link_overlap_dense(K2, spins, perm, pair_a, pair_b, out):
    """out[t, p] = q_l of ladders (pair_a[p], pair_b[p]) at temperature t; K2 = J∘J dense
    (N, N), symmetric (only the upper triangle is read).  Σ_{i<j} K2_ij is computed here;
    nan if it is 0."""
    T = perm.shape[1]
    P = pair_a.shape[0]
    N = spins.shape[1]
    tau = np.empty((N, T * P))
    _ising_tau(spins, perm, pair_a, pair_b, tau)
    partial = np.zeros((_n_row_blocks(N), T * P))
    _quadform_dense(K2, tau, partial)
    _finish_link(partial, k2_sum_dense(K2), 1, out)


@njit(cache=True)
def ising_link_overlap_csr(indptr, indices, data2, spins, perm, pair_a, pair_b, out):
    """As ising_link_overlap_dense with K2 in CSR form (indptr, indices, data2 = data**2)."""
    T = perm.shape[1]
    P = pair_a.shape[0]
    N = spins.shape[1]
    tau = np.empty((N, T * P))
    _ising_tau(spins, perm, pair_a, pair_b, tau)
    partial = np.zeros((_n_row_blocks(N), T * P))
    _quadform_csr(indptr, indices, data2, tau, partial)
    _finish_link(partial, k2_sum_csr(indptr, indices, data2), 1, out)


@njit(cache=True)
def heisenberg_link_overlap_dense(K2, sx, sy, sz, perm, pair_a, pair_b, out):
    """Heisenberg q_l = Σ_{i<j} K2_ij (S_i^a·S_j^a)(S_i^b·S_j^b) / Σ_{i<j} K2_ij, as the sum
    of 9 quadratic forms in T_i^{μν} = S_iμ^a S_iν^b.  out (T, P) float64."""
    T = perm.shape[1]
    P = pair_a.shape[0]
    N = sx.shape[1]
    tau = np.empty((N, T * P * 9))
    _heisenberg_tau(sx, sy, sz, perm, pair_a, pair_b, tau)
    partial = np.zeros((_n_row_blocks(N), T * P * 9))
    _quadform_dense(K2, tau, partial)
    _finish_link(partial, k2_sum_dense(K2), 9, out)


@njit(cache=True)
def heisenberg_link_overlap_csr(indptr, indices, data2, sx, sy, sz, perm, pair_a, pair_b, out):
    """As heisenberg_link_overlap_dense with K2 in CSR form."""
    T = perm.shape[1]
    P = pair_a.shape[0]
    N = sx.shape[1]
    tau = np.empty((N, T * P * 9))
    _heisenberg_tau(sx, sy, sz, perm, pair_a, pair_b, tau)
    partial = np.zeros((_n_row_blocks(N), T * P * 9))
    _quadform_csr(indptr, indices, data2, tau, partial)
    _finish_link(partial, k2_sum_csr(indptr, indices, data2), 9, out)
