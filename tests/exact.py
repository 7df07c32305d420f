"""Exact results to test against (see ../shared/PHYSICS.md).

Conventions: H = −Σ_{i<j} J_ij S_i·S_j − h Σ_i S_i^z, k_B = 1, unit spins.
"""
from __future__ import annotations

import itertools

import numpy as np
from scipy import special


def ising_states(n: int) -> np.ndarray:
    """All 2^n configurations as a (2^n, n) array of ±1."""
    return np.array(list(itertools.product((-1.0, 1.0), repeat=n)))


def ising_enumeration(J: np.ndarray, h: float, beta: float) -> dict:
    """Exact Boltzmann averages by enumerating 2^N states.

    Returns energy per spin e, ⟨m²⟩ (per spin), and for two independent replicas ⟨q²⟩, ⟨q⁴⟩.
    """
    n = J.shape[0]
    s = ising_states(n)
    energy = -0.5 * np.einsum("ai,ij,aj->a", s, J, s) - h * s.sum(axis=1)
    w = np.exp(-beta * (energy - energy.min()))
    p = w / w.sum()
    q = (s @ s.T) / n  # q_ab for every pair of states
    pq = p[:, None] * p[None, :]
    m = s.mean(axis=1)
    return {
        "e": float(p @ energy) / n,
        "m2": float(p @ m**2),
        "q2": float((pq * q**2).sum()),
        "q4": float((pq * q**4).sum()),
    }


def langevin(a):
    """⟨cos θ⟩ of a free unit 3-vector in a field, a = β h: coth a − 1/a."""
    a = np.asarray(a, dtype=float)
    return 1.0 / np.tanh(a) - 1.0 / a


def ising_chain_energy(bonds, beta) -> float:
    """Open Ising chain, any bonds: E = −Σ J_k tanh(β J_k) (total)."""
    bonds = np.asarray(bonds, float)
    return float(-(bonds * np.tanh(beta * bonds)).sum())


def heisenberg_chain_energy(bonds, beta) -> float:
    """Open classical Heisenberg chain (Fisher): E = −Σ J_k u(β J_k), u = coth K − 1/K."""
    bonds = np.asarray(bonds, float)
    return float(-(bonds * langevin(beta * bonds)).sum())


def chain_chi_sg(bonds, beta, heisenberg: bool) -> float:
    """χ_SG = (1/N) Σ_ij ⟨S_i·S_j⟩² for an open chain: products of squared bond factors."""
    bonds = np.asarray(bonds, float)
    u = langevin(beta * bonds) if heisenberg else np.tanh(beta * bonds)
    n = len(bonds) + 1
    total = 0.0
    for i in range(n):
        for j in range(n):
            lo, hi = min(i, j), max(i, j)
            total += float(np.prod(u[lo:hi] ** 2))
    return total / n


def ising_ring_energy(n: int, beta: float, J: float = 1.0) -> float:
    """Ising ring of n spins, uniform bond J: E = −∂ ln Z/∂β, Z = (2cosh K)^n + (2sinh K)^n."""
    K = beta * J
    c, s = np.cosh(K), np.sinh(K)
    z = (2 * c) ** n + (2 * s) ** n
    dz = n * 2 * s * (2 * c) ** (n - 1) + n * 2 * c * (2 * s) ** (n - 1)  # dZ/dK
    return float(-J * dz / z)


def heisenberg_ring_energy(n: int, beta: float, J: float = 1.0, lmax: int = 60) -> float:
    """Classical Heisenberg ring, uniform bond J: Z ∝ Σ_l (2l+1) i_l(K)^n."""
    K = beta * J
    ls = np.arange(lmax + 1)
    i_l = special.spherical_in(ls, K)
    di_l = special.spherical_in(ls, K, derivative=True)
    z = ((2 * ls + 1) * i_l**n).sum()
    dz = ((2 * ls + 1) * n * i_l ** (n - 1) * di_l).sum()
    return float(-J * dz / z)


def chain_matrix(bonds, ring: bool = False) -> np.ndarray:
    """Coupling matrix of a chain (or ring) with the given bonds J_k between k and k+1."""
    bonds = np.asarray(bonds, float)
    n = len(bonds) if ring else len(bonds) + 1
    J = np.zeros((n, n))
    for k, b in enumerate(bonds):
        i, j = k, (k + 1) % n
        J[i, j] += b
        J[j, i] += b
    return J


def binned_mean(series: np.ndarray, n_bins: int = 40):
    """Mean and standard error from ``n_bins`` consecutive bins along axis 0.

    ``series`` (M, ...) is first averaged over every axis but the first. The bins must be
    much longer than the autocorrelation time for the error to be honest.
    """
    x = np.asarray(series, dtype=float).reshape(len(series), -1).mean(axis=1)
    m = len(x) // n_bins * n_bins
    bins = x[:m].reshape(n_bins, -1).mean(axis=1)
    return float(bins.mean()), float(bins.std(ddof=1) / np.sqrt(n_bins))
