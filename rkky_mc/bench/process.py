"""Figures of whole processes: start-up (cold and warm), peak memory against the estimate, thread
scaling."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import kernels as _kernels  # noqa: F401  (first: numba's threading settings, cache dir)
from .cases import _RKKY_DENSE_4000
from .probes import _median_timing, _simulation, _threads, _Timer
from .report import TARGETS


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

    from .. import kernels  # noqa: F401  (sets numba.config.CACHE_DIR)

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
        from ..config import from_dict

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
from rkky_mc.bench.probes import _simulation
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
