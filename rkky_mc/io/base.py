"""The storage seam: one :class:`Recorder` interface, two backends (``hdf5``, ``memory``).

A run talks to its storage only through a Recorder. The lifecycle:

1. :meth:`Recorder.create` lays the run out (root attrs, /sample, /temperatures, empty time
   series of ``layout.n_rows`` rows, the observables registry's shapes) together with the
   initial checkpoint (sweep 0): the first generation.
2. :meth:`Recorder.commit` adds one generation (numbered: root attribute ``generation``)
   atomically: new measurement rows, the
   tempering statistics, the checkpoint state (+ meta), and optionally root attributes,
   provenance entries, a new row count (an extended run) and the finished mark. Either the
   whole generation is visible afterwards or none of it (the HDF5 backend: copy, append,
   fsync, rename; the memory backend: build, then swap in).
3. :meth:`Recorder.recover` returns the newest usable checkpoint (state, meta) to resume from.
4. :meth:`Recorder.read` returns the run as a :class:`rkky_mc.hdf5.RunData`, every time series
   cut to ``n_valid``; it works while the run is still being written.

The state dict is the Simulation's ``state_dict()``: names and dtypes are the checkpoint
array names of the file format; a backend stores them bit for bit.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass
class RunLayout:
    """What a new run file holds besides its rows: the arguments of ``RunWriter``."""

    cfg: object                  # Config (its to_toml() is the stored config)
    sample: object               # couplings.Sample (attrs, positions, couplings)
    provenance: dict
    spin: str                    # "ising" | "heisenberg"
    temperatures: np.ndarray     # (T,) ascending
    R: int                       # ladders
    n_rows: int                  # rows to allocate along M (cfg.n_measurements)
    positions: np.ndarray | None = None
    box: np.ndarray | None = None
    store_couplings: bool = False

    @classmethod
    def for_run(cls, cfg, sample, provenance: dict, temperatures, R: int) -> RunLayout:
        """The layout of a run of ``cfg`` on ``sample`` (what start_run creates)."""
        return cls(cfg, sample, dict(provenance or {}), sample.spin, temperatures, int(R),
                   cfg.n_measurements, positions=sample.positions, box=sample.box,
                   store_couplings=cfg.output.store_couplings)


class Recorder(ABC):
    """Storage of one run (one disorder sample). See the module docstring."""

    #: "hdf5" | "memory"
    backend: str = ""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the run lives: the file path, or "memory:<name>"."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether a run has been created here (some generation exists)."""

    @abstractmethod
    def create(self, layout: RunLayout, state: dict, meta: dict, replace: bool = False) -> None:
        """The first generation (number 1): the layout, no valid rows, checkpoint
        ``state``/``meta``. An existing run is an error (CheckpointError) unless ``replace``;
        it is then replaced only once the new first generation is complete."""

    @abstractmethod
    def commit(self, rows: dict | None, state: dict, meta: dict, tempering: dict | None = None,
               finished: bool = False, finish_info: dict | None = None,
               resize: int | None = None, root_attrs: dict | None = None,
               provenance: dict | None = None, generation: int | None = None,
               groups: dict | None = None) -> int:
        """One new generation, atomically, returning its number (root attr ``generation``):
        ``root_attrs`` and ``provenance`` entries set,
        rows resized to ``resize`` (never below n_valid), ``rows`` (name -> (m, ...) arrays,
        every time series of the registry; the optional ones may be left out) appended,
        ``tempering`` (n_accepted, n_attempted, half_trips; a self-tuning ladder adds
        ladder_history, ladder_sweeps, ladder_acceptance, ladder_freeze_sweep, and
        /temperatures becomes ladder_history's last row) written, the checkpoint replaced
        (its meta gets ``n_valid``), and with ``finished`` the status set to "finished"
        (``finish_info``: end_time and other provenance). ``generation``: the one this
        commit continues from; if the run is at another, ConcurrentWriterError (a second
        writer) and nothing is written. None: whatever is there. ``groups``: a driver's
        output groups, {group: {dataset: (array, units, description)}}; each named group
        is replaced whole (read back as ``RunData.groups``; names of the layout's own
        groups are refused, see ``hdf5.RESERVED_GROUPS``)."""

    @abstractmethod
    def recover(self) -> tuple[dict, dict]:
        """(state, meta) of the newest usable checkpoint; CheckpointError if none."""

    @abstractmethod
    def read(self, couplings: bool = False):
        """The run as a RunData (time series cut to n_valid)."""

    @abstractmethod
    def read_series(self, name: str):
        """One time series, cut to n_valid (cheaper than :meth:`read`)."""

    @abstractmethod
    def root_attrs(self) -> dict:
        """Root attributes (format, format_version, config, status, n_valid, generation) as plain
        Python values."""

    @abstractmethod
    def sample_attrs(self) -> dict:
        """/sample attributes (model, spin, N, sha256, ...) as plain Python values."""

    @abstractmethod
    def checkpoint_meta(self) -> dict:
        """Attributes of the current checkpoint (sweeps_done, n_valid, time, cpu, checksum),
        {} when there is none. Not verified: :meth:`recover` does that."""

    def ladder(self) -> tuple:
        """(temperatures (T,), R or None): the ladder the stored time series are laid out for
        (checked against the config and the checkpoint on resume)."""
        return np.asarray(self.read().temperatures, dtype=np.float64), None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location}>"
