"""The T_g(c) study of dilute RKKY alloys (issue 19): its plan, its sweep files, tg.csv.

The pure parts of ``make study-tg`` (driver: analysis/study_tg.py). One sweep file per
(set, concentration), because a sweep grid is a cartesian product and the sizes differ per c:
each c gets the box sides L whose spin numbers N = round(4 c L³) come closest to the same
targets (so every c spans the same range of N, the variable the finite-size effects and the
cost depend on). Sets:

- ``base``: undamped RKKY (``sample.damping = inf``), Cu host, Ising and Heisenberg;
- ``damping``: the same, with a fixed mean free path λ = DAMPING_LAMBDA lattice constants
  (same sweep seed, so the same impurity positions as ``base``: only the couplings differ);
- ``dm_random``: Heisenberg only (DM needs vector spins), the ``random`` DM model of issue 17
  (``sample.dm = "random"``, D_ij = λ|J_ij| d̂_ij) at λ = ``sample.dm_strength`` = 0.1, so
  rms|D|/rms|J| = 0.1 exactly on every sample; the first three sizes, same sweep seed as
  ``base`` (same positions and J: the DM draws have a seed stream of their own).

Temperatures scale with c: undamped RKKY couplings fall as R⁻³ and the mean impurity spacing
R³ ∝ 1/c, so the dilute limit has T_g ∝ c at fixed N. The ladders are therefore fixed in
T/c (units J0 per unit concentration), anchored on the dilute campaign at c = 5 %
(analysis/README.md: Ising T_g ≈ 0.2–0.25 J0, T_g/c ≈ 4–5; Heisenberg ≈ 0.05–0.06 J0,
T_g/c ≈ 1–1.2).

Calibration (per (set, spin) row group, calibrate.calibrate): J0_kelvin = 10 K / T_g(1 %) of
that row group, CuMn 1 at.% ≈ 10 K (Tholence 1981). The 1 % point then agrees with
experiment by construction; only the other concentrations test the model.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..calibrate import calibrate
from ..config import SampleConfig, _toml_value
from .tables import write_csv

CONCENTRATIONS = (0.005, 0.01, 0.02, 0.04, 0.08)
SPINS = ("ising", "heisenberg")
CALIBRATION_C = 0.01
CALIBRATION_TG_KELVIN = 10.0
# CuMn spin-glass temperatures (K) vs c (fraction), Tholence 1981 as quoted in issue 19
# (1 at.% ≈ 10 K, 8 at.% ≈ 39 K): experiment, not model output
EXPERIMENT_CUMN = ((0.01, 10.0), (0.08, 39.0))
EXPERIMENT_SOURCE = "CuMn, Tholence 1981"
EXPERIMENT_SLOPE = 0.65      # log(39/10)/log(8) = 0.654
# fixed mean free path of the `damping` set, in lattice constants (3 a ≈ 11 Å in Cu): of the
# order of the mean impurity spacing (1.8 a at 1 %), so its effect on the slope is visible
DAMPING_LAMBDA = 3.0
# issue 17's `random` DM model: D_ij = λ|J_ij| d̂_ij with |d̂_ij| = 1, so λ = dm_strength is
# rms|D|/rms|J| exactly (the /sample attr dm_rms_ratio). Heisenberg only (config refuses DM
# with Ising spins), so the dm_random set has no Ising rows.
DM_SETTINGS = {"sample.dm": "random", "sample.dm_strength": 0.1}
DM_SPINS = ("heisenberg",)
DM_LABEL = "random:0.1"

# ladders in units of c (T/c, J0 per unit concentration), geometric
LADDER_OVER_C = {"ising": (2.4, 12.0), "heisenberg": (0.4, 4.0)}
# the damped set's ladders reach this factor lower (same spacing, more temperatures): in the
# QUICK run with the undamped ladders, ξ_L/L of the damped samples at c ≤ 1 % was still
# falling with L at the lowest temperature (paramagnetic there: T_g below the ladder)
DAMPING_LADDER_LOW = 0.25


@dataclass(frozen=True)
class Variant:
    """One sizing of the study: the full one, or QUICK (a pipeline smoke test)."""

    name: str                    # study name: runs/out/<name>/, analysis/out/<name>/
    seed: int                    # sweep.seed of every set (same positions in base and damping)
    n_targets: tuple             # spin numbers the sizes L per c aim at
    samples: int                 # disorder samples per (c, spin, L); damping set: damping_samples
    damping_samples: int
    damping_n_targets: tuple
    count: int                   # temperatures per ladder
    ising: tuple                 # (thermalization, sweeps), Metropolis
    heisenberg: tuple            # (thermalization, sweeps), heat bath + 1 over-relaxation
    measure_every: int = 8


FULL = Variant("study_tg", 1919, (30, 60, 120, 240), 128, 64, (30, 60, 120), 16,
               (65536, 32768), (4096, 4096))
QUICK = Variant("study_tg_quick", 1920, (16, 32, 64), 24, 24, (16, 32, 64), 12,
                (2048, 2048), (1024, 1024))


def variant(quick: bool) -> Variant:
    return QUICK if quick else FULL


def dm_available() -> tuple[bool, str]:
    """Whether the DM set can run: every key of DM_SETTINGS is a SampleConfig field (a
    guard kept from before the DM keys existed; true since issue 17 landed)."""
    fields = {f.name for f in dataclasses.fields(SampleConfig)}
    missing = [k for k in DM_SETTINGS if k.split(".", 1)[1] not in fields]
    if missing:
        return False, (f"skipped: {', '.join(missing)} not in config.py yet (issue 8's DM "
                       "models); the dm_random set is a placeholder")
    return True, ""


def sets(v: Variant) -> list[dict]:
    """The study's sets: name, the [sample] settings they add, dm label, damping, spin types,
    samples, size targets, and whether (and why not) they run."""
    ok, why = dm_available()
    return [
        dict(name="base", settings={}, dm="none", damping=math.inf, spins=SPINS,
             samples=v.samples, n_targets=v.n_targets, low=1.0, runs=True, why=""),
        dict(name="damping", settings={"sample.damping": DAMPING_LAMBDA}, dm="none",
             damping=DAMPING_LAMBDA, spins=SPINS, samples=v.damping_samples,
             n_targets=v.damping_n_targets, low=DAMPING_LADDER_LOW, runs=True, why=""),
        dict(name="dm_random", settings=dict(DM_SETTINGS), dm=DM_LABEL, damping=math.inf,
             spins=DM_SPINS, samples=v.damping_samples, n_targets=v.damping_n_targets,
             low=1.0, runs=ok, why=why),
    ]


def spins_of(c: float, L: int) -> int:
    """N = round(4 c L³): impurities on a fraction c of the 4L³ fcc sites (config.validate)."""
    return round(4 * c * L**3)


def sizes_for(c: float, n_targets) -> list[tuple[int, int]]:
    """(L, N) per target: L = round((N_target / 4c)^(1/3)), made strictly increasing."""
    out, last = [], 0
    for n in n_targets:
        L = max(round((n / (4 * c)) ** (1 / 3)), last + 1)
        out.append((L, spins_of(c, L)))
        last = L
    return out


def _sig(x: float) -> float:
    return float(f"{x:.6g}")


def ladder(c: float, spin: str, count: int, low: float = 1.0) -> dict:
    """The geometric ladder of ``spin`` at c: LADDER_OVER_C × c, ``count`` temperatures; with
    ``low`` < 1 its bottom moves down by that factor at the same ratio between neighbours
    (so more temperatures)."""
    lo, hi = LADDER_OVER_C[spin]
    if low != 1.0:
        count = 1 + round((count - 1) * math.log(hi / (lo * low)) / math.log(hi / lo))
        lo *= low
    return {"min": _sig(lo * c), "max": _sig(hi * c), "count": count}


def plan(v: Variant) -> list[dict]:
    """Every (set, c, spin, L) of the study with N, samples, ladder and schedule."""
    rows = []
    for st in sets(v):
        for c in CONCENTRATIONS:
            for spin in st["spins"]:
                therm, sweeps = getattr(v, spin)
                lad = ladder(c, spin, v.count, st["low"])
                for L, N in sizes_for(c, st["n_targets"]):
                    rows.append(dict(set=st["name"], c=c, spin=spin, L=L, N=N,
                                     samples=st["samples"], T_min=lad["min"], T_max=lad["max"],
                                     count=lad["count"], thermalization=therm, sweeps=sweeps,
                                     runs=st["runs"]))
    return rows


def sweep_name(v: Variant, set_name: str, c: float) -> str:
    return f"{v.name}_{set_name}_c{c!r}"


def set_dir(v: Variant, set_name: str, root: Path = Path("runs/out")) -> Path:
    return Path(root) / v.name / set_name


def spec_text(v: Variant, st: dict, c: float, root: Path = Path("runs/out")) -> str:
    """The sweep file of one (set, c): grid L × c × spin (the set's spin types), Heisenberg
    schedule by [[when]]."""
    sizes = sizes_for(c, st["n_targets"])
    it, ht = v.ising, v.heisenberg
    ising_lad = ladder(c, "ising", v.count, st["low"])
    heis_lad = ladder(c, "heisenberg", v.count, st["low"])
    sample = {"model": "rkky", "host": "Cu", "impurity": "Mn", "lattice": "fcc",
              "normalize": "nn", "J0": 1.0}
    sample.update({k.split(".", 1)[1]: val for k, val in st["settings"].items()})
    lines = [
        f"# Generated by rkky_mc/analysis/study.py ({v.name}, set {st['name']}, c = {c:g});",
        "# do not edit: `python analysis/study_tg.py --plan` prints the whole study.",
        "# sizes (L, N = round(4 c L^3)): " + ", ".join(f"({L}, {N})" for L, N in sizes),
        "",
        "[sweep]",
        f'name = "{sweep_name(v, st["name"], c)}"',
        f"seed = {v.seed}",
        f"samples = {st['samples']}",
        f'out_dir = "{set_dir(v, st["name"], root).as_posix()}"',
        "",
        "[grid]",
        f'"sample.L" = {_toml_value([L for L, _ in sizes])}',
        f'"sample.concentration" = [{c!r}]',
        f'"sample.spin" = {_toml_value(list(st["spins"]))}',
        "",
        "[sample]",
        *(f"{k} = {_toml_value(val)}" for k, val in sample.items()),
        "",
        "[anneal]",
        f"temperatures = {_toml_value(ising_lad)}",
        "replicas = 2",
        f"thermalization = {it[0]}",
        f"sweeps = {it[1]}",
        f"measure_every = {v.measure_every}",
        'update = "metropolis"',
        "",
        "[[when]]",
        '"sample.spin" = "heisenberg"',
        "set = { " + ", ".join(f'"{k}" = {_toml_value(val)}' for k, val in (
            ("anneal.temperatures", heis_lad), ("anneal.update", "heatbath"),
            ("anneal.overrelaxation", 1), ("anneal.thermalization", ht[0]),
            ("anneal.sweeps", ht[1]))) + " }",
        "",
    ]
    return "\n".join(lines)


def write_specs(v: Variant, spec_dir: Path, root: Path = Path("runs/out"), say=print) -> list[Path]:
    """Write the sweep files of every set that can run (a set that cannot says why not)."""
    spec_dir = Path(spec_dir)
    spec_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for st in sets(v):
        if not st["runs"]:
            say(f"study {v.name}: set {st['name']} {st['why']}")
            continue
        for c in CONCENTRATIONS:
            p = spec_dir / f"{st['name']}_c{c!r}.toml"
            text = spec_text(v, st, c, root)
            if not p.is_file() or p.read_text(encoding="utf-8") != text:
                p.write_text(text, encoding="utf-8")
            paths.append(p)
    return paths


# ---- after the sweeps: tg.csv -------------------------------------------------------------

TG_COLUMNS = ["set", "c", "c_percent", "spin", "dm", "damping", "series", "L", "N",
              "n_samples", "quantity", "method", "Tg_J0", "Tg_J0_err", "pairs", "crossings",
              "J0_kelvin", "J0_kelvin_err", "Tg_K", "Tg_K_err", "drift", "status"]
QUANTITY = "xi_over_L"
METHOD = "largest_pair"


def drift_verdict(group_rows: list) -> str:
    """Per size: drift flags / tests of the last-two-log-window check (groups.csv). A size
    is flagged when its flags exceed max(2, 3 × the number expected by chance): an isolated
    flag or two among correlated tests is not alarming (analysis/README.md)."""
    parts, bad = [], []
    for g in sorted(group_rows, key=lambda g: g["L"]):
        flags, tests = int(g["drift_flags"]), int(g["drift_tests"])
        parts.append(f"L{int(g['L'])} {flags}/{tests}")
        if flags > max(2.0, 3.0 * float(g["drift_expected_by_chance"])):
            bad.append(f"L{int(g['L'])}")
    if not parts:
        return "no groups"
    head = "ok" if not bad else "DRIFT at " + " ".join(bad)
    return f"{head} ({', '.join(parts)})"


def _isclose(a, b) -> bool:
    return isinstance(a, float) and math.isclose(a, b, rel_tol=1e-9)


def tg_rows(set_name: str, dm: str, damping: float, tables: dict, spins=SPINS) -> list[dict]:
    """One row per (c, spin) of one set from its analyze tables (dicts of row lists: groups,
    tc, crossings), for the set's spin types. Rows without a crossing get NaN and status
    'no crossing'."""
    groups, tc, cross = tables["groups"], tables.get("tc", []), tables.get("crossings", [])
    rows = []
    for c in CONCENTRATIONS:
        for spin in spins:
            gs = [g for g in groups if _isclose(g["concentration"], c) and g["spin"] == spin]
            row = dict(set=set_name, c=c, c_percent=_sig(100 * c), spin=spin, dm=dm,
                       damping=damping, series="", L="", N="", n_samples=math.nan,
                       quantity=QUANTITY, method=METHOD, Tg_J0=math.nan, Tg_J0_err=math.nan,
                       pairs="", crossings="", J0_kelvin=math.nan, J0_kelvin_err=math.nan,
                       Tg_K=math.nan, Tg_K_err=math.nan, drift="", status="")
            if not gs:
                row["status"] = "not run"
                rows.append(row)
                continue
            series = sorted({g["series"] for g in gs})
            row["series"] = ";".join(series)
            gs = sorted(gs, key=lambda g: g["L"])
            row["L"] = " ".join(str(int(g["L"])) for g in gs)
            row["N"] = " ".join(str(int(g["N"])) for g in gs)
            row["n_samples"] = float(min(g["n_samples"] for g in gs))
            row["drift"] = drift_verdict(gs)
            cr = [r for r in cross if r["series"] in series and r["quantity"] == QUANTITY]
            row["crossings"] = "; ".join(
                f"{int(r['size1'])}/{int(r['size2'])}: "
                + (f"{r['T_cross']:.4g}±{r['error']:.2g}" if math.isfinite(r["T_cross"])
                   else "none")
                for r in sorted(cr, key=lambda r: (r["size1"], r["size2"])))
            est = [r for r in tc if r["series"] in series and r["quantity"] == QUANTITY
                   and r["method"] == METHOD]
            if len(series) > 1:
                row["status"] = "several series (check groups.csv)"
            elif len(gs) < 2:
                row["status"] = "one size only"
            elif not est or not math.isfinite(est[0]["value"]):
                row["status"] = "no crossing"
            else:
                row["Tg_J0"], row["Tg_J0_err"] = float(est[0]["value"]), float(est[0]["error"])
                row["pairs"] = re.sub(r"\.0\b", "", str(est[0]["pairs"]))   # 9.0-12.0 -> 9-12
                row["status"] = "ok"
            rows.append(row)
    return rows


def placeholder_rows(set_name: str, dm: str, damping: float, why: str,
                     spins=SPINS) -> list[dict]:
    """Rows of a set that did not run (not run yet, or a set whose keys config.py lacks):
    NaN, with the reason."""
    rows = tg_rows(set_name, dm, damping, {"groups": []}, spins)
    for r in rows:
        r["status"] = why
    return rows


def calibrate_rows(rows: list) -> list:
    """J0_kelvin per (set, spin) from its own 1 % row (10 K, CuMn), then T_g in K for every
    row of that (set, spin). At 1 % T_g = 10 K with error 0 by construction; elsewhere the
    error combines the row's and the calibration's relative errors (independent samples)."""
    for key in sorted({(r["set"], r["spin"]) for r in rows}):
        group = [r for r in rows if (r["set"], r["spin"]) == key]
        ref = [r for r in group if _isclose(r["c"], CALIBRATION_C)]
        if not ref or not (math.isfinite(ref[0]["Tg_J0"]) and ref[0]["Tg_J0"] > 0
                           and math.isfinite(ref[0]["Tg_J0_err"])):
            for r in group:
                if r["status"] == "ok":
                    r["status"] = "ok (no calibration: no T_g at 1 %)"
            continue
        cal = calibrate(CALIBRATION_TG_KELVIN, 0.0, ref[0]["Tg_J0"], ref[0]["Tg_J0_err"],
                        source=f"{key[0]} {key[1]} c = 1 %", note=EXPERIMENT_SOURCE)
        rel = cal.J0_kelvin_error / cal.J0_kelvin
        for r in group:
            r["J0_kelvin"], r["J0_kelvin_err"] = cal.J0_kelvin, cal.J0_kelvin_error
            if not math.isfinite(r["Tg_J0"]):
                continue
            r["Tg_K"] = r["Tg_J0"] * cal.J0_kelvin
            if r is ref[0]:
                r["Tg_K_err"] = 0.0       # the calibration point: 10 K by construction
            else:
                r["Tg_K_err"] = r["Tg_K"] * math.hypot(r["Tg_J0_err"] / r["Tg_J0"], rel)
    return rows


def loglog_slope(rows: list) -> tuple[float, float, int]:
    """Weighted least-squares slope of log T_g vs log c over rows with a finite T_g (J0
    units; σ(log T) = σ_T/T). Returns (slope, error, points); NaN with < 2 points."""
    pts = [(math.log(r["c"]), math.log(r["Tg_J0"]), r["Tg_J0_err"] / r["Tg_J0"])
           for r in rows if math.isfinite(r["Tg_J0"]) and r["Tg_J0"] > 0
           and math.isfinite(r["Tg_J0_err"]) and r["Tg_J0_err"] > 0]
    if len(pts) < 2:
        return math.nan, math.nan, len(pts)
    w = [1 / s**2 for _, _, s in pts]
    sw = sum(w)
    xm = sum(wi * x for wi, (x, _, _) in zip(w, pts)) / sw
    ym = sum(wi * y for wi, (_, y, _) in zip(w, pts)) / sw
    sxx = sum(wi * (x - xm) ** 2 for wi, (x, _, _) in zip(w, pts))
    slope = sum(wi * (x - xm) * (y - ym) for wi, (x, y, _) in zip(w, pts)) / sxx
    return slope, math.sqrt(1 / sxx), len(pts)


SLOPE_COLUMNS = ["set", "spin", "dm", "damping", "slope", "error", "n_points"]


def slope_rows(rows: list) -> list:
    out = []
    for key in sorted({(r["set"], r["spin"]) for r in rows}):
        group = [r for r in rows if (r["set"], r["spin"]) == key]
        s, e, n = loglog_slope(group)
        out.append(dict(set=key[0], spin=key[1], dm=group[0]["dm"], damping=group[0]["damping"],
                        slope=s, error=e, n_points=n))
    return out


def write_tg_csv(path, rows) -> None:
    write_csv(path, rows, TG_COLUMNS)
