"""The sweep cases (ns per attempted update, timed in interleaved rounds, with the C reference),
the temperature ratio and the coupling build."""

from __future__ import annotations

import math
import statistics

import numpy as np

from .. import kernels as _kernels  # noqa: F401  (first: numba's threading settings, cache dir)
from .probes import _median_timing, _row_bytes, _simulation, _Timer
from .report import TARGETS


class _Case:
    """One sweep figure: a simulation, sweeps per timed repeat, and optionally the bare kernel
    (``kernel()`` = one sweep; ``kernel_only``: only the kernel is timed)."""

    def __init__(self, name, sim, n_sweeps, kernel=None, components=1, kernel_only=False,
                 acceptance=None):
        self.name, self.sim, self.n, self.kernel = name, sim, n_sweeps, kernel
        self.components, self.kernel_only, self.acceptance = components, kernel_only, acceptance
        self.walls, self.cpus, self.kwalls, self.kcpus = [], [], [], []
        self.flips = self.attempts = 0

    def warm(self):
        if not self.kernel_only:
            for _ in range(2):
                self.sim.sweep()
        if self.kernel is not None:
            self.kernel()

    def time_once(self):
        sim = self.sim
        if not self.kernel_only:
            f0 = sim.flips.sum()
            with _Timer() as t:
                for _ in range(self.n):
                    sim.sweep()
            self.walls.append(t.wall)
            self.cpus.append(t.cpu)
            self.flips += sim.flips.sum() - f0
            self.attempts += self.n * sim.N * sim.W
        if self.kernel is not None:
            with _Timer() as t:
                for _ in range(self.n):
                    self.kernel()
            self.kwalls.append(t.wall)
            self.kcpus.append(t.cpu)


def _time_interleaved(cases, repeats):
    """``repeats`` rounds, each timing every case once: a slow spell of a shared machine then
    hits one repeat of every case rather than all repeats of one case."""
    for case in cases:
        case.warm()
    for _ in range(repeats):
        for case in cases:
            case.time_once()


def _sweep_record(case, bandwidth):
    """The figures of a timed case: medians over its repeats, the bandwidth bound."""
    sim = case.sim
    N, W = sim.N, sim.W
    per = 1e9 / (case.n * N * W)
    if case.acceptance is not None:
        acc = case.acceptance
    else:
        acc = case.flips / case.attempts
    walls, cpus = (case.kwalls, case.kcpus) if case.kernel_only else (case.walls, case.cpus)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    rec = {"name": case.name, "N": N, "T": sim.T, "R": sim.R,
           "precision": np.dtype(sim.dtype).name, "ns": wall * per, "ns_cpu": cpu * per,
           "sweeps_per_s": case.n / wall, "acceptance": float(acc), "repeats": len(walls)}
    if case.kernel is not None:
        rec["kernel_ns"] = statistics.median(case.kwalls) * per
        rec["kernel_ns_cpu"] = statistics.median(case.kcpus) * per
    nbytes, kind = _row_bytes(sim)
    bw_key = "N2000" if kind == "dense" and N > 1500 else "N1000"
    bw = bandwidth[f"{bw_key}_{np.dtype(sim.dtype).name}"]["GB_per_s"]
    rec["storage"] = kind
    rec["bound_ns"] = case.components * acc * nbytes / bw  # bytes / (GB/s) = ns
    best = rec.get("kernel_ns", rec["ns"])
    rec["fraction_of_bound"] = rec["bound_ns"] / best if best > 0 else None
    rec["bandwidth_GB_per_s"] = bw
    rec["target_ns"] = TARGETS.get(case.name, (None, None, None))[2]
    return rec


def _ising_kernel(sim):
    """One bare Ising Metropolis sweep (the kernel calls of Simulation.sweep, sites drawn
    beforehand): returns a callable."""
    from ..kernels import ising as kising
    from ..kernels.schedule import random_sites

    sites = [np.empty(sim.N, dtype=np.int64) for _ in range(sim.R)]
    for r in range(sim.R):
        random_sites(sim.rng_sites.copy(), r, sites[r])
    T = sim.T
    views = [tuple(a[r * T:(r + 1) * T] for a in (sim.spins, sim.fields, sim.beta_w,
                                                   sim.rng_walkers, sim.flips))
             for r in range(sim.R)]

    def run():
        for r, (s, f, b, g, fl) in enumerate(views):
            if sim.J is not None:
                kising.ising_sweep_dense(sim.J, s, f, b, sites[r], g, False, fl,
                                         sim._dense_mode[r * T:(r + 1) * T])
            else:
                kising.ising_sweep_csr(*sim.csr, s, f, b, sites[r], g, False, fl)
        if sim.J is not None:
            sim.spin.choose_dense_modes(sim)  # as Simulation.sweep does (a few µs)
    return run


