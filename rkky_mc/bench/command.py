"""`rkky-mc bench`: kernel warm-up, the driver over every section, and the click command."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import click
import numpy as np

from .. import kernels as _kernels  # noqa: F401  (first: numba's threading settings, cache dir)
from .cases import (
    _RKKY_DENSE_4000,
    _RKKY_SPARSE,
    _heisenberg_kernel,
    _ising_kernel,
    bench_build,
    bench_sweeps,
    bench_temperature_ratio,
)
from .full_run import bench_full_runs
from .overhead import bench_python_overhead, bench_run_overhead
from .population import bench_population
from .probes import (
    _dependent_chain,
    _simulation,
    _stream_rows,
    _threads,
    _Timer,
    bench_bandwidth,
    machine_probe,
)
from .process import (
    bench_memory,
    bench_startup,
    bench_threads,
    cold_start_s,
    kernel_cache_is_empty,
)
from .report import format_table, target_checks


# ------------------------------------------------------------------------------- driver
def warm_kernels(part: int) -> None:
    """Compile (or load from the numba cache) about half of the kernels the bench times, on
    tiny inputs of the same types. ``run_all`` runs part 1 in a second process while it does
    part 0: on an empty cache that halves the wait; on a warm one each part takes about a
    second. Only the precisions and modes the bench times (no float32 measurements)."""
    import dataclasses

    from ..config import from_dict
    from ..couplings import build_sample
    from ..kernels import ising as kising

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
                               "from rkky_mc.bench.command import warm_kernels; warm_kernels(1)"],
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

    from .. import __version__, provenance
    from . import c_reference

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
            step("full runs (with the C references)")
            heis = c_reference.build(c_dir, c_reference.HEISENBERG_SOURCE, ("float64",))
            c_full = {"ising": c_ref["binaries"].get("float64"),
                      "heisenberg": heis["binaries"].get("float64")}
            res["full_runs"] = bench_full_runs(quick, c_full)
    finally:
        shutil.rmtree(c_dir, ignore_errors=True)
    with _threads(1):
        step("temperature ratio")
        res["temperature_ratio"] = bench_temperature_ratio(quick)
        step("population annealing")
        res["population_annealing"] = bench_population(quick)
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
