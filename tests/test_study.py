"""The T_g(c) study's pure parts (rkky_mc/analysis/study.py): its sweep files expand to the
stated (c, L, N) list, the tg.csv rows, the per-(set, spin) calibration and the slope fit on
synthetic analyze tables. The study itself (make study-tg) is not run here."""
from __future__ import annotations

import math

import pytest

from rkky_mc.analysis import read_csv
from rkky_mc.analysis import study as S
from rkky_mc.sweep.spec import load_sweep

# the sizes (L, N = round(4 c L³)) stated in analysis/README.md ("T_g(c) study")
FULL_SIZES = {0.005: [(11, 27), (14, 55), (18, 117), (23, 243)],
              0.01: [(9, 29), (11, 53), (14, 110), (18, 233)],
              0.02: [(7, 27), (9, 58), (11, 106), (14, 220)],
              0.04: [(6, 35), (7, 55), (9, 117), (11, 213)],
              0.08: [(5, 40), (6, 69), (7, 110), (9, 233)]}
QUICK_SIZES = {0.005: [(9, 15), (12, 35), (15, 68)], 0.01: [(7, 14), (9, 29), (12, 69)],
               0.02: [(6, 17), (7, 27), (9, 58)], 0.04: [(5, 20), (6, 35), (7, 55)],
               0.08: [(4, 20), (5, 40), (6, 69)]}


@pytest.mark.parametrize("v, stated", [(S.FULL, FULL_SIZES), (S.QUICK, QUICK_SIZES)])
def test_specs_expand_to_the_stated_sizes(tmp_path, v, stated):
    paths = S.write_specs(v, tmp_path / "specs", tmp_path / "out", say=lambda m: None)
    runnable = [st for st in S.sets(v) if st["runs"]]
    assert len(paths) == len(runnable) * len(S.CONCENTRATIONS)
    for p in paths:
        sw = load_sweep(p)
        st = next(s for s in runnable if p.name.startswith(s["name"] + "_c"))
        c = float(sw.values["sample.concentration"][0])
        want = stated[c] if st["n_targets"] == v.n_targets else stated[c][:len(st["n_targets"])]
        assert [int(L) for L in sw.values["sample.L"]] == [L for L, _ in want]
        assert len(sw.tasks) == st["samples"] * len(want) * len(st["spins"])
        seen = set()
        for task in sw.tasks[:sw.n_points]:      # every grid point once (sample 0)
            cfg = task.config.sample
            assert cfg.concentration == c and cfg.host == "Cu" and cfg.model == "rkky"
            assert (cfg.L, S.spins_of(c, cfg.L)) in want
            assert cfg.damping == st["damping"]
            # the DM set: issue 17's random model, Heisenberg only; the others isotropic
            want_dm = ("random", 0.1) if st["name"] == "dm_random" else ("none", 0.0)
            assert (cfg.dm, cfg.dm_strength) == want_dm and cfg.spin in st["spins"]
            a = task.config.anneal
            T = task.config.temperature_array
            lo, hi = S.LADDER_OVER_C[cfg.spin]
            # the ladder is fixed in T/c (T_g ∝ c for undamped RKKY); the damped set's reaches
            # lower at the same spacing
            assert T[0] == pytest.approx(lo * st["low"] * c) and T[-1] == pytest.approx(hi * c)
            assert T[1] / T[0] == pytest.approx((hi / lo) ** (1 / (v.count - 1)), rel=0.05)
            assert len(T) == v.count if st["low"] == 1 else len(T) > v.count
            assert a.update == ("heatbath" if cfg.spin == "heisenberg" else "metropolis")
            assert (a.thermalization, a.sweeps) == getattr(v, cfg.spin)
            seen.add((cfg.L, cfg.spin))
        assert len(seen) == len(want) * len(st["spins"])
    # the plan lists the same sizes, and the DM set with its Heisenberg rows only
    for r in S.plan(v):
        if r["set"] == "base":
            assert (r["L"], r["N"]) in stated[r["c"]]
    dm_rows = [r for r in S.plan(v) if r["set"] == "dm_random"]
    assert dm_rows and all(r["runs"] and r["spin"] == "heisenberg" for r in dm_rows)
    assert len(dm_rows) == len(S.CONCENTRATIONS) * len(v.damping_n_targets)


