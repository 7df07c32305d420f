"""Population annealing (anneal.method = "pa"; issue 18, serial slice).

Hukushima and Iba (2003); Machta, PRE 82, 026704 (2010); Wang, Machta and Katzgraber,
PRE 92, 063307 (2015). A population of R_p = anneal.population replicas starts from random
spins at β = 0, where Z is the phase-space volume (ln Z = N ln 2 Ising, N ln 4π
Heisenberg), and visits anneal.temperatures from the highest to the lowest. At each
temperature T_k (β_k = 1/T_k, Δβ = β_k − β_{k−1}, β_0 = 0):

1. reweight: w_r = exp(−Δβ E_r); ln Z_k = ln Z_{k−1} + ln(mean_r w_r) (log-sum-exp, summed
   in slot order; ln Z_k = ln Z_0 + math.fsum of the increments);
2. resample: multinomial with the population size kept at R_p (kernels/population.py), from
   the resampling stream; then every slot k gets fresh streams derived from (seed, step, k)
   (never a copy of its parent's);
3. N_S = anneal.sweeps_per_temperature sweeps at β_k (the existing sweep kernels, with
   anneal.update and anneal.overrelaxation);
4. one row of /pa: free energy, entropy, energy, q², q⁴ and link overlap from PAIRS pairs
   of replicas in different families (drawn from the resampling stream), family
   statistics.

Checkpoints between sweep chunks (any temperature step, also inside one): the population,
its streams, families, and the rows so far; a resumed run gives the same bits. Output:
``/pa`` (one row per temperature, ascending in T) through ``Recorder.commit(groups=)``;
no time series (/timeseries is laid out with no rows).
"""
from __future__ import annotations

import math
import time

import numpy as np

from .. import aligned, checkpoint, observables, provenance
from ..io import RunLayout, recorder_for
from ..kernels import measure as kmeasure
from ..kernels import population as kpop
from .base import Driver

NAME = "pa"
GROUP = "pa"
# pairs of replicas in different families per temperature for q², q⁴ and the link overlap
# (a fixed number, drawn from the resampling stream): enough that their noise (~1/sqrt(PAIRS)
# of the spread of q²) stays below the run-to-run error of a population of ~10³ replicas
PAIRS = 256
INIT_BLOCK = 256  # replicas per float64 draw of the initial spins
CHUNK_SECONDS = 0.075
# SeedSequence(anneal.seed) spawn keys of PA's random streams
_SEED_INIT, _SEED_RESAMPLE, _SEED_SLOTS = 0, 1, 2
_STREAM_MOVES, _STREAM_SITES = 0, 1

ROW_NAMES = ("log_mean_weight", "energy", "q2", "q4", "link_overlap", "families", "rho_t", "rho_s")


def ln_z0(n_spins: int, spin) -> float:
    """ln Z at β = 0 of ``spin`` (a SpinType): N ln 2 (Ising), N ln 4π (Heisenberg)."""
    return n_spins * spin.log_states_per_spin


