"""Local fields from scratch and total energies (numba).

Conventions (docs/internals.md): H = −Σ_{i<j} J_ij S_i·S_j − H Σ_i S_i^z, local field
h_i = Σ_j J_ij S_j + H ẑ (the uniform field is *included* in the z / Ising field).

Summation order is fixed: for walker w and site j, h_j = (Σ_i S_i J_ij, i ascending for dense,
CSR column order for sparse) + H, accumulated in float64 and stored in the dtype of ``out``;
energies are float64 reductions over i. Every walker's result is computed by one thread with
the same code whatever the thread count, so results do not depend on it.

J, spins and fields may be float64 or float32 (all of one dtype); energies are float64.

Also home of what the sweep modules share: ``FASTMATH`` (the fast-math flags of every kernel),
``n_blocks`` / ``PARALLEL_MIN_WORK`` (walker blocks per call). numba's on-disk cache of a
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


# ------------------------------------------------------------- serial walker-range helpers
@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _fields_dense_range(J, spins, H, out, w0, w1):
    N = spins.shape[1]
    acc = np.zeros((w1 - w0, N), dtype=np.float64)
    for i in range(N):
        for w in range(w0, w1):
            s = np.float64(spins[w, i])
            for j in range(N):
                acc[w - w0, j] += s * J[i, j]
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
    for i in range(N):
        for w in range(w0, w1):
            x = np.float64(sx[w, i])
            y = np.float64(sy[w, i])
            z = np.float64(sz[w, i])
            for j in range(N):
                c = np.float64(J[i, j])
                ax[w - w0, j] += x * c
                ay[w - w0, j] += y * c
                az[w - w0, j] += z * c
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


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _ising_energies_range(spins, fields, H, out, w0, w1):
    N = spins.shape[1]
    for w in range(w0, w1):
        e = 0.0
        m = 0.0
        for i in range(N):
            s = np.float64(spins[w, i])
            e += s * np.float64(fields[w, i])
            m += s
        out[w] = -0.5 * e - 0.5 * H * m


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _heisenberg_energies_range(sx, sy, sz, hx, hy, hz, H, out, w0, w1):
    N = sx.shape[1]
    for w in range(w0, w1):
        e = 0.0
        m = 0.0
        for i in range(N):
            z = np.float64(sz[w, i])
            e += (np.float64(sx[w, i]) * np.float64(hx[w, i])
                  + np.float64(sy[w, i]) * np.float64(hy[w, i])
                  + z * np.float64(hz[w, i]))
            m += z
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
        _fields_dense_range(J, spins, H, out, 0, W)
    else:
        for b in prange(nb):
            _fields_dense_range(J, spins, H, out, (b * W) // nb, ((b + 1) * W) // nb)


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def local_fields_csr(indptr, indices, data, spins, H, out):
    """``out[w, i] = Σ_k data[k] spins[w, indices[k]] + H`` over row i of the CSR matrix."""
    W, N = spins.shape
    nb = n_blocks(W, W * N)
    if nb <= 1:
        _fields_csr_range(indptr, indices, data, spins, H, out, 0, W)
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
        _fields3_dense_range(J, sx, sy, sz, H, hx, hy, hz, 0, W)
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
        _fields3_csr_range(indptr, indices, data, sx, sy, sz, H, hx, hy, hz, 0, W)
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
        _ising_energies_range(spins, fields, H, out, 0, W)
    else:
        for b in prange(nb):
            _ising_energies_range(spins, fields, H, out, (b * W) // nb, ((b + 1) * W) // nb)


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy")
def heisenberg_energies(sx, sy, sz, hx, hy, hz, H, out):
    """Total energy per walker: ``E_w = −½ Σ_i S_i·h_i − ½ H Σ_i S_i^z`` (hz includes H)."""
    W, N = sx.shape
    nb = n_blocks(W, W * N)
    if nb <= 1:
        _heisenberg_energies_range(sx, sy, sz, hx, hy, hz, H, out, 0, W)
    else:
        for b in prange(nb):
            _heisenberg_energies_range(sx, sy, sz, hx, hy, hz, H, out,
                                       (b * W) // nb, ((b + 1) * W) // nb)
