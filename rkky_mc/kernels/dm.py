"""Heisenberg spins with Dzyaloshinskii–Moriya couplings, dense J and D (numba).

    H = − Σ_{i<j} [ J_ij S_i·S_j + D_ij·(S_i × S_j) ] − H Σ_i S_i^z,      D_ji = −D_ij

J (N, N) symmetric with zero diagonal. The DM vectors enter the kernels component-major,
``Dc`` (3, N, N) with Dc[μ, i, j] = D_ij^μ (``dm_components(D)`` of the (N, N, 3) array the
models, files and HDF5 hold): the row updates then read three contiguous rows, which LLVM
vectorises (measured on rows from memory: 1.7 ns per element and move for (3, N, N)
against 3.4 ns for interleaved (N, N, 3) rows; isotropic 0.44 ns). Spins ``sx, sy, sz``
(W, N), fields ``hx, hy, hz`` (W, N): the layout of kernels/heisenberg.py. float64.

Local field. D_ij·(S_i × S_j) = S_i·(S_j × D_ij) (cyclic triple product), and the pair (j, i)
with j < i contributes −D_ji·(S_j × S_i) = −D_ij·(S_i × S_j) as well, so the energy is
−S_i·h_i + (terms without S_i) with

    h_i = Σ_j ( J_ij S_j + S_j × D_ij ) + H ẑ = Σ_j ( J_ji S_j + D_ji × S_j ) + H ẑ.

The second form reads row j of J and of D: when S_j changes by ΔS (the difference of the
stored values), every field changes by h_i += J_ji ΔS + D_ji × ΔS, added as one term
per component, fma(ΔS_μ, J_ji, fma(D_ν, ΔS_ρ, −D_ρ ΔS_ν)) (explicit llvm.fma: fused
whatever the compile context, so the bits are reproducible; see ``_term``). The energy stays linear in each spin, so
Metropolis, the exact heat bath and over-relaxation are those of kernels/heisenberg.py around
this field (the same random numbers per visit, in the same order), and
E = −½ Σ_i S_i·h_i − ½ H Σ_i S_i^z still holds (``dm_energies``).

Deferred updates (``batch = 1``) as in heisenberg.py: sites in batches of FLIP_BATCH, the
visited site's field brought up to date from the batch's pending moves (J and D among the
batch's sites gathered once per batch), the moves added to the field rows four per pass.
Every field element receives the same terms in the same order as with one move at a time:
the same bits (tests/test_dm.py).

With D ≡ 0 every term is J_ji ΔS_μ + (±0) = J_ji ΔS_μ: fields, spins, counters and streams
are bit for bit those of heisenberg_sweep_dense / heisenberg_overrelax_dense (either batch
mode) with the same streams (tests/test_dm.py).

Threading as in heisenberg.py: ``prange`` over ``n_blocks`` contiguous walker blocks, sites
outside, walkers inside (one row of J and D serves every walker of the block); walker w draws
only from stream ``rng[w]``: results do not depend on the thread count.

Per element and move the DM update costs 3 multiplications and 6 fused multiply-adds
(``_term``) against 1 multiplication and 1 addition per component for J alone; measured at
N = 1000, 32 walkers, float64, 2 threads (this VM, lightly loaded): heat-bath sweep, deferred
mode, 9.0 ms against 3.2 ms isotropic (2.8×); over-relaxation 8.5 vs 3.3 ms (2.6×);
Metropolis at β = 1 (few acceptances) 2.5 vs 1.05 ms. The issue's 1.6× goal is not reached:
the isotropic kernel already runs at the arithmetic limit, and the DM term triples the
arithmetic per element.

Also here: the Fert–Lévy pair kernel behind rkky_mc.interactions.dm.fert_levy_dm, and the
isotropic unit vectors of the ``random`` model.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import cgutils, types
from numba.extending import intrinsic

from .fields import FASTMATH, _fields3_dense_range, heisenberg_energies, n_blocks
from .heisenberg import FLIP_BATCH, heatbath_direction, uniform_direction
from .rng import accept_exp, uniform

_KW = dict(cache=True, fastmath=FASTMATH, error_model="numpy")

# The energy is bilinear in the spins whatever D is, so the isotropic formula
# E_w = −½ Σ_i S_i·h_i − ½ H Σ_i S_i^z applies to the DM fields unchanged.
dm_energies = heisenberg_energies



@intrinsic
def _fma(typingctx, a, b, c):
    """a·b + c rounded once (llvm.fma.f64: always fused, whatever the compile context, so
    the bits do not depend on inlining or caching; FASTMATH has no 'contract')."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(d, [d, d, d]),
                                            "llvm.fma.f64")
        return builder.call(fn, args)

    return sig, codegen


