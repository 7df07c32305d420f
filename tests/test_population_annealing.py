"""Population annealing (anneal.method = "pa"): kernels on hand-made arrays, exact
enumeration and the high-temperature series, checkpoint/resume bits, thread counts, config,
memory, CLI."""
from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from click.testing import CliRunner
from exact import ising_states
from scipy.special import logsumexp

from rkky_mc import provenance
from rkky_mc.cli import main
from rkky_mc.config import ConfigError, from_dict
from rkky_mc.couplings import build_sample
from rkky_mc.drivers import DRIVERS
from rkky_mc.drivers import population_annealing as pam
from rkky_mc.io import BACKENDS, MemoryRecorder
from rkky_mc.kernels import population as kpop
from rkky_mc.resources import check_memory
from rkky_mc.simulation import prepare_resume, resume_run


def _cfg(sample: dict, **anneal):
    return from_dict({"sample": dict(sample), "anneal": dict({"method": "pa"}, **anneal)})


def _run(cfg, recorder=None, stop=None, threads=None):
    sample = build_sample(cfg.sample)
    recorder = recorder if recorder is not None else MemoryRecorder()
    pa = pam.start_run(cfg, sample, recorder, provenance.collect(), stop=stop, threads=threads)
    return pa, recorder, sample


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ---- kernels on hand-made arrays ---------------------------------------------------------
def test_family_statistics_identities():
    R = 12
    one_each = np.arange(R, dtype=np.int64)
    fam, rho_t, rho_s = kpop.family_statistics(one_each, R)
    assert fam == R and rho_t == pytest.approx(1.0, abs=1e-14) and rho_s == pytest.approx(1.0, abs=1e-14)
    one_family = np.full(R, 5, dtype=np.int64)
    fam, rho_t, rho_s = kpop.family_statistics(one_family, R)
    assert fam == 1 and rho_t == R and rho_s == pytest.approx(R, rel=1e-14)
    # n_f = (6, 3, 3): rho_t = (36 + 9 + 9) / 12; rho_s = 12 exp(Σ ν ln ν), ν = (1/2, 1/4, 1/4)
    mixed = np.array([0] * 6 + [4] * 3 + [9] * 3, dtype=np.int64)
    fam, rho_t, rho_s = kpop.family_statistics(mixed, R)
    nu = np.array([0.5, 0.25, 0.25])
    assert fam == 3 and rho_t == pytest.approx(54 / 12, rel=1e-14)
    assert rho_s == pytest.approx(12 * math.exp((nu * np.log(nu)).sum()), rel=1e-14)
    assert 1.0 <= rho_s <= rho_t <= R  # exp(−entropy) ≤ Σ ν² (Jensen)


def test_reweight_is_log_sum_exp_and_stable():
    rng = np.random.default_rng(1)
    E = rng.normal(size=50) * 3.0
    w = np.empty(50)
    for dbeta in (0.0, 0.3, 2.0):
        got = kpop.reweight(E, dbeta, w)
        assert got == pytest.approx(logsumexp(-dbeta * E) - math.log(50), abs=1e-13)
        assert w.max() == 1.0
    # energies of 10⁵ J0 (a large sample at low T): exp(−Δβ E) overflows, log-sum-exp does not
    big = E - 1e5
    got = kpop.reweight(big, 5.0, w)
    assert math.isfinite(got) and got == pytest.approx(logsumexp(-5.0 * big) - math.log(50), rel=1e-14)


