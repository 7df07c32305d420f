"""The run: ensemble state and the schedule (sweeps, tempering swaps, measurements).

One :class:`Simulation` holds R independent ladders of T walkers sharing one coupling
matrix. Walker ``w = r*T + slot`` belongs to ladder ``r``; ``perm[r, t]`` is the walker that
sits at temperature ``t`` of ladder ``r`` (swaps permute temperatures, spins never move).

All randomness comes from explicit xoshiro256** streams seeded from one
``numpy.random.SeedSequence(anneal.seed)``: one stream per walker (its moves), one per ladder
(its swaps), one per ladder for its visiting order (Ising Metropolis). The result is therefore
independent of the number of numba threads.

Precision: ``anneal.precision = "float32"`` keeps couplings, spins and local fields in float32
(energies, observables and every accumulation stay float64); the local fields are then
recomputed from scratch every FIELD_REFRESH_SWEEPS sweeps (see there). In float64 the
simulation uses the sample's coupling matrix itself (no copy).
"""
from __future__ import annotations

import json
import os
import time
import warnings

import numpy as np

from . import __version__, aligned, checkpoint, observables, provenance
from .config import Config
from .couplings import Sample
from .drivers import DRIVERS
from .io import RunLayout, recorder_for
from .kernels.measure import ladder_pairs
from .kernels.rng import seed_streams
from .moves import MOVES
from .observables_registry import REGISTRY
from .spins import spin_type

# float32 runs recompute the local fields from scratch before every sweep s > 0 with
# s % FIELD_REFRESH_SWEEPS == 0 (a function of sweeps_done only: an interrupted and resumed run
# refreshes at the same sweeps; the checkpoint stores the fields, so it is exact either way).
# Between refreshes a field takes at most K·N incremental updates h += 2 s J_ij, each rounded
# to float32 (relative error ≤ 2⁻²⁴ ≈ 6e-8 of |h|); the errors are unbiased, so the drift is
# ~ sqrt(K·N·acceptance)·6e-8·|h| — for N = 4000 and K = 256 about 4e-5 |h|, far below every
# temperature of a sensible ladder (|h| ~ a few J0, T ≳ 0.1 J0). A refresh costs about one
# sweep (W·N² multiply-adds in float64), i.e. < 1 % of the run. float64 runs never need one
# (their drift is ~1e-12 after 10⁹ updates).
FIELD_REFRESH_SWEEPS = 256

# Simulation.run: the length of a compiled chunk of sweeps is adapted to take about this long
# (seconds): Python's per-chunk work (progress, stop checks, commit checks) is then negligible,
# and a signal still stops the run within a fraction of a second.
CHUNK_SECONDS = 0.075
MAX_CHUNK_SWEEPS = 1 << 20
MAX_CHUNK_ROW_BYTES = 16 << 20


