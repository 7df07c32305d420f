"""Heisenberg spins with Dzyaloshinskii–Moriya couplings, dense J and D (numba).

    H = − Σ_{i<j} [ J_ij S_i·S_j + D_ij·(S_i × S_j) ] − H Σ_i S_i^z,      D_ji = −D_ij

J (N, N) symmetric with zero diagonal, D (N, N, 3) antisymmetric (D[j, i] = −D[i, j], zero
diagonal), both of one dtype (float64; float32 works with the same code, see below). Spins
``sx, sy, sz`` (W, N), fields ``hx, hy, hz`` (W, N): the layout of kernels/heisenberg.py.

Local field. D_ij·(S_i × S_j) = S_i·(S_j × D_ij) (cyclic triple product), and the pair (j, i)
with j < i contributes −D_ji·(S_j × S_i) = −D_ij·(S_i × S_j) as well, so the energy is
−S_i·h_i + (terms without S_i) with

    h_i = Σ_j ( J_ij S_j + S_j × D_ij ) + H ẑ = Σ_j ( J_ji S_j + D_ji × S_j ) + H ẑ.

The second form reads row j of J and of D (contiguous): when S_j changes by ΔS (the
difference of the stored values), every field changes by h_i += J_ji ΔS + D_ji × ΔS. The
energy stays linear in each spin, so Metropolis, the exact heat bath and over-relaxation are
those of kernels/heisenberg.py around this field (the same random numbers per visit, in the
same order), and E = −½ Σ_i S_i·h_i − ½ H Σ_i S_i^z still holds (``dm_energies``).

With D ≡ 0 every field update adds J_ji ΔS + (±0): the fields, spins and acceptance decisions
are bit for bit those of heisenberg_sweep_dense (either of its batch modes) with the same
streams (tests/test_dm.py).

Threading as in heisenberg.py: ``prange`` over ``n_blocks`` contiguous walker blocks, sites
outside, walkers inside (one row of J and D serves every walker of the block); walker w draws
only from stream ``rng[w]``: results do not depend on the thread count.

float32: fields are accumulated as in heisenberg.py (from scratch in float64, incremental in
the array dtype); the DM part of the from-scratch field is added to the rounded J part (one
extra rounding in float32, none in float64).

Also here: the Fert–Lévy pair kernel behind rkky_mc.interactions.dm.fert_levy_dm, and the
isotropic unit vectors of the ``random`` model.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .fields import FASTMATH, _fields3_dense_range, heisenberg_energies, n_blocks
from .heisenberg import heatbath_direction, uniform_direction
from .rng import accept_exp, uniform

_KW = dict(cache=True, fastmath=FASTMATH, error_model="numpy")

# The energy is bilinear in the spins whatever D is, so the isotropic formula
# E_w = −½ Σ_i S_i·h_i − ½ H Σ_i S_i^z applies to the DM fields unchanged.
dm_energies = heisenberg_energies


# ------------------------------------------------------------------ fields from scratch
@njit(**_KW)
def _dm_fields_range(D, sx, sy, sz, hx, hy, hz, w0, w1):
    """h[w, i] += Σ_j D[j, i] × S_j (j ascending, float64 accumulators) for w0 ≤ w < w1."""
    N = sx.shape[1]
    ax = np.zeros(N)
    ay = np.zeros(N)
    az = np.zeros(N)
    for w in range(w0, w1):
        ax[:] = 0.0
        ay[:] = 0.0
        az[:] = 0.0
        for j in range(N):
            x = np.float64(sx[w, j])
            y = np.float64(sy[w, j])
            z = np.float64(sz[w, j])
            Dj = D[j]
            for i in range(N):
                d0 = np.float64(Dj[i, 0])
                d1 = np.float64(Dj[i, 1])
                d2 = np.float64(Dj[i, 2])
                ax[i] += d1 * z - d2 * y
                ay[i] += d2 * x - d0 * z
                az[i] += d0 * y - d1 * x
        for i in range(N):
            hx[w, i] = hx[w, i] + ax[i]
            hy[w, i] = hy[w, i] + ay[i]
            hz[w, i] = hz[w, i] + az[i]


@njit(parallel=True, **_KW)
def dm_local_fields_dense(J, D, sx, sy, sz, H, hx, hy, hz):
    """Fields from scratch: h_i = Σ_j (J_ij S_j + S_j × D_ij) + H ẑ for every walker.
    The J part is fields.local_fields3_dense's (same order, same bits); the DM part,
    Σ_j D_ji × S_j (j ascending, float64), is added to it."""
    W, N = sx.shape
    nb = n_blocks(W, W * N)
    if nb <= 1:
        _fields3_dense_range(J, sx, sy, sz, H, hx, hy, hz, 0, W)
        _dm_fields_range(D, sx, sy, sz, hx, hy, hz, 0, W)
    else:
        for b in prange(nb):
            w0 = (b * W) // nb
            w1 = ((b + 1) * W) // nb
            _fields3_dense_range(J, sx, sy, sz, H, hx, hy, hz, w0, w1)
            _dm_fields_range(D, sx, sy, sz, hx, hy, hz, w0, w1)


# --------------------------------------------------------------------- walker blocks
@njit(**_KW)
def _add_move(J, D, hx, hy, hz, w, i, dx, dy, dz):
    """Fields of walker w after S_i changed by (dx, dy, dz): h_k += J_ik ΔS + D_ik × ΔS."""
    N = hx.shape[1]
    Ji = J[i]
    Di = D[i]
    for k in range(N):
        c = Ji[k]
        d0 = Di[k, 0]
        d1 = Di[k, 1]
        d2 = Di[k, 2]
        hx[w, k] += dx * c + (d1 * dz - d2 * dy)
        hy[w, k] += dy * c + (d2 * dx - d0 * dz)
        hz[w, k] += dz * c + (d0 * dy - d1 * dx)


@njit(**_KW)
def _dm_sweep_block(J, D, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, heatbath, accepted,
                    w0, w1):
    """Metropolis (uniform proposal) or heat bath, the draws of heisenberg.py per visit."""
    for ii in range(sites.shape[0]):
        i = sites[ii]
        for w in range(w0, w1):
            u1 = uniform(rng, w)
            u2 = uniform(rng, w)
            if heatbath:
                xn, yn, zn = heatbath_direction(hx[w, i], hy[w, i], hz[w, i], beta_w[w], u1, u2)
            else:
                xn, yn, zn = uniform_direction(u1, u2)
            x0 = sx[w, i]
            y0 = sy[w, i]
            z0 = sz[w, i]
            if not heatbath:
                de = -((xn - x0) * hx[w, i] + (yn - y0) * hy[w, i] + (zn - z0) * hz[w, i])
                if de > 0.0:
                    if not accept_exp(rng, w, beta_w[w] * de):
                        continue
            sx[w, i] = xn
            sy[w, i] = yn
            sz[w, i] = zn
            _add_move(J, D, hx, hy, hz, w, i, sx[w, i] - x0, sy[w, i] - y0, sz[w, i] - z0)
            accepted[w] += 1


@njit(**_KW)
def _dm_overrelax_block(J, D, sx, sy, sz, hx, hy, hz, sites, w0, w1):
    """S' = 2 (S·h) h/|h|² − S, renormalised by one Newton step (as heisenberg.py)."""
    for ii in range(sites.shape[0]):
        i = sites[ii]
        for w in range(w0, w1):
            fx = np.float64(hx[w, i])
            fy = np.float64(hy[w, i])
            fz = np.float64(hz[w, i])
            h2 = fx * fx + fy * fy + fz * fz
            if not h2 > 0.0:
                continue
            x0 = sx[w, i]
            y0 = sy[w, i]
            z0 = sz[w, i]
            f = 2.0 * (x0 * fx + y0 * fy + z0 * fz) / h2
            xn = f * fx - x0
            yn = f * fy - y0
            zn = f * fz - z0
            g = 1.5 - 0.5 * (xn * xn + yn * yn + zn * zn)  # ≈ 1/|S'| (|S'| = 1 + O(ε))
            sx[w, i] = xn * g
            sy[w, i] = yn * g
            sz[w, i] = zn * g
            _add_move(J, D, hx, hy, hz, w, i, sx[w, i] - x0, sy[w, i] - y0, sz[w, i] - z0)


