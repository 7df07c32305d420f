"""The targets of issue 6, the checks against them and the text table."""

from __future__ import annotations

from .. import kernels as _kernels  # noqa: F401  (first: numba's threading settings, cache dir)

# targets of issue 6 (one core): ns per attempted update, ratios, seconds, fractions
TARGETS = {
    "ising_sk_N1000_float64": ("ns", "<=", 60.0),
    "ising_sk_N1000_float32": ("ns", "<=", 45.0),
    "ising_sk_N2000_float64": ("ns", "<=", 125.0),
    "ising_sk_N2000_float32": ("ns", "<=", 65.0),
    "heisenberg_metropolis_N1000_float64": ("ns", "<=", 400.0),
    "heisenberg_overrelaxation_N1000_float64": ("ns", "<=", 600.0),
    "ising_ea_pm1_L8_float64": ("ns", "<=", 8.0),
    "temperature_ratio": ("ratio", ">=", 3.0),
    "run_overhead": ("overhead", "<=", 0.10),
    "startup_warm": ("wall_s", "<=", 1.0),
    "build_dense_N4000": ("seconds", "<=", 0.5),
    "memory": ("ratio", "<=", 1.1),
}
def target_checks(res: dict) -> list:
    """Every target of issue 6 with the measured figure and whether it is met."""
    rows = []

    def add(name, value, op, target, unit):
        ok = None if value is None else (value <= target if op == "<=" else value >= target)
        rows.append({"name": name, "value": value, "op": op, "target": target, "unit": unit,
                     "met": ok})

    by_name = {r["name"]: r for r in res.get("sweeps", [])}
    for name, (_, op, target) in TARGETS.items():
        if name in by_name:
            add(name, by_name[name]["ns"], op, target, "ns/update")
    # the same targets against the C reference timed in the same rounds (drift cancels)
    from .c_reference import ISSUE_C_NS

    for name, c_issue in ISSUE_C_NS.items():
        if "vs_c" in by_name.get(name, {}):
            add(f"{name} / C reference", by_name[name]["vs_c"], "<=",
                round(TARGETS[name][2] / c_issue, 3), "×")
    # issue 16's full-run targets (C / rkky_mc in the same rounds; EA against its bare sweeps
    # and against peapods 0.2.0)
    for r in res.get("full_runs", []):
        if "c_over_rkky" in r:
            target = 0.7 if r["name"].endswith("_defaults") else 1.0
            add(f"{r['name']}: C / rkky_mc", r["c_over_rkky"], ">=", target, "×")
        if "vs_bare" in r:
            add(f"{r['name']}: full / bare sweeps", r["vs_bare"], "<=", 1.4, "×")
        if "peapods_over_rkky" in r:
            add(f"{r['name']}: peapods / rkky_mc", r["peapods_over_rkky"], ">=", 3.0, "×")
    tr = res.get("temperature_ratio", {})
    add("T=3 / T=0.5 Ising sweep cost (N=1000)", tr.get("ratio"), ">=", 3.0, "×")
    ro = res.get("run_overhead", {}).get("ising", {})
    add("run overhead (Ising N=1000, measure_every=10)", ro.get("overhead"), "<=", 0.10, "")
    su = res.get("startup", {})
    add("tiny run, warm cache", su.get("warm_s"), "<=", 1.0, "s")
    bd = res.get("build", {}).get("dense_N4000", {})
    add("dense RKKY build N=4000", bd.get("sample_s"), "<=", 0.5, "s")
    mem = res.get("memory", {})
    add(f"peak memory (N={mem.get('N')}) / coupling matrix", mem.get("ratio"), "<=", 1.1, "×")
    add(f"peak memory (N={mem.get('N')}, float32) / coupling matrix",
        mem.get("float32", {}).get("ratio"), "<=", 1.1, "×")
    return rows


