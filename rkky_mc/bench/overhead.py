"""Run overhead: a full `rkky-mc run` against its bare kernels, and the Python overhead per sweep."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from .. import kernels as _kernels  # noqa: F401  (first: numba's threading settings, cache dir)
from .cases import _ising_kernel
from .probes import _config, _median_timing, _simulation, _Timer
from .report import TARGETS


def bench_run_overhead(quick: bool) -> dict:
    """A real run (start_run: measurements every 10 sweeps incl. the link overlap, HDF5
    writes, checkpoint commits) against the same sweeps alone, N = 1000, 16 × 2 walkers.

    The sweeps run in compiled chunks (kernels/chunk.py), so nothing can be timed "inside
    Simulation.sweep" any more; instead runs of two lengths separate the fixed cost of a run
    (creating the file, the final commit) from the cost per sweep, and every variant is timed
    in the same interleaved rounds:
    ``overhead`` (the target's figure) = Δrun / Δbare − 1, bare = the same sweeps in compiled
    chunks with no measurement; ``link_overlap_share`` = (Δrun − Δrun without the link
    overlap) / Δbare, the part spent in that O(N²·T·P) observable; ``overhead_without_link_
    overlap`` the rest (other observables, HDF5, checkpoints, Python); ``overhead_short_run``
    the longer run as it stands against its bare sweeps, fixed costs included."""
    from .. import provenance
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
            sample = {"model": "sk", "N": N, "spin": spin, "seed": 1}
            cfgs = {(n, link): _config(sample, {"sweeps": n, "measure_every": 10, "seed": 2,
                                                "link_overlap": link}, {"path": str(path)})
                    for n in lengths for link in (True, False)}
            smp = build_sample(cfgs[(lengths[0], True)].sample)
            prov = provenance.collect(["rkky-mc", "bench"])
            bare_cfg = _config(sample, {"sweeps": 2 * lengths[1], "measure_every": 1 << 40,
                                        "seed": 2, "link_overlap": False})

            def bare(n):
                sim = Simulation(bare_cfg, smp)
                sim.run_chunk(1)  # the one measured sweep (0), outside the timing
                with _Timer() as t:
                    sim.run_chunk(n)
                return t.wall

            def real(n, link=True):
                for p in Path(tmp).glob("run.h5*"):
                    p.unlink()
                with _Timer() as t:
                    start_run(cfgs[(n, link)], smp, path, prov, threads=None)
                return t.wall

            bare(lengths[0])  # warm: compile / load every kernel
            real(lengths[0])
            real(lengths[0], False)
            times = {(kind, n): [] for kind in ("bare", "run", "nolink") for n in lengths}
            for _ in range(2 if quick else 3):  # interleaved: drifts hit all alike
                for n in lengths:
                    times[("bare", n)].append(bare(n))
                    times[("run", n)].append(real(n))
                    times[("nolink", n)].append(real(n, False))
            med = {k: statistics.median(v) for k, v in times.items()}
            n1, n2 = lengths
            d_bare = med[("bare", n2)] - med[("bare", n1)]
            d_run = med[("run", n2)] - med[("run", n1)]
            d_nolink = med[("nolink", n2)] - med[("nolink", n1)]
            overhead = d_run / d_bare - 1.0
            link_share = (d_run - d_nolink) / d_bare
            out[spin] = {"N": N, "sweeps": list(lengths), "measure_every": 10,
                         "bare_s": [med[("bare", n)] for n in lengths],
                         "run_s": [med[("run", n)] for n in lengths],
                         "run_without_link_overlap_s": [med[("nolink", n)] for n in lengths],
                         "overhead": overhead,
                         "link_overlap_share": link_share,
                         "overhead_without_link_overlap": overhead - link_share,
                         "overhead_short_run": med[("run", n2)] / med[("bare", n2)] - 1.0,
                         "fixed_s": med[("run", n1)] - med[("bare", n1)] * d_run / d_bare,
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
