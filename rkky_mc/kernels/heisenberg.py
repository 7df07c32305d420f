"""Heisenberg (unit 3-vector) single-spin updates, dense and CSR couplings (numba).

State: spin components ``sx, sy, sz`` (W, N) and local fields ``hx, hy, hz`` (W, N),
h_i = Σ_j J_ij S_j + H ẑ (the uniform field H is already in ``hz``), all of the dtype of J
(float64 or float32). New directions are computed in float64 and stored in the array dtype.
When S_i changes by ΔS (the difference of the *stored* values), every field of that walker
changes by h_j += ΔS J_ij: three contiguous row updates for dense J (J_ii = 0).

Moves (one visit of site i by walker w; β = beta_w[w]):
  Metropolis   propose a uniform direction S' (two uniforms), ΔE = −(S' − S)·h_i; accept if
               ΔE ≤ 0, else if u < exp(−β ΔE) (a third uniform, drawn only when ΔE > 0;
               exp skipped where a cheap bound already rejects: rng.accept_exp).
  heat bath    exact draw from p(S) ∝ exp(β S·h_i) (two uniforms, see heatbath_direction);
               a visit always moves the spin.
  over-relax.  S' = 2 (S·h) h/|h|² − S (reflection about h: energy conserving, no random
               numbers), renormalised to |S'| = 1 by one Newton step; skipped where |h| = 0.
``accepted[w]`` counts the spins that moved (Metropolis: accepted proposals; heat bath: every
visit). Over-relaxation has no counter.

Unit length: Metropolis and heat-bath spins are fresh unit vectors (to rounding), so nothing
accumulates; over-relaxation reuses the old spin, hence the renormalisation.

Threading as in ising.py: ``prange`` over ``min(W, numba.get_num_threads())`` contiguous walker
blocks (serial below ``fields.PARALLEL_MIN_WORK`` attempted updates per call); dense: sites
outside, walkers inside; CSR: walker after walker; walker w uses only stream ``rng[w]``:
results are independent of the thread count.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .fields import FASTMATH, batch_couplings, n_blocks
from .rng import accept_exp, exp_test, u64_to_uniform, uniform, xoshiro_step

_KW = dict(cache=True, fastmath=FASTMATH, error_model="numpy")

# Below this a = β|h| the heat-bath distribution is uniform to double precision; the limit
# formula (cos θ = 2u − 1 about ĥ) also avoids subnormal intermediates.
_A_TINY = 1e-150


# cos and sin of 2πu: the turn is cut into quarters exactly (v = 4u and v − q are exact in
# float64), leaving r = (v − q)·π/2 in [−π/4, π/4], where the minimax polynomials of Cephes
# (sin.c; peak relative error 2.2e-16 on this interval) need no further reduction. One
# polynomial pair instead of two libm calls (~24 → ~10 ns per uniform direction); agrees
# with cos(2πu), sin(2πu) of libm to a few 1e-16 (tests/test_kernels_heisenberg.py).
_PIO2 = 0.5 * np.pi
_SIN_C0 = 1.58962301576546568060e-10
_SIN_C1 = -2.50507477628578072866e-8
_SIN_C2 = 2.75573136213857245213e-6
_SIN_C3 = -1.98412698295895385996e-4
_SIN_C4 = 8.33333333332211858878e-3
_SIN_C5 = -1.66666666666666307295e-1
_COS_C0 = -1.13585365213876817300e-11
_COS_C1 = 2.08757008419747316778e-9
_COS_C2 = -2.75573141792967388112e-7
_COS_C3 = 2.48015872888517045348e-5
_COS_C4 = -1.38888888888730564116e-3
_COS_C5 = 4.16666666666665929218e-2


@njit(**_KW)
def cos_sin_turn(u):
    """(cos 2πu, sin 2πu) for u in [0, 1), float64."""
    v = 4.0 * np.float64(u)
    q = np.int64(v + 0.5)
    r = (v - np.float64(q)) * _PIO2
    z = r * r
    sn = r + r * z * (((((_SIN_C0 * z + _SIN_C1) * z + _SIN_C2) * z + _SIN_C3) * z + _SIN_C4)
                      * z + _SIN_C5)
    cs = 1.0 - 0.5 * z + z * z * (((((_COS_C0 * z + _COS_C1) * z + _COS_C2) * z + _COS_C3)
                                   * z + _COS_C4) * z + _COS_C5)
    q = q & 3
    if q == 0:
        return cs, sn
    if q == 1:
        return -sn, cs
    if q == 2:
        return -cs, -sn
    return sn, -cs


@njit(**_KW)
def uniform_direction(u1, u2):
    """Uniform unit vector from two uniforms in [0, 1): z = 2 u1 − 1, φ = 2π u2."""
    u1 = np.float64(u1)
    z = 2.0 * u1 - 1.0
    r = 2.0 * np.sqrt(u1 * (1.0 - u1))  # sqrt(1 − z²) without cancellation
    c, s = cos_sin_turn(u2)
    return r * c, r * s, z


@njit(**_KW)
def heatbath_direction(hx, hy, hz, beta, u1, u2):
    """Exact draw of a unit vector S with density ∝ exp(β S·h), from two uniforms in [0, 1).

    With a = β|h| and v = 1 − u1 ∈ (0, 1]: t = 1 − cos θ = −log1p(−v (−expm1(−2a)))/a about
    ĥ (the inverse of the CDF of cos θ; t → 2v, i.e. uniform, as a → 0 with no cancellation),
    φ = 2π u2 in the orthonormal frame of Duff et al. (2017) around ĥ. |h| = 0 (or β = 0):
    uniform_direction(u1, u2). Returns float64 (x, y, z).
    """
    hx = np.float64(hx)
    hy = np.float64(hy)
    hz = np.float64(hz)
    h2 = hx * hx + hy * hy + hz * hz
    if not h2 > 0.0:
        return uniform_direction(u1, u2)
    hn = np.sqrt(h2)
    a = np.float64(beta) * hn
    if not a > 0.0:
        return uniform_direction(u1, u2)
    v = 1.0 - np.float64(u1)
    if a > _A_TINY:
        t = -np.log1p(-v * (-np.expm1(-2.0 * a))) / a
    else:
        t = 2.0 * v
    if not t <= 2.0:  # log1p(−1) = −inf for huge a and v = 1; also guards NaN
        t = 2.0
    if t < 0.0:
        t = 0.0
    c = 1.0 - t
    st = np.sqrt(t * (2.0 - t))
    c_phi, s_phi = cos_sin_turn(u2)
    p = st * c_phi
    q = st * s_phi
    # orthonormal frame (e1, e2, n) around n = ĥ (Duff et al., JCGT 6(1), 2017)
    inv = 1.0 / hn
    nx = hx * inv
    ny = hy * inv
    nz = hz * inv
    sgn = 1.0 if nz >= 0.0 else -1.0
    aa = -1.0 / (sgn + nz)
    bb = nx * ny * aa
    e1x = 1.0 + sgn * nx * nx * aa
    e1y = sgn * bb
    e1z = -sgn * nx
    e2x = bb
    e2y = sgn + ny * ny * aa
    e2z = -ny
    return (p * e1x + q * e2x + c * nx,
            p * e1y + q * e2y + c * ny,
            p * e1z + q * e2z + c * nz)


# ------------------------------------------------------------------ dense walker blocks
@njit(**_KW)
def _metropolis_dense_block(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted, w0, w1):
    N = sx.shape[1]
    for ii in range(sites.shape[0]):
        i = sites[ii]
        for w in range(w0, w1):
            u1 = uniform(rng, w)
            u2 = uniform(rng, w)
            xn, yn, zn = uniform_direction(u1, u2)
            x0 = sx[w, i]
            y0 = sy[w, i]
            z0 = sz[w, i]
            de = -((xn - x0) * hx[w, i] + (yn - y0) * hy[w, i] + (zn - z0) * hz[w, i])
            if de > 0.0:
                if not accept_exp(rng, w, beta_w[w] * de):
                    continue
            sx[w, i] = xn
            sy[w, i] = yn
            sz[w, i] = zn
            dx = sx[w, i] - x0
            dy = sy[w, i] - y0
            dz = sz[w, i] - z0
            for j in range(N):
                c = J[i, j]
                hx[w, j] += dx * c
                hy[w, j] += dy * c
                hz[w, j] += dz * c
            accepted[w] += 1


@njit(**_KW)
def _heatbath_dense_block(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted, w0, w1):
    N = sx.shape[1]
    for ii in range(sites.shape[0]):
        i = sites[ii]
        for w in range(w0, w1):
            u1 = uniform(rng, w)
            u2 = uniform(rng, w)
            xn, yn, zn = heatbath_direction(hx[w, i], hy[w, i], hz[w, i], beta_w[w], u1, u2)
            x0 = sx[w, i]
            y0 = sy[w, i]
            z0 = sz[w, i]
            sx[w, i] = xn
            sy[w, i] = yn
            sz[w, i] = zn
            dx = sx[w, i] - x0
            dy = sy[w, i] - y0
            dz = sz[w, i] - z0
            for j in range(N):
                c = J[i, j]
                hx[w, j] += dx * c
                hy[w, j] += dy * c
                hz[w, j] += dz * c
            accepted[w] += 1


@njit(**_KW)
def _overrelax_dense_block(J, sx, sy, sz, hx, hy, hz, sites, w0, w1):
    N = sx.shape[1]
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
            dx = sx[w, i] - x0
            dy = sy[w, i] - y0
            dz = sz[w, i] - z0
            for j in range(N):
                c = J[i, j]
                hx[w, j] += dx * c
                hy[w, j] += dy * c
                hz[w, j] += dz * c


# ------------------------------------------------------- dense, deferred field updates
# As in ising.py: the sites are taken in batches of FLIP_BATCH; each walker makes its moves of
# the batch site after site, bringing the visited site's field up to date from its pending
# moves (h_i += ΔS_a J[r_a, i], in order, with J[r_a, i] from the couplings among the batch's
# sites gathered once per batch), then adds its moves to its three field rows four per pass.
# The walkers' field rows (3 × N per walker) are read and written once per four moves instead
# of once per move. Each element receives exactly the additions of the one-at-a-time update in
# the same order: the same bits (tests/test_kernels_heisenberg.py).
FLIP_BATCH = 16
# Deferred updates from this many spins on (measured on this project's 2-core EPYC VM, 32
# walkers, float64: equal at N = 128, 1.7–2x faster at N = 1000 for all three moves)
DEFERRED_MIN_N = 128

_METROPOLIS = 0
_HEATBATH = 1
_OVERRELAX = 2


def dense_batch_mode(N: int, itemsize: int = 8) -> int:
    """The ``batch`` argument of the dense Heisenberg sweeps for N spins (any precision)."""
    return 1 if N >= DEFERRED_MIN_N else 0


@njit(**_KW)
def _apply_moves(J, hx, hy, hz, w, rows, ds, nf):
    """h[w, j] += ds[a, c] J[rows[a], j] for each component c and a = 0 … nf−1 in order."""
    u1 = np.uint64(hx.shape[1])
    a = 0
    while nf - a >= 4:
        r0 = rows[a]
        r1 = rows[a + 1]
        r2 = rows[a + 2]
        r3 = rows[a + 3]
        x0, y0, z0 = ds[a, 0], ds[a, 1], ds[a, 2]
        x1, y1, z1 = ds[a + 1, 0], ds[a + 1, 1], ds[a + 1, 2]
        x2, y2, z2 = ds[a + 2, 0], ds[a + 2, 1], ds[a + 2, 2]
        x3, y3, z3 = ds[a + 3, 0], ds[a + 3, 1], ds[a + 3, 2]
        for j in range(np.uint64(0), u1):
            c0 = J[r0, j]
            c1 = J[r1, j]
            c2 = J[r2, j]
            c3 = J[r3, j]
            hx[w, j] = (((hx[w, j] + x0 * c0) + x1 * c1) + x2 * c2) + x3 * c3
            hy[w, j] = (((hy[w, j] + y0 * c0) + y1 * c1) + y2 * c2) + y3 * c3
            hz[w, j] = (((hz[w, j] + z0 * c0) + z1 * c1) + z2 * c2) + z3 * c3
        a += 4
    left = nf - a
    if left == 3:
        r0 = rows[a]
        r1 = rows[a + 1]
        r2 = rows[a + 2]
        x0, y0, z0 = ds[a, 0], ds[a, 1], ds[a, 2]
        x1, y1, z1 = ds[a + 1, 0], ds[a + 1, 1], ds[a + 1, 2]
        x2, y2, z2 = ds[a + 2, 0], ds[a + 2, 1], ds[a + 2, 2]
        for j in range(np.uint64(0), u1):
            c0 = J[r0, j]
            c1 = J[r1, j]
            c2 = J[r2, j]
            hx[w, j] = ((hx[w, j] + x0 * c0) + x1 * c1) + x2 * c2
            hy[w, j] = ((hy[w, j] + y0 * c0) + y1 * c1) + y2 * c2
            hz[w, j] = ((hz[w, j] + z0 * c0) + z1 * c1) + z2 * c2
    elif left == 2:
        r0 = rows[a]
        r1 = rows[a + 1]
        x0, y0, z0 = ds[a, 0], ds[a, 1], ds[a, 2]
        x1, y1, z1 = ds[a + 1, 0], ds[a + 1, 1], ds[a + 1, 2]
        for j in range(np.uint64(0), u1):
            c0 = J[r0, j]
            c1 = J[r1, j]
            hx[w, j] = (hx[w, j] + x0 * c0) + x1 * c1
            hy[w, j] = (hy[w, j] + y0 * c0) + y1 * c1
            hz[w, j] = (hz[w, j] + z0 * c0) + z1 * c1
    elif left == 1:
        r0 = rows[a]
        x0, y0, z0 = ds[a, 0], ds[a, 1], ds[a, 2]
        for j in range(np.uint64(0), u1):
            c0 = J[r0, j]
            hx[w, j] = hx[w, j] + x0 * c0
            hy[w, j] = hy[w, j] + y0 * c0
            hz[w, j] = hz[w, j] + z0 * c0


@njit(**_KW)
def _dense_deferred(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted, w0, w1, mode):
    n = sites.shape[0]
    rows = np.empty(FLIP_BATCH, dtype=np.int64)           # site of each pending move
    pos = np.empty(FLIP_BATCH, dtype=np.int64)            # its index in the batch
    ds = np.empty((FLIP_BATCH, 3), dtype=sx.dtype)        # ΔS of the stored values
    Jb = np.empty((FLIP_BATCH, FLIP_BATCH), dtype=J.dtype)
    for b0 in range(0, n, FLIP_BATCH):
        b1 = min(b0 + FLIP_BATCH, n)
        batch_couplings(J, sites, b0, b1, Jb)
        for w in range(w0, w1):
            beta = beta_w[w] if mode != _OVERRELAX else 0.0  # (no β for over-relaxation)
            m = 0
            for ii in range(b0, b1):
                i = sites[ii]
                fx = hx[w, i]
                fy = hy[w, i]
                fz = hz[w, i]
                for a in range(m):  # pending moves of this batch, in order
                    c = Jb[pos[a], ii - b0]
                    fx = fx + ds[a, 0] * c
                    fy = fy + ds[a, 1] * c
                    fz = fz + ds[a, 2] * c
                x0 = sx[w, i]
                y0 = sy[w, i]
                z0 = sz[w, i]
                if mode == _METROPOLIS:
                    u1 = uniform(rng, w)
                    u2 = uniform(rng, w)
                    xn, yn, zn = uniform_direction(u1, u2)
                    de = -((xn - x0) * fx + (yn - y0) * fy + (zn - z0) * fz)
                    if de > 0.0:
                        if not accept_exp(rng, w, beta * de):
                            continue
                    sx[w, i] = xn
                    sy[w, i] = yn
                    sz[w, i] = zn
                elif mode == _HEATBATH:
                    u1 = uniform(rng, w)
                    u2 = uniform(rng, w)
                    xn, yn, zn = heatbath_direction(fx, fy, fz, beta, u1, u2)
                    sx[w, i] = xn
                    sy[w, i] = yn
                    sz[w, i] = zn
                else:
                    gx = np.float64(fx)
                    gy = np.float64(fy)
                    gz = np.float64(fz)
                    h2 = gx * gx + gy * gy + gz * gz
                    if not h2 > 0.0:
                        continue
                    f = 2.0 * (x0 * gx + y0 * gy + z0 * gz) / h2
                    xn = f * gx - x0
                    yn = f * gy - y0
                    zn = f * gz - z0
                    g = 1.5 - 0.5 * (xn * xn + yn * yn + zn * zn)  # ≈ 1/|S'|
                    sx[w, i] = xn * g
                    sy[w, i] = yn * g
                    sz[w, i] = zn * g
                rows[m] = i
                pos[m] = ii - b0
                ds[m, 0] = sx[w, i] - x0
                ds[m, 1] = sy[w, i] - y0
                ds[m, 2] = sz[w, i] - z0
                m += 1
            if m > 0:
                _apply_moves(J, hx, hy, hz, w, rows, ds, m)
                if mode != _OVERRELAX:
                    accepted[w] += m


# -------------------------------------------------------------------- CSR walker blocks
# Walker outer, sites inner (as in ising.py): a sparse row is a handful of couplings, so
# sharing it between walkers gains nothing, while one walker's six spin and field rows stay in
# cache for its whole pass and its stream state in registers (loaded and stored once). With
# the walker loop inside, the W walkers' elements of a site sit N apart in each of the six
# arrays and compete for the same cache sets when N·itemsize is a multiple of 4 KiB. Indices
# are cast to unsigned (no negative-index wraparound test). Each walker sees exactly the
# operations of the site-outer order: the same bits.
@njit(**_KW)
def _csr_add(indptr, indices, data, fx, fy, fz, i, dx, dy, dz):
    """Fields of row ``i``'s neighbours after spin i changed by (dx, dy, dz)."""
    for k in range(indptr[i], indptr[i + 1]):
        j = np.uint32(indices[k])
        c = data[k]
        fx[j] += dx * c
        fy[j] += dy * c
        fz[j] += dz * c