@njit(cache=True, inline="always")
def _term(s, c, da, db, ta, tb):
    """One field component's term of one move, J ΔS_μ + (D × ΔS)_μ = s·c + (da·ta − db·tb):
    fma(s, c, fma(da, ta, −db·tb)). With D = 0 the inner fma is ±0 and the outer one is
    s·c rounded once: the isotropic bits."""
    return _fma(s, c, _fma(da, ta, -(db * tb)))


_METROPOLIS = 0
_HEATBATH = 1
_OVERRELAX = 2


def dm_components(D: np.ndarray) -> np.ndarray:
    """The kernels' layout of D (N, N, 3): Dc (3, N, N) float64, Dc[μ] = D[:, :, μ]."""
    return np.ascontiguousarray(np.moveaxis(np.asarray(D, dtype=np.float64), 2, 0))


# ------------------------------------------------------------------ fields from scratch
@njit(**_KW)
def _dm_fields_range(Dc, sx, sy, sz, hx, hy, hz, w0, w1):
    """h[w, i] += Σ_j D_ji × S_j (j ascending, float64 accumulators) for w0 ≤ w < w1."""
    N = sx.shape[1]
    ax = np.zeros(N)
    ay = np.zeros(N)
    az = np.zeros(N)
    un = np.uint64(N)
    for w in range(w0, w1):
        ax[:] = 0.0
        ay[:] = 0.0
        az[:] = 0.0
        for j in range(N):
            x = sx[w, j]
            y = sy[w, j]
            z = sz[w, j]
            D0 = Dc[0, j]
            D1 = Dc[1, j]
            D2 = Dc[2, j]
            for i in range(np.uint64(0), un):
                ax[i] += D1[i] * z - D2[i] * y
                ay[i] += D2[i] * x - D0[i] * z
                az[i] += D0[i] * y - D1[i] * x
        for i in range(N):
            hx[w, i] = hx[w, i] + ax[i]
            hy[w, i] = hy[w, i] + ay[i]
            hz[w, i] = hz[w, i] + az[i]


@njit(parallel=True, **_KW)
def dm_local_fields_dense(J, Dc, sx, sy, sz, H, hx, hy, hz):
    """Fields from scratch: h_i = Σ_j (J_ij S_j + S_j × D_ij) + H ẑ for every walker.
    The J part is fields.local_fields3_dense's (same order, same bits); the DM part,
    Σ_j D_ji × S_j (j ascending, float64), is added to it."""
    W, N = sx.shape
    nb = n_blocks(W, W * N)
    if nb <= 1:
        _fields3_dense_range(J, sx, sy, sz, H, hx, hy, hz, 0, W)
        _dm_fields_range(Dc, sx, sy, sz, hx, hy, hz, 0, W)
    else:
        for b in prange(nb):
            w0 = (b * W) // nb
            w1 = ((b + 1) * W) // nb
            _fields3_dense_range(J, sx, sy, sz, H, hx, hy, hz, w0, w1)
            _dm_fields_range(Dc, sx, sy, sz, hx, hy, hz, w0, w1)


