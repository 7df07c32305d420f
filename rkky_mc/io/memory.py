"""The in-memory backend: a run held in numpy arrays and dicts, in this process only.

Same semantics as the HDF5 backend: the layout and fill values of the file (NaN, -1 for
integers), rows visible only up to ``n_valid``, each commit one generation swapped in whole
(a reader never sees half of one), the checkpoint stored bit for bit (copies), and
``recover`` verifying the checksum and row count exactly as a file resume does. Attribute
values are normalised as a round trip through HDF5 would (dicts -> JSON text, numpy scalars
-> Python), so :meth:`read` gives the same RunData as the file would.
"""
from __future__ import annotations

import copy
import itertools
import time

import numpy as np

from .. import checkpoint, units
from ..hdf5 import (
    ENERGY_UNITS,
    RunData,
    _attr_value,
    _py,
    _timeseries_specs,
    checked_groups,
    checked_rows,
    current_ladder,
    initial_root_attrs,
    sample_attrs,
    tempering_arrays,
)
from .base import Recorder, RunLayout

_names = itertools.count()


def _plain(values: dict) -> dict:
    """Attribute values as h5py would give them back."""
    return {str(k): _py(_attr_value(v)) for k, v in values.items()}


def _fill(dtype):
    return np.nan if np.dtype(dtype).kind == "f" else -1


class _Generation:
    """Everything one commit leaves behind (replaced as a whole by the next)."""

    def __init__(self):
        self.attrs: dict = {}
        self.provenance: dict = {}
        self.sample: dict = {}
        self.positions = self.box = self.couplings = None
        self.dm = self.scatterers = self.triplets = None
        self.temperatures: np.ndarray | None = None
        self.temperatures_kelvin: np.ndarray | None = None
        self.pairs: np.ndarray | None = None
        self.specs: dict = {}
        self.series: dict = {}         # name -> (n_rows, ...) array (fill beyond n_valid)
        self.tempering: dict = {}      # name -> (array, units, description)
        self.groups: dict = {}         # driver output: group -> {name: (array, units, desc)}
        self.state: dict = {}
        self.meta: dict = {}

    def copy(self) -> _Generation:
        # series arrays are copied too: the previous generation stays intact for readers
        return copy.deepcopy(self)


