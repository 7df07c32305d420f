"""kernels/heisenberg.py (+ fields.py): Heisenberg moves at the kernel level.

Statistical comparisons use fixed seeds and 4σ. σ of a Monte Carlo average is estimated by
binning: the walker-averaged time series is cut into 40 consecutive bins (≥ 100 calls each,
≫ the autocorrelation time of these one- and two-spin systems, τ ≲ a few sweeps) and σ is
the standard error of the bin means. Distributions of single draws are checked with a
Kolmogorov–Smirnov statistic against the analytic CDF; the critical value at significance
α = 1e-4 is the asymptotic Kolmogorov one, D_crit = sqrt(ln(2/α)/2)/sqrt(n) (≈ 4σ-like).
Each test also checks that it resolves a wrong answer (e.g. a 20–25 % error in β|h|).

Thread-count independence of the Heisenberg sweeps is tested (with Ising) in
test_kernels_ising.py::test_thread_count_independence.
"""
from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from scipy import stats

from rkky_mc.kernels.fields import heisenberg_energies, local_fields3_csr, local_fields3_dense
from rkky_mc.kernels.heisenberg import (
    cos_sin_turn,
    heatbath_direction,
    heisenberg_overrelax_csr,
    heisenberg_overrelax_dense,
    heisenberg_sweep_csr,
    heisenberg_sweep_dense,
    uniform_direction,
)
from rkky_mc.kernels.rng import seed_streams, uniform

NSIGMA = 4.0
N_BINS = 40
ALPHA = 1e-4
U_K1 = 0.313035285499  # coth(1) − 1: two spins, K = βJ = 1


# ---------------------------------------------------------------------------- helpers
def langevin(a):
    return 1.0 / np.tanh(a) - 1.0 / a


def random_couplings(n, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, scale, size=(n, n)), 1)
    return J + J.T


def to_csr(J):
    n = J.shape[0]
    indptr = np.zeros(n + 1, dtype=np.int64)
    indices, data = [], []
    for i in range(n):
        nz = np.flatnonzero(J[i])
        indices.extend(nz)
        data.extend(J[i, nz])
        indptr[i + 1] = len(indices)
    return indptr, np.array(indices, dtype=np.int32), np.array(data, dtype=J.dtype)


def binned(x, n_bins=N_BINS):
    x = np.asarray(x, dtype=float)
    m = len(x) // n_bins * n_bins
    bins = x[:m].reshape(n_bins, -1).mean(axis=1)
    return bins.mean(), bins.std(ddof=1) / np.sqrt(n_bins)


def ks_statistic(x, cdf):
    """Two-sided one-sample Kolmogorov–Smirnov D_n of the sample x against a CDF."""
    x = np.sort(np.asarray(x, dtype=float))
    n = len(x)
    f = cdf(x)
    i = np.arange(1, n + 1)
    return max(np.max(i / n - f), np.max(f - (i - 1) / n))


def ks_critical(n, alpha=ALPHA):
    return np.sqrt(np.log(2.0 / alpha) / 2.0) / np.sqrt(n)


def cos_cdf(a):
    """CDF of c = cos θ with density ∝ exp(a c) on [−1, 1]."""
    if a == 0:
        return lambda c: (np.asarray(c) + 1.0) / 2.0
    return lambda c: np.expm1(a * (np.asarray(c) + 1.0)) / np.expm1(2.0 * a)


def frame(n):
    """Orthonormal e1, e2 perpendicular to the unit vector n (independent of the kernel's)."""
    t = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(n, t)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(n, e1)


def random_unit(gen, shape=()):
    v = gen.normal(size=shape + (3,))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@njit(cache=True)
def _draw_heatbath(h, beta, rng, n):
    out = np.empty((n, 3))
    for m in range(n):
        u1 = uniform(rng, 0)
        u2 = uniform(rng, 0)
        out[m, 0], out[m, 1], out[m, 2] = heatbath_direction(h[0], h[1], h[2], beta, u1, u2)
    return out