# ------------------------------------------------------------------------------ sweeps
@njit(parallel=True, **_KW)
def dm_heisenberg_sweep_dense(J, D, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, heatbath,
                              accepted):
    """One Metropolis or heat-bath pass over ``sites`` for every walker, dense J and D.
    ``accepted[w]`` counts the spins that moved (heat bath: every visit)."""
    W = sx.shape[0]
    nb = n_blocks(W, sites.shape[0] * W)
    if nb <= 1:
        _dm_sweep_block(J, D, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, heatbath, accepted,
                        0, W)
    else:
        for b in prange(nb):
            _dm_sweep_block(J, D, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, heatbath,
                            accepted, (b * W) // nb, ((b + 1) * W) // nb)


@njit(parallel=True, **_KW)
def dm_overrelax_dense(J, D, sx, sy, sz, hx, hy, hz, sites):
    """One over-relaxation pass over ``sites`` for every walker (energy conserving, no random
    numbers, no counter), dense J and D."""
    W = sx.shape[0]
    nb = n_blocks(W, sites.shape[0] * W)
    if nb <= 1:
        _dm_overrelax_block(J, D, sx, sy, sz, hx, hy, hz, sites, 0, W)
    else:
        for b in prange(nb):
            _dm_overrelax_block(J, D, sx, sy, sz, hx, hy, hz, sites,
                                (b * W) // nb, ((b + 1) * W) // nb)


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
