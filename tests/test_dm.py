"""Dzyaloshinskii–Moriya couplings: kernels/dm.py and interactions/dm.py.

H = − Σ_{i<j} [J_ij S_i·S_j + D_ij·(S_i × S_j)] − H Σ_i S_i^z, D_ji = −D_ij.

Statistical checks use fixed seeds and 4σ, σ from binning (tests/exact.binned_mean: the
walker-averaged series in 40 consecutive bins of ≥ 50 sweeps, ≫ the autocorrelation time of
these 2- and 20-spin systems at T ≥ 0.5 J, a few sweeps at most). Each statistical test also
shows that it would see the answer without D (the D term ≥ 8σ).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from exact import binned_mean
from scipy import integrate

from rkky_mc.interactions.dm import (
    DM_ANTISYMMETRY_RTOL,
    dm_generator,
    dm_scale,
    fert_levy_dm,
    place_scatterers,
    random_dm,
    validate_dm,
)
from rkky_mc.kernels.dm import (
    dm_components,
    dm_energies,
    dm_heisenberg_sweep_dense,
    dm_local_fields_dense,
    dm_overrelax_dense,
)
from rkky_mc.kernels.fields import local_fields3_dense
from rkky_mc.kernels.heisenberg import heisenberg_overrelax_dense, heisenberg_sweep_dense
from rkky_mc.kernels.rng import seed_streams

NSIGMA = 4.0


# ---------------------------------------------------------------------------- helpers
def random_unit(gen, shape=()):
    v = gen.normal(size=shape + (3,))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def random_instance(n, seed, dm_scale_=1.0):
    """Gaussian J (all pairs) and an antisymmetric Gaussian D (independent components)."""
    gen = np.random.default_rng(seed)
    J = np.triu(gen.normal(size=(n, n)), 1)
    J = J + J.T
    D = np.zeros((n, n, 3))
    iu, ju = np.triu_indices(n, 1)
    v = dm_scale_ * gen.normal(size=(len(iu), 3))
    D[iu, ju] = v
    D[ju, iu] = -v
    return J, D


def energy_reference(J, D, S, H):
    """Pure-Python H of one configuration S (N, 3): the definition, pair by pair."""
    n = len(S)
    e = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            e -= J[i, j] * (S[i] @ S[j]) + D[i, j] @ np.cross(S[i], S[j])
    return e - H * S[:, 2].sum()


class DM:
    """Kernel arguments for W walkers with dense J and D."""

    def __init__(self, J, D, H, betas, seed, spins=None, batch=0):
        self.J = np.ascontiguousarray(J, dtype=np.float64)
        self.D = dm_components(D)  # (3, N, N)
        self.batch = batch
        self.N = J.shape[0]
        self.H = float(H)
        self.beta_w = np.asarray(betas, dtype=np.float64)
        self.W = len(self.beta_w)
        gen = np.random.default_rng(seed)
        if spins is None:
            spins = random_unit(gen, (self.W, self.N))
        self.s = [np.ascontiguousarray(spins[..., c]) for c in range(3)]
        self.h = [np.empty_like(self.s[0]) for _ in range(3)]
        self.fields(self.h)
        self.rng = seed_streams(np.random.SeedSequence(seed), self.W)
        self.accepted = np.zeros(self.W, dtype=np.int64)
        self.sites = np.arange(self.N, dtype=np.int64)

    def fields(self, out):
        dm_local_fields_dense(self.J, self.D, *self.s, self.H, *out)
        return out

    def step(self, scheme):
        """metropolis | heatbath | heatbath+or | metropolis+or."""
        dm_heisenberg_sweep_dense(self.J, self.D, *self.s, *self.h, self.beta_w, self.sites,
                                  self.rng, scheme.startswith("heatbath"), self.accepted,
                                  self.batch)
        if scheme.endswith("+or"):
            dm_overrelax_dense(self.J, self.D, *self.s, *self.h, self.sites, self.batch)

    def spins(self):
        return np.stack(self.s, axis=-1)

    def energies(self):
        out = np.empty(self.W)
        dm_energies(*self.s, *self.h, self.H, out)
        return out

    def series(self, scheme, n_therm, n_meas):
        for _ in range(n_therm):
            self.step(scheme)
        e = np.empty((n_meas, self.W))
        for m in range(n_meas):
            self.step(scheme)
            e[m] = self.energies()
        return e


# ---------------------------------------------------------------- fields and energies
def test_fields_and_energy_match_the_hamiltonian():
    """h_i = −∂E/∂S_i of the pure-Python H (E is linear in S_i: exact differences), and
    dm_energies = H: fixes the sign of the DM field, S_j × D_ij."""
    n, H = 7, 0.3
    J, D = random_instance(n, 1)
    gen = np.random.default_rng(2)
    S = random_unit(gen, (2, n))
    st = DM(J, D, H, [1.0, 1.0], 3, spins=S)
    E = st.energies()
    for w in range(2):
        assert E[w] == pytest.approx(energy_reference(J, D, S[w], H), abs=1e-12)
        for i in range(n):
            for mu in range(3):
                A = S[w].copy()
                A[i] = 0.0
                B = A.copy()
                B[i, mu] = 1.0
                dE = energy_reference(J, D, B, H) - energy_reference(J, D, A, H)
                assert st.h[mu][w, i] == pytest.approx(-dE, abs=1e-12)
    # the J part is fields.local_fields3_dense's, bit for bit
    hJ = [np.empty((2, n)) for _ in range(3)]
    local_fields3_dense(J, *st.s, H, *hJ)
    st0 = DM(J, np.zeros_like(D), H, [1.0, 1.0], 3, spins=S)
    for c in range(3):
        assert np.array_equal(st0.h[c], hJ[c])


@pytest.mark.parametrize("batch", [0, 1])
@pytest.mark.parametrize("scheme", ["metropolis", "heatbath", "metropolis+or"])
def test_incremental_fields_match_from_scratch(scheme, batch):
    J, D = random_instance(37, 4)  # 37 sites: batches of 16 with a remainder
    st = DM(J, D, 0.2, [0.5, 1.0, 3.0, 10.0], 5, batch=batch)
    for _ in range(20):
        st.step(scheme)
    assert st.accepted.min() > 0
    fresh = st.fields([np.empty_like(c) for c in st.s])
    for c in range(3):
        np.testing.assert_allclose(st.h[c], fresh[c], rtol=0, atol=1e-12)
    # the spins stay unit vectors
    assert np.abs(np.linalg.norm(st.spins(), axis=-1) - 1.0).max() < 1e-14


def test_overrelaxation_conserves_energy():
    """Reflection about the DM field: |ΔE| ≤ 1e-12 per sweep (pure-Python energies)."""
    J, D = random_instance(20, 6)
    st = DM(J, D, 0.4, [1.0, 1.0, 1.0], 7)
    for _ in range(5):
        st.step("metropolis")
    S0 = st.spins().copy()
    E0 = [energy_reference(J, D, S0[w], 0.4) for w in range(st.W)]
    for k in range(10):
        dm_overrelax_dense(st.J, st.D, *st.s, *st.h, st.sites, k % 2)
    S1 = st.spins()
    assert np.abs(S1 - S0).max() > 0.1  # the spins did move
    for w in range(st.W):
        assert abs(energy_reference(J, D, S1[w], 0.4) - E0[w]) < 1e-12


@pytest.mark.parametrize("mode", ["metropolis", "heatbath", "overrelax"])
@pytest.mark.parametrize("batch", [0, 1])
def test_zero_dm_is_bit_identical_to_isotropic(mode, batch):
    """D ≡ 0: spins, fields, counters and streams equal heisenberg.py's dense sweeps (both
    batch modes, against the other DM mode) bit for bit: the same draws per visit in the
    same order."""
    n = 40
    J, _ = random_instance(n, 8)
    D = np.zeros((n, n, 3))
    betas = [0.3, 1.0, 4.0]
    a = DM(J, D, 0.1, betas, 9)
    b = DM(J, D, 0.1, betas, 9)
    sites = np.concatenate([np.arange(n), np.arange(n)[::-1]]).astype(np.int64)
    for _ in range(3):
        if mode == "overrelax":
            dm_overrelax_dense(a.J, a.D, *a.s, *a.h, sites, 1 - batch)
            heisenberg_overrelax_dense(b.J, *b.s, *b.h, sites, batch)
        else:
            hb = mode == "heatbath"
            dm_heisenberg_sweep_dense(a.J, a.D, *a.s, *a.h, a.beta_w, sites, a.rng, hb,
                                      a.accepted, 1 - batch)
            heisenberg_sweep_dense(b.J, *b.s, *b.h, b.beta_w, sites, b.rng, hb, b.accepted,
                                   batch)
    for c in range(3):
        assert np.array_equal(a.s[c], b.s[c])
        assert np.array_equal(a.h[c], b.h[c])
    assert np.array_equal(a.rng, b.rng)
    assert np.array_equal(a.accepted, b.accepted)
    if mode == "metropolis":
        assert 0 < a.accepted.min() < 6 * n  # some rejections: the accept test was exercised


@pytest.mark.parametrize("mode", ["metropolis", "heatbath", "overrelax"])
def test_deferred_updates_are_bit_identical(mode):
    """batch = 1 gives the bits of batch = 0 with D ≠ 0 (same terms, same order)."""
    n = 45
    J, D = random_instance(n, 13)
    a = DM(J, D, 0.1, [0.3, 1.0, 4.0], 14, batch=0)
    b = DM(J, D, 0.1, [0.3, 1.0, 4.0], 14, batch=1)
    for st in (a, b):
        for _ in range(3):
            if mode == "overrelax":
                dm_overrelax_dense(st.J, st.D, *st.s, *st.h, st.sites, st.batch)
            else:
                st.step(mode)
    for c in range(3):
        assert np.array_equal(a.s[c], b.s[c])
        assert np.array_equal(a.h[c], b.h[c])
    assert np.array_equal(a.rng, b.rng) and np.array_equal(a.accepted, b.accepted)


def test_heatbath_distribution_in_dm_field():
    """Heat-bath draws of S_0 with S_1 frozen: cos θ about h_0 = J S_1 + S_1 × D_01 follows
    ∝ e^{a cos θ}, a = β|h_0| (Kolmogorov–Smirnov at α = 1e-4, D_crit = √(ln(2/α)/2)/√n),
    and a 20 % error in a is rejected."""
    from scipy import stats

    gen = np.random.default_rng(17)
    J = 0.7
    Dv = 1.1 * random_unit(gen)
    Jm = np.array([[0.0, J], [J, 0.0]])
    D = np.zeros((2, 2, 3))
    D[0, 1] = Dv
    D[1, 0] = -Dv
    W, beta = 100, 1.5
    st = DM(Jm, D, 0.0, [beta] * W, 18)
    s1 = st.spins()[:, 1]
    h0 = J * s1 + np.cross(s1, Dv)
    np.testing.assert_allclose(np.stack([c[:, 0] for c in st.h], axis=-1), h0, atol=1e-14)
    site0 = np.zeros(1, dtype=np.int64)
    c = []
    for _ in range(200):
        dm_heisenberg_sweep_dense(st.J, st.D, *st.s, *st.h, st.beta_w, site0, st.rng, True,
                                  st.accepted)
        S0 = st.spins()[:, 0]
        c.append(np.einsum("wc,wc->w", S0, h0) / np.linalg.norm(h0, axis=1))
    c = np.concatenate([x[None] for x in c]).T  # (W, draws)
    a = beta * np.linalg.norm(h0, axis=1)
    # u = CDF_a(cos θ) is uniform for every walker's own a
    u = (np.expm1(a[:, None] * (c + 1.0)) / np.expm1(2.0 * a[:, None])).ravel()
    crit = math.sqrt(math.log(2 / 1e-4) / 2) / math.sqrt(u.size)
    assert stats.kstest(u, "uniform").statistic < crit
    u_bad = (np.expm1(0.8 * a[:, None] * (c + 1.0)) / np.expm1(1.6 * a[:, None])).ravel()
    assert stats.kstest(u_bad, "uniform").statistic > crit


def test_thread_count_independence():
    """Walker blocks in prange: the same bits with 1 and 2 threads (work ≥ PARALLEL_MIN_WORK)."""
    import numba

    n, W = 160, 32
    J, D = random_instance(n, 15)
    runs = []
    for nt in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
        numba.set_num_threads(nt)
        try:
            st = DM(J, D, 0.1, np.linspace(0.2, 3.0, W), 16, batch=1)
            for scheme in ("metropolis", "heatbath+or"):
                st.step(scheme)
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        runs.append(st)
    for c in range(3):
        assert np.array_equal(runs[0].s[c], runs[1].s[c])
        assert np.array_equal(runs[0].h[c], runs[1].h[c])


# ------------------------------------------------------------------------- two spins
def two_spin_energy(J, d, beta):
    """⟨E⟩ = −∂ ln Z/∂β, Z ∝ ∫₋₁¹ du sinh(βv)/(βv), v² = J² + d²(1 − u²) (PHYSICS.md).
    Written with e^{−βv_max} factored out (no overflow)."""
    vmax = math.sqrt(J * J + d * d)

    def v(u):
        return math.sqrt(J * J + d * d * (1.0 - u * u))

    def z(u):  # sinh(βv)/(βv) · e^{−βv_max}
        x = beta * v(u)
        return -math.expm1(-2.0 * x) / (2.0 * x) * math.exp(x - beta * vmax)

    def dz(u):  # ∂/∂β [sinh(βv)/(βv)] · e^{−βv_max} = (cosh x − sinh x / x)/β ·e^{−βv_max}
        x = beta * v(u)
        return ((1.0 + math.exp(-2.0 * x)) / 2.0 + math.expm1(-2.0 * x) / (2.0 * x)) \
            * math.exp(x - beta * vmax) / beta

    num = integrate.quad(dz, -1.0, 1.0, epsabs=0, epsrel=1e-12)[0]
    den = integrate.quad(z, -1.0, 1.0, epsabs=0, epsrel=1e-12)[0]
    return -num / den


def test_two_spin_formula_limits():
    """The integral gives the isotropic −J L(βJ) (L the Langevin function) at d = 0, and
    ⟨E⟩(J, d) = ⟨E⟩(−J, d) (it depends on J through J² only)."""
    K = 1.3
    assert two_spin_energy(1.0, 0.0, K) == pytest.approx(-(1 / math.tanh(K) - 1 / K), rel=1e-10)
    assert two_spin_energy(0.7, 0.5, 2.0) == pytest.approx(two_spin_energy(-0.7, 0.5, 2.0),
                                                           rel=1e-12)


@pytest.mark.parametrize("scheme", ["metropolis", "heatbath", "heatbath+or"])
@pytest.mark.parametrize("J, d, T", [(1.0, 0.6, 0.5), (-0.5, 1.2, 1.0), (0.3, 2.0, 2.0)])
def test_two_spins_energy(scheme, J, d, T):
    """⟨E⟩(T) of two spins with J and D (|D| = d, a random direction), h = 0."""
    gen = np.random.default_rng(11)
    Dv = d * random_unit(gen)
    Jm = np.array([[0.0, J], [J, 0.0]])
    D = np.zeros((2, 2, 3))
    D[0, 1] = Dv
    D[1, 0] = -Dv
    W = 64
    st = DM(Jm, D, 0.0, [1.0 / T] * W, 12)
    e = st.series(scheme, 200, 2000)
    mean, err = binned_mean(e)
    exact = two_spin_energy(J, d, 1.0 / T)
    assert abs(mean - exact) < NSIGMA * err, f"{mean:.5f} ± {err:.5f} vs {exact:.5f}"
    # the test sees D: without it the energy is −|J| L(β|J|), ≥ 8σ away
    assert abs(two_spin_energy(J, 0.0, 1.0 / T) - exact) > 2 * NSIGMA * err


# -------------------------------------------------------------- high-temperature series
def test_high_temperature_series():
    """e = −(β/N) Σ_{i<j} (3J_ij² + 2|D_ij|²)/9 + O(β²) on a random 20-spin instance.

    The O(β²) term (triangles) is removed by the odd part in β: a run of −H at β samples H
    at −β, so e_odd = [e_H(β) − e_{−H}(β)]/2 = −aβ + O(β³); the β³ term is ~ β² ≈ 0.2 % of
    the signal at β = 0.05, below σ (≈ 1 % of it)."""
    n, beta, W = 20, 0.05, 64
    gen = np.random.default_rng(21)
    J = np.triu(gen.normal(size=(n, n)), 1)
    J = J + J.T
    D = random_dm(J, 1.0, 22)  # |D_ij| = |J_ij|
    iu = np.triu_indices(n, 1)
    a = ((3 * J[iu] ** 2 + 2 * (D[iu] ** 2).sum(axis=1)) / 9).sum() / n
    runs = []
    for sign, seed in ((1.0, 23), (-1.0, 24)):
        st = DM(sign * J, sign * D, 0.0, [beta] * W, seed)
        runs.append(st.series("heatbath", 20, 4000) / n)
    mean_p, err_p = binned_mean(runs[0])
    mean_m, err_m = binned_mean(runs[1])
    odd = 0.5 * (mean_p + mean_m)  # e_{−H}(β) = −e_H(−β)
    err = 0.5 * math.hypot(err_p, err_m)
    assert abs(odd - (-a * beta)) < NSIGMA * err, f"{odd:.5f} ± {err:.5f} vs {-a * beta:.5f}"
    # the D term is resolved (the check fails with 3J²/9 alone)
    a_j = (3 * J[iu] ** 2 / 9).sum() / n
    assert abs(-a_j * beta - (-a * beta)) > 2 * NSIGMA * err


# ------------------------------------------------------------------------- random DM
def test_random_dm_structure():
    n = 30
    gen = np.random.default_rng(31)
    J = np.triu(gen.normal(size=(n, n)) * (gen.random((n, n)) < 0.5), 1)
    J = J + J.T
    D = random_dm(J, 0.3, 32)
    assert D.shape == (n, n, 3) and D.dtype == np.float64
    assert np.array_equal(D.transpose(1, 0, 2), -D)
    assert np.all(D[np.arange(n), np.arange(n)] == 0.0)
    np.testing.assert_allclose(np.linalg.norm(D, axis=2), 0.3 * np.abs(J), rtol=1e-15, atol=0)
    assert np.array_equal(random_dm(J, 0.3, 32), D)  # the seed fixes it
    assert not np.array_equal(random_dm(J, 0.3, 33), D)
    assert dm_scale(D, J) == pytest.approx(0.3, rel=1e-14)
    assert validate_dm(D, J) is not None
    # the same vectors from the Generator that an int seed stands for
    assert np.array_equal(random_dm(J, 0.3, dm_generator(32)), D)
    # λ = 0: exact +0.0 everywhere (no −0.0 that a digest would see)
    D0 = random_dm(J, 0.0, 32)
    assert not D0.any() and not np.signbit(D0).any()


def test_random_dm_isotropic():
    """d̂ uniform on the sphere: mean 0 (σ² = 1/(3n) per component), ⟨d_z²⟩ = 1/3
    (σ² = (1/5 − 1/9)/n), ⟨d_x d_y⟩ = 0 (σ² = 1/(15 n))."""
    n = 120
    J = np.ones((n, n)) - np.eye(n)
    d = random_dm(J, 1.0, 41)[np.triu_indices(n, 1)]
    m = len(d)
    assert np.all(np.abs(d.mean(axis=0)) < NSIGMA * math.sqrt(1 / (3 * m)))
    assert np.all(np.abs((d ** 2).mean(axis=0) - 1 / 3) < NSIGMA * math.sqrt(4 / 45 / m))
    assert abs((d[:, 0] * d[:, 1]).mean()) < NSIGMA * math.sqrt(1 / 15 / m)


def test_random_dm_bad_input():
    with pytest.raises(ValueError, match="strength"):
        random_dm(np.zeros((3, 3)), -1.0, 1)
    with pytest.raises(ValueError, match="square"):
        random_dm(np.zeros((3, 2)), 1.0, 1)


# ----------------------------------------------------------------------- Fert–Lévy DM
def fert_levy_reference(pos, box, scat, kf, V1, xi0, lam, rc):
    """The formula of interactions/dm.py, one triple at a time (pure Python)."""
    def mi(d):
        return d - box * np.rint(d / box)

    n = len(pos)
    D = np.zeros((n, n, 3))
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            rij = np.linalg.norm(mi(pos[j] - pos[i]))
            if rij > rc:
                continue
            for sl in scat:
                a = mi(pos[i] - sl)
                b = mi(pos[j] - sl)
                ra, rb = np.linalg.norm(a), np.linalg.norm(b)
                if ra > rc or rb > rc:
                    continue
                ah, bh = a / ra, b / rb
                D[i, j] += (V1 * math.sin(kf * (ra + rb + rij) + xi0) * (ah @ bh)
                            * np.cross(ah, bh) / (ra * rb * rij)
                            * math.exp(-(ra + rb + rij) / (2 * lam)))
    return D


@pytest.mark.parametrize("lam, rc", [(math.inf, math.inf), (2.0, 1.9), (1.5, 1.3)])
def test_fert_levy_against_reference(lam, rc):
    gen = np.random.default_rng(51)
    box = np.array([3.0, 2.5, 3.5])
    pos = gen.random((8, 3)) * box
    scat = gen.random((3, 3)) * box
    D = fert_levy_dm(pos, box, scat, 1.7, 0.8, 0.9, lam, rc)
    ref = fert_levy_reference(pos, box, scat, 1.7, 0.8, 0.9, lam, rc)
    assert np.abs(ref).max() > 0
    np.testing.assert_allclose(D, ref, rtol=0, atol=1e-13 * np.abs(ref).max())
    assert np.array_equal(D.transpose(1, 0, 2), -D)
    if math.isfinite(rc):  # the cutoff dropped something, but not everything
        full = fert_levy_reference(pos, box, scat, 1.7, 0.8, 0.9, lam, math.inf)
        assert np.count_nonzero(ref) < np.count_nonzero(full)
    validate_dm(D, np.zeros((8, 8)))


def test_fert_levy_bad_input():
    box = np.full(3, 3.0)
    pos = np.array([[0.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]])
    with pytest.raises(ValueError, match="sit on a spin"):
        fert_levy_dm(pos, box, pos[1:2] + box, 1.0, 1.0, 0.0)  # (a periodic image)
    with pytest.raises(ValueError, match="coincide"):
        fert_levy_dm(np.vstack([pos, pos[:1]]), box, [[1.5, 1.5, 1.5]], 1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="cutoff"):
        fert_levy_dm(pos, box, [[1.5, 1.5, 1.5]], 1.0, 1.0, 0.0, cutoff=0.0)


def test_place_scatterers_on_free_sites():
    from rkky_mc import geometry

    gen = np.random.default_rng(61)
    sites = geometry.fcc_sites(3)
    spins = geometry.place_on_lattice(sites, 40, gen)
    scat = place_scatterers(sites, spins, 30, gen)
    keys = {tuple(p) for p in spins}
    assert len({tuple(p) for p in scat}) == 30
    assert not keys & {tuple(p) for p in scat}
    with pytest.raises(ValueError, match="free host sites"):
        place_scatterers(sites, spins, len(sites) - 39, gen)


# -------------------------------------------------------------------------- validate
def test_validate_dm():
    n = 4
    J = np.zeros((n, n))
    D = np.zeros((n, n, 3))
    D[0, 2] = [1.0, -2.0, 0.5]
    D[2, 0] = -D[0, 2]
    assert np.array_equal(validate_dm(D, J), D)
    bad_shape = np.zeros((n, n, 2))
    with pytest.raises(ValueError, match=r"shape \(4, 4, 2\).*\(4, 4, 3\)"):
        validate_dm(bad_shape, J)
    nan = D.copy()
    nan[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match="1 non-finite"):
        validate_dm(nan, J)
    sym = D.copy()
    sym[2, 0] = D[0, 2]
    with pytest.raises(ValueError, match=r"not antisymmetric.*\(i, j\) = \((0, 2|2, 0)\)"):
        validate_dm(sym, J)
    diag = D.copy()
    diag[3, 3, 1] = 0.1
    with pytest.raises(ValueError, match="nonzero diagonal"):
        validate_dm(diag, J)
    with pytest.raises(ValueError, match="real"):
        validate_dm(D.astype(complex), J)
    # rounding-level asymmetry is accepted and removed
    near = D.copy()
    near[2, 0, 0] *= 1 + 0.1 * DM_ANTISYMMETRY_RTOL
    out = validate_dm(near, J)
    assert np.array_equal(out.transpose(1, 0, 2), -out)
    for bad in (bad_shape, nan, sym, diag):
        with pytest.raises(ValueError) as info:
            validate_dm(bad, J)
        assert "\n" not in str(info.value)