@njit(**_KW)
def _metropolis_csr_block(indptr, indices, data, sx, sy, sz, hx, hy, hz, beta_w, sites, rng,
                          accepted, w0, w1):
    for w in range(w0, w1):
        beta = beta_w[w]
        ax, ay, az, fx, fy, fz = sx[w], sy[w], sz[w], hx[w], hy[w], hz[w]
        s0, s1, s2, s3 = rng[w, 0], rng[w, 1], rng[w, 2], rng[w, 3]
        n_acc = 0
        for ii in range(sites.shape[0]):
            i = np.uint64(sites[ii])
            r1, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
            r2, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
            xn, yn, zn = uniform_direction(u64_to_uniform(r1), u64_to_uniform(r2))
            x0 = ax[i]
            y0 = ay[i]
            z0 = az[i]
            de = -((xn - x0) * fx[i] + (yn - y0) * fy[i] + (zn - z0) * fz[i])
            if de > 0.0:
                r3, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                if not exp_test(u64_to_uniform(r3), beta * de):
                    continue
            ax[i] = xn
            ay[i] = yn
            az[i] = zn
            _csr_add(indptr, indices, data, fx, fy, fz, i, ax[i] - x0, ay[i] - y0, az[i] - z0)
            n_acc += 1
        rng[w, 0], rng[w, 1], rng[w, 2], rng[w, 3] = s0, s1, s2, s3
        accepted[w] += n_acc