def test_dm_set_runs_with_the_real_keys(tmp_path, monkeypatch):
    """Issue 19's DM set uses issue 17's keys: it is written, its configs build a sample whose
    /sample attr rms|D|/rms|J| is the stated 0.1, and the plan printout names its keys."""
    import importlib.util
    from pathlib import Path

    from rkky_mc.couplings import build_sample

    assert S.dm_available() == (True, "")
    said = []
    paths = S.write_specs(S.QUICK, tmp_path, tmp_path / "out", say=said.append)
    dm_paths = [p for p in paths if p.name.startswith("dm_random_c")]
    assert len(dm_paths) == len(S.CONCENTRATIONS) and not said
    sw = load_sweep(dm_paths[-1])                  # c = 8 %: N = 20 at the smallest L
    assert sw.values["sample.spin"] == ["heisenberg"]
    sample = build_sample(sw.tasks[0].config.sample)
    # random DM: |D_ij| = λ|J_ij| pair by pair, so the ratio is λ to rounding
    assert sample.dm_attrs["dm"] == "random"
    assert sample.dm_attrs["dm_rms_ratio"] == pytest.approx(0.1, rel=1e-12)
    rows = S.placeholder_rows("dm_random", S.DM_LABEL, math.inf, "not run", S.DM_SPINS)
    assert len(rows) == 5 and all(r["spin"] == "heisenberg" and r["status"] == "not run"
                                  for r in rows)
    # `make study-tg-plan` (study_tg.py --plan) lists the set and its keys
    path = Path(__file__).resolve().parents[1] / "analysis" / "study_tg.py"
    spec = importlib.util.spec_from_file_location("study_tg", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: out.append(" ".join(map(str, a))))
    mod.print_plan(S.QUICK)
    text = "\n".join(out)
    assert "set dm_random: spins heisenberg; adds sample.dm = 'random', sample.dm_strength = 0.1" in text
    assert sum(line.startswith("dm_random ") for line in out) == 15
    # a set whose keys config.py lacks is skipped with the reason (the guard stays)
    monkeypatch.setattr(S, "DM_SETTINGS", {"sample.dm": "random", "sample.dm_ratio": 0.1})
    ok, why = S.dm_available()
    assert not ok and "sample.dm_ratio" in why


def _synthetic_tables(tg: dict, spin="ising", flags=(0, 0, 0)):
    """Analyze tables of one set: three sizes per c; tc rows only where tg[c] is given."""
    groups, tc, cross = [], [], []
    for c in S.CONCENTRATIONS:
        series = f"rkky_{spin}_fcc_c{c:g}"
        for (L, N), f in zip(QUICK_SIZES[c], flags):
            groups.append(dict(series=series, spin=spin, concentration=c, L=float(L), N=float(N),
                               n_samples=24.0, drift_flags=float(f), drift_tests=48.0,
                               drift_expected_by_chance=0.13))
        (L1, _), (L2, _), (L3, _) = QUICK_SIZES[c]
        if c in tg:
            value, err = tg[c]
            tc.append(dict(series=series, quantity="xi_over_L", method="largest_pair",
                           value=value, error=err, pairs=f"{float(L2)}-{float(L3)}"))
            tc.append(dict(series=series, quantity="binder", method="largest_pair",
                           value=99.0, error=1.0, pairs=f"{L2}-{L3}"))
            cross.append(dict(series=series, quantity="xi_over_L", size1=float(L2),
                              size2=float(L3), T_cross=value, error=err))
        cross.append(dict(series=series, quantity="xi_over_L", size1=float(L1),
                          size2=float(L2), T_cross=math.nan, error=math.nan))
    return dict(groups=groups, tc=tc, crossings=cross)


