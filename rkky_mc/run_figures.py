"""`rkky-mc plot FILE.h5`: the figures of one run (also of one still being written).

- ``observables``: energy per spin, χ_SG and the Binder ratio against T, with the
  block-jackknife errors of :mod:`rkky_mc.summary` (one sample: thermal errors);
- ``equilibration``: e and q² per logarithmic window of sweeps [2^k, 2^(k+1)) at the lowest
  temperatures (a plateau in the last windows is what equilibrium looks like);
- ``tempering``: swap acceptance per neighbour pair, and the temperatures visited by a few
  walkers of ladder 0 (their trips through the ladder).

Figures are plain matplotlib Figures on an Agg canvas (no display, no pyplot state).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .analysis.plots import _Figures, kelvin_axis
from .hdf5 import row_temperatures
from .summary import summarize
from .units import j0_kelvin_of_run

FORMATS = ("png", "pdf", "svg")
LOWEST_SHOWN = 3      # temperatures in the equilibration view
WALKERS_SHOWN = 2     # walkers whose trips are drawn ...
TRIP_ROWS = 400       # ... over the first this many measurements (readable steps)


def walker_temperatures(walker: np.ndarray, ladder: int = 0) -> np.ndarray:
    """(M, T) temperature index of each walker of ``ladder`` at each measurement, from
    /timeseries/walker (M, T, R): which walker sits at temperature t (the inverse map)."""
    w = np.asarray(walker)[:, :, ladder].astype(np.int64)
    M, T = w.shape
    out = np.empty((M, T), dtype=np.int64)
    out[np.arange(M)[:, None], w] = np.arange(T)[None, :]
    return out


def make_run_figures(run, out_dir, fmt: str = "png", keep: bool = False) -> list:
    """Write the figures of ``run`` (a rkky_mc.hdf5.RunData) to ``out_dir``; returns
    [(name, path, figure or None)]."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
    s = summarize(run)
    if s is None:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(run.path).stem
    eu = s.energy_unit
    T = s.temperatures
    J0_kelvin = j0_kelvin_of_run(run)  # a second axis in K when the run knows its scale
    written = []

    def finish(name, fig):
        path = out_dir / f"{stem}_{name}.{fmt}"
        fig.tight_layout()
        fig.savefig(path)
        written.append((name, path, fig if keep else None))
        if not keep:
            _Figures.close(fig)

    fig, axs = _Figures.subplots(1, 3, figsize=(12, 3.6))
    for ax, (label, (v, e)) in zip(axs[0], ((f"energy per spin e [{eu}]", s.energy),
                                            ("χ_SG = N ⟨q²⟩", s.chi_sg),
                                            ("Binder ratio g", s.binder))):
        ax.errorbar(T, v, yerr=e, fmt="o-", ms=3, lw=1, capsize=2)
        ax.set_xlabel(f"T [{eu}]")
        ax.set_ylabel(label)
        ax.set_xscale("log")
        kelvin_axis(ax, J0_kelvin)
    axs[0][0].set_title(f"{stem}: {s.spin}, N = {s.N}, {s.n_rows} measurements", fontsize=9, loc="left")
    finish("observables", fig)

    fig, axs = _Figures.subplots(1, 2, figsize=(9, 3.6))
    his = np.array([w[1] for w in s.windows], dtype=float)
    for t in range(min(LOWEST_SHOWN, T.size)):
        for ax, k in zip(axs[0], (3, 4)):
            ax.plot(his, [w[k][t] for w in s.windows], "o-", ms=3, lw=1, label=f"T = {T[t]:.4g}")
    for ax, label in zip(axs[0], (f"e [{eu}], window mean", "q², window mean")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("sweeps (upper edge of the window [2^k, 2^(k+1)))")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    axs[0][0].set_title(s.verdict, fontsize=7, loc="left", wrap=True)
    finish("equilibration", fig)

    fig, axs = _Figures.subplots(1, 2, figsize=(9, 3.6))
    ax = axs[0][0]
    if T.size > 1:
        mid = np.sqrt(T[:-1] * T[1:])
        ax.plot(mid, s.swap_acceptance, "o-", ms=3, lw=1)
    ax.set_xscale("log")
    ax.set_xlabel(f"T [{eu}] (geometric mean of the pair)")
    kelvin_axis(ax, J0_kelvin)
    ax.set_ylabel("swap acceptance (t, t+1)")
    ax.set_title("mean over ladders", fontsize=9, loc="left")
    ax.set_ylim(0, 1.02)
    ax = axs[0][1]
    walker = run.timeseries.get("walker")
    if walker is not None and np.size(walker):
        temps = walker_temperatures(walker[:TRIP_ROWS])
        sweeps = np.asarray(run.timeseries["sweep"][:TRIP_ROWS])
        # the ladder of each row (a self-tuning ladder moves before its freeze)
        ladders = row_temperatures(run.tempering, T, sweeps)
        rows = np.arange(sweeps.size)
        for w in range(min(WALKERS_SHOWN, T.size)):
            ax.step(sweeps, ladders[rows, temps[:, w]], where="post", lw=0.8, label=f"walker {w}")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set_xlabel("sweep")
    ax.set_ylabel(f"walker's temperature [{eu}]")
    ax.set_title("trips through the ladder (ladder 0)", fontsize=9, loc="left")
    finish("tempering", fig)
    return written
