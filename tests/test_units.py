"""Physical units (issue 19, items 1-2): host presets, temperatures in kelvin, calibrate.

The presets are checked against the closed forms k_F = (12π²)^(1/3)/a and E_F = ħ²k_F²/2m_e
to the digits of the issue; the runs are tiny (N = 10 RKKY spins, a few sweeps)."""
from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import config_text, read_h5
from digest_matrix import StopAfter, file_digests

from rkky_mc import units
from rkky_mc.calibrate import calibrate
from rkky_mc.cli import main
from rkky_mc.config import KF_FREE_ELECTRON_FCC, ConfigError, load_config

# N = round(0.3 · 4 · 2³) = 10 impurities: the smallest RKKY sample worth running
TINY = {"model": "rkky", "L": 2, "concentration": 0.3, "seed": 5}
SHORT = {"replicas": 2, "thermalization": 2, "sweeps": 6, "seed": 3}
J0_K = 43.47826086956522          # an awkward scale: T_K / J0_K is not exact in binary
GIVEN_K = [7.0, 11.0, 19.0, 31.0]


def _run(tmp_path, name, sample, anneal, args=()):
    out = tmp_path / f"{name}.h5"
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(config_text(sample, anneal, {"path": str(out)}))
    result = CliRunner().invoke(main, ["run", str(cfg), "--quiet", *args])
    return result, out


# ---- presets -------------------------------------------------------------------------------


def test_cu_kf_a_is_the_default_kf():
    assert abs(units.kf_times_a(units.HOSTS["Cu"]) - 4.910891) < 1e-6
    assert units.kf_times_a(units.HOSTS["Cu"]) == KF_FREE_ELECTRON_FCC  # same bits: same couplings
    assert abs(KF_FREE_ELECTRON_FCC - (3 * math.pi**2 * 4) ** (1 / 3)) < 1e-14


@pytest.mark.parametrize("host,a,kf,ef", [("Cu", 3.615, 1.3585, 7.03), ("Ag", 4.086, 1.2019, 5.50),
                                          ("Au", 4.078, 1.2042, 5.53)])
def test_presets_have_the_issue_digits(host, a, kf, ef):
    h = units.HOSTS[host]
    assert h.lattice_constant_angstrom == a and h.lattice == "fcc"
    k = units.kf_per_angstrom(h)
    assert abs(k - kf) <= 0.5e-4, k           # the issue's 4 decimals
    assert abs(units.fermi_energy_ev(k) - ef) <= 0.5e-2, units.fermi_energy_ev(k)


def test_hbar2_over_2me_is_codata():
    # 3.80998212 eV Å² (CODATA 2018); against scipy's table where installed (test extra)
    assert abs(units.HBAR2_OVER_2ME_EV_A2 - 3.80998212) < 1e-8
    sc = pytest.importorskip("scipy.constants")
    ref = sc.hbar**2 / (2 * sc.m_e) / sc.e * 1e20
    assert math.isclose(units.HBAR2_OVER_2ME_EV_A2, ref, rel_tol=1e-8)  # 2018 vs 2022: 3e-10


# ---- bad input -----------------------------------------------------------------------------