class PopulationAnnealing:
    """The population, its schedule and its rows (duck-types the parts of Simulation that
    Checkpointer, choose_threads and the CLI use: cfg, N, W, T, R, J, csr, heisenberg,
    overrelaxation, sweeps_done, state_dict, tempering_stats, run, finished)."""

    name = NAME

    def __init__(self, cfg, sample, comm=None):
        """``comm``: an mpi4py communicator to split the population over (drivers/pa_mpi.py),
        or None (one process)."""
        from ..simulation import FIELD_REFRESH_SWEEPS

        self.cfg, self.sample = cfg, sample
        a = cfg.anneal
        self.temperatures = cfg.temperature_array                # ascending (the rows)
        self.schedule_betas = 1.0 / self.temperatures[::-1]      # annealing order: β up
        self.n_steps = int(self.temperatures.size)
        self.R = int(a.population)                               # the whole population
        self.part = None
        self.lo, self.hi = 0, self.R                             # the slots held here
        if comm is not None and comm.Get_size() > 1:
            from .pa_mpi import SlotPartition

            self.part = SlotPartition(comm, self.R)
            self.lo, self.hi = self.part.lo, self.part.hi
        self.root = self.part is None or self.part.root
        self.W = self.hi - self.lo                               # replicas swept here
        self._gathered = None
        self.T = self.n_steps
        self.N = int(sample.n_spins)
        self.n_sweeps = int(a.sweeps_per_temperature)
        self.total_sweeps = self.n_steps * self.n_sweeps
        self.heisenberg = sample.spin == "heisenberg"
        from ..spins import spin_type

        self.spin = spin_type(sample.spin)  # its cost model (simulation.estimated_sweep_ns)
        self.heatbath = a.update == "heatbath"
        self.overrelaxation = int(a.overrelaxation)
        self.link_overlap = bool(a.link_overlap)
        self.dtype = np.float32 if a.precision == "float32" else np.float64
        self.refresh_every = FIELD_REFRESH_SWEEPS if self.dtype is np.float32 else 0
        self.H = float(sample.field)
        if sample.dense is not None:
            self.J = aligned.asarray(sample.dense, self.dtype)
            self.csr = None
        else:
            indptr, indices, data = sample.csr
            self.J = None
            self.csr = (indptr, indices, np.ascontiguousarray(data, dtype=self.dtype))
        # DM vectors Dc (3, N, N) (sample.dm or a .npz D, issue 17): dense float64 only
        # (checked when the sample is built); the spin type's sweeps and fields use them
        self.dm = getattr(sample, "dm", None)
        if self.dm is not None and (self.J is None or self.dtype is not np.float64):
            raise ValueError("a DM sample needs dense float64 couplings (sample_dm.py)")
        self.cosk, self.sink = observables.wave_phases(sample)
        self.spin.prepare_population(self)
        self._k2 = None
        self.finished = False
        self._init_state()

    # ---- state ------------------------------------------------------------------
    def _spin_names(self):
        return list(self.spin.state_arrays)

    def _init_state(self):
        R, N, dt = self.R, self.N, self.dtype
        W = self.W  # the slots held here (all of them in one process)
        seed = int(self.cfg.anneal.seed)
        init = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_SEED_INIT,)))
        self.rng_resample = np.random.SeedSequence(seed, spawn_key=(_SEED_RESAMPLE,)) \
            .generate_state(4, np.uint64).reshape(1, 4)
        self._slot_key = np.random.SeedSequence(seed, spawn_key=(_SEED_SLOTS,)) \
            .generate_state(4, np.uint64)
        # the population and its second buffer (resampling gathers into it, then they swap)
        self._arrays = {name: aligned.zeros((W, N), dt) for name in self._spin_names()}
        self._spare = {name: aligned.zeros((W, N), dt) for name in self._spin_names()}
        self.spin.draw_population(self._arrays, init, INIT_BLOCK, self.lo, R)
        self.rng_walkers = np.zeros((W, 4), np.uint64)
        self.rng_sites = np.zeros((W, 4), np.uint64)
        self._derive_streams(0)
        self.family = np.arange(R, dtype=np.int64)  # global (every rank holds all)
        self.beta = 0.0
        self.beta_w = np.zeros(W)
        self.pa_step = 0              # temperatures entered (resampled to)
        self.pa_step_sweeps = 0       # sweeps done at the current one
        self.sweeps_done = 0          # all sweeps (float32 field refreshes follow it)
        self.rows = {name: np.full(self.n_steps, np.nan) for name in ROW_NAMES}
        self.rows["families"] = np.full(self.n_steps, -1, dtype=np.int64)
        self.energies = np.zeros(W)
        # every slot's energy, in slot order (one process: the same array)
        self._energies_all = self.energies if self.part is None else np.zeros(R)
        self.flips = np.zeros(W, dtype=np.int64)
        self._sites_seq = np.arange(N, dtype=np.int64)
        self._sites_rand = np.zeros((W, N), dtype=np.int64)
        self._weights = np.zeros(R)
        self._parents = np.zeros(R, dtype=np.int64)
        self.recompute_fields()

    def _derive_streams(self, step: int):
        first = np.int64(self.lo)
        kpop.derive_streams_from(self._slot_key, np.int64(step), np.int64(_STREAM_MOVES), first,
                                 self.rng_walkers)
        kpop.derive_streams_from(self._slot_key, np.int64(step), np.int64(_STREAM_SITES), first,
                                 self.rng_sites)

    def __getattr__(self, name):  # sx, spins, ... : the current buffer
        arrays = self.__dict__.get("_arrays")
        if arrays is not None and name in arrays:
            return arrays[name]
        raise AttributeError(name)

    def slot_names(self) -> list[str]:
        """The state arrays with one row per slot (split over MPI ranks)."""
        return self._spin_names() + ["rng_walkers", "rng_sites"]

    def state_names(self) -> list[str]:
        return self.slot_names() + ["rng_resample", "family"]

    def gather_state(self) -> None:
        """MPI: every rank at once; rank 0 then holds the whole population for
        :meth:`state_dict` (a checkpoint is the one-process one). One process: nothing."""
        if self.part is not None:
            full = {name: self.part.gather(getattr(self, name)) for name in self.slot_names()}
            self._gathered = full if self.root else None

    def state_dict(self) -> dict:
        """Everything needed to continue bit for bit. The population arrays are the live
        ones (not copies: a copy would be a third population in memory); a Recorder copies
        or writes them at once, and the driver changes them only in its next step. Under
        MPI (rank 0 only) those :meth:`gather_state` gathered last."""
        if self.part is None:
            state = {name: getattr(self, name) for name in self.state_names()}
        else:
            state = dict(self._gathered)
            state.update(rng_resample=self.rng_resample, family=self.family)
        for name, value in self.rows.items():
            state[f"pa_{name}"] = value.copy()
        state.update(pa_step=np.int64(self.pa_step), pa_step_sweeps=np.int64(self.pa_step_sweeps),
                     sweeps_done=np.int64(self.sweeps_done), pa_beta=np.float64(self.beta))
        return state

    def load_state(self, state: dict) -> None:
        """The state of a checkpoint (the one-process layout, whatever K wrote it). Under
        MPI every rank calls it, ``state`` given on rank 0 only (None elsewhere): the slot
        arrays are scattered, the rest broadcast. A misfit raises ValueError on every rank."""
        part = self.part
        problem = None
        if self.root:
            for name in self.state_names() + [f"pa_{n}" for n in ROW_NAMES]:
                current = self.rows[name[3:]] if name.startswith("pa_") else getattr(self, name)
                value = np.asarray(state[name])
                shape = (self.R,) + current.shape[1:] if name in self.slot_names() else current.shape
                if value.shape != shape or value.dtype != current.dtype:
                    problem = (f"checkpoint array {name}: {value.shape} {value.dtype}, "
                               f"this run needs {shape} {current.dtype}")
                    break
        if part is not None:
            problem = part.bcast(problem)
        if problem:
            raise ValueError(problem)
        if part is None:
            for name in self.state_names():
                getattr(self, name)[...] = np.asarray(state[name])
            for n in ROW_NAMES:
                self.rows[n][...] = np.asarray(state[f"pa_{n}"])
        else:
            for name in self.slot_names():
                part.scatter(np.asarray(state[name]) if self.root else None, getattr(self, name))
            rest = ({name: np.asarray(state[name]) for name in ("rng_resample", "family")}
                    | {f"pa_{n}": np.asarray(state[f"pa_{n}"]) for n in ROW_NAMES}
                    | {k: state[k] for k in ("pa_step", "pa_step_sweeps", "sweeps_done", "pa_beta")}
                    if self.root else None)
            state = part.bcast(rest)
            self.rng_resample[...] = state["rng_resample"]
            self.family[...] = state["family"]
            for n in ROW_NAMES:
                self.rows[n][...] = state[f"pa_{n}"]
        self.pa_step = int(state["pa_step"])
        self.pa_step_sweeps = int(state["pa_step_sweeps"])
        self.sweeps_done = int(state["sweeps_done"])
        self.beta = float(state["pa_beta"])
        self.beta_w[:] = self.beta
        self.update_energies()

    def tempering_stats(self):
        return None

    # ---- kernels ----------------------------------------------------------------
    def recompute_fields(self):
        """Local fields from scratch, then the energies (the spin type's kernels)."""
        self.spin.recompute_fields(self)
        self.update_energies()

    def update_energies(self):
        """Total energy of every replica from its fields (units of J0)."""
        self.spin.update_energies(self)

    def sweep(self):
        """One sweep of every replica at β (anneal.update, then over-relaxation)."""
        s = self.sweeps_done
        if self.refresh_every and s > 0 and s % self.refresh_every == 0:
            self.recompute_fields()
        self.spin.population_moves(self)  # its moves, then the energies
        self.sweeps_done += 1

    # ---- the schedule -------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.pa_step == self.n_steps and self.pa_step_sweeps == self.n_sweeps

    def enter_next_temperature(self):
        """Reweight to the next annealing temperature, resample, fresh slot streams."""
        k = self.pa_step
        beta = float(self.schedule_betas[k])
        energies = self._all_energies()  # every slot's, in slot order (on every rank)
        self.rows["log_mean_weight"][k] = kpop.reweight(energies, beta - self.beta, self._weights)
        kpop.multinomial_parents(self._weights, self.rng_resample, np.int64(0), self._parents)
        plan = None if self.part is None else self.part.resample_plan(self._parents)
        for name, src in self._arrays.items():
            dst = self._spare[name]
            if plan is None:
                kpop.gather_rows(src, self._parents, dst)
            else:  # the parents' rows from the ranks that hold them
                self.part.resample_rows(plan, src, dst)
            self._spare[name], self._arrays[name] = src, dst
        self.family[:] = self.family[self._parents]
        self.energies[:] = energies[self._parents[self.lo:self.hi]]
        self.pa_step = k + 1
        self._derive_streams(self.pa_step)
        self.beta = beta
        self.beta_w[:] = beta
        self.pa_step_sweeps = 0

    def _all_energies(self) -> np.ndarray:
        """Every slot's energy in slot order (MPI: gathered from the ranks, a copy)."""
        if self.part is not None:
            self.part.allgather(self.energies, self._energies_all)
        return self._energies_all

    def measure_row(self):
        """The row of the current temperature (its N_S sweeps done)."""
        k = self.pa_step - 1
        rows = self.rows
        rows["energy"][k] = math.fsum(self._all_energies()) / (self.R * self.N)
        families, rho_t, rho_s = kpop.family_statistics(self.family, self.R)
        rows["families"][k], rows["rho_t"][k], rows["rho_s"][k] = families, rho_t, rho_s
        pa, pb = np.zeros(PAIRS, np.int64), np.zeros(PAIRS, np.int64)
        if not kpop.draw_pairs(self.family, self.rng_resample, np.int64(0), pa, pb):
            return  # one family: q², q⁴, link overlap stay NaN
        if self.part is None:
            values = self._pair_means(self, np.arange(self.R, dtype=np.int64), pa, pb)
        else:  # the pairs' rows gathered on rank 0, measured there, the means broadcast
            slots = np.unique(np.concatenate([pa, pb]))
            names = list(self.spin.spin_arrays)
            got = self.part.gather_slots([getattr(self, n) for n in names], slots)
            values = None
            if self.root:
                view = _PairRows(self, dict(zip(names, got)))
                values = self._pair_means(view, np.arange(slots.size, dtype=np.int64),
                                          np.searchsorted(slots, pa), np.searchsorted(slots, pb))
            values = self.part.bcast(values)
        rows["q2"][k], rows["q4"][k], rows["link_overlap"][k] = values

    def _pair_means(self, holder, slots, pa, pb):
        """(⟨q²⟩, ⟨q⁴⟩, link overlap or NaN) of the pairs (pa, pb) of the rows of
        ``holder`` (math.fsum in pair order)."""
        perm = slots.reshape(slots.size, 1)
        q2, q4 = self.spin.pair_overlap_moments(holder, perm, pa, pb)
        link = np.nan
        if self.link_overlap:
            out = np.zeros((1, PAIRS))
            self.spin.pair_link_overlap(holder, perm, pa, pb, out,
                                        self._k2_total() if self.J is not None else 0.0)
            link = math.fsum(out[0]) / PAIRS
        return math.fsum(q2) / PAIRS, math.fsum(q4) / PAIRS, link

    def _k2_total(self) -> float:
        if self._k2 is None:
            self._k2 = float(kmeasure.k2_sum_dense(self.J))
        return self._k2

    def run(self, commit, stop=None, progress=None, commit_due=None) -> bool:
        """Anneal to the lowest temperature (as Simulation.run: ``commit(buffer, final)``
        between chunks of sweeps when ``commit_due`` or ``stop`` say so, and at the end).
        Returns True when done, False when stopped early."""
        cap = int(getattr(stop, "max_chunk_sweeps", 0) or 0) or (1 << 20)
        if self.part is not None:  # rank 0's cap and decisions hold for every rank
            cap = self.part.bcast(cap)
        n = 1
        while not self.done:
            if self.pa_step == 0 or self.pa_step_sweeps == self.n_sweeps:
                self.enter_next_temperature()
            n = max(1, min(n, cap, self.n_sweeps - self.pa_step_sweeps))
            if self.part is not None:
                n = self.part.bcast(n)
            t0 = time.perf_counter()
            for _ in range(n):
                self.sweep()
            elapsed = time.perf_counter() - t0
            self.pa_step_sweeps += n
            if self.pa_step_sweeps == self.n_sweeps:
                self.measure_row()
            if progress is not None:
                progress.update(n)
            action = None
            if stop is not None and stop():
                action = "stop"
            elif commit_due is not None and commit_due([]):
                action = "commit"
            if self.part is not None:
                action = self.part.bcast(action)
            if action == "stop":
                if not self.done:
                    self.gather_state()
                    commit([], False)
                    return False
            elif action == "commit":
                self.gather_state()
                commit([], False)
            per_sweep = elapsed / n
            n = min(4 * n, int(CHUNK_SECONDS / per_sweep) if per_sweep > 0 else 4 * n)
        self.gather_state()
        commit([], True)
        return True

    # ---- output -----------------------------------------------------------------
    def free_energies(self) -> np.ndarray:
        """f_k = −T_k ln Z_k / N per annealing step (NaN beyond the steps done)."""
        lmw = self.rows["log_mean_weight"]
        out = np.full(self.n_steps, np.nan)
        base = ln_z0(self.N, self.spin)
        for k in range(self.n_steps):
            if np.isnan(lmw[k]):
                break
            out[k] = -(base + math.fsum(lmw[:k + 1])) / (self.schedule_betas[k] * self.N)
        return out

    def output_groups(self) -> dict:
        """/pa: one row per temperature, ascending in T (NaN where not reached yet)."""
        from ..hdf5 import ENERGY_UNITS

        unit = ENERGY_UNITS.get(str(self.sample.model), "model coupling scale")
        f = self.free_energies()
        e = self.rows["energy"]
        done = ~np.isnan(e)
        f_row = np.where(done, f, np.nan)   # a row is whole once its sweeps are done
        s = self.schedule_betas * (e - f_row)
        up = slice(None, None, -1)           # annealing order -> ascending T
        pop = np.where(done, self.R, -1).astype(np.int64)
        z0 = self.spin.log_states_label
        pairs = f"{PAIRS} pairs of replicas in different families, drawn from the resampling stream"
        return {GROUP: {
            "temperatures": (self.temperatures, unit + " (k_B = 1)",
                             "annealing temperatures, ascending (visited from the highest)"),
            "free_energy": (f_row[up], unit, f"free energy per spin f = −T ln Z / N, ln Z(β = 0) = {z0}"),
            "entropy": (s[up], "1 (k_B)", "entropy per spin s = β (e − f)"),
            "energy": (e[up], unit, "population mean energy per spin after the sweeps"),
            "q2": (self.rows["q2"][up], "1", "⟨q²⟩ over " + pairs
                   + self.spin.overlap_label
                   + "; NaN when one family holds the population"),
            "q4": (self.rows["q4"][up], "1", "⟨q⁴⟩ (Heisenberg: (Σ_μν q_μν²)²) over " + pairs),
            "link_overlap": (self.rows["link_overlap"][up], "1",
                             "J²-weighted link overlap over " + pairs
                             + " (NaN when anneal.link_overlap = false)"),
            "population": (pop[up], "replicas", "population size R_p (multinomial resampling keeps it)"),
            "families": (self.rows["families"][up], "families",
                         "initial replicas (β = 0) that still have descendants"),
            "rho_t": (self.rows["rho_t"][up], "1", "Σ_f n_f² / R_p (1: all families of one member; R_p: one family)"),
            "rho_s": (self.rows["rho_s"][up], "1", "R_p exp(Σ_f ν_f ln ν_f), ν_f = n_f / R_p "
                      "(entropic family size; Wang, Machta, Katzgraber PRE 92 063307)"),
            "log_mean_weight": (self.rows["log_mean_weight"][up], "1",
                                "ln(mean reweighting factor) of the step into this temperature "
                                "(ln Z = ln Z(β = 0) + Σ over the steps so far)"),
        }}


