"""`rkky-mc analyze`: many run files -> disorder averages with jackknife errors, Binder
ratios, χ_SG, ξ_L/L, crossings, T_c, equilibration checks, tables and figures.

One run file = one disorder sample.  Files are grouped by their physical parameters (model,
spin type, N, L, lattice, concentration, k_F, J0, normalisation, cutoff, damping, field,
EA distribution, temperature ladder; *not* seeds, output paths or the length of the run).
Groups that differ only in size (and ladder) form a *series*; crossings are taken between
the sizes of a series.

Thermal averages ⟨·⟩ of one sample use its measured part (sweep ≥ anneal.thermalization)
unless ``include_thermalization``; a file still running is read up to ``n_valid``.  Per
measurement, walker quantities are averaged over the R ladders and overlap quantities over
the P ladder pairs.  Disorder averages [·] are plain means over samples; every error is a
jackknife error over samples (ratios of averages — Binder g, ξ_L — are computed from the
averages and jackknifed as such).  Several files with the same couplings (sha256) in one
group are one disorder sample: their thermal averages are averaged (a warning says so).

Quantities (per group and temperature; ``units`` column of the table):

    energy            [⟨e⟩], e = H/N
    specific_heat     [N(⟨e²⟩ − ⟨e⟩²)]/T²  (per spin, k_B = 1)
    abs_magnetization [⟨|m|⟩]  (Heisenberg: |m| the norm of the vector m)
    q2, q4            [⟨q²⟩], [⟨q⁴⟩]  (Heisenberg q² = Σ_μν q_μν², q⁴ = (q²)²)
    chi_sg            N [⟨q²⟩]
    chi_sg_scaled     χ_SG / N^(1/3) (SK only): mean-field finite-size scaling has
                      χ_SG = N^(1/3) F(N^(1/3)(T − T_c)), so these curves cross at T_c
    binder            Ising ½(3 − [⟨q⁴⟩]/[⟨q²⟩]²); Heisenberg ½(11 − 9 [⟨q⁴⟩]/[⟨q²⟩]²)
    chi_sg_kmin       N [⟨overlap_k2⟩] = χ_SG(k_min), k averaged over x̂, ŷ, ẑ (models with
                      positions; overlap_k2 is normalised like q², so χ(0)/χ(k_min) =
                      [⟨q²⟩]/[⟨overlap_k2⟩])
    xi                ξ_L = √(χ(0)/χ(k_min) − 1) / (2 sin(k_min/2)), k_min = 2π/L, L the box
                      side (NaN where χ(0) < χ(k_min), i.e. at high T where ξ_L ≈ 0)
    xi_over_L         ξ_L / L
    link_overlap      [⟨q_l⟩] as stored: J²-weighted, Σ J_ij² τ_ij / Σ J_ij²
    link_overlap_bonds [⟨q_b⟩], the unweighted bond overlap (1/N_b) Σ_{bonds i<j} τ_ij^a τ_ij^b
                      (groups whose files store it: CSR couplings — EA, RKKY with a cutoff)
    swap_acceptance   per neighbour pair (T = the lower temperature of the pair), whole run
    round_trips       per ladder, whole run (T = NaN)

Exact equilibrium identities (Gaussian couplings, Ising, disorder average; PHYSICS.md):
rows identity_lhs (= [⟨e_J⟩], e_J = e + h[⟨m⟩] the coupling energy), identity_rhs and
identity_diff (lhs − rhs, jackknifed jointly), per temperature and per log window.

    SK: e_J = −(β/2)(1 − [⟨q²⟩]) at every N.  Needs only the overlap.
    EA Gaussian: e_J = −(β/N) Σ_bonds σ²(1 − [⟨s_i s_j⟩²]) = −(z/2)β(1 − [⟨q_b⟩]), z/2 =
        Σ_bonds σ²/N = 3 (also for L = 2, where the ±x bonds merge into one of variance 2),
        with q_b the *unweighted* bond overlap (⟨τ^a τ^b⟩ = ⟨s_i s_j⟩² for independent
        replicas), stored as ``link_overlap_bonds`` for CSR-stored couplings.  The stored
        J²-weighted link overlap would not do: strong bonds are more correlated (at high T
        ⟨s_is_j⟩ ≈ βJ_b, so [q_b] ≈ β² while the weighted one ≈ β² E[J⁴]/E[J²] = 3β²).
        Files without the bond overlap (written before it was stored, dense storage, or
        anneal.link_overlap = false) get no identity rows but ``ql_implied`` = 1 + T e_J/(z/2),
        the [⟨q_b⟩] the identity predicts, without pass/fail.

Equilibration: the same averages over logarithmic windows of sweeps [2^k, 2^(k+1)) of the
whole run (thermalization included); the last two windows are compared (difference
jackknifed over the samples that have both) and flagged beyond ``drift_sigma`` errors.

Crossings: for each pair of sizes of a series, where g (and ξ_L/L, and for SK χ_SG/N^(1/3))
cross, jackknifed over the samples of both sizes; T_c estimates from successive pairs
(stats.tc_estimates).
"""
from __future__ import annotations