@njit(cache=True)
def _draw_uniform_dir(rng, n):
    out = np.empty((n, 3))
    for m in range(n):
        u1 = uniform(rng, 0)
        u2 = uniform(rng, 0)
        out[m, 0], out[m, 1], out[m, 2] = uniform_direction(u1, u2)
    return out


class Heis:
    """Kernel arguments for W walkers: spins, fields, RNG, dense or CSR couplings."""

    def __init__(self, J, H, betas, seed, sparse=False, dtype=np.float64, spins=None):
        self.J = np.ascontiguousarray(J, dtype=dtype)
        self.N = J.shape[0]
        self.H = float(H)
        self.beta_w = np.asarray(betas, dtype=np.float64)
        self.W = len(self.beta_w)
        self.sparse = sparse
        self.csr = to_csr(self.J) if sparse else None
        gen = np.random.default_rng(seed)
        if spins is None:
            spins = random_unit(gen, (self.W, self.N))
        self.s = [np.ascontiguousarray(spins[..., c], dtype=dtype) for c in range(3)]
        self.h = [np.empty_like(self.s[0]) for _ in range(3)]
        self.fields_from_scratch(self.h)
        self.rng = seed_streams(np.random.SeedSequence(seed), self.W)
        self.accepted = np.zeros(self.W, dtype=np.int64)
        self.sites = np.arange(self.N, dtype=np.int64)

    def fields_from_scratch(self, out):
        if self.sparse:
            local_fields3_csr(*self.csr, *self.s, self.H, *out)
        else:
            local_fields3_dense(self.J, *self.s, self.H, *out)
        return out

    def sweep(self, heatbath, sites=None):
        sites = self.sites if sites is None else sites
        if self.sparse:
            heisenberg_sweep_csr(*self.csr, *self.s, *self.h, self.beta_w, sites, self.rng,
                                 heatbath, self.accepted)
        else:
            heisenberg_sweep_dense(self.J, *self.s, *self.h, self.beta_w, sites, self.rng,
                                   heatbath, self.accepted)

    def overrelax(self, sites=None):
        sites = self.sites if sites is None else sites
        if self.sparse:
            heisenberg_overrelax_csr(*self.csr, *self.s, *self.h, sites)
        else:
            heisenberg_overrelax_dense(self.J, *self.s, *self.h, sites)

    def step(self, scheme):
        """One sweep of a named scheme: metropolis | heatbath | heatbath+or | metropolis+or."""
        self.sweep(scheme.startswith("heatbath"))
        if scheme.endswith("+or"):
            self.overrelax()

    def spins(self):
        return np.stack([c.astype(float) for c in self.s], axis=-1)  # (W, N, 3)

    def energies(self, fields=None):
        out = np.empty(self.W)
        heisenberg_energies(*self.s, *(self.h if fields is None else fields), self.H, out)
        return out


SCHEMES = ["metropolis", "heatbath", "heatbath+or", "metropolis+or"]


# ------------------------------------------------------------ single-spin distributions
@pytest.mark.parametrize("a", [1e-9, 0.3, 5.0, 50.0])
def test_heatbath_direction_distribution(a):
    """cos θ about an arbitrary ĥ follows ∝ e^{a cos θ}; φ about ĥ is uniform; |S| = 1."""
    gen = np.random.default_rng(17)
    nhat = random_unit(gen)
    hmag = 1.7
    h = hmag * nhat
    n = 20000
    seed = {1e-9: 5, 0.3: 6, 5.0: 7, 50.0: 8}[a]
    s = _draw_heatbath(h, a / hmag, seed_streams(seed, 1), n)
    assert np.max(np.abs(np.linalg.norm(s, axis=1) - 1.0)) < 1e-14
    c = s @ nhat
    d = ks_statistic(c, cos_cdf(a))
    # our statistic is scipy's (check of the implementation), and below the critical value
    assert d == pytest.approx(stats.kstest(c, cos_cdf(a)).statistic, abs=1e-12)
    assert d < ks_critical(n), f"a={a}: D={d:.4f} > {ks_critical(n):.4f}"
    e1, e2 = frame(nhat)
    phi = np.mod(np.arctan2(s @ e2, s @ e1), 2 * np.pi)
    d_phi = ks_statistic(phi, lambda x: x / (2 * np.pi))
    assert d_phi < ks_critical(n), f"a={a}: phi D={d_phi:.4f}"
    # resolving power: a 20 % error in a (or a ≈ 0 instead of 0.3) would be rejected
    if a >= 0.3:
        wrong = cos_cdf(0.0) if a < 1 else cos_cdf(1.2 * a)
        assert ks_statistic(c, wrong) > 2 * ks_critical(n)


