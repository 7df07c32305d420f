"""kernels/ising.py and kernels/fields.py: Ising sweeps at the kernel level.

Statistical comparisons use a fixed seed and a tolerance of 4σ. σ is estimated by binning:
the walker-averaged time series of the observable is cut into 40 consecutive bins and σ is
the standard error of the bin means. Bins are ≥ 100 sweeps, far longer than the
autocorrelation time of these tiny systems (τ_int ≲ 3 sweeps for the parameters used; the
binned error was checked to plateau from bins of 100 sweeps up to 3000), so the bins are
independent. (With stronger couplings, e.g. β|J| ~ 2, a slow tunnelling mode appears and
300-sweep bins underestimate σ: hence the moderate couplings below.)
Each statistical test also checks that it can resolve a wrong answer (a 25 % error in β, or
the broken fixed-order visiting) by ≫ 4σ.
"""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rkky_mc.kernels.fields import ising_energies, local_fields_csr, local_fields_dense
from rkky_mc.kernels.ising import ising_sweep_csr, ising_sweep_dense
from rkky_mc.kernels.rng import seed_streams

REPO = Path(__file__).resolve().parents[1]
NSIGMA = 4.0
N_BINS = 40


# ---------------------------------------------------------------------------- helpers
def random_couplings(n, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, scale, size=(n, n)), 1)
    return J + J.T


def to_csr(J):
    """CSR of a dense symmetric matrix (indptr int64, indices int32, data), columns sorted."""
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
    """Mean and standard error from n_bins consecutive bins of the series x (axis 0)."""
    x = np.asarray(x, dtype=float)
    m = len(x) // n_bins * n_bins
    bins = x[:m].reshape(n_bins, -1).mean(axis=1)
    return bins.mean(), bins.std(ddof=1) / np.sqrt(n_bins)


class Ising:
    """A bundle of kernel arguments: dense or CSR couplings, W walkers."""

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
            spins = gen.choice([-1.0, 1.0], size=(self.W, self.N))
        self.spins = np.ascontiguousarray(spins, dtype=dtype)
        self.fields = np.empty_like(self.spins)
        self.fields_from_scratch(self.fields)
        self.rng = seed_streams(np.random.SeedSequence(seed), self.W)
        self.accepted = np.zeros(self.W, dtype=np.int64)
        self.site_gen = np.random.default_rng(seed + 1)

    def fields_from_scratch(self, out):
        if self.sparse:
            local_fields_csr(*self.csr, self.spins, self.H, out)
        else:
            local_fields_dense(self.J, self.spins, self.H, out)
        return out

    def sweep(self, heatbath, sites=None):
        if sites is None:  # random visiting order (needed for Metropolis)
            sites = self.site_gen.integers(0, self.N, size=self.N)
        if self.sparse:
            ising_sweep_csr(*self.csr, self.spins, self.fields, self.beta_w, sites, self.rng,
                            heatbath, self.accepted)
        else:
            ising_sweep_dense(self.J, self.spins, self.fields, self.beta_w, sites, self.rng,
                              heatbath, self.accepted)

    def energies(self):
        out = np.empty(self.W)
        ising_energies(self.spins, self.fields, self.H, out)
        return out


def exact_ising(J, H, beta):
    """Exact ⟨E⟩/N and ⟨m²⟩ by enumerating the 2^N states."""
    n = J.shape[0]
    s = np.array(list(itertools.product((-1.0, 1.0), repeat=n)))
    e = -0.5 * np.einsum("ai,ij,aj->a", s, J, s) - H * s.sum(axis=1)
    w = np.exp(-beta * (e - e.min()))
    p = w / w.sum()
    return float(p @ e) / n, float(p @ s.mean(axis=1) ** 2)


# ------------------------------------------------------------------- field bookkeeping
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("heatbath", [False, True], ids=["metropolis", "heatbath"])
def test_incremental_fields_match_scratch(sparse, heatbath):
    n = 40
    J = random_couplings(n, seed=3, scale=1.0 / np.sqrt(n))
    if sparse:
        J[np.abs(J) < 0.1] = 0.0  # a genuinely sparse pattern
    sim = Ising(J, H=0.3, betas=[0.2, 0.7, 1.5, 4.0, 10.0], seed=11, sparse=sparse)
    for _ in range(300):
        sim.sweep(heatbath)
    assert sim.accepted.min() > 0
    fresh = sim.fields_from_scratch(np.empty_like(sim.fields))
    assert np.max(np.abs(fresh - sim.fields)) < 1e-10
    assert np.all(np.abs(sim.spins) == 1.0)
    # energies: −Σ_{i<j} J s s − H Σ s, directly in numpy
    direct = (-0.5 * np.einsum("wi,ij,wj->w", sim.spins, J, sim.spins)
              - sim.H * sim.spins.sum(axis=1))
    assert np.allclose(sim.energies(), direct, rtol=0, atol=1e-10)