def test_multinomial_resampling_expectation_and_determinism():
    R, reps = 40, 4000
    rng = np.random.default_rng(2)
    weights = rng.random(R) ** 3
    weights[[3, 17]] = 0.0
    p = weights / weights.sum()
    state = np.random.SeedSequence(7).generate_state(4, np.uint64).reshape(1, 4)
    parents = np.empty(R, np.int64)
    counts = np.zeros(R)
    first = None
    for _rep in range(reps):
        kpop.multinomial_parents(weights, state, np.int64(0), parents)
        assert np.all(np.diff(parents) >= 0)          # slot order kept: families contiguous
        assert not np.isin(parents, [3, 17]).any()     # weight 0 is never a parent
        counts += np.bincount(parents, minlength=R)
        if first is None:
            first = parents.copy()
    # E[n_k] = R p_k; the mean count over reps has σ = sqrt(R p (1 − p) / reps): 4σ
    sigma = np.sqrt(R * p * (1 - p) / reps)
    assert np.all(np.abs(counts / reps - R * p) <= 4 * sigma + 1e-12)
    again = np.random.SeedSequence(7).generate_state(4, np.uint64).reshape(1, 4)
    kpop.multinomial_parents(weights, again, np.int64(0), parents)
    assert _same(parents, first)                       # the same seed: the same draw


def test_slot_streams_are_derived_never_copied():
    key = np.random.SeedSequence(3).generate_state(4, np.uint64)
    a = np.zeros((64, 4), np.uint64)
    kpop.derive_streams(key, np.int64(5), np.int64(0), a)
    b = a.copy()
    kpop.derive_streams(key, np.int64(5), np.int64(0), b)
    assert _same(a, b)
    others = [a]
    for step, tag in ((6, 0), (5, 1), (0, 0)):
        c = np.zeros((64, 4), np.uint64)
        kpop.derive_streams(key, np.int64(step), np.int64(tag), c)
        others.append(c)
    rows = np.concatenate(others)
    assert len({r.tobytes() for r in rows}) == rows.shape[0]  # all 256 states distinct


def test_pairs_come_from_different_families():
    family = np.array([0, 0, 0, 2, 2, 7, 9, 9, 9, 9], dtype=np.int64)
    state = np.random.SeedSequence(4).generate_state(4, np.uint64).reshape(1, 4)
    pa, pb = np.zeros(500, np.int64), np.zeros(500, np.int64)
    assert kpop.draw_pairs(family, state, np.int64(0), pa, pb)
    assert np.all(family[pa] != family[pb])
    assert set(pa) == set(range(10)) and set(pb) == set(range(10))
    before = state.copy()
    assert not kpop.draw_pairs(np.full(10, 3, np.int64), state, np.int64(0), pa, pb)
    assert _same(state, before)  # nothing drawn when one family holds all


# ---- exact enumeration -------------------------------------------------------------------
TEMPS = [0.25, 0.35, 0.5, 0.7, 1.0, 1.5, 2.5, 4.0]


def _exact(J, temps):
    """(f, e, ⟨q²⟩) per temperature by enumerating the 2^N states."""
    s = ising_states(J.shape[0])
    n = J.shape[0]
    E = -0.5 * np.einsum("ai,ij,aj->a", s, J, s)
    q2 = ((s @ s.T) / n) ** 2
    out = []
    for T in temps:
        lz = logsumexp(-E / T)
        p = np.exp(-E / T - lz)
        out.append((-T * lz / n, p @ E / n, p @ q2 @ p))
    return np.array(out)


@pytest.mark.parametrize("sample", [{"model": "sk", "N": 10, "seed": 3},
                                    # fcc L = 2, c = 0.35: N = 11 RKKY spins (nn-normalised)
                                    {"model": "rkky", "L": 2, "concentration": 0.35, "seed": 4}],
                         ids=["sk", "rkky"])
