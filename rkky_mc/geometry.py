"""Host lattices, impurity placement and the minimum image (plain Python + numpy).

Lengths are in host cubic lattice constants a; a periodic box of L cubic cells is the cube
[0, L)³.  Random choices take a ``numpy.random.Generator`` so that the disorder seed alone
fixes the sample.
"""
from __future__ import annotations

import math

import numpy as np

FCC_BASIS = np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])
FCC_NN_DISTANCE = 1.0 / math.sqrt(2.0)  # a/√2


def _cells(L: int) -> np.ndarray:
    """Integer corners of the L³ cubic cells, (L³, 3), x slowest, z fastest."""
    if int(L) != L or L < 1:
        raise ValueError(f"L must be a positive integer, got {L!r}")
    L = int(L)
    return np.indices((L, L, L)).reshape(3, -1).T.astype(np.float64)


def simple_cubic_sites(L: int) -> np.ndarray:
    """Sites of an L×L×L simple-cubic lattice, (L³, 3) float64; site (x, y, z) has index
    (x·L + y)·L + z."""
    return _cells(L)


def fcc_sites(L: int) -> np.ndarray:
    """Sites of the fcc lattice in an L×L×L box of cubic cells, (4L³, 3) float64.

    Site 4·c + b is corner c of :func:`simple_cubic_sites` plus basis vector b of
    (0,0,0), (0,½,½), (½,0,½), (½,½,0); all coordinates are multiples of ½ in [0, L)."""
    return (_cells(L)[:, None, :] + FCC_BASIS[None, :, :]).reshape(-1, 3)


def minimum_image(d, box):
    """Separation vectors d (..., 3) mapped to their shortest periodic image:
    each component into [−box/2, box/2] (ties broken by round-half-even, symmetric in ±d)."""
    d = np.asarray(d, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64)
    return d - box * np.rint(d / box)


def place_on_lattice(sites: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n distinct sites drawn uniformly from ``sites`` (V, 3); returned (n, 3) in the
    order of ``sites`` (sorted indices: neighbours in space stay near in memory)."""
    V = len(sites)
    if not 0 <= n <= V:
        raise ValueError(f"cannot place {n} impurities on {V} host sites")
    idx = np.sort(rng.choice(V, size=n, replace=False))
    return np.array(sites[idx], dtype=np.float64)


def _conflict(x, y, z, L, d2, members, nbx, nby, nbz, nc) -> bool:
    """True if a stored point lies closer than √d2 (minimum image) to (x, y, z)."""
    for cx in nbx:
        for cy in nby:
            base = (cx * nc + cy) * nc
            for cz in nbz:
                for (u, v, w) in members[base + cz]:
                    dx, dy, dz = x - u, y - v, z - w
                    dx -= L * round(dx / L)  # round half to even, like np.rint
                    dy -= L * round(dy / L)
                    dz -= L * round(dz / L)
                    if dx * dx + dy * dy + dz * dz < d2:
                        return True
    return False


def place_continuum(n: int, L: float, min_distance: float, rng: np.random.Generator,
                    max_tries: int = 20000) -> np.ndarray:
    """n uniform random points in the periodic cube [0, L)³, no two closer than
    ``min_distance`` (minimum image): random sequential addition with a cell list.

    Raises ValueError when a point cannot be placed within ``max_tries`` consecutive
    attempts (random sequential addition of hard spheres jams near a packing fraction of
    0.38, below the 0.5 the configuration accepts)."""
    n, L, d = int(n), float(L), float(min_distance)
    if n < 0 or not L > 0 or not d >= 0:
        raise ValueError(f"place_continuum: need n ≥ 0, L > 0, min_distance ≥ 0 (got {n}, {L}, {d})")
    if d == 0.0:
        return rng.random((n, 3)) * L
    # cells of side ≥ d, so a conflicting point lies in one of the 27 neighbouring cells;
    # no more cells than ~8 per point (a finer grid would only cost memory).  The loop is
    # plain Python on floats: the neighbourhoods hold few points, where numpy calls would
    # cost more than they save.
    nc = max(1, min(int(L // d), math.ceil(2.0 * max(n, 1) ** (1.0 / 3.0))))
    if nc >= 3:
        around = [[(c - 1) % nc, c, (c + 1) % nc] for c in range(nc)]
    else:  # fewer than 3 cells a side: every cell neighbours every other
        around = [list(range(nc)) for _ in range(nc)]
    members: list[list[tuple]] = [[] for _ in range(nc**3)]
    d2 = d * d
    scale = nc / L
    pts = np.empty((n, 3))
    batch = np.empty((0, 3))
    k_batch = 0
    for k in range(n):
        for attempt in range(max_tries + 1):
            if attempt == max_tries:
                phi = n * math.pi / 6.0 * d**3 / L**3
                raise ValueError(
                    f"could not place point {k + 1} of {n} with min_distance = {d:g} in a periodic "
                    f"box of side {L:g} after {max_tries} tries (packing fraction {phi:.3f}; random "
                    f"sequential addition jams near 0.38): lower min_distance or the concentration"
                )
            if k_batch == len(batch):  # draw candidates in blocks (fewer generator calls)
                batch, k_batch = (rng.random((1024, 3)) * L).tolist(), 0
            x, y, z = batch[k_batch]
            k_batch += 1
            cx, cy, cz = int(x * scale) % nc, int(y * scale) % nc, int(z * scale) % nc
            if _conflict(x, y, z, L, d2, members, around[cx], around[cy], around[cz], nc):
                continue
            pts[k] = (x, y, z)
            members[(cx * nc + cy) * nc + cz].append((x, y, z))
            break
    return pts