import csv
import hashlib
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import stats
from .config import ConfigError
from .hdf5 import FormatError, check_rkky_mc_file, read_run
from .info import log_windows

ANALYSIS_FORMAT = "rkky_mc_analysis"
ANALYSIS_FORMAT_VERSION = 1

# columns of the tables (CSV and HDF5), in order
TABLE_COLUMNS = ["group", "series", "model", "spin", "N", "L", "n_samples", "T", "quantity",
                 "value", "error", "bias", "units"]
EQUIL_COLUMNS = ["group", "series", "model", "spin", "N", "L", "T", "window_lo", "window_hi",
                 "n_samples", "quantity", "value", "error", "units"]
DRIFT_COLUMNS = ["group", "series", "T", "quantity", "window_prev", "window_last", "n_samples",
                 "delta", "error", "nsigma", "flag"]
CROSS_COLUMNS = ["series", "quantity", "size_name", "size1", "size2", "group1", "group2",
                 "n_samples1", "n_samples2", "T_cross", "error", "n_roots", "interp"]
TC_COLUMNS = ["series", "quantity", "method", "value", "error", "n_pairs", "pairs"]
GROUP_COLUMNS = ["group", "series", "model", "spin", "N", "L", "size_name", "size",
                 "lattice", "concentration", "kf", "J0", "normalize", "cutoff", "damping",
                 "min_distance", "distribution", "field", "n_temperatures", "T_min", "T_max",
                 "n_samples", "n_files", "n_running", "n_measured_min", "n_measured_max",
                 "sweeps_min", "sweeps_max", "drift_flags", "drift_tests",
                 "drift_expected_by_chance", "energy_unit"]

RKKY_KEYS = ("lattice", "L", "concentration", "kf", "J0", "normalize", "cutoff", "damping")


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


SERIES_NAMES = ("e", "e2", "mabs", "m", "q2", "q4", "qk2", "ql", "qb")

# EA: Σ_bonds σ²/N = z/2 = 3 (simple cubic, σ = 1; L = 2: 3N/2 merged bonds of variance 2)
EA_HALF_Z = 3.0


def measurement_series(run) -> dict:
    """Per-measurement (M, T) series of one run: e, e², |m|, m (Ising m, Heisenberg m_z)
    averaged over ladders; q², q⁴, overlap_k2, link overlap (ql) and bond overlap (qb; NaN
    if the file does not have it) averaged over ladder pairs."""
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
    sel = np.ones(sweeps.size, bool) if include_thermalization else sweeps >= therm
    if not sel.any():
        return None
    thermal = {k: v[sel].mean(axis=0) for k, v in series.items()}
    stacked = np.stack([series[k] for k in SERIES_NAMES], axis=-1)       # (M, T, K)
    windows = {}
    for lo, hi, _count, mean in log_windows(sweeps, stacked):
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
        energy_unit="J0" if model == "rkky" else "J",
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
        energy_unit=s0.energy_unit,
    )


# ---- finding files ------------------------------------------------------------------------


def find_run_files(paths, exclude=None, warn=None) -> list:
    """Run files from files and directories (recursive ``*.h5``/``*.hdf5``; ``*.tmp`` and
    ``*.prev`` checkpoint generations are not matched).  Raises AnalysisError (as a
    ConfigError) for a path that does not exist, an explicit file that is not a run file,
    or when nothing is found.  Files under ``exclude`` (the output directory) are left out;
    files found in directories that are not rkky_mc run files are skipped with a warning."""
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


# ---- groups ---------------------------------------------------------------------------------


