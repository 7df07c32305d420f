"""Estimates from one run file, with errors: the table printed after `rkky-mc run`/`resume`
and the figures of `rkky-mc plot`.

One disorder sample, so every error is thermal: the measured part (sweep ≥ thermalization)
is cut into ``n_blocks`` consecutive blocks and every quantity, ratios included, gets a
block-jackknife error. Blocks much longer than the autocorrelation time make these errors
honest; with few measurements they are rough (the table says how many blocks it used).
The disorder average over many files is `rkky-mc analyze`'s job.

Conventions (../shared/PHYSICS.md): χ_SG = N ⟨q²⟩ with q² = Σ_μν q_μν² for Heisenberg
spins; Binder ratio g = ½(3 − ⟨q⁴⟩/⟨q²⟩²) (Ising) or ½(11 − 9⟨q⁴⟩/⟨q²⟩²) (Heisenberg).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .analysis.samples import measurement_series
from .info import log_windows
from .spins import spin_type

N_BLOCKS = 32
# the last two log windows are compared at every T for e and q² (2T tests): each at the
# two-sided level FAMILY_FALSE_ALARM / (2T), so a run in equilibrium is flagged with
# probability ≈ 1 % whatever the ladder length (3σ each would flag ~6 % of 12-T runs)
FAMILY_FALSE_ALARM = 0.01


def two_sided_z(p: float) -> float:
    """z with P(|Z| > z) = p for a standard normal Z (bisection on erfc)."""
    import math

    lo, hi = 0.0, 40.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if math.erfc(mid / math.sqrt(2.0)) > p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def binder_ratio(q2, q4, spin):
    """g from ⟨q²⟩ and ⟨q⁴⟩ (arrays broadcast), by the formula of the spin type ``spin`` (a
    ``sample.spin`` name; a bool is read as "heisenberg or not", as before the spin seam)."""
    if isinstance(spin, (bool, np.bool_)):
        spin = "heisenberg" if spin else "ising"
    return spin_type(spin).binder_ratio(q2, q4)


def block_jackknife(series: dict, estimator, n_blocks: int = N_BLOCKS):
    """(value, error) of ``estimator(means)`` where ``means`` maps each name of ``series``
    ((M, ...) arrays) to its mean over rows: the value from all rows, the error from the
    jackknife over ``n_blocks`` consecutive blocks (NaN with fewer than 2 blocks)."""
    M = next(iter(series.values())).shape[0]
    value = estimator({k: v.mean(axis=0) for k, v in series.items()})
    b = min(int(n_blocks), M)
    if b < 2:
        return value, np.full(np.shape(value), np.nan)
    size = M // b
    sums = {k: v[: b * size].reshape(b, size, *v.shape[1:]).sum(axis=1) for k, v in series.items()}
    totals = {k: s.sum(axis=0) for k, s in sums.items()}
    leave_out = np.stack([estimator({k: (totals[k] - sums[k][i]) / ((b - 1) * size) for k in sums})
                          for i in range(b)])
    err = np.sqrt((b - 1) / b * np.sum((leave_out - leave_out.mean(axis=0)) ** 2, axis=0))
    return value, err


@dataclass
class RunSummary:
    """Per-temperature estimates of one run (arrays of shape (T,), errors alongside)."""

    path: str
    spin: str
    N: int
    energy_unit: str
    temperatures: np.ndarray
    n_rows: int                     # measurements used (the measured part)
    n_blocks: int
    energy: tuple                   # (value, error) per spin
    abs_magnetization: tuple
    chi_sg: tuple                   # NaN without ladder pairs (replicas = 1)
    binder: tuple
    swap_acceptance: np.ndarray     # (T-1,) mean over ladders, pair (t, t+1)
    windows: list                   # [(lo, hi, rows, e (T,), q2 (T,))] log windows, all rows
    drift: list                     # [(T, quantity, sigmas)] where the last two windows differ
    verdict: str


def summarize(run) -> RunSummary | None:
    """The estimates of a read run (rkky_mc.hdf5.read_run); None before any measurement."""
    sweeps = np.asarray(run.timeseries.get("sweep", np.zeros(0)), dtype=np.int64)
    if sweeps.size == 0:
        return None
    N = int(run.sample.get("N", 0))
    therm = int(run.config.get("anneal", {}).get("thermalization", 0))
    series = measurement_series(run)
    measured = sweeps >= therm
    if not measured.any():      # still thermalizing: summarise what there is
        measured = np.ones(sweeps.size, bool)
    used = {k: series[k][measured] for k in ("e", "mabs", "q2", "q4")}
    n_blocks = min(N_BLOCKS, int(measured.sum()))
    e = block_jackknife({"e": used["e"]}, lambda m: m["e"], n_blocks)
    mabs = block_jackknife({"m": used["mabs"]}, lambda m: m["m"], n_blocks)
    chi = block_jackknife({"q2": used["q2"]}, lambda m: N * m["q2"], n_blocks)
    g = block_jackknife({"q2": used["q2"], "q4": used["q4"]},
                        lambda m: binder_ratio(m["q2"], m["q4"], run.spin), n_blocks)
    acc = run.tempering.get("swap_acceptance")
    T = run.temperatures.size
    acc = (np.full(max(T - 1, 0), np.nan) if acc is None or np.size(acc) == 0
           else np.atleast_2d(acc).mean(axis=0))
    # a self-tuning ladder: rows before its freeze are on other ladders (drivers/ladder.py)
    on_ladder = sweeps >= int(run.tempering.get("ladder_freeze_sweep", 0))
    windows, drift, verdict = _equilibration(sweeps[on_ladder],
                                             {k: v[on_ladder] for k, v in series.items()},
                                             run.temperatures)
    model = str(run.sample.get("model", ""))
    return RunSummary(
        path=str(run.path), spin=run.spin, N=N,
        energy_unit=short_energy_unit(run.sample.get("energy_unit"), model),
        temperatures=np.asarray(run.temperatures, float), n_rows=int(measured.sum()),
        n_blocks=n_blocks, energy=e, abs_magnetization=mabs, chi_sg=chi, binder=g,
        swap_acceptance=acc, windows=windows, drift=drift, verdict=verdict)


def short_energy_unit(unit, model: str) -> str:
    """The unit for axis labels and table heads: "J0" for RKKY, else the leading symbol of
    the stored /sample energy_unit ("J (SK: …)" -> "J"), "J" when it has none."""
    head = str(unit or "").split(" (")[0].strip()
    if head and len(head) <= 3:
        return head
    return "J0" if model == "rkky" else "J"


def _equilibration(sweeps, series, temperatures):
    """Means of e and q² per logarithmic window of sweeps, and whether the last two
    windows agree at every temperature (block-jackknife errors; the threshold per test
    keeps the family-wise false-alarm rate at FAMILY_FALSE_ALARM)."""
    stacked = np.stack([series["e"], series["q2"]], axis=-1)           # (M, T, 2)
    windows = [(lo, hi, n, mean[:, 0], mean[:, 1]) for lo, hi, n, mean in log_windows(sweeps, stacked)]
    if len(windows) < 2 or windows[-1][2] < 8 or windows[-2][2] < 8:
        return windows, [], "too few measurements to compare the last two windows of sweeps"
    (lo1, hi1, *_), (lo2, hi2, *_) = windows[-2], windows[-1]
    drift = []
    quantities = [(name, k) for name, k in (("e", "e"), ("q²", "q2")) if not np.isnan(series[k]).all()]
    zmax = two_sided_z(FAMILY_FALSE_ALARM / max(1, len(quantities) * len(temperatures)))
    for name, k in quantities:
        x = series[k]
        prev = x[(sweeps >= lo1) & (sweeps < hi1)]
        last = x[(sweeps >= lo2) & (sweeps < hi2)]
        d1, s1 = block_jackknife({"x": prev}, lambda m: m["x"], 16)
        d2, s2 = block_jackknife({"x": last}, lambda m: m["x"], 16)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.abs(d2 - d1) / np.hypot(s1, s2)
        for t in np.flatnonzero(z > zmax):
            drift.append((float(temperatures[t]), name, float(z[t])))
    span = f"sweeps [{lo1}, {hi1}) vs [{lo2}, {hi2})"
    if not drift:
        return windows, drift, (f"the last two windows agree at every T ({span}; each "
                                f"difference < {zmax:.1f}σ)")
    worst = sorted(drift, key=lambda d: -d[2])[:3]
    text = ", ".join(f"{q} at T = {t:.4g} ({z:.1f}σ)" for t, q, z in worst)
    return windows, drift, (f"NOT equilibrated: {text} differ by more than {zmax:.1f}σ ({span}); "
                            "run longer (rkky-mc resume --sweeps N)")


def _fmt(value, error) -> str:
    """value(error) with two significant digits of the error."""
    if not np.isfinite(value):
        return "nan"
    if not np.isfinite(error) or error <= 0:
        return f"{value:.5g}"
    digits = max(0, 1 - int(np.floor(np.log10(error))))
    digits = min(digits, 8)
    scaled = int(round(error * 10 ** digits))
    return f"{value:.{digits}f}({scaled})"


def format_summary(s: RunSummary, path_shown: str | None = None) -> str:
    """The short text printed after a run: a table per temperature, the equilibration
    verdict and the next commands."""
    path = path_shown or s.path
    eu = s.energy_unit
    head = (f"{'T [' + eu + ']':>10}  {'e [' + eu + ']':>16}  {'|m|':>14}  {'chi_SG':>14}  "
            f"{'g':>14}  {'swap acc':>8}")
    lines = [f"{path}: {s.spin} spins, N = {s.N}; {s.n_rows} measurements of the measured part, "
             f"errors from {s.n_blocks} blocks (one sample: thermal errors only)", head]
    for t, T in enumerate(s.temperatures):
        acc = f"{s.swap_acceptance[t]:.2f}" if t < s.swap_acceptance.size else "-"
        lines.append(f"{T:>10.4g}  {_fmt(s.energy[0][t], s.energy[1][t]):>16}  "
                     f"{_fmt(s.abs_magnetization[0][t], s.abs_magnetization[1][t]):>14}  "
                     f"{_fmt(s.chi_sg[0][t], s.chi_sg[1][t]):>14}  "
                     f"{_fmt(s.binder[0][t], s.binder[1][t]):>14}  {acc:>8}")
    lines.append(f"equilibration: {s.verdict}")
    lines.append(f"next: rkky-mc info {path}  |  rkky-mc plot {path} --out DIR  |  "
                 "rkky-mc analyze DIR_OF_RUNS --out DIR")
    return "\n".join(lines)