def test_heatbath_direction_precision_and_limits():
    """The inverse CDF is exact to rounding for all a, including a → 0 (no cancellation).

    With ĥ = ẑ the kernel's cos θ is z, t = 1 − z, and the analytic survival function
    G(t) = P(1 − cos θ > t) = expm1(−a t)/expm1(−2a) must give back v = 1 − u1. A naive
    ln(u + (1−u)e^{−2a})/a loses ~1e-7 at a = 1e-9; the tolerance 1e-12 catches that.
    """
    u1 = np.array([0.0, 1e-12, 0.1, 0.25, 0.5, 0.75, 0.9, 1 - 1e-9, 1 - 2.0**-53])
    for a in [1e-300, 1e-200, 1e-12, 1e-9, 1e-5, 0.3, 5.0, 50.0, 700.0, 1e5]:
        for hmag in (0.5, 3.0):
            for u in u1:
                x, y, z = heatbath_direction(0.0, 0.0, hmag, a / hmag, u, 0.3)
                assert np.isfinite([x, y, z]).all()
                assert abs(x * x + y * y + z * z - 1.0) < 1e-14
                v = 1.0 - u
                t = 1.0 - z
                g = np.expm1(-a * t) / np.expm1(-2.0 * a) if a > 1e-150 else t / 2.0
                tol = 1e-12 if a <= 50 else 1e-9  # large a: dG/dt ~ a amplifies z's rounding
                assert abs(g - v) <= tol, (a, u, g, v)
    # a → 0: uniform 2u − 1 to full precision
    for u in u1:
        assert heatbath_direction(0.0, 0.0, 1.0, 1e-12, u, 0.1)[2] == pytest.approx(
            2 * u - 1, abs=2e-12)
    # |h| = 0 and β = 0: uniform_direction, finite
    for u in u1:
        assert heatbath_direction(0.0, 0.0, 0.0, 3.0, u, 0.7) == uniform_direction(u, 0.7)
        assert heatbath_direction(0.2, -0.1, 0.4, 0.0, u, 0.7) == uniform_direction(u, 0.7)
    # the extreme draws: u1 = 0 is the antiparallel end, u1 → 1 the parallel one
    for a in (0.3, 50.0, 1e5):
        assert heatbath_direction(0.0, 0.0, 1.0, a, 0.0, 0.2)[2] == pytest.approx(-1.0, abs=1e-12)
    # an arbitrary ĥ: the draw with u1 → 1 at large a is ĥ itself
    nhat = np.array([0.36, -0.48, 0.8])
    s = np.array(heatbath_direction(*(2.5 * nhat), 400.0, 1 - 2.0**-53, 0.9))
    assert np.allclose(s, nhat, atol=1e-6)
    # negative ẑ (the other branch of the frame) behaves the same
    s = np.array(heatbath_direction(0.0, 0.0, -2.0, 200.0, 1 - 2.0**-53, 0.4))
    assert np.allclose(s, [0, 0, -1], atol=1e-6)


