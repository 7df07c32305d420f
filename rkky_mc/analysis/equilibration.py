"""Equilibration checks: disorder averages per logarithmic window and the drift of the last one."""

from __future__ import annotations

from . import estimators as stats
from .averages import _disorder_averages, _observables
from .samples import SERIES_NAMES

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
