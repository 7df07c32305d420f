"""Reading one sample (one run file) into measurement series, its group key, and finding run files."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import ConfigError
from ..hdf5 import FormatError, check_rkky_mc_file, read_run
from ..info import log_windows
from ..units import j0_kelvin_of_run

RKKY_KEYS = ("lattice", "L", "concentration", "kf", "J0", "normalize", "cutoff", "damping")
# DM models (issue 17): their keys enter the group key (a DM strength is a physical parameter)
DM_KEYS = {"random": ("dm_strength",), "fert_levy": ("dm_strength", "dm_concentration", "dm_phase")}


class AnalysisError(ValueError):
    """Bad input for the analysis (CLI: exit code 2)."""


# ---- reading one sample ----------------------------------------------------------------


def _round(v):
    if isinstance(v, float):
        if math.isfinite(v):
            return float(f"{v:.12g}")
        return v
    return v


def group_key(run) -> tuple:
    """The physical parameters of a run as a hashable, sorted tuple of (name, value)."""
    sc = dict(run.config.get("sample", {}))
    model = str(run.sample.get("model", sc.get("model", "")))
    spin = str(run.sample.get("spin", sc.get("spin", "")))
    key = {"model": model, "spin": spin, "N": int(run.sample.get("N", sc.get("N", 0))),
           "field": _round(float(run.sample.get("field", sc.get("field", 0.0)) or 0.0))}
    if model == "rkky":
        for k in RKKY_KEYS:
            if k in sc:
                key[k] = _round(sc[k])
        if sc.get("lattice") == "continuum":
            key["min_distance"] = _round(sc.get("min_distance"))
    elif model == "ea":
        key["L"] = int(sc.get("L", 0))
        key["distribution"] = str(sc.get("distribution", ""))
    if isinstance(sc.get("J0_kelvin"), (int, float)):  # runs in kelvin: one scale per group
        key["J0_kelvin"] = _round(float(sc["J0_kelvin"]))
    dm = str(run.sample.get("dm", "") or "")
    if dm:  # DM couplings (sample.dm, or "file": a D in the coupling file)
        key["dm"] = dm
        for k in DM_KEYS.get(dm, ()):
            key[k] = _round(float(run.sample.get(k, sc.get(k, 0.0))))
    key["temperatures"] = tuple(_round(float(t)) for t in run.temperatures)
    return tuple(sorted(key.items()))


def _size_name(model: str) -> str:
    return "L" if model in ("rkky", "ea") else "N"


@dataclass
class Sample:
    """Thermal averages of one disorder sample (one file, or several with one sha256)."""

    paths: list
    key: tuple
    sha256: str
    N: int
    L: float | None                 # box side (models with positions)
    temperatures: np.ndarray
    status: str
    n_measured: int                 # rows used for the thermal averages
    sweeps_done: int                # last sweep measured + 1
    thermal: dict                   # name -> (T,) thermal averages
    windows: dict                   # (lo, hi) -> dict name -> (T,)
    swap_acceptance: np.ndarray | None   # (T-1,) mean over ladders
    round_trips: float
    energy_unit: str
    J0_kelvin: float | None = None  # kelvin per coupling unit (sample.J0_kelvin), if set


SERIES_NAMES = ("e", "e2", "mabs", "m", "q2", "q4", "qk2", "ql", "qb",
                "cq2", "cq4", "cqk2", "cq2n", "ck2")

# EA: Σ_bonds σ²/N = z/2 = 3 (simple cubic, σ = 1; L = 2: 3N/2 merged bonds of variance 2)
EA_HALF_Z = 3.0


def _chiral_series(run, M: int, T: int) -> dict:
    """Chiral (M, T) series: q_χ² (cq2), q_χ⁴ (cq4), chiral_overlap_k2 (cqk2) and
    N_t q_χ² (cq2n, for χ_CG = [N_t⟨q_χ²⟩]; N_t may differ between samples) averaged over
    ladder pairs; chirality_sq (ck2) over ladders. NaN when not measured (Ising, no
    triplets, files written before the chiral series)."""
    ts = run.timeseries
    nan = np.full((M, T), np.nan)
    out = dict(cq2=nan, cq4=nan, cqk2=nan, cq2n=nan, ck2=nan)
    q = ts.get("chiral_overlap")
    if q is not None and np.ndim(q) == 3 and np.shape(q)[2] > 0:
        q = np.asarray(q, dtype=np.float64)
        n_t = len(run.triplets) if getattr(run, "triplets", None) is not None else 0
        out["cq2"] = (q * q).mean(axis=2)
        out["cq4"] = (q**4).mean(axis=2)
        out["cq2n"] = n_t * out["cq2"] if n_t else nan
        qk2 = ts.get("chiral_overlap_k2")
        if qk2 is not None:
            out["cqk2"] = np.asarray(qk2, dtype=np.float64).mean(axis=2)
    k2 = ts.get("chirality_sq")
    if k2 is not None and np.ndim(k2) == 3:
        out["ck2"] = np.asarray(k2, dtype=np.float64).mean(axis=2)
    return out


def measurement_series(run) -> dict:
    """Per-measurement (M, T) series of one run: e, e², |m|, m (Ising m, Heisenberg m_z)
    averaged over ladders; q², q⁴, overlap_k2, link overlap (ql) and bond overlap (qb; NaN
    if the file does not have it) averaged over ladder pairs; the chiral series
    (_chiral_series)."""
    ts = run.timeseries
    heis = run.spin == "heisenberg"
    e = np.asarray(ts["energy"], dtype=np.float64)
    mag = np.asarray(ts["magnetization"], dtype=np.float64)
    out = {"e": e.mean(axis=2), "e2": (e * e).mean(axis=2)}
    if heis:
        out["mabs"] = np.sqrt(np.sum(mag * mag, axis=-1)).mean(axis=2)
        out["m"] = mag[..., 2].mean(axis=2)
    else:
        out["mabs"] = np.abs(mag).mean(axis=2)
        out["m"] = mag.mean(axis=2)
    M, T = e.shape[:2]
    out.update(_chiral_series(run, M, T))
    q = np.asarray(ts["overlap"], dtype=np.float64)
    P = q.shape[2] if q.ndim >= 3 else 0
    if P == 0:
        nan = np.full((M, T), np.nan)
        out.update(q2=nan, q4=nan, qk2=nan, ql=nan, qb=nan)
        return out
    q2 = np.sum(q * q, axis=(-2, -1)) if heis else q * q      # (M, T, P)
    out["q2"] = q2.mean(axis=2)
    out["q4"] = (q2 * q2).mean(axis=2)
    out["qk2"] = np.asarray(ts["overlap_k2"], dtype=np.float64).mean(axis=2)
    out["ql"] = np.asarray(ts["link_overlap"], dtype=np.float64).mean(axis=2)
    qb = ts.get("link_overlap_bonds")
    out["qb"] = (np.full((M, T), np.nan) if qb is None
                 else np.asarray(qb, dtype=np.float64).mean(axis=2))
    return out


def read_sample(path, include_thermalization: bool = False) -> Sample | None:
    """Thermal averages of one run file; None if it has no usable measurement yet."""
    run = read_run(path)
    sweeps = np.asarray(run.timeseries.get("sweep", np.zeros(0)), dtype=np.int64)
    if sweeps.size == 0:
        return None
    therm = int(run.config.get("anneal", {}).get("thermalization", 0))
    series = measurement_series(run)
    # a self-tuning ladder: rows before its freeze are on other ladders (drivers/ladder.py),
    # never used; the freeze is ≤ thermalization, so the thermalization cut removes them too
    on_ladder = sweeps >= int(run.tempering.get("ladder_freeze_sweep", 0))
    sel = on_ladder if include_thermalization else sweeps >= therm
    if not sel.any():
        return None
    thermal = {k: v[sel].mean(axis=0) for k, v in series.items()}
    stacked = np.stack([series[k] for k in SERIES_NAMES], axis=-1)       # (M, T, K)
    windows = {}
    for lo, hi, _count, mean in log_windows(sweeps[on_ladder], stacked[on_ladder]):
        windows[(int(lo), int(hi))] = {k: mean[:, i] for i, k in enumerate(SERIES_NAMES)}
    acc = run.tempering.get("swap_acceptance")
    acc = None if acc is None or np.size(acc) == 0 else np.atleast_2d(acc).mean(axis=0)
    rt = run.tempering.get("round_trips")
    rt = float(np.mean(rt)) if rt is not None and np.size(rt) else math.nan
    L = float(run.box[0]) if run.box is not None and run.positions is not None else None
    model = run.sample.get("model", "")
    return Sample(
        paths=[str(path)], key=group_key(run), sha256=str(run.sample.get("sha256", "")),
        N=int(run.sample.get("N", 0)), L=L, temperatures=np.asarray(run.temperatures, float),
        status=run.status, n_measured=int(sel.sum()), sweeps_done=int(sweeps.max()) + 1,
        thermal=thermal, windows=windows, swap_acceptance=acc, round_trips=rt,
        energy_unit="J0" if model == "rkky" else "J", J0_kelvin=j0_kelvin_of_run(run),
    )


def _merge(samples: list) -> Sample:
    """Several files of the same disorder sample -> one sample (means of thermal averages)."""
    s0 = samples[0]
    if len(samples) == 1:
        return s0
    thermal = {k: np.mean([s.thermal[k] for s in samples], axis=0) for k in s0.thermal}
    common = set(s0.windows)
    for s in samples[1:]:
        common &= set(s.windows)
    windows = {w: {k: np.mean([s.windows[w][k] for s in samples], axis=0) for k in SERIES_NAMES}
               for w in sorted(common)}
    accs = [s.swap_acceptance for s in samples if s.swap_acceptance is not None]
    return Sample(
        paths=sum((s.paths for s in samples), []), key=s0.key, sha256=s0.sha256, N=s0.N, L=s0.L,
        temperatures=s0.temperatures,
        status="running" if any(s.status != "finished" for s in samples) else "finished",
        n_measured=sum(s.n_measured for s in samples),
        sweeps_done=max(s.sweeps_done for s in samples), thermal=thermal, windows=windows,
        swap_acceptance=np.mean(accs, axis=0) if accs else None,
        round_trips=float(np.nanmean([s.round_trips for s in samples])),
        energy_unit=s0.energy_unit, J0_kelvin=s0.J0_kelvin,
    )


# ---- finding files ------------------------------------------------------------------------


def find_run_files(paths, exclude=None, warn=None, skipped=None) -> list:
    """Run files from files and directories (recursive ``*.h5``/``*.hdf5``; ``*.tmp`` and
    ``*.prev`` checkpoint generations are not matched).  Raises AnalysisError (as a
    ConfigError) for a path that does not exist, an explicit file that is not a run file,
    or when nothing is found.  Files under ``exclude`` (the output directory) are left out;
    files found in directories that are not rkky_mc run files are skipped with a warning
    (and appended to ``skipped`` as (path, reason))."""
    warn = warn or (lambda msg: None)
    exclude = Path(exclude).resolve() if exclude is not None else None
    found, seen = [], set()
    if not paths:
        raise ConfigError("PATHS", "", "give at least one run file or directory")
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise ConfigError("PATHS", str(p), "no such file or directory")
        if path.is_dir():
            cands = sorted(q for q in path.rglob("*") if q.is_file()
                           and q.suffix in (".h5", ".hdf5"))
            for q in cands:
                rq = q.resolve()
                if exclude is not None and (rq == exclude or exclude in rq.parents):
                    continue
                if rq in seen:
                    continue
                try:
                    check_rkky_mc_file(q)
                except (OSError, FormatError) as exc:
                    warn(f"skipped {q}: {exc}")
                    if skipped is not None:  # counted in the summary's "N skipped"
                        skipped.append((str(q), str(exc)))
                    continue
                seen.add(rq)
                found.append(str(q))
        else:
            if path.name.endswith((".tmp", ".prev", ".lock")):
                raise ConfigError("PATHS", str(p), "is a checkpoint generation or lock file, "
                                  "not a run file (give the .h5 file)")
            try:
                check_rkky_mc_file(path)
            except (OSError, FormatError) as exc:
                raise ConfigError("PATHS", str(p), str(exc)) from None
            rq = path.resolve()
            if rq not in seen:
                seen.add(rq)
                found.append(str(path))
    if not found:
        raise ConfigError("PATHS", " ".join(map(str, paths)),
                          "no rkky_mc run files (*.h5) found")
    return found