class Simulation:
    """Ensemble state plus the update schedule of one run.

    Parameters
    ----------
    cfg : Config
        The validated run configuration.
    sample : Sample
        The disorder sample (couplings in units of J0 or the model's scale).
    """

    def __init__(self, cfg: Config, sample: Sample):
        self.cfg = cfg
        self.sample = sample
        a = cfg.anneal
        self.temperatures = cfg.temperature_array
        self.betas = 1.0 / self.temperatures
        self.T = len(self.temperatures)
        self.R = a.replicas
        self.W = self.T * self.R
        self.N = sample.n_spins
        # the seams (docs/architecture.md): the spin type owns the spin arrays, their
        # kernels and shapes; the driver the temperature bookkeeping; the move is an id
        self.spin = spin_type(sample.spin)
        self.driver = DRIVERS["pt"].for_config(cfg)
        self.move = MOVES[a.update]
        self.heatbath = self.move is MOVES["heatbath"]
        self.overrelaxation = a.overrelaxation
        self.dtype = np.float32 if a.precision == "float32" else np.float64
        self.H = float(sample.field)
        self.pair_a, self.pair_b = ladder_pairs(self.R)
        self.P = len(self.pair_a)

        # couplings in the working precision; dense J or CSR. A sample built in the run's
        # precision (build_sample(..., precision)) is used as it is (no copy): one N×N matrix
        # serves the sweeps, the field recomputation and the link overlap (which squares J on
        # the fly), shared by all walkers.
        if sample.dense is not None:
            self.J = aligned.asarray(sample.dense, self.dtype)
            self.csr = None
        else:
            indptr, indices, data = sample.csr
            self.J = None
            self.csr = (indptr, indices, np.ascontiguousarray(data, dtype=self.dtype))
        # DM vectors Dc (3, N, N) (sample.dm, issue 17): dense float64 only, checked when
        # the sample is built; the DM kernels replace the Heisenberg ones (kernels/dm.py)
        self.dm = getattr(sample, "dm", None)
        if self.dm is not None and (self.J is None or self.dtype is not np.float64):
            raise ValueError("a DM sample needs dense float64 couplings (sample_dm.py)")
        self.cosk, self.sink = observables.wave_phases(sample)
        # dense couplings: the order in which moves reach the fields (same bits; which is
        # fastest depends on N, the precision and, for Ising, each walker's acceptance)
        self.spin.prepare(self)
        # scalar-chirality triplets (N_t, 3) and their centroid phases (Heisenberg; Ising
        # rows leave the chiral series NaN): observables_chiral.py
        self.triplets, self.tcosk, self.tsink = observables.chiral_inputs(sample)

        self.sweeps_done = 0
        self._chunk_cache = None
        self._init_state(np.random.SeedSequence(a.seed))

    # ---- set-up ---------------------------------------------------------------------
    def _init_state(self, seed_sequence: np.random.SeedSequence):
        W, N, R = self.W, self.N, self.R
        s_walk, s_ladder, s_sites, s_init = seed_sequence.spawn(4)
        self.rng_walkers = seed_streams(s_walk, W)
        self.driver.allocate(self, s_ladder)
        self.rng_sites = seed_streams(s_sites, R)
        self.spin.allocate(self, np.random.default_rng(s_init))
        self.flips = np.zeros(W, dtype=np.int64)
        self.energies = np.zeros(W, dtype=np.float64)
        self._sites_seq = np.arange(N, dtype=np.int64)
        self._sites_rand = np.zeros((self.R, N), dtype=np.int64)  # one row per ladder
        self._ladders = None  # per-ladder views, made on first use (spin.make_views)
        self.recompute_fields()

    # ---- kernels --------------------------------------------------------------------
    def recompute_fields(self):
        """Local fields from scratch (removes the rounding drift of incremental updates)."""
        self.spin.recompute_fields(self)
        self.update_energies()

    def update_energies(self):
        """Total energy of every walker from its local fields (units of J0)."""
        self.spin.update_energies(self)

    def sweep(self):
        """One Monte Carlo sweep of every walker, over-relaxation, then the driver's step
        (tempering swaps): the sweep-by-sweep reference of the compiled chunks."""
        if self.refresh_due():
            self.recompute_fields()
        self.spin.reference_moves(self)
        self.driver.step(self)
        self.sweeps_done += 1
        self.driver.after_chunk(self)

    def refresh_due(self) -> bool:
        """Whether the next sweep starts with a from-scratch field recomputation (float32)."""
        s = self.sweeps_done
        return self.dtype is np.float32 and s > 0 and s % FIELD_REFRESH_SWEEPS == 0

    # ---- measurements -----------------------------------------------------------------
    def measure(self) -> dict:
        return observables.measure(self)

    # ---- state (checkpoints) ---------------------------------------------------------
    def state_names(self) -> list[str]:
        """The checkpoint array names: the spin type's, the driver's and the walkers'."""
        return (list(self.spin.state_arrays) + list(self.driver.state_arrays)
                + ["rng_walkers", "rng_sites", "flips"])

    def state_dict(self) -> dict:
        """Everything needed to continue bit for bit (copies)."""
        state = {name: getattr(self, name).copy() for name in self.state_names()}
        state["sweeps_done"] = np.int64(self.sweeps_done)
        return state

    def load_state(self, state: dict) -> None:
        """Restore a :meth:`state_dict` (shapes and dtypes must match this run)."""
        for name in self.state_names():
            current = getattr(self, name)
            value = np.asarray(state[name])
            if value.shape != current.shape or value.dtype != current.dtype:
                raise ValueError(f"checkpoint array {name}: {value.shape} {value.dtype}, "
                                 f"this run needs {current.shape} {current.dtype}")
            current[...] = value  # in place: the per-ladder views stay valid
        self.spin.after_load(self)
        self.sweeps_done = int(state["sweeps_done"])
        self.update_energies()

    # ---- the schedule ---------------------------------------------------------------
    def _chunk_kernel_args(self):
        """(kernel, leading args, tail) of this run's compiled chunk (kernels/chunk.py): the
        arguments that stay the same from chunk to chunk, in the kernel's order."""
        a = self.cfg.anneal
        refresh = FIELD_REFRESH_SWEEPS if self.dtype is np.float32 else 0
        tail = (self.pair_a, self.pair_b, self.cosk, self.sink, bool(a.link_overlap))
        if self.J is not None:
            tail = tail + (observables.k2_total(self) if a.link_overlap and self.P else -1.0,)
        else:  # Σ J² and the bond count of the CSR couplings, once (constants of the sample)
            tail = tail + observables.csr_link_norms(self)
        return self.spin.chunk_kernel_args(self, self.move.chunk_id, refresh, tail)

    def row_buffers(self, n_rows: int) -> dict:
        """Empty measurement rows of the series the chunk functions write: name -> (n_rows,
        ...) arrays, shapes and dtypes from the observables registry."""
        T, R, P, spin = self.T, self.R, self.P, self.spin.name
        return {name: np.empty((n_rows,) + REGISTRY[name].row_shape(spin, T, R, P),
                               dtype=REGISTRY[name].dtype)
                for name in self.spin.chunk_series}

    def run_chunk(self, n_sweeps: int) -> dict:
        """``n_sweeps`` sweeps in one compiled call (kernels/chunk.py); returns the block of
        measurement rows taken in them (name -> (m, ...) arrays, m possibly 0)."""
        k = self.cfg.anneal.measure_every
        s0 = self.sweeps_done
        n_rows = (s0 + n_sweeps - 1) // k - (s0 - 1) // k  # s in [s0, s0 + n) with s % k == 0
        rows = self.row_buffers(n_rows)
        kernel, head, tail = self._chunk_args
        written = kernel(*head, s0, n_sweeps, k, *tail, *rows.values())
        assert written == n_rows
        self.sweeps_done = s0 + n_sweeps
        return rows

    @property
    def _chunk_args(self):
        # built once: every array in it is updated in place (load_state copies into them)
        if self._chunk_cache is None:
            self._chunk_cache = self._chunk_kernel_args()
        return self._chunk_cache

    def run(self, commit, stop=None, progress=None, commit_due=None) -> bool:
        """Run the remaining sweeps, measuring after every ``measure_every``-th sweep.

        The sweeps run in compiled chunks (:meth:`run_chunk`) of about CHUNK_SECONDS each;
        between chunks ``commit(blocks, final)`` receives the buffered measurement blocks (a
        list of name -> (m, ...) dicts, see :func:`stack_rows`) whenever ``commit_due(blocks)``
        says so, when ``stop()`` asks to stop (the state is then at a sweep boundary), and at
        the end. ``stop.max_chunk_sweeps``, if present, caps the chunk length (a stop that
        counts sweeps sets it to 1). Returns True when all planned sweeps are done, False
        when stopped early.
        """
        total = self.cfg.total_sweeps
        cap = int(getattr(stop, "max_chunk_sweeps", 0) or 0) or MAX_CHUNK_SWEEPS
        # and at most MAX_CHUNK_ROW_BYTES of measurement rows per chunk
        row_bytes = sum(a.nbytes for a in self.row_buffers(1).values())
        cap = min(cap, max(1, MAX_CHUNK_ROW_BYTES // row_bytes) * self.cfg.anneal.measure_every)
        n = 1  # the first chunk may include the compilation: start small, then grow
        buffer: list[dict] = []
        while self.sweeps_done < total:
            n = max(1, min(n, cap, total - self.sweeps_done))
            event = self.driver.next_event(self)  # e.g. a ladder update: no chunk crosses it
            if event is not None:
                n = max(1, min(n, event - self.sweeps_done))
            t0 = time.perf_counter()
            block = self.run_chunk(n)
            elapsed = time.perf_counter() - t0
            self.driver.after_chunk(self)  # before any commit: the checkpoint holds its result
            if len(block["sweep"]):
                buffer.append(block)
            if progress is not None:
                progress.update(n)
            if stop is not None and stop():
                if self.sweeps_done < total:
                    commit(buffer, False)
                    return False
            elif commit_due is not None and commit_due(buffer):
                commit(buffer, False)
                buffer = []
            # next chunk: about CHUNK_SECONDS, growing at most 4x per chunk
            per_sweep = elapsed / n
            n = min(4 * n, int(CHUNK_SECONDS / per_sweep) if per_sweep > 0 else 4 * n)
        commit(buffer, True)
        return True

    def tempering_stats(self) -> dict:
        """The driver's statistics for the next commit (``/tempering``)."""
        return self.driver.statistics(self)


def stack_rows(buffer: list[dict]) -> dict:
    """A list of measurement blocks (name -> (m, ...) arrays, as Simulation.run_chunk
    returns them) -> name -> (Σm, ...) arrays."""
    if not buffer:
        return {}
    if len(buffer) == 1:
        return dict(buffer[0])
    return {name: np.concatenate([block[name] for block in buffer]) for name in buffer[0]}


def single_row(row: dict) -> dict:
    """One measurement (Simulation.measure, plus its "sweep") as a block of one row."""
    return {name: np.asarray(value)[None] for name, value in row.items()}


class Checkpointer:
    """Commits measurement rows and the ensemble state to the run file (atomically).

    Commits happen every ``interval`` seconds of wall time, but never more often than 20×
    the duration of the previous commit (commit overhead ≤ 5 %), and whenever the buffered
    rows exceed ``max_buffer_bytes``.
    """

    def __init__(self, target, sim: Simulation, interval: float, max_buffer_bytes: int = 256 << 20,
                 root_attrs: dict | None = None, provenance: dict | None = None,
                 resize: int | None = None, generation: int | None = None):
        # target: a Recorder (rkky_mc.io), or a run file path (the HDF5 backend)
        self.recorder = recorder_for(target)
        # the generation of the run this process last wrote (or resumed from): a commit on
        # top of any other one means a second writer (checkpoint.ConcurrentWriterError)
        self.generation = generation
        self.sim = sim
        self.interval = float(interval)
        self.max_buffer_bytes = max_buffer_bytes
        self.last = time.monotonic()
        self.last_cost = 0.0
        self.n_commits = 0
        # applied with the next commit only
        self._pending = {"root_attrs": root_attrs, "provenance": provenance, "resize": resize}

    def meta(self) -> dict:
        return {
            "sweeps_done": np.int64(self.sim.sweeps_done),
            "time": provenance.now_iso(),
            "cpu": provenance.cpu_model(),
            "rkky_mc_version": __version__,
        }

    def due(self, buffer) -> bool:
        now = time.monotonic()
        if now - self.last >= max(self.interval, 20.0 * self.last_cost):
            return True
        if not buffer:
            return False
        return sum(a.nbytes for block in buffer for a in block.values()) > self.max_buffer_bytes

    def __call__(self, buffer, final: bool) -> None:
        t0 = time.monotonic()
        pending, self._pending = self._pending, {}
        self.generation = self.recorder.commit(
            stack_rows(buffer), self.sim.state_dict(), self.meta(),
            tempering=self.sim.tempering_stats(), finished=final,
            finish_info={"end_time": provenance.now_iso()}, generation=self.generation,
            # a driver's output group (drivers/population_annealing.py: /pa)
            groups=self.sim.output_groups() if hasattr(self.sim, "output_groups") else None,
            **pending,
        )
        buffer.clear()
        self.n_commits += 1
        self.last = time.monotonic()
        self.last_cost = self.last - t0


# ---- threads ------------------------------------------------------------------------
# Below this estimated cost of one sweep a run uses one thread: every kernel call would open a
# parallel region (~10–50 µs), and threads that wait for each other cost far more than that
# when other processes share the cores. Results never depend on the thread count.
THREADS_MIN_SWEEP_NS = 2.0e6


def estimated_sweep_ns(sim: Simulation) -> float:
    """Rough cost of one sweep on one core (ns): W·N attempted updates of a few ns each,
    plus the row updates of accepted moves (~0.3 of the row length, ~0.4 ns per element,
    × 3 field components for Heisenberg, more with over-relaxation)."""
    if sim.J is not None:
        row = float(sim.N)
    else:
        indptr = sim.csr[0]
        row = float(indptr[-1] - indptr[0]) / max(sim.N, 1)
    per_update = sim.spin.cost_per_update_ns(sim, 8.0 + 0.3 * 0.4 * row)
    return sim.W * sim.N * per_update


def choose_threads(sim: Simulation) -> int | None:
    """Threads for ``rkky-mc run`` / ``resume``, or None to keep numba's current setting.

    Kept: NUMBA_NUM_THREADS set in the environment, or numba's thread count already lowered
    in this process (numba.set_num_threads, e.g. by a sweep worker): an explicit choice.
    Otherwise 1 when one sweep is small work (estimated_sweep_ns < THREADS_MIN_SWEEP_NS),
    else every core this process may run on (its CPU affinity, e.g. a SLURM allocation)."""
    import os

    import numba

    if os.environ.get("NUMBA_NUM_THREADS"):
        return None
    if numba.get_num_threads() < numba.config.NUMBA_NUM_THREADS:
        return None
    if estimated_sweep_ns(sim) < THREADS_MIN_SWEEP_NS:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, numba.config.NUMBA_NUM_THREADS))