@dataclass
class Group:
    key: tuple
    label: str
    series: str
    samples: list
    n_files: int
    params: dict = field(default_factory=dict)

    @property
    def model(self):
        return self.params["model"]

    @property
    def spin(self):
        return self.params["spin"]

    @property
    def N(self):
        return self.params["N"]

    @property
    def L(self):
        return self.samples[0].L

    @property
    def size_name(self):
        return _size_name(self.model)

    @property
    def size(self):
        return self.L if self.size_name == "L" else self.N

    @property
    def temperatures(self):
        return self.samples[0].temperatures


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _series_key(key: tuple) -> tuple:
    return tuple((k, v) for k, v in key if k not in ("N", "L", "temperatures"))


def _series_label(params: dict) -> str:
    parts = [params["model"], params["spin"]]
    if params["model"] == "rkky":
        parts.append(str(params.get("lattice", "")))
        parts.append(f"c{_fmt(params.get('concentration'))}")
    if params["model"] == "ea":
        parts.append(str(params.get("distribution", "")))
    if params.get("field"):
        parts.append(f"h{_fmt(params['field'])}")
    return "_".join(parts)


def _short_hash(obj) -> str:
    return hashlib.sha1(repr(obj).encode()).hexdigest()[:6]


def make_groups(samples: list, warn=None) -> list:
    """Group samples by physical parameters, merge files of one disorder sample, label."""
    warn = warn or (lambda msg: None)
    by_key: dict = {}
    for s in samples:
        by_key.setdefault(s.key, []).append(s)
    # series labels, unique per series key
    series_keys = sorted({_series_key(k) for k in by_key}, key=repr)
    series_label, used = {}, {}
    for sk in series_keys:
        base = _series_label(dict(sk))
        used.setdefault(base, []).append(sk)
    for base, keys in used.items():
        for sk in keys:
            series_label[sk] = base if len(keys) == 1 else f"{base}_{_short_hash(sk)}"
    groups = []
    labels: dict = {}
    for key in sorted(by_key, key=repr):
        params = dict(key)
        files = by_key[key]
        by_sha: dict = {}
        for s in files:
            by_sha.setdefault(s.sha256 or s.paths[0], []).append(s)
        merged = [_merge(v) for v in by_sha.values()]
        n_dup = sum(len(v) - 1 for v in by_sha.values() if len(v) > 1)
        ser = series_label[_series_key(key)]
        size_name = _size_name(params["model"])
        size = files[0].L if size_name == "L" else params["N"]
        label = f"{ser}_{size_name}{_fmt(size)}"
        labels.setdefault(label, []).append(key)
        g = Group(key=key, label=label, series=ser, samples=merged, n_files=len(files), params=params)
        groups.append(g)
        if n_dup:
            warn(f"{label}: {n_dup} file(s) repeat the couplings (sha256) of another file of "
                 "the group: each set of files with one disorder sample counts once (their "
                 "thermal averages are averaged)")
        n_qb = sum(bool(np.isfinite(m.thermal["qb"]).any()) for m in merged)
        if 0 < n_qb < len(merged):
            warn(f"{label}: {len(merged) - n_qb} of {len(merged)} samples have no "
                 "link_overlap_bonds (files written before rkky_mc measured it): no q_b "
                 "or EA Gaussian identity rows for this group (ql_implied instead)")
    for label, keys in labels.items():
        if len(keys) > 1:  # same size in one series, different temperature ladders
            for g in groups:
                if g.label == label:
                    g.label = f"{label}_T{_short_hash(dict(g.key)['temperatures'])}"
    return groups


# ---- per-group analysis ---------------------------------------------------------------------


def _stack(samples, name):
    return np.stack([s.thermal[name] for s in samples])     # (n, T)


@dataclass
class GroupResult:
    group: Group
    rows: list                     # tidy table rows
    curves: dict                   # quantity -> Jackknife (T,)
    equil_rows: list
    drift_rows: list


def _units(group) -> dict:
    eu = group.samples[0].energy_unit
    return {
        "energy": f"{eu} per spin", "specific_heat": "k_B per spin", "abs_magnetization": "dimensionless",
        "q2": "dimensionless", "q4": "dimensionless", "chi_sg": "dimensionless", "chi_sg_scaled": "dimensionless", "binder": "dimensionless", "chi_sg_kmin": "dimensionless",
        "xi": "a (lattice constant)", "xi_over_L": "dimensionless", "link_overlap": "dimensionless",
        "link_overlap_bonds": "dimensionless",
        "swap_acceptance": "dimensionless", "round_trips": "trips per ladder",
        "identity_lhs": f"{eu} per spin", "identity_rhs": f"{eu} per spin",
        "identity_diff": f"{eu} per spin", "ql_implied": "dimensionless",
    }


