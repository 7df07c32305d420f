"""`rkky-mc bench` and the fast paths it measures.

Performance is reported by the benchmark, never asserted here: the bench test checks only
that ``bench --json --quick`` runs and reports every figure. The other tests check that the
fast paths give the same physics: float32 against float64 (statistically, and the field
drift between the scheduled recomputations), the same bits run to run, across a
checkpoint/resume and for any thread count, and that the Metropolis test that skips exp is
the plain test bit for bit.
"""
from __future__ import annotations

import json
import math
import os

import numba
import numpy as np
import pytest
from click.testing import CliRunner
from numba import njit

from rkky_mc.bench import bench_command, c_reference
from rkky_mc.bench.peapods_case import PEAPODS_VERSION, peapods_available
from rkky_mc.bench.process import bench_startup, kernel_cache_is_empty
from rkky_mc.bench.report import TARGETS, format_table
from rkky_mc.config import from_dict
from rkky_mc.couplings import build_sample
from rkky_mc.kernels.rng import accept_exp, seed_streams, uniform
from rkky_mc.simulation import FIELD_REFRESH_SWEEPS, Simulation, choose_threads

SWEEP_NAMES = [
    "ising_sk_N1000_float64", "ising_sk_N1000_float32", "ising_sk_N2000_float64",
    "ising_sk_N2000_float32", "heisenberg_metropolis_N1000_float64",
    "heisenberg_heatbath_N1000_float64", "heisenberg_overrelaxation_N1000_float64",
    "heisenberg_metropolis_N1000_float32", "ising_ea_pm1_L8_float64", "ising_ea_pm1_L8_float32",
    "ising_rkky_sparse_N20000_float64", "ising_rkky_sparse_N20000_float32",
]
SWEEP_KEYS = {"name", "N", "T", "R", "precision", "storage", "ns", "ns_cpu", "kernel_ns",
              "kernel_ns_cpu", "sweeps_per_s", "acceptance", "bound_ns", "fraction_of_bound",
              "bandwidth_GB_per_s", "target_ns"}


