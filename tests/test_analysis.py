"""rkky_mc.analysis / `rkky-mc analyze`: grouping of mixed run files, thermal and disorder
averages against an independent computation from the raw HDF5 arrays, running files read up
to n_valid, the β → 0 identities on real runs, figures equal to the tables, bad input."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import h5py
import numba
import numpy as np
import pytest
from click.testing import CliRunner

from rkky_mc import analysis
from rkky_mc.analysis import analyze, analyze_command, read_csv, read_tables
from rkky_mc.cli import main
from rkky_mc.config import _toml_value


def _config(sample: dict, anneal: dict, out: Path) -> str:
    lines = []
    for name, table in (("sample", sample), ("anneal", anneal), ("output", {"path": str(out)})):
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def make_run(path: Path, sample: dict, anneal: dict) -> Path:
    """A real run file from `rkky-mc run` (in process)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = path.with_suffix(".toml")
    cfg.write_text(_config(sample, anneal, path))
    res = CliRunner().invoke(main, ["run", str(cfg), "--quiet", "--overwrite"])
    assert res.exit_code == 0, (res.output, res.exception)
    cfg.unlink()
    return path


@pytest.fixture(scope="module")
def one_thread():
    """Tiny systems: numba's thread pool only adds overhead (and contention on 2 cores)."""
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(old)


SK_ANNEAL = dict(temperatures=[0.5, 0.8, 1.2, 2.0], replicas=2, thermalization=64, sweeps=256,
                 measure_every=1)