BAD = [
    ("unknown-host", {"host": "Fe"}, {}, "sample.host"),
    ("host-continuum", {"host": "Cu", "lattice": "continuum"}, {}, "sample.host"),
    ("host-sk", {"model": "sk", "N": 8, "host": "Ag"}, {}, "sample.host"),
    ("host-ea", {"model": "ea", "L": 3, "host": "Au"}, {}, "sample.host"),
    ("kelvin-without-scale", {}, {"temperatures": [5.0, 10.0], "temperature_unit": "K"},
     "anneal.temperature_unit"),
    ("unit-unknown", {"J0_kelvin": 40.0}, {"temperature_unit": "mK"}, "anneal.temperature_unit"),
    ("scale-negative", {"J0_kelvin": -40.0}, {}, "sample.J0_kelvin"),
    ("scale-string", {"J0_kelvin": "40 K"}, {}, "sample.J0_kelvin"),
    ("impurity-number", {"impurity": 25}, {}, "sample.impurity"),
    ("kelvin-below-min", {"J0_kelvin": 1e12}, {"temperatures": [1e-3, 1.0], "temperature_unit": "K"},
     "anneal.temperatures"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_unit_input_is_one_line_exit_2(tmp_path, case):
    _name, sample, anneal, key = case
    result, out = _run(tmp_path, "bad", dict(TINY, **sample), dict(SHORT, **{"temperatures": [0.5, 1.0], **anneal}))
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rkky-mc: error: "), err
    assert key in err and "Traceback" not in result.output, err
    assert not out.exists()  # before any work


# ---- runs ----------------------------------------------------------------------------------


def test_host_without_kf_keeps_the_bits(tmp_path):
    anneal = dict(SHORT, temperatures=[0.3, 0.6])
    r0, plain = _run(tmp_path, "plain", TINY, anneal)
    r1, cu = _run(tmp_path, "cu", dict(TINY, host="Cu", impurity="Mn"), anneal)
    assert r0.exit_code == 0 and r1.exit_code == 0, (r0.output, r1.output)
    a, b = read_h5(plain), read_h5(cu)
    assert a["@sample"]["sha256"] == b["@sample"]["sha256"]
    assert file_digests(plain) == file_digests(cu)
    s = b["@sample"]
    assert s["host"] == "Cu" and s["impurity"] == "Mn" and s["lattice_constant_angstrom"] == 3.615
    assert s["kf_per_angstrom"] == KF_FREE_ELECTRON_FCC / 3.615
    assert s["fermi_energy_ev"] == units.fermi_energy_ev(KF_FREE_ELECTRON_FCC / 3.615)
    assert "host" not in a["@sample"] and "temperatures_kelvin" not in a


def test_explicit_kf_wins_and_info_says_so(tmp_path):
    result, out = _run(tmp_path, "kf", dict(TINY, host="Ag", kf=4.5), dict(SHORT, temperatures=[0.5, 1.0]))
    assert result.exit_code == 0, result.output
    s = read_h5(out)["@sample"]
    assert s["kf_per_angstrom"] == 4.5 / 4.086 and s["scale_two_kf"] == 9.0
    info = CliRunner().invoke(main, ["info", str(out)]).output
    assert "explicit sample.kf = 4.5" in info and "4.910891" in info, info


def _kelvin_cfg(tmp_path, name, ladder):
    text = config_text(dict(TINY, host="Cu", J0_kelvin=J0_K),
                       dict(SHORT, temperatures=ladder, temperature_unit="K"),
                       {"path": str(tmp_path / f"{name}.h5")})
    return load_config(text=text)


def test_kelvin_run_stores_both_ladders(tmp_path):
    result, out = _run(tmp_path, "k", dict(TINY, J0_kelvin=J0_K),
                       dict(SHORT, temperatures=GIVEN_K, temperature_unit="K"))
    assert result.exit_code == 0, result.output
    d = read_h5(out)
    T, TK = d["temperatures"], d["temperatures_kelvin"]
    np.testing.assert_array_equal(T, np.array(GIVEN_K) / J0_K)        # converted once
    np.testing.assert_array_equal(TK, T * J0_K)                        # the contract, exactly
    np.testing.assert_allclose(TK, GIVEN_K, rtol=4 * np.finfo(float).eps, atol=0)  # ≤ 1 ulp of a round trip
    assert d["@temperatures_kelvin"]["units"] == "K" and d["@sample"]["J0_kelvin"] == J0_K
    info = CliRunner().invoke(main, ["info", str(out)]).output
    assert "temperatures in K" in info and "7 11 19 31" in info, info


def test_kelvin_ladder_round_trips_through_the_stored_config(tmp_path):
    cfg = _kelvin_cfg(tmp_path, "rt", {"min": 3.3, "max": 47.0, "count": 7})
    again = load_config(text=cfg.to_toml())
    assert again.to_toml() == cfg.to_toml()
    assert again.temperature_array.tobytes() == cfg.temperature_array.tobytes()
    assert "J0_kelvin" not in load_config().to_toml()   # unset: not written, default on load


def test_resumed_kelvin_run_has_the_uninterrupted_bits(tmp_path):
    from rkky_mc import provenance
    from rkky_mc.couplings import build_sample
    from rkky_mc.simulation import prepare_resume, resume_run, start_run

    prov = provenance.collect()
    ladder = {"min": 3.3, "max": 47.0, "count": 5}
    paths = []
    for name, stop in (("whole", None), ("cut", StopAfter(3))):
        cfg = _kelvin_cfg(tmp_path, name, ladder)
        sample = build_sample(cfg.sample, precision=cfg.anneal.precision)
        sim = start_run(cfg, sample, cfg.output.path, prov, stop=stop, threads=1)
        if stop is not None:
            assert not sim.finished and sim.sweeps_done == 3
            sim, info = prepare_resume(cfg.output.path)   # reloads the stored (kelvin) config
            sim = resume_run(sim, info, prov, threads=1)
        assert sim.finished
        paths.append(cfg.output.path)
    whole, cut = (read_h5(p) for p in paths)
    assert whole["temperatures"].tobytes() == cut["temperatures"].tobytes()
    assert whole["temperatures_kelvin"].tobytes() == cut["temperatures_kelvin"].tobytes()
    assert file_digests(paths[0]) == file_digests(paths[1])


def test_analyze_adds_kelvin_columns_and_axis(tmp_path):
    from rkky_mc.analysis import analyze

    result, out = _run(tmp_path, "k", dict(TINY, J0_kelvin=J0_K),
                       dict(SHORT, temperatures=GIVEN_K, temperature_unit="K"))
    assert result.exit_code == 0, result.output
    res = analyze([out], tmp_path / "an", keep_figures=True)
    rows = [r for r in res.tables["table"] if np.isfinite(r["T"])]   # round_trips: T = nan
    assert rows and all(r["T_K"] == r["T"] * J0_K for r in rows)
    assert all(r["T_K"] == r["T"] * J0_K for r in res.tables["equilibration"])
    assert res.tables["groups"][0]["J0_kelvin"] == J0_K
    binder = next(f for f in res.figures if f.name == "binder")
    tops = [c for c in binder.figure.axes[0].child_axes if "T [K]" in c.get_xlabel()]
    assert len(tops) == 1
    lo, hi = binder.figure.axes[0].get_xlim()
    # the secondary axis maps T [J0] to T [K] by the factor J0_kelvin
    assert math.isclose(tops[0]._functions[0](hi), hi * J0_K)


def test_analyze_without_scale_has_nan_kelvin_columns():
    from rkky_mc.analysis.tables import add_kelvin_columns

    class G:
        label, series, J0_kelvin = "g", "s", math.nan

    tables = {"table": [{"group": "g", "T": 0.5}], "tc": [{"series": "s", "value": 0.2, "error": 0.01}]}
    add_kelvin_columns(tables, [G()])
    assert math.isnan(tables["table"][0]["T_K"]) and math.isnan(tables["tc"][0]["value_K"])


# ---- calibrate -----------------------------------------------------------------------------


def test_calibrate_arithmetic_and_error():
    tk, dtk, tj, dtj = 10.0, 0.5, 0.25, 0.01
    cal = calibrate(tk, dtk, tj, dtj)
    assert cal.J0_kelvin == 40.0
    # linear propagation from the partial derivatives of f(a, b) = a / b
    df_da, df_db = 1.0 / tj, -tk / tj**2
    assert math.isclose(cal.J0_kelvin_error, math.hypot(df_da * dtk, df_db * dtj), rel_tol=1e-14)
    assert math.isclose(cal.J0_kelvin_error, 40 * math.sqrt(0.05**2 + 0.04**2), rel_tol=1e-14)
    assert calibrate(10.0, 0.0, 0.25, 0.0).J0_kelvin_error == 0.0


def _tables(d):
    d.mkdir()
    (d / "tc.csv").write_text(
        "series,quantity,method,value,error,n_pairs,pairs,value_K,error_K\n"
        "rkky_ising_fcc_c0.01,xi_over_L,largest_pair,0.25,0.01,1,6-8,nan,nan\n"
        "rkky_ising_fcc_c0.01,binder,largest_pair,0.3,0.05,1,6-8,nan,nan\n"
        "rkky_heisenberg_fcc_c0.01,xi_over_L,largest_pair,0.125,0.005,1,6-8,nan,nan\n"
        "rkky_ising_fcc_c0.02,xi_over_L,largest_pair,0.5,0.02,1,6-8,nan,nan\n")
    (d / "groups.csv").write_text(
        "group,series,spin,concentration\n"
        "rkky_ising_fcc_c0.01_L6,rkky_ising_fcc_c0.01,ising,0.01\n"
        "rkky_heisenberg_fcc_c0.01_L6,rkky_heisenberg_fcc_c0.01,heisenberg,0.01\n"
        "rkky_ising_fcc_c0.02_L6,rkky_ising_fcc_c0.02,ising,0.02\n")
    return d


def _calibrate(*args):
    return CliRunner().invoke(main, ["calibrate", "--tg-kelvin", "10", *args])


def test_calibrate_from_tc_csv(tmp_path):
    d = _tables(tmp_path / "an")
    r = _calibrate("--from", str(d / "tc.csv"), "--c", "0.01", "--spin", "heisenberg")
    assert r.exit_code == 0, r.output
    assert "J0_kelvin = 80 ± 3.2" in r.output and "not an ab initio value" in r.output
    assert "sample.J0_kelvin=80.0" in r.output and "rkky_heisenberg_fcc_c0.01" in r.output
    r = _calibrate("--from", str(d), "--c", "0.02", "--tg-kelvin-err", "1")
    assert r.exit_code == 0 and "J0_kelvin = 20 ± 2.2" in r.output, r.output   # 20·√(0.1² + 0.04²) = 2.15


@pytest.mark.parametrize("args,key", [
    (["--from", "@", "--c", "0.01"], "--series"),                 # ising and heisenberg match
    (["--from", "@", "--c", "0.05"], "--c"),                      # no such concentration
    (["--from", "@", "--c", "0.01", "--spin", "ising", "--method", "extrapolated"], "--from"),
    (["--from", "@table.csv", "--c", "0.01"], "--from"),          # not a tc.csv
    (["--from", "@missing.csv", "--c", "0.01"], "--from"),
    (["--from", "@"], "--c"),
    (["--tg-j0", "0.25"], "--tg-j0-err"),
    (["--tg-j0", "-0.25", "--tg-j0-err", "0.01"], "--tg-j0"),
    (["--tg-j0", "0.25", "--tg-j0-err", "0.01", "--from", "@"], "--from"),
    ([], "--from"),
])
def test_calibrate_bad_input(tmp_path, args, key):
    d = _tables(tmp_path / "an")
    (d / "table.csv").write_text("group,T,value\ng,0.5,1.0\n")
    args = [str(d / a[1:]) if a.startswith("@") else a for a in args]
    r = _calibrate(*args)
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"rkky-mc: error: {key} "), err


def test_calibrate_into_records_provenance(tmp_path):
    result, out = _run(tmp_path, "run", TINY, dict(SHORT, temperatures=[0.5, 1.0]))
    assert result.exit_code == 0
    r = _calibrate("--tg-j0", "0.25", "--tg-j0-err", "0.01", "--note", "CuMn 1 at.%", "--into", str(out))
    assert r.exit_code == 0, r.output
    with h5py.File(out, "r") as f:
        p = f["provenance"].attrs
        assert p["calibration_J0_kelvin"] == 40.0
        rec = json.loads(p["calibration"])
    assert rec["note"] == "CuMn 1 at.%" and "not an ab initio" in rec["meaning"]
    assert CliRunner().invoke(main, ["resume", str(out), "--sweeps", "2", "--quiet"]).exit_code == 0


def test_config_error_names_key_in_process():
    with pytest.raises(ConfigError, match=r"^sample\.host = 'Cu': .*fcc"):
        load_config(overrides=['sample.host="Cu"', 'sample.lattice="continuum"'])


def test_calibrate_into_refuses_a_locked_run(tmp_path):
    from rkky_mc.runtime import RunLock

    result, out = _run(tmp_path, "run", TINY, dict(SHORT, temperatures=[0.5, 1.0]))
    assert result.exit_code == 0
    with RunLock(out, enabled=True):   # as a running rkky-mc process holds it
        r = _calibrate("--tg-j0", "0.25", "--tg-j0-err", "0.01", "--into", str(out))
    assert r.exit_code == 2 and r.stderr.startswith("rkky-mc: error: --into "), r.output
    with h5py.File(out, "r") as f:
        assert "calibration" not in f["provenance"].attrs


def test_api_run_has_the_kelvin_ladder():
    import rkky_mc

    text = config_text(dict(TINY, J0_kelvin=J0_K), dict(SHORT, temperatures=GIVEN_K, temperature_unit="K"))
    run = rkky_mc.run(load_config(text=text), backend="memory", threads=1)   # the memory recorder
    np.testing.assert_array_equal(run.temperatures_kelvin, run.temperatures * J0_K)
    assert run.sample["J0_kelvin"] == J0_K
    assert rkky_mc.run(load_config(text=config_text(TINY, SHORT)), threads=1).temperatures_kelvin is None