def positive(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


# ------------------------------------------------------------------------------ bench
def test_bench_quick_json_reports_every_figure():
    result = CliRunner().invoke(bench_command, ["--json", "--quick"])
    assert result.exit_code == 0, (result.output, result.exception)
    res = json.loads(result.output)
    assert res["quick"] is True
    assert {"rkky_mc_version", "machine", "bandwidth", "sweeps", "temperature_ratio",
            "python_overhead", "run_overhead", "build", "threads", "startup", "memory",
            "elapsed_s", "targets", "population_annealing"} <= set(res)
    # PA against PT at the same N, and one resampling step (issue 18; quick: N = 128)
    assert [r["name"] for r in res["population_annealing"]] == [
        "pa_ising_sk_N128_R1000", "pa_heisenberg_sk_N128_R1000"]
    for r in res["population_annealing"]:
        assert positive(r["pa_ns"]) and positive(r["pt_ns"]) and positive(r["resample_ms"])
        lo, hi = r["pa_over_pt_range"]
        assert positive(lo) and lo <= r["pa_over_pt"] <= hi
    assert {"cpu", "cores", "numba", "loadavg_start", "loadavg_end", "probe_start",
            "probe_end"} <= set(res["machine"])
    for probe in (res["machine"]["probe_start"], res["machine"]["probe_end"]):
        assert positive(probe["compute_ms"]) and positive(probe["stream_GB_per_s"])
    assert set(res["bandwidth"]) == {"N1000_float64", "N1000_float32", "N2000_float64",
                                     "N2000_float32"}
    assert all(positive(v["GB_per_s"]) for v in res["bandwidth"].values())
    assert [r["name"] for r in res["sweeps"]] == SWEEP_NAMES
    for r in res["sweeps"]:
        assert SWEEP_KEYS <= set(r), (r["name"], SWEEP_KEYS - set(r))
        for key in ("ns", "kernel_ns", "sweeps_per_s", "bound_ns", "fraction_of_bound"):
            assert positive(r[key]), (r["name"], key, r[key])
        assert 0.0 < r["acceptance"] <= 1.0
        assert (r["target_ns"] is None) == (r["name"] not in TARGETS)
    tr = res["temperature_ratio"]
    assert positive(tr["ratio"]) and positive(tr["T0.5"]["ns"]) and positive(tr["T3"]["ns"])
    assert positive(tr["one_at_a_time_ratio"])
    for T in ("T0.5", "T3"):  # site-outer throughout
        assert tr[f"one_at_a_time_{T}"]["deferred_walkers"] == 0
        assert tr[f"one_at_a_time_{T}"]["walker_outer_walkers"] == 0
    assert tr["T0.5"]["acceptance"] < tr["T3"]["acceptance"]
    ro = res["run_overhead"]["ising"]
    assert {"overhead", "overhead_short_run", "fixed_s", "bare_s", "run_s",
            "run_without_link_overlap_s", "link_overlap_share",
            "overhead_without_link_overlap"} <= set(ro)
    assert math.isfinite(ro["overhead"]) and math.isfinite(ro["overhead_short_run"])
    # the link overlap is measured (anneal.link_overlap defaults to true): its time is part of
    # the overhead, the rest is what remains
    assert math.isfinite(ro["link_overlap_share"])
    assert ro["overhead_without_link_overlap"] == ro["overhead"] - ro["link_overlap_share"]
    # longer runs take longer, bare sweeps and real runs alike
    assert ro["bare_s"][1] > ro["bare_s"][0] and ro["run_s"][1] > ro["run_s"][0]
    assert positive(res["build"]["dense_N4000"]["sample_s"])
    assert res["build"]["dense_N4000"]["N"] == 4000
    assert res["build"]["sparse_N20000"]["N"] == 20000
    assert res["build"]["sparse_N20000"]["storage"] == "csr"
    assert res["startup"]["cold_s"] is None and positive(res["startup"]["warm_s"])
    for mem in (res["memory"], res["memory"]["float32"]):
        assert positive(mem["peak_MB"]) and math.isfinite(mem["ratio"])
    assert res["memory"]["float32"]["matrix_MB"] == res["memory"]["matrix_MB"] / 2
    assert positive(res["threads"]["threads_1_sweeps_per_s"])
    assert positive(res["threads"]["two_processes_total_sweeps_per_s"])
    # the C reference in the same rounds when a compiler is present (13 targets + 3 ratios)
    by_name = {r["name"]: r for r in res["sweeps"]}
    if c_reference.compiler() is not None:
        assert "reason" not in res["c_reference"], res["c_reference"]
        for name in SWEEP_NAMES[:4]:
            cr = by_name[name]["c_reference"]
            assert positive(cr["ns"]) and 0.0 < cr["acceptance"] < 1.0 and cr["repeats"] == 3
            assert by_name[name]["vs_c"] == by_name[name]["ns"] / cr["ns"]
        n_targets = 13 + len(c_reference.ISSUE_C_NS)
    else:
        assert res["c_reference"]["reason"]
        assert not any("c_reference" in r for r in res["sweeps"])
        n_targets = 13
    # issue 16's full-run targets: C / rkky_mc per case with a C reference, EA against its
    # bare sweeps, and against peapods where it is installed (else the record says why)
    full = res["full_runs"]
    ea = [r for r in full if "vs_bare" in r]
    assert len(ea) == 1 and positive(ea[0]["vs_bare"])
    assert ("peapods_over_rkky" in ea[0]) == (peapods_available() is None)
    if "peapods_over_rkky" in ea[0]:
        assert positive(ea[0]["peapods_ns"]) and positive(ea[0]["peapods_over_rkky"])
    else:
        assert "peapods" in ea[0]["peapods"]
    if c_reference.compiler() is not None:
        assert all(positive(r["c_over_rkky"]) for r in full if "vs_bare" not in r)
    n_targets += sum(("c_over_rkky" in r) + ("vs_bare" in r) + ("peapods_over_rkky" in r)
                     for r in full)
    names = [t["name"] for t in res["targets"]]
    assert len(names) == len(set(names)) == n_targets
    assert all(t["value"] is None or math.isfinite(t["value"]) for t in res["targets"])
    assert "targets:" in format_table(res)


def test_peapods_comparison_names_why_it_is_missing(monkeypatch):
    import importlib.metadata as md

    def missing(name):
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(md, "version", missing)
    assert f"pip install peapods=={PEAPODS_VERSION}" in peapods_available()
    monkeypatch.setattr(md, "version", lambda name: "0.3.1")
    assert "0.3.1" in peapods_available() and PEAPODS_VERSION in peapods_available()


def test_kernel_cache_is_empty_looks_for_numba_index_files(tmp_path, monkeypatch):
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "kernels-x"))
    assert kernel_cache_is_empty()  # no directory yet
    sub = tmp_path / "kernels-x" / "kernels_abc"
    sub.mkdir(parents=True)
    (sub / "ising.sweep-1.py311.nbc").write_bytes(b"")
    assert kernel_cache_is_empty()  # data without an index is no usable cache
    (sub / "ising.sweep-1.py311.nbi").write_bytes(b"")
    assert not kernel_cache_is_empty()