class _PairRows:
    """The gathered rows of the measured pairs (MPI, rank 0) with the couplings and phases
    of ``pa``: what the spin type's pair measurements read."""

    def __init__(self, pa, arrays: dict):
        self.J, self.csr, self.cosk, self.sink = pa.J, pa.csr, pa.cosk, pa.sink
        self.__dict__.update(arrays)


# ---- run and resume ---------------------------------------------------------------
def layout(cfg, sample, prov: dict) -> RunLayout:
    """The run's layout: /timeseries has no rows (PA's output is /pa)."""
    return RunLayout(cfg, sample, dict(prov or {}), sample.spin, cfg.temperature_array, 1, 0,
                     positions=sample.positions, box=sample.box,
                     store_couplings=cfg.output.store_couplings)


def _no_commit(buffer, final):
    """MPI ranks other than 0 write nothing (rank 0 commits what they gathered to it)."""


def start_run(cfg, sample, path, prov: dict, stop=None, progress=None, threads="auto",
              replace: bool = False, comm=None) -> PopulationAnnealing:
    """A fresh PA run (as simulation.start_run). ``comm``: an mpi4py communicator to split
    the population over (every rank calls this; rank 0 writes ``path``, the others'
    ``path``, ``stop`` and ``progress`` are ignored)."""
    import os

    from ..simulation import Checkpointer, _link_commit_cost, _run_with_threads

    if cfg.sample.model == "file":
        cfg.sample.path = os.path.abspath(cfg.sample.path)
    pa = PopulationAnnealing(cfg, sample, comm)
    pa.gather_state()
    commit, commit_due = _no_commit, None
    if pa.root:
        try:
            recorder = recorder_for(path)
            ckpt = Checkpointer(recorder, pa, cfg.output.checkpoint_interval, generation=1)
            _link_commit_cost(stop, ckpt)
            ckpt.recorder.create(layout(cfg, sample, prov), pa.state_dict(), ckpt.meta(),
                                 replace=replace)
        except BaseException:
            if pa.part is not None:
                pa.part.bcast(False)  # the other ranks stop too
            raise
        commit, commit_due = ckpt, ckpt.due
    else:
        stop = progress = None
    if pa.part is not None and not pa.part.bcast(True):
        raise SystemExit(1)  # rank 0 failed to create the file (and says why)
    pa.finished = _run_with_threads(pa, threads, commit=commit, stop=stop, progress=progress,
                                    commit_due=commit_due)
    return pa


