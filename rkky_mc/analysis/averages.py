"""Per-group analysis: thermal and disorder averages of every observable, with jackknife errors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..spins import spin_type
from . import estimators as stats
from .groups import Group
from .samples import EA_HALF_Z, SERIES_NAMES

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
        "q2": "dimensionless", "q4": "dimensionless", "chi_sg": "dimensionless",
        "chi_sg_scaled": "dimensionless", "binder": "dimensionless", "chi_sg_kmin": "dimensionless",
        "xi": "a (lattice constant)", "xi_over_L": "dimensionless", "link_overlap": "dimensionless",
        "link_overlap_bonds": "dimensionless",
        "swap_acceptance": "dimensionless", "round_trips": "trips per ladder",
        "identity_lhs": f"{eu} per spin", "identity_rhs": f"{eu} per spin",
        "identity_diff": f"{eu} per spin", "ql_implied": "dimensionless",
        "chirality_sq": "dimensionless", "chiral_q2": "dimensionless",
        "chiral_binder": "dimensionless", "chi_cg": "dimensionless",
        "chi_cg_norm": "dimensionless", "chiral_xi_over_L": "dimensionless",
    }


def _observables(group, q: dict, betas, heis: bool) -> dict:
    """Derived quantities from jackknife disorder averages ``q`` (name -> Jackknife (T,))."""
    N = group.N
    out = {}
    out["chi_sg"] = stats.jk_apply(lambda a: N * a, q["q2"])
    if group.model == "sk":  # mean field: χ_SG ∝ N^(1/3) at T_c (Ising and vector spins)
        out["chi_sg_scaled"] = stats.jk_apply(lambda a: N ** (2.0 / 3.0) * a, q["q2"])
    out["binder"] = stats.jk_apply(spin_type(group.spin).binder_ratio, q["q2"], q["q4"])
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


def _chiral_observables(group, q: dict) -> dict:
    """Chiral-glass quantities from the disorder averages (Heisenberg runs with triplets):
    [⟨κ²⟩], [⟨q_χ²⟩], the chiral Binder g_χ = ½(3 − [⟨q_χ⁴⟩]/[⟨q_χ²⟩]²) (not clipped: it
    can go negative), χ_CG = [N_t⟨q_χ²⟩] raw and divided by [⟨κ²⟩]², and the chiral
    second-moment length over L, ξ_χ/L = sqrt([⟨q_χ²⟩]/[⟨|q_χ(k_min)|²⟩] − 1)/(2L sin(π/L))."""
    out = {}
    if "ck2" in q:
        out["chirality_sq"] = q["ck2"]
    if "cq2" not in q:
        return out
    out["chiral_q2"] = q["cq2"]
    if "cq4" in q:
        out["chiral_binder"] = stats.jk_apply(lambda a, b: 0.5 * (3.0 - b / (a * a)),
                                              q["cq2"], q["cq4"])
    if "cq2n" in q:
        out["chi_cg"] = q["cq2n"]
        if "ck2" in q:
            out["chi_cg_norm"] = stats.jk_apply(lambda c, k: c / (k * k), q["cq2n"], q["ck2"])
    if "cqk2" in q and group.L:
        L = float(group.L)
        denom = 2.0 * math.sin(math.pi / L)

        def xi_over_L(a, b):
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.sqrt(a / b - 1.0) / denom / L

        out["chiral_xi_over_L"] = stats.jk_apply(xi_over_L, q["cq2"], q["cqk2"])
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
    if heis:
        for name, jk in _chiral_observables(group, q).items():
            add(name, jk)
            curves[name] = jk
    accs = [s.swap_acceptance for s in samples if s.swap_acceptance is not None]
    if accs and len(accs) == n and len(T) > 1:
        add("swap_acceptance", stats.Jackknife.mean(np.stack(accs), key), temps=T[:-1])
    rts = np.array([s.round_trips for s in samples])
    if np.all(np.isfinite(rts)):
        add("round_trips", stats.Jackknife.mean(rts[:, None], key), temps=[math.nan])
    from .equilibration import _equilibration  # here: equilibration builds on this module

    equil_rows, drift_rows = _equilibration(group, base, units, betas, heis, drift_sigma)
    return GroupResult(group, rows, curves, equil_rows, drift_rows)
