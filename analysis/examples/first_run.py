#!/usr/bin/env python
"""A first run from Python: run a config in memory (or open a run file), print its
temperatures, the mean energy per spin and the Binder ratio at each temperature, and draw
both against T into one figure.

    .venv/bin/python analysis/examples/first_run.py first_run.png                 # runs/demo.toml, in memory
    .venv/bin/python analysis/examples/first_run.py first_run.png --open runs/out/demo.h5   # after `make run`
    .venv/bin/python analysis/examples/first_run.py tiny.png --set sample.L=4 --set anneal.sweeps=2000

What it computes (one disorder sample, so the error bars are thermal only):
    ⟨e⟩ = mean of the energy per spin over the measured rows (sweep ≥ anneal.thermalization)
          and the R replicas;
    g   = ½(3 − ⟨q⁴⟩/⟨q²⟩²) for Ising spins, ½(11 − 9⟨q⁴⟩/⟨q²⟩²) for Heisenberg spins
          (q² = Σ_μν q_μν²), ⟨·⟩ over the measured rows and the P replica pairs;
errors from a jackknife over 32 consecutive blocks of rows (rkky_mc.summary.block_jackknife),
the same estimates as the table `rkky-mc run` prints.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import rkky_mc  # noqa: E402
from rkky_mc.config import ConfigError, load_config  # noqa: E402
from rkky_mc.summary import binder_ratio, block_jackknife  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "runs" / "demo.toml"


def estimates(run):
    """(T, (e, e_err), (g, g_err)) of a rkky_mc.Run, each (T,)."""
    measured = run["sweep"] >= run.config["anneal"]["thermalization"]
    e = run["energy"][measured].mean(axis=2)               # (M, T, R) -> (M, T)
    q = run["overlap"][measured]                           # (M, T, P) or (M, T, P, 3, 3)
    q2 = (q * q).sum(axis=(-2, -1)) if run.spin == "heisenberg" else q * q
    rows = {"e": e, "q2": q2.mean(axis=2), "q4": (q2 * q2).mean(axis=2)}
    energy = block_jackknife({"e": rows["e"]}, lambda m: m["e"])
    binder = block_jackknife({"q2": rows["q2"], "q4": rows["q4"]},
                             lambda m: binder_ratio(m["q2"], m["q4"], run.spin))
    return np.asarray(run.temperatures), energy, binder


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("figure", type=Path, help="where to write the figure (.png, .pdf, .svg)")
    ap.add_argument("--open", dest="run_file", metavar="RUN.h5",
                    help="read this run file instead of running a config")
    ap.add_argument("--config", default=str(DEMO), help="the config to run (default %(default)s)")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config key, as `rkky-mc run --set` (repeatable)")
    args = ap.parse_args(argv)

    try:
        if args.run_file:
            run = rkky_mc.open_run(args.run_file)
            label = args.run_file
        else:
            label = f"{args.config} (in memory)"
            config = load_config(args.config, overrides=args.sets)
            run = rkky_mc.run(config, backend="memory")     # nothing is written
    except (ConfigError, OSError, ValueError) as exc:
        print(f"first_run.py: error: {exc}", file=sys.stderr)
        return 2

    T, (e, e_err), (g, g_err) = estimates(run)
    unit = "J0" if run.sample.get("model") == "rkky" else "J"
    print(f"{label}: {run.sample.get('model')}, {run.spin} spins, N = {run.sample.get('N')}, "
          f"{run.n_valid} measurements, status {run.status}")
    print("temperatures [" + unit + "]:", " ".join(f"{t:.4g}" for t in T))
    print(f"{'T':>8}  {'<e> [' + unit + ']':>22}  {'Binder g':>18}")
    for t, a, da, b, db in zip(T, e, e_err, g, g_err):
        print(f"{t:8.4g}  {a:12.6f} ± {da:<8.6f}  {b:8.4f} ± {db:<7.4f}")

    fig, (ax_e, ax_g) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
    ax_e.errorbar(T, e, yerr=e_err, marker="o", ms=3, capsize=2)
    ax_e.set(xscale="log", xlabel=f"T [{unit}]", ylabel=f"energy per spin ⟨e⟩ [{unit}]")
    ax_g.errorbar(T, g, yerr=g_err, marker="o", ms=3, capsize=2)
    ax_g.set(xscale="log", xlabel=f"T [{unit}]", ylabel="Binder ratio g")
    fig.suptitle(f"{Path(label).name}: {run.spin}, N = {run.sample.get('N')}", fontsize=10)
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure)
    plt.close(fig)
    print(f"figure: {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
