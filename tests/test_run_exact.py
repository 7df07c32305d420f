"""Exact results through the full `rkky-mc run` path (config -> sample -> engine -> HDF5).

Each comparison uses a fixed seed and a tolerance of 4 standard errors, the error estimated
by binning the time series into 40 consecutive bins (each bin ≥ 500 sweeps, far longer than
the autocorrelation times of these small, fast-decorrelating systems). The thermalization
rows (sweep < thermalization) are dropped.

float32 (`anneal.precision = "float32"`): the ladder-and-enumeration tests also run in single
precision against the same float64 exact values with the same 4σ tolerance. Rounding the
couplings to float32 changes them by ≤ 2⁻²⁴ ≈ 6e-8 relative, which shifts ⟨E⟩, ⟨q²⟩, ⟨q⁴⟩ by
O(N β max|J| · 6e-8) ≲ 1e-6 here; the incremental fields drift by ~1e-6 between the
scheduled recomputations (simulation.FIELD_REFRESH_SWEEPS); both are ≥ 100× below the
statistical errors (~1e-3), so float32 must pass the float64 test unchanged.
"""
from __future__ import annotations

import numpy as np
import pytest
from exact import (
    binned_mean,
    chain_chi_sg,
    chain_matrix,
    heisenberg_chain_energy,
    heisenberg_ring_energy,
    ising_enumeration,
    ising_ring_energy,
    langevin,
)

NSIGMA = 4.0
THERM = 500
PRECISIONS = ["float64", "float32"]


def measured(data, name):
    keep = data["timeseries/sweep"] >= THERM
    return data[f"timeseries/{name}"][keep]


def check(value, err, exact, label):
    # the floor 1e-12 only guards an exactly-zero error bar (deterministic observable)
    assert abs(value - exact) <= NSIGMA * max(err, 1e-12), (
        f"{label}: MC {value:.6f} ± {err:.6f}, exact {exact:.6f} ({(value - exact) / max(err, 1e-12):+.1f}σ)"
    )


def random_couplings(n, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, scale, size=(n, n)), 1)
    return J + J.T


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("update", ["metropolis", "heatbath"])
@pytest.mark.parametrize("field", [0.0, 0.4])
def test_ising_enumeration_random_couplings(run_rkky, update, field, precision):
    n = 8
    J = random_couplings(n, seed=11, scale=1.0 / np.sqrt(n))
    temps = [0.3, 0.6, 1.2, 2.4]
    data = run_rkky(
        {"spin": "ising", "field": field},
        {"temperatures": temps, "replicas": 3, "thermalization": THERM, "sweeps": 24000,
         "update": update, "seed": 5, "precision": precision},
        couplings=J,
    )
    assert np.allclose(data["temperatures"], temps)
    e, q = measured(data, "energy"), measured(data, "overlap")
    for t, T in enumerate(temps):
        ex = ising_enumeration(J, field, 1.0 / T)
        check(*binned_mean(e[:, t]), ex["e"], f"e(T={T})")
        check(*binned_mean(q[:, t] ** 2), ex["q2"], f"q2(T={T})")
        check(*binned_mean(q[:, t] ** 4), ex["q4"], f"q4(T={T})")


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("update", ["metropolis", "heatbath"])
def test_ising_enumeration_rkky_sample(run_rkky, update, precision):
    # 8 impurities on a 2×2×2 fcc box: a real RKKY sample, couplings read back from the file
    temps = [0.25, 0.5, 1.0, 2.0]
    data = run_rkky(
        {"model": "rkky", "spin": "ising", "L": 2, "concentration": 0.25, "seed": 3, "field": 0.2},
        {"temperatures": temps, "replicas": 2, "thermalization": THERM, "sweeps": 24000,
         "update": update, "seed": 9, "precision": precision},
        output={"store_couplings": True},
    )
    J = data["sample/couplings"]
    assert J.shape == (8, 8) and np.abs(J).max() > 0
    e, q = measured(data, "energy"), measured(data, "overlap")
    for t, T in enumerate(temps):
        ex = ising_enumeration(J, 0.2, 1.0 / T)
        check(*binned_mean(e[:, t]), ex["e"], f"e(T={T})")
        check(*binned_mean(q[:, t] ** 2), ex["q2"], f"q2(T={T})")
        check(*binned_mean(q[:, t] ** 4), ex["q4"], f"q4(T={T})")