def test_free_energy_energy_and_q2_agree_with_enumeration(sample):
    runs = []
    for seed in range(1, 17):
        cfg = _cfg(sample, population=400, sweeps_per_temperature=4, temperatures=TEMPS, seed=seed)
        _, rec, smp = _run(cfg)
        g = rec.read().groups["pa"]
        assert _same(g["temperatures"], np.array(TEMPS))
        runs.append(np.stack([g["free_energy"], g["energy"], g["q2"], g["entropy"]], axis=1))
    runs = np.array(runs)  # (seeds, T, 4)
    exact = _exact(np.asarray(smp.dense, dtype=np.float64), TEMPS)
    exact = np.concatenate([exact, (exact[:, 1] - exact[:, 0])[:, None] / np.array(TEMPS)[:, None]], axis=1)
    mean = runs.mean(axis=0)
    err = runs.std(axis=0, ddof=1) / math.sqrt(runs.shape[0])
    # 4σ of the mean of 16 independent runs (σ from their spread: f ~ 1e-3 … 4e-3, e ~ 4e-4
    # … 4e-3, q² ~ 3e-3 … 1e-2). 16 runs, not 8: σ estimated from n runs makes the deviation
    # Student-t with n − 1 degrees of freedom, and of 32 numbers one lies beyond 4σ with
    # probability ~15 % at n = 8 (an RKKY energy did), ~3 % at n = 16. No bias at this size:
    # 32 seeds at (R_p, N_S) = (400, 4), (400, 20), (1600, 4) all agree with the exact e
    # within 2.3σ, so neither the O(1/R_p) bias of ln(mean weight) nor too few sweeps show.
    assert np.all(np.abs(mean - exact) <= 4 * err), np.round((mean - exact) / err, 2).tolist()


@pytest.mark.parametrize("spin", ["ising", "heisenberg"])
def test_high_temperature_series(spin):
    """βf = −ln 2 − (β²/2N) Σ_{i<j} J_ij² (Ising), −ln 4π − (β²/2N) Σ_{i<j} 3J_ij²/9
    (Heisenberg, no DM) + O(β³), on SK N = 32 at T = 40 … 5 (β ≤ 0.2)."""
    temps = [5.0, 7.0, 10.0, 20.0, 40.0]
    N = 32
    runs = []
    for seed in range(1, 13):
        cfg = _cfg({"model": "sk", "N": N, "seed": 8, "spin": spin}, population=1000,
                   sweeps_per_temperature=2, temperatures=temps, seed=seed, link_overlap=False)
        _, rec, smp = _run(cfg)
        g = rec.read().groups["pa"]
        runs.append(g["free_energy"] / g["temperatures"])  # βf
    runs = np.array(runs)
    J = np.asarray(smp.dense, dtype=np.float64)
    k2 = (np.triu(J, 1) ** 2).sum()
    heis = spin == "heisenberg"
    beta = 1.0 / np.array(temps)
    series = -math.log(4 * math.pi if heis else 2.0) - beta**2 / (2 * N) * (3.0 / 9.0 if heis else 1.0) * k2
    # the O(β³) term the series leaves out: the triangles, β³ Σ_{i<j<k} J_ij J_jk J_ki / N
    # (× 1/9 for Heisenberg, ⟨(S_i·S_j)(S_j·S_k)(S_k·S_i)⟩ = 1/9): 2e-5 at β = 0.2 here;
    # O(β⁴) ≲ 1e-5
    rest = np.abs(beta**3 * np.einsum("ij,jk,ki->", J, J, J) / 6 / N) + 1e-5
    err = runs.std(axis=0, ddof=1) / math.sqrt(runs.shape[0])
    # 4σ of the mean of 12 runs (σ ≈ Δβ σ_E / sqrt(R_p) / N per step, accumulated: 3e-5 …
    # 1e-4 Ising, 1.5e-5 … 6e-5 Heisenberg; seen: |z| ≤ 2.8, and ≤ 1.7 for 24 other seeds)
    dev = runs.mean(axis=0) - series
    assert np.all(np.abs(dev) <= 4 * err + rest), np.round(dev / err, 2).tolist()
    # and the β² term is resolved: the data exclude the β = 0 value (by ~50σ at T = 5)
    assert abs(runs.mean(axis=0)[0] + math.log(4 * math.pi if heis else 2.0)) > 20 * err[0]


# ---- checkpoints, resume, threads --------------------------------------------------------
class _StopAfter:
    """stop(): True at its n-th call; chunks of at most ``chunk`` sweeps."""

    def __init__(self, n, chunk):
        self.n, self.calls, self.max_chunk_sweeps = n, 0, chunk

    def __call__(self):
        self.calls += 1
        return self.calls >= self.n