def prepare_resume(recorder, state: dict, meta: dict, cfg, text: str, extra_sweeps: int = 0,
                   total_sweeps=None):
    """simulation.prepare_resume's PA branch (the checkpoint is recovered, the config
    read): rebuild the sample and the population and load the state."""
    from ..config import ConfigError
    from ..couplings import build_sample
    from ..resources import check_memory
    from ..simulation import ResumeError, resolve_coupling_file

    if extra_sweeps or total_sweeps is not None:
        raise ConfigError("--sweeps" if extra_sweeps else "--total-sweeps",
                          extra_sweeps or total_sweeps,
                          "a population-annealing run (anneal.method = 'pa') cannot be extended")
    path = getattr(recorder, "path", recorder.location)
    root = recorder.root_attrs()
    stored_sample = recorder.sample_attrs()
    resolve_coupling_file(cfg, path, stored_sample)
    check_memory(cfg)
    sample = build_sample(cfg.sample, precision=cfg.anneal.precision)
    if sample.sha256 != str(stored_sample["sha256"]):
        raise ResumeError(f"{path}: the couplings rebuilt from the stored config differ from the run's")
    pa = PopulationAnnealing(cfg, sample)
    try:
        pa.load_state(state)
    except (KeyError, ValueError) as exc:
        raise ResumeError(f"{path}: the checkpoint does not fit the stored config ({exc}); "
                          "not resumable") from None
    return pa, {"config": cfg, "config_text": text, "status": str(root["status"]), "meta": meta,
                "path": path, "generation": int(root.get("generation", 0)), "recorder": recorder,
                "extension": None, "repeated": False, "driver": NAME}


