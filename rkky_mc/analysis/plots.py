"""Figures of `rkky-mc analyze` (matplotlib, Agg backend: no display needed).

Every curve is drawn from the rows of an analysis table (``table`` or ``equilibration``),
never recomputed: each :class:`FigureRecord` lists, per curve, the table, the row filter and
the x column it was drawn from, so a test can read the table back from disk and compare it
with the artists (``ErrorbarContainer``) of the figure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

QUANTITY_LABELS = {
    "binder": "spin-glass Binder ratio g",
    "xi_over_L": "ξ_L / L",
    "chi_sg": "χ_SG = N [⟨q²⟩]",
    "chi_sg_scaled": "χ_SG / N^(1/3)",
    "energy": "energy per spin e [{eu}]",
    "specific_heat": "specific heat per spin c [k_B]",
    "swap_acceptance": "swap acceptance (T, next T)",
    "link_overlap": "link overlap q_l (J²-weighted)",
    "link_overlap_bonds": "bond overlap q_b (unweighted)",
    "identity_diff": "e_J + (β/2)(1 − [⟨q²⟩]) [{eu}]",            # SK
    "identity_diff_ea": "e_J + 3β(1 − [⟨q_b⟩]) [{eu}]",           # EA Gaussian
}


@dataclass
class Curve:
    axes: int                 # index into fig.axes
    label: str                # the ErrorbarContainer's label
    table: str                # "table" | "equilibration"
    filter: dict              # column -> value selecting the rows
    x: str                    # column plotted on x ("T", "window_hi")


@dataclass
class FigureRecord:
    name: str
    path: Path
    curves: list = field(default_factory=list)
    figure: object = None     # the matplotlib Figure if kept (else closed)


class _Figures:
    """pyplot-free figure factory: figures are plain ``matplotlib.figure.Figure`` objects
    (Agg canvas), never registered with pyplot, so nothing needs a display and nothing is
    retained after the caller drops them."""

    @staticmethod
    def subplots(nrows, ncols, figsize, squeeze=False):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        FigureCanvasAgg(fig)
        axs = fig.subplots(nrows, ncols, squeeze=squeeze)
        return fig, axs

    @staticmethod
    def close(fig):
        fig.clear()


def _pyplot():
    return _Figures


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)


def select(rows, flt: dict, x: str):
    """Rows matching ``flt`` with a finite value, sorted by ``x`` -> (x, value, error)."""
    sel = [r for r in rows if all(r.get(k) == v for k, v in flt.items())
           and np.isfinite(r["value"]) and np.isfinite(r[x])]
    sel.sort(key=lambda r: r[x])
    return (np.array([r[x] for r in sel], dtype=float),
            np.array([r["value"] for r in sel], dtype=float),
            np.array([r["error"] for r in sel], dtype=float))


def _size_label(g) -> str:
    if g.size_name == "L":
        return f"L = {g.L:g} (N = {g.N}, {len(g.samples)} samples)"
    return f"N = {g.N} ({len(g.samples)} samples)"


def _draw(ax, rows, flt, x, label, rec, axes_index, table):
    xs, ys, es = select(rows, flt, x)
    if xs.size == 0:
        return False
    ax.errorbar(xs, ys, yerr=es, fmt="o-", ms=3, lw=1, capsize=2, label=label)
    rec.curves.append(Curve(axes_index, label, table, dict(flt), x))
    return True


def kelvin_axis(ax, J0_kelvin):
    """A second temperature axis in kelvin (top) on ``ax`` whose x axis is T in coupling
    units: T_K = T × J0_kelvin. Nothing when J0_kelvin is unknown (None or NaN)."""
    if J0_kelvin is None or not np.isfinite(J0_kelvin) or J0_kelvin <= 0:
        return None
    k = float(J0_kelvin)
    sec = ax.secondary_xaxis("top", functions=(lambda t: t * k, lambda t: t / k))
    sec.set_xlabel(f"T [K] (J0_kelvin = {k:.4g} K)", fontsize=8)
    return sec


def _tc_text(tc_rows, series, quantity) -> str:
    parts = []
    for r in tc_rows:
        if r["series"] == series and r["quantity"] == quantity and np.isfinite(r["value"]):
            parts.append(f"{r['method'].replace('_', ' ')}: T = {r['value']:.3f} ± {r['error']:.3f}")
    # two estimates per line: the title must fit a one-panel figure
    return "\n".join("; ".join(parts[k:k + 2]) for k in range(0, len(parts), 2))


def make_figures(tables: dict, groups: list, out: Path, keep: bool = False) -> list:
    """All figures per series -> list of FigureRecord (PNG files written to ``out``)."""
    plt = _pyplot()
    rows = tables["table"]
    eq_rows = tables["equilibration"]
    series_groups: dict = {}
    for g in groups:
        series_groups.setdefault(g.series, []).append(g)
    records = []
    for series, gs in sorted(series_groups.items()):
        gs = sorted(gs, key=lambda g: (g.size, g.label))
        eu = gs[0].samples[0].energy_unit
        tlabel = f"temperature T [{eu}]"
        J0_kelvin = gs[0].J0_kelvin
        specs = [
            ("binder", [("binder", QUANTITY_LABELS["binder"])], False),
            ("xi_over_L", [("xi_over_L", QUANTITY_LABELS["xi_over_L"])], False),
            ("chi_sg", [("chi_sg", QUANTITY_LABELS["chi_sg"])], True),
            ("chi_sg_scaled", [("chi_sg_scaled", QUANTITY_LABELS["chi_sg_scaled"])], False),
            ("energy", [("energy", QUANTITY_LABELS["energy"].format(eu=eu)),
                        ("specific_heat", QUANTITY_LABELS["specific_heat"])], False),
            ("swap_acceptance", [("swap_acceptance", QUANTITY_LABELS["swap_acceptance"])], False),
        ]
        for name, panels, logy in specs:
            if not any(r["series"] == series and r["quantity"] == panels[0][0] for r in rows):
                continue
            fig, axs = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.0), squeeze=False)
            rec = FigureRecord(name, out / f"{name}_{_safe(series)}.png")
            for i, (quantity, ylabel) in enumerate(panels):
                ax = axs[0, i]
                for g in gs:
                    _draw(ax, rows, {"group": g.label, "quantity": quantity}, "T",
                          _size_label(g), rec, i, "table")
                if quantity == "swap_acceptance":
                    ax.set_xlabel(f"lower temperature of the pair T [{eu}]")
                    ax.set_ylim(0.0, 1.05)
                else:
                    ax.set_xlabel(tlabel)
                kelvin_axis(ax, J0_kelvin)
                ax.set_ylabel(ylabel)
                if logy and all(np.all(select(rows, c.filter, c.x)[1] > 0) for c in rec.curves):
                    from matplotlib.ticker import LogLocator, ScalarFormatter

                    ax.set_yscale("log")
                    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                    ax.yaxis.set_major_formatter(ScalarFormatter())
                    ax.yaxis.set_minor_locator(LogLocator(base=10, subs="auto"))
                    ax.yaxis.set_minor_formatter("")
                ax.grid(alpha=0.3)
                ax.legend(fontsize=8)
            title = series
            tct = _tc_text(tables["tc"], series, panels[0][0])
            if tct:
                title += "\n" + tct
            fig.suptitle(title, fontsize=9)
            fig.tight_layout()
            fig.savefig(rec.path, dpi=110)
            _finish(plt, fig, rec, keep)
            records.append(rec)
        rec = _equilibration_figure(plt, eq_rows, series, gs, out, eu)
        if rec is not None:
            _finish(plt, rec.figure, rec, keep)
            records.append(rec)
    return records


def _finish(plt, fig, rec, keep):
    if keep:
        rec.figure = fig
    else:
        plt.close(fig)
        rec.figure = None


def _equilibration_figure(plt, eq_rows, series, gs, out, eu):
    quantities = [q for q in ("energy", "chi_sg", "binder", "identity_diff")
                  if any(r["series"] == series and r["quantity"] == q for r in eq_rows)]
    if not quantities:
        return None
    fig, axs = plt.subplots(1, len(quantities), figsize=(4.6 * len(quantities), 4.0), squeeze=False)
    rec = FigureRecord("equilibration", out / f"equilibration_{_safe(series)}.png")
    for i, quantity in enumerate(quantities):
        ax = axs[0, i]
        for g in gs:
            t_low = float(g.temperatures[0])
            label = _size_label(g).split(" (")[0] + f", T = {t_low:.4g}"
            _draw(ax, eq_rows, {"group": g.label, "quantity": quantity, "T": t_low},
                  "window_hi", label, rec, i, "equilibration")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("end of the window [2^k, 2^(k+1)) [sweeps]")
        label_key = quantity
        if quantity == "identity_diff" and gs[0].model == "ea":
            label_key = "identity_diff_ea"
        ax.set_ylabel(QUANTITY_LABELS.get(label_key, quantity).format(eu=eu))
        if quantity == "identity_diff":
            ax.axhline(0.0, color="k", lw=0.8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{series}: equilibration at the lowest temperature "
                 "(averages over logarithmic windows of sweeps)", fontsize=9)
    fig.tight_layout()
    fig.savefig(rec.path, dpi=110)
    rec.figure = fig
    return rec
