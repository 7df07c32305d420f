"""Chiral-glass observables: the triplets of a sample, their centroids, and estimators
(plain Python + numpy; the per-measurement kernels are in kernels/chirality.py).

Scalar chirality of a triplet row (j, i, k): κ = S_j·(S_i × S_k) (Kawamura's local
chirality; ⟨κ²⟩ = 2/9 for independent random unit vectors).

Triplets (``/sample/triplets``, (N_t, 3) int64, rows (j, i, k)):

* **EA simple cubic** (``ea_triplets(L)``): κ_i^μ = S_{i+μ}·(S_i × S_{i−μ}) for every site i
  and axis μ = x, y, z, row 3i + μ = (i+μ, i, i−μ): 3N triplets. Sites are indexed as in
  geometry.simple_cubic_sites and the EA builder of couplings.py: (x, y, z) ↔ (x·L + y)·L + z,
  periodic. For L ≥ 4 every row is a distinct set of three sites; L = 3 gives each line's
  three sites three times (kept once, first row) and L ≤ 2 has i+μ = i−μ (no triplet).
* **Models with positions** (rkky, continuum, a file with positions;
  ``nearest_neighbour_triplets``): each spin i with its two nearest other spins j (nearest)
  and k (second), by minimum-image distance with the lower index first on ties; a triplet
  whose set of three sites already appeared (in any order) is kept once, in the orientation
  of its first appearance (i ascending).
* **No triplets** (SK, a file without positions, N < 3): (0, 3); the chiral series are nan.

Centroids (for chiral_overlap_k2): R_i + [mi(R_j − R_i) + mi(R_k − R_i)]/3, wrapped into
the box (mi: minimum image); the phases are measure.kmin_phases of the centroids.
"""
from __future__ import annotations

import numpy as np

from .kernels.chirality import nearest_two
from .kernels.measure import kmin_phases

NO_TRIPLETS = np.zeros((0, 3), dtype=np.int64)


def dedupe_triplets(rows) -> np.ndarray:
    """Rows (j, i, k) with a repeated site dropped and each set of three sites kept once,
    at its first row, in that row's orientation. (M, 3) int64."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
    if len(rows) == 0:
        return NO_TRIPLETS.copy()
    srt = np.sort(rows, axis=1)
    proper = (srt[:, 0] != srt[:, 1]) & (srt[:, 1] != srt[:, 2])
    _, first = np.unique(srt[proper], axis=0, return_index=True)
    keep = np.flatnonzero(proper)[np.sort(first)]
    return np.ascontiguousarray(rows[keep])


def ea_triplets(L: int) -> np.ndarray:
    """Triplets (i+μ, i, i−μ) of the periodic L³ simple-cubic lattice, row 3i + μ
    (3L³ rows for L ≥ 4; see the module docstring for L ≤ 3)."""
    L = int(L)
    if L < 1:
        raise ValueError(f"ea_triplets: L = {L}; must be ≥ 1")
    x, y, z = np.indices((L, L, L)).reshape(3, -1)
    site = (x * L + y) * L + z
    rows = np.empty((L**3, 3, 3), dtype=np.int64)
    for mu in range(3):
        up = [x, y, z]
        dn = [x, y, z]
        up[mu] = (up[mu] + 1) % L
        dn[mu] = (dn[mu] - 1) % L
        rows[site, mu, 0] = (up[0] * L + up[1]) * L + up[2]
        rows[site, mu, 1] = site
        rows[site, mu, 2] = (dn[0] * L + dn[1]) * L + dn[2]
    return dedupe_triplets(rows.reshape(-1, 3))


def nearest_neighbour_triplets(positions, box) -> np.ndarray:
    """(j, i, k) for each spin i with its nearest (j) and second-nearest (k) other spin,
    deduplicated (module docstring). N < 3: no triplets."""
    pos = np.ascontiguousarray(positions, dtype=np.float64)
    n = len(pos)
    if n < 3:
        return NO_TRIPLETS.copy()
    nb = np.empty((n, 2), dtype=np.int64)
    nearest_two(pos, np.ascontiguousarray(box, dtype=np.float64), nb)
    rows = np.stack([nb[:, 0], np.arange(n), nb[:, 1]], axis=1)
    return dedupe_triplets(rows)


def sample_triplets(model: str, positions, box) -> np.ndarray:
    """The triplets of a sample: EA lattice rows for model "ea", nearest neighbours for any
    other model with positions, none without positions (SK, a file without positions)."""
    if positions is None or box is None or len(positions) < 3:
        return NO_TRIPLETS.copy()
    if model == "ea":
        L = round(float(np.asarray(box)[0]))
        if len(positions) != L**3:
            raise ValueError(f"sample_triplets: EA sample with {len(positions)} spins in a box "
                             f"of side {L}; must be L³")
        return ea_triplets(L)
    return nearest_neighbour_triplets(positions, box)


def triplet_centroids(triplets, positions, box) -> np.ndarray:
    """(N_t, 3) centroids R_i + [mi(R_j − R_i) + mi(R_k − R_i)]/3, wrapped into [0, box)."""
    tri = np.asarray(triplets, dtype=np.int64).reshape(-1, 3)
    pos = np.asarray(positions, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64)
    ri = pos[tri[:, 1]]

    def mi(d):
        return d - box * np.rint(d / box)

    c = ri + (mi(pos[tri[:, 0]] - ri) + mi(pos[tri[:, 2]] - ri)) / 3.0
    return np.mod(c, box)


def triplet_phases(triplets, positions, box):
    """(cosk, sink), each (3, N_t): the k_min phases of overlap_k2 at the triplet centroids
    (K = 0 arrays when there are no triplets or no positions)."""
    if positions is None or box is None or len(triplets) == 0:
        return np.zeros((0, len(triplets))), np.zeros((0, len(triplets)))
    c = triplet_centroids(triplets, positions, box)
    return kmin_phases(np.ascontiguousarray(c), np.ascontiguousarray(box, dtype=np.float64))


# --------------------------------------------------------------------------- estimators
def chiral_binder(q2, q4):
    """g_χ = ½ (3 − [⟨q_χ⁴⟩] / [⟨q_χ²⟩]²) from disorder averages (not clipped: it can be
    negative near the chiral-glass transition)."""
    q2 = np.asarray(q2, dtype=np.float64)
    return 0.5 * (3.0 - np.asarray(q4, dtype=np.float64) / (q2 * q2))


def chiral_susceptibility(q2, n_triplets, kappa2=None):
    """χ_CG = N_t [⟨q_χ²⟩]; with ``kappa2`` = [⟨κ²⟩] also the normalised χ_CG / [⟨κ²⟩]²
    (returns a pair then)."""
    chi = n_triplets * np.asarray(q2, dtype=np.float64)
    if kappa2 is None:
        return chi
    k2 = np.asarray(kappa2, dtype=np.float64)
    return chi, chi / (k2 * k2)