@njit(**_KW)
def _heatbath_csr_block(indptr, indices, data, sx, sy, sz, hx, hy, hz, beta_w, sites, rng,
                        accepted, w0, w1):
    for w in range(w0, w1):
        beta = beta_w[w]
        ax, ay, az, fx, fy, fz = sx[w], sy[w], sz[w], hx[w], hy[w], hz[w]
        s0, s1, s2, s3 = rng[w, 0], rng[w, 1], rng[w, 2], rng[w, 3]
        for ii in range(sites.shape[0]):
            i = np.uint64(sites[ii])
            r1, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
            r2, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
            xn, yn, zn = heatbath_direction(fx[i], fy[i], fz[i], beta, u64_to_uniform(r1),
                                            u64_to_uniform(r2))
            x0 = ax[i]
            y0 = ay[i]
            z0 = az[i]
            ax[i] = xn
            ay[i] = yn
            az[i] = zn
            _csr_add(indptr, indices, data, fx, fy, fz, i, ax[i] - x0, ay[i] - y0, az[i] - z0)
        rng[w, 0], rng[w, 1], rng[w, 2], rng[w, 3] = s0, s1, s2, s3
        accepted[w] += sites.shape[0]


@njit(**_KW)
def _overrelax_csr_block(indptr, indices, data, sx, sy, sz, hx, hy, hz, sites, w0, w1):
    for w in range(w0, w1):
        ax, ay, az, fx, fy, fz = sx[w], sy[w], sz[w], hx[w], hy[w], hz[w]
        for ii in range(sites.shape[0]):
            i = np.uint64(sites[ii])
            gx = np.float64(fx[i])
            gy = np.float64(fy[i])
            gz = np.float64(fz[i])
            h2 = gx * gx + gy * gy + gz * gz
            if not h2 > 0.0:
                continue
            x0 = ax[i]
            y0 = ay[i]
            z0 = az[i]
            f = 2.0 * (x0 * gx + y0 * gy + z0 * gz) / h2
            xn = f * gx - x0
            yn = f * gy - y0
            zn = f * gz - z0
            g = 1.5 - 0.5 * (xn * xn + yn * yn + zn * zn)
            ax[i] = xn * g
            ay[i] = yn * g
            az[i] = zn * g
            _csr_add(indptr, indices, data, fx, fy, fz, i, ax[i] - x0, ay[i] - y0, az[i] - z0)