RESUME_CASES = {
    "ising-dense-metropolis": ({"model": "sk", "N": 9, "seed": 2}, {}),
    "heisenberg-csr-heatbath": ({"model": "ea", "L": 2, "spin": "heisenberg", "seed": 5},
                                {"update": "heatbath", "overrelaxation": 1}),
    "ising-csr-float32": ({"model": "ea", "L": 3, "seed": 5}, {"precision": "float32"}),
    "ising-dense-heatbath": ({"model": "sk", "N": 9, "seed": 2}, {"update": "heatbath"}),
    "heisenberg-dense-metropolis": ({"model": "sk", "N": 9, "seed": 2, "spin": "heisenberg"},
                                    {"overrelaxation": 1}),
}


def _final(rec):
    state, _ = rec.recover()
    return rec.read().groups["pa"], state


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("case", sorted(RESUME_CASES))
@pytest.mark.parametrize("chunk,stops", [(3, 2), (1, 5)], ids=["at-steps", "mid-step"])
def test_stop_and_resume_gives_the_same_bits(tmp_path, backend, case, chunk, stops):
    sample, extra = RESUME_CASES[case]
    cfg = _cfg(sample, population=30, sweeps_per_temperature=3, temperatures=[0.4, 0.7, 1.2, 2.0],
               seed=11, **extra)
    make = (lambda n: BACKENDS["hdf5"](tmp_path / f"{n}.h5")) if backend == "hdf5" else BACKENDS["memory"]
    straight = make("straight")
    _run(cfg, straight)
    parted = make("parted")
    pa, _, _ = _run(cfg, parted, stop=_StopAfter(stops, chunk))
    assert not pa.finished and 0 < pa.sweeps_done < pa.total_sweeps
    assert parted.read().status == "running"
    while True:  # stopped again and again until done
        sim, info = prepare_resume(parted)
        assert info["driver"] == "pa" and sim.sweeps_done == pa.sweeps_done
        pa = resume_run(sim, info, provenance.collect(), stop=_StopAfter(stops, chunk), threads=None)
        if pa.finished:
            break
    ga, sa = _final(straight)
    gb, sb = _final(parted)
    assert sorted(ga) == sorted(gb) and sorted(sa) == sorted(sb)
    for name in ga:
        assert _same(ga[name], gb[name]), name
    for name in sa:
        assert _same(sa[name], sb[name]), name
    assert parted.read().status == "finished"
    assert not np.isnan(ga["free_energy"]).any()


@pytest.mark.parametrize("case", sorted(RESUME_CASES))
def test_results_do_not_depend_on_the_thread_count(case):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here")
    sample, extra = RESUME_CASES[case]
    # R_p × N ≥ 4096 (fields.PARALLEL_MIN_WORK): the sweep kernels run parallel blocks
    cfg = _cfg(sample, population=600, sweeps_per_temperature=2, temperatures=[0.5, 1.0, 2.0],
               seed=3, **extra)
    out = []
    for threads in (1, 2):
        _, rec, _ = _run(cfg, threads=threads)
        out.append(_final(rec))
    (ga, sa), (gb, sb) = out
    for name in ga:
        assert _same(ga[name], gb[name]), name
    for name in sa:
        assert _same(sa[name], sb[name]), name