def _observables(group, q: dict, betas, heis: bool) -> dict:
    """Derived quantities from jackknife disorder averages ``q`` (name -> Jackknife (T,))."""
    N = group.N
    out = {}
    out["chi_sg"] = stats.jk_apply(lambda a: N * a, q["q2"])
    if group.model == "sk":  # mean field: χ_SG ∝ N^(1/3) at T_c (Ising and vector spins)
        out["chi_sg_scaled"] = stats.jk_apply(lambda a: N ** (2.0 / 3.0) * a, q["q2"])
    if heis:
        out["binder"] = stats.jk_apply(lambda a, b: 0.5 * (11.0 - 9.0 * b / (a * a)), q["q2"], q["q4"])
    else:
        out["binder"] = stats.jk_apply(lambda a, b: 0.5 * (3.0 - b / (a * a)), q["q2"], q["q4"])
    if "qk2" in q and group.L:
        L = float(group.L)
        denom = 2.0 * math.sin(math.pi / L)          # 2 sin(k_min/2), k_min = 2π/L

        def xi(a, b):
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.sqrt(a / b - 1.0) / denom

        out["chi_sg_kmin"] = stats.jk_apply(lambda b: N * b, q["qk2"])
        out["xi"] = stats.jk_apply(xi, q["q2"], q["qk2"])
        out["xi_over_L"] = stats.jk_apply(lambda a, b: xi(a, b) / L, q["q2"], q["qk2"])
    if "ql" in q:
        out["link_overlap"] = q["ql"]
    if "qb" in q:
        out["link_overlap_bonds"] = q["qb"]
    if not heis and group.model == "sk":
        out["identity_lhs"] = q["eJ"]
        out["identity_rhs"] = stats.jk_apply(lambda a: -0.5 * betas * (1.0 - a), q["q2"])
        out["identity_diff"] = stats.jk_apply(lambda e, a: e + 0.5 * betas * (1.0 - a),
                                              q["eJ"], q["q2"])
    if not heis and group.model == "ea" and group.params.get("distribution") == "gaussian":
        c = EA_HALF_Z * betas
        if "qb" in q:
            out["identity_lhs"] = q["eJ"]
            out["identity_rhs"] = stats.jk_apply(lambda b: -c * (1.0 - b), q["qb"])
            out["identity_diff"] = stats.jk_apply(lambda e, b: e + c * (1.0 - b), q["eJ"], q["qb"])
        else:  # no bond overlap in these files: only the prediction
            out["ql_implied"] = stats.jk_apply(lambda e: 1.0 + e / c, q["eJ"])
    return out


def _disorder_averages(group, samples, key, names_thermal):
    """name -> Jackknife (T,) means over ``samples`` of the thermal averages."""
    q = {}
    field_h = float(group.params.get("field", 0.0))
    for name in names_thermal:
        arr = np.stack([s[name] for s in samples])
        if np.isnan(arr).all(axis=-1).any():  # not measured in some file: no disorder average
            continue
        q[name] = stats.Jackknife.mean(arr, key)
    eJ = np.stack([s["e"] + field_h * s["m"] for s in samples])
    q["eJ"] = stats.Jackknife.mean(eJ, key)
    return q