class MemoryRecorder(Recorder):
    """A run kept in memory (``rkky_mc.run(config, backend="memory")``)."""

    backend = "memory"

    def __init__(self, name: str | None = None):
        self.name = name or f"run{next(_names)}"
        self._gen: _Generation | None = None

    @property
    def location(self) -> str:
        return f"memory:{self.name}"

    def exists(self) -> bool:
        return self._gen is not None

    def _current(self) -> _Generation:
        if self._gen is None:
            raise checkpoint.CheckpointError(f"{self.location}: no run created")
        return self._gen

    # ---- writing ------------------------------------------------------------------
    def create(self, layout: RunLayout, state: dict, meta: dict, replace: bool = False) -> None:
        if self._gen is not None and not replace:
            raise checkpoint.CheckpointError(f"{self.location} exists; a new run replaces it "
                                             "only when asked to (replace=True)")
        temperatures = np.asarray(layout.temperatures, dtype=np.float64).reshape(-1)
        if temperatures.size == 0 or np.any(np.diff(temperatures) <= 0):
            raise ValueError("temperatures must be a non-empty ascending array")
        g = _Generation()
        sample = layout.sample
        energy_unit = ENERGY_UNITS.get(str(getattr(sample, "model", "")), "model coupling scale")
        T, R = int(temperatures.size), int(layout.R)
        from ..kernels.measure import ladder_pairs  # here: reading needs no numba

        g.pairs = np.stack(ladder_pairs(R), axis=1)  # (P, 2) int64
        P = int(g.pairs.shape[0])
        g.attrs = _plain(dict(initial_root_attrs(layout.cfg), generation=1))
        g.provenance = _plain(layout.provenance or {})
        g.sample = _plain(dict(sample_attrs(sample, layout.spin, int(sample.n_spins), energy_unit),
                               **units.sample_unit_attrs(getattr(layout.cfg, "sample", None))))
        g.temperatures_kelvin = units.temperatures_kelvin(temperatures, units.j0_kelvin(layout.cfg))
        positions = layout.positions if layout.positions is not None else getattr(sample, "positions", None)
        box = layout.box if layout.box is not None else getattr(sample, "box", None)
        g.positions = None if positions is None else np.array(positions, dtype=np.float64).reshape(-1, 3)
        g.box = None if box is None else np.array(box, dtype=np.float64).reshape(3)
        if layout.store_couplings:
            if getattr(sample, "dense", None) is not None:
                g.couplings = np.array(sample.dense, dtype=np.float64)
            elif getattr(sample, "csr", None) is not None:
                indptr, indices, data = sample.csr
                g.couplings = (np.array(indptr, np.int64), np.array(indices, np.int32),
                               np.array(data, np.float64))
        if getattr(sample, "triplets", None) is not None and layout.spin == "heisenberg":
            g.triplets = np.array(sample.triplets, dtype=np.int64).reshape(-1, 3)
        if getattr(sample, "scatterers", None) is not None:
            g.scatterers = np.array(sample.scatterers, dtype=np.float64).reshape(-1, 3)
        if layout.store_couplings and getattr(sample, "dm", None) is not None:
            from ..interactions.sample_dm import dm_pairs

            g.dm = dm_pairs(sample.dm)
        g.temperatures = temperatures.copy()
        g.specs = _timeseries_specs(layout.spin, T, R, P, energy_unit)
        n_rows = int(layout.n_rows)
        g.series = {name: np.full((n_rows, *row), _fill(dtype), dtype=dtype)
                    for name, (row, dtype, *_rest) in g.specs.items()}
        self._write_checkpoint(g, state, dict(meta, n_valid=0))
        self._gen = g

    @staticmethod
    def _write_checkpoint(g: _Generation, state: dict, meta: dict) -> None:
        g.state = {name: np.array(value, copy=True) for name, value in state.items()}
        g.meta = _plain(dict(meta, checksum=checkpoint.state_checksum(g.state)))

    def commit(self, rows, state, meta, tempering=None, finished=False, finish_info=None,
               resize=None, root_attrs=None, provenance=None, generation=None,
               groups=None) -> int:
        found = int(self._current().attrs["generation"])
        if generation is not None and found != generation:
            raise checkpoint.ConcurrentWriterError(
                "output.path", self.location,
                f"the run is at generation {found}, this writer last wrote generation "
                f"{generation}: another writer advanced it")
        g = self._current().copy()
        g.attrs["generation"] = found + 1
        g.attrs["status"] = "running"  # as RunWriter.reopen
        if root_attrs:
            g.attrs.update(_plain(root_attrs))
        if provenance:
            g.provenance.update(_plain(provenance))
        n_valid = int(g.attrs["n_valid"])
        if resize is not None:
            self._resize(g, max(int(resize), n_valid))
        if rows:
            n_valid = self._append(g, rows, n_valid)
        if tempering is not None:
            R = int(g.specs["energy"][0][1])
            T = int(g.temperatures.size)
            g.tempering = tempering_arrays(R, T, **tempering)
            current = current_ladder(tempering)
            if current is not None:  # a self-tuning ladder: /temperatures is the current one
                g.temperatures = current
                if g.temperatures_kelvin is not None:
                    g.temperatures_kelvin = units.temperatures_kelvin(
                        current, float(g.sample["J0_kelvin"]))
        for name, datasets in checked_groups(groups).items():
            g.groups[name] = {k: (np.array(v, copy=True), u, d) for k, (v, u, d) in datasets.items()}
        self._write_checkpoint(g, state, dict(meta, n_valid=n_valid))
        if finished:
            info = dict(finish_info or {})
            end_time = info.pop("end_time", None) or time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                                                                  time.gmtime())
            g.provenance.update(_plain({"end_time": end_time, **info}))
            g.attrs["status"] = "finished"
        self._gen = g  # the new generation, whole
        return found + 1

    @staticmethod
    def _resize(g: _Generation, n_rows: int) -> None:
        for name, arr in g.series.items():
            if arr.shape[0] == n_rows:
                continue
            new = np.full((n_rows, *arr.shape[1:]), _fill(arr.dtype), dtype=arr.dtype)
            k = min(n_rows, arr.shape[0])
            new[:k] = arr[:k]
            g.series[name] = new

    @staticmethod
    def _append(g: _Generation, rows: dict, n_valid: int) -> int:
        arrays, m = checked_rows(g.specs, rows)
        if not m:
            return n_valid
        hi = n_valid + m
        if hi > g.series["sweep"].shape[0]:
            MemoryRecorder._resize(g, hi)
        for name, arr in arrays.items():
            g.series[name][n_valid:hi] = arr
        g.attrs["n_valid"] = hi
        return hi

    # ---- reading ------------------------------------------------------------------
    def recover(self) -> tuple[dict, dict]:
        g = self._current()
        state = {name: value.copy() for name, value in g.state.items()}
        meta = dict(g.meta)
        if checkpoint.state_checksum(state) != meta.get("checksum"):
            raise checkpoint.CheckpointError(f"{self.location}: checkpoint checksum mismatch")
        if int(meta.get("n_valid", -1)) != int(g.attrs["n_valid"]):
            raise checkpoint.CheckpointError(f"{self.location}: checkpoint belongs to row "
                                             f"{meta.get('n_valid')}, run has {g.attrs['n_valid']}")
        return state, meta

    def read(self, couplings: bool = False) -> RunData:
        import tomllib

        g = self._current()  # one generation throughout: a consistent snapshot
        n_valid = int(g.attrs["n_valid"])
        text = str(g.attrs.get("config", ""))
        try:
            config = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            config = {}
        timeseries = {name: arr[:n_valid].copy() for name, arr in g.series.items()}
        ts_attrs = {name: {"units": units, "description": desc, "axes": axes}
                    for name, (_row, _dt, axes, units, desc) in g.specs.items()}
        tempering = {name: np.array(value, copy=True) for name, (value, _u, _d) in g.tempering.items()}
        cpl = None
        if couplings and g.couplings is not None:
            cpl = copy.deepcopy(g.couplings)
        return RunData(
            path=self.location, attrs=dict(g.attrs), config_text=text, config=config,
            status=str(g.attrs.get("status", "")), n_valid=n_valid,
            provenance=dict(g.provenance), sample=dict(g.sample),
            temperatures=g.temperatures.copy(), pairs=g.pairs.copy(), timeseries=timeseries,
            timeseries_attrs=ts_attrs, tempering=tempering,
            positions=None if g.positions is None else g.positions.copy(),
            box=None if g.box is None else g.box.copy(), couplings=cpl,
            temperatures_kelvin=None if g.temperatures_kelvin is None else g.temperatures_kelvin.copy(),
            groups={name: {k: np.array(v, copy=True)[()] for k, (v, _u, _d) in ds.items()}
                    for name, ds in g.groups.items()},
            groups_attrs={name: {k: {"units": u, "description": d} for k, (_v, u, d) in ds.items()}
                          for name, ds in g.groups.items()},
            dm=g.dm.copy() if couplings and g.dm is not None else None,
            scatterers=None if g.scatterers is None else g.scatterers.copy(),
            triplets=None if g.triplets is None else g.triplets.copy())

    def read_series(self, name: str):
        g = self._current()
        return g.series[name][:int(g.attrs["n_valid"])].copy()

    def root_attrs(self) -> dict:
        return dict(self._current().attrs)

    def sample_attrs(self) -> dict:
        return dict(self._current().sample)

    def checkpoint_meta(self) -> dict:
        return dict(self._gen.meta) if self._gen is not None else {}