@pytest.mark.parametrize("update", ["metropolis", "heatbath"])
def test_ising_ring(run_rkky, update):
    n = 10
    temps = [0.5, 1.0, 2.0]
    data = run_rkky(
        {"spin": "ising"},
        {"temperatures": temps, "replicas": 2, "thermalization": THERM, "sweeps": 20000,
         "update": update, "seed": 21},
        couplings=chain_matrix(np.ones(n), ring=True),
    )
    e = measured(data, "energy")
    for t, T in enumerate(temps):
        check(*binned_mean(e[:, t]), ising_ring_energy(n, 1.0 / T) / n, f"ring e(T={T})")


HEISENBERG_SCHEMES = [("metropolis", 0), ("heatbath", 0), ("heatbath", 2), ("metropolis", 1)]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("update,overrelaxation", HEISENBERG_SCHEMES)
def test_heisenberg_open_chain(run_rkky, update, overrelaxation, precision):
    bonds = np.array([1.0, -0.7, 1.4, 0.5, -1.2, 0.9, -0.3])  # any signs: gauge-equivalent to FM
    n = len(bonds) + 1
    temps = [0.25, 0.5, 1.0, 2.0]
    data = run_rkky(
        {"spin": "heisenberg"},
        {"temperatures": temps, "replicas": 2, "thermalization": THERM, "sweeps": 20000,
         "update": update, "overrelaxation": overrelaxation, "seed": 17, "precision": precision},
        couplings=chain_matrix(bonds),
    )
    e, q = measured(data, "energy"), measured(data, "overlap")  # q: (M, T, P, 3, 3)
    q2 = (q**2).sum(axis=(-2, -1))
    for t, T in enumerate(temps):
        beta = 1.0 / T
        check(*binned_mean(e[:, t]), heisenberg_chain_energy(bonds, beta) / n, f"e(T={T})")
        check(*binned_mean(n * q2[:, t]), chain_chi_sg(bonds, beta, heisenberg=True), f"chi_SG(T={T})")


def test_ising_open_chain_chi_sg(run_rkky):
    bonds = np.array([0.8, -1.1, 0.6, 1.3, -0.4, 1.0])
    n = len(bonds) + 1
    temps = [0.4, 0.8, 1.6]
    data = run_rkky(
        {"spin": "ising"},
        {"temperatures": temps, "replicas": 2, "thermalization": THERM, "sweeps": 20000,
         "update": "metropolis", "seed": 8},
        couplings=chain_matrix(bonds),
    )
    e, q = measured(data, "energy"), measured(data, "overlap")
    for t, T in enumerate(temps):
        from exact import ising_chain_energy

        check(*binned_mean(e[:, t]), ising_chain_energy(bonds, 1.0 / T) / n, f"e(T={T})")
        check(*binned_mean(n * q[:, t] ** 2), chain_chi_sg(bonds, 1.0 / T, heisenberg=False), f"chi(T={T})")


@pytest.mark.parametrize("update,overrelaxation", [("metropolis", 0), ("heatbath", 1)])
def test_heisenberg_ring(run_rkky, update, overrelaxation):
    n = 6
    temps = [0.3, 0.6, 1.2]
    data = run_rkky(
        {"spin": "heisenberg"},
        {"temperatures": temps, "replicas": 2, "thermalization": THERM, "sweeps": 20000,
         "update": update, "overrelaxation": overrelaxation, "seed": 4},
        couplings=chain_matrix(np.ones(n), ring=True),
    )
    e = measured(data, "energy")
    for t, T in enumerate(temps):
        check(*binned_mean(e[:, t]), heisenberg_ring_energy(n, 1.0 / T) / n, f"ring e(T={T})")