def analyze_group(group: Group, drift_sigma: float = 3.0) -> GroupResult:
    samples = group.samples
    n = len(samples)
    heis = group.spin == "heisenberg"
    T = group.temperatures
    betas = 1.0 / T
    key = group.label
    units = _units(group)
    base = dict(group=group.label, series=group.series, model=group.model, spin=group.spin,
                N=group.N, L=group.L if group.L is not None else math.nan)
    rows = []

    def add(name, jk, temps=T, n_s=n):
        val = np.atleast_1d(jk.value)
        err = np.atleast_1d(jk.error)
        bias = np.atleast_1d(jk.bias)
        for t, v, e, b in zip(np.atleast_1d(temps), val, err, bias):
            rows.append(dict(base, n_samples=n_s, T=float(t), quantity=name, value=float(v),
                             error=float(e), bias=float(b), units=units[name]))

    therm = [s.thermal for s in samples]
    q = _disorder_averages(group, therm, key, SERIES_NAMES)
    curves = {}
    add("energy", q["e"])
    N = group.N
    c = np.stack([N * (s["e2"] - s["e"] ** 2) * betas**2 for s in therm])
    add("specific_heat", stats.Jackknife.mean(c, key))
    add("abs_magnetization", q["mabs"])
    for name in ("q2", "q4"):
        if name in q:
            add(name, q[name])
    if "q2" in q and "q4" in q:
        derived = _observables(group, q, betas, heis)
        for name in ("chi_sg", "chi_sg_scaled", "binder", "chi_sg_kmin", "xi", "xi_over_L",
                     "link_overlap", "link_overlap_bonds", "identity_lhs", "identity_rhs", "identity_diff",
                     "ql_implied"):
            if name in derived:
                add(name, derived[name])
                curves[name] = derived[name]
    accs = [s.swap_acceptance for s in samples if s.swap_acceptance is not None]
    if accs and len(accs) == n and len(T) > 1:
        add("swap_acceptance", stats.Jackknife.mean(np.stack(accs), key), temps=T[:-1])
    rts = np.array([s.round_trips for s in samples])
    if np.all(np.isfinite(rts)):
        add("round_trips", stats.Jackknife.mean(rts[:, None], key), temps=[math.nan])
    equil_rows, drift_rows = _equilibration(group, base, units, betas, heis, drift_sigma)
    return GroupResult(group, rows, curves, equil_rows, drift_rows)


WINDOW_QUANTITIES = ("energy", "chi_sg", "binder", "link_overlap", "link_overlap_bonds",
                     "identity_diff")


def _window_quantities(group, samples_w, key, betas, heis) -> dict:
    q = _disorder_averages(group, samples_w, key, SERIES_NAMES)
    out = {"energy": q["e"]}
    if "q2" in q and "q4" in q:
        d = _observables(group, q, betas, heis)
        for name in WINDOW_QUANTITIES[1:]:
            if name in d:
                out[name] = d[name]
    return out


def _equilibration(group, base, units, betas, heis, drift_sigma):
    samples = group.samples
    key = group.label
    T = group.temperatures
    all_windows = sorted({w for s in samples for w in s.windows})
    equil_rows = []
    for w in all_windows:
        have = [s.windows[w] for s in samples if w in s.windows]
        qs = _window_quantities(group, have, key, betas, heis)
        for name, jk in qs.items():
            for t, v, e in zip(T, jk.value, jk.error):
                equil_rows.append(dict(base, T=float(t), window_lo=w[0], window_hi=w[1],
                                       n_samples=len(have), quantity=name, value=float(v),
                                       error=float(e), units=units[name]))
    drift_rows = []
    if len(all_windows) >= 2:
        # the last two windows among the samples that have both
        for i in range(len(all_windows) - 1, 0, -1):
            w_last, w_prev = all_windows[i], all_windows[i - 1]
            both = [s for s in samples if w_last in s.windows and w_prev in s.windows]
            if len(both) >= 2:
                break
        else:
            both = []
        if len(both) >= 2:
            ql = _window_quantities(group, [s.windows[w_last] for s in both], key, betas, heis)
            qp = _window_quantities(group, [s.windows[w_prev] for s in both], key, betas, heis)
            for name in ql:
                if name not in qp:
                    continue
                delta, err, flag = stats.log_window_drift(ql[name], qp[name], drift_sigma)
                for t, d, e, f in zip(T, delta, err, flag):
                    drift_rows.append(dict(group=group.label, series=group.series, T=float(t),
                                           quantity=name, window_prev=f"{w_prev[0]}-{w_prev[1]}",
                                           window_last=f"{w_last[0]}-{w_last[1]}",
                                           n_samples=len(both), delta=float(d), error=float(e),
                                           nsigma=drift_sigma, flag=bool(f)))
    return equil_rows, drift_rows


# ---- series: crossings and T_c --------------------------------------------------------------


CROSSING_QUANTITIES = ("binder", "xi_over_L", "chi_sg_scaled")


