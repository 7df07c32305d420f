"""Population annealing against parallel tempering at equal CPU time on one dilute RKKY sample
(issue 18's comparison): e and q² with their errors at the lowest temperature.

    .venv/bin/python analysis/pa_vs_pt.py [--runs 4] [--population 10000] [--out DIR]

The sample: dilute RKKY Ising, c = 5 % on an L = 8 fcc host (N = 102, sample.seed = 1),
T_min = 0.1 J0 (well below the demo's Binder rise). PA: ``--runs`` independent runs
(anneal.seed 1 … runs) of R_p = ``--population`` over ``--pa-temperatures`` geometric
temperatures 0.1 … 1.2 J0, ``--sweeps-per-temperature`` Metropolis sweeps each; its error is
the standard error over the runs. PT: as many independent runs, 12 temperatures 0.1 … 1.2 × 2
replicas, Metropolis, measure_every = 4, a quarter of the sweeps for thermalization, with
the number of sweeps chosen so that one PT run takes the CPU time of one PA run (from a
timed pilot); its error is the standard error over the runs (each run's own binning error
is printed beside it). One thread per run throughout. Writes DIR/pa_vs_pt.csv.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

SAMPLE = {"model": "rkky", "spin": "ising", "seed": 1, "lattice": "fcc", "L": 8,
          "concentration": 0.05, "normalize": "nn", "J0": 1.0}
T_MIN, T_MAX = 0.1, 1.2


def _pa_config(seed, population, n_temps, n_sweeps):
    return {"sample": dict(SAMPLE),
            "anneal": {"method": "pa", "population": population, "seed": seed,
                       "temperatures": {"min": T_MIN, "max": T_MAX, "count": n_temps},
                       "sweeps_per_temperature": n_sweeps, "update": "metropolis"}}


def _pt_config(seed, sweeps):
    return {"sample": dict(SAMPLE),
            "anneal": {"temperatures": {"min": T_MIN, "max": T_MAX, "count": 12},
                       "replicas": 2, "thermalization": max(1, sweeps // 4), "sweeps": sweeps,
                       "measure_every": 4, "update": "metropolis", "seed": seed,
                       "link_overlap": False}}


def _cpu_run(rkky_mc, config):
    t0 = time.process_time()
    run = rkky_mc.run(config, backend="memory", threads=1)
    return run, time.process_time() - t0


def _pt_lowest(run):
    """(e, q², binning errors of both) at the lowest temperature, measured rows only."""
    from rkky_mc.analysis.estimators import binning_errors

    measured = run["sweep"] >= run.config["anneal"]["thermalization"]
    e = run["energy"][measured][:, 0, :].mean(axis=1)
    q2 = (run["overlap"][measured][:, 0, :] ** 2).mean(axis=1)
    # the largest bin size's error (32 bins or more): the plateau for these run lengths
    return e.mean(), q2.mean(), binning_errors(e)[1][-1], binning_errors(q2)[1][-1]


def _mean_err(x):
    x = np.asarray(x, float)
    return x.mean(), x.std(ddof=1) / math.sqrt(len(x))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--population", type=int, default=10_000)
    ap.add_argument("--pa-temperatures", type=int, default=32)
    ap.add_argument("--sweeps-per-temperature", type=int, default=10)
    ap.add_argument("--out", default="analysis/out/pa_vs_pt")
    args = ap.parse_args(argv)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    import rkky_mc

    pa_rows = []
    for seed in range(1, args.runs + 1):
        run, cpu = _cpu_run(rkky_mc, _pa_config(seed, args.population, args.pa_temperatures,
                                                 args.sweeps_per_temperature))
        pa = run.groups["pa"]
        k = int(np.argmin(pa["temperatures"]))
        pa_rows.append((float(pa["energy"][k]), float(pa["q2"][k]), cpu,
                        float(pa["free_energy"][k]), int(pa["families"][k]),
                        float(pa["rho_t"][k])))
        print(f"PA run {seed}: e = {pa_rows[-1][0]:.6f}, q² = {pa_rows[-1][1]:.5f}, "
              f"f = {pa_rows[-1][3]:.6f}, families {pa_rows[-1][4]}, rho_t "
              f"{pa_rows[-1][5]:.1f}, CPU {cpu:.1f} s", flush=True)
    pa_cpu = float(np.mean([r[2] for r in pa_rows]))
    # PT sweeps for the same CPU: a timed pilot (after a warm-up that compiles)
    _cpu_run(rkky_mc, _pt_config(99, 200))
    pilot_sweeps = 4000
    _, pilot_cpu = _cpu_run(rkky_mc, _pt_config(98, pilot_sweeps))
    # thermalization = sweeps // 4 in the pilot and the runs alike: CPU ∝ sweeps
    sweeps = max(400, int(pilot_sweeps * pa_cpu / pilot_cpu))
    pt_rows = []
    for seed in range(1, args.runs + 1):
        run, cpu = _cpu_run(rkky_mc, _pt_config(seed, sweeps))
        e, q2, de, dq2 = _pt_lowest(run)
        pt_rows.append((e, q2, cpu, de, dq2))
        print(f"PT run {seed}: e = {e:.6f} ± {de:.6f}, q² = {q2:.5f} ± {dq2:.5f}, "
              f"{sweeps} sweeps, CPU {cpu:.1f} s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = []
    for method, rows in (("pa", pa_rows), ("pt", pt_rows)):
        e, de = _mean_err([r[0] for r in rows])
        q2, dq2 = _mean_err([r[1] for r in rows])
        cpu = float(np.mean([r[2] for r in rows]))
        table.append({"method": method, "T": T_MIN, "e": e, "e_err": de, "q2": q2,
                      "q2_err": dq2, "runs": len(rows), "cpu_s_per_run": cpu,
                      "population" if method == "pa" else "sweeps":
                      args.population if method == "pa" else sweeps})
    with open(out / "pa_vs_pt.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["method", "T", "e", "e_err", "q2", "q2_err", "runs",
                                           "cpu_s_per_run", "population", "sweeps"])
        w.writeheader()
        w.writerows(table)
    print(f"\nT = {T_MIN} J0, N = 102, {args.runs} independent runs each "
          f"(errors: standard error over the runs)")
    for r in table:
        print(f"  {r['method'].upper()}: e = {r['e']:.6f} ± {r['e_err']:.6f}   q² = "
              f"{r['q2']:.5f} ± {r['q2_err']:.5f}   CPU {r['cpu_s_per_run']:.1f} s per run")
    d_e = (table[0]["e"] - table[1]["e"]) / math.hypot(table[0]["e_err"], table[1]["e_err"])
    d_q = (table[0]["q2"] - table[1]["q2"]) / math.hypot(table[0]["q2_err"], table[1]["q2_err"])
    print(f"  PA − PT: e {d_e:+.2f}σ, q² {d_q:+.2f}σ; wrote {out / 'pa_vs_pt.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
