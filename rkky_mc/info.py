"""`rkky-mc info FILE.h5`: a human-readable summary of a run file."""
from __future__ import annotations

import numpy as np

from . import observables_registry
from .checkpoint import metadata_edited, row_problem
from .io import recorder_for


def log_windows(sweeps: np.ndarray, values: np.ndarray):
    """Means of ``values`` (M, ...) over logarithmic windows of sweeps [2^k, 2^(k+1)).

    Sweep 0 joins the first window [0, 2). Returns a list of (lo, hi, count, mean).
    """
    out = []
    if len(sweeps) == 0:
        return out
    top = int(sweeps.max())
    k = 0
    lo = 0
    while lo <= top:
        hi = 2 ** (k + 1)
        sel = (sweeps >= lo) & (sweeps < hi)
        if sel.any():
            out.append((lo, hi, int(sel.sum()), values[sel].mean(axis=0)))
        lo = hi
        k += 1
    return out


def units_lines(s: dict, sc: dict) -> list:
    """The host preset and the kelvin scale of a run (/sample attrs ``s``, stored [sample]
    ``sc``), see rkky_mc/units.py; none for a run without them."""
    from .units import HOSTS, kf_times_a

    lines = []
    host = s.get("host")
    if host:
        line = (f"  host: {host} (fcc, a = {s.get('lattice_constant_angstrom'):g} Å), "
                f"k_F = {s.get('kf_per_angstrom'):.5g} Å⁻¹, E_F = {s.get('fermi_energy_ev'):.4g} eV")
        if "explicit" in str(s.get("kf_source", "")) and host in HOSTS:
            line += (f"; k_F from the explicit sample.kf = {sc.get('kf'):.6g} (overrides the "
                     f"free-electron k_F a = {kf_times_a(HOSTS[host]):.6f} of {host})")
        else:
            line += " (free electron, one per atom)"
        lines.append(line)
    if s.get("impurity"):
        lines.append(f"  impurity: {s.get('impurity')}")
    if s.get("J0_kelvin"):
        lines.append(f"  energy scale: J0_kelvin = {s.get('J0_kelvin'):.6g} K per coupling unit "
                     "(from the config: an empirical scale, e.g. from rkky-mc calibrate, not ab initio)")
    return lines


def ladder_lines(tp: dict, done: int) -> list:
    """The history of a self-tuning ladder (/tempering/ladder_*; drivers/ladder.py): the
    first and the current ladder and the freeze sweep; none for a fixed ladder."""
    if "ladder_history" not in tp:
        return []
    hist, sweeps = np.atleast_2d(tp["ladder_history"]), np.ravel(tp["ladder_sweeps"])
    freeze = int(tp["ladder_freeze_sweep"])
    when = (f"froze at sweep {freeze}; rows before it were measured on earlier ladders"
            if done >= freeze else f"freezes at sweep {freeze}")
    return [f"  adapted ladder (anneal.temperatures.adapt): {len(hist)} ladders, the last from "
            f"sweep {int(sweeps[-1])}; {when}",
            "    first: " + " ".join(f"{t:.4g}" for t in hist[0]),
            "    last:  " + " ".join(f"{t:.4g}" for t in hist[-1])]