@pytest.mark.parametrize("spin,update,overrelaxation", [
    ("ising", "metropolis", 0), ("ising", "heatbath", 0),
    ("heisenberg", "metropolis", 0), ("heisenberg", "heatbath", 0), ("heisenberg", "heatbath", 1),
])
def test_zero_couplings_decorrelate(run_rkky, spin, update, overrelaxation):
    """All J = 0: χ_SG = N⟨q²⟩ = 1 and N⟨m²⟩ = 1 + (1/N)Σ_{i≠j}⟨S_i·S_j⟩ = 1 at every T.

    A fixed visiting order with ΔE = 0 always accepted would freeze q and fail this.
    """
    n = 12
    temps = [0.2, 1.0, 5.0]
    data = run_rkky(
        {"spin": spin},
        {"temperatures": temps, "replicas": 2, "thermalization": THERM, "sweeps": 12000,
         "update": update, "overrelaxation": overrelaxation, "seed": 31},
        couplings=np.zeros((n, n)),
    )
    q, m = measured(data, "overlap"), measured(data, "magnetization")
    q2 = q**2 if spin == "ising" else (q**2).sum(axis=(-2, -1))
    m2 = m**2 if spin == "ising" else (m**2).sum(axis=-1)
    for t, T in enumerate(temps):
        check(*binned_mean(n * q2[:, t]), 1.0, f"chi_SG(T={T})")
        check(*binned_mean(n * m2[:, t]), 1.0, f"N m^2(T={T})")
    assert np.all(measured(data, "energy") == 0.0)


@pytest.mark.parametrize("update", ["metropolis", "heatbath"])
def test_free_spins_in_field(run_rkky, update):
    """Heisenberg free spins in a field h along z: ⟨m_z⟩ = coth(βh) − 1/(βh); Ising tanh(βh)."""
    h = 0.8
    temps = [0.4, 1.0, 3.0]
    for spin in ("heisenberg", "ising"):
        data = run_rkky(
            {"spin": spin, "field": h},
            {"temperatures": temps, "replicas": 1, "thermalization": THERM, "sweeps": 12000,
             "update": update, "seed": 12},
            couplings=np.zeros((4, 4)),
        )
        m = measured(data, "magnetization")
        mz = m[..., 2] if spin == "heisenberg" else m
        for t, T in enumerate(temps):
            exact = langevin(h / T) if spin == "heisenberg" else np.tanh(h / T)
            check(*binned_mean(mz[:, t]), float(exact), f"{spin} m_z(T={T})")


def test_heisenberg_heatbath_draw_ks_through_run(run_rkky):
    """Two free spins in a field h, heat bath: every sweep redraws both spins exactly from
    p(cos θ) ∝ exp(a cos θ), a = h/T, so the recorded m_z = (c1 + c2)/2 are independent
    draws of a known law. Its density for s = c1 + c2 ∈ [−2, 2] is
    (a / 2 sinh a)² e^{a s} (2 − |s|). KS test at a fixed seed against the critical value
    of α = 1e-3 (1.949/√n)."""
    from scipy import integrate, stats

    for h, T in ((1.5, 0.75), (0.02, 2.0)):  # a = 2 and a = 0.01 (almost uniform)
        a = h / T
        data = run_rkky(
            {"spin": "heisenberg", "field": h},
            {"temperatures": [T], "replicas": 4, "thermalization": 10, "sweeps": 4000,
             "update": "heatbath", "seed": 77},
            couplings=np.zeros((2, 2)),
        )
        mz = measured(data, "magnetization")[..., 2].ravel()
        c = (a / (2 * np.sinh(a))) ** 2
        total = integrate.quad(lambda s: c * np.exp(a * s) * (2 - abs(s)), -2, 2)[0]
        assert abs(total - 1) < 1e-10  # the density is normalised

        def cdf(x):
            x = np.atleast_1d(x)
            return np.array([integrate.quad(lambda s: c * np.exp(a * s) * (2 - abs(s)), -2, 2 * v,
                                            points=[0.0] if v > 0 else None)[0] for v in x])

        grid = np.linspace(-1, 1, 2001)
        table = cdf(grid)
        d = stats.kstest(mz, lambda x: np.interp(x, grid, table)).statistic
        assert d < 1.949 / np.sqrt(mz.size), (a, d)