def format_table(res: dict) -> str:
    lines = []
    m = res["machine"]
    lines.append(f"rkky-mc bench {'(quick) ' if res['quick'] else ''}— {m['cpu']}, "
                 f"{m['cores']} cores, numba {m['numba']}; load average "
                 f"{m['loadavg_start'][0]:.2f} → {m['loadavg_end'][0]:.2f} "
                 "(other jobs on the machine inflate the times)")
    p0, p1 = m.get("probe_start"), m.get("probe_end")
    if p0 and p1:
        drift = max(abs(p1[k] / p0[k] - 1.0) for k in ("compute_ms", "stream_GB_per_s"))
        lines.append(f"machine probe, start → end: compute {p0['compute_ms']:.0f} → "
                     f"{p1['compute_ms']:.0f} ms, row streaming {p0['stream_GB_per_s']:.1f} → "
                     f"{p1['stream_GB_per_s']:.1f} GB/s"
                     + (" (the machine drifted during the bench)" if drift > 0.1 else ""))
    lines.append("")
    lines.append("row-streaming bandwidth (fields[w] += c·J[i], random rows, 16 walkers):")
    for k, v in res["bandwidth"].items():
        lines.append(f"  {k:<14} {v['GB_per_s']:7.1f} GB/s   (J {v['matrix_MB']:.0f} MB)")
    lines.append("")
    hdr = (f"{'sweep (1 core)':<40} {'ns/upd':>8} {'kernel':>8} {'target':>7} {'sweeps/s':>9} "
           f"{'accept':>7} {'bound':>7} {'frac':>6}")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for r in res["sweeps"]:
        tgt = f"{r['target_ns']:.0f}" if r.get("target_ns") else ""
        kern = f"{r['kernel_ns']:.1f}" if r.get("kernel_ns") is not None else ""
        lines.append(f"{r['name']:<40} {r['ns']:8.1f} {kern:>8} {tgt:>7} {r['sweeps_per_s']:9.1f} "
                     f"{r['acceptance']:7.3f} {r['bound_ns']:7.1f} {r['fraction_of_bound']:6.2f}")
    lines.append("  ns/upd: Simulation.sweep() wall time / (sweeps × N × T × R); kernel: the bare "
                 "kernel; bound: N × acceptance × bytes / bandwidth")
    c = res.get("c_reference", {})
    with_c = [r for r in res["sweeps"] if "c_reference" in r]
    if with_c:
        lines.append(f"  plain C reference of the same sweep ({c.get('compiler')} "
                     f"{c.get('flags')}), in the same rounds:")
        for r in with_c:
            cr = r["c_reference"]
            lines.append(f"    {r['name']:<36} C {cr['ns']:7.1f} ns (accept {cr['acceptance']:.3f})"
                         f"   rkky_mc / C = {r['vs_c']:.2f}")
    elif c.get("reason"):
        lines.append(f"  (C reference not run: {c['reason']})")
    lines.append("")
    tr = res["temperature_ratio"]
    lines.append(f"Ising N=1000 all walkers at T=0.5: {tr['T0.5']['ns']:.1f} ns (acc "
                 f"{tr['T0.5']['acceptance']:.3f}); at T=3: {tr['T3']['ns']:.1f} ns (acc "
                 f"{tr['T3']['acceptance']:.3f}); ratio {tr['ratio']:.2f} (target ≥ 3)")
    lines.append(f"  site-outer, every flip applied at once: {tr['one_at_a_time_T0.5']['ns']:.1f} "
                 f"and {tr['one_at_a_time_T3']['ns']:.1f} ns, ratio "
                 f"{tr['one_at_a_time_ratio']:.2f} (as run, walker-outer at T=0.5: "
                 f"{tr['T0.5']['walker_outer_walkers']} of 32; deferred at T=3: "
                 f"{tr['T3']['deferred_walkers']} of 32)")
    po = res["python_overhead"]
    lines.append(f"small N (SK N={po['N']}, W={po['W']}): sweep {po['sweep_us']:.1f} µs, kernels "
                 f"{po['kernels_us']:.1f} µs, overhead {po['overhead_us']:.1f} µs; measurement "
                 f"{po['measure_us']:.1f} µs")
    if res.get("population_annealing"):
        from .population import format_population

        lines.extend(format_population(res["population_annealing"]))
    if res.get("full_runs"):
        from .full_run import format_full_runs

        lines.extend(format_full_runs(res["full_runs"]))
    for spin, ro in res["run_overhead"].items():
        lines.append(f"run overhead {spin} N={ro['N']} (measure_every=10): "
                     f"{100 * ro['overhead']:.1f} % per sweep in steady state (target ≤ 10 %; "
                     f"link overlap {100 * ro['link_overlap_share']:.1f} %, everything else "
                     f"{100 * ro['overhead_without_link_overlap']:.1f} %); "
                     f"{ro['sweeps'][1]}-sweep run {ro['run_s'][1]:.2f} s vs bare "
                     f"{ro['bare_s'][1]:.2f} s ({100 * ro['overhead_short_run']:.1f} %, with "
                     f"{ro['fixed_s']:.3f} s of file creation and final commit)")
    b = res["build"]
    lines.append(f"dense RKKY build N={b['dense_N4000']['N']}: {b['dense_N4000']['sample_s']:.3f} s "
                 f"(kernel {b['dense_N4000']['kernel_s']:.3f} s; target ≤ 0.5 s); sparse "
                 f"N={b['sparse_N20000']['N']}: {b['sparse_N20000']['sample_s']:.3f} s")
    su = res["startup"]
    cold = "skipped" if su["cold_s"] is None else f"{su['cold_s']:.1f} s"
    lines.append(f"tiny rkky-mc run: cold cache {cold}, warm {su['warm_s']:.2f} s (target ≤ 1 s; "
                 f"python -c 'import rkky_mc.cli' alone {su['import_s']:.2f} s)")
    me = res["memory"]
    lines.append(f"peak memory N={me['N']} dense f64: {me['peak_MB']:.0f} MB − baseline "
                 f"{me['baseline_MB']:.0f} MB = {me['ratio']:.2f} × the {me['matrix_MB']:.0f} MB "
                 "coupling matrix (target ≤ 1.1)")
    if "float32" in me:
        f32 = me["float32"]
        lines.append(f"peak memory N={me['N']} dense f32: {f32['peak_MB']:.0f} MB − baseline = "
                     f"{f32['ratio']:.2f} × the {f32['matrix_MB']:.0f} MB coupling matrix")
    th = res["threads"]
    t2 = th.get("threads_2_sweeps_per_s")
    lines.append(f"two cores, Ising N={th['N']}: 1 thread {th['threads_1_sweeps_per_s']:.0f} sweeps/s, "
                 + (f"2 threads {t2:.0f} ({th['speedup_threads']:.2f}×), " if t2 else "")
                 + f"2 independent processes {th['two_processes_total_sweeps_per_s']:.0f} in total "
                 f"({th['speedup_processes']:.2f}×)")
    lines.append("")
    lines.append("targets:")
    for t in res["targets"]:
        v = "n/a" if t["value"] is None else f"{t['value']:.3g}"
        mark = {True: "met", False: "NOT met", None: "-"}[t["met"]]
        lines.append(f"  {t['name']:<52} {v:>8} {t['op']} {t['target']:<6g} {mark}")
    lines.append(f"(bench took {res['elapsed_s']:.0f} s, of which {res.get('warm_up_s', 0):.0f} s compiling or "
                 "loading kernels)")
    return "\n".join(lines)
