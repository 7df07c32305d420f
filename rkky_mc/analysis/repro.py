"""Reproduction targets of issue 17 item 4: their plans, sweep files and result rows.

The pure parts of ``make repro-ea-heisenberg`` and ``make repro-rkky-dm`` (driver:
analysis/repro.py; results in analysis/README.md, "Chirality and DM reproductions"). Each
target is a few *sets* (one sweep file each, one grid axis: the box side L) that share the
sweep seed, so every set anneals the same disorder samples (positions and J; the DM vectors
have a seed stream of their own, docs/sweeps.md "Seeding").

- ``ea-heisenberg``: 3D Edwards–Anderson Heisenberg glass, Gaussian bonds (σ = 1), simple
  cubic L³, periodic; spin and chiral ξ_L/L crossings against T_SG = 0.131 and
  T_CG = 0.142 (Ogawa, Uematsu and Kawamura, PRB 2020, L ≤ 48).
- ``rkky-dm``: dilute RKKY Heisenberg glass, c = 5 % on fcc (the ``rkky_dilute`` system of
  analysis/README.md), with the DM term off, ``random`` and ``fert_levy`` at
  rms|D|/rms|J| = 0.05 and 0.2: how the spin and chiral crossings move as DM is turned on.

``random`` has rms|D|/rms|J| = λ = ``dm_strength`` exactly. ``fert_levy``'s ratio is a
property of each sample (scatterer positions): D is linear in V₁ = ``dm_strength``, so
V₁ = ratio / r₁ with r₁ the ratio at V₁ = 1. FERT_LEVY_R1 is r₁ averaged over the first
FERT_LEVY_CALIBRATION_SAMPLES samples of the full plan at its largest size (L = 8; the
same seeds in every set), computed by :func:`calibrate_fert_levy` (``python
analysis/repro.py rkky-dm --calibrate``) and fixed here so the sweep files do not depend on
a computation; tests/test_repro.py recomputes it. One V₁ serves every size (a material
constant, as in finite-size scaling); the realised per-sample ratios (``/sample`` attr
``dm_rms_ratio``) are tabulated per size by the driver.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..config import _toml_value
from .study import drift_verdict

# Ogawa, Uematsu and Kawamura, Phys. Rev. B (2020): 3D Gaussian EA Heisenberg,
# L ≤ 48, T_SG = 0.131 and T_CG = 0.142 (units of the bond width)
OGAWA_T_SG = 0.131
OGAWA_T_CG = 0.142
OGAWA_SOURCE = "Ogawa, Uematsu and Kawamura, PRB (2020), L ≤ 48"

# rkky-dm: target ratios rms|D|/rms|J|, and the Fert–Lévy scatterers: 1 % of the fcc host
# sites (a Pt-like non-magnetic heavy impurity), ξ₀ = π Z_d/10 with Z_d = 9 (Pt 5d⁹)
DM_RATIOS = (0.05, 0.2)
RKKY_CONCENTRATION = 0.05
FERT_LEVY_CONCENTRATION = 0.01
FERT_LEVY_PHASE = 0.9 * math.pi
FERT_LEVY_CALIBRATION_SAMPLES = 16
# mean rms|D|/rms|J| at V₁ = 1 J0·a³ over samples 0…15 of the full rkky-dm plan at L = 8
# (calibrate_fert_levy(); sample-to-sample spread there 9 %, at L = 4 ≈ 30 %)
FERT_LEVY_R1 = 0.60391

# the spin-glass (ξ_L/L, g) and chiral (ξ_L/L, g_χ) quantities of the tables, with the
# reference each is compared with on EA
QUANTITIES = ("xi_over_L", "chiral_xi_over_L", "binder", "chiral_binder")
REFERENCE = {"xi_over_L": OGAWA_T_SG, "binder": OGAWA_T_SG, "chiral_xi_over_L": OGAWA_T_CG,
             "chiral_binder": OGAWA_T_CG}


def fert_levy_strength(ratio: float, r1: float = FERT_LEVY_R1) -> float:
    """V₁ (J0·a³) giving rms|D|/rms|J| = ``ratio`` on average at the calibration size."""
    return float(f"{ratio / r1:.6g}")


@dataclass(frozen=True)
class Target:
    """One sizing of a reproduction target: the full one or QUICK."""

    key: str                  # make target suffix: ea-heisenberg | rkky-dm
    name: str                 # runs/out/<name>/, analysis/out/<name>/
    seed: int                 # sweep.seed of every set
    sizes: tuple              # box sides L
    samples: int              # disorder samples per (set, L)
    temperatures: dict        # geometric ladder {min, max, count}
    schedule: tuple           # (thermalization, sweeps) per L, same order as sizes
    measure_every: int
    sample: dict              # the [sample] table shared by every set
    sets: tuple               # (set name, label, extra [sample] settings)


EA_SAMPLE = {"model": "ea", "spin": "heisenberg", "distribution": "gaussian"}
RKKY_SAMPLE = {"model": "rkky", "spin": "heisenberg", "lattice": "fcc",
               "concentration": RKKY_CONCENTRATION, "normalize": "nn", "J0": 1.0}


def _dm_sets() -> tuple:
    out = [("none", "DM off", {})]
    for r in DM_RATIOS:
        out.append((f"random_{r:g}", f"random, rms|D|/rms|J| = {r:g}",
                    {"dm": "random", "dm_strength": r}))
    for r in DM_RATIOS:
        out.append((f"fert_levy_{r:g}", f"fert_levy, rms|D|/rms|J| ≈ {r:g}",
                    {"dm": "fert_levy", "dm_strength": fert_levy_strength(r),
                     "dm_concentration": FERT_LEVY_CONCENTRATION,
                     "dm_phase": FERT_LEVY_PHASE}))
    return tuple(out)


# Ladders: EA brackets T_SG, T_CG ≈ 0.13–0.14 (0.09 … 0.27); rkky-dm the rkky_dilute
# Heisenberg ladder (T_g ≈ 0.05–0.06 J0 there). Schedules: heat bath + 1 over-relaxation,
# 2 replicas, parallel tempering; budgets in analysis/README.md (measured per-sweep cost).
EA_LADDER = {"min": 0.09, "max": 0.27, "count": 16}
RKKY_LADDER = {"min": 0.02, "max": 0.3, "count": 16}
EA_SETS = (("ea", "3D EA Gaussian Heisenberg", {}),)

TARGETS = {
    "ea-heisenberg": (
        Target("ea-heisenberg", "repro_ea_heisenberg", 1717, (4, 6, 8), 128, EA_LADDER,
               ((8192, 8192), (8192, 8192), (16384, 16384)), 16, EA_SAMPLE, EA_SETS),
        Target("ea-heisenberg", "repro_ea_heisenberg_quick", 1727, (4, 6), 32, EA_LADDER,
               ((4096, 4096), (4096, 4096)), 16, EA_SAMPLE, EA_SETS),
    ),
    "rkky-dm": (
        Target("rkky-dm", "repro_rkky_dm", 1718, (4, 6, 8), 128, RKKY_LADDER,
               ((4096, 4096),) * 3, 8, RKKY_SAMPLE, _dm_sets()),
        Target("rkky-dm", "repro_rkky_dm_quick", 1728, (4, 6), 24, RKKY_LADDER,
               ((2048, 2048),) * 2, 8, RKKY_SAMPLE, _dm_sets()),
    ),
}


def target(key: str, quick: bool = False) -> Target:
    if key not in TARGETS:
        raise ValueError(f"unknown reproduction target {key!r}; allowed: {', '.join(TARGETS)}")
    return TARGETS[key][1 if quick else 0]


def n_spins(t: Target, L: int) -> int:
    """N of size L: L³ on EA, round(4cL³) for the dilute fcc system (config.validate)."""
    if t.sample["model"] == "ea":
        return L**3
    return round(4 * t.sample["concentration"] * L**3)


def set_dir(t: Target, set_name: str, root: Path = Path("runs/out")) -> Path:
    return Path(root) / t.name / set_name


def spec_text(t: Target, set_name: str, root: Path = Path("runs/out")) -> str:
    """The sweep file of one set: grid over L, the per-L schedule by [[when]] rules."""
    _, label, extra = next(s for s in t.sets if s[0] == set_name)
    sample = dict(t.sample, **extra)
    therm0, sweeps0 = t.schedule[0]
    lines = [
        f"# Generated by rkky_mc/analysis/repro.py ({t.name}, set {set_name}: {label});",
        f"# do not edit: `python analysis/repro.py {t.key} --plan` prints the whole target.",
        "# sizes (L, N): " + ", ".join(f"({L}, {n_spins(t, L)})" for L in t.sizes),
        "",
        "[sweep]",
        f'name = "{t.name}_{set_name}"',
        f"seed = {t.seed}",
        f"samples = {t.samples}",
        f'out_dir = "{set_dir(t, set_name, root).as_posix()}"',
        "",
        "[grid]",
        f'"sample.L" = {_toml_value(list(t.sizes))}',
        "",
        "[sample]",
        *(f"{k} = {_toml_value(v)}" for k, v in sample.items()),
        "",
        "[anneal]",
        f"temperatures = {_toml_value(t.temperatures)}",
        "replicas = 2",
        f"thermalization = {therm0}",
        f"sweeps = {sweeps0}",
        f"measure_every = {t.measure_every}",
        'update = "heatbath"',
        "overrelaxation = 1",
        "",
    ]
    for L, (therm, sweeps) in zip(t.sizes, t.schedule):
        if (therm, sweeps) != (therm0, sweeps0):
            lines += ["[[when]]", f'"sample.L" = {L}',
                      f'set = {{ "anneal.thermalization" = {therm}, "anneal.sweeps" = {sweeps} }}',
                      ""]
    return "\n".join(lines)


def write_specs(t: Target, spec_dir: Path, root: Path = Path("runs/out")) -> list[Path]:
    """One sweep file per set (rewritten only when its text changes)."""
    spec_dir = Path(spec_dir)
    spec_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for set_name, _, _ in t.sets:
        p = spec_dir / f"{set_name}.toml"
        text = spec_text(t, set_name, root)
        if not p.is_file() or p.read_text(encoding="utf-8") != text:
            p.write_text(text, encoding="utf-8")
        paths.append(p)
    return paths


def plan(t: Target) -> list[dict]:
    """Every (set, L) with N, samples, ladder and schedule."""
    rows = []
    for set_name, label, extra in t.sets:
        for L, (therm, sweeps) in zip(t.sizes, t.schedule):
            rows.append(dict(set=set_name, label=label, settings=extra, L=L, N=n_spins(t, L),
                             samples=t.samples, T_min=t.temperatures["min"],
                             T_max=t.temperatures["max"], count=t.temperatures["count"],
                             thermalization=therm, sweeps=sweeps))
    return rows


def calibrate_fert_levy(samples: int = FERT_LEVY_CALIBRATION_SAMPLES) -> dict:
    """r₁ = mean rms|D|/rms|J| at V₁ = 1 over the first ``samples`` disorder samples of the
    full rkky-dm plan at its largest L (their sample seeds, from the `none` set's sweep file:
    seeds depend on the sweep seed, L and the sample index only). Returns r1, the spread,
    the per-sample ratios and the V₁ of each target ratio."""
    import tempfile

    import numpy as np

    from ..config import SampleConfig
    from ..couplings import build_sample
    from ..sweep.spec import load_sweep

    t = target("rkky-dm")
    L = max(t.sizes)
    with tempfile.TemporaryDirectory() as tmp:
        sw = load_sweep(text=spec_text(t, "none", Path(tmp)))
        seeds = [task.config.sample.seed for task in sw.tasks
                 if task.params["sample.L"] == L and task.sample < samples]
    ratios = []
    for seed in seeds:
        cfg = SampleConfig(**dict(t.sample, L=L, seed=seed, dm="fert_levy", dm_strength=1.0,
                                  dm_concentration=FERT_LEVY_CONCENTRATION,
                                  dm_phase=FERT_LEVY_PHASE))
        ratios.append(float(build_sample(cfg).dm_attrs["dm_rms_ratio"]))
    r = np.array(ratios)
    r1 = float(r.mean())
    return dict(L=L, samples=len(r), r1=r1, spread=float(r.std(ddof=1) / r1), ratios=ratios,
                strengths={ratio: fert_levy_strength(ratio, r1) for ratio in DM_RATIOS})


# ---- after the sweeps: result rows ----------------------------------------------------------

RESULT_COLUMNS = ["target", "set", "label", "quantity", "L", "N", "n_samples", "crossings",
                  "T_cross", "error", "pair", "reference", "shift", "shift_error", "drift"]


def _fmt_cross(r) -> str:
    v = r["T_cross"]
    return (f"{int(r['size1'])}/{int(r['size2'])}: "
            + (f"{v:.4g}±{r['error']:.2g}" if math.isfinite(v) else "none"))


def result_rows(t: Target, set_name: str, tables: dict) -> list[dict]:
    """One row per quantity of QUANTITIES for one set's analyze tables (groups, tc,
    crossings): every pair's crossing, the largest pair with a crossing (tc.csv
    `largest_pair`) ± jackknife error, and the drift verdict. NaN where nothing crosses."""
    label = next(s[1] for s in t.sets if s[0] == set_name)
    groups = sorted(tables.get("groups", []), key=lambda g: g["L"])
    tc, cross = tables.get("tc", []), tables.get("crossings", [])
    rows = []
    for q in QUANTITIES:
        row = dict(target=t.name, set=set_name, label=label, quantity=q,
                   L=" ".join(str(int(g["L"])) for g in groups),
                   N=" ".join(str(int(g["N"])) for g in groups),
                   n_samples=float(min((g["n_samples"] for g in groups), default=math.nan)),
                   crossings="; ".join(_fmt_cross(r) for r in sorted(
                       (r for r in cross if r["quantity"] == q),
                       key=lambda r: (r["size1"], r["size2"]))),
                   T_cross=math.nan, error=math.nan, pair="",
                   reference=REFERENCE[q] if t.key == "ea-heisenberg" else math.nan,
                   shift=math.nan, shift_error=math.nan,
                   drift=drift_verdict(groups) if groups else "not run")
        est = [r for r in tc if r["quantity"] == q and r["method"] == "largest_pair"]
        if est and math.isfinite(est[0]["value"]):
            row["T_cross"], row["error"] = float(est[0]["value"]), float(est[0]["error"])
            row["pair"] = str(est[0]["pairs"]).replace(".0", "")
        rows.append(row)
    return rows


def add_shifts(rows: list, reference_set: str = "none") -> list:
    """shift = T_cross(set) − T_cross(reference set) per quantity, the errors in quadrature.
    The sets share their disorder samples, so the two errors are positively correlated and
    the quadrature sum overstates the error of the shift."""
    ref = {r["quantity"]: r for r in rows if r["set"] == reference_set}
    for r in rows:
        b = ref.get(r["quantity"])
        if b is None or r is b or not (math.isfinite(r["T_cross"]) and math.isfinite(b["T_cross"])):
            continue
        r["shift"] = r["T_cross"] - b["T_cross"]
        r["shift_error"] = math.hypot(r["error"], b["error"])
    return rows
