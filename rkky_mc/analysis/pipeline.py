"""The whole analysis: files -> samples -> groups -> results -> tables (and figures)."""

from __future__ import annotations

import contextlib
import sys
import time
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError
from .averages import analyze_group
from .crossings import analyze_series
from .groups import make_groups
from .samples import find_run_files, read_sample
from .tables import _group_row, add_kelvin_columns, write_tables

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
    samples, skipped = [], []  # skipped: (path, reason), also the files found but not run files
    files = find_run_files(paths, exclude=out_dir, warn=_warn, skipped=skipped)
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
    with _quiet_numpy():
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
        with _quiet_numpy():
            c, t = analyze_series(ser, by_series[ser], interp, _warn)
        cross += c
        tc += t
    group_rows = [_group_row(r) for r in results]
    tables = {"table": table, "crossings": cross, "tc": tc, "equilibration": equil,
              "drift": drift, "groups": group_rows}
    add_kelvin_columns(tables, groups)
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


@contextlib.contextmanager
def _quiet_numpy():
    """Undefined ratios of too few measurements (a Binder ratio of q² = 0, a mean of no
    blocks) are nan in the tables, as documented: numpy's raw RuntimeWarnings about them
    would only repeat that without saying where."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"), _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)
        yield
