#!/usr/bin/env python
"""Reproduction targets of issue 17 item 4: `make repro-ea-heisenberg [QUICK=1]` and
`make repro-rkky-dm [QUICK=1]`.

    python analysis/repro.py {ea-heisenberg,rkky-dm} [--quick] [--jobs K] [--sweep-args '...']
                             [--plan] [--calibrate] [--no-sweep] [--no-run-figures]

1. writes one sweep file per set into runs/out/<name>/specs/ (rkky_mc/analysis/repro.py);
2. runs them with `rkky-mc sweep` (resumable, idempotent; exit 75 = stopped early, run the
   same command again);
3. analyses each set with rkky_mc.analysis.analyze into analysis/out/<name>/analyze_<set>/
   (tables, ξ_L/L and g curves per size), and writes analysis/out/<name>/: results.csv
   (per set and quantity — spin and chiral ξ_L/L, g, g_χ — every pair's crossing, the
   largest pair's T with its jackknife error, the reference, the shift from DM off, the
   drift verdict), dm_ratios.csv (rkky-dm: realised rms|D|/rms|J| per set and L from the
   /sample attrs), results.md (the tables as Markdown), xi_over_L.png (spin and chiral
   ξ_L/L vs T per size, one row per set) and timing.json.

<name> = repro_ea_heisenberg or repro_rkky_dm, with _quick for --quick. --plan prints every
(set, L, N, samples, ladder, schedule); --calibrate recomputes the Fert–Lévy V₁ calibration.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

from rkky_mc.analysis import analyze
from rkky_mc.analysis import repro as R
from rkky_mc.analysis.tables import write_csv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_tg import run_sweeps  # noqa: E402  (the study's sweep runner, same exit codes)

RUNS_OUT = Path("runs/out")
ANALYSIS_OUT = Path("analysis/out")
NAMES = {"xi_over_L": "spin ξ_L/L", "chiral_xi_over_L": "chiral ξ_L/L", "binder": "spin g",
         "chiral_binder": "chiral g_χ"}


def print_plan(t: R.Target) -> None:
    print(f"reproduction {t.name}: seed {t.seed}, heat bath + 1 over-relaxation, 2 replicas, "
          f"measure every {t.measure_every}")
    for name, label, extra in t.sets:
        keys = ", ".join(f"sample.{k} = {v!r}" for k, v in extra.items()) or "—"
        print(f"  set {name}: {label}; adds {keys}")
    print("set              L    N  samples  T_min  T_max  n_T  therm+sweeps")
    for r in R.plan(t):
        print(f"{r['set']:<15} {r['L']:3d} {r['N']:4d}  {r['samples']:7d}  {r['T_min']:<6g} "
              f"{r['T_max']:<6g} {r['count']:3d}  {r['thermalization']}+{r['sweeps']}")
    print(f"{sum(r['samples'] for r in R.plan(t))} run files")


def dm_ratio_rows(t: R.Target) -> list:
    """rms|D|/rms|J| per (set, L): mean, min, max over the finished files' /sample attrs."""
    import h5py
    import numpy as np

    rows = []
    for name, _, extra in t.sets:
        if not extra.get("dm"):
            continue
        for L in t.sizes:
            vals = []
            for p in sorted((R.set_dir(t, name, RUNS_OUT) / f"L={L}").glob("s*.h5")):
                with h5py.File(p, "r") as f:
                    if "dm_rms_ratio" in f["sample"].attrs:
                        vals.append(float(f["sample"].attrs["dm_rms_ratio"]))
            v = np.array(vals)
            rows.append(dict(set=name, L=L, N=R.n_spins(t, L), files=len(v),
                             mean=float(v.mean()) if len(v) else math.nan,
                             min=float(v.min()) if len(v) else math.nan,
                             max=float(v.max()) if len(v) else math.nan))
    return rows


def _fmt(v, e=None, digits=3):
    if not (isinstance(v, float) and math.isfinite(v)):
        return "—"
    if e is None or not math.isfinite(e):
        return f"{v:.{digits}g}"
    return f"{v:.{digits}g} ± {e:.2g}"


def write_markdown(t: R.Target, rows: list, ratios: list, elapsed: dict, out: Path) -> str:
    quick = t.name.endswith("_quick")
    lines = [f"# {t.name}" + (" (QUICK)" if quick else ""), ""]
    if quick:
        lines += ["**QUICK run**: the smallest sizes, few samples and short runs; it tests the "
                  "pipeline and shows what such sizes give, nothing more.", ""]
    ref = t.key == "ea-heisenberg"
    lines += ["| set | quantity | L | samples | crossings (pair: T ± jackknife error) | "
              "largest pair | " + ("reference" if ref else "shift from DM off") + " | drift |",
              "|" + "---|" * 8]
    for r in rows:
        last = ("—" if not math.isfinite(r["T_cross"])
                else f"{_fmt(r['T_cross'], r['error'])} ({r['pair']})")
        cmp = (_fmt(r["reference"]) if ref else _fmt(r["shift"], r["shift_error"]))
        ns = r["n_samples"]
        lines.append(f"| {r['set']} | {NAMES[r['quantity']]} | {r['L']} | "
                     f"{int(ns) if math.isfinite(ns) else ''} | {r['crossings'] or 'none'} | "
                     f"{last} | {cmp} | {r['drift']} |")
    if ratios:
        lines += ["", "Realised rms|D|/rms|J| (/sample attr dm_rms_ratio) per set and L: "
                  "mean [min, max] over the files", "",
                  "| set | " + " | ".join(f"L = {L}" for L in t.sizes) + " |",
                  "|---|" + "---|" * len(t.sizes)]
        for name in dict.fromkeys(r["set"] for r in ratios):
            cells = [f"{r['mean']:.3g} [{r['min']:.3g}, {r['max']:.3g}]"
                     for r in ratios if r["set"] == name]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Times: " + ", ".join(f"{k} {v:.0f} s" for k, v in elapsed.items()), ""]
    text = "\n".join(lines)
    (out / "results.md").write_text(text, encoding="utf-8")
    return text