def test_dense_and_csr_fields_agree():
    n = 30
    J = random_couplings(n, seed=5)
    J[np.abs(J) < 0.8] = 0.0
    spins = np.random.default_rng(2).choice([-1.0, 1.0], size=(4, n))
    a = np.empty_like(spins)
    b = np.empty_like(spins)
    local_fields_dense(J, spins, -0.7, a)
    local_fields_csr(*to_csr(J), spins, -0.7, b)
    assert np.allclose(a, spins @ J - 0.7, rtol=0, atol=1e-12)
    assert np.allclose(b, a, rtol=0, atol=1e-12)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_float32(sparse):
    n = 40
    J = random_couplings(n, seed=4, scale=1.0 / np.sqrt(n))
    for heatbath in (False, True):
        sim = Ising(J, H=0.3, betas=[0.5, 2.0, 8.0], seed=2, sparse=sparse, dtype=np.float32)
        for _ in range(100):
            sim.sweep(heatbath)
        assert sim.spins.dtype == np.float32 and sim.fields.dtype == np.float32
        assert np.all(np.abs(sim.spins) == 1.0)
        fresh = sim.fields_from_scratch(np.empty_like(sim.fields))
        # each update adds a float32 rounding (~6e-8 |h|); a few thousand updates of |h| ~ 1
        # accumulate to ≲ 1e-5 as a random walk; 1e-4 leaves room, a real bug gives O(0.1)
        assert np.max(np.abs(fresh - sim.fields)) < 1e-4
        e32 = sim.energies()
        direct = (-0.5 * np.einsum("wi,ij,wj->w", sim.spins.astype(float), J,
                                   sim.spins.astype(float))
                  - sim.H * sim.spins.astype(float).sum(axis=1))
        assert np.allclose(e32, direct, rtol=0, atol=1e-3)


@pytest.mark.parametrize("heatbath", [False, True], ids=["metropolis", "heatbath"])
def test_accepted_counts_changed_spins(heatbath):
    n = 50
    J = random_couplings(n, seed=8, scale=1.0 / np.sqrt(n))
    sim = Ising(J, H=0.1, betas=[0.3, 1.0, 3.0], seed=4)
    for _ in range(5):
        before = sim.spins.copy()
        sim.accepted[:] = 0
        sim.sweep(heatbath, sites=np.arange(n))  # each site once: changes == flips
        assert np.array_equal(sim.accepted, (sim.spins != before).sum(axis=1))
        assert sim.accepted.sum() > 0


def test_frozen_at_huge_beta_and_field():
    # a strong field and β → ∞: spins align with it and Metropolis never goes uphill
    n = 10
    J = random_couplings(n, seed=1, scale=0.01)
    for heatbath in (False, True):
        sim = Ising(J, H=5.0, betas=[1e6, 1e6], seed=3)
        for _ in range(3):
            sim.sweep(heatbath)
        assert np.all(sim.spins == 1.0)
        sim.accepted[:] = 0
        sim.sweep(heatbath)
        assert sim.accepted.sum() == 0


# ------------------------------------------------------------------ exact enumeration
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("heatbath", [False, True], ids=["metropolis", "heatbath"])
def test_exact_enumeration(sparse, heatbath):
    n = 6
    J = random_couplings(n, seed=21, scale=0.6)
    if sparse:
        J[0, 3] = J[3, 0] = 0.0  # one missing bond
    H = 0.3
    betas = [0.4, 1.0, 1.6]
    per_beta = 16
    sim = Ising(J, H, np.repeat(betas, per_beta), seed=99, sparse=sparse)
    therm, sweeps = 200, 12000  # 40 bins of 300 sweeps
    e_series = np.empty((sweeps, len(betas)))
    m2_series = np.empty((sweeps, len(betas)))
    for t in range(therm + sweeps):
        # Metropolis needs random sites; heat bath uses the fixed order arange(N)
        sim.sweep(heatbath, sites=np.arange(n) if heatbath else None)
        if t >= therm:
            e = sim.energies().reshape(len(betas), per_beta) / n
            m2 = (sim.spins.mean(axis=1) ** 2).reshape(len(betas), per_beta)
            e_series[t - therm] = e.mean(axis=1)
            m2_series[t - therm] = m2.mean(axis=1)
    for k, beta in enumerate(betas):
        e_ex, m2_ex = exact_ising(J, H, beta)
        e_wrong, m2_wrong = exact_ising(J, H, 1.25 * beta)  # resolving power
        for name, series, exact, wrong in (("e", e_series, e_ex, e_wrong),
                                           ("m2", m2_series, m2_ex, m2_wrong)):
            mean, err = binned(series[:, k])
            assert abs(mean - exact) <= NSIGMA * err, (
                f"beta={beta} {name}: MC {mean:.5f} ± {err:.5f}, exact {exact:.5f}")
            if name == "e":  # the energy resolves a 25 % error in β by ≫ 4σ
                assert abs(wrong - exact) > 2 * NSIGMA * err, f"beta={beta}: no power"