def _run_with_threads(sim: Simulation, threads="auto", **kwargs) -> bool:
    """sim.run(**kwargs) with ``threads`` numba threads ("auto": :func:`choose_threads`;
    None: numba's current setting), restored afterwards."""
    import numba

    n = choose_threads(sim) if threads == "auto" else threads
    if n is None:
        return sim.run(**kwargs)
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    try:
        return sim.run(**kwargs)
    finally:
        numba.set_num_threads(old)


def _link_commit_cost(stop, ckpt) -> None:
    # a wall-time stop must leave room for the final commit
    if stop is not None and hasattr(stop, "commit_cost"):
        stop.commit_cost = lambda: ckpt.last_cost


def estimated_file_bytes(cfg: Config, sample: Sample) -> tuple[int, int]:
    """(first generation, finished file) sizes in bytes, upper bounds: the checkpoint (every
    walker's spins and fields, in the run's precision), the stored couplings, and for the
    finished file every measurement row uncompressed."""
    from .observables_registry import timeseries_specs

    T, R, N = len(cfg.anneal.temperatures), cfg.anneal.replicas, sample.n_spins
    W, P = T * R, R * (R - 1) // 2
    per_spin = spin_type(sample.spin).arrays_per_spin  # components of spin and local field
    itemsize = 4 if cfg.anneal.precision == "float32" else 8
    state = W * N * per_spin * itemsize + W * (8 * 8 + 4 * 8) + R * 2 * 32
    if cfg.output.store_couplings:
        state += 8 * (N * N if sample.dense is not None else 2 * int(sample.csr[0][-1]) + N)
    specs = timeseries_specs(sample.spin, T, R, P, "")
    row = sum(int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
              for shape, dtype, *_ in specs.values())
    return state, state + row * cfg.n_measurements


