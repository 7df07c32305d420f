"""Dilute RKKY impurities (``sample.model = "rkky"``): N = round(c·4L³) distinct random fcc
sites of an L³ host (or uniform in the continuum with a hard core), J(R) =
J_scale·f(2k_F R)·exp(−R/λ) for R ≤ R_c, minimum image; lengths in host lattice constants
a, couplings in J0. ``normalize = "nn"``: J_scale = J0/|f(2k_F a/√2)|, so that the undamped
nearest-neighbour coupling has |J| = J0."""
from __future__ import annotations

import math

import numpy as np

from .. import geometry
from ..config import ConfigError, SampleConfig
from ..couplings import CSR_MAX_FILL, LazyDense, csr_from_dense
from ..kernels.rkky import distance_table, rkky_coupling, rkky_csr, rkky_dense, rkky_dense_rows, rkky_f


def build(cfg: SampleConfig, rng: np.random.Generator, base_dir) -> dict:
    L = cfg.L
    box = np.full(3, float(L))
    n = round(cfg.concentration * 4 * L**3)
    if cfg.lattice == "fcc":
        positions = geometry.place_on_lattice(geometry.fcc_sites(L), n, rng)
    else:
        try:
            positions = geometry.place_continuum(n, L, cfg.min_distance, rng)
        except ValueError as exc:
            raise ConfigError("sample.min_distance", cfg.min_distance, str(exc)) from None

    two_kf = 2.0 * cfg.kf
    r_nn = geometry.FCC_NN_DISTANCE  # also the reference distance in the continuum
    if cfg.normalize == "nn":
        f_nn = abs(rkky_f(two_kf * r_nn))
        # at a zero of f the normalisation blows up; compare with the envelope 1/x³
        if not f_nn > 1e-9 / (two_kf * r_nn) ** 3:
            raise ConfigError("sample.kf", cfg.kf, f"puts 2·kf·a/√2 = {two_kf * r_nn:.10g} on a zero of "
                              "f(x): |J(R_nn)| cannot be normalised; use another kf or normalize = 'none'")
        J_scale = cfg.J0 / f_nn
    else:
        J_scale = cfg.J0
    cutoff, damping = float(cfg.cutoff), float(cfg.damping)

    sparse = cfg.sparse
    if sparse == "auto":
        fill = 4.0 / 3.0 * math.pi * cutoff**3 / L**3 if math.isfinite(cutoff) else math.inf
        sparse = "csr" if fill < CSR_MAX_FILL else "dense"
    if sparse == "csr" and math.isfinite(cutoff):
        dense, csr = None, rkky_csr(positions, box, two_kf, J_scale, cutoff, damping)
    elif sparse == "csr":  # explicit "csr" without a cutoff: every pair is a neighbour
        dense, csr = None, csr_from_dense(rkky_dense(positions, box, two_kf, J_scale, cutoff,
                                                     damping))
    else:
        args = (positions, box, two_kf, J_scale, cutoff, damping)
        table = distance_table(*args[1:])
        dense, csr = LazyDense(len(positions), lambda: rkky_dense(*args),
                               lambda r0, out: rkky_dense_rows(*args, table, r0, out)), None
    scale = {
        "j_nn": abs(rkky_coupling(r_nn, two_kf, J_scale, cutoff, damping)),
        "two_kf": two_kf,
        "J_scale": J_scale,
    }
    return dict(dense=dense, csr=csr, positions=positions, box=box, scale=scale)