def test_cos_sin_turn_matches_libm():
    """cos_sin_turn(u) = (cos 2πu, sin 2πu): within 8e-16 of libm on 200 000 random u and the
    quarter-turn points (where it is exact: 0, ±1), unit norm within 5e-16. A polynomial or
    quadrant slip would be off by O(1e-3) or more."""
    @njit
    def table(u):
        c = np.empty_like(u)
        s = np.empty_like(u)
        for k in range(u.size):
            c[k], s[k] = cos_sin_turn(u[k])
        return c, s

    quarters = np.arange(8) / 8.0
    u = np.concatenate([np.random.default_rng(3).random(200_000), quarters,
                        [2.0**-53, 0.25 - 2.0**-54, 0.5 - 2.0**-53, 1.0 - 2.0**-53]])
    c, s = table(u)
    assert np.max(np.abs(c - np.cos(2 * np.pi * u))) < 8e-16
    assert np.max(np.abs(s - np.sin(2 * np.pi * u))) < 8e-16
    assert np.max(np.abs(c * c + s * s - 1.0)) < 5e-16
    cq, sq = table(np.arange(4) / 4.0)
    assert cq.tolist() == [1.0, 0.0, -1.0, 0.0] and sq.tolist() == [0.0, 1.0, 0.0, -1.0]


def test_uniform_direction():
    n = 20000
    s = _draw_uniform_dir(seed_streams(8, 1), n)
    assert np.max(np.abs(np.linalg.norm(s, axis=1) - 1.0)) < 1e-14
    assert ks_statistic(s[:, 2], cos_cdf(0.0)) < ks_critical(n)
    phi = np.mod(np.arctan2(s[:, 1], s[:, 0]), 2 * np.pi)
    assert ks_statistic(phi, lambda x: x / (2 * np.pi)) < ks_critical(n)
    # each component has mean 0 and variance 1/3 exactly: 4σ with σ = sqrt(1/3/n)
    assert np.all(np.abs(s.mean(axis=0)) < NSIGMA * np.sqrt(1 / 3 / n))


# ---------------------------------------------------------------- sweeps: free spin
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("heatbath", [False, True], ids=["metropolis", "heatbath"])
def test_free_spin_in_field_langevin(sparse, heatbath):
    """One spin in a frozen field h (arbitrary direction): ⟨S·ĥ⟩ = coth a − 1/a, a = β|h|.

    J = 0, so the kernel's row updates leave the fields we set by hand untouched.
    """
    a_values = [0.5, 2.0, 6.0]
    per_a = 32
    hmag = 1.5
    gen = np.random.default_rng(3)
    nhat = random_unit(gen)
    betas = np.repeat(np.array(a_values) / hmag, per_a)
    sim = Heis(np.zeros((1, 1)), 0.0, betas, seed=12, sparse=sparse)
    for c in range(3):
        sim.h[c][:] = hmag * nhat[c]
    sites = np.zeros(5, dtype=np.int64)  # five attempts per call
    calls = 4000  # 40 bins of 100 calls
    cos = np.empty((calls, len(a_values)))
    perp = np.empty((calls, len(a_values)))
    e1, _ = frame(nhat)
    for t in range(calls + 50):
        sim.sweep(heatbath, sites)
        if t >= 50:
            sp = sim.spins()[:, 0, :]
            cos[t - 50] = (sp @ nhat).reshape(len(a_values), per_a).mean(axis=1)
            perp[t - 50] = (sp @ e1).reshape(len(a_values), per_a).mean(axis=1)
    for k, a in enumerate(a_values):
        mean, err = binned(cos[:, k])
        assert abs(mean - langevin(a)) <= NSIGMA * err, f"a={a}: {mean:.4f} ± {err:.4f}"
        assert abs(langevin(1.25 * a) - langevin(a)) > 2 * NSIGMA * err  # power
        mean, err = binned(perp[:, k])
        assert abs(mean) <= NSIGMA * err, f"a={a}: perpendicular {mean:.4f} ± {err:.4f}"
    assert np.all(sim.h[2] == hmag * nhat[2])  # fields really frozen


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("scheme", ["metropolis", "heatbath", "heatbath+or"])
def test_two_spin_bond(sparse, scheme):
    """Two spins, bond J = 1, β = 1: ⟨S1·S2⟩ = coth K − 1/K = 0.313035285499."""
    J = np.array([[0.0, 1.0], [1.0, 0.0]])
    sim = Heis(J, 0.0, np.ones(64), seed=31, sparse=sparse)
    sweeps = 4000  # 40 bins of 100 sweeps
    series = np.empty(sweeps)
    for t in range(sweeps + 50):
        sim.step(scheme)
        if t >= 50:
            sp = sim.spins()
            series[t - 50] = np.einsum("wc,wc->w", sp[:, 0], sp[:, 1]).mean()
    mean, err = binned(series)
    assert abs(mean - U_K1) <= NSIGMA * err, f"{scheme}: {mean:.5f} ± {err:.5f}"
    assert abs(langevin(1.25) - U_K1) > 2 * NSIGMA * err  # power: a 25 % error in K


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("scheme", ["heatbath+or", "metropolis+or", "metropolis"])
def test_open_chain_bond_correlations(sparse, scheme):
    """Open 3-spin chain, bonds J01 = 1, J12 = −0.6, β = 1.5 (Fisher):
    ⟨S0·S1⟩ = u(βJ01), ⟨S1·S2⟩ = u(βJ12), ⟨S0·S2⟩ = their product, u(K) = coth K − 1/K.

    (Two spins cannot test over-relaxation: it conserves S1·S2 there. Here reflecting S1
    about its field moves weight between the two bonds at fixed energy, so a wrong
    reflection biases the individual bond correlations.)
    """
    j01, j12, beta = 1.0, -0.6, 1.5
    J = np.array([[0.0, j01, 0.0], [j01, 0.0, j12], [0.0, j12, 0.0]])
    sim = Heis(J, 0.0, np.full(64, beta), seed=41, sparse=sparse)
    sweeps = 4000  # 40 bins of 100 sweeps
    series = np.empty((sweeps, 3))
    for t in range(sweeps + 50):
        sim.step(scheme)
        if t >= 50:
            sp = sim.spins()
            series[t - 50] = [np.einsum("wc,wc->w", sp[:, a], sp[:, b]).mean()
                              for a, b in ((0, 1), (1, 2), (0, 2))]
    u01, u12 = langevin(beta * j01), langevin(beta * j12)
    for k, exact in enumerate((u01, u12, u01 * u12)):
        mean, err = binned(series[:, k])
        assert abs(mean - exact) <= NSIGMA * err, f"{scheme} pair {k}: {mean:.5f} ± {err:.5f}"
    # power: swapping the two bond strengths (an energy-conserving but wrong split)
    mean01, err01 = binned(series[:, 0])
    assert abs(langevin(beta * abs(j12)) - u01) > 2 * NSIGMA * err01