def test_copies_decorrelate_after_resampling():
    """Zero couplings: the resampled copies must not move in lockstep (every slot has its own
    fresh streams), so q² of pairs from different families is that of independent random
    spins, ⟨q²⟩ = 1/N; and the energy is 0, f = −T ln 2."""
    N = 16
    cfg = _cfg({"model": "sk", "N": N, "seed": 1}, population=200, sweeps_per_temperature=3,
               temperatures=[0.3, 1.0], seed=5)
    sample = build_sample(cfg.sample)
    sample.dense[...] = 0.0
    rec = MemoryRecorder()
    pam.start_run(cfg, sample, rec, {}, threads=None)
    g = rec.read().groups["pa"]
    assert np.allclose(g["free_energy"], -np.array([0.3, 1.0]) * math.log(2), rtol=0, atol=1e-14)
    # mean of PAIRS q² values, each with σ = sqrt(2/N²) (q² of independent ±1 spins:
    # var(q²) = 2/N² − 2/N³); 4σ of the mean over 256 pairs (pairs share replicas: ×2 slack)
    assert np.all(np.abs(g["q2"] - 1 / N) <= 2 * 4 * math.sqrt(2) / N / math.sqrt(pam.PAIRS))


# ---- config, memory, CLI -----------------------------------------------------------------
def test_keys_of_the_other_method_are_errors_naming_anneal_method():
    sk = {"model": "sk", "N": 8}
    _cfg(sk, replicas=2, thermalization=1000, sweeps=10000, measure_every=1)  # defaults: fine
    for key, value in (("replicas", 4), ("thermalization", 0), ("sweeps", 50), ("measure_every", 2)):
        with pytest.raises(ConfigError, match="anneal.method") as exc:
            _cfg(sk, **{key: value})
        assert exc.value.key == f"anneal.{key}" and "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match="anneal.method"):
        from_dict({"sample": sk, "anneal": {"population": 50}})
    with pytest.raises(ConfigError, match="anneal.method"):
        from_dict({"sample": sk, "anneal": {"method": "pt", "sweeps_per_temperature": 3}})
    for key, value in (("population", 0), ("sweeps_per_temperature", 0), ("population", 2.5)):
        with pytest.raises(ConfigError, match=f"anneal.{key}"):
            _cfg(sk, **{key: value})
    with pytest.raises(ConfigError, match="'pt', 'pa'"):
        from_dict({"sample": sk, "anneal": {"method": "annealing"}})
    from rkky_mc.config import METHODS

    assert set(DRIVERS) == set(METHODS) == {"pt", "pa"} and DRIVERS["pa"].group == "pa"


def test_a_population_that_cannot_fit_is_refused_before_allocation():
    # 10¹² replicas × 64 spins × 2 components × 8 bytes × 2 buffers ≈ 2 PB
    cfg = _cfg({"model": "sk", "N": 64}, population=10**12)
    with pytest.raises(ConfigError, match="memory") as exc:
        check_memory(cfg)
    assert exc.value.key == "anneal.population" and "\n" not in str(exc.value)


def test_cli_run_info_and_resume(tmp_path):
    conf = tmp_path / "pa.toml"
    out = tmp_path / "pa.h5"
    conf.write_text('[sample]\nmodel = "sk"\nN = 8\n[anneal]\nmethod = "pa"\npopulation = 50\n'
                    'sweeps_per_temperature = 2\ntemperatures = [0.5, 1.0, 2.0]\n'
                    f'[output]\npath = "{out}"\n')
    runner = CliRunner()
    res = runner.invoke(main, ["run", str(conf)])
    assert res.exit_code == 0, res.output
    assert "population annealing (/pa)" in res.output
    res = runner.invoke(main, ["info", str(out)])
    assert res.exit_code == 0, res.output
    assert "R_p = 50" in res.output and "rho_t" in res.output and "INCONSISTENT" not in res.output
    table = [line.split() for line in res.output.splitlines() if line.startswith("    ")][1:]
    assert [float(row[0]) for row in table] == [0.5, 1.0, 2.0]
    res = runner.invoke(main, ["resume", str(out)])
    assert res.exit_code == 0 and "finished" in res.output
    res = runner.invoke(main, ["resume", str(out), "--sweeps", "5"])
    assert res.exit_code == 2 and "cannot be extended" in res.output


def test_python_api_runs_pa():
    import rkky_mc

    run = rkky_mc.run({"sample": {"model": "sk", "N": 6}, "anneal": {
        "method": "pa", "population": 20, "sweeps_per_temperature": 1, "temperatures": [0.5, 1.0]}},
        threads=None)
    assert run.finished and run.n_valid == 0
    assert run.groups["pa"]["temperatures"].tolist() == [0.5, 1.0]
    assert np.isfinite(run.groups["pa"]["free_energy"]).all()