def start_run(cfg: Config, sample: Sample, path, prov: dict, stop=None, progress=None,
              threads="auto", replace: bool = False) -> Simulation:
    """A fresh run: create the run (first generation, state at sweep 0), then run.

    ``path``: the run file (HDF5 backend), or any :class:`rkky_mc.io.Recorder`.
    ``threads``: numba threads for the sweeps — "auto" (:func:`choose_threads`), an int, or
    None (numba's current setting). Results never depend on it. ``replace``: an existing
    file at ``path`` (with its ``.prev``) is replaced when the first generation is in place,
    not before (``run --overwrite``). Another ``anneal.method`` goes to its driver."""
    if cfg.anneal.method != "pt":
        return DRIVERS[cfg.anneal.method].start_run(cfg, sample, path, prov, stop=stop,
                                                    progress=progress, threads=threads,
                                                    replace=replace)
    recorder = recorder_for(path)
    if cfg.sample.model == "file":
        # the sample was read relative to this working directory: store where it really is
        # (a resume from elsewhere must find the same file; see resolve_coupling_file)
        cfg.sample.path = os.path.abspath(cfg.sample.path)
    if recorder.backend == "hdf5":  # before the ensemble is built: the first generation must fit
        checkpoint.check_space(recorder.location, estimated_file_bytes(cfg, sample)[0], resumable=False)
    sim = Simulation(cfg, sample)
    ckpt = Checkpointer(recorder, sim, cfg.output.checkpoint_interval, generation=1)
    _link_commit_cost(stop, ckpt)
    ckpt.recorder.create(RunLayout.for_run(cfg, sample, prov, sim.temperatures, sim.R),
                         sim.state_dict(), ckpt.meta(), replace=replace)
    sim.finished = _run_with_threads(sim, threads, commit=ckpt, stop=stop, progress=progress,
                                     commit_due=ckpt.due)
    return sim


