"""Sherrington–Kirkpatrick (``sample.model = "sk"``): J_ij ~ N(0, 1/N) for every pair i < j,
drawn in row-major upper-triangle order; no positions."""
from __future__ import annotations

import math

import numpy as np

from .. import aligned
from ..config import SampleConfig
from ..couplings import store_dense


def build(cfg: SampleConfig, rng: np.random.Generator, base_dir) -> dict:
    n = cfg.N
    J = aligned.zeros((n, n))
    J[np.triu_indices(n, 1)] = rng.normal(0.0, 1.0 / math.sqrt(n), size=n * (n - 1) // 2)
    J += J.T  # exact mirror: x + 0
    dense, csr = store_dense(J, cfg.sparse)
    return dict(dense=dense, csr=csr, positions=None, box=None, scale={})
