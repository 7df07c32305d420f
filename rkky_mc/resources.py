"""Memory a run will need, estimated from its config alone, and what this process may use.

``rkky-mc run``, ``resume`` and ``sweep`` call :func:`check_memory` before any sample is
built: a configuration that cannot fit ends in a one-line error (exit 2) naming the need
and what is available, instead of a MemoryError traceback after minutes and gigabytes.

The estimate (bytes) follows what the code allocates (couplings.py, simulation.py,
observables.py, kernels/measure.py):

* couplings: dense N²·itemsize, or CSR nnz·(8 + 4) + 8(N + 1) with nnz estimated from the
  cutoff sphere (RKKY) or the lattice (EA: 6 bonds per spin); the sample build's own
  temporaries on top (e.g. SK draws its N(N−1)/2 couplings through index arrays: ~20 N²
  bytes at the peak; a .npy file is read, then copied to float64);
* the ensemble: spins and local fields, W·N·itemsize each (W = temperatures × replicas; 3
  components each for Heisenberg), their float64 initial draw, and the copy a checkpoint
  takes of them;
* measurement rows buffered between commits (at most max_buffer_bytes of arrays, plus one
  chunk's block) and their stacked copy at a commit;
* the link-overlap scratch τ (N × T·P columns, ×9 for Heisenberg, P = R(R−1)/2 pairs);
* DM vectors (sample.dm, or a D in a .npz file): Dc (3, N, N) float64, 24 N² bytes (24 bytes
  per ordered pair, 48 per pair i < j), held by the run; their build holds D (N, N, 3) and
  Dc at once (48 N²) on top of J, plus random's upper-triangle indices and draws (~20 N²)
  or Fert–Lévy's tables (48 N·N_l).

peak = max(sample build, couplings + ensemble + max(initial draw, commit and measurement
scratch)) + a fixed allowance for the interpreter and the numba/HDF5 libraries still to be
loaded. It is meant to be right within a factor of about two, and errs high.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import Config, ConfigError
from .observables_registry import REGISTRY
from .spins import spin_type

# interpreter, numpy, numba/llvmlite, h5py: what a tiny run's process holds besides its
# arrays (measured: 216 MB peak RSS for SK N = 16, of which ~100 MB are loaded before the
# check; 400 MB of address space suffice under `ulimit -v`)
BASELINE_BYTES = 256 << 20
# Simulation.run buffers measurement rows in blocks of one chunk (name -> (m, ...) arrays):
# the Python objects of a block are negligible beside the data; a chunk holds at most
# simulation.MAX_CHUNK_ROW_BYTES of rows, which the cap on buffered rows below covers
ROW_OVERHEAD_BYTES = 0
# Checkpointer's default cap on buffered row data (simulation.Checkpointer.max_buffer_bytes)
MAX_BUFFER_BYTES = 256 << 20
MAX_CHUNK_ROW_BYTES = 16 << 20  # simulation.MAX_CHUNK_ROW_BYTES (one chunk's rows)


@dataclass
class MemoryEstimate:
    """Bytes a run needs: ``parts`` (name -> bytes, the larger contributions) and ``peak``
    (the largest total held at one time, without the baseline)."""

    n_spins: int
    parts: dict = field(default_factory=dict)
    peak: int = 0
    key: str = "sample"          # the config key that drives the largest part
    value: object = None

    @property
    def need(self) -> int:
        """With the interpreter and libraries (what a process needs in all)."""
        return self.peak + BASELINE_BYTES


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def n_spins(cfg: Config, base_dir=".") -> int | None:
    """Number of spins of the sample ``cfg`` describes (None: a file that cannot be read;
    the sample build then says why)."""
    s = cfg.sample
    if s.model == "rkky":
        return round(s.concentration * 4 * s.L**3)
    if s.model == "sk":
        return s.N
    if s.model == "ea":
        return s.L**3
    shape = _file_shape(Path(base_dir) / s.path)
    return None if shape is None else shape[0][0]


def _file_shape(path: Path):
    """((rows, cols), itemsize) of the coupling matrix of a .npy file or of J in a .npz."""
    if path.suffix == ".npz":
        return _npz_shapes(path).get("J")
    return _npy_shape(path)


def _read_header(fh):
    """(shape, dtype) from the header of a .npy stream (numpy's public readers: the private
    _read_array_header is gone in numpy 2.4, which left every file model unestimated)."""
    import numpy as np

    fmt = np.lib.format
    version = fmt.read_magic(fh)
    read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
    shape, _, dtype = read(fh)
    return shape, dtype


def _npz_shapes(path: Path) -> dict:
    """name -> (shape, itemsize) of the arrays of a .npz, from their headers ({} if
    unreadable; the sample build then says why)."""
    import zipfile


    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                with z.open(name) as fh:
                    shape, dtype = _read_header(fh)
                out[name[:-4] if name.endswith(".npy") else name] = (shape, dtype.itemsize)
    except Exception:  # noqa: BLE001
        return {}
    return out


def _npy_shape(path: Path):
    """((rows, cols), itemsize) from a .npy header without reading the data, or None."""

    try:
        with open(path, "rb") as fh:
            shape, dtype = _read_header(fh)
    except Exception:  # noqa: BLE001 - not readable as .npy: the sample build reports it
        return None
    if len(shape) != 2:
        return None
    return shape, dtype.itemsize


def _coupling_storage(cfg: Config, N: int) -> tuple[str, float]:
    """("dense" | "csr", estimated stored entries per row) as couplings.build_sample decides."""
    from .couplings import CSR_MAX_FILL

    s = cfg.sample
    if s.dm != "none" and s.sparse == "auto":  # couplings.build_sample: DM is dense
        return "dense", N - 1.0
    if s.model == "rkky":
        sparse = s.sparse
        finite = math.isfinite(s.cutoff)
        fill = 4.0 / 3.0 * math.pi * s.cutoff**3 / s.L**3 if finite else math.inf
        if sparse == "auto":
            sparse = "csr" if fill < CSR_MAX_FILL else "dense"
        return sparse, (N - 1) * min(1.0, fill)
    if s.model == "ea":
        return ("dense" if s.sparse == "dense" else "csr"), 6.0
    return ("csr" if s.sparse == "csr" else "dense"), N - 1.0


def _dm_bytes(cfg: Config, N: int, base_dir=".") -> tuple[int, int] | None:
    """(bytes the run holds, extra bytes at the peak of the build) of the DM vectors, or
    None without DM (module docstring)."""
    s = cfg.sample
    if s.dm == "none":
        if s.model != "file" or Path(s.path).suffix != ".npz":
            return None
        shapes = _npz_shapes(Path(base_dir) / s.path)
        if "D" not in shapes:
            return None
        file_bytes = int(math.prod(shapes["D"][0])) * shapes["D"][1]
        return 24 * N * N, file_bytes + 48 * N * N
    held = 24 * N * N
    if s.dm == "random":
        return held, 48 * N * N + 20 * N * N
    n_scat = round(s.dm_concentration * 4 * s.L**3)
    return held, 48 * N * N + 48 * N * n_scat + 120 * s.L**3


def estimate(cfg: Config, base_dir=".", ranks: int = 1) -> MemoryEstimate:
    """The memory the run ``cfg`` needs (see the module docstring); population annealing
    split over ``ranks`` MPI ranks: what one rank needs (rank 0, the largest)."""
    s, a = cfg.sample, cfg.anneal
    N = n_spins(cfg, base_dir)
    est = MemoryEstimate(n_spins=N or 0)
    if N is None:
        return est
    item = 4 if a.precision == "float32" else 8
    spin = spin_type(s.spin)
    T, R = len(a.temperatures), a.replicas
    W, P = T * R, R * (R - 1) // 2
    parts = est.parts

    # ---- couplings and their build
    storage, per_row = _coupling_storage(cfg, N)
    nnz = N * per_row
    if storage == "dense":
        couplings = N * N * item
    else:
        couplings = nnz * (8 + 4) + 8 * (N + 1) + (nnz * 4 if item == 4 else 0)
    build = couplings
    if s.model == "sk":
        # float64 J, both triangle index arrays and the normal draws (models/sk.py)
        build = 20 * N * N + (0 if storage == "dense" else 16 * N * N + couplings)
        if storage == "dense" and item == 4:
            build = max(build, 12 * N * N)
    elif s.model == "file":
        shape = _file_shape(Path(base_dir) / s.path)
        file_item = shape[1] if shape else 8
        build = N * N * (file_item + 8 + 2) + (couplings if storage == "csr" or item == 4 else 0)
    elif s.model == "rkky":
        if s.lattice == "fcc":
            # fcc_sites(L): the (4L³, 3) float64 host sites and the L³ cell corners
            parts["host lattice sites"] = 120 * s.L**3
        if storage == "csr" and not math.isfinite(s.cutoff):  # dense first, then converted
            build = 8 * N * N + 16 * N * N + couplings
        build = max(build, parts.get("host lattice sites", 0))
    elif s.model == "ea":
        build = max(couplings, 64 * 6 * N)  # bond lists, their keys and np.unique's work
    parts["couplings"] = couplings
    dm = _dm_bytes(cfg, N, base_dir)
    if dm:
        parts["DM vectors"] = dm[0]
        build = max(build, couplings + dm[1])
        couplings += dm[0]              # held by the run beside J
    parts["sample build"] = build

    # ---- the ensemble
    if a.method == "pa":
        # population annealing: R_p replicas' spins and fields, twice (resampling gathers
        # into a second buffer), plus the per-replica site orders (Ising Metropolis) and a
        # block of 256 replicas' float64 initial draw; no time series, no pair scratch
        # beyond drivers.population_annealing.PAIRS pairs
        Rp = a.population
        if ranks > 1:
            # a rank's block of ⌈R_p/K⌉ slots (twice), every slot's family, weight, parent
            # and energy, and on rank 0 the population gathered for a checkpoint
            Rl = -(-Rp // ranks)
            state = (2 * (spin.arrays_per_spin * Rl * N * item) + 8 * Rl * N + 256 * Rl
                     + 32 * Rp + spin.arrays_per_spin * Rp * N * item + 64 * Rp)
            parts["population (per rank; twice: resampling; rank 0: checkpoint)"] = state
        else:
            state = 2 * (spin.arrays_per_spin * Rp * N * item) + 8 * Rp * N + 256 * Rp
            parts["population (twice: resampling)"] = state
        link = 0
        if a.link_overlap:
            from .drivers.population_annealing import PAIRS

            link = N * PAIRS * spin.components ** 2 * 8 * 2
            parts["link-overlap scratch"] = link
        init = 8 * (spin.components + 1) * 256 * N
        est.peak = int(max(build, couplings + state + max(init, link)))
        largest = max(parts, key=parts.get)
        if largest.startswith("population"):
            est.key, est.value = "anneal.population", Rp
        else:
            est.key, est.value = {"rkky": ("sample.L", s.L), "sk": ("sample.N", s.N),
                                  "ea": ("sample.L", s.L), "file": ("sample.path", s.path)}[s.model]
        return est
    state = spin.arrays_per_spin * W * N * item + 8 * (R * N + 6 * N) + 64 * W
    init = 8 * (spin.components + 1) * W * N  # the float64 draw and its normalisation
    parts["spins and fields"] = state

    # ---- measurements, commits
    row = sum(int(np.prod(o.row_shape(spin.name, T, R, P), dtype=np.int64)) * np.dtype(o.dtype).itemsize
              for name, o in REGISTRY.items() if name in spin.chunk_series)
    rows = min(cfg.n_measurements, (MAX_BUFFER_BYTES + MAX_CHUNK_ROW_BYTES) // max(row, 1) + 1)
    buffered = rows * (row + ROW_OVERHEAD_BYTES) + rows * row  # the rows and their stacked copy
    parts["measurement buffer"] = buffered
    link = 0
    if a.link_overlap and P:
        C = T * P * spin.components ** 2
        cols = 512 // item                       # kernels.measure._col_blocks
        n_cb = -(-C // cols)
        width = (-(-C // n_cb) + 3) // 4 * 4
        link_item = item if storage == "dense" else 8
        link = N * n_cb * width * link_item + (N // 64 + 1) * n_cb * width * 8
        parts["link-overlap scratch"] = link
    running = state + buffered + link            # a checkpoint's state copy, rows, τ
    est.peak = int(max(build, couplings + state + max(init, running)))

    largest = max(parts, key=parts.get)
    if largest in ("couplings", "sample build", "host lattice sites"):
        est.key, est.value = {"rkky": ("sample.L", s.L), "sk": ("sample.N", s.N),
                              "ea": ("sample.L", s.L), "file": ("sample.path", s.path)}[s.model]
    elif largest == "DM vectors":
        est.key, est.value = "sample.dm", s.dm if s.dm != "none" else s.path
    elif largest == "spins and fields":
        est.key, est.value = "anneal.temperatures × anneal.replicas", f"{T} × {R}"
    elif largest == "measurement buffer":
        est.key, est.value = "anneal.temperatures × anneal.replicas", f"{T} × {R}"
    else:
        est.key, est.value = "anneal.replicas", R
    return est


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def available() -> tuple[int | None, str]:
    """(bytes this process may still allocate, where the figure comes from): the smaller of
    MemAvailable (/proc/meminfo) and the address-space limit (RLIMIT_AS) minus what the
    process already maps. None when neither is known."""
    options = []
    mem = _meminfo_available()
    if mem is not None:
        options.append((mem, f"{format_bytes(mem)} MemAvailable"))
    try:
        import resource

        soft, infinite = resource.getrlimit(resource.RLIMIT_AS)[0], resource.RLIM_INFINITY
    except (ImportError, OSError, ValueError):  # pragma: no cover - not Linux
        soft = infinite = -1
    if soft != infinite and soft >= 0:
        left = max(0, soft - _vm_size())
        options.append((left, f"{format_bytes(left)} left under the address-space limit "
                              f"(ulimit -v {soft // 1024})"))
    if not options:
        return None, "unknown"
    return min(options)


def check_memory(cfg: Config, base_dir=".", copies: int = 1, where: str = "",
                 ranks: int = 1) -> MemoryEstimate:
    """ConfigError (exit 2) if ``copies`` runs of ``cfg`` at once cannot fit in the memory
    this process may use; else the estimate. ``where``: text naming the task (sweeps).
    ``ranks``: a PA run split over that many MPI ranks (the need of one rank).
    RKKY_MC_SKIP_MEMORY_CHECK=1 switches the check off (estimates err high)."""
    est = estimate(cfg, base_dir, ranks)
    if os.environ.get("RKKY_MC_SKIP_MEMORY_CHECK", "").strip() in ("1", "true", "yes"):
        return est
    avail, source = available()
    need = est.peak * copies + BASELINE_BYTES
    if avail is None or need <= avail:
        return est
    top = sorted(est.parts.items(), key=lambda kv: -kv[1])[:2]
    shown = ", ".join(f"{name} {format_bytes(b)}" for name, b in top if b)
    times = f" × {copies} runs at once" if copies > 1 else ""
    raise ConfigError(est.key, est.value,
                      f"{where}needs about {format_bytes(need)} of memory{times} (N = {est.n_spins}; "
                      f"{shown}), but only {source} is available; make the run smaller "
                      "(or set RKKY_MC_SKIP_MEMORY_CHECK=1 if the estimate is wrong)")