# ------------------------------------------------------------------- over-relaxation
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_overrelaxation_conserves_energy(sparse):
    n = 24
    J = random_couplings(n, seed=6, scale=1.0 / np.sqrt(n))
    if sparse:
        J[np.abs(J) < 0.15] = 0.0
    sim = Heis(J, 0.5, np.ones(3), seed=2, sparse=sparse)
    e0 = sim.energies(sim.fields_from_scratch([np.empty_like(sim.h[0]) for _ in range(3)]))
    s0 = sim.spins()
    for _ in range(20):
        sim.overrelax()
    e1 = sim.energies(sim.fields_from_scratch([np.empty_like(sim.h[0]) for _ in range(3)]))
    assert np.max(np.abs(e1 - e0)) < 1e-12, e1 - e0
    assert np.max(np.abs(sim.spins() - s0)) > 0.1  # it did move the spins
    fresh = sim.fields_from_scratch([np.empty_like(sim.h[0]) for _ in range(3)])
    assert max(np.max(np.abs(f - g)) for f, g in zip(fresh, sim.h)) < 1e-10
    assert np.max(np.abs(np.linalg.norm(sim.spins(), axis=-1) - 1.0)) < 1e-14


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_overrelaxation_involution_on_frozen_field(sparse):
    """With J = 0 the fields stay what we set: OR is a reflection, twice is the identity;
    sites with h = 0 are skipped (left exactly as they were)."""
    n, W = 50, 3
    gen = np.random.default_rng(4)
    sim = Heis(np.zeros((n, n)), 0.0, np.ones(W), seed=9, sparse=sparse)
    hfield = gen.normal(size=(W, n, 3))
    hfield[:, :5] = 0.0
    for c in range(3):
        sim.h[c][:] = hfield[..., c]
    s0 = sim.spins()
    sim.overrelax()
    s1 = sim.spins()
    assert np.array_equal(s1[:, :5], s0[:, :5])  # |h| = 0: skipped
    assert np.min(np.linalg.norm(s1[:, 5:] - s0[:, 5:], axis=-1)) > 1e-6
    # S·h conserved, |S'| = 1
    assert np.allclose(np.einsum("wic,wic->wi", s1, hfield),
                       np.einsum("wic,wic->wi", s0, hfield), rtol=0, atol=1e-13)
    assert np.max(np.abs(np.linalg.norm(s1, axis=-1) - 1.0)) < 1e-15 + 2.3e-16
    sim.overrelax()
    assert np.max(np.abs(sim.spins() - s0)) < 1e-14
    assert np.array_equal(sim.h[0], hfield[..., 0])