def test_tg_rows_calibration_and_csv(tmp_path):
    tg = {0.01: (0.05, 0.005), 0.02: (0.10, 0.01), 0.04: (0.16, 0.008), 0.08: (0.30, 0.03)}
    rows = S.tg_rows("base", "none", math.inf, _synthetic_tables(tg))
    rows += S.tg_rows("damping", "none", 3.0, _synthetic_tables({0.02: (0.2, 0.02)},
                                                                 flags=(0, 1, 9)))
    S.calibrate_rows(rows)
    by = {(r["set"], r["c"]): r for r in rows if r["spin"] == "ising"}
    assert all(r["status"] == "not run" for r in rows if r["spin"] == "heisenberg")
    r1, r2, r05 = by["base", 0.01], by["base", 0.02], by["base", 0.005]
    # J0_kelvin = 10 K / 0.05 J0 = 200 K, relative error 0.1 (experiment without error)
    assert r1["J0_kelvin"] == pytest.approx(200.0) and r1["J0_kelvin_err"] == pytest.approx(20.0)
    assert r1["Tg_K"] == pytest.approx(10.0) and r1["Tg_K_err"] == 0.0   # by construction
    # 2 %: 0.10 × 200 = 20 K, relative errors 0.1 (own) and 0.1 (calibration) in quadrature
    assert r2["Tg_K"] == pytest.approx(20.0)
    assert r2["Tg_K_err"] == pytest.approx(20.0 * math.hypot(0.1, 0.1))
    # the tc table's float sizes ("7.0-9.0") as integers
    assert r2["pairs"] == "7-9" and r2["status"] == "ok" and r2["quantity"] == "xi_over_L"
    assert r2["crossings"] == "6/7: none; 7/9: 0.1±0.01"
    assert r2["L"] == "6 7 9" and r2["N"] == "17 27 58"
    assert r2["drift"].startswith("ok (L6 0/48")
    # no crossing at 0.5 %: NaN, honestly labelled, still carries the calibration
    assert r05["status"] == "no crossing" and math.isnan(r05["Tg_J0"]) and math.isnan(r05["Tg_K"])
    assert r05["J0_kelvin"] == pytest.approx(200.0)
    # the damping set has no 1 % point: no kelvin values, and says why; 9 flags at L9 is drift
    d2 = by["damping", 0.02]
    assert math.isnan(d2["Tg_K"]) and "no calibration" in d2["status"]
    assert d2["drift"].startswith("DRIFT at L9")
    path = tmp_path / "tg.csv"
    S.write_tg_csv(path, rows)
    back = read_csv(path)
    assert list(back[0]) == S.TG_COLUMNS and len(back) == len(rows) == 20
    b2 = next(b for b in back if b["set"] == "base" and b["c"] == 0.02)
    assert b2["Tg_K"] == r2["Tg_K"] and b2["Tg_K_err"] == r2["Tg_K_err"]   # exact round trip
    assert b2["spin"] == "ising" and b2["dm"] == "none" and b2["damping"] == math.inf


def test_loglog_slope_exact_on_a_power_law():
    rows = [dict(c=c, Tg_J0=0.3 * c**0.8, Tg_J0_err=0.01 * c**0.8 * (1 + k))
            for k, c in enumerate(S.CONCENTRATIONS)]
    rows.append(dict(c=0.03, Tg_J0=math.nan, Tg_J0_err=math.nan))   # no crossing: left out
    slope, err, n = S.loglog_slope(rows)
    assert slope == pytest.approx(0.8, abs=1e-12) and n == 5 and 0 < err < 1
    assert math.isnan(S.loglog_slope(rows[:1])[0])
