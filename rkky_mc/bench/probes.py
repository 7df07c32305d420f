"""Machine probes and shared timing helpers: the dependent-chain and row-streaming probes, memory
bandwidth, timers, the bench configs."""

from __future__ import annotations

import contextlib
import statistics
import time

import numpy as np
from numba import njit

from .. import aligned
from .. import kernels as _kernels  # noqa: F401  (first: numba's threading settings, cache dir)

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
    from ..config import from_dict

    anneal = {"temperatures": dict(_LADDER), "replicas": 2, "thermalization": 0, "sweeps": 1,
              **anneal}
    return from_dict({"sample": sample, "anneal": anneal, "output": output or {}})


def _simulation(sample: dict, anneal: dict):
    from ..couplings import build_sample
    from ..simulation import Simulation

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
