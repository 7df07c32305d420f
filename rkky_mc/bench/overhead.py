"""Run overhead: a full `rkky-mc run` against its bare kernels, and the Python overhead per sweep."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from .. import kernels as _kernels  # noqa: F401  (first: numba's threading settings, cache dir)
from .cases import _ising_kernel
from .probes import _config, _median_timing, _simulation, _Timer
from .report import TARGETS


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
    from .. import observables, provenance
    from ..couplings import build_sample
    from ..simulation import Simulation, start_run

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
