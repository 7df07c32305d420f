"""Measurement kernels: magnetization, overlaps (scalar and 3×3 tensor), q(k), link overlap
(J²-weighted) and bond overlap (unweighted, CSR).

Numba only: arrays and scalars in, results written into ``out`` arrays.  Layout conventions
(see docs/architecture.md):

- spins ``(W, N)`` (Ising ±1) or ``sx, sy, sz`` each ``(W, N)`` (Heisenberg unit vectors),
  float64 or float32; every sum is accumulated in float64, except the inner sums of the
  dense link overlap in float32 runs (float32 over chunks of _J_CHUNK terms, see below).
- ``perm[r, t]`` = global walker index at temperature t of ladder r.
- ladder pairs p = (pair_a[p], pair_b[p]), a < b, lexicographic (:func:`ladder_pairs`).
- ``cosk, sink`` ``(K, N)``: cos(k·R_i), sin(k·R_i) for K wave vectors (K = 0: no q(k)).

Determinism: every output element is computed by one thread in a fixed order; threads only
ever take whole outputs (or fixed-size blocks whose partial sums are combined in a fixed
order), so results are bit-identical for any number of threads.

Serial below a work threshold: each kernel's body is a ``_range`` function over a range of
outputs (or tasks); the public kernel runs it over all of them in the calling thread when the
work is small (fields.n_blocks: one thread, or < PARALLEL_MIN_WORK elements), else over
contiguous blocks in a prange. A parallel region costs microseconds even with one thread,
more than the whole measurement of a small system; the outputs are the same bits either way.
"""
import numpy as np
from numba import njit, prange

from .fields import n_blocks

