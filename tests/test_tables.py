"""rkky_mc.analysis.read_tables: the tables of an `analyze` output as pandas DataFrames (dicts
of numpy arrays without pandas), equal to the CSV files, from the directory or analysis.h5."""
from __future__ import annotations

import csv
import math
import sys

import numpy as np
import pytest

from rkky_mc.analysis import read_csv, read_tables
from rkky_mc.analysis.tables import DRIFT_COLUMNS, TABLE_COLUMNS, write_tables

pd = pytest.importorskip("pandas")  # in the 'test' extra


def _tables():
    """Rows of the kinds `analyze` writes: numbers (NaN among them), strings, bool flags,
    and an empty table."""
    table = [dict(group="sk_ising_N16", series="sk_ising", model="sk", spin="ising", N=16,
                  L=math.nan, n_samples=4, T=T, quantity=q, value=v, error=e, bias=0.0,
                  units=u)
             for T, q, v, e, u in [(0.5, "energy", -0.71, 0.01, "J"), (0.5, "binder", 0.8, 0.05, "1"),
                                   (1.0, "xi", math.nan, math.nan, "a")]]
    drift = [dict(group="sk_ising_N16", series="sk_ising", T=0.5, quantity="energy", window_prev="[512, 1024)",
                  window_last="[1024, 2048)", n_samples=4, delta=d, error=0.01, nsigma=3.0, flag=abs(d) > 0.03)
             for d in (0.001, -0.05)]
    return {"table": table, "drift": drift, "crossings": []}


@pytest.fixture()
def out(tmp_path):
    write_tables(tmp_path, _tables(), ["a.h5", "b.h5"], include_thermalization=False,
                 interp="linear", drift_sigma=3.0)
    return tmp_path


def _header(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def _same(a, b) -> bool:
    """a from the frame, b from read_csv (which reads every number-like text as float)."""
    if isinstance(a, (bool, np.bool_)):
        return b == ("true" if a else "false")
    if isinstance(b, float):
        a = float(a)       # also a str column holding "1" (units)
        return (math.isnan(a) and math.isnan(b)) or a == b
    return str(a) == b


def test_dataframes_equal_the_csv_files(out):
    frames = read_tables(out)
    assert set(frames) == {"table", "drift", "crossings"}
    for name, df in frames.items():
        assert isinstance(df, pd.DataFrame)
        assert list(df.columns) == _header(out / f"{name}.csv")   # CSV order, not HDF5's sorted one
        rows = read_csv(out / f"{name}.csv")
        assert len(df) == len(rows) == len(_tables()[name])
        for i, row in enumerate(rows):
            for col, v in row.items():
                assert _same(df[col].iloc[i], v), (name, i, col, df[col].iloc[i], v)
    t = frames["table"]
    assert t["value"].dtype == np.float64 and t["N"].dtype == np.float64
    assert t["L"].isna().all() and t.loc[t["quantity"] == "xi", "value"].isna().all()
    assert t.loc[t["quantity"] == "binder", "value"].item() == 0.8
    assert frames["drift"]["flag"].dtype == bool
    assert frames["drift"]["flag"].tolist() == [False, True]
    assert list(frames["table"].columns) == TABLE_COLUMNS
    assert list(frames["drift"].columns) == DRIFT_COLUMNS


def test_directory_or_file_and_dicts(out):
    by_dir = read_tables(out)
    by_file = read_tables(out / "analysis.h5")
    for name in by_dir:
        pd.testing.assert_frame_equal(by_dir[name], by_file[name])
    dicts = read_tables(out, frames=False)
    assert set(dicts) == set(by_dir)
    for name, cols in dicts.items():
        assert isinstance(cols, dict) and list(cols) == list(by_dir[name].columns)
        for col, arr in cols.items():
            assert isinstance(arr, np.ndarray)
            np.testing.assert_array_equal(arr, by_dir[name][col].to_numpy())


def test_without_pandas_dicts(out, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)      # `import pandas` raises ImportError
    tables = read_tables(out)
    assert isinstance(tables["table"], dict)
    np.testing.assert_array_equal(tables["table"]["value"][:2], [-0.71, 0.8])
    assert tables["drift"]["flag"].dtype == bool
    with pytest.raises(ImportError, match="needs pandas"):
        read_tables(out, frames=True)