@pytest.mark.parametrize("heatbath", [False, True])
@pytest.mark.parametrize("batch", [0, 1])
def test_blocked_dense_sweeps_are_the_one_call_sweeps_bit_for_bit(heatbath, batch):
    """kernels/population.py's replica-blocked dense sweeps = the ladder kernels over all
    replicas at once (70 replicas: two full blocks of 32 and a partial one)."""
    from rkky_mc.kernels import heisenberg as kheis
    from rkky_mc.kernels import ising as kising
    from rkky_mc.kernels.fields import local_fields3_dense, local_fields_dense

    rng = np.random.default_rng(5)
    R, N = 70, 12
    J = rng.normal(size=(N, N))
    J = (J + J.T) / 2
    np.fill_diagonal(J, 0.0)
    beta = rng.uniform(0.3, 3.0, size=R)
    sites = np.arange(N, dtype=np.int64)
    streams = np.random.SeedSequence(2).generate_state(4 * R, np.uint64).reshape(R, 4)
    v = rng.normal(size=(3, R, N))
    v /= np.linalg.norm(v, axis=0)
    out = []
    for blocked in (False, True):
        sx, sy, sz = (c.copy() for c in v)
        h = [np.zeros((R, N)) for _ in range(3)]
        local_fields3_dense(J, sx, sy, sz, 0.0, *h)
        st, acc = streams.copy(), np.zeros(R, np.int64)
        if blocked:
            kpop.heisenberg_sweep_dense_blocked(J, sx, sy, sz, *h, beta, sites, st, heatbath, acc, np.int64(batch))
            kpop.heisenberg_overrelax_dense_blocked(J, sx, sy, sz, *h, sites, np.int64(batch))
        else:
            kheis.heisenberg_sweep_dense(J, sx, sy, sz, *h, beta, sites, st, heatbath, acc, batch)
            kheis.heisenberg_overrelax_dense(J, sx, sy, sz, *h, sites, batch)
        spins = np.where(v[0] > 0, 1.0, -1.0)
        fields = np.zeros((R, N))
        local_fields_dense(J, spins, 0.0, fields)
        st2, acc2 = streams.copy(), np.zeros(R, np.int64)
        if blocked:
            kpop.ising_sweep_dense_blocked(J, spins, fields, beta, sites, st2, heatbath, acc2, np.int64(batch))
        else:
            kising.ising_sweep_dense(J, spins, fields, beta, sites, st2, heatbath, acc2, batch)
        out.append((sx, sy, sz, *h, st, acc, spins, fields, st2, acc2))
    for a, b in zip(*out):
        assert _same(a, b)


