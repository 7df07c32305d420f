#!/usr/bin/env python
"""Summarize an `rkky-mc analyze` output directory as Markdown (stdout), with the checks of
one reproduction against known results.

    python analysis/summarize.py analysis/out/sk_ising --check sk-ising > analysis/out/sk_ising/summary.md

--check sk-ising       SK Ising: crossings of g and of χ_SG/N^(1/3) near T_c = 1 (acceptance: a
                       crossing within 0.05 of 1 with jackknife error <= 0.03; every pair of
                       both quantities is listed); above T_c e = -β/2 and
                       χ_SG -> 1/(1 - β²); the exact identity e = -(β/2)(1 - [<q²>]).
--check sk-heisenberg  SK Heisenberg (m = 3): T_c = 1/3; above it e -> -β/6, χ_SG -> 1/(1 - (β/3)²).
--check rkky           dilute RKKY: the T_g estimates from g and ξ_L/L (no reference value).
--check ea-gaussian    3D EA Gaussian Ising: the exact identity e_J = −3β(1 − [<q_b>]) with the
                       stored unweighted bond overlap q_b, every L and T (acceptance: no point
                       beyond 3σ); groups whose files lack q_b (ql_implied only) fail the check.

Only numbers from the analysis tables and the run files' provenance are printed: nothing is
invented; a check that cannot be made says so.
"""
from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np

from rkky_mc.analysis import read_csv


def fmt(v, err=None, digits=4):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if err is None or (isinstance(err, float) and not math.isfinite(err)):
        return f"{v:.{digits}g}" + ("" if err is None else " ± ?")
    return f"{v:.{digits}g} ± {err:.2g}"


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _time(s):
    try:
        return datetime.fromisoformat(str(s))
    except ValueError:
        return None


def run_times(out: Path):
    """(n files, summed run time [s], wall-clock span [s], cpu, threads, commits) from the
    provenance of the analysed run files."""
    with h5py.File(out / "analysis.h5", "r") as f:
        inputs = [p.decode() if isinstance(p, bytes) else str(p) for p in f["inputs"][()]]
    starts, ends, total, cpus, commits, threads = [], [], 0.0, set(), set(), set()
    for p in inputs:
        try:
            with h5py.File(p, "r", locking=False) as f:
                a = dict(f["provenance"].attrs) if "provenance" in f else {}
        except OSError:
            continue
        a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in a.items()}
        t0, t1 = _time(a.get("start_time", "")), _time(a.get("end_time", ""))
        cpus.add(str(a.get("cpu", "")))
        commits.add(str(a.get("git_commit", "")))
        threads.add(str(a.get("numba_threads", "")))
        if t0 and t1:
            starts.append(t0)
            ends.append(t1)
            total += (t1 - t0).total_seconds()
    span = (max(ends) - min(starts)).total_seconds() if starts else math.nan
    return len(inputs), total, span, cpus, commits, threads


def rows_of(table, **flt):
    return [r for r in table if all(r.get(k) == v for k, v in flt.items())]


def curve(table, group, quantity):
    rs = sorted(rows_of(table, group=group, quantity=quantity), key=lambda r: r["T"])
    return (np.array([r["T"] for r in rs]), np.array([r["value"] for r in rs]),
            np.array([r["error"] for r in rs]))


def paramagnet_check(table, groups, m, t_c, lines):
    """e vs −β/(2m) and χ_SG vs 1/(1 − (β/m)²) above T_c, every size (the N = ∞ values are
    approached as N grows; for Ising SK the finite-N energy is −(β/2)(1 − χ_SG/N) exactly)."""
    rows = []
    for g in sorted(groups, key=lambda g: g["N"]):
        label = g["group"]
        T, e, ee = curve(table, label, "energy")
        _, chi, ce = curve(table, label, "chi_sg")
        for t, ev, er, cv, cr in zip(T, e, ee, chi, ce):
            if t <= 1.25 * t_c:
                continue
            b = 1.0 / t
            e_th = -b / (2 * m)
            c_th = 1.0 / (1.0 - (b / m) ** 2)
            e_n = f"{e_th * (1 - cv / g['N']):.4f}" if m == 1 else "—"
            rows.append([f"{t:.4g}", int(g["N"]), fmt(ev, er), f"{e_th:.4f}", e_n,
                         fmt(cv, cr), f"{c_th:.4f}"])
    if not rows:
        lines.append(f"No temperature above 1.25 T_c = {1.25 * t_c:.3g}: paramagnet check not possible.")
        return
    rows.sort(key=lambda r: (float(r[0]), r[1]))
    lines.append("Paramagnet (T > 1.25 T_c), every size; N = ∞ values e = −β/(2m), "
                 "χ_SG = 1/(1 − (β/m)²) (m = 1 Ising, 3 Heisenberg); for Ising SK also the "
                 "finite-N energy −(β/2)(1 − χ_SG/N) implied by the exact identity:\n")
    lines.append(md_table(["T", "N", "e", "−β/(2m)", "−(β/2)(1 − χ/N)", "χ_SG", "1/(1−(β/m)²)"], rows))
    lines.append("")


