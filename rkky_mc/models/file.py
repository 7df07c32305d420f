"""Couplings from a file (``sample.model = "file"``): any symmetric, finite, zero-diagonal N×N
matrix from a ``.npy``, or a ``.npz`` holding ``J`` and optionally ``D`` (N, N, 3),
``positions`` (N, 3) and ``box`` (3,) (interactions/sample_dm.py reads it)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import aligned
from ..config import ConfigError, SampleConfig
from ..couplings import FILE_SYMMETRY_RTOL, store_dense


def check_file_matrix(J, key: str, value) -> np.ndarray:
    """A coupling matrix read from a file, checked: the float64 working copy (symmetrised
    when only rounding-level asymmetric). ConfigError(key, value, ...) otherwise."""
    if not isinstance(J, np.ndarray) or J.dtype.kind not in "iuf":
        raise ConfigError(key, value, f"holds {getattr(J, 'dtype', type(J))} data; must be a real "
                          "(integer or float) N×N matrix")
    if J.ndim != 2 or J.shape[0] != J.shape[1]:
        raise ConfigError(key, value, f"holds an array of shape {J.shape}; must be a square N×N matrix")
    if J.shape[0] < 2:
        raise ConfigError(key, value, f"holds a {J.shape[0]}×{J.shape[0]} matrix; need N ≥ 2 spins")
    J = aligned.asarray(J, np.float64)  # the one working copy, on a cache line
    if not np.all(np.isfinite(J)):
        raise ConfigError(key, value, f"holds {np.count_nonzero(~np.isfinite(J))} non-finite entries; "
                          "all couplings must be finite")
    if np.any(np.diag(J) != 0.0):
        raise ConfigError(key, value, f"has a nonzero diagonal (max |J_ii| = {np.abs(np.diag(J)).max():g}); "
                          "self-couplings must be exactly 0")
    if not np.array_equal(J, J.T):
        asym = np.abs(J - J.T).max()
        jmax = np.abs(J).max()
        if asym > FILE_SYMMETRY_RTOL * jmax:
            raise ConfigError(key, value, f"is not symmetric (max |J − Jᵀ| = {asym:g}, max |J| = {jmax:g}); "
                              f"allowed: |J − Jᵀ| ≤ {FILE_SYMMETRY_RTOL:g}·max|J|")
        J = 0.5 * (J + J.T)  # rounding-level asymmetry: symmetrise (exact, since a+b = b+a)
    return J


def build(cfg: SampleConfig, rng: np.random.Generator, base_dir) -> dict:
    from ..interactions.sample_dm import read_npz

    key, value = "sample.path", cfg.path
    path = Path(base_dir) / cfg.path
    if not path.is_file():
        raise ConfigError(key, value, f"file not found (looked at {path}); must be a .npy file "
                          "holding a symmetric N×N coupling matrix (or a .npz with J)")
    if path.suffix == ".npz":
        parts = read_npz(path, cfg)
        J = parts.pop("J")
    else:
        parts = dict(positions=None, box=None, scale={})
        try:
            J = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
            raise ConfigError(key, value, f"not a readable .npy array ({type(exc).__name__}: {exc}); "
                              "must hold a symmetric N×N coupling matrix") from None
        J = check_file_matrix(J, key, value)
    dense, csr = store_dense(J, cfg.sparse)
    return dict(dense=dense, csr=csr, **parts)