# ------------------------------------------------------------------------ row updates
@njit(**_KW)
def _add_move(J, Dc, hx, hy, hz, w, i, dx, dy, dz):
    """Fields of walker w after S_i changed by (dx, dy, dz): h_k += J_ik ΔS + D_ik × ΔS."""
    Ji = J[i]
    D0 = Dc[0, i]
    D1 = Dc[1, i]
    D2 = Dc[2, i]
    fx = hx[w]
    fy = hy[w]
    fz = hz[w]
    for k in range(np.uint64(0), np.uint64(fx.shape[0])):
        c = Ji[k]
        d0 = D0[k]
        d1 = D1[k]
        d2 = D2[k]
        fx[k] = fx[k] + _term(dx, c, d1, d2, dz, dy)
        fy[k] = fy[k] + _term(dy, c, d2, d0, dx, dz)
        fz[k] = fz[k] + _term(dz, c, d0, d1, dy, dx)


@njit(**_KW)
def _add_moves4(J, Dc, fx, fy, fz, r0, r1, r2, r3, ds, a):
    """Four moves ds[a … a+3] at rows r0 … r3 in one pass, in order (the arithmetic of four
    _add_move calls)."""
    J0 = J[r0]
    J1 = J[r1]
    J2 = J[r2]
    J3 = J[r3]
    A0, A1, A2 = Dc[0, r0], Dc[1, r0], Dc[2, r0]
    B0, B1, B2 = Dc[0, r1], Dc[1, r1], Dc[2, r1]
    C0, C1, C2 = Dc[0, r2], Dc[1, r2], Dc[2, r2]
    E0, E1, E2 = Dc[0, r3], Dc[1, r3], Dc[2, r3]
    x0, y0, z0 = ds[a, 0], ds[a, 1], ds[a, 2]
    x1, y1, z1 = ds[a + 1, 0], ds[a + 1, 1], ds[a + 1, 2]
    x2, y2, z2 = ds[a + 2, 0], ds[a + 2, 1], ds[a + 2, 2]
    x3, y3, z3 = ds[a + 3, 0], ds[a + 3, 1], ds[a + 3, 2]
    for k in range(np.uint64(0), np.uint64(fx.shape[0])):
        c0 = J0[k]
        c1 = J1[k]
        c2 = J2[k]
        c3 = J3[k]
        a0, a1, a2 = A0[k], A1[k], A2[k]
        b0, b1, b2 = B0[k], B1[k], B2[k]
        e0, e1, e2 = C0[k], C1[k], C2[k]
        g0, g1, g2 = E0[k], E1[k], E2[k]
        fx[k] = (((fx[k] + _term(x0, c0, a1, a2, z0, y0)) + _term(x1, c1, b1, b2, z1, y1))
                 + _term(x2, c2, e1, e2, z2, y2)) + _term(x3, c3, g1, g2, z3, y3)
        fy[k] = (((fy[k] + _term(y0, c0, a2, a0, x0, z0)) + _term(y1, c1, b2, b0, x1, z1))
                 + _term(y2, c2, e2, e0, x2, z2)) + _term(y3, c3, g2, g0, x3, z3)
        fz[k] = (((fz[k] + _term(z0, c0, a0, a1, y0, x0)) + _term(z1, c1, b0, b1, y1, x1))
                 + _term(z2, c2, e0, e1, y2, x2)) + _term(z3, c3, g0, g1, y3, x3)


@njit(**_KW)
def _apply_moves(J, Dc, hx, hy, hz, w, rows, ds, nf):
    """The nf pending moves of walker w, in order: four per pass, the rest one by one."""
    a = 0
    while nf - a >= 4:
        _add_moves4(J, Dc, hx[w], hy[w], hz[w], rows[a], rows[a + 1], rows[a + 2],
                    rows[a + 3], ds, a)
        a += 4
    while a < nf:
        _add_move(J, Dc, hx, hy, hz, w, rows[a], ds[a, 0], ds[a, 1], ds[a, 2])
        a += 1