def test_bench_startup_reports_a_cold_figure_measured_before(monkeypatch):
    """run_all measures the cold start on an empty cache first and passes it on; then
    bench_startup only times the warm runs."""
    calls = []
    monkeypatch.setattr("rkky_mc.bench.process._cli_run", lambda cfg, env: calls.append(env) or 0.5)
    out = bench_startup(False, cold_s=12.5)
    assert out["cold_s"] == 12.5 and "empty numba cache" in out["cold_note"]
    assert out["warm_s"] == 0.5 and len(calls) == 4  # one to fill the cache, three timed
    assert all(env.get("NUMBA_CACHE_DIR") == os.environ.get("NUMBA_CACHE_DIR") for env in calls)


def test_c_reference_builds_and_serves_rounds(tmp_path, monkeypatch):
    """The C reference compiles in both precisions and answers one timed round per request
    (ns per attempted update, acceptance of a Metropolis ladder in (0, 1)); without a
    compiler the bench is told why instead."""
    monkeypatch.setattr(c_reference, "compiler", lambda: None)
    assert c_reference.build(tmp_path) == {"binaries": {}, "reason": (
        "no C compiler ($CC, gcc or cc) on PATH")}
    monkeypatch.undo()
    if c_reference.compiler() is None:
        pytest.skip("no C compiler on this machine")
    built = c_reference.build(tmp_path)
    assert set(built["binaries"]) == {"float64", "float32"}, built.get("reason")
    for prec, binary in built["binaries"].items():
        case = c_reference.ReferenceCase(f"sk_{prec}", binary, N=64, n_sweeps=5, warm_sweeps=5)
        case.warm()
        try:
            for _ in range(3):
                case.time_once()
        finally:
            case.close()
        rec = case.record()
        assert rec["repeats"] == 3 and positive(rec["ns"]), rec
        assert 0.05 < rec["acceptance"] < 0.95, rec  # a ladder over T in [0.3, 2]


# -------------------------------------------------------------- Metropolis prefilter
@njit
def _both(rng, xs, fast, plain):
    a = rng.copy()
    b = rng.copy()
    for k in range(xs.shape[0]):
        fast[k] = accept_exp(a, 0, xs[k])
        plain[k] = uniform(b, 0) < np.exp(-xs[k])
    return a, b


def test_metropolis_prefilter_is_the_plain_test_bit_for_bit():
    """accept_exp(x) == (u < exp(−x)) for every draw, and it consumes the stream alike."""
    rng = seed_streams(123, 1)
    gen = np.random.default_rng(4)
    xs = np.concatenate([
        10.0 ** gen.uniform(-12, 3, 200_000),        # all scales
        gen.uniform(0.0, 3.0, 200_000),               # where most accepts happen
        np.array([1e-300, 5e-324, 1e-16, 36.7, 37.0, 700.0, 745.2, 800.0, 1e300, np.inf]),
    ])
    fast = np.zeros(len(xs), dtype=np.bool_)
    plain = np.zeros(len(xs), dtype=np.bool_)
    a, b = _both(rng, xs, fast, plain)
    assert np.array_equal(fast, plain)
    assert np.array_equal(a, b)
    assert 0.1 < fast[200_000:400_000].mean() < 0.9  # the test does see both outcomes