class ResumeError(ValueError):
    """A file cannot be resumed (not a run, damaged beyond recovery, sample mismatch)."""


def _ladder_problem(cfg: Config, state: dict, file_temperatures, file_R) -> str | None:
    """Why the stored config, the file's /temperatures and ladder count, and the checkpoint's
    permutations and inverse temperatures do not describe one ladder (None if they do).
    Checked before anything is built: an edited replica count must not allocate first."""
    temps = cfg.temperature_array
    T, R = temps.size, cfg.anneal.replicas
    perm = np.asarray(state.get("perm", np.zeros((0, 0))))
    if perm.shape != (R, T):
        return (f"the checkpoint holds {perm.shape[0] if perm.ndim == 2 else '?'} ladders of "
                f"{perm.shape[-1] if perm.ndim else '?'} temperatures, the config "
                f"anneal.replicas = {R} of {T}")
    betas = np.sort(1.0 / temps)
    if getattr(cfg.anneal, "ladder_adapt", None):
        # an adapted ladder: the checkpoint's own, with the config's endpoints
        # (drivers/ladder.py); /temperatures is written with it in every commit
        temps = np.asarray(state.get("temperatures", np.zeros(0)), dtype=np.float64)
        ends = cfg.temperature_array[[0, -1]]
        if (temps.shape != (T,) or not np.array_equal(temps[[0, -1]], ends)
                or np.any(np.diff(temps) <= 0)):
            return ("the checkpoint's adapted ladder does not run from the config's "
                    f"anneal.temperatures.min to max in {T} ascending steps")
        betas = np.asarray(state.get("betas", np.zeros(0)), dtype=np.float64)
        if betas.shape != (T,) or not np.allclose(betas, 1.0 / temps, rtol=1e-14, atol=0.0):
            return "the checkpoint's inverse temperatures β are not its adapted ladder's 1/T"
        betas = np.sort(betas)
    file_temperatures = np.asarray(file_temperatures, dtype=np.float64)
    if file_temperatures.shape != temps.shape or not np.array_equal(file_temperatures, temps):
        return (f"/temperatures ({file_temperatures.size}: {np.array2string(file_temperatures, precision=4)}) "
                f"differ from the config's anneal.temperatures ({T}: {np.array2string(temps, precision=4)})")
    if file_R is not None and int(file_R) != R:
        return f"the time series are laid out for {file_R} ladders, the config anneal.replicas = {R}"
    beta_w = np.asarray(state.get("beta_w", np.zeros(0)), dtype=np.float64)
    if beta_w.shape != (R * T,) or not all(np.array_equal(np.sort(b), betas) for b in beta_w.reshape(R, T)):
        return "the checkpoint's inverse temperatures β are not the config's ladder"
    return None


