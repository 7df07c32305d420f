"""``rkky-mc bench``: spin-update throughput and run overheads on this machine.

Every figure is measured here, on this machine, now: single-core figures run with one numba
thread; each is the median of a few repeats after a warm-up call (compile and first-touch
costs excluded); the sweep figures are timed in interleaved rounds (every case once per
round), so that a slow spell of the machine costs each case one repeat, not all of them.
Machines shared with other jobs make absolute times drift (each record also carries the
process CPU time, which competing processes disturb less; the load average and a probe at
the start and the end are reported); ratios and the fraction of the memory-bandwidth bound
are what to compare.

Figures (``--json`` gives the same as one JSON object; ``--quick`` shrinks the work, for
tests, and skips the cold-cache start-up):

* ``machine``     CPU, cores, versions, load average, and ``probe_start`` / ``probe_end``:
                  a compute probe and a short row-streaming probe at the start and the end
                  (how much the machine drifted during the bench);
* ``bandwidth``   the row-streaming bandwidth: ``fields[w] += c·J[i]`` over random rows i of
                  an N×N matrix for 16 walkers (the kernels' accepted-move update), counted as
                  N × bytes per row and walker;
* ``sweeps``      ns per attempted spin update (sweep wall time / (sweeps × N × T × R)),
                  sweeps/s and acceptance, through ``Simulation.sweep()`` (tempering, energies,
                  visiting orders included) and for the bare kernel; beside each the
                  bandwidth bound ``N × acceptance × bytes / bandwidth`` per attempted update
                  (× 3 field components for Heisenberg; for CSR couplings N → stored entries
                  per row and bytes → value + column index) and the fraction of it reached
                  (> 1 where deferred field updates apply several moves per pass over a
                  walker's field rows, which the one-move-at-a-time bound does not model);
                  for dense Ising, the plain C reference of issue 6 (``c_reference``) timed in
                  the same interleaved rounds, and rkky_mc's time over it (``vs_c``);
* ``c_reference`` the C compiler and flags used, or why the C reference was not run;
* ``temperature_ratio``  Ising sweep cost at T = 3 over T = 0.5 (N = 1000, all 32 walkers at
                  one temperature), as run and with every flip applied one at a time;
* ``build``       time to build dense RKKY couplings (N = 4000) and sparse ones (N ≈ 20 000);
* ``startup``     wall time of a tiny ``rkky-mc run`` (subprocess) with a cold and a warm
                  numba cache;
* ``run_overhead``  a real run (measurements every 10 sweeps, HDF5, checkpoints) over the
                  bare sweep time at N = 1000;
* ``python_overhead``  per-sweep cost outside the kernels at small N;
* ``memory``      peak RSS of a dense N = 4000 run over a tiny run, per coupling matrix
                  (float64 and float32);
* ``threads``     one run with 2 threads vs 1, and two independent single-thread runs at once.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np
from numba import njit

from . import kernels as _kernels  # noqa: F401  (first: numba's threading settings, cache dir)
from . import aligned

# targets of issue 6 (one core): ns per attempted update, ratios, seconds, fractions
TARGETS = {
    "ising_sk_N1000_float64": ("ns", "<=", 60.0),
    "ising_sk_N1000_float32": ("ns", "<=", 45.0),
    "ising_sk_N2000_float64": ("ns", "<=", 125.0),
    "ising_sk_N2000_float32": ("ns", "<=", 65.0),
    "heisenberg_metropolis_N1000_float64": ("ns", "<=", 400.0),
    "heisenberg_overrelaxation_N1000_float64": ("ns", "<=", 600.0),
    "ising_ea_pm1_L8_float64": ("ns", "<=", 8.0),
    "temperature_ratio": ("ratio", ">=", 3.0),
    "run_overhead": ("overhead", "<=", 0.10),
    "startup_warm": ("wall_s", "<=", 1.0),
    "build_dense_N4000": ("seconds", "<=", 0.5),
    "memory": ("ratio", "<=", 1.1),
}

_LADDER = {"min": 0.3, "max": 2.0, "count": 16}


# ------------------------------------------------------------------------------ helpers
@njit(cache=True, fastmath={"nsz"}, error_model="numpy")
def _stream_rows(J, fields, rows, c):
    """For each row i in ``rows`` and every walker w: fields[w] += c·J[i] (as the kernels)."""
    N = J.shape[1]
    for k in range(rows.shape[0]):
        i = rows[k]
        ck = c if k % 2 == 0 else -c
        for w in range(fields.shape[0]):
            for j in range(N):
                fields[w, j] += ck * J[i, j]


@njit(cache=True)
def _dependent_chain(n):
    """n dependent multiply-adds (latency-bound arithmetic: no memory, one core)."""
    x = 0.0
    for _ in range(n):
        x = x * 0.999999 + 1.0
    return x


def machine_probe(quick: bool) -> dict:
    """The machine's state now: ms for 2·10⁷ dependent multiply-adds (compute, immune to
    memory contention) and the row-streaming bandwidth of an N = 1000 float64 J (GB/s,
    sensitive to what other jobs do to the shared cache and memory). Taken at the start and
    the end of the bench: a change between the two means the machine drifted meanwhile."""
    _dependent_chain(10)
    with _Timer() as t:
        _dependent_chain(20_000_000)
    stream = _row_streaming(1000, np.float64, 100 if quick else 300, 3,
                            np.random.default_rng(0))
    return {"compute_ms": t.wall * 1e3, "stream_GB_per_s": stream["GB_per_s"]}


class _Timer:
    """Wall and process-CPU time of a block."""

    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0
        return False


def _median_timing(fn, repeats):
    """(median wall, median cpu) of ``repeats`` calls of fn() (after the caller's warm-up)."""
    walls, cpus = [], []
    for _ in range(repeats):
        with _Timer() as t:
            fn()
        walls.append(t.wall)
        cpus.append(t.cpu)
    return statistics.median(walls), statistics.median(cpus)


@contextlib.contextmanager
def _threads(n):
    import numba

    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _config(sample: dict, anneal: dict, output: dict | None = None):
    from .config import from_dict

    anneal = {"temperatures": dict(_LADDER), "replicas": 2, "thermalization": 0, "sweeps": 1,
              **anneal}
    return from_dict({"sample": sample, "anneal": anneal, "output": output or {}})


def _simulation(sample: dict, anneal: dict):
    from .couplings import build_sample
    from .simulation import Simulation

    cfg = _config(sample, anneal)
    smp = build_sample(cfg.sample, precision=cfg.anneal.precision)
    return Simulation(cfg, smp), smp


def _row_bytes(sim) -> tuple[float, str]:
    """Bytes streamed per accepted move per field component, and the storage kind."""
    item = np.dtype(sim.dtype).itemsize
    if sim.J is not None:
        return sim.N * item, "dense"
    indptr = sim.csr[0]
    per_row = (indptr[-1] - indptr[0]) / sim.N
    return per_row * (item + 4), "csr"


# ---------------------------------------------------------------------------- sections
def _row_streaming(N, dtype, n_rows, repeats, rng) -> dict:
    """Row-streaming bandwidth over a random N×N matrix of ``dtype``: 16 walkers,
    ``n_rows`` random rows per timed call (GB/s of wall and of CPU time)."""
    J = aligned.asarray(rng.normal(size=(N, N)), dtype)  # as the runs' J and fields
    fields = aligned.zeros((16, N), dtype)
    rows = rng.integers(0, N, size=n_rows)
    c = dtype(1e-3)
    _stream_rows(J, fields, rows[:10], c)  # warm-up (compile, first touch)
    wall, cpu = _median_timing(lambda: _stream_rows(J, fields, rows, c), repeats)
    nbytes = n_rows * fields.shape[0] * N * np.dtype(dtype).itemsize
    return {"GB_per_s": nbytes / wall / 1e9, "GB_per_s_cpu": nbytes / max(cpu, 1e-12) / 1e9,
            "matrix_MB": J.nbytes / 1e6}


def bench_bandwidth(quick: bool) -> dict:
    """Row-streaming bandwidth (GB/s) for N = 1000 (J in L3) and 2000 (J ≥ L3), f64 / f32."""
    rng = np.random.default_rng(0)
    return {f"N{N}_{np.dtype(dt).name}": _row_streaming(N, dt, 300 if quick else 1500,
                                                        3 if quick else 5, rng)
            for N in (1000, 2000) for dt in (np.float64, np.float32)}


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
    from .kernels import ising as kising
    from .kernels.schedule import random_sites

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
            sim.choose_dense_modes()  # as Simulation.sweep does (a few µs)
    return run


def _heisenberg_kernel(sim, what):
    from .kernels import heisenberg as kheis

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
    from .kernels.ising import DEFERRED, SITE_OUTER, WALKER_OUTER

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

    from .config import from_dict
    from .couplings import build_sample
    from .kernels.rkky import rkky_dense

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


def _tiny_config(directory: Path) -> Path:
    path = directory / "tiny.toml"
    path.write_text(
        "[sample]\nmodel = \"sk\"\nN = 16\nseed = 1\n"
        "[anneal]\ntemperatures = [0.5, 1.0, 2.0]\nreplicas = 2\nthermalization = 10\n"
        "sweeps = 100\nseed = 2\n"
        f"[output]\npath = \"{directory / 'tiny.h5'}\"\n")
    return path


def _cli_run(config: Path, env: dict, timeout=600) -> float:
    with _Timer() as t:
        proc = subprocess.run([sys.executable, "-m", "rkky_mc.cli", "run", str(config),
                               "--overwrite", "--quiet"], env=env, capture_output=True,
                              text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"rkky-mc run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return t.wall


def _startup_env() -> dict:
    env = dict(os.environ)
    env.setdefault("NUMBA_NUM_THREADS", "1")
    return env


def cold_start_s(own_cache: bool) -> float:
    """Wall time of a tiny ``rkky-mc run`` that compiles every kernel it needs: in a fresh,
    empty NUMBA_CACHE_DIR of its own, or (``own_cache`` False) in this environment's cache,
    which must then be empty (the run then also fills it for whatever comes next)."""
    with tempfile.TemporaryDirectory(prefix="rkky_bench_") as tmp:
        tmp = Path(tmp)
        env = _startup_env()
        if own_cache:
            env["NUMBA_CACHE_DIR"] = str(tmp / "numba_cold")
        return _cli_run(_tiny_config(tmp), env)


def kernel_cache_is_empty() -> bool:
    """True when the numba cache of this kernel source (kernels/__init__.py) holds nothing."""
    import numba

    from . import kernels  # noqa: F401  (sets numba.config.CACHE_DIR)

    cache = Path(numba.config.CACHE_DIR)
    return not (cache.is_dir() and any(cache.rglob("*.nbi")))


def bench_startup(quick: bool, cold_s: float | None = None) -> dict:
    """Wall time of a tiny ``rkky-mc run`` in a subprocess: cold numba cache (every kernel
    compiles; ``cold_s`` if run_all already measured it on the empty cache, else in a fresh
    cache of its own) and warm (this environment's cache)."""
    out = {}
    if quick:
        out["cold_s"] = None
        out["cold_note"] = "skipped (--quick)"
    elif cold_s is not None:
        out["cold_s"] = cold_s
        out["cold_note"] = "measured first, on this environment's empty numba cache"
    else:
        out["cold_s"] = cold_start_s(own_cache=True)
    with tempfile.TemporaryDirectory(prefix="rkky_bench_") as tmp:
        tmp = Path(tmp)
        cfg = _tiny_config(tmp)
        env = _startup_env()
        _cli_run(cfg, env)  # make sure this environment's cache holds everything
        walls = [_cli_run(cfg, env) for _ in range(1 if quick else 3)]
        out["warm_s"] = statistics.median(walls)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import rkky_mc.cli"], env=env, check=True,
                       capture_output=True)
        out["import_s"] = time.perf_counter() - t0
    out["target_warm_s"] = TARGETS["startup_warm"][2]
    return out


@contextlib.contextmanager
def _time_in(owner, name):
    """Total wall time spent in ``owner.name`` (a method of a class, or a function of a module
    looked up there at call time) while the block runs (``.total``, s)."""

    class Clock:
        total = 0.0

    clock = Clock()
    plain = getattr(owner, name)

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return plain(*args, **kwargs)
        finally:
            clock.total += time.perf_counter() - t0

    setattr(owner, name, timed)
    try:
        yield clock
    finally:
        setattr(owner, name, plain)


def bench_run_overhead(quick: bool) -> dict:
    """A real run (start_run: measurements every 10 sweeps incl. the link overlap, HDF5
    writes, checkpoint commits) against the same sweeps alone, N = 1000, 16 × 2 walkers.

    Runs of two lengths separate the fixed cost of a run (creating the file, the final
    commit) from the cost per sweep. ``overhead`` (the target's figure): within the runs,
    Δ(time outside Simulation.sweep) / Δ(time inside it), the steady-state overhead of a
    long run, immune to the machine's drift between separate timings.
    ``link_overlap_share``: the part of it spent computing the link overlap (Δ time in
    observables.link_overlaps / Δ time in the sweeps), an O(N²·T·P) observable (Heisenberg:
    9 components per pair) rather than bookkeeping; ``overhead_without_link_overlap`` the
    rest (other observables, HDF5, checkpoints, Python).
    ``overhead_vs_bare_runs`` = Δrun / Δbare − 1 against separately timed bare sweeps (also
    counts any slowdown of the sweeps themselves after measurements, but on a shared machine
    its noise is ±10 %); ``overhead_short_run`` is the longer run as it stands against its
    bare sweeps, fixed costs included."""
    from . import observables, provenance
    from .couplings import build_sample
    from .simulation import Simulation, start_run

    out = {}
    cases = [("ising", 1000)] + ([] if quick else [("heisenberg", 1000)])
    for spin, N in cases:
        if spin == "ising":
            lengths = (20, 60) if quick else (40, 440)
        else:
            lengths = (10, 20) if quick else (10, 90)
        with tempfile.TemporaryDirectory(prefix="rkky_bench_") as tmp:
            path = Path(tmp) / "run.h5"
            cfgs = {n: _config({"model": "sk", "N": N, "spin": spin, "seed": 1},
                               {"sweeps": n, "measure_every": 10, "seed": 2},
                               {"path": str(path)}) for n in lengths}
            smp = build_sample(cfgs[lengths[0]].sample)
            prov = provenance.collect(["rkky-mc", "bench"])
            warm = Simulation(cfgs[lengths[0]], smp)
            warm.sweep()
            warm.measure()

            def bare(n):
                sim = Simulation(cfgs[n], smp)
                with _Timer() as t:
                    for _ in range(n):
                        sim.sweep()
                return t.wall

            def real(n):
                for p in Path(tmp).glob("run.h5*"):
                    p.unlink()
                with _time_in(Simulation, "sweep") as clock, \
                        _time_in(observables, "link_overlaps") as link_clock, _Timer() as t:
                    start_run(cfgs[n], smp, path, prov)
                in_sweeps[n].append(clock.total)
                in_link[n].append(link_clock.total)
                return t.wall

            in_sweeps = {n: [] for n in lengths}
            in_link = {n: [] for n in lengths}
            real(lengths[0])
            in_sweeps[lengths[0]].clear()
            in_link[lengths[0]].clear()
            times = {("bare", n): [] for n in lengths} | {("run", n): [] for n in lengths}
            for _ in range(2 if quick else 3):  # interleaved: drifts hit both alike
                for n in lengths:
                    times[("bare", n)].append(bare(n))
                    times[("run", n)].append(real(n))
            med = {k: statistics.median(v) for k, v in times.items()}
            n1, n2 = lengths
            d_bare = med[("bare", n2)] - med[("bare", n1)]
            d_run = med[("run", n2)] - med[("run", n1)]
            fixed = med[("run", n1)] - med[("bare", n1)] * d_run / d_bare
            # within each run: time outside Simulation.sweep over time inside it, the fixed
            # costs removed by the two lengths (both from the same runs: no drift between them)
            inside = {n: statistics.median(in_sweeps[n]) for n in lengths}
            outside = {n: med[("run", n)] - inside[n] for n in lengths}
            accounted = (outside[n2] - outside[n1]) / (inside[n2] - inside[n1])
            # the part of it spent in the link overlap (an O(N²) observable, not bookkeeping)
            link = {n: statistics.median(in_link[n]) for n in lengths}
            link_share = (link[n2] - link[n1]) / (inside[n2] - inside[n1])
            out[spin] = {"N": N, "sweeps": list(lengths), "measure_every": 10,
                         "bare_s": [med[("bare", n)] for n in lengths],
                         "run_s": [med[("run", n)] for n in lengths],
                         "in_sweeps_s": [inside[n] for n in lengths],
                         "overhead": accounted,
                         "link_overlap_share": link_share,
                         "overhead_without_link_overlap": accounted - link_share,
                         "overhead_vs_bare_runs": d_run / d_bare - 1.0,
                         "overhead_short_run": med[("run", n2)] / med[("bare", n2)] - 1.0,
                         "fixed_s": fixed,
                         "target": TARGETS["run_overhead"][2]}
    return out


def bench_python_overhead(quick: bool) -> dict:
    """Per sweep and per measurement at small N (SK N = 64, 8 × 2 walkers): Simulation.sweep()
    against its kernel calls alone."""
    sim, _ = _simulation({"model": "sk", "N": 64, "seed": 1},
                         {"temperatures": {"min": 0.3, "max": 2.0, "count": 8}, "seed": 2})
    kern = _ising_kernel(sim)
    n = 200 if quick else 2000
    for _ in range(5):
        sim.sweep()
        kern()
    sim.measure()
    ws, _ = _median_timing(lambda: [sim.sweep() for _ in range(n)], 3)
    wk, _ = _median_timing(lambda: [kern() for _ in range(n)], 3)
    wm, _ = _median_timing(lambda: [sim.measure() for _ in range(n // 4)], 3)
    return {"N": sim.N, "W": sim.W, "sweep_us": ws / n * 1e6, "kernels_us": wk / n * 1e6,
            "overhead_us": (ws - wk) / n * 1e6, "measure_us": wm / (n // 4) * 1e6}


_MEMORY_SCRIPT = r"""
import resource, sys
from rkky_mc.cli import main
try:
    main([ "run", sys.argv[1], "--overwrite", "--quiet"])
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
hwm = None
try:  # VmHWM: peak RSS of this process image (ru_maxrss also counts the parent's pages
    # at fork/exec time, which would hide a small run inside a big parent)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
except OSError:
    pass
print(hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_memory(quick: bool) -> dict:
    """Peak RSS of a real dense RKKY run (``rkky-mc run`` in a fresh subprocess: peak
    resident set VmHWM, else ru_maxrss), N = 4000 (1000 with --quick), in float64 and in
    float32, minus that of a tiny run (interpreter, numba, kernels), over the size of the
    coupling matrix in that precision (N² × 8 or 4 bytes). Target ≤ 1.1 (+ O(walkers × N)).
    The float64 figures are the top-level keys; ``float32`` holds the same for float32."""
    sample = dict(_RKKY_DENSE_4000) if not quick else {"model": "rkky", "L": 10,
                                                       "concentration": 0.25, "seed": 1}
    out = {}
    with tempfile.TemporaryDirectory(prefix="rkky_bench_") as tmp:
        tmp = Path(tmp)
        env = dict(os.environ)
        env.setdefault("NUMBA_NUM_THREADS", "1")

        def maxrss(text):
            cfg = tmp / "mem.toml"
            cfg.write_text(text)
            proc = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(cfg)], env=env,
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(f"memory run failed: {proc.stderr[-2000:]}")
            return int(proc.stdout.strip().splitlines()[-1]) * 1024  # KiB -> bytes

        def text(sample, precision="float64"):
            lines = ["[sample]"] + [f"{k} = {json.dumps(v)}" for k, v in sample.items()]
            lines += ["[anneal]", "temperatures = {min = 0.3, max = 2.0, count = 16}",
                      "replicas = 2", "thermalization = 0", "sweeps = 3", "measure_every = 1",
                      f"precision = \"{precision}\"",
                      "[output]", f"path = \"{tmp / 'mem.h5'}\""]
            return "\n".join(lines) + "\n"

        # first a small run of each kind: every kernel the measured runs use is then in the
        # numba cache (compiling costs memory of its own, which would count as the run's)
        small = {"model": "rkky", "L": 3, "concentration": 0.25, "seed": 1}
        for precision in ("float64", "float32"):
            maxrss(text(small, precision))
        base = maxrss(text({"model": "sk", "N": 16, "seed": 1}))
        from .config import from_dict

        N = round(from_dict({"sample": sample}).sample.concentration * 4 * sample["L"] ** 3)
        for precision, itemsize in (("float64", 8), ("float32", 4)):
            peak = maxrss(text(sample, precision))
            matrix = N * N * itemsize
            rec = {"peak_MB": peak / 1e6, "matrix_MB": matrix / 1e6,
                   "ratio": (peak - base) / matrix}
            if precision == "float64":
                out = {"N": N, "baseline_MB": base / 1e6, **rec,
                       "target": TARGETS["memory"][2]}
            else:
                out["float32"] = rec
    return out


_THREAD_SCRIPT = r"""
import sys, time
from rkky_mc.bench import _simulation
sim, _ = _simulation({"model": "sk", "N": int(sys.argv[1]), "seed": 1}, {"seed": 2})
for _ in range(5):
    sim.sweep()
t0 = time.perf_counter()
for _ in range(int(sys.argv[2])):
    sim.sweep()
print(time.perf_counter() - t0)
"""


def bench_threads(quick: bool) -> dict:
    """Ising SK N = 1000 (16 × 2 walkers): sweeps/s of one run with 1 and with 2 threads,
    and the total of two independent single-thread runs at the same time (processes)."""
    import numba

    N, n = 1000, (5 if quick else 40)
    sim, _ = _simulation({"model": "sk", "N": N, "seed": 1}, {"seed": 2})
    out = {"N": N, "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
           else os.cpu_count()}
    for nt in (1, 2):
        if nt > numba.config.NUMBA_NUM_THREADS:
            out[f"threads_{nt}_sweeps_per_s"] = None
            continue
        with _threads(nt):
            for _ in range(3):
                sim.sweep()
            wall, _ = _median_timing(lambda: [sim.sweep() for _ in range(n)], 3)
        out[f"threads_{nt}_sweeps_per_s"] = n / wall
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", _THREAD_SCRIPT, str(N), str(n * 2)],
                              env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    times = [float(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in procs]
    out["two_processes_total_sweeps_per_s"] = sum(2 * n / t for t in times)
    one = out["threads_1_sweeps_per_s"]
    if out.get("threads_2_sweeps_per_s"):
        out["speedup_threads"] = out["threads_2_sweeps_per_s"] / one
    out["speedup_processes"] = out["two_processes_total_sweeps_per_s"] / one
    return out


# ------------------------------------------------------------------------------- driver
def warm_kernels(part: int) -> None:
    """Compile (or load from the numba cache) about half of the kernels the bench times, on
    tiny inputs of the same types. ``run_all`` runs part 1 in a second process while it does
    part 0: on an empty cache that halves the wait; on a warm one each part takes about a
    second. Only the precisions and modes the bench times (no float32 measurements)."""
    import dataclasses

    from .config import from_dict
    from .couplings import build_sample
    from .kernels import ising as kising

    precisions = ("float64", "float32")
    with _threads(1):
        if part == 0:  # Ising: dense (one at a time, deferred), CSR; builders
            for prec in precisions:
                for sample in ({"model": "sk", "N": 16, "seed": 1},
                               {"model": "ea", "L": 3, "distribution": "pm1", "seed": 1}):
                    sim, _ = _simulation(sample, {"precision": prec, "seed": 2})
                    sim.sweep()
                    sim._dense_mode[:] = kising.DEFERRED
                    sim.sweep()
                    _ising_kernel(sim)()
                    if prec == "float64" and sample["model"] == "sk":
                        sim.measure()  # the runs the bench times measure dense float64 only
            _dependent_chain(10)
            _stream_rows(np.zeros((2, 2)), np.zeros((1, 2)), np.zeros(1, dtype=np.int64), 1.0)
            _stream_rows(np.zeros((2, 2), np.float32), np.zeros((1, 2), np.float32),
                         np.zeros(1, dtype=np.int64), np.float32(1.0))
            dense = from_dict({"sample": dict(_RKKY_DENSE_4000)}).sample
            sparse = from_dict({"sample": dict(_RKKY_SPARSE)}).sample
            for prec in precisions:
                build_sample(dataclasses.replace(dense, L=3, concentration=0.25), precision=prec)
                build_sample(dataclasses.replace(sparse, L=8), precision=prec)
        # Heisenberg, the cases bench_sweeps and bench_run_overhead time (float32 Metropolis
        # in part 0: about equal halves once a cold start-up run has filled the cache)
        heisenberg = ((("float32", "metropolis"),) if part == 0 else
                      (("float64", "metropolis"), ("float64", "heatbath")))
        for prec, update in heisenberg:
            sim, _ = _simulation({"model": "sk", "N": 16, "spin": "heisenberg", "seed": 1},
                                 {"precision": prec, "update": update, "seed": 2})
            sim.sweep()
            if prec == "float64":
                _heisenberg_kernel(sim, "overrelaxation")()
                sim.measure()


def _warm_kernels_in_two_processes() -> None:
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    helper = subprocess.Popen([sys.executable, "-c",
                               "from rkky_mc.bench import warm_kernels; warm_kernels(1)"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    try:
        warm_kernels(0)
    finally:
        _, err = helper.communicate(timeout=1800)
    if helper.returncode != 0:
        raise RuntimeError(f"kernel warm-up failed ({helper.returncode}): {err[-2000:]}")


def run_all(quick: bool = False, progress=None) -> dict:
    import numba

    from . import __version__, c_reference, provenance

    def step(name):
        if progress is not None:
            progress(name)

    t_start = time.perf_counter()
    res = {"rkky_mc_version": __version__, "quick": bool(quick),
           "machine": {"cpu": provenance.cpu_model(), "host": platform.node(),
                       "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                       else os.cpu_count(),
                       "numba": numba.__version__, "numpy": np.__version__,
                       "python": platform.python_version(),
                       "loadavg_start": list(os.getloadavg())}}
    cold_s = None
    with _Timer() as t:
        if not quick and kernel_cache_is_empty():
            # the cold start-up figure first, on the empty cache itself: the kernels it
            # compiles then serve the warm-up instead of compiling twice
            step("start-up with the empty numba cache")
            cold_s = cold_start_s(own_cache=False)
        step("kernels (compiled on two cores if the numba cache is empty)")
        _warm_kernels_in_two_processes()
    res["warm_up_s"] = t.wall
    step("C reference (compile)")
    c_dir = tempfile.mkdtemp(prefix="rkky_mc_c_reference_")
    try:
        c_ref = c_reference.build(c_dir)
        res["c_reference"] = {k: v for k, v in c_ref.items() if k != "binaries"}
        with _threads(1):
            res["machine"]["probe_start"] = machine_probe(quick)
            step("bandwidth")
            res["bandwidth"] = bench_bandwidth(quick)
            step("sweeps" + ("" if c_ref["binaries"] else " (no C reference: "
                             + c_ref["reason"] + ")"))
            res["sweeps"] = bench_sweeps(quick, res["bandwidth"], c_ref["binaries"])
    finally:
        shutil.rmtree(c_dir, ignore_errors=True)
    with _threads(1):
        step("temperature ratio")
        res["temperature_ratio"] = bench_temperature_ratio(quick)
        step("python overhead")
        res["python_overhead"] = bench_python_overhead(quick)
        step("run overhead")
        res["run_overhead"] = bench_run_overhead(quick)
        step("coupling build")
        res["build"] = bench_build(quick)
    step("threads")
    res["threads"] = bench_threads(quick)
    step("start-up")
    res["startup"] = bench_startup(quick, cold_s)
    step("memory")
    res["memory"] = bench_memory(quick)
    with _threads(1):
        res["machine"]["probe_end"] = machine_probe(quick)
    res["machine"]["loadavg_end"] = list(os.getloadavg())
    res["elapsed_s"] = time.perf_counter() - t_start
    res["targets"] = target_checks(res)
    return res


def target_checks(res: dict) -> list:
    """Every target of issue 6 with the measured figure and whether it is met."""
    rows = []

    def add(name, value, op, target, unit):
        ok = None if value is None else (value <= target if op == "<=" else value >= target)
        rows.append({"name": name, "value": value, "op": op, "target": target, "unit": unit,
                     "met": ok})

    by_name = {r["name"]: r for r in res.get("sweeps", [])}
    for name, (_, op, target) in TARGETS.items():
        if name in by_name:
            add(name, by_name[name]["ns"], op, target, "ns/update")
    # the same targets against the C reference timed in the same rounds (drift cancels)
    from .c_reference import ISSUE_C_NS

    for name, c_issue in ISSUE_C_NS.items():
        if "vs_c" in by_name.get(name, {}):
            add(f"{name} / C reference", by_name[name]["vs_c"], "<=",
                round(TARGETS[name][2] / c_issue, 3), "×")
    tr = res.get("temperature_ratio", {})
    add("T=3 / T=0.5 Ising sweep cost (N=1000)", tr.get("ratio"), ">=", 3.0, "×")
    ro = res.get("run_overhead", {}).get("ising", {})
    add("run overhead (Ising N=1000, measure_every=10)", ro.get("overhead"), "<=", 0.10, "")
    su = res.get("startup", {})
    add("tiny run, warm cache", su.get("warm_s"), "<=", 1.0, "s")
    bd = res.get("build", {}).get("dense_N4000", {})
    add("dense RKKY build N=4000", bd.get("sample_s"), "<=", 0.5, "s")
    mem = res.get("memory", {})
    add(f"peak memory (N={mem.get('N')}) / coupling matrix", mem.get("ratio"), "<=", 1.1, "×")
    add(f"peak memory (N={mem.get('N')}, float32) / coupling matrix",
        mem.get("float32", {}).get("ratio"), "<=", 1.1, "×")
    return rows


def format_table(res: dict) -> str:
    lines = []
    m = res["machine"]
    lines.append(f"rkky-mc bench {'(quick) ' if res['quick'] else ''}— {m['cpu']}, "
                 f"{m['cores']} cores, numba {m['numba']}; load average "
                 f"{m['loadavg_start'][0]:.2f} → {m['loadavg_end'][0]:.2f} "
                 "(other jobs on the machine inflate the times)")
    p0, p1 = m.get("probe_start"), m.get("probe_end")
    if p0 and p1:
        drift = max(abs(p1[k] / p0[k] - 1.0) for k in ("compute_ms", "stream_GB_per_s"))
        lines.append(f"machine probe, start → end: compute {p0['compute_ms']:.0f} → "
                     f"{p1['compute_ms']:.0f} ms, row streaming {p0['stream_GB_per_s']:.1f} → "
                     f"{p1['stream_GB_per_s']:.1f} GB/s"
                     + (" (the machine drifted during the bench)" if drift > 0.1 else ""))
    lines.append("")
    lines.append("row-streaming bandwidth (fields[w] += c·J[i], random rows, 16 walkers):")
    for k, v in res["bandwidth"].items():
        lines.append(f"  {k:<14} {v['GB_per_s']:7.1f} GB/s   (J {v['matrix_MB']:.0f} MB)")
    lines.append("")
    hdr = (f"{'sweep (1 core)':<40} {'ns/upd':>8} {'kernel':>8} {'target':>7} {'sweeps/s':>9} "
           f"{'accept':>7} {'bound':>7} {'frac':>6}")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for r in res["sweeps"]:
        tgt = f"{r['target_ns']:.0f}" if r.get("target_ns") else ""
        kern = f"{r['kernel_ns']:.1f}" if r.get("kernel_ns") is not None else ""
        lines.append(f"{r['name']:<40} {r['ns']:8.1f} {kern:>8} {tgt:>7} {r['sweeps_per_s']:9.1f} "
                     f"{r['acceptance']:7.3f} {r['bound_ns']:7.1f} {r['fraction_of_bound']:6.2f}")
    lines.append("  ns/upd: Simulation.sweep() wall time / (sweeps × N × T × R); kernel: the bare "
                 "kernel; bound: N × acceptance × bytes / bandwidth")
    c = res.get("c_reference", {})
    with_c = [r for r in res["sweeps"] if "c_reference" in r]
    if with_c:
        lines.append(f"  plain C reference of the same sweep ({c.get('compiler')} "
                     f"{c.get('flags')}), in the same rounds:")
        for r in with_c:
            cr = r["c_reference"]
            lines.append(f"    {r['name']:<36} C {cr['ns']:7.1f} ns (accept {cr['acceptance']:.3f})"
                         f"   rkky_mc / C = {r['vs_c']:.2f}")
    elif c.get("reason"):
        lines.append(f"  (C reference not run: {c['reason']})")
    lines.append("")
    tr = res["temperature_ratio"]
    lines.append(f"Ising N=1000 all walkers at T=0.5: {tr['T0.5']['ns']:.1f} ns (acc "
                 f"{tr['T0.5']['acceptance']:.3f}); at T=3: {tr['T3']['ns']:.1f} ns (acc "
                 f"{tr['T3']['acceptance']:.3f}); ratio {tr['ratio']:.2f} (target ≥ 3)")
    lines.append(f"  site-outer, every flip applied at once: {tr['one_at_a_time_T0.5']['ns']:.1f} "
                 f"and {tr['one_at_a_time_T3']['ns']:.1f} ns, ratio "
                 f"{tr['one_at_a_time_ratio']:.2f} (as run, walker-outer at T=0.5: "
                 f"{tr['T0.5']['walker_outer_walkers']} of 32; deferred at T=3: "
                 f"{tr['T3']['deferred_walkers']} of 32)")
    po = res["python_overhead"]
    lines.append(f"small N (SK N={po['N']}, W={po['W']}): sweep {po['sweep_us']:.1f} µs, kernels "
                 f"{po['kernels_us']:.1f} µs, overhead {po['overhead_us']:.1f} µs; measurement "
                 f"{po['measure_us']:.1f} µs")
    for spin, ro in res["run_overhead"].items():
        lines.append(f"run overhead {spin} N={ro['N']} (measure_every=10): "
                     f"{100 * ro['overhead']:.1f} % per sweep in steady state (target ≤ 10 %; "
                     f"link overlap {100 * ro['link_overlap_share']:.1f} %, everything else "
                     f"{100 * ro['overhead_without_link_overlap']:.1f} %; "
                     f"{100 * ro['overhead_vs_bare_runs']:.1f} % against separate bare sweeps); "
                     f"{ro['sweeps'][1]}-sweep run {ro['run_s'][1]:.2f} s vs bare "
                     f"{ro['bare_s'][1]:.2f} s ({100 * ro['overhead_short_run']:.1f} %, with "
                     f"{ro['fixed_s']:.3f} s of file creation and final commit)")
    b = res["build"]
    lines.append(f"dense RKKY build N={b['dense_N4000']['N']}: {b['dense_N4000']['sample_s']:.3f} s "
                 f"(kernel {b['dense_N4000']['kernel_s']:.3f} s; target ≤ 0.5 s); sparse "
                 f"N={b['sparse_N20000']['N']}: {b['sparse_N20000']['sample_s']:.3f} s")
    su = res["startup"]
    cold = "skipped" if su["cold_s"] is None else f"{su['cold_s']:.1f} s"
    lines.append(f"tiny rkky-mc run: cold cache {cold}, warm {su['warm_s']:.2f} s (target ≤ 1 s; "
                 f"python -c 'import rkky_mc.cli' alone {su['import_s']:.2f} s)")
    me = res["memory"]
    lines.append(f"peak memory N={me['N']} dense f64: {me['peak_MB']:.0f} MB − baseline "
                 f"{me['baseline_MB']:.0f} MB = {me['ratio']:.2f} × the {me['matrix_MB']:.0f} MB "
                 "coupling matrix (target ≤ 1.1)")
    if "float32" in me:
        f32 = me["float32"]
        lines.append(f"peak memory N={me['N']} dense f32: {f32['peak_MB']:.0f} MB − baseline = "
                     f"{f32['ratio']:.2f} × the {f32['matrix_MB']:.0f} MB coupling matrix")
    th = res["threads"]
    t2 = th.get("threads_2_sweeps_per_s")
    lines.append(f"two cores, Ising N={th['N']}: 1 thread {th['threads_1_sweeps_per_s']:.0f} sweeps/s, "
                 + (f"2 threads {t2:.0f} ({th['speedup_threads']:.2f}×), " if t2 else "")
                 + f"2 independent processes {th['two_processes_total_sweeps_per_s']:.0f} in total "
                 f"({th['speedup_processes']:.2f}×)")
    lines.append("")
    lines.append("targets:")
    for t in res["targets"]:
        v = "n/a" if t["value"] is None else f"{t['value']:.3g}"
        mark = {True: "met", False: "NOT met", None: "-"}[t["met"]]
        lines.append(f"  {t['name']:<52} {v:>8} {t['op']} {t['target']:<6g} {mark}")
    lines.append(f"(bench took {res['elapsed_s']:.0f} s, of which {res.get('warm_up_s', 0):.0f} s compiling or "
                 "loading kernels)")
    return "\n".join(lines)


@click.command("bench")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@click.option("--quick", is_flag=True,
              help="Less work (seconds instead of minutes; no cold-cache start-up): for tests.")
def bench_command(as_json, quick):
    """Spin-update throughput, run overheads and memory on this machine (one core)."""
    def progress(name):
        if not as_json:
            click.echo(f"… {name}", err=True)

    res = run_all(quick=quick, progress=progress)
    if as_json:
        click.echo(json.dumps(res, indent=1, default=_json_default))
    else:
        click.echo(format_table(res))


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(type(obj).__name__)