IDENTITY_TEXT = {
    "sk": "Exact identity e_J = −(β/2)(1 − [⟨q²⟩]) (Ising SK, every N and T, equilibrium):\n",
    "ea": "Exact identity e_J = −3β(1 − [⟨q_b⟩]), q_b the unweighted bond overlap (EA Gaussian "
          "Ising, every L and T, equilibrium):\n",
}


def identity_check(table, groups, lines, model="sk"):
    rows, bad = [], 0
    for g in groups:
        T, d, de = curve(table, g["group"], "identity_diff")
        if T.size == 0:
            continue
        z = np.where(de > 0, np.abs(d) / de, np.nan)
        n_bad = int(np.sum(z > 3))
        bad += n_bad
        worst = int(np.nanargmax(z)) if np.any(np.isfinite(z)) else 0
        rows.append([g["group"], int(g["n_samples"]), len(T), f"{np.nanmax(z):.1f} (T = {T[worst]:.3g})",
                     n_bad])
    if rows:
        lines.append(IDENTITY_TEXT[model])
        lines.append(md_table(["group", "samples", "temperatures", "max \\|lhs − rhs\\|/σ", "> 3σ"], rows))
        lines.append("")
    return bad


def ea_identity_check(table, groups, lines):
    """EA Gaussian Ising groups: the identity with the bond overlap. Returns (n_groups with
    the identity, points beyond 3σ, groups without the bond overlap)."""
    eg = [g for g in groups if g["model"] == "ea" and g["distribution"] == "gaussian"
          and g["spin"] == "ising"]
    have = [g for g in eg if rows_of(table, group=g["group"], quantity="identity_diff")]
    missing = [g["group"] for g in eg if g not in have]
    bad = identity_check(table, have, lines, model="ea")
    if missing:
        lines.append("No bond overlap in the files of " + ", ".join(missing) + " (written before "
                     "link_overlap_bonds was stored, dense storage, or link overlap off): only "
                     "ql_implied, no check.\n")
    if have:
        rows = []
        for g in have:
            T, qb, qbe = curve(table, g["group"], "link_overlap_bonds")
            _, ql, qle = curve(table, g["group"], "link_overlap")
            rows += [[g["group"], f"{t:.4g}", fmt(a, ae), fmt(b, be)]
                     for t, a, ae, b, be in zip(T, qb, qbe, ql, qle)]
        lines.append("Bond overlap [⟨q_b⟩] (unweighted, the identity's) and link overlap "
                     "[⟨q_l⟩] (J²-weighted):\n")
        lines.append(md_table(["group", "T", "q_b", "q_l"], rows))
        lines.append("")
    return len(have), bad, missing


