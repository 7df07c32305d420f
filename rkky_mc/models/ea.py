"""Edwards–Anderson (``sample.model = "ea"``): simple-cubic L³, periodic, nearest-neighbour
bonds N(0, 1) (``distribution = "gaussian"``) or ±1, drawn per site for its +x, +y, +z
neighbour in that order; CSR unless ``sparse = "dense"``."""
from __future__ import annotations

import numpy as np

from .. import geometry
from ..config import SampleConfig
from ..couplings import csr_to_dense


def build(cfg: SampleConfig, rng: np.random.Generator, base_dir) -> dict:
    L = cfg.L
    n = L**3
    positions = geometry.simple_cubic_sites(L)
    xyz = positions.astype(np.int64)
    # bonds from every site to its +x, +y, +z neighbour: 3L³ bonds, drawn in that order
    if cfg.distribution == "gaussian":
        bonds = rng.standard_normal((3, n))
    else:
        bonds = 2.0 * rng.integers(0, 2, size=(3, n)) - 1.0
    site = np.arange(n)
    rows, cols, vals = [], [], []
    for a in range(3):
        nb = xyz.copy()
        nb[:, a] = (nb[:, a] + 1) % L
        j = (nb[:, 0] * L + nb[:, 1]) * L + nb[:, 2]
        rows += [site, j]
        cols += [j, site]
        vals += [bonds[a], bonds[a]]
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    # for L = 2 the +x and −x neighbours coincide: the two bonds add up (a+b = b+a exactly,
    # so the sum stays symmetric)
    key, inverse = np.unique(rows * n + cols, return_inverse=True)
    data = np.bincount(inverse, weights=vals)
    keep = data != 0.0  # a ±1 pair that cancelled is no bond
    key, data = key[keep], data[keep]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(key // n, minlength=n), out=indptr[1:])
    csr = (indptr, (key % n).astype(np.int32), data.astype(np.float64))
    if cfg.sparse == "dense":
        dense, csr = csr_to_dense(*csr, n), None
    else:
        dense = None
    return dict(dense=dense, csr=csr, positions=positions, box=np.full(3, float(L)), scale={})