def _heisenberg_kernel(sim, what):
    from ..kernels import heisenberg as kheis

    args = (sim.sx, sim.sy, sim.sz, sim.hx, sim.hy, sim.hz)
    if what == "overrelaxation":
        return lambda: kheis.heisenberg_overrelax_dense(sim.J, *args, sim._sites_seq,
                                                        sim._dense_mode)
    return lambda: kheis.heisenberg_sweep_dense(sim.J, *args, sim.beta_w, sim._sites_seq,
                                                sim.rng_walkers, what == "heatbath", sim.flips,
                                                sim._dense_mode)


def bench_sweeps(quick: bool, bandwidth: dict, c_binaries: dict | None = None) -> list:
    """Every sweep figure; all cases are set up first, then timed in interleaved rounds.
    ``c_binaries`` ({precision: path}, c_reference.build): the C reference of each dense
    Ising case runs in the same rounds."""
    from .c_reference import ReferenceCase

    cases, refs = [], {}
    # dense Ising PT, SK couplings, 16 temperatures × 2 ladders, Metropolis
    for N in (1000, 2000):
        for prec in ("float64", "float32"):
            sim, _ = _simulation({"model": "sk", "N": N, "seed": 1},
                                 {"precision": prec, "seed": 2})
            warm = 20 if quick else 100  # sweeps towards equilibrium acceptance
            for _ in range(warm):
                sim.sweep()
            n = (4 if quick else 20) if N == 1000 else (2 if quick else 8)
            name = f"ising_sk_N{N}_{prec}"
            cases.append(_Case(name, sim, n, kernel=_ising_kernel(sim)))
            if prec in (c_binaries or {}):
                refs[name] = ReferenceCase(name, c_binaries[prec], N, n, warm)
                cases.append(refs[name])
    # Heisenberg, N = 1000: Metropolis, heat bath, over-relaxation (its kernel alone: an
    # over-relaxation move keeps the energy, every move is "accepted")
    for prec in ("float64", "float32"):
        for what in ("metropolis", "heatbath", "overrelaxation"):
            if prec == "float32" and what != "metropolis":
                continue
            upd = "heatbath" if what == "overrelaxation" else what
            sim, _ = _simulation({"model": "sk", "N": 1000, "spin": "heisenberg", "seed": 1},
                                 {"precision": prec, "update": upd, "seed": 2})
            for _ in range(3 if quick else 10):
                sim.sweep()
            over = what == "overrelaxation"
            cases.append(_Case(f"heisenberg_{what}_N1000_{prec}", sim, 1 if quick else 3,
                               kernel=_heisenberg_kernel(sim, what), components=3,
                               kernel_only=over, acceptance=1.0 if over else None))
    # sparse: EA ±J L = 8 and an RKKY sample with a cutoff (N = 20 000), Ising Metropolis
    for prec in ("float64", "float32"):
        sim, _ = _simulation({"model": "ea", "L": 8, "distribution": "pm1", "seed": 1},
                             {"precision": prec, "seed": 2})
        for _ in range(50 if quick else 300):
            sim.sweep()
        cases.append(_Case(f"ising_ea_pm1_L8_{prec}", sim, 20 if quick else 200,
                           kernel=_ising_kernel(sim)))
    sparse_pairs = {}
    for prec in ("float64", "float32"):
        sim, smp = _simulation(_RKKY_SPARSE, {"precision": prec, "seed": 2})
        for _ in range(3 if quick else 10):
            sim.sweep()
        name = f"ising_rkky_sparse_N{sim.N}_{prec}"
        sparse_pairs[name] = 2 * smp.n_pairs / smp.n_spins
        cases.append(_Case(name, sim, 2 if quick else 4, kernel=_ising_kernel(sim)))
    try:
        _time_interleaved(cases, 3 if quick else 7)
    finally:
        for ref in refs.values():
            ref.close()
    records = []
    for case in cases:
        if isinstance(case, ReferenceCase):
            continue
        rec = _sweep_record(case, bandwidth)
        if case.name in refs:
            rec["c_reference"] = refs[case.name].record()
            rec["vs_c"] = rec["ns"] / rec["c_reference"]["ns"]
        if case.name in sparse_pairs:
            rec["neighbours_per_spin"] = sparse_pairs[case.name]
        records.append(rec)
    return records