# ------------------------------------------------------------------------------ sweeps
# Walkers split into n_blocks contiguous blocks, one prange iteration each; a call with
# little work (len(sites)·W < fields.PARALLEL_MIN_WORK) runs serially in the calling thread.
@njit(parallel=True, **_KW)
def heisenberg_sweep_dense(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, heatbath, accepted,
                           batch=0):
    """One Metropolis or heat-bath pass over ``sites`` for every walker, dense couplings.
    ``batch``: 0 one move at a time, 1 deferred field updates (same bits; faster for large N,
    ``dense_batch_mode(N)``)."""
    W = sx.shape[0]
    nb = n_blocks(W, sites.shape[0] * W)
    mode = _HEATBATH if heatbath else _METROPOLIS
    if nb <= 1:
        if batch:
            _dense_deferred(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted, np.int64(0), W, mode)
        elif heatbath:
            _heatbath_dense_block(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted,
                                  np.int64(0), W)
        else:
            _metropolis_dense_block(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted,
                                    np.int64(0), W)
    else:
        for b in prange(nb):
            w0 = (b * W) // nb
            w1 = ((b + 1) * W) // nb
            if batch:
                _dense_deferred(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted,
                                w0, w1, mode)
            elif heatbath:
                _heatbath_dense_block(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng,
                                      accepted, w0, w1)
            else:
                _metropolis_dense_block(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng,
                                        accepted, w0, w1)