def crossing_check(cross, tc, series, t_c, tol, max_err, lines):
    """Crossing tables of g and (SK) χ_SG/N^(1/3); True if any crossing meets the criterion."""
    ok_any = False
    for quantity, label in (("binder", "Binder crossings"),
                            ("chi_sg_scaled", "χ_SG/N^(1/3) crossings")):
        rows = rows_of(cross, series=series, quantity=quantity)
        if not rows and quantity != "binder":
            continue
        out = []
        for r in rows:
            ok = (math.isfinite(r["T_cross"]) and abs(r["T_cross"] - t_c) <= tol
                  and math.isfinite(r["error"]) and r["error"] <= max_err)
            ok_any |= ok
            out.append([f"{r['size_name']} = {r['size1']:g} / {r['size2']:g}",
                        f"{int(r['n_samples1'])} / {int(r['n_samples2'])}",
                        fmt(r["T_cross"], r["error"]),
                        f"{r['T_cross'] - t_c:+.3f}" if math.isfinite(r["T_cross"]) else "—",
                        "yes" if ok else "no"])
        lines.append(f"{label} ({series}; expected T_c = {t_c:g}; acceptance |T× − T_c| ≤ {tol} "
                     f"with error ≤ {max_err}):\n")
        lines.append(md_table(["sizes", "samples", "T×", "T× − T_c", "accepted"], out) if out
                     else "No crossings (fewer than two sizes).")
        lines.append("")
    return ok_any


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="an `rkky-mc analyze --out` directory")
    ap.add_argument("--check", choices=["sk-ising", "sk-heisenberg", "rkky", "ea-gaussian", "none"],
                    default="none")
    args = ap.parse_args(argv)
    out = args.out
    table = read_csv(out / "table.csv")
    groups = read_csv(out / "groups.csv")
    cross = read_csv(out / "crossings.csv")
    tc = read_csv(out / "tc.csv")
    lines = [f"# {out.name}: analysis summary", ""]
    n, total, span, cpus, commits, threads = run_times(out)
    lines.append(f"{n} run files; wall-clock span of the runs {span / 60:.1f} min (first start → last "
                 f"end), summed run time {total / 60:.1f} min; CPU {', '.join(sorted(cpus)) or '?'}; "
                 f"numba threads per run {', '.join(sorted(threads)) or '?'}; rkky_mc commit "
                 f"{', '.join(sorted(commits)) or '?'}.\n")
    lines.append(md_table(
        ["group", "N", "L", "samples", "running", "T range", "measured rows", "drift flags (chance)"],
        [[g["group"], int(g["N"]), "—" if math.isnan(g["L"]) else f"{g['L']:g}", int(g["n_samples"]),
          int(g["n_running"]), f"{g['T_min']:.3g} … {g['T_max']:.3g}",
          f"{int(g['n_measured_min'])}–{int(g['n_measured_max'])}",
          f"{int(g['drift_flags'])}/{int(g['drift_tests'])} ({g['drift_expected_by_chance']:.1f})"]
         for g in groups]))
    lines.append("")
    if tc:
        lines.append("T_c estimates (jackknife errors over samples):\n")
        lines.append(md_table(["series", "quantity", "method", "pairs", "T_c"],
                              [[r["series"], r["quantity"], r["method"], r["pairs"], fmt(r["value"], r["error"])]
                               for r in tc]))
        lines.append("")
    status = 0
    if args.check in ("sk-ising", "sk-heisenberg"):
        m, t_c = (1, 1.0) if args.check == "sk-ising" else (3, 1.0 / 3.0)
        series = "sk_ising" if m == 1 else "sk_heisenberg"
        sg = [g for g in groups if g["series"] == series]
        if not sg:
            lines.append(f"No group of series {series}: check not possible.")
            status = 1
        else:
            ok = crossing_check(cross, tc, series, t_c, 0.05, 0.03, lines)
            paramagnet_check(table, sg, m, t_c, lines)
            bad = identity_check(table, sg, lines) if m == 1 else 0
            verdict = "PASS" if ok and not bad else "FAIL"
            lines.append(f"**{verdict}**: crossing criterion {'met' if ok else 'not met'}"
                         + (f"; identity beyond 3σ at {bad} point(s)" if m == 1 else "") + ".")
            status = 0 if verdict == "PASS" else 1
    elif args.check == "rkky":
        if not tc:
            lines.append("No T_g estimate (fewer than two sizes or no crossing).")
    elif args.check == "ea-gaussian":
        n_have, bad, missing = ea_identity_check(table, groups, lines)
        if not n_have and not missing:
            lines.append("No EA Gaussian Ising group: check not possible.")
        ok = n_have > 0 and not bad and not missing
        lines.append(f"**{'PASS' if ok else 'FAIL'}**: identity checked in {n_have} group(s)"
                     f", beyond 3σ at {bad} point(s)"
                     + (f"; {len(missing)} group(s) without the bond overlap" if missing else "") + ".")
        status = 0 if ok else 1
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
