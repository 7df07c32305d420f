"""Series: crossings between sizes and T_c estimates."""

from __future__ import annotations

from . import estimators as stats

# ---- series: crossings and T_c --------------------------------------------------------------


CROSSING_QUANTITIES = ("binder", "xi_over_L", "chi_sg_scaled", "chiral_binder", "chiral_xi_over_L")


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