# ---------------------------------------------------------------- float32 vs float64
def make_sim(sample: dict, anneal: dict) -> Simulation:
    cfg = from_dict({"sample": sample, "anneal": {"thermalization": 0, "sweeps": 1, **anneal}})
    return Simulation(cfg, build_sample(cfg.sample))


def energies_series(sim, n):
    out = np.empty((n, sim.T))
    for k in range(n):
        sim.sweep()
        out[k] = (sim.energies[sim.perm] / sim.N).mean(axis=0)
    return out


def binned(x, n_bins=40):
    m = len(x) // n_bins * n_bins
    bins = x[:m].reshape(n_bins, -1, *x.shape[1:]).mean(axis=1)
    return bins.mean(axis=0), bins.std(axis=0, ddof=1) / np.sqrt(n_bins)


@pytest.mark.parametrize("spin", ["ising", "heisenberg"])
def test_float32_same_physics_as_float64(spin):
    """Same seeds, both precisions: mean energies agree within 4σ (binned errors)."""
    res = {}
    for prec in ("float64", "float32"):
        sim = make_sim({"model": "sk", "N": 24, "seed": 5, "spin": spin},
                       {"temperatures": [0.4, 0.8, 1.6], "replicas": 2, "seed": 6,
                        "precision": prec})
        energies_series(sim, 300)
        res[prec] = binned(energies_series(sim, 6000))
    (m64, e64), (m32, e32) = res["float64"], res["float32"]
    assert np.all(np.abs(m64 - m32) <= 4.0 * np.sqrt(e64**2 + e32**2)), (m64, m32, e64, e32)


@pytest.mark.parametrize("spin", ["ising", "heisenberg"])
def test_float32_fields_refreshed_and_drift_small(spin):
    """The fields are recomputed at the scheduled sweeps, and in between stay within 1e-4
    (relative to the largest) of the float64 fields of the same spins: far below any
    temperature."""
    N = 300
    sim = make_sim({"model": "sk", "N": N, "seed": 2, "spin": spin},
                   {"temperatures": [0.5, 1.5], "replicas": 2, "seed": 3,
                    "precision": "float32"})
    J64 = sim.sample.dense
    assert sim.J.dtype == np.float32 and J64.dtype == np.float64
    if spin == "ising":
        pairs = [(sim.spins, sim.fields)]
    else:
        pairs = [(sim.sx, sim.hx), (sim.sy, sim.hy), (sim.sz, sim.hz)]

    def drift():
        worst = 0.0
        for s, h in pairs:
            exact = s.astype(np.float64) @ J64
            worst = max(worst, np.abs(h - exact).max() / np.abs(exact).max())
        return worst

    refreshed = []
    for _ in range(FIELD_REFRESH_SWEEPS):  # the longest stretch without a refresh
        if sim.refresh_due():
            refreshed.append(sim.sweeps_done)
        sim.sweep()
    assert refreshed == [] and sim.refresh_due()
    # ~6e-8 per update, unbiased: ~1e-5 after these ~20 000 updates per field; 1e-4 of the
    # largest field is still ≥ 1000× below the lowest temperature
    assert drift() <= 1e-4
    sim.recompute_fields()
    assert drift() <= 1e-6  # from scratch: float32 rounding of a float64 sum only
    for _ in range(10):
        sim.sweep()
    assert not sim.refresh_due()


def test_float64_run_shares_the_coupling_matrix():
    """float64: the simulation uses the sample's matrix itself (one N×N array in memory)."""
    sim = make_sim({"model": "sk", "N": 50, "seed": 1}, {"temperatures": [1.0], "replicas": 2})
    assert sim.J is sim.sample.dense
    assert not hasattr(sim, "k2") and not hasattr(sim, "_k2")