def analyze_series(series: str, results: list, interp: str = "linear", warn=None):
    """Crossings between every pair of sizes (and T_c from successive pairs) for g,
    ξ_L/L and (SK) χ_SG/N^(1/3).  ``results``: GroupResults of one series.
    Returns (cross_rows, tc_rows)."""
    warn = warn or (lambda msg: None)
    by_size: dict = {}
    for r in results:
        by_size.setdefault(r.group.size, []).append(r)
    chosen = []
    for size in sorted(by_size):
        rs = sorted(by_size[size], key=lambda r: -len(r.group.samples))
        if len(rs) > 1:
            warn(f"series {series}: {len(rs)} groups of size {size} (different temperature "
                 f"ladders); crossings use {rs[0].group.label} ({len(rs[0].group.samples)} samples)")
        chosen.append(rs[0])
    cross_rows, tc_rows = [], []
    if len(chosen) < 2:
        return cross_rows, tc_rows
    size_name = chosen[0].group.size_name
    sizes = [r.group.size for r in chosen]
    exponent = 1.0 if size_name == "L" else 1.0 / 3.0
    for quantity in CROSSING_QUANTITIES:
        if not all(quantity in r.curves for r in chosen):
            continue
        successive = []
        for i in range(len(chosen)):
            for j in range(i + 1, len(chosen)):
                a, b = chosen[i], chosen[j]
                cr = stats.jk_crossing(a.group.temperatures, a.curves[quantity],
                                       b.group.temperatures, b.curves[quantity], kind=interp)
                cross_rows.append(dict(series=series, quantity=quantity, size_name=size_name,
                                       size1=a.group.size, size2=b.group.size,
                                       group1=a.group.label, group2=b.group.label,
                                       n_samples1=len(a.group.samples),
                                       n_samples2=len(b.group.samples), T_cross=cr.value,
                                       error=cr.error, n_roots=cr.n_roots, interp=interp))
                if j == i + 1:
                    successive.append(cr)
        for est in stats.tc_estimates(successive, sizes, exponent):
            tc_rows.append(dict(series=series, quantity=quantity, **est))
    return cross_rows, tc_rows


# ---- the whole analysis ---------------------------------------------------------------------


@dataclass
class AnalysisResult:
    tables: dict                   # name -> list of row dicts
    groups: list                   # Group objects
    files: list                    # run files used
    skipped: list                  # (path, reason)
    warnings: list
    out_dir: Path | None = None
    figures: list = field(default_factory=list)   # FigureRecord (see plots)
    elapsed: float = 0.0


def analyze(paths, out_dir=None, include_thermalization: bool = False, interp: str = "linear",
            drift_sigma: float = 3.0, figures: bool = True, keep_figures: bool = False,
            warn=None, progress: bool = False) -> AnalysisResult:
    """Run the whole analysis; write tables and figures to ``out_dir`` if given."""
    t0 = time.monotonic()
    warnings = []

    def _warn(msg):
        warnings.append(msg)
        if warn is not None:
            warn(msg)

    if interp not in ("linear", "cubic"):
        raise ConfigError("--interp", interp, "must be 'linear' or 'cubic'")
    if out_dir is not None:
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise ConfigError("--out", str(out_dir), "exists and is not a directory")
    files = find_run_files(paths, exclude=out_dir, warn=_warn)
    samples, skipped = [], []
    it = files
    if progress:
        from tqdm import tqdm
        it = tqdm(files, unit="file", file=sys.stderr, dynamic_ncols=True, desc="reading")
    for p in it:
        try:
            s = read_sample(p, include_thermalization)
        except (OSError, KeyError, ValueError) as exc:
            skipped.append((p, f"unreadable ({type(exc).__name__}: {exc})"))
            _warn(f"skipped {p}: unreadable ({type(exc).__name__}: {exc})")
            continue
        if s is None:
            reason = ("no measurements yet" if include_thermalization
                      else "no measurements after the thermalization yet")
            skipped.append((p, reason))
            _warn(f"skipped {p}: {reason}")
            continue
        samples.append(s)
    if not samples:
        raise ConfigError("PATHS", " ".join(map(str, paths)),
                          "no run file with measurements to analyse "
                          f"({len(skipped)} file(s) skipped)")
    groups = make_groups(samples, _warn)
    results = [analyze_group(g, drift_sigma) for g in groups]
    table, equil, drift = [], [], []
    for r in results:
        table += r.rows
        equil += r.equil_rows
        drift += r.drift_rows
    by_series: dict = {}
    for r in results:
        by_series.setdefault(r.group.series, []).append(r)
    cross, tc = [], []
    for ser in sorted(by_series):
        c, t = analyze_series(ser, by_series[ser], interp, _warn)
        cross += c
        tc += t
    group_rows = [_group_row(r) for r in results]
    tables = {"table": table, "crossings": cross, "tc": tc, "equilibration": equil,
              "drift": drift, "groups": group_rows}
    result = AnalysisResult(tables=tables, groups=groups, files=files, skipped=skipped,
                            warnings=warnings)
    if out_dir is not None:
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError("--out", str(out_dir), f"cannot create the directory ({exc.strerror})") from None
        write_tables(out, tables, files, include_thermalization, interp, drift_sigma)
        result.out_dir = out
        if figures:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                _warn("matplotlib is not installed (pip install 'rkky_mc[plot]'): no figures")
            else:
                from .plots import make_figures
                result.figures = make_figures(tables, groups, out, keep=keep_figures)
    result.elapsed = time.monotonic() - t0
    return result