def plan_extension(cfg: Config, record, extra_sweeps: int = 0, total_sweeps: int | None = None,
                   repeatable: bool = False) -> tuple[int, dict | None, bool]:
    """Sweeps to add to the stored plan ``cfg`` for ``resume --sweeps N`` / ``--total-sweeps M``:
    (added, the extension record to store, whether this repeats the recorded extension).

    ``record``: the root attribute ``extension`` of the file (JSON, or ""), written with the
    first commit of an extension: {"sweeps": N, "from_total": S, "to_total": S + N} (or
    "total_sweeps": M). With ``repeatable`` (the CLI), ``--sweeps N`` on a file whose plan
    already is the recorded extension by the same N adds nothing: the same command run again
    (after a crash, a requeue, or once more by hand) continues it, never extends twice.
    ``--total-sweeps M`` is absolute (thermalization + sweeps = M; never below the plan)."""
    from .config import ConfigError

    planned = cfg.total_sweeps
    if total_sweeps is not None:
        if extra_sweeps:
            raise ConfigError("--total-sweeps", total_sweeps, "give either --sweeps or --total-sweeps, not both")
        if total_sweeps < planned:
            raise ConfigError("--total-sweeps", total_sweeps,
                              f"must be ≥ the {planned} sweeps already planned (a run is never shortened)")
        added = int(total_sweeps) - planned
        return added, ({"total_sweeps": int(total_sweeps), "from_total": planned,
                        "to_total": int(total_sweeps)} if added else None), False
    if not extra_sweeps:
        return 0, None, False
    if repeatable:
        try:
            rec = json.loads(record) if record else {}
        except (TypeError, ValueError):
            rec = {}
        if isinstance(rec, dict) and rec.get("sweeps") == int(extra_sweeps) and rec.get("to_total") == planned:
            return 0, None, True
    return int(extra_sweeps), {"sweeps": int(extra_sweeps), "from_total": planned,
                               "to_total": planned + int(extra_sweeps)}, False