# ------------------------------------------------------- dense update orders: same bits
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("heatbath", [False, True], ids=["metropolis", "heatbath"])
@pytest.mark.parametrize("n", [7, 40, 133])
def test_dense_update_orders_are_bitwise_the_same(dtype, heatbath, n):
    """The three orders of the dense update (site-outer one at a time, deferred batches,
    walker-outer) give exactly the same spins, fields, acceptance counts and random streams:
    batches that do not divide the visiting order, repeated sites within a batch, a field,
    strong and weak couplings."""
    from rkky_mc.kernels.ising import DEFERRED, SITE_OUTER, WALKER_OUTER

    J = random_couplings(n, seed=n, scale=1.5 / np.sqrt(n))
    betas = np.geomspace(0.2, 5.0, 6)
    runs = []
    # each order for all walkers, and one per walker (a changing mix, as the Simulation does)
    mixes = np.random.default_rng(7).integers(0, 3, size=(25, len(betas))).astype(np.uint8)
    assert set(np.unique(mixes)) == {SITE_OUTER, DEFERRED, WALKER_OUTER}
    for mode in (SITE_OUTER, DEFERRED, WALKER_OUTER, "mixed"):
        sim = Ising(J, 0.25, betas, seed=3, dtype=dtype)
        gen = np.random.default_rng(4)
        for t in range(25):
            sites = gen.integers(0, n, size=n + 5)  # with repeats, length ≠ multiple of 16
            ising_sweep_dense(sim.J, sim.spins, sim.fields, sim.beta_w, sites, sim.rng,
                              heatbath, sim.accepted, mixes[t] if mode == "mixed" else mode)
        runs.append(sim)
    one = runs[0]
    assert one.accepted.sum() > 0 and (one.accepted < 25 * (n + 5)).all()  # both kinds of move
    for other in runs[1:]:
        for name in ("spins", "fields", "rng", "accepted"):
            assert np.array_equal(getattr(one, name), getattr(other, name)), name


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("heatbath", [False, True], ids=["metropolis", "heatbath"])
def test_csr_sweep_is_bitwise_the_dense_sweep(dtype, heatbath):
    """CSR blocks run walker after walker with the stream in registers, dense blocks site
    after site: the same spins, acceptance counts and streams bit for bit, and the same
    field values (a dense update also adds c·0 for absent couplings: exact)."""
    n = 60
    J = random_couplings(n, seed=9, scale=1.5 / np.sqrt(n))
    J[np.abs(J) < 0.15] = 0.0
    betas = np.geomspace(0.2, 5.0, 7)
    dense = Ising(J, 0.25, betas, seed=6, dtype=dtype)
    csr = Ising(J, 0.25, betas, seed=6, dtype=dtype, sparse=True)
    csr.fields[...] = dense.fields  # from-scratch sums differ in order between the two
    gen = np.random.default_rng(5)
    for _ in range(30):
        sites = gen.integers(0, n, size=n + 3)
        dense.sweep(heatbath, sites)
        csr.sweep(heatbath, sites)
    assert 0 < dense.accepted.sum() < 30 * (n + 3) * len(betas)
    for name in ("spins", "rng", "accepted"):
        assert np.array_equal(getattr(dense, name), getattr(csr, name)), name
    assert (dense.fields == csr.fields).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_metropolis_sweep_is_bitwise_call_by_call(dtype):
    """ising_metropolis_sweep_csr (sites, sweeps of R ladders and energies in one call)
    equals random_sites + ising_sweep_csr per ladder + ising_energies, bit for bit."""
    from rkky_mc.kernels.ising import ising_metropolis_sweep_csr
    from rkky_mc.kernels.schedule import random_sites

    n, R, T = 50, 3, 4
    J = random_couplings(n, seed=12, scale=1.0 / np.sqrt(n))
    J[np.abs(J) < 0.1] = 0.0
    betas = np.tile(np.geomspace(0.3, 3.0, T), R)
    fused = Ising(J, -0.2, betas, seed=8, dtype=dtype, sparse=True)
    calls = Ising(J, -0.2, betas, seed=8, dtype=dtype, sparse=True)
    rng_sites = [seed_streams(9, R) for _ in range(2)]
    sites = np.zeros((R, n), dtype=np.int64)
    e_fused = np.zeros(R * T)
    for _ in range(20):
        ising_metropolis_sweep_csr(*fused.csr, fused.spins, fused.fields, fused.beta_w, sites,
                                   rng_sites[0], fused.rng, fused.accepted, fused.H, e_fused)
        for r in range(R):
            lad = slice(r * T, (r + 1) * T)
            s = np.empty(n, dtype=np.int64)
            random_sites(rng_sites[1], r, s)
            ising_sweep_csr(*calls.csr, calls.spins[lad], calls.fields[lad],
                            calls.beta_w[lad], s, calls.rng[lad], False, calls.accepted[lad])
            assert np.array_equal(sites[r], s)
        assert np.array_equal(e_fused, calls.energies())
    assert calls.accepted.min() > 0
    for name in ("spins", "fields", "rng", "accepted"):
        assert np.array_equal(getattr(fused, name), getattr(calls, name)), name
    assert np.array_equal(rng_sites[0], rng_sites[1])