# ---------------------------------------------------------------------- single visits
@njit(**_KW)
def _visit(mode, fx, fy, fz, x0, y0, z0, beta, rng, w):
    """New direction of one spin S = (x0, y0, z0) in the field (fx, fy, fz), as
    heisenberg.py: returns (moved, x, y, z). Metropolis: uniform proposal, two uniforms, a
    third only when ΔE > 0; heat bath: two uniforms; over-relaxation: none."""
    if mode == _METROPOLIS:
        u1 = uniform(rng, w)
        u2 = uniform(rng, w)
        xn, yn, zn = uniform_direction(u1, u2)
        de = -((xn - x0) * fx + (yn - y0) * fy + (zn - z0) * fz)
        if de > 0.0:
            if not accept_exp(rng, w, beta * de):
                return False, x0, y0, z0
        return True, xn, yn, zn
    if mode == _HEATBATH:
        u1 = uniform(rng, w)
        u2 = uniform(rng, w)
        xn, yn, zn = heatbath_direction(fx, fy, fz, beta, u1, u2)
        return True, xn, yn, zn
    h2 = fx * fx + fy * fy + fz * fz
    if not h2 > 0.0:
        return False, x0, y0, z0
    f = 2.0 * (x0 * fx + y0 * fy + z0 * fz) / h2
    xn = f * fx - x0
    yn = f * fy - y0
    zn = f * fz - z0
    g = 1.5 - 0.5 * (xn * xn + yn * yn + zn * zn)  # ≈ 1/|S'| (|S'| = 1 + O(ε))
    return True, xn * g, yn * g, zn * g


@njit(**_KW)
def _dm_block(J, Dc, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted, w0, w1, mode):
    """One move at a time: sites outside, walkers inside."""
    for ii in range(sites.shape[0]):
        i = sites[ii]
        for w in range(w0, w1):
            beta = beta_w[w] if mode != _OVERRELAX else 0.0
            x0 = sx[w, i]
            y0 = sy[w, i]
            z0 = sz[w, i]
            moved, xn, yn, zn = _visit(mode, hx[w, i], hy[w, i], hz[w, i], x0, y0, z0, beta,
                                       rng, w)
            if not moved:
                continue
            sx[w, i] = xn
            sy[w, i] = yn
            sz[w, i] = zn
            _add_move(J, Dc, hx, hy, hz, w, i, sx[w, i] - x0, sy[w, i] - y0, sz[w, i] - z0)
            if mode != _OVERRELAX:
                accepted[w] += 1