def resume_run(pa: PopulationAnnealing, info: dict, prov: dict, stop=None, progress=None,
               threads="auto") -> PopulationAnnealing:
    """Continue ``pa`` (prepare_resume; under MPI every rank, ``info`` None on the ranks
    other than 0, which write nothing)."""
    from ..simulation import Checkpointer, _link_commit_cost, _run_with_threads

    commit, commit_due = _no_commit, None
    if pa.root:
        history = {"resumed_at": prov.get("start_time", provenance.now_iso()),
                   "resume_command_line": prov.get("command_line", ""),
                   "resume_host": prov.get("host", ""), "resume_cpu": prov.get("cpu", "")}
        ckpt = Checkpointer(info["recorder"], pa, pa.cfg.output.checkpoint_interval,
                            root_attrs={"status": "running"}, provenance=history,
                            generation=info.get("generation"))
        if ckpt.recorder.backend == "hdf5" and pa.part is None:
            checkpoint.check_space(ckpt.recorder.location,
                                   checkpoint.commit_bytes(ckpt.recorder.location, None,
                                                           pa.state_dict()))
        _link_commit_cost(stop, ckpt)
        commit, commit_due = ckpt, ckpt.due
    else:
        stop = progress = None
    pa.finished = _run_with_threads(pa, threads, commit=commit, stop=stop, progress=progress,
                                    commit_due=commit_due)
    return pa


class PopulationAnnealingDriver(Driver):
    """The registry entry of ``anneal.method = "pa"``. Population annealing does not step a
    Simulation after every sweep: it runs its own schedule (:class:`PopulationAnnealing`),
    reached through ``start_run`` / ``prepare_resume`` / ``resume_run`` (simulation.py hands
    a config of this method to them)."""

    name = NAME
    group = GROUP
    state_arrays = ("rng_resample", "family", "pa_step", "pa_step_sweeps", "pa_beta") + tuple(
        f"pa_{name}" for name in ROW_NAMES)

    def allocate(self, sim, seed):
        raise NotImplementedError("population annealing runs its own schedule (PopulationAnnealing)")

    def step(self, sim):
        self.allocate(sim, None)

    def statistics(self, sim):
        self.allocate(sim, None)

    start_run = staticmethod(start_run)
    prepare_resume = staticmethod(prepare_resume)
    resume_run = staticmethod(resume_run)


POPULATION_ANNEALING = PopulationAnnealingDriver()