def resolve_coupling_file(cfg: Config, run_path, sample_attrs: dict) -> None:
    """For model = "file": point ``cfg.sample.path`` at the coupling file of this run,
    whatever the working directory. Tried in order: the stored path (absolute since it is
    stored so; an old file's relative one as given), the path stored relative to the run
    file (/sample attr ``file_relative_to_run``: a run moved together with its couplings),
    and an old relative path against the run file's directory. The couplings' sha256 is
    checked afterwards (prepare_resume). ResumeError if none exists."""
    if cfg.sample.model != "file":
        return
    stored = cfg.sample.path
    run_dir = os.path.dirname(os.path.realpath(run_path))
    candidates = [stored]
    rel = sample_attrs.get("file_relative_to_run")
    if rel:
        candidates.append(os.path.join(run_dir, str(rel)))
    if not os.path.isabs(stored):
        candidates.append(os.path.join(run_dir, stored))
    for candidate in candidates:
        if os.path.isfile(candidate):
            cfg.sample.path = os.path.abspath(candidate)
            return
    raise ResumeError(f"{run_path}: the coupling file (sample.path) is at none of "
                      + ", ".join(repr(c) for c in dict.fromkeys(candidates))
                      + "; put it back, or next to the run file as when it was written")


def prepare_resume(path, extra_sweeps: int = 0, total_sweeps: int | None = None,
                   repeatable: bool = False):
    """Recover the newest usable generation of ``path`` (a run file, or any
    :class:`rkky_mc.io.Recorder`) and rebuild its Simulation.

    Returns (sim, info) where info holds the stored config text, status, whether the
    config changed (extension) and the checkpoint metadata. Warnings: fallback to the
    previous generation, a different CPU type than the one that wrote the checkpoint.
    """
    from .config import MAX_TOTAL_SWEEPS, ConfigError, load_config
    from .couplings import build_sample
    from .resources import check_memory

    recorder = recorder_for(path)
    state, meta = recorder.recover()
    path = getattr(recorder, "path", recorder.location)  # the HDF5 file it came from
    root = recorder.root_attrs()
    text, status = str(root["config"]), str(root["status"])
    stored_sample = recorder.sample_attrs()
    stored_sha = str(stored_sample["sha256"])
    generation = int(root.get("generation", 0))
    measured_sweeps = recorder.read_series("sweep")
    cfg = load_config(text=text)
    if cfg.anneal.method != "pt":  # another driver (drivers/): its own checks and state
        return DRIVERS[cfg.anneal.method].prepare_resume(recorder, state, meta, cfg, text,
                                                         extra_sweeps, total_sweeps)
    problem = checkpoint.row_problem(measured_sweeps, int(meta["sweeps_done"]), cfg.anneal.measure_every,
                                     n_valid=int(root["n_valid"]))
    if problem:
        raise ResumeError(f"{path}: {problem}; the file is inconsistent (two writers?), not resumable")
    ladder_problem = _ladder_problem(cfg, state, *recorder.ladder())
    if ladder_problem:
        raise ResumeError(f"{path}: {ladder_problem} (was the config attribute edited?); not resumable")
    added, extension, repeated = plan_extension(cfg, root.get("extension", ""), extra_sweeps,
                                                total_sweeps, repeatable)
    cfg.anneal.sweeps += added
    if cfg.total_sweeps > MAX_TOTAL_SWEEPS:
        raise ConfigError("--sweeps", int(added), f"extends the run to {cfg.total_sweeps} "
                          f"sweeps; at most 2**53 = {MAX_TOTAL_SWEEPS} in all")
    resolve_coupling_file(cfg, path, stored_sample)
    check_memory(cfg)  # before the sample is rebuilt (ConfigError: exit 2)
    sample = build_sample(cfg.sample, precision=cfg.anneal.precision)
    if sample.sha256 != stored_sha:
        raise ResumeError(f"{path}: the couplings rebuilt from the stored config (sha256 "
                          f"{sample.sha256[:12]}…) differ from the run's ({stored_sha[:12]}…); "
                          "was a coupling file changed?")
    sim = Simulation(cfg, sample)
    try:
        sim.load_state(state)
    except (KeyError, ValueError) as exc:
        raise ResumeError(f"{path}: the checkpoint does not fit the stored config ({exc}); "
                          "not resumable") from None
    cpu = provenance.cpu_model()
    if str(meta.get("cpu", cpu)) != cpu:
        warnings.warn(f"{path}: checkpoint written on CPU {meta.get('cpu')!r}, resuming on {cpu!r}: "
                      "results may differ in the last bits from an uninterrupted run", RuntimeWarning,
                      stacklevel=2)
    return sim, {"config": cfg, "config_text": text, "status": status, "meta": meta, "path": path,
                 "generation": generation, "recorder": recorder, "extension": extension,
                 "repeated": repeated}