def test_dense_mode_choice():
    """Per-walker order from the flips in the last sweep: walker-outer below one threshold,
    deferred from another, site-outer between (kising.choose_modes, boundaries included);
    the tables apply from their first N_min; Simulation.choose_dense_modes uses them."""
    from rkky_mc.config import from_dict
    from rkky_mc.couplings import build_sample
    from rkky_mc.kernels.ising import (
        DEFERRED,
        DEFERRED_MIN_ACCEPTANCE,
        SITE_OUTER,
        WALKER_OUTER,
        WALKER_OUTER_MAX_ACCEPTANCE,
        choose_modes,
        deferred_min_acceptance,
        walker_outer_max_acceptance,
    )
    from rkky_mc.simulation import Simulation

    for itemsize, steps in DEFERRED_MIN_ACCEPTANCE.items():
        n0, a0 = steps[0]
        assert deferred_min_acceptance(n0 - 1, itemsize) == np.inf
        assert deferred_min_acceptance(n0, itemsize) == a0
        for n1, a1 in WALKER_OUTER_MAX_ACCEPTANCE[itemsize]:
            assert walker_outer_max_acceptance(n1, itemsize) == a1
    assert deferred_min_acceptance(100_000, 8) == 0.0
    # the compiled choice: thresholds 30 (walker-outer below) and 60 flips (deferred from)
    seen = np.array([100, 100, 100, 100, 100, 100], dtype=np.int64)
    flips = seen + np.array([0, 29, 30, 59, 60, 90])
    mode = np.full(6, 7, dtype=np.uint8)
    choose_modes(flips, seen, mode, 60.0, 30.0)
    assert list(mode) == [WALKER_OUTER, WALKER_OUTER, SITE_OUTER, SITE_OUTER, DEFERRED, DEFERRED]
    assert np.array_equal(seen, flips)  # brought up to date
    # SK N = 1000 float64 (walker-outer below 0.2, deferred from 0.2): T = 0.2 walkers accept
    # ~1 %, T = 5 ones ~80 %
    cfg = from_dict({"sample": {"model": "sk", "N": 1000, "seed": 1},
                     "anneal": {"temperatures": [0.2, 5.0], "replicas": 2, "sweeps": 1,
                                "thermalization": 0, "seed": 3}})
    sim = Simulation(cfg, build_sample(cfg.sample))
    wo, defer = sim._walker_outer_below, sim._defer_from
    assert (wo, defer) == (walker_outer_max_acceptance(1000), deferred_min_acceptance(1000))
    assert (sim._dense_mode == SITE_OUTER).all()
    for _ in range(3):
        sim.sweep()
    flips0 = sim.flips.copy()
    sim.sweep()
    rate = (sim.flips - flips0) / sim.N
    expect = np.where(rate < wo, WALKER_OUTER, np.where(rate >= defer, DEFERRED, SITE_OUTER))
    assert set(expect) == {DEFERRED, WALKER_OUTER}, rate
    assert np.array_equal(sim._dense_mode, expect)