def _group_row(r: GroupResult) -> dict:
    g = r.group
    p = g.params
    n_flags = sum(1 for d in r.drift_rows if d["flag"])
    n_tests = sum(1 for d in r.drift_rows if np.isfinite(d["error"]))
    p_chance = math.erfc(r.drift_rows[0]["nsigma"] / math.sqrt(2)) if r.drift_rows else math.nan
    return dict(
        group=g.label, series=g.series, model=g.model, spin=g.spin, N=g.N,
        L=g.L if g.L is not None else math.nan, size_name=g.size_name, size=g.size,
        lattice=p.get("lattice", ""), concentration=p.get("concentration", math.nan),
        kf=p.get("kf", math.nan), J0=p.get("J0", math.nan), normalize=p.get("normalize", ""),
        cutoff=p.get("cutoff", math.nan), damping=p.get("damping", math.nan),
        min_distance=p.get("min_distance", math.nan), distribution=p.get("distribution", ""),
        field=p.get("field", 0.0), n_temperatures=len(g.temperatures),
        T_min=float(g.temperatures[0]), T_max=float(g.temperatures[-1]),
        n_samples=len(g.samples), n_files=g.n_files,
        n_running=sum(1 for s in g.samples if s.status != "finished"),
        n_measured_min=min(s.n_measured for s in g.samples),
        n_measured_max=max(s.n_measured for s in g.samples),
        sweeps_min=min(s.sweeps_done for s in g.samples),
        sweeps_max=max(s.sweeps_done for s in g.samples),
        drift_flags=n_flags, drift_tests=n_tests,
        drift_expected_by_chance=n_tests * p_chance if n_tests else 0.0,
        energy_unit=g.samples[0].energy_unit,
    )


# ---- output ---------------------------------------------------------------------------------

_COLUMNS = {"table": TABLE_COLUMNS, "crossings": CROSS_COLUMNS, "tc": TC_COLUMNS,
            "equilibration": EQUIL_COLUMNS, "drift": DRIFT_COLUMNS, "groups": GROUP_COLUMNS}


def _csv_value(v):
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return repr(float(v))       # round-trips exactly; nan / inf as such
    if v is None:
        return ""
    return str(v)


def write_csv(path, rows, columns) -> None:
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for row in rows:
            w.writerow([_csv_value(row.get(c)) for c in columns])
    os.replace(tmp, path)


def read_csv(path) -> list:
    """A table written by :func:`write_csv` (numbers as float, everything else str)."""
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            conv = {}
            for k, v in row.items():
                try:
                    conv[k] = float(v)
                except ValueError:
                    conv[k] = v
            out.append(conv)
    return out