# ---- Dzyaloshinskii–Moriya couplings (issue 8/17) -----------------------------------------
@pytest.mark.parametrize("heatbath", [False, True])
@pytest.mark.parametrize("batch", [0, 1])
def test_blocked_dm_sweeps_are_the_one_call_sweeps_bit_for_bit(heatbath, batch):
    """kernels/population.py's replica-blocked DM sweeps = kernels/dm.py's over all replicas
    at once (70 replicas: two full blocks of 32 and a partial one)."""
    from rkky_mc.kernels import dm as kdm

    rng = np.random.default_rng(6)
    R, N = 70, 12
    J = rng.normal(size=(N, N))
    J = (J + J.T) / 2
    np.fill_diagonal(J, 0.0)
    D = np.zeros((N, N, 3))
    iu, ju = np.triu_indices(N, 1)
    D[iu, ju] = rng.normal(size=(iu.size, 3))
    D[ju, iu] = -D[iu, ju]
    Dc = kdm.dm_components(D)
    beta = rng.uniform(0.3, 3.0, size=R)
    sites = np.arange(N, dtype=np.int64)
    streams = np.random.SeedSequence(3).generate_state(4 * R, np.uint64).reshape(R, 4)
    v = rng.normal(size=(3, R, N))
    v /= np.linalg.norm(v, axis=0)
    out = []
    for blocked in (False, True):
        sx, sy, sz = (c.copy() for c in v)
        h = [np.zeros((R, N)) for _ in range(3)]
        kdm.dm_local_fields_dense(J, Dc, sx, sy, sz, 0.0, *h)
        st, acc = streams.copy(), np.zeros(R, np.int64)
        if blocked:
            kpop.dm_sweep_dense_blocked(J, Dc, sx, sy, sz, *h, beta, sites, st, heatbath, acc,
                                        np.int64(batch))
            kpop.dm_overrelax_dense_blocked(J, Dc, sx, sy, sz, *h, sites, np.int64(batch))
        else:
            kdm.dm_heisenberg_sweep_dense(J, Dc, sx, sy, sz, *h, beta, sites, st, heatbath, acc,
                                          batch)
            kdm.dm_overrelax_dense(J, Dc, sx, sy, sz, *h, sites, batch)
        out.append((sx, sy, sz, *h, st, acc))
    for a, b in zip(*out):
        assert _same(a, b)
    assert not _same(out[0][0], v[0])  # the sweeps moved spins


def _dm_run(sample, cfg, sign=1.0):
    """A PA run of ``sample`` with J and D multiplied by ``sign`` (±1: exact)."""
    sample.dense[...] *= sign
    sample.dm[...] *= sign
    rec = MemoryRecorder()
    pam.start_run(cfg, sample, rec, {}, threads=None)
    return rec.read().groups["pa"]


def test_high_temperature_series_with_dm():
    """Heisenberg with DM, h = 0: βf = −ln 4π − (β²/2N) Σ_{i<j} (3J_ij² + 2|D_ij|²)/9 + O(β³),
    on SK N = 32 with random D (|D_ij| = |J_ij|) at T = 40 … 5 (β ≤ 0.2).

    The O(β³) term (triangles of bonds) is odd in (J, D): a run with (−J, −D) has βf(β) with
    the β³ term reversed and the same β² term, so the mean of the two removes it. What is
    left is O(β⁴): the one-bond fourth cumulant, β⁴/(24N) Σ_{i<j} |κ₄| with |κ₄| ≤
    (2/15)(J² + |D|²)², is 2e-6 here at β = 0.2, and the 4-cycles, β⁴/N × a sum of ~10⁵
    terms of random sign and size ~1e-4, ~2e-6: 1e-5 is a safe bound."""
    temps = [5.0, 7.0, 10.0, 20.0, 40.0]
    N = 32
    spec = {"model": "sk", "N": N, "seed": 8, "spin": "heisenberg", "dm": "random",
            "dm_strength": 1.0}
    runs = {1.0: [], -1.0: []}
    for sign in runs:
        for seed in range(1, 13):
            cfg = _cfg(spec, population=1000, sweeps_per_temperature=2, temperatures=temps,
                       seed=seed, link_overlap=False)
            smp = build_sample(cfg.sample)
            g = _dm_run(smp, cfg, sign)
            runs[sign].append(g["free_energy"] / g["temperatures"])  # βf
    smp = build_sample(cfg.sample)
    J = np.asarray(smp.dense, dtype=np.float64)
    d2 = (smp.dm ** 2).sum(axis=0)  # |D_ij|²
    iu = np.triu_indices(N, 1)
    a_iso, a_dm = (3 * J[iu] ** 2).sum() / 9, (2 * d2[iu]).sum() / 9
    beta = 1.0 / np.array(temps)
    series = -math.log(4 * math.pi) - beta**2 / (2 * N) * (a_iso + a_dm)
    plus, minus = np.array(runs[1.0]), np.array(runs[-1.0])
    even = 0.5 * (plus.mean(axis=0) + minus.mean(axis=0))
    # 4σ of the mean of 2 × 12 independent runs (σ of each from the spread of its 12)
    err = 0.5 * np.sqrt(plus.var(axis=0, ddof=1) / 12 + minus.var(axis=0, ddof=1) / 12)
    dev = even - series
    assert np.all(np.abs(dev) <= 4 * err + 1e-5), np.round(dev / err, 2).tolist()
    # the test sees D: its β² term is ≥ 8σ at T = 5, 7
    assert np.all(beta[:2] ** 2 / (2 * N) * a_dm > 8 * err[:2] + 1e-5)