def resume_run(sim: Simulation, info: dict, prov: dict, stop=None, progress=None,
               threads="auto") -> Simulation:
    """Continue a run prepared by :func:`prepare_resume` until done or stopped (``threads``
    as in :func:`start_run`)."""
    if info.get("driver"):  # prepared by another driver (see prepare_resume)
        return DRIVERS[info["driver"]].resume_run(sim, info, prov, stop=stop, progress=progress,
                                                  threads=threads)
    cfg = info["config"]
    history = {"resumed_at": prov.get("start_time", provenance.now_iso()),
               "resume_command_line": prov.get("command_line", ""),
               "resume_host": prov.get("host", ""), "resume_cpu": prov.get("cpu", "")}
    ckpt = Checkpointer(info.get("recorder", info["path"]), sim, cfg.output.checkpoint_interval,
                        root_attrs={"config": cfg.to_toml(), "status": "running",
                                    # with the new plan, atomically: a repeated command sees it
                                    **({"extension": json.dumps(info["extension"])}
                                       if info.get("extension") else {})},
                        provenance=history, resize=cfg.n_measurements,
                        generation=info.get("generation"))
    if ckpt.recorder.backend == "hdf5":  # disk still full: say so now, not after the sweeps
        checkpoint.check_space(ckpt.recorder.location,
                               checkpoint.commit_bytes(ckpt.recorder.location, None, sim.state_dict()))
    _link_commit_cost(stop, ckpt)
    sim.finished = _run_with_threads(sim, threads, commit=ckpt, stop=stop, progress=progress,
                                     commit_due=ckpt.due)
    return sim