# ------------------------------------------------------------ bookkeeping, all schemes
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_incremental_fields_and_unit_length(sparse, scheme):
    n = 30
    J = random_couplings(n, seed=13, scale=1.0 / np.sqrt(n))
    if sparse:
        J[np.abs(J) < 0.1] = 0.0
    sim = Heis(J, 0.4, [0.3, 1.0, 3.0, 12.0], seed=7, sparse=sparse)
    for _ in range(150):
        sim.step(scheme)
    assert sim.accepted.min() > 0
    fresh = sim.fields_from_scratch([np.empty_like(sim.h[0]) for _ in range(3)])
    assert max(np.max(np.abs(f - g)) for f, g in zip(fresh, sim.h)) < 1e-10
    assert np.max(np.abs(np.linalg.norm(sim.spins(), axis=-1) - 1.0)) < 1e-13
    sp = sim.spins()
    direct = (-0.5 * np.einsum("wic,ij,wjc->w", sp, J, sp) - sim.H * sp[..., 2].sum(axis=1))
    assert np.allclose(sim.energies(), direct, rtol=0, atol=1e-10)


def test_accepted_counts():
    n = 20
    J = random_couplings(n, seed=1, scale=1.0 / np.sqrt(n))
    sim = Heis(J, 0.2, [0.5, 5.0, 50.0], seed=3)
    sim.sweep(True)  # heat bath: every visit moves the spin
    assert np.all(sim.accepted == n)
    sim.accepted[:] = 0
    before = sim.spins()
    sim.sweep(False)  # Metropolis: each site once, accepted = spins that moved
    moved = np.any(sim.spins() != before, axis=-1).sum(axis=1)
    assert np.array_equal(sim.accepted, moved)
    assert sim.accepted[0] > sim.accepted[2]  # hotter accepts more


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_float32(sparse):
    n = 30
    J = random_couplings(n, seed=13, scale=1.0 / np.sqrt(n))
    for scheme in ("metropolis", "heatbath+or"):
        sim = Heis(J, 0.4, [0.5, 3.0], seed=7, sparse=sparse, dtype=np.float32)
        for _ in range(60):
            sim.step(scheme)
        assert all(a.dtype == np.float32 for a in sim.s + sim.h)
        fresh = sim.fields_from_scratch([np.empty_like(sim.h[0]) for _ in range(3)])
        # float32 rounding (6e-8 per update) over ~2000 updates: ≲ 1e-5 as a random walk
        assert max(np.max(np.abs(f - g)) for f, g in zip(fresh, sim.h)) < 1e-4
        assert np.max(np.abs(np.linalg.norm(sim.spins(), axis=-1) - 1.0)) < 1e-6