def describe(path) -> str:
    """``path``: a run file, or any rkky_mc.io.Recorder."""
    recorder = recorder_for(path)
    run = recorder.read()
    s, cfg = run.sample, run.config
    anneal = cfg.get("anneal", {})
    total = int(anneal.get("thermalization", 0)) + int(anneal.get("sweeps", 0))
    lines = [f"{path}: rkky_mc run file, format {run.attrs.get('format_version')}, "
             f"written by rkky_mc {run.attrs.get('rkky_mc_version')}"]
    model = s.get("model", "?")
    desc = f"  sample: model {model}, {s.get('spin')} spins, N = {s.get('N')}, {s.get('n_pairs')} coupled pairs"
    sc = cfg.get("sample", {})
    if model == "rkky":
        desc += f" (L = {sc.get('L')}, c = {sc.get('concentration')}, k_F a = {sc.get('kf'):.4f}, {sc.get('lattice')})"
    elif model == "ea":
        desc += f" (L = {sc.get('L')}, {sc.get('distribution')})"
    lines.append(desc)
    scale = {k[6:]: v for k, v in s.items() if k.startswith("scale_")}
    if scale:
        lines.append("  coupling scale: " + ", ".join(f"{k} = {v:.6g}" for k, v in scale.items()
                                                        if isinstance(v, (int, float, np.floating))))
    if s.get("field"):
        lines.append(f"  field h = {s.get('field')}")
    if s.get("dm"):  # DM couplings (issue 17): the model, its keys, rms|D|/rms|J|
        keys = ", ".join(f"{k[3:]} = {s[k]:.6g}" for k in ("dm_strength", "dm_concentration",
                                                          "dm_phase", "dm_scatterers") if k in s)
        lines.append(f"  DM couplings: {s['dm']}" + (f" ({keys})" if keys else "")
                     + f", rms|D|/rms|J| = {float(s.get('dm_rms_ratio', float('nan'))):.4g}")
    lines += units_lines(s, sc)
    temps = run.temperatures
    lines.append(f"  temperatures ({len(temps)}): " + " ".join(f"{t:.4g}" for t in temps))
    kelvin = run.temperatures_kelvin
    if kelvin is not None:
        given = " (as given: anneal.temperature_unit = 'K')" if anneal.get("temperature_unit") == "K" else ""
        lines.append(f"  temperatures in K{given}: " + " ".join(f"{t:.4g}" for t in kelvin))
    if anneal.get("method") == "pa":  # population annealing: no time series, the /pa table
        return "\n".join(lines + _population_annealing_lines(recorder, run, anneal))
    ckpt = recorder.checkpoint_meta()
    done = int(ckpt.get("sweeps_done", 0))
    lines += ladder_lines(run.tempering, done)
    lines.append(f"  replicas (ladders) R = {run.attrs.get('R', len(run.tempering.get('half_trips', [])))}, "
                 f"update {anneal.get('update')}, over-relaxation {anneal.get('overrelaxation')}, "
                 f"measure every {anneal.get('measure_every')}")
    lines.append(f"  status: {run.status}; sweeps {done} / {total} "
                 f"(thermalization {anneal.get('thermalization')}), measurements {run.n_valid}")
    if ckpt:
        lines.append(f"  last checkpoint: {ckpt.get('time')} at sweep {done} on {ckpt.get('cpu')}")
        problem = row_problem(run.timeseries["sweep"], done, int(anneal.get("measure_every", 1)),
                              n_valid=run.n_valid)
        if recorder.backend == "hdf5" and metadata_edited(recorder.location):
            lines.append("  INCONSISTENT: the root metadata (config, n_valid, temperatures, ladder "
                         "shape) is not what the checkpoint was written with (edited by hand?); "
                         "it cannot be resumed")
        if problem:
            lines.append(f"  INCONSISTENT: {problem} (two processes advanced this file?); "
                         "it cannot be resumed")
    prov = run.provenance
    lines.append(f"  started {prov.get('start_time')} on {prov.get('host')}"
                 + (f", finished {prov.get('end_time')}" if prov.get("end_time") else "")
                 + (f", last resumed {prov.get('resumed_at')}" if prov.get("resumed_at") else ""))
    tp = run.tempering
    if "swap_acceptance" in tp and np.size(tp["swap_acceptance"]):
        acc = np.atleast_2d(tp["swap_acceptance"]).mean(axis=0)
        since = (f" (the current ladder, since sweep {int(tp['ladder_sweeps'][-1])})"
                 if "ladder_sweeps" in tp else "")
        lines.append(f"  swap acceptance per pair (t, t+1), mean over ladders{since}: "
                     + " ".join(f"{a:.2f}" for a in acc))
        lines.append("  round trips per ladder: " + " ".join(f"{r:g}" for r in np.ravel(tp.get("round_trips", []))))
    ts = run.timeseries
    lines.append("  time series (/timeseries; rows, units, cost of one measurement):")
    R = int(np.shape(ts["energy"])[-1]) if "energy" in ts else 0
    lines += observables_registry.info_lines(run.spin or "ising", len(temps), R,
                                             int(run.pairs.shape[0]),
                                             str(s.get("energy_unit", "energy unit")))
    if run.n_valid:
        e = ts["energy"].mean(axis=2)  # (M, T) mean over ladders
        show = sorted({0, len(temps) // 2, len(temps) - 1})
        lines.append("  equilibration: mean energy per spin over windows of sweeps [2^k, 2^(k+1))")
        lines.append("    {:>17}  {:>6}  ".format("sweeps", "rows") + "  ".join(f"T={temps[t]:<9.4g}" for t in show))
        for lo, hi, n, mean in log_windows(ts["sweep"], e):
            lines.append(f"    [{lo:>7}, {hi:>7})  {n:>6}  " + "  ".join(f"{mean[t]:<11.6f}" for t in show))
    return "\n".join(lines)


def _population_annealing_lines(recorder, run, anneal: dict) -> list[str]:
    ckpt = recorder.checkpoint_meta()
    total = len(run.temperatures) * int(anneal.get("sweeps_per_temperature", 0))
    lines = [f"  population annealing: R_p = {anneal.get('population')}, "
             f"{anneal.get('sweeps_per_temperature')} sweeps per temperature, update "
             f"{anneal.get('update')}, over-relaxation {anneal.get('overrelaxation')}",
             f"  status: {run.status}; sweeps {int(ckpt.get('sweeps_done', 0))} / {total}"]
    if ckpt:
        lines.append(f"  last checkpoint: {ckpt.get('time')} on {ckpt.get('cpu')}")
    prov = run.provenance
    lines.append(f"  started {prov.get('start_time')} on {prov.get('host')}"
                 + (f", finished {prov.get('end_time')}" if prov.get("end_time") else "")
                 + (f", last resumed {prov.get('resumed_at')}" if prov.get("resumed_at") else ""))
    if "pa" in run.groups:
        lines += pa_table_lines(run.groups["pa"])
    return lines


def pa_table_lines(group: dict) -> list[str]:
    """The /pa table (``RunData.groups["pa"]``), one line per temperature."""
    cols = ("free_energy", "entropy", "energy", "q2", "q4", "link_overlap", "families",
            "rho_t", "rho_s")
    lines = ["  population annealing (/pa), R_p = "
             + str(int(np.max(group.get("population", [0])))) + ":",
             "    {:>9} ".format("T") + " ".join(f"{c:>12}" for c in cols)]
    for k, t in enumerate(np.asarray(group["temperatures"])):
        vals = []
        for c in cols:
            v = np.asarray(group[c])[k]
            vals.append(f"{int(v):>12d}" if c == "families" else f"{float(v):>12.6g}")
        lines.append(f"    {t:>9.4g} " + " ".join(vals))
    return lines
