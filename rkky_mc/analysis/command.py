"""`rkky-mc analyze`: the click command and its summary."""

from __future__ import annotations

import sys

from ..config import ConfigError
from .pipeline import AnalysisResult, analyze

# ---- command line -----------------------------------------------------------------------------


def _summary(res: AnalysisResult) -> str:
    lines = [f"rkky-mc analyze: {len(res.files)} file(s), {len(res.skipped)} skipped, "
             f"{len(res.groups)} group(s) in {res.elapsed:.1f} s"]
    for row in res.tables["groups"]:
        flag = ""
        if row["drift_flags"]:
            flag = (f"; equilibration drift in {row['drift_flags']} of {row['drift_tests']} "
                    f"checks (~{row['drift_expected_by_chance']:.1f} expected by chance)")
        lines.append(f"  {row['group']}: {row['n_samples']} sample(s)"
                     + (f", {row['n_running']} running" if row["n_running"] else "") + flag)
    for row in res.tables["tc"]:
        lines.append(f"  T_c ({row['series']}, {row['quantity']}, {row['method']} "
                     f"[{row['pairs']}]): {row['value']:.4g} ± {row['error']:.2g}")
    if res.out_dir is not None:
        lines.append(f"  wrote {res.out_dir}/ (table.csv, crossings.csv, tc.csv, "
                     f"equilibration.csv, drift.csv, groups.csv, analysis.h5, "
                     f"{len(res.figures)} figure(s))")
    return "\n".join(lines)


def _make_command():
    import click

    @click.command("analyze")
    @click.argument("paths", nargs=-1, required=True, type=click.Path())
    @click.option("--out", "out_dir", required=True, type=click.Path(), metavar="DIR",
                  help="Output directory for tables (CSV, HDF5) and figures (PNG).")
    @click.option("--include-thermalization", is_flag=True,
                  help="Thermal averages over every measurement, not only sweep >= thermalization.")
    @click.option("--interp", type=click.Choice(["linear", "cubic"]), default="linear",
                  show_default=True, help="Interpolation of the curves for crossings.")
    @click.option("--drift-sigma", type=click.FloatRange(min=0.0, min_open=True), default=3.0,
                  show_default=True, help="Flag equilibration drift beyond this many errors.")
    @click.option("--no-figures", is_flag=True, help="Tables only.")
    @click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary (warnings still shown).")
    def analyze_command(paths, out_dir, include_thermalization, interp, drift_sigma, no_figures, quiet):
        """Disorder averages, Binder ratios, χ_SG, ξ_L/L, crossings and T_c from run files.

        PATHS are run files (.h5) or directories (searched recursively). Files are grouped
        by physical parameters; each file is one disorder sample. Writes table.csv,
        crossings.csv, tc.csv, equilibration.csv, drift.csv, groups.csv, analysis.h5 and
        PNG figures to DIR.
        """
        from ..cli import fail_bad_input

        def warn(msg):
            click.echo(f"rkky-mc: warning: {msg}", err=True)

        try:
            res = analyze(paths, out_dir, include_thermalization=include_thermalization,
                          interp=interp, drift_sigma=drift_sigma, figures=not no_figures,
                          warn=warn, progress=not quiet and sys.stderr.isatty())
        except ConfigError as exc:
            fail_bad_input(exc)
        if not quiet:
            click.echo(_summary(res), err=True)

    return analyze_command


analyze_command = _make_command()