# N = round(c · 4L³) = 20 000 impurities, cutoff 3 a: ~35 neighbours each (CSR)
_RKKY_SPARSE = {"model": "rkky", "L": 40, "concentration": 0.078125, "cutoff": 3.0, "seed": 1}
_RKKY_DENSE_4000 = {"model": "rkky", "L": 20, "concentration": 0.125, "seed": 1}


def bench_temperature_ratio(quick: bool) -> dict:
    """Dense Ising N = 1000 (SK), all 32 walkers at T = 0.5, then all at T = 3: the sweeps as
    run (each walker's order chosen by its acceptance), and site-outer with every flip applied
    at once (the cost model of the issue: one row pass per accepted flip)."""
    from ..kernels.ising import DEFERRED, SITE_OUTER, WALKER_OUTER

    res = {}
    for policy in ("", "one_at_a_time_"):
        for T in (0.5, 3.0):
            sim, _ = _simulation({"model": "sk", "N": 1000, "seed": 1}, {"seed": 2})
            sim.beta_w[:] = 1.0 / T
            if policy:
                sim._defer_from, sim._walker_outer_below = np.inf, 0.0
                sim._dense_mode[:] = SITE_OUTER
            kern = _ising_kernel(sim)
            for _ in range(20 if quick else 100):  # equilibrate at this temperature
                kern()
            f0 = sim.flips.sum()
            n = 3 if quick else 15
            reps = 3 if quick else 5
            wall, cpu = _median_timing(lambda: [kern() for _ in range(n)], reps)
            acc = (sim.flips.sum() - f0) / (n * reps * sim.N * sim.W)
            per = 1e9 / (n * sim.N * sim.W)
            modes = sim._dense_mode
            res[f"{policy}T{T:g}"] = {"ns": wall * per, "ns_cpu": cpu * per,
                                      "acceptance": float(acc),
                                      "deferred_walkers": int((modes == DEFERRED).sum()),
                                      "walker_outer_walkers": int((modes == WALKER_OUTER).sum())}
        res[f"{policy}ratio"] = res[f"{policy}T3"]["ns"] / res[f"{policy}T0.5"]["ns"]
        res[f"{policy}ratio_cpu"] = res[f"{policy}T3"]["ns_cpu"] / res[f"{policy}T0.5"]["ns_cpu"]
    res["target"] = TARGETS["temperature_ratio"][2]
    return res


def bench_build(quick: bool) -> dict:
    """Coupling construction: dense RKKY N = 4000 (kernel alone and the whole sample, with
    checksum and scales) and sparse RKKY N = 20 000 (cell list, CSR)."""
    import dataclasses

    from ..config import from_dict
    from ..couplings import build_sample
    from ..kernels.rkky import rkky_dense

    out = {}
    cfg = from_dict({"sample": dict(_RKKY_DENSE_4000)}).sample
    small = dataclasses.replace(cfg, L=4, concentration=0.125)
    build_sample(small)  # warm-up: compile / load the kernels
    reps = 1 if quick else 3
    t_sample = []
    smp = None
    for _ in range(reps):
        smp = None
        with _Timer() as t:
            smp = build_sample(cfg)
        t_sample.append(t.wall)
    pos, box = smp.positions, smp.box
    two_kf, J_scale = smp.scale["two_kf"], smp.scale["J_scale"]
    t_kernel = []
    for _ in range(reps):
        with _Timer() as t:
            J = rkky_dense(pos, box, two_kf, J_scale, math.inf, math.inf)
        del J
        t_kernel.append(t.wall)
    out["dense_N4000"] = {"N": smp.n_spins, "sample_s": statistics.median(t_sample),
                          "kernel_s": statistics.median(t_kernel),
                          "matrix_MB": smp.n_spins ** 2 * 8 / 1e6,
                          "target_s": TARGETS["build_dense_N4000"][2]}
    del smp
    cfg = from_dict({"sample": dict(_RKKY_SPARSE)}).sample
    build_sample(dataclasses.replace(cfg, L=8))
    t_sparse = []
    for _ in range(reps):
        with _Timer() as t:
            smp = build_sample(cfg)
        t_sparse.append(t.wall)
    out["sparse_N20000"] = {"N": smp.n_spins, "sample_s": statistics.median(t_sparse),
                            "n_pairs": smp.n_pairs, "storage": smp.storage}
    return out