@njit(**_KW)
def _dm_deferred(J, Dc, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted, w0, w1, mode):
    """Deferred field updates (module docstring); the bits of _dm_block."""
    n = sites.shape[0]
    rows = np.empty(FLIP_BATCH, dtype=np.int64)           # site of each pending move
    pos = np.empty(FLIP_BATCH, dtype=np.int64)            # its index in the batch
    ds = np.empty((FLIP_BATCH, 3))                        # ΔS of the stored values
    Jb = np.empty((FLIP_BATCH, FLIP_BATCH))
    Db = np.empty((3, FLIP_BATCH, FLIP_BATCH))
    for b0 in range(0, n, FLIP_BATCH):
        b1 = min(b0 + FLIP_BATCH, n)
        for x in range(b1 - b0):
            r = sites[b0 + x]
            for y in range(b1 - b0):
                c = sites[b0 + y]
                Jb[x, y] = J[r, c]
                Db[0, x, y] = Dc[0, r, c]
                Db[1, x, y] = Dc[1, r, c]
                Db[2, x, y] = Dc[2, r, c]
        for w in range(w0, w1):
            beta = beta_w[w] if mode != _OVERRELAX else 0.0
            m = 0
            for ii in range(b0, b1):
                i = sites[ii]
                y_ = ii - b0
                fx = hx[w, i]
                fy = hy[w, i]
                fz = hz[w, i]
                for a in range(m):  # pending moves of this batch, in order
                    x_ = pos[a]
                    c = Jb[x_, y_]
                    d0 = Db[0, x_, y_]
                    d1 = Db[1, x_, y_]
                    d2 = Db[2, x_, y_]
                    dx = ds[a, 0]
                    dy = ds[a, 1]
                    dz = ds[a, 2]
                    fx = fx + _term(dx, c, d1, d2, dz, dy)
                    fy = fy + _term(dy, c, d2, d0, dx, dz)
                    fz = fz + _term(dz, c, d0, d1, dy, dx)
                x0 = sx[w, i]
                y0 = sy[w, i]
                z0 = sz[w, i]
                moved, xn, yn, zn = _visit(mode, fx, fy, fz, x0, y0, z0, beta, rng, w)
                if not moved:
                    continue
                sx[w, i] = xn
                sy[w, i] = yn
                sz[w, i] = zn
                rows[m] = i
                pos[m] = y_
                ds[m, 0] = sx[w, i] - x0
                ds[m, 1] = sy[w, i] - y0
                ds[m, 2] = sz[w, i] - z0
                m += 1
            if m > 0:
                _apply_moves(J, Dc, hx, hy, hz, w, rows, ds, m)
                if mode != _OVERRELAX:
                    accepted[w] += m


@njit(**_KW)
def _run(J, Dc, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted, w0, w1, mode, batch):
    if batch:
        _dm_deferred(J, Dc, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted, w0, w1,
                     mode)
    else:
        _dm_block(J, Dc, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted, w0, w1, mode)


