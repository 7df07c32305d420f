"""`rkky-mc calibrate`: the energy scale J0 in kelvin from one measured spin-glass temperature.

J0 in kelvin is not known from first principles here (the RKKY amplitude depends on the
s-d exchange of the impurity, which the model leaves out). It is *calibrated*: a measured
T_g of one alloy (e.g. CuMn 1 at.% ≈ 10 K, Tholence 1981) divided by the simulated T_g of
the model at that concentration in coupling units,

    J0_kelvin = T_g[K] / T_g[J0],
    σ(J0_kelvin) = J0_kelvin · sqrt((σ_K / T_g[K])² + (σ_J0 / T_g[J0])²)

(first-order propagation of independent errors). Agreement with experiment at the
calibration point is then true by construction; only other concentrations test the model.

T_g[J0] comes from ``--tg-j0 X --tg-j0-err dX`` or from the ``tc.csv`` of ``rkky-mc
analyze`` (``--from``; columns series, quantity, method, value, error, pairs), its row chosen
by ``--c`` (the concentration, looked up in ``groups.csv`` beside it), ``--spin`` or
``--series``, ``--quantity`` and ``--method``. ``--into RUN.h5`` records the calibration
in that run file's /provenance (attrs ``calibration_*``).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import ConfigError

NOT_AB_INITIO = ("a calibration against one measured T_g, not an ab initio value: the model "
                 "agrees with experiment at this point by construction")
TC_NEEDED = ("series", "quantity", "method", "value", "error")
GROUPS_NEEDED = ("series", "spin", "concentration")


@dataclass
class Calibration:
    """J0_kelvin = tg_kelvin / tg_j0 with its propagated error, and where the inputs came from."""

    J0_kelvin: float
    J0_kelvin_error: float
    tg_kelvin: float
    tg_kelvin_error: float
    tg_j0: float
    tg_j0_error: float
    source: str = ""        # "--tg-j0", or the tc.csv and its row
    note: str = ""          # the experiment, e.g. "CuMn 1 at.%, Tholence 1981"


def calibrate(tg_kelvin: float, tg_kelvin_error: float, tg_j0: float, tg_j0_error: float,
              source: str = "", note: str = "") -> Calibration:
    """J0_kelvin = tg_kelvin / tg_j0; relative errors added in quadrature (module docstring)."""
    value = tg_kelvin / tg_j0
    rel = math.hypot(tg_kelvin_error / tg_kelvin, tg_j0_error / tg_j0)
    return Calibration(value, value * rel, tg_kelvin, tg_kelvin_error, tg_j0, tg_j0_error,
                       source, note)


def _read_csv(path: Path, needed, key: str) -> list:
    from .analysis.tables import read_csv

    try:
        rows = read_csv(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(key, str(path), f"cannot be read ({exc})") from None
    with open(path, encoding="utf-8", errors="replace") as fh:
        header = fh.readline().strip().split(",")
    missing = [c for c in needed if c not in header]
    if missing:
        raise ConfigError(key, str(path), f"lacks column(s) {', '.join(missing)} (needs "
                          f"{', '.join(needed)}: a table written by rkky-mc analyze)")
    return rows


def tg_from_table(path, concentration=None, series=None, spin=None, quantity="xi_over_L",
                  method="largest_pair") -> tuple[float, float, str]:
    """(T_g, error, description of the row) from an analyze ``tc.csv`` (or its directory)."""
    p = Path(path)
    if p.is_dir():
        p = p / "tc.csv"
    if not p.is_file():
        raise ConfigError("--from", str(path), "no such file (a tc.csv of rkky-mc analyze, "
                          "or the --out directory holding it)")
    rows = _read_csv(p, TC_NEEDED, "--from")
    rows = [r for r in rows if r["quantity"] == quantity and r["method"] == method]
    if not rows:
        raise ConfigError("--from", str(p), f"has no T_c row with quantity {quantity!r} and "
                          f"method {method!r} (see --quantity, --method)")
    if series is not None:
        rows = [r for r in rows if r["series"] == series]
        if not rows:
            raise ConfigError("--series", series, f"no such series in {p} (for {quantity}, {method})")
    if concentration is not None or spin is not None:
        gpath = p.with_name("groups.csv")
        if not gpath.is_file():
            raise ConfigError("--c" if concentration is not None else "--spin",
                              concentration if concentration is not None else spin,
                              f"needs {gpath} (written by rkky-mc analyze beside tc.csv) to "
                              "find the series; or name it with --series")
        groups = _read_csv(gpath, GROUPS_NEEDED, "--from")
        wanted = {g["series"] for g in groups
                  if (concentration is None or (isinstance(g["concentration"], float)
                                                and math.isclose(g["concentration"], concentration,
                                                                 rel_tol=1e-9)))
                  and (spin is None or g["spin"] == spin)}
        rows = [r for r in rows if r["series"] in wanted]
        if not rows:
            have = sorted({(g["concentration"], g["spin"]) for g in groups}, key=repr)
            raise ConfigError("--c" if concentration is not None else "--spin",
                              concentration if concentration is not None else spin,
                              f"no T_c row in {p} for that concentration/spin "
                              f"({quantity}, {method}); the groups have (c, spin) = "
                              + ", ".join(f"({c:g}, {s})" if isinstance(c, float) else f"({c}, {s})"
                                          for c, s in have))
    if len({r["series"] for r in rows}) > 1:
        raise ConfigError("--series", series, "several series match: "
                          + ", ".join(sorted({r["series"] for r in rows}))
                          + "; choose one with --series (or --spin)")
    row = rows[0]
    value, error = row["value"], row["error"]
    if not (isinstance(value, float) and math.isfinite(value) and value > 0
            and isinstance(error, float) and math.isfinite(error) and error >= 0):
        raise ConfigError("--from", str(p), f"its T_c row ({row['series']}, {quantity}, {method}) "
                          f"has value {value!r} ± {error!r}: needs a finite T_c > 0 and error")
    pairs = f" [{row['pairs']}]" if row.get("pairs") not in (None, "") else ""
    return value, error, f"{p}: {row['series']}, {quantity}, {method}{pairs}"


def record_into(path, cal: Calibration, command_line: str, locking: bool = True) -> None:
    """Write the calibration into /provenance of the run file ``path`` (attrs
    calibration_J0_kelvin, calibration_J0_kelvin_error, calibration = JSON of every input),
    under the run's lock: never while another process advances the run."""
    from .hdf5 import FormatError, check_rkky_mc_file, update_provenance
    from .provenance import now_iso
    from .runtime import RunLock

    try:
        check_rkky_mc_file(path)
    except (FileNotFoundError, FormatError) as exc:
        raise ConfigError("--into", str(path), str(exc)) from None
    record = dict(asdict(cal), time=now_iso(), command_line=command_line, meaning=NOT_AB_INITIO)
    try:
        with RunLock(Path(path), locking):
            update_provenance(path, {"calibration_J0_kelvin": float(cal.J0_kelvin),
                                     "calibration_J0_kelvin_error": float(cal.J0_kelvin_error),
                                     "calibration": json.dumps(record)})
    except ConfigError as exc:
        raise ConfigError("--into", str(path), exc.allowed) from None
    except OSError as exc:
        raise ConfigError("--into", str(path), f"cannot be written ({exc})") from None


