"""Local fields from scratch and total energies (numba).

Conventions (docs/architecture.md): H = −Σ_{i<j} J_ij S_i·S_j − H Σ_i S_i^z, local field
h_i = Σ_j J_ij S_j + H ẑ (the uniform field is *included* in the z / Ising field).

Summation order is fixed: for walker w and site j, h_j = (Σ_i S_i J_ij, i ascending for dense,
CSR column order for sparse) + H, accumulated in float64 and stored in the dtype of ``out``;
energies are float64 reductions over i in a fixed interleaved order (see the energy helpers). Every walker's result is computed by one thread with
the same code whatever the thread count, so results do not depend on it.

J, spins and fields may be float64 or float32 (all of one dtype); energies are float64.

Also home of what the sweep modules share: ``FASTMATH`` (the fast-math flags of every kernel),
``n_blocks`` / ``PARALLEL_MIN_WORK`` (walker blocks per call), ``batch_couplings`` (deferred
dense updates). numba's on-disk cache of a
function is invalidated only by changes to its own file, not to the files of functions it
calls: after editing this file (or rng.py) clear ``$NUMBA_CACHE_DIR`` (``make clean``).
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import cgutils, types
from numba.extending import intrinsic

# Fast-math flags of every kernel. Only 'nsz' (ignore the sign of zero), which never changes
# a nonzero result. Deliberately NOT 'reassoc', 'contract' (FMA), 'arcp' or 'afn': with them
# LLVM may round differently depending on the optimisation context (inlining), which differs
# between a fresh compile and code loaded from numba's on-disk cache; in practice heat-bath
# draws then differed at 1e-14 between two processes and the chains diverged. Not 'nnan' /
# 'ninf' either (NaN checks must keep working). The hot loops still vectorise (elementwise
# row updates need no reassociation); no slowdown was measurable (within run-to-run noise).
FASTMATH = {"nsz"}

# Start numba's threading layer now: it registers the C symbol ``get_num_threads`` that the
# cached machine code of ``_num_threads`` (below) links against when loaded from the cache.
numba.get_num_threads()


@intrinsic
def _num_threads(typingctx):
    """``numba.get_num_threads()`` for jitted code, *cacheable*.

    numba's own jitted ``get_num_threads`` calls the threading layer through a ctypes pointer
    (a "dynamic global"), which makes every caller uncacheable. This calls the same C
    function through the LLVM symbol ``get_num_threads`` that numba registers when it starts
    its threading layer (the symbol parfor-generated code itself uses).
    """
    numba.get_num_threads()  # start the threading layer: registers the symbol

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(cgutils.intp_t, [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "get_num_threads")
        return builder.call(fn, [])

    return types.intp(), codegen


# Below this much work per call (attempted updates for a sweep, W·N elements for the field
# and energy kernels) a kernel runs serially in the calling thread: a parallel region costs
# ~10 µs, and far more when the machine is oversubscribed (OpenMP workers spin-wait: with a
# second busy process on 2 cores a tiny sweep took ms instead of µs). Walker results do not
# depend on this choice (see the thread-count test).
PARALLEL_MIN_WORK = 4096


@njit(cache=True)
def n_blocks(W, work=PARALLEL_MIN_WORK):
    """Walker blocks for a kernel call: ``min(W, numba.get_num_threads())``, or 1 (serial)
    when ``work < PARALLEL_MIN_WORK``."""
    if work < PARALLEL_MIN_WORK:
        return 1 if W > 0 else 0
    nt = _num_threads()
    if nt < 1:
        nt = 1
    return min(W, nt)


@njit(cache=True)
def batch_couplings(J, sites, b0, b1, Jb):
    """Jb[x, y] = J[sites[b0 + x], sites[b0 + y]]: the couplings among a batch of visited
    sites, gathered once per batch (independent loads) for the deferred dense updates of
    ising.py and heisenberg.py instead of one cache miss per pending move."""
    for x in range(b1 - b0):
        r = sites[b0 + x]
        for y in range(b1 - b0):
            Jb[x, y] = J[r, sites[b0 + y]]


@njit(cache=True)
def batch_coupling_row(J, sites, b0, b1, x, Jb):
    """Jb[x, y] = J[sites[b0 + x], sites[b0 + y]] for the later sites y > x of the batch only:
    all that the moves after one at batch position x need. Filled on demand (Ising, whose
    moves are rare at low temperature: a whole 16×16 gather per batch cost T = 0.5 sweeps
    more than their flips)."""
    r = sites[b0 + x]
    for y in range(x + 1, b1 - b0):
        Jb[x, y] = J[r, sites[b0 + y]]


# ------------------------------------------------------------- serial walker-range helpers
# Dense fields: rows of J in groups of four, h_j += (s_i J_ij + s_i+1 J_i+1,j) + (s_i+2 J_i+2,j
# + s_i+3 J_i+3,j) (then the remaining rows one by one): a fixed order, with a quarter of the
# accumulator traffic of one row at a time. The inner loops run over contiguous row views
# (vectorised).
@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _fields_dense_range(J, spins, H, out, w0, w1):
    N = spins.shape[1]
    acc = np.zeros((w1 - w0, N), dtype=np.float64)
    n4 = N // 4 * 4
    for i in range(0, n4, 4):
        J0 = J[i]
        J1 = J[i + 1]
        J2 = J[i + 2]
        J3 = J[i + 3]
        for w in range(w0, w1):
            s0 = np.float64(spins[w, i])
            s1 = np.float64(spins[w, i + 1])
            s2 = np.float64(spins[w, i + 2])
            s3 = np.float64(spins[w, i + 3])
            a = acc[w - w0]
            for j in range(a.shape[0]):
                a[j] += ((s0 * np.float64(J0[j]) + s1 * np.float64(J1[j]))
                         + (s2 * np.float64(J2[j]) + s3 * np.float64(J3[j])))
    for i in range(n4, N):
        Ji = J[i]
        for w in range(w0, w1):
            s0 = np.float64(spins[w, i])
            a = acc[w - w0]
            for j in range(a.shape[0]):
                a[j] += s0 * np.float64(Ji[j])
    for w in range(w0, w1):
        for j in range(N):
            out[w, j] = acc[w - w0, j] + H


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _fields_csr_range(indptr, indices, data, spins, H, out, w0, w1):
    N = spins.shape[1]
    for w in range(w0, w1):
        for i in range(N):
            acc = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                acc += np.float64(data[k]) * np.float64(spins[w, indices[k]])
            out[w, i] = acc + H


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _fields3_dense_range(J, sx, sy, sz, H, hx, hy, hz, w0, w1):
    N = sx.shape[1]
    ax = np.zeros((w1 - w0, N), dtype=np.float64)
    ay = np.zeros((w1 - w0, N), dtype=np.float64)
    az = np.zeros((w1 - w0, N), dtype=np.float64)
    n2 = N // 2 * 2
    for i in range(0, n2, 2):
        J0 = J[i]
        J1 = J[i + 1]
        for w in range(w0, w1):
            x0 = np.float64(sx[w, i])
            y0 = np.float64(sy[w, i])
            z0 = np.float64(sz[w, i])
            x1 = np.float64(sx[w, i + 1])
            y1 = np.float64(sy[w, i + 1])
            z1 = np.float64(sz[w, i + 1])
            bx = ax[w - w0]
            by = ay[w - w0]
            bz = az[w - w0]
            for j in range(bx.shape[0]):
                c0 = np.float64(J0[j])
                c1 = np.float64(J1[j])
                bx[j] += x0 * c0 + x1 * c1
                by[j] += y0 * c0 + y1 * c1
                bz[j] += z0 * c0 + z1 * c1
    for i in range(n2, N):
        Ji = J[i]
        for w in range(w0, w1):
            x0 = np.float64(sx[w, i])
            y0 = np.float64(sy[w, i])
            z0 = np.float64(sz[w, i])
            bx = ax[w - w0]
            by = ay[w - w0]
            bz = az[w - w0]
            for j in range(bx.shape[0]):
                c0 = np.float64(Ji[j])
                bx[j] += x0 * c0
                by[j] += y0 * c0
                bz[j] += z0 * c0
    for w in range(w0, w1):
        for j in range(N):
            hx[w, j] = ax[w - w0, j]
            hy[w, j] = ay[w - w0, j]
            hz[w, j] = az[w - w0, j] + H


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _fields3_csr_range(indptr, indices, data, sx, sy, sz, H, hx, hy, hz, w0, w1):
    N = sx.shape[1]
    for w in range(w0, w1):
        for i in range(N):
            ax = 0.0
            ay = 0.0
            az = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                j = indices[k]
                c = np.float64(data[k])
                ax += c * np.float64(sx[w, j])
                ay += c * np.float64(sy[w, j])
                az += c * np.float64(sz[w, j])
            hx[w, i] = ax
            hy[w, i] = ay
            hz[w, i] = az + H


# Energies: Σ_i over four interleaved partial sums (i ≡ 0, 1, 2, 3 mod 4), combined as
# (a0 + a1) + (a2 + a3): a fixed order (independent of threads) with four independent add
# chains instead of one (a single float64 chain is latency-bound at ~1 ns per element).
@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _ising_energies_range(spins, fields, H, out, w0, w1):
    N = spins.shape[1]
    n4 = N // 4 * 4
    for w in range(w0, w1):
        s_w = spins[w]
        h_w = fields[w]
        e0 = 0.0
        e1 = 0.0
        e2 = 0.0
        e3 = 0.0
        m0 = 0.0
        m1 = 0.0
        m2 = 0.0
        m3 = 0.0
        for i in range(0, n4, 4):
            s0 = np.float64(s_w[i])
            s1 = np.float64(s_w[i + 1])
            s2 = np.float64(s_w[i + 2])
            s3 = np.float64(s_w[i + 3])
            e0 += s0 * np.float64(h_w[i])
            e1 += s1 * np.float64(h_w[i + 1])
            e2 += s2 * np.float64(h_w[i + 2])
            e3 += s3 * np.float64(h_w[i + 3])
            m0 += s0
            m1 += s1
            m2 += s2
            m3 += s3
        for i in range(n4, N):
            s0 = np.float64(s_w[i])
            e0 += s0 * np.float64(h_w[i])
            m0 += s0
        e = (e0 + e1) + (e2 + e3)
        m = (m0 + m1) + (m2 + m3)
        out[w] = -0.5 * e - 0.5 * H * m


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _heisenberg_energies_range(sx, sy, sz, hx, hy, hz, H, out, w0, w1):
    N = sx.shape[1]
    n2 = N // 2 * 2
    for w in range(w0, w1):
        x_w = sx[w]
        y_w = sy[w]
        z_w = sz[w]
        a_w = hx[w]
        b_w = hy[w]
        c_w = hz[w]
        e0 = 0.0
        e1 = 0.0
        m0 = 0.0
        m1 = 0.0
        for i in range(0, n2, 2):
            z0 = np.float64(z_w[i])
            z1 = np.float64(z_w[i + 1])
            e0 += (np.float64(x_w[i]) * np.float64(a_w[i])
                   + np.float64(y_w[i]) * np.float64(b_w[i])
                   + z0 * np.float64(c_w[i]))
            e1 += (np.float64(x_w[i + 1]) * np.float64(a_w[i + 1])
                   + np.float64(y_w[i + 1]) * np.float64(b_w[i + 1])
                   + z1 * np.float64(c_w[i + 1]))
            m0 += z0
            m1 += z1
        for i in range(n2, N):
            z0 = np.float64(z_w[i])
            e0 += (np.float64(x_w[i]) * np.float64(a_w[i])
                   + np.float64(y_w[i]) * np.float64(b_w[i])
                   + z0 * np.float64(c_w[i]))
            m0 += z0
        e = e0 + e1
        m = m0 + m1
        out[w] = -0.5 * e - 0.5 * H * m


# ------------------------------------------------------------------------- public kernels
# Each splits the walkers into n_blocks contiguous blocks (one prange iteration each), or
# runs serially for small work; every walker's result is computed by the same code either way.
@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def local_fields_dense(J, spins, H, out):
    """``out[w] = spins[w] @ J + H`` (Ising; also one Heisenberg component with H = 0)."""
    W, N = spins.shape
    nb = n_blocks(W, W * N)
    if nb <= 1:
        _fields_dense_range(J, spins, H, out, np.int64(0), W)
    else:
        for b in prange(nb):
            _fields_dense_range(J, spins, H, out, (b * W) // nb, ((b + 1) * W) // nb)


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def local_fields_csr(indptr, indices, data, spins, H, out):
    """``out[w, i] = Σ_k data[k] spins[w, indices[k]] + H`` over row i of the CSR matrix."""
    W, N = spins.shape
    nb = n_blocks(W, W * N)
    if nb <= 1:
        _fields_csr_range(indptr, indices, data, spins, H, out, np.int64(0), W)
    else:
        for b in prange(nb):
            _fields_csr_range(indptr, indices, data, spins, H, out,
                              (b * W) // nb, ((b + 1) * W) // nb)


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def local_fields3_dense(J, sx, sy, sz, H, hx, hy, hz):
    """Heisenberg local fields from scratch: h = S @ J per component, H added to hz only."""
    W, N = sx.shape
    nb = n_blocks(W, W * N)
    if nb <= 1:
        _fields3_dense_range(J, sx, sy, sz, H, hx, hy, hz, np.int64(0), W)
    else:
        for b in prange(nb):
            _fields3_dense_range(J, sx, sy, sz, H, hx, hy, hz,
                                 (b * W) // nb, ((b + 1) * W) // nb)


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def local_fields3_csr(indptr, indices, data, sx, sy, sz, H, hx, hy, hz):
    """Heisenberg local fields from a CSR matrix, H added to hz only."""
    W, N = sx.shape
    nb = n_blocks(W, W * N)
    if nb <= 1:
        _fields3_csr_range(indptr, indices, data, sx, sy, sz, H, hx, hy, hz, np.int64(0), W)
    else:
        for b in prange(nb):
            _fields3_csr_range(indptr, indices, data, sx, sy, sz, H, hx, hy, hz,
                               (b * W) // nb, ((b + 1) * W) // nb)


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def ising_energies(spins, fields, H, out):
    """Total energy per walker: ``E_w = −½ Σ_i s_i h_i − ½ H Σ_i s_i`` (fields include H)."""
    W, N = spins.shape
    nb = n_blocks(W, W * N)
    if nb <= 1:
        _ising_energies_range(spins, fields, H, out, np.int64(0), W)
    else:
        for b in prange(nb):
            _ising_energies_range(spins, fields, H, out, (b * W) // nb, ((b + 1) * W) // nb)


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def heisenberg_energies(sx, sy, sz, hx, hy, hz, H, out):
    """Total energy per walker: ``E_w = −½ Σ_i S_i·h_i − ½ H Σ_i S_i^z`` (hz includes H)."""
    W, N = sx.shape
    nb = n_blocks(W, W * N)
    if nb <= 1:
        _heisenberg_energies_range(sx, sy, sz, hx, hy, hz, H, out, np.int64(0), W)
    else:
        for b in prange(nb):
            _heisenberg_energies_range(sx, sy, sz, hx, hy, hz, H, out,
                                       (b * W) // nb, ((b + 1) * W) // nb)
