"""Fill numba's on-disk cache with the kernels of every run variant, in parallel processes.

    python -m rkky_mc.kernels.warm [--jobs K]

A variant is spin type × coupling storage × precision × move: each compiles (or loads) its
chunk kernel (kernels/chunk.py) with everything it calls, the sweep-by-sweep reference path
(Simulation.sweep / measure) and the coupling builder of its model. With an empty cache the
variants are split over K processes (each compiles a disjoint share: no kernel is compiled
twice at once), so `make test` starts its workers on a warm cache; with a warm cache each
process takes about a second. Results never depend on it: it only compiles.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

# (spin, storage, precision, update): the chunk kernels and their callees. Ordered so that a
# round-robin split gives each process about the same compile work (dense Ising and dense
# Heisenberg are the heaviest).
VARIANTS = [
    (spin, storage, prec, update)
    for spin, storage in (("ising", "dense"), ("heisenberg", "dense"), ("ising", "csr"),
                          ("heisenberg", "csr"))
    for prec in ("float64", "float32")
    for update in ("metropolis", "heatbath")
] + [("heisenberg", "dense-dm", "float64", update) for update in ("metropolis", "heatbath")]


def warm_variant(spin: str, storage: str, precision: str, update: str) -> None:
    """Compile one variant on a tiny run of it: chunks with and without link overlap, the
    sweep-by-sweep path, and its model's coupling builder."""
    from ..config import from_dict
    from ..couplings import build_sample
    from ..simulation import Simulation

    samples = {"dense": [{"model": "sk", "N": 6, "seed": 1, "sparse": "dense"},
                         {"model": "rkky", "L": 2, "concentration": 0.5, "seed": 1,
                          "sparse": "dense"}],
               "csr": [{"model": "ea", "L": 2, "distribution": "pm1", "seed": 1},
                       {"model": "rkky", "L": 2, "concentration": 0.5, "seed": 1,
                        "cutoff": 1.0, "sparse": "csr"}],
               # DM vectors (kernels/dm_chunk.py): dense float64 Heisenberg only
               "dense-dm": [{"model": "sk", "N": 6, "seed": 1, "sparse": "dense", "dm": "random",
                             "dm_strength": 0.3}]}[storage]
    for sample in samples:
        cfg = from_dict({"sample": {**sample, "spin": spin},
                         "anneal": {"temperatures": [0.5, 1.0], "replicas": 2,
                                    "thermalization": 0, "sweeps": 4, "update": update,
                                    "overrelaxation": 1 if spin == "heisenberg" else 0,
                                    "precision": precision, "seed": 1}})
        sim = Simulation(cfg, build_sample(cfg.sample, precision=precision))
        sim.run_chunk(2)
        sim.sweep()
        sim.measure()
        _warm_population_annealing(cfg, precision)


def _warm_population_annealing(cfg, precision: str) -> None:
    """The population-annealing path of the same variant (kernels/population.py and the
    sweep kernels it calls with one replica per order)."""
    from ..config import from_dict
    from ..couplings import build_sample
    from ..drivers.population_annealing import PopulationAnnealing

    a = cfg.anneal
    pa_cfg = from_dict({"sample": cfg.to_dict()["sample"],
                        "anneal": {"method": "pa", "temperatures": [0.5, 1.0], "population": 4,
                                   "sweeps_per_temperature": 1, "update": a.update,
                                   "overrelaxation": a.overrelaxation, "precision": precision,
                                   "seed": 1}})
    pa = PopulationAnnealing(pa_cfg, build_sample(pa_cfg.sample, precision=precision))
    pa.run(lambda buffer, final: None)


def _run_share(share: list) -> None:
    for variant in share:
        warm_variant(*variant)


def warm(jobs: int = 2) -> float:
    """Warm every variant over ``jobs`` processes (this one included); returns seconds."""
    t0 = time.perf_counter()
    shares = [VARIANTS[k::jobs] for k in range(jobs)]
    env = dict(os.environ, NUMBA_NUM_THREADS=os.environ.get("NUMBA_NUM_THREADS") or "1")
    helpers = [subprocess.Popen([sys.executable, "-m", "rkky_mc.kernels.warm", "--share",
                                 repr(share)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True) for share in shares[1:]]
    failures = []
    try:
        _run_share(shares[0])
    finally:
        for proc in helpers:
            _, err = proc.communicate(timeout=3600)
            if proc.returncode != 0:
                failures.append(err.strip()[-2000:])
    if failures:
        raise RuntimeError("kernel warm-up failed: " + " | ".join(failures))
    return time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--share", help=argparse.SUPPRESS)  # a helper process's variants
    args = parser.parse_args(argv)
    if args.share:
        import ast

        _run_share([tuple(v) for v in ast.literal_eval(args.share)])
        return 0
    seconds = warm(max(1, args.jobs))
    print(f"numba kernels warm ({len(VARIANTS)} run variants, {args.jobs} processes): "
          f"{seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

