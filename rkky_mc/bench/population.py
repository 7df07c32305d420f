"""Population annealing's sweep and resampling costs (issue 18's "Speed").

For Ising and Heisenberg (Metropolis, dense SK couplings, one thread) at N = 128 and 1000
with R_p = 10⁴ replicas (quick: N = 128, R_p = 1000):

* the PA sweep, ns per replica update (``PopulationAnnealing.sweep``: every replica once,
  then the energies), against the PT sweep at the same N (``Simulation.sweep``, 16 T × 2
  walkers in [0.3, 2], with its swaps) timed in the same interleaved rounds. The replicas'
  β are set to the PT ladder's temperatures in turn, so both see the same mix of
  acceptances (cost follows acceptance);
* one resampling step (``enter_next_temperature``: reweight, multinomial parents, gather of
  the population into the spare buffers, fresh slot streams), ms.
"""
from __future__ import annotations

import statistics

import numpy as np

from .. import kernels as _kernels  # noqa: F401  (first: numba's threading settings, cache dir)
from .probes import _LADDER, _simulation, _Timer


def _pa(sample_keys: dict, population: int):
    from ..config import from_dict
    from ..couplings import build_sample
    from ..drivers.population_annealing import PopulationAnnealing

    ladder = {**_LADDER, "count": 64}  # enough steps for one resampling per round
    cfg = from_dict({"sample": sample_keys,
                     "anneal": {"method": "pa", "population": population, "temperatures": ladder,
                                "sweeps_per_temperature": 1, "seed": 2}})
    pa = PopulationAnnealing(cfg, build_sample(cfg.sample))
    pa.enter_next_temperature()
    return pa


def _set_ladder_betas(pa):
    """Replica r at the PT ladder's temperature r mod 16."""
    T = np.geomspace(_LADDER["min"], _LADDER["max"], _LADDER["count"])
    pa.beta_w[:] = np.resize(1.0 / T, pa.beta_w.shape)


def bench_population(quick: bool) -> list:
    import numba

    old = numba.get_num_threads()
    numba.set_num_threads(1)
    records = []
    population = 1000 if quick else 10_000
    sizes = (128,) if quick else (128, 1000)
    rounds = 3 if quick else 5
    try:
        for spin in ("ising", "heisenberg"):
            for N in sizes:
                keys = {"model": "sk", "N": N, "seed": 1, "sparse": "dense", "spin": spin}
                pa = _pa(keys, population)
                sim, _ = _simulation(keys, {"seed": 2})
                n_pt = max(2, int(2e6 / (N * sim.W * (3 if spin == "heisenberg" else 1))))
                pa_ns, pt_ns, ratios, resample_ms = [], [], [], []
                _set_ladder_betas(pa)
                pa.sweep()  # warm
                for _ in range(2):
                    sim.sweep()
                for _ in range(rounds):
                    _set_ladder_betas(pa)
                    with _Timer() as t:
                        pa.sweep()
                    pa_ns.append(t.wall / (pa.R * N) * 1e9)
                    with _Timer() as t:
                        for _ in range(n_pt):
                            sim.sweep()
                    pt_ns.append(t.wall / (n_pt * sim.N * sim.W) * 1e9)
                    ratios.append(pa_ns[-1] / pt_ns[-1])
                    with _Timer() as t:
                        pa.enter_next_temperature()
                    resample_ms.append(t.wall * 1e3)
                records.append({
                    "name": f"pa_{spin}_sk_N{N}_R{population}", "spin": spin, "N": N,
                    "population": population, "pa_ns": statistics.median(pa_ns),
                    "pt_ns": statistics.median(pt_ns), "pa_over_pt": statistics.median(ratios),
                    "pa_over_pt_range": [min(ratios), max(ratios)],
                    "resample_ms": statistics.median(resample_ms),
                    "resample_ms_range": [min(resample_ms), max(resample_ms)],
                    "rounds": rounds})
                del pa, sim
    finally:
        numba.set_num_threads(old)
    return records


def format_population(records: list) -> list[str]:
    lines = ["population annealing (one thread, Metropolis, dense SK; ns per replica update "
             "against the PT sweep at the same N, median [min, max] over rounds; one "
             "resampling step):"]
    for r in records:
        lo, hi = r["pa_over_pt_range"]
        rlo, rhi = r["resample_ms_range"]
        lines.append(f"  {r['name']:<34} PA {r['pa_ns']:7.2f} ns  PT {r['pt_ns']:7.2f} ns  "
                     f"PA/PT {r['pa_over_pt']:.2f} [{lo:.2f}, {hi:.2f}]  resampling "
                     f"{r['resample_ms']:.2f} ms [{rlo:.2f}, {rhi:.2f}]")
    return lines