def write_tables(out: Path, tables: dict, files, include_thermalization, interp, drift_sigma):
    import h5py

    from . import __version__

    for name, rows in tables.items():
        write_csv(out / f"{name}.csv", rows, _COLUMNS[name])
    h5 = out / "analysis.h5"
    tmp = Path(str(h5) + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = ANALYSIS_FORMAT
        f.attrs["format_version"] = ANALYSIS_FORMAT_VERSION
        f.attrs["rkky_mc_version"] = __version__
        f.attrs["include_thermalization"] = bool(include_thermalization)
        f.attrs["interp"] = interp
        f.attrs["drift_sigma"] = float(drift_sigma)
        f.attrs["description"] = ("rkky-mc analyze output: one group per table, one dataset "
                                  "per column (same content as the CSV files)")
        f.create_dataset("inputs", data=np.array([str(p) for p in files], dtype=object),
                         dtype=h5py.string_dtype())
        for name, rows in tables.items():
            g = f.create_group(name)
            g.attrs["n_rows"] = len(rows)
            for col in _COLUMNS[name]:
                vals = [row.get(col) for row in rows]
                if vals and all(isinstance(v, (bool, np.bool_)) for v in vals):
                    data = np.array(vals, dtype=bool)
                elif vals and all(isinstance(v, (int, float, np.integer, np.floating))
                                  and not isinstance(v, (bool, np.bool_)) for v in vals):
                    data = np.array(vals, dtype=np.float64)
                else:
                    data = np.array(["" if v is None else str(v) for v in vals], dtype=object)
                    g.create_dataset(col, data=data, dtype=h5py.string_dtype())
                    continue
                g.create_dataset(col, data=data)
    os.replace(tmp, h5)


def read_tables(path) -> dict:
    """analysis.h5 -> name -> dict column -> numpy array."""
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        for name, g in f.items():
            if not hasattr(g, "items"):
                continue
            cols = {}
            for col, ds in g.items():
                arr = ds[()]
                if arr.dtype.kind == "O":
                    arr = np.array([a.decode() if isinstance(a, bytes) else a for a in arr],
                                   dtype=object)
                cols[col] = arr
            out[name] = cols
    return out


# ---- command line -----------------------------------------------------------------------------


def _summary(res: AnalysisResult) -> str:
    lines = [f"rkky-mc analyze: {len(res.files)} file(s), {len(res.skipped)} skipped, "
             f"{len(res.groups)} group(s) in {res.elapsed:.1f} s"]
    for row in res.tables["groups"]:
        flag = ""
        if row["drift_flags"]:
            flag = (f"; equilibration drift in {row['drift_flags']} of {row['drift_tests']} "
                    f"checks (~{row['drift_expected_by_chance']:.1f} expected by chance)")
        lines.append(f"  {row['group']}: {row['n_samples']} sample(s)"
                     + (f", {row['n_running']} running" if row["n_running"] else "") + flag)
    for row in res.tables["tc"]:
        lines.append(f"  T_c ({row['series']}, {row['quantity']}, {row['method']} "
                     f"[{row['pairs']}]): {row['value']:.4g} ± {row['error']:.2g}")
    if res.out_dir is not None:
        lines.append(f"  wrote {res.out_dir}/ (table.csv, crossings.csv, tc.csv, "
                     f"equilibration.csv, drift.csv, groups.csv, analysis.h5, "
                     f"{len(res.figures)} figure(s))")
    return "\n".join(lines)


def _make_command():
    import click

    @click.command("analyze")
    @click.argument("paths", nargs=-1, required=True, type=click.Path())
    @click.option("--out", "out_dir", required=True, type=click.Path(), metavar="DIR",
                  help="Output directory for tables (CSV, HDF5) and figures (PNG).")
    @click.option("--include-thermalization", is_flag=True,
                  help="Thermal averages over every measurement, not only sweep >= thermalization.")
    @click.option("--interp", type=click.Choice(["linear", "cubic"]), default="linear",
                  show_default=True, help="Interpolation of the curves for crossings.")
    @click.option("--drift-sigma", type=click.FloatRange(min=0.0, min_open=True), default=3.0,
                  show_default=True, help="Flag equilibration drift beyond this many errors.")
    @click.option("--no-figures", is_flag=True, help="Tables only.")
    @click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary (warnings still shown).")
    def analyze_command(paths, out_dir, include_thermalization, interp, drift_sigma, no_figures, quiet):
        """Disorder averages, Binder ratios, χ_SG, ξ_L/L, crossings and T_c from run files.

        PATHS are run files (.h5) or directories (searched recursively). Files are grouped
        by physical parameters; each file is one disorder sample. Writes table.csv,
        crossings.csv, tc.csv, equilibration.csv, drift.csv, groups.csv, analysis.h5 and
        PNG figures to DIR.
        """
        from .cli import fail_bad_input

        def warn(msg):
            click.echo(f"rkky-mc: warning: {msg}", err=True)

        try:
            res = analyze(paths, out_dir, include_thermalization=include_thermalization,
                          interp=interp, drift_sigma=drift_sigma, figures=not no_figures,
                          warn=warn, progress=not quiet and sys.stderr.isatty())
        except ConfigError as exc:
            fail_bad_input(exc)
        if not quiet:
            click.echo(_summary(res), err=True)

    return analyze_command


analyze_command = _make_command()