# -------------------------------------------------------------------- zero couplings
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("scheme", ["metropolis-random", "heatbath", "metropolis-fixed"])
def test_zero_couplings_decorrelate(sparse, scheme):
    """J = 0, H = 0: after sweeps ⟨(Σ_i s_i)²/N⟩ = 1 (independent free spins).

    Metropolis accepts every flip (ΔE = 0): with random sites each spin flips a Poisson(1)
    number of times per sweep and the chain mixes; with the fixed order arange(N) every spin
    flips exactly once per sweep and (Σ s)² never changes: the check must catch that.
    """
    n, W = 16, 8
    J = np.zeros((n, n))
    sim = Ising(J, 0.0, np.ones(W), seed=5, sparse=sparse, spins=np.ones((W, n)))  # all up
    heatbath = scheme == "heatbath"
    fixed = scheme != "metropolis-random"
    sweeps = 4000
    series = np.empty(sweeps)
    for t in range(sweeps):
        sim.sweep(heatbath, sites=np.arange(n) if fixed else None)
        series[t] = (sim.spins.sum(axis=1) ** 2 / n).mean()
    mean, err = binned(series)
    passes = abs(mean - 1.0) <= NSIGMA * err
    if scheme == "metropolis-fixed":
        assert not passes  # the non-ergodic order is detected ...
        assert mean == n and err == 0.0  # ... (Σ s)² stays N² for ever
    else:
        assert passes, f"{scheme}: {mean:.4f} ± {err:.4f}, expected 1"
        assert err < 0.05  # and the check has power: a frozen walker would give 16