# ---------------------------------------------------- deferred dense updates: same bits
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("scheme", ["metropolis", "heatbath", "heatbath+or"])
@pytest.mark.parametrize("n", [7, 40, 133])
def test_deferred_dense_updates_are_bitwise_one_at_a_time(dtype, scheme, n):
    """Deferred (batched) dense field updates give exactly the spins, fields, counts and
    random streams of the one-at-a-time update, for all three moves: batches that do not
    divide the visiting order, repeated sites within a batch, a field, weak and strong
    couplings (β up to 5)."""
    gen = np.random.default_rng(n)
    J = np.triu(gen.normal(0.0, 1.5 / np.sqrt(n), (n, n)), 1)
    J = J + J.T
    betas = np.geomspace(0.2, 5.0, 5)
    runs = []
    for batch in (0, 1):
        h = Heis(J, 0.3, betas, seed=5, dtype=dtype)
        order = np.random.default_rng(6)
        for _t in range(12):
            sites = order.integers(0, n, size=n + 5)  # repeats; length ≠ multiple of 16
            heisenberg_sweep_dense(h.J, *h.s, *h.h, h.beta_w, sites, h.rng,
                                   scheme.startswith("heatbath"), h.accepted, batch)
            if scheme.endswith("+or"):
                heisenberg_overrelax_dense(h.J, *h.s, *h.h, sites, batch)
        runs.append(h)
    one, deferred = runs
    assert one.accepted.sum() > 0
    for k in range(3):
        assert np.array_equal(one.s[k], deferred.s[k]), f"spin component {k}"
        assert np.array_equal(one.h[k], deferred.h[k]), f"field component {k}"
    assert np.array_equal(one.rng, deferred.rng) and np.array_equal(one.accepted, deferred.accepted)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_csr_sweeps_are_bitwise_the_dense_sweeps(dtype, scheme):
    """CSR blocks run walker after walker with the stream in registers, dense blocks site
    after site: the same spins, counts and streams bit for bit, and equal fields (a dense
    update also adds d·0 for absent couplings: exact)."""
    n = 45
    gen = np.random.default_rng(3)
    J = np.triu(gen.normal(0.0, 1.5 / np.sqrt(n), (n, n)), 1)
    J[np.abs(J) < 0.12] = 0.0
    J = J + J.T
    betas = np.geomspace(0.2, 5.0, 5)
    dense = Heis(J, 0.3, betas, seed=7, dtype=dtype)
    csr = Heis(J, 0.3, betas, seed=7, dtype=dtype, sparse=True)
    for k in range(3):
        csr.h[k][...] = dense.h[k]  # from-scratch sums differ in order between the two
    order = np.random.default_rng(8)
    for _ in range(12):
        sites = order.integers(0, n, size=n + 3)
        for h in (dense, csr):
            h.sweep(scheme.startswith("heatbath"), sites)
            if scheme.endswith("+or"):
                h.overrelax(sites)
    assert 0 < dense.accepted.sum()
    for k in range(3):
        assert np.array_equal(dense.s[k], csr.s[k]), f"spin component {k}"
        assert (dense.h[k] == csr.h[k]).all(), f"field component {k}"
    assert np.array_equal(dense.rng, csr.rng) and np.array_equal(dense.accepted, csr.accepted)


def test_deferred_mode_choice():
    from rkky_mc.kernels.heisenberg import DEFERRED_MIN_N, dense_batch_mode
    assert dense_batch_mode(DEFERRED_MIN_N - 1) == 0 and dense_batch_mode(DEFERRED_MIN_N) == 1


# -------------------------------------------------------------------- zero couplings
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("scheme", ["metropolis", "heatbath", "heatbath+or"])
def test_zero_couplings_decorrelate(sparse, scheme):
    """J = 0, H = 0, all spins start along ẑ: ⟨|Σ_i S_i|²/N⟩ = 1 after sweeps.

    (With J = 0 Metropolis accepts every uniform proposal and heat bath draws uniform
    directions; over-relaxation is skipped where h = 0.) A frozen walker would give N = 16.
    """
    n, W = 16, 8
    spins = np.zeros((W, n, 3))
    spins[..., 2] = 1.0
    sim = Heis(np.zeros((n, n)), 0.0, np.ones(W), seed=5, sparse=sparse, spins=spins)
    sweeps = 2000
    series = np.empty(sweeps)
    for t in range(sweeps):
        sim.step(scheme)
        m = sim.spins().sum(axis=1)
        series[t] = (np.einsum("wc,wc->w", m, m) / n).mean()
    mean, err = binned(series)
    assert abs(mean - 1.0) <= NSIGMA * err, f"{scheme}: {mean:.4f} ± {err:.4f}"
    assert err < 0.05