# Fixed block sizes of the link-overlap quadratic forms (never derived from the thread count)
_ROW_UNITS = 32  # row units per task; a unit is the row pair (u, N-1-u) (balanced triangle)
_J_CHUNK = 128  # float32: columns j per float32 partial sum of the quadratic forms


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
    n = T * R
    nb = n_blocks(n, n * spins.shape[1])
    if nb <= 1:
        _ising_magnetization_range(spins, perm, out, np.int64(0), n)
    else:
        for b in prange(nb):
            _ising_magnetization_range(spins, perm, out, (b * n) // nb, ((b + 1) * n) // nb)


# Ising: every term is ±1, so the float64 sums are exact integers in any order and the
# reassociated (vectorised) loop gives the same bits as the sequential one.
@njit(cache=True, fastmath={"reassoc", "nsz"})
def _ising_magnetization_range(spins, perm, out, i0, i1):
    R, T = perm.shape
    N = spins.shape[1]
    for idx in range(i0, i1):
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
    n = T * R
    nb = n_blocks(n, 3 * n * sx.shape[1])
    if nb <= 1:
        _heisenberg_magnetization_range(sx, sy, sz, perm, out, np.int64(0), n)
    else:
        for b in prange(nb):
            _heisenberg_magnetization_range(sx, sy, sz, perm, out, (b * n) // nb,
                                            ((b + 1) * n) // nb)


@njit(cache=True)
def _heisenberg_magnetization_range(sx, sy, sz, perm, out, i0, i1):
    R, T = perm.shape
    N = sx.shape[1]
    for idx in range(i0, i1):
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
    n = perm.shape[1] * pair_a.shape[0]
    nb = n_blocks(n, n * spins.shape[1] * (1 + 2 * cosk.shape[0]))
    if nb <= 1:
        _ising_overlap_range(spins, perm, pair_a, pair_b, cosk, sink, q, qk2, np.int64(0), n)
    else:
        for b in prange(nb):
            _ising_overlap_range(spins, perm, pair_a, pair_b, cosk, sink, q, qk2,
                                 (b * n) // nb, ((b + 1) * n) // nb)


@njit(cache=True)
def _ising_overlap_range(spins, perm, pair_a, pair_b, cosk, sink, q, qk2, i0, i1):
    P = pair_a.shape[0]
    N = spins.shape[1]
    K = cosk.shape[0]
    tau = np.empty(N)
    re = np.zeros(K)
    im = np.zeros(K)
    for idx in range(i0, i1):
        t = idx // P
        p = idx - t * P
        wa = perm[pair_a[p], t]
        wb = perm[pair_b[p], t]
        q[t, p] = _ising_pair_products(spins, wa, wb, tau) / N
        if K == 0:
            qk2[t, p] = np.nan
            continue
        # the K sums of one pair over sites i in one pass (each sum in its own sequential
        # order: the same bits as one k at a time, 2K independent chains instead of 2)
        re[:] = 0.0
        im[:] = 0.0
        if K == 3:
            r0 = 0.0
            r1 = 0.0
            r2 = 0.0
            m0 = 0.0
            m1 = 0.0
            m2 = 0.0
            for i in range(N):
                x = tau[i]
                r0 += x * cosk[0, i]
                m0 += x * sink[0, i]
                r1 += x * cosk[1, i]
                m1 += x * sink[1, i]
                r2 += x * cosk[2, i]
                m2 += x * sink[2, i]
            re[0] = r0
            re[1] = r1
            re[2] = r2
            im[0] = m0
            im[1] = m1
            im[2] = m2
        else:
            for k in range(K):
                r = 0.0
                m = 0.0
                for i in range(N):
                    r += tau[i] * cosk[k, i]
                    m += tau[i] * sink[k, i]
                re[k] = r
                im[k] = m
        acc = 0.0
        for k in range(K):
            x = re[k] / N
            y = im[k] / N
            acc += x * x + y * y
        qk2[t, p] = acc / K


@njit(cache=True, fastmath={"reassoc", "nsz"})
def _ising_pair_products(spins, wa, wb, tau):
    """tau[i] = s_i^a s_i^b (float64) and Σ_i tau[i]: exact (±1 terms), so any order."""
    s = 0.0
    for i in range(spins.shape[1]):
        x = np.float64(spins[wa, i]) * np.float64(spins[wb, i])
        tau[i] = x
        s += x
    return s


@njit(cache=True, parallel=True)
def heisenberg_overlap(sx, sy, sz, perm, pair_a, pair_b, cosk, sink, q, qk2):
    """q[t, p, μ, ν] = (1/N) Σ_i S_iμ^a S_iν^b;  qk2[t, p] = (1/K) Σ_k Σ_μν |q_μν(k)|²
    (nan when K = 0).  q (T, P, 3, 3), qk2 (T, P) float64."""
    n = perm.shape[1] * pair_a.shape[0]
    nb = n_blocks(n, 9 * n * sx.shape[1] * (1 + 2 * cosk.shape[0]))
    if nb <= 1:
        _heisenberg_overlap_range(sx, sy, sz, perm, pair_a, pair_b, cosk, sink, q, qk2,
                                  np.int64(0), n)
    else:
        for b in prange(nb):
            _heisenberg_overlap_range(sx, sy, sz, perm, pair_a, pair_b, cosk, sink, q, qk2,
                                      (b * n) // nb, ((b + 1) * n) // nb)


@njit(cache=True)
def _heisenberg_overlap_range(sx, sy, sz, perm, pair_a, pair_b, cosk, sink, q, qk2, i0, i1):
    P = pair_a.shape[0]
    N = sx.shape[1]
    K = cosk.shape[0]
    for idx in range(i0, i1):
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
# link overlap: q_l = Σ_{i<j} J_ij² (S_i^a·S_j^a)(S_i^b·S_j^b) / Σ_{i<j} J_ij²
# evaluated as quadratic forms Σ_{i<j} J_ij² τ_i[c] τ_j[c] over columns c:
#   Ising       c = t·P + p,            τ_i[c] = s_i^a s_i^b
#   Heisenberg  c = (t·P + p)·9 + 3μ+ν, τ_i[c] = S_iμ^a S_iν^b   (q_l sums the 9 columns)
# The kernels take the couplings J themselves and square them on the fly, so no second N×N
# array (J∘J) is ever stored: dense in J's dtype, CSR in float64. Dense float32 (a float32
# run): τ, J_ij² and the sums u are float32 (8-wide vectors: the Heisenberg measurement
# 1.5× faster), each u summed in float32 over chunks of _J_CHUNK = 128 columns j and the
# chunks added in float64 (_rows_u_chunked), so |error| ≤ γ_136 Σ|terms| (γ_n = n·2⁻²⁴),
# in practice ~1e-8 of q_l; float64 runs take one pass (no chunks).
#
# Bond overlap (CSR only): the same quadratic forms with weight 1 for every stored J_ij ≠ 0
# instead of J_ij² (``unit_weight = True``), divided by the number of such pairs i < j:
#   q_b = (1/N_b) Σ_{bonds i<j} (S_i^a·S_j^a)(S_i^b·S_j^b)
# (the unweighted link overlap of the EA Gaussian identity e_J = −(z/2T)(1 − [⟨q_b⟩])).
#
# Layout: τ is held in column blocks, tau (n_cb, N, CB), zero-padded; block widths
# depend only on the number of columns C and the dtype (never on the thread count): n_cb =
# ⌈C/64⌉ (float64) or ⌈C/128⌉ (float32), CB = ⌈C/n_cb⌉ rounded up to a multiple of 4
# (Ising T·P = 16 → one block of 16; Heisenberg 9·16 = 144 → three blocks of 48 in float64,
# two of 72 in float32). Row i of a block needs u_c = Σ_{j>i} J_ij² τ_j[c]. Dense
# couplings: rows are taken four consecutive rows at a time (_rows4_u_dense): every load of
# τ_j serves the four rows, j in pairs, the four u rows stay in L1 (τ itself,
# N·CB·itemsize bytes, does not); 1.5–1.8× faster than one row at a time (Heisenberg
# N = 1000 / 2000). Leftover rows, and CSR rows, one at a time (_row_u_dense, _row_u2_csr:
# j in groups of four / stored order). The inner loops over the CB columns of a block are
# contiguous and vectorised. Fixed summation order throughout.
# ---------------------------------------------------------------------------------------

_MAX_BLOCK_BYTES = 512  # a row of a τ block: 64 float64 or 128 float32 columns at most


@njit(cache=True)
def _col_blocks(C, itemsize):
    """(n_cb, CB): number and width of the column blocks for C columns (C ≥ 1) of
    ``itemsize``-byte values (float32: Heisenberg's 144 columns in two blocks of 72, 12 %
    faster than three of 48 at N = 1000 and 2000; float64 keeps 48, its best)."""
    max_cols = _MAX_BLOCK_BYTES // itemsize
    n_cb = (C + max_cols - 1) // max_cols
    if n_cb < 1:
        n_cb = 1
    cb = (C + n_cb - 1) // n_cb
    cb = (cb + 3) // 4 * 4
    return n_cb, max(cb, 4)


@njit(cache=True, fastmath={"nsz"})
def k2_sum_dense(J):
    """Σ_{i<j} J_ij² (upper triangle, squares in float64; fixed order: per row four
    interleaved partial sums, combined as (a0+a1)+(a2+a3), rows added in order)."""
    N = J.shape[0]
    tot = 0.0
    for i in range(N - 1):
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        r = J[i, i + 1:]
        n = r.shape[0]
        m = n // 4 * 4
        for j in range(0, m, 4):
            x0 = np.float64(r[j])
            x1 = np.float64(r[j + 1])
            x2 = np.float64(r[j + 2])
            x3 = np.float64(r[j + 3])
            a0 += x0 * x0
            a1 += x1 * x1
            a2 += x2 * x2
            a3 += x3 * x3
        for j in range(m, n):
            x0 = np.float64(r[j])
            a0 += x0 * x0
        tot += (a0 + a1) + (a2 + a3)
    return tot


@njit(cache=True)
def k2_sum_csr(indptr, indices, data):
    """Σ_{i<j} J_ij² over the stored entries with column > row (fixed order)."""
    N = indptr.shape[0] - 1
    s = 0.0
    for i in range(N):
        for e in range(indptr[i], indptr[i + 1]):
            if indices[e] > i:
                x = np.float64(data[e])
                s += x * x
    return s


@njit(cache=True)
def bond_count_csr(indptr, indices, data):
    """N_b: the number of stored entries with column > row and J_ij ≠ 0 (as a float64)."""
    N = indptr.shape[0] - 1
    s = 0.0
    for i in range(N):
        for e in range(indptr[i], indptr[i + 1]):
            if indices[e] > i and np.float64(data[e]) != 0.0:
                s += 1.0
    return s


@njit(cache=True)
def _ising_tau(spins, perm, pair_a, pair_b, tau):
    """tau (n_cb, N, CB): column c = t·P+p at [c // CB, i, c % CB] = s_i^a s_i^b
    (sites innermost: each walker's spins are read as a contiguous row)."""
    T = perm.shape[1]
    P = pair_a.shape[0]
    N = spins.shape[1]
    CB = tau.shape[2]
    for t in range(T):
        for p in range(P):
            wa = perm[pair_a[p], t]
            wb = perm[pair_b[p], t]
            c = t * P + p
            cb = c // CB
            cc = c % CB
            for i in range(N):
                tau[cb, i, cc] = np.float64(spins[wa, i]) * np.float64(spins[wb, i])


@njit(cache=True, parallel=True)
def _heisenberg_tau(sx, sy, sz, perm, pair_a, pair_b, tau):
    """tau (n_cb, N, CB): column c = (t·P+p)·9 + 3μ+ν holds S_iμ^a S_iν^b (block and
    column advanced by one per product: no integer division per element)."""
    N = sx.shape[1]
    nb = n_blocks(N, 9 * N * perm.shape[1] * pair_a.shape[0])
    if nb <= 1:
        _heisenberg_tau_range(sx, sy, sz, perm, pair_a, pair_b, tau, np.int64(0), N)
    else:
        for b in prange(nb):
            _heisenberg_tau_range(sx, sy, sz, perm, pair_a, pair_b, tau, (b * N) // nb,
                                  ((b + 1) * N) // nb)


@njit(cache=True)
def _heisenberg_tau_range(sx, sy, sz, perm, pair_a, pair_b, tau, i0, i1):
    T = perm.shape[1]
    P = pair_a.shape[0]
    CB = tau.shape[2]
    for i in range(i0, i1):
        blk = 0
        col = 0
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
                for mu in range(3):
                    am = a0 if mu == 0 else (a1 if mu == 1 else a2)
                    for nu in range(3):
                        bn = b0 if nu == 0 else (b1 if nu == 1 else b2)
                        tau[blk, i, col] = am * bn
                        col += 1
                        if col == CB:
                            blk += 1
                            col = 0


# The flat τ block is indexed with uint64 offsets: numba then emits no negative-index
# wraparound, and the column loop (trip count CB, not a compile-time constant, so LLVM does
# not fully unroll it into scalar code) vectorises. Weights J_ij² and the sums u are in the
# dtype of J and τ (the run's precision: float32 runs get 8-wide vectors).
@njit(cache=True, fastmath={"nsz"})
def _row_u_dense(J, tf, off, i, j0, j1, CB, u):
    """u[c] = Σ_{max(j0, i+1) ≤ j < j1} J_ij² τ_j[c] for the block at flat offset ``off``;
    j in groups of 4."""
    cbu = np.uint64(CB)
    for c in range(CB):
        u[c] = 0.0
    j = max(j0, i + 1)
    while j + 4 <= j1:
        x0 = J[i, j]
        x1 = J[i, j + 1]
        x2 = J[i, j + 2]
        x3 = J[i, j + 3]
        w0 = x0 * x0
        w1 = x1 * x1
        w2 = x2 * x2
        w3 = x3 * x3
        b0 = off + np.uint64(j) * cbu
        b1 = b0 + cbu
        b2 = b1 + cbu
        b3 = b2 + cbu
        for c in range(CB):
            cu = np.uint64(c)
            u[c] += (w0 * tf[b0 + cu] + w1 * tf[b1 + cu]) + (w2 * tf[b2 + cu] + w3 * tf[b3 + cu])
        j += 4
    while j < j1:
        x0 = J[i, j]
        w0 = x0 * x0
        b0 = off + np.uint64(j) * cbu
        for c in range(CB):
            u[c] += w0 * tf[b0 + np.uint64(c)]
        j += 1


@njit(cache=True, fastmath={"nsz"})
def _rows4_u_dense(J, tf, off, i0, j0, j1, CB, U):
    """U[r, c] = Σ_{max(j0, i0+r+1) ≤ j < j1} J_{i0+r,j}² τ_j[c] for the four rows i0 … i0+3
    (i0 + 3 < N), the block at flat offset ``off``: first the triangle j ≤ i0+3, then j from
    i0+4 in pairs (u += w τ_j + w' τ_j+1), each pair of τ loads serving all four rows."""
    cbu = np.uint64(CB)
    for r in range(4):
        for c in range(CB):
            U[r, c] = 0.0
    for r in range(3):
        i = i0 + r
        for j in range(max(j0, i + 1), min(i0 + 4, j1)):
            x = J[i, j]
            w = x * x
            b = off + np.uint64(j) * cbu
            for c in range(CB):
                U[r, c] += w * tf[b + np.uint64(c)]
    u0 = U[0]
    u1 = U[1]
    u2 = U[2]
    u3 = U[3]
    j = max(j0, i0 + 4)
    while j + 2 <= j1:
        x0 = J[i0, j]
        x1 = J[i0 + 1, j]
        x2 = J[i0 + 2, j]
        x3 = J[i0 + 3, j]
        y0 = J[i0, j + 1]
        y1 = J[i0 + 1, j + 1]
        y2 = J[i0 + 2, j + 1]
        y3 = J[i0 + 3, j + 1]
        w0 = x0 * x0
        w1 = x1 * x1
        w2 = x2 * x2
        w3 = x3 * x3
        v0 = y0 * y0
        v1 = y1 * y1
        v2 = y2 * y2
        v3 = y3 * y3
        b0 = off + np.uint64(j) * cbu
        b1 = b0 + cbu
        for c in range(CB):
            cu = np.uint64(c)
            t0 = tf[b0 + cu]
            t1 = tf[b1 + cu]
            u0[c] += w0 * t0 + v0 * t1
            u1[c] += w1 * t0 + v1 * t1
            u2[c] += w2 * t0 + v2 * t1
            u3[c] += w3 * t0 + v3 * t1
        j += 2
    if j < j1:  # the last j of an odd count
        b0 = off + np.uint64(j) * cbu
        for r in range(4):
            x = J[i0 + r, j]
            w = x * x
            for c in range(CB):
                U[r, c] += w * tf[b0 + np.uint64(c)]


@njit(cache=True, fastmath={"nsz"})
def _rows_u_chunked(J, tf, off, i0, n_rows, N, jb, CB, U, Uacc):
    """Uacc[r, c] (float64) = Σ_{j > i0+r} J_{i0+r,j}² τ_j[c] for the rows i0 … i0+n_rows−1:
    summed in τ's precision over chunks of ``jb`` columns j (the first chunk also holds the
    triangle), the chunk sums added in float64. With jb ≥ N (float64) one chunk: the sums as
    they stand. Four rows together through _rows4_u_dense, fewer one at a time."""
    for r in range(n_rows):
        for c in range(CB):
            Uacc[r, c] = 0.0
    j0 = i0 + 1
    while j0 < N:
        j1 = min(N, max(j0, i0 + 4) + jb)
        if n_rows == 4:
            _rows4_u_dense(J, tf, off, i0, j0, j1, CB, U)
        else:
            for r in range(n_rows):
                _row_u_dense(J, tf, off, i0 + r, j0, j1, CB, U[r])
        for r in range(n_rows):
            for c in range(CB):
                Uacc[r, c] += np.float64(U[r, c])
        j0 = j1


@njit(cache=True, parallel=True, fastmath={"nsz"})
def _quadform_dense(J, tau, partial):
    """partial[rb, cb·CB + c] = Σ_{rows i of row block rb} τ_i[c] Σ_{j>i} J_ij² τ_j[c].

    Tasks = (row block, column block), both of fixed size; within a task rows and j run in a
    fixed order, so each partial is independent of the thread count. Row block rb holds the
    row units u = rb·_ROW_UNITS ... (unit u = rows u and N-1-u: equal work per unit), taken
    four units at a time: rows u … u+3 together, then their mirrors together. τ and J share
    one dtype; in float32 the sums over j run in chunks of _J_CHUNK (_rows_u_chunked)."""
    n_cb, N, CB = tau.shape
    n = partial.shape[0] * n_cb
    nb = n_blocks(n, (N * N // 2) * n_cb * CB)
    if nb <= 1:
        _quadform_dense_tasks(J, tau, partial, np.int64(0), n)
    else:
        for b in prange(nb):
            _quadform_dense_tasks(J, tau, partial, (b * n) // nb, ((b + 1) * n) // nb)


@njit(cache=True, fastmath={"nsz"})
def _quadform_dense_tasks(J, tau, partial, task0, task1):
    n_cb, N, CB = tau.shape
    tf = tau.reshape(n_cb * N * CB)
    jb = N if tf.itemsize == 8 else _J_CHUNK
    n_units = (N + 1) // 2
    U = np.empty((4, CB), tau.dtype)
    Uacc = np.empty((4, CB))
    acc = np.empty(CB)
    for task in range(task0, task1):
        rb = task // n_cb
        cb = task - rb * n_cb
        off = np.uint64(cb * N * CB)
        acc[:] = 0.0
        u_lo = rb * _ROW_UNITS
        u_hi = min(n_units, u_lo + _ROW_UNITS)
        unit = u_lo
        while unit < u_hi:  # up to four units: rows unit … unit+k−1 and their mirrors
            k = min(4, u_hi - unit)
            for side in range(2):
                i0 = unit if side == 0 else N - unit - k
                n_rows = k
                if side == 1 and i0 == unit + k - 1:  # odd N: the middle row is side 0's
                    i0 += 1
                    n_rows -= 1
                _rows_u_chunked(J, tf, off, i0, n_rows, N, jb, CB, U, Uacc)
                for r in range(n_rows):
                    bi = off + np.uint64((i0 + r) * CB)
                    for c in range(CB):
                        acc[c] += np.float64(tf[bi + np.uint64(c)]) * Uacc[r, c]
            unit += k
        for c in range(CB):
            partial[rb, cb * CB + c] = acc[c]


@njit(cache=True, fastmath={"nsz"})
def _row_u2_csr(indptr, indices, data, tf, off, i, CB, u, ub):
    """As _row_u_dense over the stored entries of row i with column > i (stored order), for
    both weights in one pass: u with J_ij², ub with 1 for every J_ij ≠ 0 (0 for a stored
    zero)."""
    cbu = np.uint64(CB)
    for c in range(CB):
        u[c] = 0.0
        ub[c] = 0.0
    for e in range(indptr[i], indptr[i + 1]):
        j = indices[e]
        if j <= i:
            continue
        x = np.float64(data[e])
        w = x * x
        wb = 1.0 if x != 0.0 else 0.0
        b0 = off + np.uint64(j) * cbu
        for c in range(CB):
            t = tf[b0 + np.uint64(c)]
            u[c] += w * t
            ub[c] += wb * t


@njit(cache=True, parallel=True, fastmath={"nsz"})
def _quadform2_csr(indptr, indices, data, tau, partial, partial_b):
    """As _quadform_dense with J in CSR form (both directions stored; entries with column >
    row are used, in stored order), for both weights in one pass over the couplings and τ:
    J_ij² into ``partial``, 1 per bond J_ij ≠ 0 into ``partial_b``."""
    n_cb, N, CB = tau.shape
    n = partial.shape[0] * n_cb
    nb = n_blocks(n, (indptr[N] - indptr[0]) * n_cb * CB)
    if nb <= 1:
        _quadform2_csr_tasks(indptr, indices, data, tau, partial, partial_b, np.int64(0), n)
    else:
        for b in prange(nb):
            _quadform2_csr_tasks(indptr, indices, data, tau, partial, partial_b,
                                 (b * n) // nb, ((b + 1) * n) // nb)


@njit(cache=True, fastmath={"nsz"})
def _quadform2_csr_tasks(indptr, indices, data, tau, partial, partial_b, task0, task1):
    n_cb, N, CB = tau.shape
    tf = tau.reshape(n_cb * N * CB)
    n_units = (N + 1) // 2
    acc = np.empty(CB)
    accb = np.empty(CB)
    u = np.empty(CB)
    ub = np.empty(CB)
    for task in range(task0, task1):
        rb = task // n_cb
        cb = task - rb * n_cb
        off = np.uint64(cb * N * CB)
        acc[:] = 0.0
        accb[:] = 0.0
        u_lo = rb * _ROW_UNITS
        u_hi = min(n_units, u_lo + _ROW_UNITS)
        for unit in range(u_lo, u_hi):
            for side in range(2):
                i = unit if side == 0 else N - 1 - unit
                if side == 1 and i == unit:
                    continue
                _row_u2_csr(indptr, indices, data, tf, off, i, CB, u, ub)
                bi = off + np.uint64(i * CB)
                for c in range(CB):
                    t = tf[bi + np.uint64(c)]
                    acc[c] += t * u[c]
                    accb[c] += t * ub[c]
        for c in range(CB):
            partial[rb, cb * CB + c] = acc[c]
            partial_b[rb, cb * CB + c] = accb[c]


@njit(cache=True)
def _n_row_blocks(N):
    n_units = (N + 1) // 2
    return max(1, (n_units + _ROW_UNITS - 1) // _ROW_UNITS)


@njit(cache=True)
def _finish_link(partial, k2_total, ncomp, out):
    """out[t, p] = Σ_comp Σ_rb partial[rb, (t·P+p)·ncomp + comp] / k2_total (fixed order;
    nan if k2_total is not > 0).  k2_total: Σ_{i<j} J_ij², or N_b for the bond overlap."""
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
def _ising_link_setup(spins, perm, pair_a, pair_b, like):
    """(tau, partial) for the Ising link-overlap kernels: τ filled (in the dtype of ``like``:
    J's for dense couplings, float64 for CSR), partial sums zeroed."""
    T = perm.shape[1]
    P = pair_a.shape[0]
    N = spins.shape[1]
    n_cb, CB = _col_blocks(T * P, like.itemsize)
    tau = np.zeros((n_cb, N, CB), like.dtype)
    _ising_tau(spins, perm, pair_a, pair_b, tau)
    return tau, np.zeros((_n_row_blocks(N), n_cb * CB))


@njit(cache=True)
def _heisenberg_link_setup(sx, sy, sz, perm, pair_a, pair_b, like):
    """(tau, partial) for the Heisenberg link-overlap kernels (9 columns per pair; τ in the
    dtype of ``like``, each product S_iμ^a S_iν^b formed in float64 and rounded once)."""
    T = perm.shape[1]
    P = pair_a.shape[0]
    N = sx.shape[1]
    n_cb, CB = _col_blocks(T * P * 9, like.itemsize)
    tau = np.zeros((n_cb, N, CB), like.dtype)
    _heisenberg_tau(sx, sy, sz, perm, pair_a, pair_b, tau)
    return tau, np.zeros((_n_row_blocks(N), n_cb * CB))


@njit(cache=True)
def ising_link_overlap_dense(J, spins, perm, pair_a, pair_b, out, k2_total=-1.0):
    """out[t, p] = q_l of ladders (pair_a[p], pair_b[p]) at temperature t, weights J_ij²
    from the dense (N, N) couplings J (symmetric; only the upper triangle is read; squared
    on the fly in J's dtype: float32 sums in chunks, see the block comment above).
    ``k2_total`` = Σ_{i<j} J_ij² (k2_sum_dense(J), a constant of the sample: pass it to skip
    recomputing it); negative: computed here. nan if it is 0."""
    tau, partial = _ising_link_setup(spins, perm, pair_a, pair_b, J)
    _quadform_dense(J, tau, partial)
    _finish_link(partial, k2_sum_dense(J) if k2_total < 0.0 else k2_total, 1, out)


@njit(cache=True)
def ising_link_overlap_csr(indptr, indices, data, spins, perm, pair_a, pair_b, out):
    """As ising_link_overlap_dense with J in CSR form (indptr, indices, data)."""
    ising_link_overlaps_csr(indptr, indices, data, spins, perm, pair_a, pair_b, out,
                            np.empty_like(out))


@njit(cache=True)
def heisenberg_link_overlap_dense(J, sx, sy, sz, perm, pair_a, pair_b, out, k2_total=-1.0):
    """Heisenberg q_l = Σ_{i<j} J_ij² (S_i^a·S_j^a)(S_i^b·S_j^b) / Σ_{i<j} J_ij², as the sum
    of 9 quadratic forms in T_i^{μν} = S_iμ^a S_iν^b.  out (T, P) float64; ``k2_total`` as
    in ising_link_overlap_dense."""
    tau, partial = _heisenberg_link_setup(sx, sy, sz, perm, pair_a, pair_b, J)
    _quadform_dense(J, tau, partial)
    _finish_link(partial, k2_sum_dense(J) if k2_total < 0.0 else k2_total, 9, out)


@njit(cache=True)
def heisenberg_link_overlap_csr(indptr, indices, data, sx, sy, sz, perm, pair_a, pair_b, out):
    """As heisenberg_link_overlap_dense with J in CSR form."""
    heisenberg_link_overlaps_csr(indptr, indices, data, sx, sy, sz, perm, pair_a, pair_b, out,
                                 np.empty_like(out))


@njit(cache=True)
def ising_link_overlaps_csr(indptr, indices, data, spins, perm, pair_a, pair_b, out, out_bonds,
                            k2_total=-1.0, n_bonds=-1.0):
    """Both link overlaps from one τ in one pass, J in CSR form: out[t, p] = q_l
    (J²-weighted, exactly as ising_link_overlap_csr), out_bonds[t, p] = q_b = (1/N_b)
    Σ_{i<j, J_ij ≠ 0} τ_ij^a τ_ij^b, τ_ij = s_i s_j (nan if there is no bond).  Both (T, P)
    float64. ``k2_total`` = k2_sum_csr, ``n_bonds`` = bond_count_csr (constants of the
    sample: pass them to skip recomputing; negative: computed here)."""
    tau, partial = _ising_link_setup(spins, perm, pair_a, pair_b, np.empty(0))
    partial_b = np.zeros_like(partial)
    _quadform2_csr(indptr, indices, data, tau, partial, partial_b)
    _finish_link(partial, k2_sum_csr(indptr, indices, data) if k2_total < 0.0 else k2_total,
                 1, out)
    _finish_link(partial_b, bond_count_csr(indptr, indices, data) if n_bonds < 0.0 else n_bonds,
                 1, out_bonds)


@njit(cache=True)
def heisenberg_link_overlaps_csr(indptr, indices, data, sx, sy, sz, perm, pair_a, pair_b, out,
                                 out_bonds, k2_total=-1.0, n_bonds=-1.0):
    """Heisenberg twin of ising_link_overlaps_csr: out = q_l (as heisenberg_link_overlap_csr),
    out_bonds = q_b = (1/N_b) Σ_{i<j, J_ij ≠ 0} (S_i^a·S_j^a)(S_i^b·S_j^b) (nan if no bond)."""
    tau, partial = _heisenberg_link_setup(sx, sy, sz, perm, pair_a, pair_b, np.empty(0))
    partial_b = np.zeros_like(partial)
    _quadform2_csr(indptr, indices, data, tau, partial, partial_b)
    _finish_link(partial, k2_sum_csr(indptr, indices, data) if k2_total < 0.0 else k2_total,
                 9, out)
    _finish_link(partial_b, bond_count_csr(indptr, indices, data) if n_bonds < 0.0 else n_bonds,
                 9, out_bonds)
