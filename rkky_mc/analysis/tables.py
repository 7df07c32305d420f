"""The output tables: their columns, CSV and HDF5 writers and readers."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from .averages import GroupResult

ANALYSIS_FORMAT = "rkky_mc_analysis"
ANALYSIS_FORMAT_VERSION = 1

# columns of the tables (CSV and HDF5), in order
# (the _K columns: the temperature in kelvin, T × sample.J0_kelvin; NaN when the runs have
# no J0_kelvin -- see add_kelvin_columns)
TABLE_COLUMNS = ["group", "series", "model", "spin", "N", "L", "n_samples", "T", "quantity",
                 "value", "error", "bias", "units", "T_K"]
EQUIL_COLUMNS = ["group", "series", "model", "spin", "N", "L", "T", "window_lo", "window_hi",
                 "n_samples", "quantity", "value", "error", "units", "T_K"]
DRIFT_COLUMNS = ["group", "series", "T", "quantity", "window_prev", "window_last", "n_samples",
                 "delta", "error", "nsigma", "flag", "T_K"]
CROSS_COLUMNS = ["series", "quantity", "size_name", "size1", "size2", "group1", "group2",
                 "n_samples1", "n_samples2", "T_cross", "error", "n_roots", "interp",
                 "T_cross_K", "error_K"]
TC_COLUMNS = ["series", "quantity", "method", "value", "error", "n_pairs", "pairs",
              "value_K", "error_K"]
GROUP_COLUMNS = ["group", "series", "model", "spin", "N", "L", "size_name", "size",
                 "lattice", "concentration", "kf", "J0", "normalize", "cutoff", "damping",
                 "min_distance", "distribution", "field", "n_temperatures", "T_min", "T_max",
                 "n_samples", "n_files", "n_running", "n_measured_min", "n_measured_max",
                 "sweeps_min", "sweeps_max", "drift_flags", "drift_tests",
                 "drift_expected_by_chance", "energy_unit", "J0_kelvin", "T_min_K", "T_max_K"]
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


def add_kelvin_columns(tables: dict, groups: list) -> None:
    """Add the _K columns to the rows of ``tables`` in place: temperatures (T, T_cross, T_c
    and their errors) times the J0_kelvin of the rows' group or series (part of the group
    key, so one value per group and per series); NaN where the runs have none."""
    by_group = {g.label: g.J0_kelvin for g in groups}
    by_series: dict = {}
    for g in groups:
        by_series.setdefault(g.series, g.J0_kelvin)
    for name in ("table", "equilibration", "drift"):
        for row in tables.get(name, []):
            row["T_K"] = float(row["T"]) * by_group.get(row["group"], math.nan)
    for row in tables.get("crossings", []):
        k = by_series.get(row["series"], math.nan)
        row["T_cross_K"], row["error_K"] = float(row["T_cross"]) * k, float(row["error"]) * k
    for row in tables.get("tc", []):
        k = by_series.get(row["series"], math.nan)
        row["value_K"], row["error_K"] = float(row["value"]) * k, float(row["error"]) * k
    for row in tables.get("groups", []):
        k = by_group.get(row["group"], math.nan)
        row["J0_kelvin"], row["T_min_K"], row["T_max_K"] = k, row["T_min"] * k, row["T_max"] * k


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

    from .. import __version__

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


def read_tables(path, frames: bool | None = None) -> dict:
    """The tables of an `rkky-mc analyze` output: ``path`` is its directory (``--out DIR``)
    or the ``analysis.h5`` in it.  Returns table name ("table", "crossings", "tc",
    "equilibration", "drift", "groups") -> a pandas DataFrame when pandas is installed
    (``frames=None``, the default, or ``frames=True``), else (or with ``frames=False``) a dict
    column -> numpy array.  Columns come in the order of the CSV files; numbers are float64
    (NaN where a value is undefined), flags bool, everything else str."""
    import h5py

    path = Path(path)
    if path.is_dir():
        path = path / "analysis.h5"
    pd = None
    if frames is None or frames:
        try:
            import pandas as pd
        except ImportError:
            if frames:
                raise ImportError("read_tables(frames=True) needs pandas: pip install pandas "
                                  "(or the rkky_mc 'test' extra)") from None
    out = {}
    with h5py.File(path, "r") as f:
        for name, g in f.items():
            if not hasattr(g, "items"):
                continue
            cols = {}
            order = _COLUMNS.get(name, [])     # CSV order; columns unknown here follow, sorted
            for col in [c for c in order if c in g] + [c for c in g if c not in order]:
                arr = g[col][()]
                if arr.dtype.kind == "O":
                    arr = np.array([a.decode() if isinstance(a, bytes) else a for a in arr],
                                   dtype=object)
                cols[col] = arr
            out[name] = pd.DataFrame(cols) if pd is not None else cols
    return out