# ------------------------------------------------------------------------------ sweeps
@njit(parallel=True, **_KW)
def dm_heisenberg_sweep_dense(J, Dc, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, heatbath,
                              accepted, batch=0):
    """One Metropolis or heat-bath pass over ``sites`` for every walker, dense J and
    Dc (3, N, N). ``accepted[w]`` counts the spins that moved (heat bath: every visit).
    ``batch``: 0 one move at a time, 1 deferred field updates (same bits; faster for
    large N, heisenberg.dense_batch_mode(N))."""
    W = sx.shape[0]
    nb = n_blocks(W, sites.shape[0] * W)
    mode = _HEATBATH if heatbath else _METROPOLIS
    if nb <= 1:
        _run(J, Dc, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted, 0, W, mode, batch)
    else:
        for b in prange(nb):
            _run(J, Dc, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted,
                 (b * W) // nb, ((b + 1) * W) // nb, mode, batch)


@njit(parallel=True, **_KW)
def dm_overrelax_dense(J, Dc, sx, sy, sz, hx, hy, hz, sites, batch=0):
    """One over-relaxation pass over ``sites`` for every walker (S' = 2(S·h)h/|h|² − S,
    renormalised by one Newton step; energy conserving, no random numbers, no counter),
    dense J and Dc (3, N, N); ``batch`` as in dm_heisenberg_sweep_dense."""
    W = sx.shape[0]
    nb = n_blocks(W, sites.shape[0] * W)
    beta_w = np.zeros(0)  # placeholders: no β, no random numbers, no counter
    rng = np.zeros((0, 4), dtype=np.uint64)
    accepted = np.zeros(0, dtype=np.int64)
    if nb <= 1:
        _run(J, Dc, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted, 0, W, _OVERRELAX,
             batch)
    else:
        for b in prange(nb):
            _run(J, Dc, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted,
                 (b * W) // nb, ((b + 1) * W) // nb, _OVERRELAX, batch)


# ------------------------------------------------------------------- model builders
@njit(cache=True)
def unit_vectors(u):
    """(n, 3) isotropic unit vectors from uniforms u (n, 2) in [0, 1): uniform_direction."""
    n = u.shape[0]
    out = np.empty((n, 3))
    for k in range(n):
        x, y, z = uniform_direction(u[k, 0], u[k, 1])
        out[k, 0] = x
        out[k, 1] = y
        out[k, 2] = z
    return out


@njit(cache=True)
def _min_image(d, L):
    return d - L * np.rint(d / L)


@njit(cache=True, parallel=True)
def _scatterer_tables(pos, box, scat, kf, damping, cutoff, ex, ey, ez, cs, sn, wt):
    """Per (scatterer l, spin i), tables (N_l, N): R̂_li = unit vector from l to i (minimum
    image), cos/sin(k_F R_li), weight exp(−R_li/(2λ))/R_li, or 0 if R_li > R_c. Returns the
    number of (l, i) at distance 0 (an error for the caller)."""
    N = pos.shape[0]
    M = scat.shape[0]
    bad = np.zeros(M, dtype=np.int64)
    for m in prange(M):
        for i in range(N):
            dx = _min_image(pos[i, 0] - scat[m, 0], box[0])
            dy = _min_image(pos[i, 1] - scat[m, 1], box[1])
            dz = _min_image(pos[i, 2] - scat[m, 2], box[2])
            r = math.sqrt(dx * dx + dy * dy + dz * dz)
            if r == 0.0:
                bad[m] += 1
                ex[m, i] = 0.0
                ey[m, i] = 0.0
                ez[m, i] = 0.0
                cs[m, i] = 0.0
                sn[m, i] = 0.0
                wt[m, i] = 0.0
                continue
            ex[m, i] = dx / r
            ey[m, i] = dy / r
            ez[m, i] = dz / r
            cs[m, i] = math.cos(kf * r)
            sn[m, i] = math.sin(kf * r)
            wt[m, i] = math.exp(-r / (2.0 * damping)) / r if r <= cutoff else 0.0
    return bad.sum()


@njit(cache=True, fastmath=FASTMATH)
def _fert_levy_terms(exm, eym, ezm, csm, snm, wtm, xi, yi, zi, ci, si, wi, cb, sb, ax, ay, az,
                     j0, j1):
    """The terms of one scatterer for the pairs (i, j), j0 ≤ j < j1 (unsigned indices: no
    negative-index wraparound code, so the elementwise loop vectorises)."""
    for j in range(j0, j1):
        w = wi * wtm[j]  # 0 if the scatterer is beyond R_c of spin j
        # sin(k_F (R_li + R_lj) + b) by angle addition (no trigonometry per triple)
        sa = si * csm[j] + ci * snm[j]
        ca = ci * csm[j] - si * snm[j]
        xj = exm[j]
        yj = eym[j]
        zj = ezm[j]
        t = w * (sa * cb[j] + ca * sb[j]) * (xi * xj + yi * yj + zi * zj)
        ax[j] += t * (yi * zj - zi * yj)
        ay[j] += t * (zi * xj - xi * zj)
        az[j] += t * (xi * yj - yi * xj)


@njit(cache=True)
def _fert_levy_row(pos, box, i, kf, strength, phase, damping, cutoff, ex, ey, ez, cs, sn, wt,
                   D, cb, sb, ax, ay, az):
    """D[i, j] and D[j, i] = −D[i, j] for every j > i (see fert_levy_dense). Scatterers
    outer, partners j inner: each pair keeps its own accumulators (summed over l in
    ascending order), so the inner loop is elementwise and vectorises without reordering
    any sum. cb, sb, ax, ay, az: (N,) scratch."""
    N = pos.shape[0]
    M = ex.shape[0]
    for j in range(i + 1, N):
        dx = _min_image(pos[i, 0] - pos[j, 0], box[0])
        dy = _min_image(pos[i, 1] - pos[j, 1], box[1])
        dz = _min_image(pos[i, 2] - pos[j, 2], box[2])
        rij = math.sqrt(dx * dx + dy * dy + dz * dz)
        b = kf * rij + phase
        cb[j] = math.cos(b)
        sb[j] = math.sin(b)
        ax[j] = 0.0
        ay[j] = 0.0
        az[j] = 0.0
    for m in range(M):
        wi = wt[m, i]
        if wi == 0.0:  # scatterer beyond R_c of spin i: no term for any pair (i, j)
            continue
        xi = ex[m, i]
        yi = ey[m, i]
        zi = ez[m, i]
        ci = cs[m, i]
        si = sn[m, i]
        _fert_levy_terms(ex[m], ey[m], ez[m], cs[m], sn[m], wt[m], xi, yi, zi, ci, si, wi,
                         cb, sb, ax, ay, az, np.uint64(i + 1), np.uint64(N))
    for j in range(i + 1, N):
        dx = _min_image(pos[i, 0] - pos[j, 0], box[0])
        dy = _min_image(pos[i, 1] - pos[j, 1], box[1])
        dz = _min_image(pos[i, 2] - pos[j, 2], box[2])
        rij = math.sqrt(dx * dx + dy * dy + dz * dz)
        if not rij <= cutoff:  # pair beyond R_c (also drops rij = nan)
            continue
        pref = strength * math.exp(-rij / (2.0 * damping)) / rij
        D[i, j, 0] = pref * ax[j]
        D[i, j, 1] = pref * ay[j]
        D[i, j, 2] = pref * az[j]
        D[j, i, 0] = -D[i, j, 0]
        D[j, i, 1] = -D[i, j, 1]
        D[j, i, 2] = -D[i, j, 2]


@njit(cache=True, parallel=True)
def fert_levy_dense(pos, box, scat, kf, strength, phase, damping, cutoff, D):
    """Fill D (N, N, 3) float64 (zeroed by the caller) with the Fert–Lévy vectors

        D_ij = V₁ e^{−R_ij/2λ}/R_ij Σ_l sin[k_F(R_li + R_lj + R_ij) + ξ₀] (R̂_li·R̂_lj)
               (R̂_li × R̂_lj) e^{−(R_li + R_lj)/2λ} / (R_li R_lj),

    R_li = minimum image of R_i − R_l (scatterer l to spin i). Pairs with R_ij > R_c and
    scatterers with R_li or R_lj > R_c are dropped. Each pair i < j is computed by one
    thread (l ascending); D[j, i] = −D[i, j] exactly. Rows are handed out in pairs
    (k, N−1−k) for equal work per parallel iteration. Returns the number of (spin,
    scatterer) pairs at distance 0 (nothing is filled then); coincident spins give D = ±inf
    or nan (the caller checks). Tables: 6·N·N_l float64 (48 bytes per spin–scatterer
    pair)."""
    N = pos.shape[0]
    M = scat.shape[0]
    ex = np.empty((M, N))
    ey = np.empty((M, N))
    ez = np.empty((M, N))
    cs = np.empty((M, N))
    sn = np.empty((M, N))
    wt = np.empty((M, N))
    bad = _scatterer_tables(pos, box, scat, kf, damping, cutoff, ex, ey, ez, cs, sn, wt)
    if bad > 0:
        return bad
    half = (N + 1) // 2
    for k in prange(half):
        cb = np.empty(N)
        sb = np.empty(N)
        ax = np.empty(N)
        ay = np.empty(N)
        az = np.empty(N)
        _fert_levy_row(pos, box, k, kf, strength, phase, damping, cutoff, ex, ey, ez, cs,
                       sn, wt, D, cb, sb, ax, ay, az)
        if N - 1 - k != k:
            _fert_levy_row(pos, box, N - 1 - k, kf, strength, phase, damping, cutoff, ex, ey,
                           ez, cs, sn, wt, D, cb, sb, ax, ay, az)
    return 0