# ------------------------------------------------------------ thread-count independence
THREAD_SCRIPT = r"""
import sys
import numpy as np
from rkky_mc.kernels.fields import (PARALLEL_MIN_WORK, local_fields_dense, local_fields3_dense,
                                    n_blocks)
from rkky_mc.kernels.ising import ising_sweep_dense
from rkky_mc.kernels.heisenberg import heisenberg_sweep_dense, heisenberg_overrelax_dense
from rkky_mc.kernels.rng import seed_streams

W, N = 5, 12  # 5 walkers: blocks of 2 + 3 with two threads
gen = np.random.default_rng(0)
J = np.triu(gen.normal(0, 0.5, (N, N)), 1); J = J + J.T
beta = np.linspace(0.3, 3.0, W)
# long visiting orders, so that each call is above the serial threshold (parallel path)
L = 2 * PARALLEL_MIN_WORK // W
out = {"n_blocks": np.array([n_blocks(W, L * W), n_blocks(W, PARALLEL_MIN_WORK - 1)])}
# Ising: Metropolis (random sites) and heat bath
s = gen.choice([-1.0, 1.0], (W, N)); f = np.empty_like(s); local_fields_dense(J, s, 0.2, f)
rng = seed_streams(1, W); acc = np.zeros(W, np.int64)
for t in range(30):
    ising_sweep_dense(J, s, f, beta, gen.integers(0, N, L), rng, t % 2 == 1, acc, t % 3 == 0)
out.update(ising_spins=s, ising_fields=f, ising_rng=rng, ising_acc=acc)
# Ising sparse, fused Metropolis sweep of R = 2 ladders (N·W above the serial threshold)
from rkky_mc.kernels.fields import ising_energies, local_fields_csr
from rkky_mc.kernels.ising import ising_metropolis_sweep_csr, ising_sweep_csr
Ns, Ws = 1000, 6
rows = np.repeat(np.arange(Ns), 6); cols = (rows + gen.integers(1, Ns, rows.size)) % Ns
Js = np.zeros((Ns, Ns)); Js[rows, cols] = gen.normal(0, 0.5, rows.size); Js = Js + Js.T
indptr = np.concatenate([[0], np.cumsum((Js != 0).sum(axis=1))]).astype(np.int64)
indices = np.nonzero(Js)[1].astype(np.int32); data = Js[Js != 0]
out["n_blocks"] = np.append(out["n_blocks"], n_blocks(Ws, Ns * Ws))
bs = np.tile(np.linspace(0.3, 3.0, Ws // 2), 2)
s = gen.choice([-1.0, 1.0], (Ws, Ns)); f = np.empty_like(s); local_fields_csr(indptr, indices, data, s, 0.1, f)
rng = seed_streams(3, Ws); rs = seed_streams(4, 2); acc = np.zeros(Ws, np.int64); e = np.zeros(Ws)
buf = np.zeros((2, Ns), np.int64)
for t in range(10):
    ising_metropolis_sweep_csr(indptr, indices, data, s, f, bs, buf, rs, rng, acc, 0.1, e)
for t in range(10):  # heat bath, whole walker range
    ising_sweep_csr(indptr, indices, data, s, f, bs, buf[0], rng, True, acc)
out.update(csr_spins=s, csr_fields=f, csr_rng=rng, csr_acc=acc, csr_e=e)
# Heisenberg sparse: Metropolis, heat bath, over-relaxation
from rkky_mc.kernels.fields import local_fields3_csr
from rkky_mc.kernels.heisenberg import heisenberg_sweep_csr, heisenberg_overrelax_csr
v = gen.normal(size=(3, Ws, Ns)); v /= np.linalg.norm(v, axis=0)
sx, sy, sz = [np.ascontiguousarray(c) for c in v]
hx, hy, hz = [np.empty_like(sx) for _ in range(3)]
local_fields3_csr(indptr, indices, data, sx, sy, sz, 0.2, hx, hy, hz)
rng = seed_streams(5, Ws); acc = np.zeros(Ws, np.int64)
for t in range(6):
    heisenberg_sweep_csr(indptr, indices, data, sx, sy, sz, hx, hy, hz, bs, buf[t % 2], rng,
                         t % 2 == 1, acc)
    heisenberg_overrelax_csr(indptr, indices, data, sx, sy, sz, hx, hy, hz, buf[0])
out.update(csr_sx=sx, csr_sy=sy, csr_sz=sz, csr_hx=hx, csr_hy=hy, csr_hz=hz, csr_heis_rng=rng,
           csr_heis_acc=acc)
# Heisenberg: Metropolis, heat bath, over-relaxation
v = gen.normal(size=(3, W, N)); v /= np.linalg.norm(v, axis=0)
sx, sy, sz = [np.ascontiguousarray(c) for c in v]
hx, hy, hz = [np.empty_like(sx) for _ in range(3)]
local_fields3_dense(J, sx, sy, sz, 0.2, hx, hy, hz)
rng = seed_streams(2, W); acc = np.zeros(W, np.int64)
sites = np.tile(np.arange(N), L // N + 1)
for t in range(30):
    heisenberg_sweep_dense(J, sx, sy, sz, hx, hy, hz, beta, sites, rng, t % 2 == 1, acc, t % 3 == 0)
    heisenberg_overrelax_dense(J, sx, sy, sz, hx, hy, hz, sites, t % 3 == 0)
out.update(sx=sx, sy=sy, sz=sz, hx=hx, hy=hy, hz=hz, heis_rng=rng, heis_acc=acc)
np.savez(sys.argv[1], **out)
"""


def run_thread_script(path, threads, cache_dir=None):
    env = dict(os.environ)
    env["NUMBA_NUM_THREADS"] = str(threads)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", THREAD_SCRIPT, str(path)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return dict(np.load(path))


def assert_same_walkers(a, b):
    for key, x in a.items():
        if key != "n_blocks":
            assert np.array_equal(x, b[key]), key


def test_thread_count_independence(tmp_path):
    """Walker results are bit-for-bit the same with 1 and 2 numba threads.

    numba's thread count is fixed at process start, hence one subprocess per count.
    """
    one = run_thread_script(tmp_path / "t1.npz", 1)
    two = run_thread_script(tmp_path / "t2.npz", 2)
    assert one["n_blocks"].tolist() == [1, 1, 1]
    assert two["n_blocks"].tolist() == [2, 1, 2]  # parallel path taken; small work is serial
    assert_same_walkers(one, two)
    assert one["ising_acc"].min() > 0 and one["heis_acc"].min() > 0
    assert one["csr_acc"].min() > 0


@pytest.mark.slow
def test_fresh_compile_matches_cached(tmp_path):
    """A freshly compiled process and one running numba's cached code agree bit for bit.

    (Value-changing fast-math flags broke this: rounding then depends on the inlining
    context, which differs between a fresh compile and cached code.) Slow: compiles.
    """
    fresh = run_thread_script(tmp_path / "fresh.npz", 2, cache_dir=tmp_path / "cache")
    cached = run_thread_script(tmp_path / "cached.npz", 2, cache_dir=tmp_path / "cache")
    assert_same_walkers(fresh, cached)