@pytest.fixture(scope="module")
def mixed_runs(tmp_path_factory, one_thread):
    """A directory tree of mixed run files plus junk that must be ignored."""
    root = tmp_path_factory.mktemp("mixed")
    d = root / "runs"
    for N in (16, 32):
        for seed in (1, 2, 3, 4):
            make_run(d / f"sk/N{N}/s{seed}.h5", dict(model="sk", N=N, seed=seed),
                     dict(SK_ANNEAL, seed=10 + seed))
    # the disorder sample of N=16 seed 1 again, with another thermal seed: same couplings
    make_run(d / "sk/N16/s1_again.h5", dict(model="sk", N=16, seed=1), dict(SK_ANNEAL, seed=99))
    # a field makes another group (not another size of the same series)
    make_run(d / "sk_field/s1.h5", dict(model="sk", N=16, seed=1, field=0.1), dict(SK_ANNEAL, seed=5))
    for seed in (1, 2):
        make_run(d / f"ea/s{seed}.h5", dict(model="ea", L=3, distribution="gaussian", seed=seed),
                 dict(SK_ANNEAL, seed=20 + seed))
        make_run(d / f"rkky/s{seed}.h5",
                 dict(model="rkky", spin="heisenberg", L=4, concentration=0.05, seed=seed),
                 dict(temperatures=[0.3, 0.6, 1.2], replicas=3, thermalization=32, sweeps=128,
                      seed=30 + seed, overrelaxation=1))
    # junk: checkpoint generations, a lock file, a foreign HDF5 file, a text file
    shutil.copy(d / "sk/N16/s2.h5", d / "sk/N16/s2.h5.prev")
    shutil.copy(d / "sk/N16/s3.h5", d / "sk/N16/s3.h5.tmp")
    (d / "sk/N16/s3.h5.lock").write_text("")
    with h5py.File(d / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    (d / "notes.txt").write_text("not a run")
    return d


@pytest.fixture(scope="module")
def mixed_result(mixed_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "analysis"
    res = analyze([mixed_runs], out, keep_figures=True)
    return res


def _rows(res, **flt):
    return [r for r in res.tables["table"] if all(r.get(k) == v for k, v in flt.items())]


def _value(res, group, quantity, T=None):
    rows = _rows(res, group=group, quantity=quantity)
    if T is not None:
        rows = [r for r in rows if r["T"] == T]
    return np.array([r["value"] for r in rows]), np.array([r["error"] for r in rows])


# ---- grouping ---------------------------------------------------------------------------


def test_grouping_of_mixed_files(mixed_result, mixed_runs):
    res = mixed_result
    groups = {g.label: g for g in res.groups}
    assert set(groups) == {"sk_ising_N16", "sk_ising_N32", "sk_ising_h0.1_N16",
                           "ea_ising_gaussian_L3", "rkky_heisenberg_fcc_c0.05_L4"}
    assert len(groups["sk_ising_N16"].samples) == 4 and groups["sk_ising_N16"].n_files == 5
    assert len(groups["sk_ising_N32"].samples) == 4
    assert len(groups["sk_ising_h0.1_N16"].samples) == 1
    assert groups["sk_ising_N16"].series == groups["sk_ising_N32"].series == "sk_ising"
    assert groups["sk_ising_h0.1_N16"].series == "sk_ising_h0.1"
    assert groups["rkky_heisenberg_fcc_c0.05_L4"].L == 4.0
    # 14 run files used; junk ignored (the foreign HDF5 file with a warning)
    assert len(res.files) == 14
    assert not any(p.endswith((".prev", ".tmp", ".lock")) for p in res.files)
    assert any("foreign.h5" in w for w in res.warnings)
    assert any("sk_ising_N16" in w and "sha256" in w for w in res.warnings)
    g = {r["group"]: r for r in res.tables["groups"]}
    assert g["sk_ising_N16"]["n_files"] == 5 and g["sk_ising_N16"]["n_samples"] == 4
    # quantities only where they make sense
    q = {(r["group"], r["quantity"]) for r in res.tables["table"]}
    assert ("sk_ising_N16", "identity_diff") in q
    assert ("ea_ising_gaussian_L3", "identity_diff") in q       # EA: from the bond overlap
    assert ("ea_ising_gaussian_L3", "link_overlap_bonds") in q
    assert ("ea_ising_gaussian_L3", "ql_implied") not in q      # only without a bond overlap
    assert ("sk_ising_N16", "link_overlap_bonds") not in q      # dense storage: not measured
    assert ("rkky_heisenberg_fcc_c0.05_L4", "link_overlap_bonds") not in q
    assert ("rkky_heisenberg_fcc_c0.05_L4", "xi_over_L") in q
    assert ("ea_ising_gaussian_L3", "xi_over_L") in q
    assert ("sk_ising_N16", "xi_over_L") not in q            # no positions
    assert ("rkky_heisenberg_fcc_c0.05_L4", "identity_diff") not in q
    # crossings: only the sk_ising series has two sizes
    cross = res.tables["crossings"]
    assert {(c["series"], c["quantity"], c["size1"], c["size2"]) for c in cross} == \
        {("sk_ising", "binder", 16, 32), ("sk_ising", "chi_sg_scaled", 16, 32)}
    assert ("sk_ising_N16", "chi_sg_scaled") in q                 # mean field only
    assert ("rkky_heisenberg_fcc_c0.05_L4", "chi_sg_scaled") not in q


def test_grouping_key_ignores_seeds_and_output(mixed_runs):
    from rkky_mc.hdf5 import read_run

    a = read_run(mixed_runs / "sk/N16/s1.h5")
    b = read_run(mixed_runs / "sk/N16/s2.h5")
    c = read_run(mixed_runs / "sk_field/s1.h5")
    assert analysis.group_key(a) == analysis.group_key(b)
    assert analysis.group_key(a) != analysis.group_key(c)


# ---- values against an independent computation ----------------------------------------------


def _raw(path):
    with h5py.File(path, "r") as f:
        n = int(f.attrs["n_valid"])
        therm = int(__import__("tomllib").loads(f.attrs["config"])["anneal"]["thermalization"])
        sweep = f["timeseries/sweep"][:n]
        sel = sweep >= therm
        d = {k: f[f"timeseries/{k}"][:n][sel] for k in
             ("energy", "magnetization", "overlap", "overlap_k2", "link_overlap")}
        d["N"] = int(f["sample"].attrs["N"])
        d["box"] = f["sample/box"][()] if "box" in f["sample"] else None
        d["T"] = f["temperatures"][()]
    return d


def test_sk_ising_values_match_raw_arrays(mixed_result, mixed_runs):
    res = mixed_result
    files = [mixed_runs / f"sk/N32/s{s}.h5" for s in (1, 2, 3, 4)]
    raws = [_raw(p) for p in files]
    T = raws[0]["T"]
    e = np.array([r["energy"].mean(axis=(0, 2)) for r in raws])          # (n, T)
    e2 = np.array([(r["energy"] ** 2).mean(axis=(0, 2)) for r in raws])
    q2 = np.array([(r["overlap"] ** 2).mean(axis=(0, 2)) for r in raws])
    q4 = np.array([(r["overlap"] ** 4).mean(axis=(0, 2)) for r in raws])
    mabs = np.array([np.abs(r["magnetization"]).mean(axis=(0, 2)) for r in raws])
    N = 32
    val, err = _value(res, "sk_ising_N32", "energy")
    np.testing.assert_allclose(val, e.mean(0), rtol=1e-12)
    np.testing.assert_allclose(err, e.std(0, ddof=1) / 2, rtol=1e-10)
    val, _ = _value(res, "sk_ising_N32", "specific_heat")
    np.testing.assert_allclose(val, (N * (e2 - e**2) / T**2).mean(0), rtol=1e-10)
    val, _ = _value(res, "sk_ising_N32", "abs_magnetization")
    np.testing.assert_allclose(val, mabs.mean(0), rtol=1e-12)
    val, _ = _value(res, "sk_ising_N32", "chi_sg")
    np.testing.assert_allclose(val, N * q2.mean(0), rtol=1e-12)
    # mean-field finite-size scaling variable χ_SG/N^(1/3), with its jackknife error
    val, err = _value(res, "sk_ising_N32", "chi_sg_scaled")
    np.testing.assert_allclose(val, N ** (2 / 3) * q2.mean(0), rtol=1e-12)
    np.testing.assert_allclose(err, N ** (2 / 3) * q2.std(0, ddof=1) / 2, rtol=1e-10)
    g_expected = 0.5 * (3 - q4.mean(0) / q2.mean(0) ** 2)
    val, err = _value(res, "sk_ising_N32", "binder")
    np.testing.assert_allclose(val, g_expected, rtol=1e-12)
    # jackknife by hand: ratio of delete-one averages
    reps = np.array([0.5 * (3 - np.delete(q4, i, 0).mean(0) / np.delete(q2, i, 0).mean(0) ** 2)
                     for i in range(4)])
    np.testing.assert_allclose(err, np.sqrt(3 / 4 * ((reps - reps.mean(0)) ** 2).sum(0)), rtol=1e-10)
    # SK identity: lhs − rhs jackknifed jointly
    lhs, _ = _value(res, "sk_ising_N32", "identity_lhs")
    rhs, _ = _value(res, "sk_ising_N32", "identity_rhs")
    diff, _ = _value(res, "sk_ising_N32", "identity_diff")
    np.testing.assert_allclose(lhs, e.mean(0), rtol=1e-12)
    np.testing.assert_allclose(rhs, -0.5 / T * (1 - q2.mean(0)), rtol=1e-12)
    np.testing.assert_allclose(diff, lhs - rhs, atol=1e-13)


def test_duplicate_disorder_sample_is_averaged_once(mixed_result, mixed_runs):
    raws = {s: _raw(mixed_runs / f"sk/N16/s{s}.h5") for s in (1, 2, 3, 4)}
    again = _raw(mixed_runs / "sk/N16/s1_again.h5")
    e1 = 0.5 * (raws[1]["energy"].mean(axis=(0, 2)) + again["energy"].mean(axis=(0, 2)))
    e = np.array([e1] + [raws[s]["energy"].mean(axis=(0, 2)) for s in (2, 3, 4)])
    val, err = _value(mixed_result, "sk_ising_N16", "energy")
    np.testing.assert_allclose(val, e.mean(0), rtol=1e-12)
    np.testing.assert_allclose(err, e.std(0, ddof=1) / 2, rtol=1e-10)


def test_field_identity_uses_coupling_energy(mixed_result, mixed_runs):
    r = _raw(mixed_runs / "sk_field/s1.h5")
    eJ = (r["energy"] + 0.1 * r["magnetization"]).mean(axis=(0, 2))
    val, err = _value(mixed_result, "sk_ising_h0.1_N16", "identity_lhs")
    np.testing.assert_allclose(val, eJ, rtol=1e-12)
    assert np.all(np.isnan(err))                 # one sample: no disorder error


def test_heisenberg_binder_and_xi_match_raw_arrays(mixed_result, mixed_runs):
    raws = [_raw(mixed_runs / f"rkky/s{s}.h5") for s in (1, 2)]
    N = raws[0]["N"]
    L = float(raws[0]["box"][0])
    q2 = np.array([np.sum(r["overlap"] ** 2, axis=(-2, -1)).mean(axis=(0, 2)) for r in raws])
    q4 = np.array([(np.sum(r["overlap"] ** 2, axis=(-2, -1)) ** 2).mean(axis=(0, 2)) for r in raws])
    k2 = np.array([r["overlap_k2"].mean(axis=(0, 2)) for r in raws])
    m = np.array([np.linalg.norm(r["magnetization"], axis=-1).mean(axis=(0, 2)) for r in raws])
    grp = "rkky_heisenberg_fcc_c0.05_L4"
    np.testing.assert_allclose(_value(mixed_result, grp, "binder")[0],
                               0.5 * (11 - 9 * q4.mean(0) / q2.mean(0) ** 2), rtol=1e-12)
    np.testing.assert_allclose(_value(mixed_result, grp, "chi_sg")[0], N * q2.mean(0), rtol=1e-12)
    np.testing.assert_allclose(_value(mixed_result, grp, "chi_sg_kmin")[0], N * k2.mean(0), rtol=1e-12)
    with np.errstate(invalid="ignore"):
        xi = np.sqrt(q2.mean(0) / k2.mean(0) - 1) / (2 * np.sin(np.pi / L))
    np.testing.assert_allclose(_value(mixed_result, grp, "xi")[0], xi, rtol=1e-12)
    np.testing.assert_allclose(_value(mixed_result, grp, "xi_over_L")[0], xi / L, rtol=1e-12)
    np.testing.assert_allclose(_value(mixed_result, grp, "abs_magnetization")[0], m.mean(0), rtol=1e-12)


def test_chiral_quantities_match_raw_arrays(mixed_result, mixed_runs):
    """Issue 17: g_χ = ½(3 − [⟨q_χ⁴⟩]/[⟨q_χ²⟩]²) (not clipped), χ_CG = [N_t⟨q_χ²⟩] raw and
    over [⟨κ²⟩]², ξ_χ/L, from the raw /timeseries/chiral_* arrays and /sample/triplets; the
    Ising groups have none of them."""
    raws = []
    for s in (1, 2):
        with h5py.File(mixed_runs / f"rkky/s{s}.h5", "r") as f:
            sel = f["timeseries/sweep"][()] >= 32
            raws.append({k: f[f"timeseries/{k}"][()][sel] for k in
                         ("chiral_overlap", "chiral_overlap_k2", "chirality_sq")})
            raws[-1]["n_t"] = len(f["sample/triplets"])
            L = float(f["sample/box"][0])
    q2 = np.array([(r["chiral_overlap"] ** 2).mean(axis=(0, 2)) for r in raws])
    q4 = np.array([(r["chiral_overlap"] ** 4).mean(axis=(0, 2)) for r in raws])
    qk = np.array([r["chiral_overlap_k2"].mean(axis=(0, 2)) for r in raws])
    k2 = np.array([r["chirality_sq"].mean(axis=(0, 2)) for r in raws])
    n_t = np.array([r["n_t"] for r in raws])[:, None]
    grp = "rkky_heisenberg_fcc_c0.05_L4"
    g = 0.5 * (3 - q4.mean(0) / q2.mean(0) ** 2)
    np.testing.assert_allclose(_value(mixed_result, grp, "chiral_binder")[0], g, rtol=1e-12)
    chi = (n_t * q2).mean(0)
    np.testing.assert_allclose(_value(mixed_result, grp, "chi_cg")[0], chi, rtol=1e-12)
    np.testing.assert_allclose(_value(mixed_result, grp, "chi_cg_norm")[0],
                               chi / k2.mean(0) ** 2, rtol=1e-12)
    np.testing.assert_allclose(_value(mixed_result, grp, "chirality_sq")[0], k2.mean(0),
                               rtol=1e-12)
    with np.errstate(invalid="ignore"):
        xi = np.sqrt(q2.mean(0) / qk.mean(0) - 1) / (2 * np.sin(np.pi / L)) / L
    np.testing.assert_allclose(_value(mixed_result, grp, "chiral_xi_over_L")[0], xi, rtol=1e-12)
    chiral = {"chiral_binder", "chi_cg", "chi_cg_norm", "chirality_sq", "chiral_xi_over_L"}
    assert not chiral & {r["quantity"] for r in _rows(mixed_result, group="sk_ising_N32")}


def test_equilibration_windows_and_drift(mixed_result, mixed_runs):
    from rkky_mc.info import log_windows

    eq = [r for r in mixed_result.tables["equilibration"]
          if r["group"] == "sk_ising_N32" and r["quantity"] == "energy"]
    wins = sorted({(r["window_lo"], r["window_hi"]) for r in eq})
    # sweeps 0..319: windows [0,2), [2,4), …, [256, 512)
    assert wins[0] == (0, 2) and wins[-1] == (256, 512) and len(wins) == 9
    per_sample = []
    for s in (1, 2, 3, 4):
        with h5py.File(mixed_runs / f"sk/N32/s{s}.h5", "r") as f:
            n = int(f.attrs["n_valid"])
            sw, en = f["timeseries/sweep"][:n], f["timeseries/energy"][:n].mean(axis=2)
        per_sample.append({(lo, hi): m for lo, hi, _, m in log_windows(sw, en)})
    T = sorted({r["T"] for r in eq})
    for r in eq:
        w = (r["window_lo"], r["window_hi"])
        i = T.index(r["T"])
        assert r["value"] == pytest.approx(np.mean([p[w][i] for p in per_sample]), rel=1e-12)
        assert r["n_samples"] == 4
    drift = [d for d in mixed_result.tables["drift"] if d["group"] == "sk_ising_N32"]
    assert {d["window_last"] for d in drift} == {"256-512"}
    assert {d["window_prev"] for d in drift} == {"128-256"}
    for d in drift:
        assert d["flag"] == (abs(d["delta"]) > 3.0 * d["error"])


# ---- running files ------------------------------------------------------------------------


def test_running_file_is_read_up_to_n_valid(mixed_runs, tmp_path):
    src = mixed_runs / "sk/N32/s1.h5"
    run = tmp_path / "running.h5"
    shutil.copy(src, run)
    n_valid = 200                    # of 320 rows; thermalization 64
    with h5py.File(run, "r+") as f:
        assert f["timeseries/energy"].shape[0] == 320
        f.attrs["status"] = "running"
        f.attrs["n_valid"] = np.int64(n_valid)
        for name in ("energy", "overlap", "magnetization", "link_overlap"):
            f[f"timeseries/{name}"][n_valid:] = 1.0e6          # not data: must be ignored
    res = analyze([run], None)
    with h5py.File(src, "r") as f:
        sw = f["timeseries/sweep"][:n_valid]
        sel = sw >= 64
        e = f["timeseries/energy"][:n_valid][sel].mean(axis=(0, 2))
        q2 = (f["timeseries/overlap"][:n_valid][sel] ** 2).mean(axis=(0, 2))
    np.testing.assert_allclose(_value(res, "sk_ising_N32", "energy")[0], e, rtol=1e-12)
    np.testing.assert_allclose(_value(res, "sk_ising_N32", "chi_sg")[0], 32 * q2, rtol=1e-12)
    g = res.tables["groups"][0]
    assert g["n_running"] == 1 and g["n_measured_max"] == n_valid - 64
    assert g["sweeps_max"] == n_valid
    # --include-thermalization uses every valid row
    res2 = analyze([run], None, include_thermalization=True)
    with h5py.File(src, "r") as f:
        e_all = f["timeseries/energy"][:n_valid].mean(axis=(0, 2))
    np.testing.assert_allclose(_value(res2, "sk_ising_N32", "energy")[0], e_all, rtol=1e-12)
    # a file with only thermalization rows so far is skipped with a warning
    early = tmp_path / "early.h5"
    shutil.copy(run, early)
    with h5py.File(early, "r+") as f:
        f.attrs["n_valid"] = np.int64(40)
    res3 = analyze([run, early], None)
    assert [p for p, _ in res3.skipped] == [str(early)]
    assert len(res3.groups[0].samples) == 1


# ---- β → 0 limits on real runs -------------------------------------------------------------


@pytest.mark.parametrize("model", ["sk_ising", "sk_heisenberg", "rkky_heisenberg"])
def test_infinite_temperature_identities(model, tmp_path, one_thread):
    """At β ≈ 0 (T = 10⁴): χ_SG = N[⟨q²⟩] = 1, g = 1/N (Ising ⟨q⁴⟩/⟨q²⟩² = 3 − 2/N,
    Heisenberg 11/9 − 2/(9N)), χ_SG(k_min) = 1, e = 0 — within the jackknife errors."""
    if model == "sk_ising":
        sample = dict(model="sk", N=8)
    elif model == "sk_heisenberg":
        sample = dict(model="sk", N=8, spin="heisenberg")
    else:
        sample = dict(model="rkky", spin="heisenberg", L=4, concentration=0.05)
    anneal = dict(temperatures=[1.0e4, 2.0e4], replicas=3, thermalization=10, sweeps=1500)
    for seed in range(1, 7):
        make_run(tmp_path / f"s{seed}.h5", dict(sample, seed=seed), dict(anneal, seed=40 + seed))
    res = analyze([tmp_path], None)
    (g,) = res.groups
    N = g.N
    chi, chi_e = _value(res, g.label, "chi_sg")
    assert np.all(chi_e < 0.06)
    assert np.all(np.abs(chi - 1.0) < 4 * chi_e)
    b, b_e = _value(res, g.label, "binder")
    assert np.all(b_e < 0.08)
    assert np.all(np.abs(b - 1.0 / N) < 4 * b_e + 0.01)
    e, e_e = _value(res, g.label, "energy")
    assert np.all(np.abs(e) < 4 * e_e + 1e-3)
    if model == "rkky_heisenberg":
        k, k_e = _value(res, g.label, "chi_sg_kmin")
        assert np.all(np.abs(k - 1.0) < 4 * k_e) and np.all(k_e < 0.06)


def test_sk_high_temperature_energy_identity(tmp_path, one_thread):
    """SK Ising above T_c: the exact identity e = −(β/2)(1 − [⟨q²⟩]) after the disorder
    average, and e ≈ −(β/2)(1 − χ/N) with χ = 1/(1 − β²) (finite N)."""
    anneal = dict(temperatures=[1.5, 2.0, 3.0], replicas=2, thermalization=200, sweeps=3000)
    for seed in range(1, 33):
        make_run(tmp_path / f"s{seed}.h5", dict(model="sk", N=16, seed=seed),
                 dict(anneal, seed=100 + seed))
    res = analyze([tmp_path], None)
    (g,) = res.groups
    d, d_e = _value(res, g.label, "identity_diff")
    assert np.all(np.abs(d) < 3.5 * d_e), (d, d_e)
    e, e_e = _value(res, g.label, "energy")
    beta = 1.0 / g.temperatures
    e_th = -0.5 * beta * (1 - 1.0 / (16 * (1 - beta**2)))
    assert np.all(np.abs(e - e_th) < 4 * e_e + 0.01), (e, e_th, e_e)


def test_ea_gaussian_identity_end_to_end(tmp_path, run_rkky):
    """EA Gaussian 3D Ising, L = 6, T ≥ 1.5 (paramagnet, fast equilibration): through
    `rkky-mc analyze`, e_J = −3β(1 − [⟨q_b⟩]) with the stored unweighted bond overlap, within
    4 jackknife errors; the same identity with the J²-weighted link overlap in place of q_b
    fails by far (so the check has power). SK (dense storage) has no bond overlap: NaN."""
    temps = [1.5, 2.0, 3.0]
    anneal = dict(temperatures=temps, replicas=2, thermalization=100, sweeps=400, measure_every=2)
    for seed in range(1, 7):        # run_rkky writes tmp_path/run<n>.h5
        data = run_rkky(dict(model="ea", L=6, distribution="gaussian", seed=seed),
                        dict(anneal, seed=50 + seed))
        qb = data["timeseries/link_overlap_bonds"]
        assert data["@sample"]["storage"] == "csr" and qb.shape == (250, 3, 1)
        assert np.all(np.isfinite(qb)) and np.all(np.abs(qb) <= 1.0)
        assert data["@timeseries/link_overlap_bonds"]["units"] == "1"
    sk = run_rkky(dict(model="sk", N=8, seed=1), dict(temperatures=[1.0, 2.0], replicas=2,
                                                      thermalization=2, sweeps=4))
    assert sk["@sample"]["storage"] == "dense"
    assert sk["timeseries/link_overlap_bonds"].shape == (6, 2, 1)
    assert np.isnan(sk["timeseries/link_overlap_bonds"]).all()
    assert np.isfinite(sk["timeseries/link_overlap"]).all()

    out = tmp_path / "analysis"
    res = CliRunner().invoke(main, ["analyze", str(tmp_path), "--out", str(out), "--no-figures", "-q"])
    assert res.exit_code == 0, res.output
    groups = {r["group"]: r for r in read_csv(out / "groups.csv")}
    assert groups["ea_ising_gaussian_L6"]["n_samples"] == 6 and "sk_ising_N8" in groups
    assert not any(r["group"] == "sk_ising_N8" and r["quantity"] == "link_overlap_bonds"
                   for r in read_csv(out / "table.csv"))
    rows = [r for r in read_csv(out / "table.csv") if r["group"] == "ea_ising_gaussian_L6"]

    def col(quantity):
        rs = sorted((r for r in rows if r["quantity"] == quantity), key=lambda r: r["T"])
        assert [r["T"] for r in rs] == temps, quantity
        return np.array([r["value"] for r in rs]), np.array([r["error"] for r in rs])

    lhs, lhs_e = col("identity_lhs")
    rhs, _ = col("identity_rhs")
    diff, diff_e = col("identity_diff")
    qb, _ = col("link_overlap_bonds")
    ql, _ = col("link_overlap")
    beta = 1.0 / np.array(temps)
    np.testing.assert_allclose(lhs, col("energy")[0], rtol=1e-12)          # h = 0: e_J = e
    np.testing.assert_allclose(rhs, -3.0 * beta * (1.0 - qb), rtol=1e-12)
    np.testing.assert_allclose(diff, lhs - rhs, atol=1e-12)
    assert np.all(diff_e > 0) and np.all(diff_e < 0.05), diff_e
    assert np.all(np.abs(diff) < 4.0 * diff_e), (diff, diff_e)
    # the J²-weighted link overlap is not the one of the identity (≈ 3× larger at high T)
    assert np.all(ql > 1.5 * qb)
    assert np.all(np.abs(lhs + 3.0 * beta * (1.0 - ql)) > 6.0 * diff_e)
    assert not any(r["quantity"] == "ql_implied" for r in rows)
    # per log window too (equilibration table), bond overlap included
    eq = [r for r in read_csv(out / "equilibration.csv") if r["group"] == "ea_ising_gaussian_L6"]
    assert {"identity_diff", "link_overlap_bonds"} <= {r["quantity"] for r in eq}


def test_old_files_without_bond_overlap_get_ql_implied(mixed_runs, tmp_path):
    """EA Gaussian files written before link_overlap_bonds existed: read (NaN), no identity
    rows, and ql_implied = 1 + T e_J / 3 instead."""
    for seed in (1, 2):
        dst = tmp_path / f"s{seed}.h5"
        shutil.copy(mixed_runs / f"ea/s{seed}.h5", dst)
        with h5py.File(dst, "r+") as f:
            del f["timeseries/link_overlap_bonds"]
    res = analyze([tmp_path], None)
    (g,) = res.groups
    q = {r["quantity"] for r in res.tables["table"]}
    assert "ql_implied" in q
    assert not q & {"identity_lhs", "identity_rhs", "identity_diff", "link_overlap_bonds"}
    e, _ = _value(res, g.label, "energy")
    implied, _ = _value(res, g.label, "ql_implied")
    np.testing.assert_allclose(implied, 1.0 + g.temperatures * e / 3.0, rtol=1e-12)


def test_group_mixing_old_and_new_files_warns(mixed_runs, tmp_path):
    """One EA file with the bond overlap, one without: no q_b or identity rows (as with no
    file having it: ql_implied instead), and a warning names the group and says why."""
    for seed in (1, 2):
        shutil.copy(mixed_runs / f"ea/s{seed}.h5", tmp_path / f"s{seed}.h5")
    with h5py.File(tmp_path / "s2.h5", "r+") as f:
        del f["timeseries/link_overlap_bonds"]
    res = analyze([tmp_path], None)
    (g,) = res.groups
    msgs = [m for m in res.warnings if "link_overlap_bonds" in m]
    assert len(msgs) == 1 and msgs[0].startswith(f"{g.label}: 1 of 2 samples"), res.warnings
    q = {r["quantity"] for r in res.tables["table"]}
    assert not q & {"identity_diff", "link_overlap_bonds"} and "ql_implied" in q
    # both with it, or both without: no such warning
    res = analyze([mixed_runs / "ea"], None)
    assert not [m for m in res.warnings if "link_overlap_bonds" in m]


# ---- outputs: figures equal the tables -------------------------------------------------------


def test_every_figure_shows_its_table(mixed_result):
    res = mixed_result
    out = res.out_dir
    tables = {"table": read_csv(out / "table.csv"), "equilibration": read_csv(out / "equilibration.csv")}
    names = {(r.name, r.path.name) for r in res.figures}
    kinds = {n for n, _ in names}
    assert {"binder", "chi_sg", "chi_sg_scaled", "xi_over_L", "energy", "swap_acceptance",
            "equilibration"} <= kinds
    assert ("binder", "binder_sk_ising.png") in names
    n_curves = 0
    for rec in res.figures:
        assert rec.path.is_file() and rec.path.stat().st_size > 5000
        fig = rec.figure
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
            assert ax.get_legend() is not None
        assert rec.curves
        for c in rec.curves:
            ax = fig.axes[c.axes]
            conts = [k for k in ax.containers if k.get_label() == c.label]
            assert len(conts) == 1, (rec.name, c.label)
            cont = conts[0]
            x = np.asarray(cont.lines[0].get_xdata(), float)
            y = np.asarray(cont.lines[0].get_ydata(), float)
            segs = cont.lines[2][0].get_segments()
            # the same rows read back from the CSV file on disk
            rows = [r for r in tables[c.table]
                    if all((r[k] == v if not isinstance(v, float) else r[k] == v)
                           for k, v in c.filter.items())
                    and math.isfinite(r["value"]) and math.isfinite(r[c.x])]
            rows.sort(key=lambda r: r[c.x])
            assert len(rows) == x.size > 0
            np.testing.assert_array_equal(x, [r[c.x] for r in rows])
            np.testing.assert_array_equal(y, [r["value"] for r in rows])
            for seg, r in zip(segs, rows):
                if math.isfinite(r["error"]):
                    np.testing.assert_allclose(seg[:, 1], [r["value"] - r["error"],
                                                           r["value"] + r["error"]], rtol=1e-12)
                else:
                    assert len(seg) == 0
            n_curves += 1
    assert n_curves >= 20
    # the sizes are in the legend
    binder = next(r for r in res.figures if r.name == "binder" and "sk_ising.png" in r.path.name)
    labels = [t.get_text() for t in binder.figure.axes[0].get_legend().get_texts()]
    assert labels == ["N = 16 (4 samples)", "N = 32 (4 samples)"]


def test_hdf5_tables_equal_csv(mixed_result):
    out = mixed_result.out_dir
    h5 = read_tables(out / "analysis.h5")
    for name in ("table", "crossings", "tc", "equilibration", "drift", "groups"):
        rows = read_csv(out / f"{name}.csv")
        cols = h5[name]
        for col in cols:
            vals = cols[col]
            assert len(vals) == len(rows)
            for v, r in zip(vals, rows):
                if isinstance(r[col], float):
                    if isinstance(v, (bool, np.bool_)):
                        continue
                    assert (math.isnan(r[col]) and math.isnan(v)) or r[col] == v
                elif isinstance(v, (bool, np.bool_)):
                    assert r[col] == ("true" if v else "false")
                else:
                    assert str(v) == r[col]
    with h5py.File(out / "analysis.h5", "r") as f:
        assert f.attrs["format"] == "rkky_mc_analysis"
        assert len(f["inputs"]) == 14


@pytest.mark.parametrize("quantity", ["binder", "chi_sg_scaled"])
def test_crossing_row_consistent_with_curves(mixed_result, quantity):
    (c,) = [r for r in mixed_result.tables["crossings"] if r["quantity"] == quantity]
    from rkky_mc.analysis import estimators as stats

    def curve(group):
        rows = sorted(_rows(mixed_result, group=group, quantity=quantity), key=lambda r: r["T"])
        return (np.array([r["T"] for r in rows]), np.array([r["value"] for r in rows]),
                np.array([r["error"] for r in rows]))

    T1, g1, e1 = curve("sk_ising_N16")
    T2, g2, e2 = curve("sk_ising_N32")
    x, n = stats.find_crossing(T1, g1, T2, g2, err1=e1, err2=e2)
    if math.isnan(x):
        assert math.isnan(c["T_cross"])
    else:
        assert c["T_cross"] == pytest.approx(x, abs=1e-12)
        assert c["n_roots"] == n


# ---- command line -----------------------------------------------------------------------------


def test_cli_analyze(mixed_runs, tmp_path):
    out = tmp_path / "o"
    res = CliRunner().invoke(analyze_command, [str(mixed_runs / "sk"), "--out", str(out), "--no-figures"])
    assert res.exit_code == 0, res.output
    assert (out / "table.csv").is_file() and (out / "analysis.h5").is_file()
    assert not list(out.glob("*.png"))
    assert "sk_ising_N16: 4 sample(s)" in res.output
    # --quiet: no summary
    res = CliRunner().invoke(analyze_command, [str(mixed_runs / "sk/N32"), "--out", str(out), "--quiet"])
    assert res.exit_code == 0 and res.output == ""
    # one size: no crossings, but the figures all the same
    assert (out / "binder_sk_ising.png").is_file() and (out / "chi_sg_sk_ising.png").is_file()
    assert read_csv(out / "crossings.csv") == []


def test_out_dir_inside_the_inputs_is_not_read(mixed_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(mixed_runs / "sk/N32", runs)
    for _ in range(2):
        res = analyze([runs], runs / "analysis", figures=False)
        assert len(res.files) == 4 and res.warnings == []
    assert (runs / "analysis/analysis.h5").is_file()


@pytest.mark.parametrize("case", ["missing", "foreign", "empty", "out_is_file", "prev", "no_paths"])
def test_cli_bad_input_exit_2(case, mixed_runs, tmp_path):
    out = tmp_path / "o"
    if case == "missing":
        args = [str(tmp_path / "nope.h5"), "--out", str(out)]
    elif case == "foreign":
        args = [str(mixed_runs / "foreign.h5"), "--out", str(out)]
    elif case == "empty":
        (tmp_path / "empty").mkdir()
        args = [str(tmp_path / "empty"), "--out", str(out)]
    elif case == "out_is_file":
        (tmp_path / "f").write_text("x")
        args = [str(mixed_runs / "sk/N16/s1.h5"), "--out", str(tmp_path / "f")]
    elif case == "prev":
        args = [str(mixed_runs / "sk/N16/s2.h5.prev"), "--out", str(out)]
    else:
        args = ["--out", str(out)]
    res = CliRunner().invoke(analyze_command, args)
    assert res.exit_code == 2, (res.output, res.exception)
    if case != "no_paths":      # click's own usage error
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("rkky-mc: error: ")
    assert not (out / "table.csv").exists()