def figure(t: R.Target, out: Path) -> Path | None:
    """xi_over_L.png: spin and chiral ξ_L/L vs T per size (columns), one row per set, from
    each set's analyze table.csv; dotted lines at the references (EA)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rkky_mc.analysis import read_csv

    names = [s[0] for s in t.sets if (out / f"analyze_{s[0]}" / "table.csv").is_file()]
    if not names:
        return None
    quantities = ("xi_over_L", "chiral_xi_over_L")
    fig, axes = plt.subplots(len(names), 2, figsize=(8, 2.6 * len(names) + 0.6), squeeze=False)
    for row, name in zip(axes, names):
        table = read_csv(out / f"analyze_{name}" / "table.csv")
        for ax, q in zip(row, quantities):
            for k, L in enumerate(t.sizes):
                pts = [r for r in table if r["quantity"] == q and r["L"] == L
                       and math.isfinite(r["value"])]
                ax.errorbar([r["T"] for r in pts], [r["value"] for r in pts],
                            yerr=[r["error"] for r in pts], color=f"C{k}", marker="o", ms=3,
                            capsize=2, label=f"L = {L}")
            if t.key == "ea-heisenberg":
                ax.axvline(R.REFERENCE[q], color="k", ls=":", lw=0.8,
                           label=f"Ogawa et al. {R.REFERENCE[q]:g}")
            ax.set_title(f"{name}: {NAMES[q]}", fontsize=9)
            ax.set_xlabel("T")
            ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "xi_over_L.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", choices=sorted(R.TARGETS))
    ap.add_argument("--quick", action="store_true", help="the QUICK sizing (≤ 10 min)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--sweep-args", default="", help="extra options for rkky-mc sweep")
    ap.add_argument("--plan", action="store_true", help="print the target and exit")
    ap.add_argument("--calibrate", action="store_true",
                    help="recompute the fert_levy V₁ calibration and exit")
    ap.add_argument("--no-sweep", action="store_true", help="analyse what is there now")
    ap.add_argument("--no-run-figures", action="store_true", help="no per-series figures")
    args = ap.parse_args(argv)
    t = R.target(args.target, args.quick)
    if args.plan:
        print_plan(t)
        return 0
    if args.calibrate:
        c = R.calibrate_fert_levy()
        print(f"fert_levy: mean rms|D|/rms|J| at V₁ = 1 over {c['samples']} samples at "
              f"L = {c['L']}: r₁ = {c['r1']:.6g} (spread {100 * c['spread']:.1f} %; "
              f"FERT_LEVY_R1 = {R.FERT_LEVY_R1:g}); V₁ = "
              + ", ".join(f"{v:g} for {k:g}" for k, v in c["strengths"].items()))
        return 0
    t_start = time.monotonic()
    elapsed = {}
    out = ANALYSIS_OUT / t.name
    out.mkdir(parents=True, exist_ok=True)
    specs = R.write_specs(t, RUNS_OUT / t.name / "specs", RUNS_OUT)
    if not args.no_sweep:
        t0 = time.monotonic()
        code = run_sweeps(specs, args.jobs, shlex.split(args.sweep_args))
        elapsed["sweeps"] = time.monotonic() - t0
        if code:
            return code
    t0 = time.monotonic()
    rows = []
    for name, _, _ in t.sets:
        d = R.set_dir(t, name, RUNS_OUT)
        if not d.is_dir():
            rows += R.result_rows(t, name, {})
            continue
        res = analyze([d], out / f"analyze_{name}", figures=not args.no_run_figures,
                      warn=lambda m: print(f"warning: {m}", file=sys.stderr))
        rows += R.result_rows(t, name, res.tables)
    if t.key == "rkky-dm":
        R.add_shifts(rows)
    write_csv(out / "results.csv", rows, R.RESULT_COLUMNS)
    ratios = dm_ratio_rows(t) if t.key == "rkky-dm" else []
    if ratios:
        write_csv(out / "dm_ratios.csv", ratios, ["set", "L", "N", "files", "mean", "min", "max"])
    figure(t, out)
    elapsed["analysis"] = time.monotonic() - t0
    elapsed["total"] = time.monotonic() - t_start
    (out / "timing.json").write_text(json.dumps(elapsed, indent=1), encoding="utf-8")
    print(write_markdown(t, rows, ratios, elapsed, out))
    print(f"repro: wrote {out}/results.csv, results.md"
          + (", dm_ratios.csv" if ratios else "") + ", xi_over_L.png, timing.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