def report(cal: Calibration) -> str:
    """What `rkky-mc calibrate` prints."""
    tk = (f"({cal.tg_kelvin:g} ± {cal.tg_kelvin_error:g}) K" if cal.tg_kelvin_error
          else f"{cal.tg_kelvin:g} K (no error given)")
    lines = [f"J0_kelvin = {cal.J0_kelvin:.4g} ± {cal.J0_kelvin_error:.2g} K per coupling unit",
             f"  = T_g(experiment) / T_g(model) = {tk} / ({cal.tg_j0:.6g} ± {cal.tg_j0_error:.2g}) J0",
             f"  T_g(model) from {cal.source}"]
    if cal.note:
        lines.append(f"  T_g(experiment): {cal.note}")
    lines += [f"  This is {NOT_AB_INITIO}.",
              f"  Use it: --set sample.J0_kelvin={cal.J0_kelvin!r}"]
    return "\n".join(lines)


def _positive(key, value):
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(key, value, "must be a finite number > 0")


def _make_command():
    import sys

    import click

    @click.command("calibrate")
    @click.option("--tg-kelvin", type=float, required=True, metavar="K",
                  help="Measured T_g of the alloy in kelvin (e.g. CuMn 1 at.%: 10).")
    @click.option("--tg-kelvin-err", type=float, default=0.0, show_default=True, metavar="K",
                  help="Its error in kelvin.")
    @click.option("--from", "table", type=click.Path(), default=None, metavar="TC.CSV",
                  help="tc.csv of rkky-mc analyze (or its --out directory) holding T_g in J0.")
    @click.option("--c", "concentration", type=float, default=None,
                  help="Concentration of the alloy (picks the series of --from via groups.csv).")
    @click.option("--spin", type=click.Choice(["ising", "heisenberg"]), default=None,
                  help="Spin model of the series (when both were analysed).")
    @click.option("--series", default=None, help="The series of --from by name (instead of --c).")
    @click.option("--quantity", default="xi_over_L", show_default=True,
                  type=click.Choice(["xi_over_L", "binder", "chi_sg_scaled"]),
                  help="Crossing quantity of the T_c row.")
    @click.option("--method", default="largest_pair", show_default=True,
                  type=click.Choice(["largest_pair", "weighted_mean", "extrapolated"]),
                  help="T_c estimate of the row.")
    @click.option("--tg-j0", type=float, default=None, metavar="X",
                  help="T_g of the model in coupling units (instead of --from).")
    @click.option("--tg-j0-err", type=float, default=None, metavar="DX", help="Its error (with --tg-j0).")
    @click.option("--note", default="", help="What the measured T_g is, e.g. 'CuMn 1 at.%, Tholence 1981'.")
    @click.option("--into", "into", type=click.Path(dir_okay=False), default=None, metavar="RUN.h5",
                  help="Record the calibration in this run file's /provenance.")
    @click.option("--no-locking", is_flag=True, help="No lock file for --into.")
    def calibrate_command(tg_kelvin, tg_kelvin_err, table, concentration, spin, series, quantity,
                          method, tg_j0, tg_j0_err, note, into, no_locking):
        """J0 in kelvin = a measured T_g [K] / the model's T_g [J0] (with its error).

        A calibration against experiment, never an ab initio value. T_g of the model comes
        from --tg-j0/--tg-j0-err or from an analyze tc.csv (--from, with --c or --series).
        """
        from .runtime import fail_bad_input, locking_enabled

        try:
            _positive("--tg-kelvin", tg_kelvin)
            if not (math.isfinite(tg_kelvin_err) and tg_kelvin_err >= 0):
                raise ConfigError("--tg-kelvin-err", tg_kelvin_err, "must be a finite number ≥ 0")
            if (table is None) == (tg_j0 is None):
                raise ConfigError("--from", table, "give exactly one of --from TC.CSV and --tg-j0 X")
            if tg_j0 is not None:
                _positive("--tg-j0", tg_j0)
                if tg_j0_err is None or not (math.isfinite(tg_j0_err) and tg_j0_err >= 0):
                    raise ConfigError("--tg-j0-err", tg_j0_err, "needed with --tg-j0: a finite error ≥ 0")
                source = "--tg-j0 (given)"
            else:
                if tg_j0_err is not None:
                    raise ConfigError("--tg-j0-err", tg_j0_err, "only with --tg-j0 (--from has its own error)")
                if concentration is None and series is None and spin is None:
                    raise ConfigError("--c", None, "needed with --from (or --series): which alloy")
                _positive("--c", concentration)
                tg_j0, tg_j0_err, source = tg_from_table(table, concentration, series, spin,
                                                         quantity, method)
            cal = calibrate(tg_kelvin, tg_kelvin_err, tg_j0, tg_j0_err, source, note)
            if into is not None:
                record_into(into, cal, " ".join(sys.argv), locking_enabled(no_locking))
        except ConfigError as exc:
            fail_bad_input(exc)
        click.echo(report(cal))
        if into is not None:
            click.echo(f"  recorded in {into} (/provenance attrs calibration_*)")

    return calibrate_command


calibrate_command = _make_command()