def test_float32_run_holds_one_float32_matrix():
    """float32: a sample built in the run's precision is used as it is (no float64 copy
    anywhere), and the run is bit for bit the one made from a float64 sample."""
    sample = {"model": "rkky", "L": 4, "concentration": 0.3, "seed": 3}
    cfg = from_dict({"sample": sample, "anneal": {"temperatures": [0.2, 0.6], "replicas": 2,
                                                  "thermalization": 0, "sweeps": 1, "seed": 4,
                                                  "precision": "float32"}})
    s32 = build_sample(cfg.sample, precision="float32")
    a = Simulation(cfg, s32)
    assert a.J is s32.dense and a.J.dtype == np.float32
    b = Simulation(cfg, build_sample(cfg.sample))
    assert b.sample.dense.dtype == np.float64 and b.J.dtype == np.float32
    for _ in range(30):
        a.sweep()
        b.sweep()
    assert state_bytes(a) == state_bytes(b)


# ------------------------------------------------------------------------ same bits
CASES = [
    ({"model": "sk", "N": 40, "seed": 1}, {"update": "metropolis"}),
    ({"model": "ea", "L": 3, "distribution": "pm1", "seed": 1}, {"update": "metropolis"}),
    ({"model": "sk", "N": 40, "seed": 1}, {"update": "heatbath"}),
    ({"model": "sk", "N": 30, "seed": 1, "spin": "heisenberg"},
     {"update": "metropolis", "overrelaxation": 1}),
]


def state_bytes(sim):
    return {k: np.asarray(v).tobytes() for k, v in sim.state_dict().items()}


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("sample,anneal", CASES, ids=["ising-dense", "ising-csr",
                                                      "ising-heatbath", "heisenberg"])
def test_same_bits_repeat_resume_threads(sample, anneal, precision):
    """Identical runs give identical states; a run checkpointed (state_dict) at a sweep that is
    not a refresh sweep and resumed in a fresh Simulation ends identical; so does a run
    with another thread count — across a float32 field refresh."""
    anneal = {"temperatures": [0.3, 0.7, 1.5, 3.0], "replicas": 2, "seed": 9,
              "precision": precision, **anneal}
    n_total, n_split = FIELD_REFRESH_SWEEPS + 20, FIELD_REFRESH_SWEEPS - 30
    a = make_sim(sample, anneal)
    for _ in range(n_total):
        a.sweep()
    b = make_sim(sample, anneal)
    for _ in range(n_split):
        b.sweep()
    saved = b.state_dict()
    c = make_sim(sample, anneal)
    c.load_state(saved)
    for _ in range(n_total - n_split):
        c.sweep()
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1 if old > 1 else old)
        d = make_sim(sample, anneal)
        for _ in range(n_total):
            d.sweep()
    finally:
        numba.set_num_threads(old)
    ref = state_bytes(a)
    for other in (c, d):
        got = state_bytes(other)
        assert sorted(got) == sorted(ref)
        for k in ref:
            assert got[k] == ref[k], k
    assert np.array_equal(a.energies, c.energies) and np.array_equal(a.energies, d.energies)


# ---------------------------------------------------------------------------- threads
def test_choose_threads(monkeypatch):
    small = make_sim({"model": "sk", "N": 20, "seed": 1}, {"temperatures": [1.0], "replicas": 2})
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    assert choose_threads(small) == 1
    big = make_sim({"model": "sk", "N": 800, "seed": 1},
                   {"temperatures": {"min": 0.3, "max": 2.0, "count": 16}, "replicas": 2})
    n = choose_threads(big)
    assert 1 <= n <= numba.config.NUMBA_NUM_THREADS
    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")
    assert choose_threads(big) is None  # the user's setting stands
    monkeypatch.delenv("NUMBA_NUM_THREADS")
    old = numba.get_num_threads()
    if numba.config.NUMBA_NUM_THREADS > 1:
        try:
            numba.set_num_threads(1)  # lowered in this process (e.g. a sweep worker): kept
            assert choose_threads(big) is None
        finally:
            numba.set_num_threads(old)