def _two_spin_log_z(J, d, beta):
    """ln Z of two unit spins, H = −J S₁·S₂ − D·(S₁ × S₂), |D| = d: the field on S₂ is
    J S₁ + D × S₁, of length v = sqrt(J² + d²(1 − u²)) (u = cos(S₁, D)), so
    Z = 2π ∫₋₁¹ du 4π sinh(βv)/(βv) (ln Z(0) = 2 ln 4π), e^{βv_max} factored out."""
    from scipy import integrate

    vmax = math.sqrt(J * J + d * d)

    def z(u):
        x = beta * math.sqrt(J * J + d * d * (1.0 - u * u))
        return -math.expm1(-2.0 * x) / (2.0 * x) * math.exp(x - beta * vmax)

    return math.log(8 * math.pi**2) + beta * vmax + math.log(
        integrate.quad(z, -1.0, 1.0, epsabs=0, epsrel=1e-12)[0])


def test_two_spins_with_dm_agree_with_the_exact_integral(tmp_path):
    """f and e of two Heisenberg spins with J and D (a .npz coupling file) against the exact
    two-spin integral (test_dm.two_spin_energy; ln Z above), at every temperature."""
    from test_dm import two_spin_energy

    Jv, d = 1.0, 0.8
    Dv = d * np.array([2.0, -1.0, 2.0]) / 3.0
    D = np.zeros((2, 2, 3))
    D[0, 1], D[1, 0] = Dv, -Dv
    path = tmp_path / "two.npz"
    np.savez(path, J=np.array([[0.0, Jv], [Jv, 0.0]]), D=D)
    temps = [0.4, 0.6, 1.0, 1.6, 3.0]
    runs = []
    for seed in range(1, 13):
        cfg = _cfg({"model": "file", "path": str(path), "spin": "heisenberg"}, update="heatbath",
                   population=2000, sweeps_per_temperature=4, temperatures=temps, seed=seed)
        _, rec, _ = _run(cfg)
        g = rec.read().groups["pa"]
        runs.append(np.stack([g["free_energy"], g["energy"]], axis=1))
    runs = np.array(runs)  # (seeds, T, 2)
    exact = np.array([[-T * _two_spin_log_z(Jv, d, 1 / T) / 2, two_spin_energy(Jv, d, 1 / T) / 2]
                      for T in temps])
    no_dm = np.array([[-T * _two_spin_log_z(Jv, 0.0, 1 / T) / 2,
                       two_spin_energy(Jv, 0.0, 1 / T) / 2] for T in temps])
    mean = runs.mean(axis=0)
    err = runs.std(axis=0, ddof=1) / math.sqrt(runs.shape[0])
    # 4σ of the mean of 12 independent runs (σ from their spread). The bias of ln(mean
    # weight), −var(w)/(2 R_p ⟨w⟩²) per step, is ≲ 1e-5 per step at R_p = 2000 (var(w)/⟨w⟩²
    # ≈ (Δβ σ_E)² ≤ 0.05 here), below σ(f) ~ 1e-3 of one run; two spins under the heat
    # bath decorrelate in a sweep, so 4 sweeps per temperature leave no equilibration bias
    assert np.all(np.abs(mean - exact) <= 4 * err), np.round((mean - exact) / err, 2).tolist()
    # and the test sees D: without it f and e differ by ≥ 8σ at the lowest temperatures
    assert np.all(np.abs(no_dm - exact)[:2] > 8 * err[:2])
