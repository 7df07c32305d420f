"""RKKY range function and coupling-matrix builders (numba kernels).

    J(R) = J_scale · f(2 k_F R) · exp(−R/λ)   for R ≤ R_c,   0 beyond,
    f(x) = (sin x − x cos x) / x⁴             (J > 0 ferromagnetic for x < 4.4934…).

Units: positions, box, R_c (``cutoff``) and λ (``damping``) in host cubic lattice constants a;
``two_kf`` = 2 k_F in 1/a; ``J_scale`` carries the energy unit (J0 or J0/|f(x_nn)|).
Distances use the minimum image in the periodic orthorhombic box ``box`` (finite, > 0).

Determinism: every coupling is a function of the pair distance only, and the distance of
(i, j) is bitwise the distance of (j, i) (IEEE subtraction and ``rint`` are odd-symmetric),
so the dense matrix is exactly symmetric, the CSR values equal the dense ones bit for bit,
and no result depends on the number of threads.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import aligned

# Below |x| = _SERIES_X the direct formula loses digits to the cancellation
# sin x − x cos x ≈ x³/3 (relative error ~ 3ε/x²: 4e-14 at x = 0.1, 4e-8 at 1e-4), so the
# Taylor series f(x) = Σ_{n≥1} (−1)^(n+1) 2n/(2n+1)! · x^(2n−3) is used there.  The switch
# sits at x = 1 because the direct formula still reaches 2e-15 at x = 0.5 (measured against
# an exact rational series); at x = 1 it is good to ~4e-16, and the series through x^15
# (n = 9) truncates at 3·20/21!·x^18 ≈ 1e-18 relative.  Measured: max relative error of
# rkky_f ≤ 5e-16 on [1e-4, 3].  (The four-term series of early notes, switched at 1e-2,
# would leave ~3e-12 errors just above the switch.)
_SERIES_X = 1.0
_C1 = 1.0 / 3.0
_C2 = -1.0 / 30.0
_C3 = 1.0 / 840.0
_C4 = -1.0 / 45360.0
_C5 = 1.0 / 3991680.0
_C6 = -1.0 / 518918400.0
_C7 = 1.0 / 93405312000.0
_C8 = -1.0 / 22230464256000.0
_C9 = 1.0 / 6758061133824000.0


@njit(cache=True)
def rkky_f(x):
    """f(x) = (sin x − x cos x)/x⁴ (dimensionless); odd in x, +inf at x = 0."""
    ax = abs(x)
    if ax < _SERIES_X:
        if x == 0.0:
            return math.inf
        y = x * x
        p = _C9
        p = _C8 + y * p
        p = _C7 + y * p
        p = _C6 + y * p
        p = _C5 + y * p
        p = _C4 + y * p
        p = _C3 + y * p
        p = _C2 + y * p
        p = _C1 + y * p  # Horner in y = x²: f = p(x²)/x
        return p / x
    x2 = x * x
    return (math.sin(x) - x * math.cos(x)) / (x2 * x2)


@njit(cache=True)
def rkky_f_array(x):
    """Elementwise :func:`rkky_f` of a float64 array of any shape (the vectorised form)."""
    flat = x.ravel()
    out = np.empty(flat.size, dtype=np.float64)
    for k in range(flat.size):
        out[k] = rkky_f(flat[k])
    return out.reshape(x.shape)


@njit(cache=True)
def rkky_coupling(r, two_kf, J_scale, cutoff, damping):
    """J at distance r (> 0): J_scale·f(two_kf·r)·exp(−r/damping) if r ≤ cutoff, else 0.

    ``cutoff`` / ``damping`` = inf mean no cutoff / no damping factor."""
    if r > cutoff:
        return 0.0
    value = J_scale * rkky_f(two_kf * r)
    if damping < math.inf:  # skip exp(-0) = 1 in the common undamped case
        value *= math.exp(-r / damping)
    return value


@njit(cache=True)
def min_image_distance(pos, i, j, box):
    """|R_i − R_j| under the minimum image; bitwise equal for (i, j) and (j, i)."""
    s = 0.0
    for a in range(3):
        d = pos[i, a] - pos[j, a]
        d -= box[a] * np.rint(d / box[a])
        s += d * d
    return math.sqrt(s)


@njit(cache=True)
def distance_table(box, two_kf, J_scale, cutoff, damping):
    """J at every squared distance s = k/4 (k = 0, 1, …) that sites of the fcc or simple
    cubic lattice can have in ``box``: positions on the half-integer grid make every
    minimum-image component a multiple of 1/2 and s a multiple of 1/4, all exact in
    float64. J(k) = rkky_coupling(sqrt(k/4)) is then bitwise what the pair loop computes.
    Entry 0 (coincident sites) is unused."""
    smax = 0.0
    for a in range(3):
        h = 0.5 * box[a] + 0.5
        smax += h * h
    K = int(4.0 * smax) + 2
    table = np.empty(K, dtype=np.float64)
    table[0] = math.inf
    for k in range(1, K):
        table[k] = rkky_coupling(math.sqrt(k * 0.25), two_kf, J_scale, cutoff, damping)
    return table


@njit(cache=True)
def _quadruple_sq_distances(pos, box, i, j0, j1, q):
    """q[j] = 4·|R_i − R_j|² (minimum image) for j0 ≤ j < j1, the arithmetic of
    :func:`min_image_distance` (bitwise its square times 4, an exact scaling). Kept apart
    from the coupling lookup so that LLVM vectorises it (about 3× faster pair loops)."""
    xi, yi, zi = pos[i, 0], pos[i, 1], pos[i, 2]
    bx, by, bz = box[0], box[1], box[2]
    for j in range(j0, j1):
        d = xi - pos[j, 0]
        d -= bx * np.rint(d / bx)
        s = d * d
        d = yi - pos[j, 1]
        d -= by * np.rint(d / by)
        s += d * d
        d = zi - pos[j, 2]
        d -= bz * np.rint(d / bz)
        s += d * d
        q[j] = 4.0 * s


@njit(cache=True)
def _coupling_at(q, two_kf, J_scale, cutoff, damping, table):
    """J at the squared distance q/4 (q from _quadruple_sq_distances), nan at q = 0
    (coincident positions). Lattice distances (q an integer) are looked up in ``table``,
    any other (continuum positions) is computed: the same bits either way. The distance of
    (i, j) is bitwise that of (j, i), so the order of a pair does not matter."""
    if q == 0.0:
        return math.nan
    k = int(q)
    if k == q and k < table.shape[0]:
        return table[k]
    return rkky_coupling(math.sqrt(0.25 * q), two_kf, J_scale, cutoff, damping)


@njit(cache=True)
def _dense_upper_row(J, pos, box, i, two_kf, J_scale, cutoff, damping, table, coincident, q):
    """Pairs (i, j > i) into J[i, j] (contiguous writes; the lower triangle is mirrored
    afterwards). ``q``: (N,) scratch."""
    n = pos.shape[0]
    _quadruple_sq_distances(pos, box, i, i + 1, n, q)
    for j in range(i + 1, n):
        v = _coupling_at(q[j], two_kf, J_scale, cutoff, damping, table)
        if v != v:
            coincident[i] = True
            continue
        J[i, j] = v


_MIRROR_TILE = 64


@njit(cache=True, parallel=True)
def _mirror_upper(J):
    """J[j, i] = J[i, j] for j > i, in square tiles (cache-friendly transposed copy)."""
    n = J.shape[0]
    nt = (n + _MIRROR_TILE - 1) // _MIRROR_TILE
    for tj in prange(nt):  # tile row of the lower triangle
        j0 = tj * _MIRROR_TILE
        j1 = min(j0 + _MIRROR_TILE, n)
        for ti in range(tj + 1):
            i0 = ti * _MIRROR_TILE
            i1 = min(i0 + _MIRROR_TILE, n)
            for j in range(j0, j1):
                for i in range(i0, min(i1, j)):
                    J[j, i] = J[i, j]


def rkky_dense(pos, box, two_kf, J_scale, cutoff, damping):
    """Dense (N, N) float64 RKKY matrix, zero diagonal, exactly symmetric.

    Each pair i < j is computed once into the upper triangle (rows handed out in pairs
    (k, N−1−k) so that every parallel iteration holds the same number of pairs), then copied
    to the lower one. Lattice distances come from a table of J over the possible squared
    distances (bitwise the same values, no trigonometry per pair).
    Raises ValueError if two positions coincide (minimum image): J would be infinite.

    The matrix is allocated by numpy, which advises the kernel to back large arrays with
    2 MiB pages (madvise): numba's own allocation gets 4 KiB pages, whose first-touch faults
    cost as much as the pair loop at N = 4000 (measured: 0.15 vs 0.07 s; the sweeps that
    later stream J run at the same speed either way)."""
    n = pos.shape[0]
    J = aligned.zeros((n, n), dtype=np.float64)
    _rkky_dense_fill(J, pos, box, two_kf, J_scale, cutoff, damping)
    return J


@njit(cache=True, parallel=True)
def _rkky_dense_fill(J, pos, box, two_kf, J_scale, cutoff, damping):
    """rkky_dense's matrix into J (N, N) float64, zero on entry."""
    n = pos.shape[0]
    coincident = np.zeros(n, dtype=np.bool_)
    table = distance_table(box, two_kf, J_scale, cutoff, damping)
    for k in prange((n + 1) // 2):
        q = np.empty(n)
        _dense_upper_row(J, pos, box, k, two_kf, J_scale, cutoff, damping, table, coincident, q)
        if n - 1 - k != k:  # the middle row of an odd N is done once
            _dense_upper_row(J, pos, box, n - 1 - k, two_kf, J_scale, cutoff, damping, table,
                             coincident, q)
    if coincident.any():
        raise ValueError("two spins at zero (minimum-image) distance: RKKY coupling undefined")
    _mirror_upper(J)


@njit(cache=True, parallel=True)
def rkky_dense_rows(pos, box, two_kf, J_scale, cutoff, damping, table, r0, out):
    """Rows r0 … r0 + len(out) − 1 of :func:`rkky_dense`'s matrix into ``out`` (B, N)
    float64, bit for bit (the distance of (i, j) is bitwise that of (j, i)).
    ``table`` = distance_table(box, two_kf, J_scale, cutoff, damping).
    For building a matrix in another precision block by block, without an N×N float64
    copy (each pair is computed twice). Raises ValueError as rkky_dense does."""
    B, n = out.shape
    coincident = np.zeros(B, dtype=np.bool_)
    for b in prange(B):
        i = r0 + b
        q = np.empty(n)
        _quadruple_sq_distances(pos, box, i, 0, n, q)
        for j in range(n):
            if j == i:
                out[b, j] = 0.0
                continue
            v = _coupling_at(q[j], two_kf, J_scale, cutoff, damping, table)
            if v != v:
                coincident[b] = True
                v = 0.0
            out[b, j] = v
    if coincident.any():
        raise ValueError("two spins at zero (minimum-image) distance: RKKY coupling undefined")


@njit(cache=True)
def _cell_list(pos, box, cutoff):
    """Bin positions into a periodic grid of cells of side ≥ cutoff (counting sort).

    Returns ncell (3,) int64, cell_start (ncells+1,) int64, cell_atoms (N,) int64 with the
    atoms of cell c in cell_atoms[cell_start[c]:cell_start[c+1]], ascending."""
    n = pos.shape[0]
    # at most ~8N cells: more would only cost memory (fewer, larger cells stay correct)
    cap = max(1, int(2.0 * n ** (1.0 / 3.0)) + 1)
    ncell = np.empty(3, dtype=np.int64)
    for a in range(3):
        ncell[a] = min(max(1, int(math.floor(box[a] / cutoff))), cap)
    total = ncell[0] * ncell[1] * ncell[2]
    cell_of = np.empty(n, dtype=np.int64)
    counts = np.zeros(total + 1, dtype=np.int64)
    for i in range(n):
        c = 0
        for a in range(3):
            ca = int(math.floor(pos[i, a] / box[a] * ncell[a])) % ncell[a]  # wraps outside [0, box)
            c = c * ncell[a] + ca
        cell_of[i] = c
        counts[c + 1] += 1
    cell_start = np.cumsum(counts)
    fill = cell_start[:-1].copy()
    cell_atoms = np.empty(n, dtype=np.int64)
    for i in range(n):
        c = cell_of[i]
        cell_atoms[fill[c]] = i
        fill[c] += 1
    return ncell, cell_start, cell_atoms


@njit(cache=True)
def _neighbour_cells(pos_i, box, ncell, out):
    """Distinct cells adjacent (periodically) to the cell of pos_i, into out; returns count.

    With fewer than 3 cells along an axis, every cell of that axis is a neighbour."""
    nb = np.empty((3, 3), dtype=np.int64)
    m = np.empty(3, dtype=np.int64)
    for a in range(3):
        ca = int(math.floor(pos_i[a] / box[a] * ncell[a])) % ncell[a]
        if ncell[a] >= 3:
            nb[a, 0] = (ca - 1) % ncell[a]
            nb[a, 1] = ca
            nb[a, 2] = (ca + 1) % ncell[a]
            m[a] = 3
        else:
            for c in range(ncell[a]):
                nb[a, c] = c
            m[a] = ncell[a]
    count = 0
    for x in range(m[0]):
        for y in range(m[1]):
            for z in range(m[2]):
                out[count] = (nb[0, x] * ncell[1] + nb[1, y]) * ncell[2] + nb[2, z]
                count += 1
    return count


@njit(cache=True, parallel=True)
def rkky_csr(pos, box, two_kf, J_scale, cutoff, damping):
    """Sparse RKKY matrix in CSR form for a finite ``cutoff``: all pairs with r ≤ cutoff,
    both directions, columns ascending in each row.

    Returns (indptr (N+1,) int64, indices (nnz,) int32, data (nnz,) float64); the values
    are bitwise those of :func:`rkky_dense`.  Cost O(N · neighbours) via a cell list; each
    row is built by one thread (count pass, prefix sum, fill pass), so no races.
    Raises ValueError if two positions coincide."""
    n = pos.shape[0]
    ncell, cell_start, cell_atoms = _cell_list(pos, box, cutoff)
    counts = np.zeros(n, dtype=np.int64)
    coincident = np.zeros(n, dtype=np.bool_)
    for i in prange(n):
        cells = np.empty(27, dtype=np.int64)
        nc = _neighbour_cells(pos[i], box, ncell, cells)
        c_i = 0
        for q in range(nc):
            c = cells[q]
            for s in range(cell_start[c], cell_start[c + 1]):
                j = cell_atoms[s]
                if j == i:
                    continue
                r = min_image_distance(pos, i, j, box)
                if r == 0.0:
                    coincident[i] = True
                elif r <= cutoff:
                    c_i += 1
        counts[i] = c_i
    if coincident.any():
        raise ValueError("two spins at zero (minimum-image) distance: RKKY coupling undefined")
    indptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        indptr[i + 1] = indptr[i] + counts[i]
    indices = np.empty(indptr[n], dtype=np.int32)
    data = np.empty(indptr[n], dtype=np.float64)
    for i in prange(n):
        cells = np.empty(27, dtype=np.int64)
        nc = _neighbour_cells(pos[i], box, ncell, cells)
        p = indptr[i]
        for q in range(nc):
            c = cells[q]
            for s in range(cell_start[c], cell_start[c + 1]):
                j = cell_atoms[s]
                if j != i and min_image_distance(pos, i, j, box) <= cutoff:
                    indices[p] = j
                    p += 1
        row = np.sort(indices[indptr[i]:indptr[i + 1]])
        for p in range(indptr[i], indptr[i + 1]):
            j = row[p - indptr[i]]
            indices[p] = j
            data[p] = rkky_coupling(min_image_distance(pos, i, j, box), two_kf, J_scale, cutoff, damping)
    return indptr, indices, data