@njit(parallel=True, **_KW)
def heisenberg_sweep_csr(indptr, indices, data, sx, sy, sz, hx, hy, hz, beta_w, sites, rng,
                         heatbath, accepted):
    """One Metropolis or heat-bath pass over ``sites`` for every walker, CSR couplings."""
    W = sx.shape[0]
    nb = n_blocks(W, sites.shape[0] * W)
    if nb <= 1:
        if heatbath:
            _heatbath_csr_block(indptr, indices, data, sx, sy, sz, hx, hy, hz, beta_w, sites,
                                rng, accepted, np.int64(0), W)
        else:
            _metropolis_csr_block(indptr, indices, data, sx, sy, sz, hx, hy, hz, beta_w,
                                  sites, rng, accepted, np.int64(0), W)
    else:
        for b in prange(nb):
            w0 = (b * W) // nb
            w1 = ((b + 1) * W) // nb
            if heatbath:
                _heatbath_csr_block(indptr, indices, data, sx, sy, sz, hx, hy, hz, beta_w,
                                    sites, rng, accepted, w0, w1)
            else:
                _metropolis_csr_block(indptr, indices, data, sx, sy, sz, hx, hy, hz, beta_w,
                                      sites, rng, accepted, w0, w1)


@njit(parallel=True, **_KW)
def heisenberg_overrelax_dense(J, sx, sy, sz, hx, hy, hz, sites, batch=0):
    """One over-relaxation pass over ``sites`` for every walker, dense couplings
    (``batch`` as in heisenberg_sweep_dense)."""
    W = sx.shape[0]
    nb = n_blocks(W, sites.shape[0] * W)
    # placeholders: over-relaxation draws no random numbers and counts nothing
    beta_w = np.zeros(0)
    rng = np.zeros((0, 4), dtype=np.uint64)
    accepted = np.zeros(0, dtype=np.int64)
    if nb <= 1:
        if batch:
            _dense_deferred(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted, np.int64(0), W,
                            _OVERRELAX)
        else:
            _overrelax_dense_block(J, sx, sy, sz, hx, hy, hz, sites, np.int64(0), W)
    else:
        for b in prange(nb):
            w0 = (b * W) // nb
            w1 = ((b + 1) * W) // nb
            if batch:
                _dense_deferred(J, sx, sy, sz, hx, hy, hz, beta_w, sites, rng, accepted,
                                w0, w1, _OVERRELAX)
            else:
                _overrelax_dense_block(J, sx, sy, sz, hx, hy, hz, sites, w0, w1)


@njit(parallel=True, **_KW)
def heisenberg_overrelax_csr(indptr, indices, data, sx, sy, sz, hx, hy, hz, sites):
    """One over-relaxation pass over ``sites`` for every walker, CSR couplings."""
    W = sx.shape[0]
    nb = n_blocks(W, sites.shape[0] * W)
    if nb <= 1:
        _overrelax_csr_block(indptr, indices, data, sx, sy, sz, hx, hy, hz, sites, np.int64(0), W)
    else:
        for b in prange(nb):
            _overrelax_csr_block(indptr, indices, data, sx, sy, sz, hx, hy, hz, sites,
                                 (b * W) // nb, ((b + 1) * W) // nb)
