"""The run file: one HDF5 file per disorder sample (layout contract in DESIGN.md, "HDF5").

Writing: :class:`RunWriter` creates the whole layout up front (time series with ``n_rows``
rows, growable along M), appends blocks of measurement rows, records tempering statistics
and finally marks the run finished.  Reading: :func:`read_run` returns a :class:`RunData`
with every time series truncated to the root attribute ``n_valid``; it works on a file that
is still being written (the writer flushes the rows before it raises ``n_valid``) and on a
file left behind by a killed run.

Layout (M measurements, T temperatures, R ladders, P = R(R-1)/2 ladder pairs)::

    /                 attrs format="rkky_mc", format_version, rkky_mc_version, config (TOML),
                            status ("running" | "finished"), n_valid
    /provenance       attrs: the provenance dict (str / numbers; None -> "", dict -> JSON)
    /sample           attrs model, spin, N, n_pairs, sha256, storage ("dense" | "csr"), field,
                            energy_unit, and one attr "scale_<key>" per entry of sample.scale;
                            with units (rkky_mc/units.py): host, impurity,
                            lattice_constant_angstrom, kf_per_angstrom, fermi_energy_ev, J0_kelvin
    /sample/positions (N, 3) float64, /sample/box (3,) float64       (when known)
    /sample/couplings dense (N, N) dataset, or group with indptr/indices/data (store_couplings)
    /temperatures     (T,) float64, ascending
    /temperatures_kelvin (T,) float64 = /temperatures × sample.J0_kelvin (only when it is set)
    /timeseries       attrs pairs (P, 2) int64: the ladders (a, b) of pair p; T, R, P
    /timeseries/sweep (M,) int64; energy, magnetization, overlap, overlap_k2, link_overlap,
                      link_overlap_bonds, walker (M, ...) -- see rkky_mc/observables_registry.py
    /tempering/       swap_acceptance (R, T-1), swap_accepted (R, T-1), swap_attempted (),
                      half_trips (R,), round_trips (R,)
    /<driver group>   a driver's output (e.g. /pa, population annealing), attr
                      kind = "driver output"; written whole by each commit (``groups=``)

Every dataset has attrs ``units`` and ``description``; time series also ``axes``.  Rows
at or beyond ``n_valid`` are not data (they hold the fill value: NaN, or -1 for integers).

``link_overlap_bonds`` and the chiral series (``chiral_overlap``, ``chiral_overlap_k2``,
``chirality_sq``, with ``/sample/triplets``) were added later (same format_version): files
written before them lack the datasets; read_run then fills every missing optional series
of the registry with NaN, and RunWriter.reopen (resume / extend) creates it, NaN for the
rows already written.
"""
from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from . import FORMAT, FORMAT_VERSION, __version__, observables_registry
from . import units as _units
from .faults import fault_point

_CHUNK_BYTES = 128 * 1024  # target size of one chunk of a time series (64-256 KiB)
_COMPRESSION = dict(compression="gzip", compression_opts=4, shuffle=True)

ENERGY_UNITS = {
    "rkky": "J0",
    "sk": "J (SK: J_ij ~ N(0, J²/N), J = 1)",
    "ea": "J (EA coupling scale)",
    "file": "units of the coupling file",
}


# top-level groups of the layout itself: a driver's output group may not take these names
RESERVED_GROUPS = ("provenance", "sample", "temperatures", "temperatures_kelvin", "timeseries",
                   "tempering", "checkpoint")
# attr ``kind`` of a driver's output group (how read_run tells it from the layout's groups)
DRIVER_GROUP_KIND = "driver output"


def checked_groups(groups: dict | None) -> dict:
    """A commit's ``groups`` ({group: {dataset: (array, units, description)}}) checked:
    names not of the layout, every entry a triple. Returns {group: {dataset: (ndarray,
    units, description)}}."""
    out = {}
    for name, datasets in (groups or {}).items():
        name = str(name)
        if not name or "/" in name or name in RESERVED_GROUPS:
            raise ValueError(f"output group {name!r}: not a driver group name "
                             f"(reserved: {', '.join(RESERVED_GROUPS)})")
        out[name] = {}
        for ds, value in dict(datasets).items():
            if not (isinstance(value, tuple) and len(value) == 3):
                raise ValueError(f"/{name}/{ds}: expected (array, units, description)")
            out[name][str(ds)] = (np.asarray(value[0]), str(value[1]), str(value[2]))
    return out


class FormatError(ValueError):
    """The file is not an rkky_mc run file (or one this version cannot read)."""


def decode_attr(value) -> str:
    """A string attribute as read by h5py (bytes or str, depending on how it was written) -> str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _timeseries_specs(spin: str, T: int, R: int, P: int, energy_unit: str) -> dict:
    """name -> (row shape, dtype, axes, units, description), from the observables registry."""
    return observables_registry.timeseries_specs(spin, T, R, P, energy_unit)


# time series that a writer may omit (left NaN) and that files of older versions may lack
OPTIONAL_SERIES = observables_registry.OPTIONAL_SERIES



def initial_root_attrs(cfg) -> dict:
    """Root attributes of a new run (status "running", no valid row yet)."""
    return {
        "format": FORMAT,
        "format_version": np.int64(FORMAT_VERSION),
        "rkky_mc_version": __version__,
        "config": cfg.to_toml(),
        "status": "running",
        "n_valid": np.int64(0),
    }


def sample_attrs(sample, spin: str, N: int, energy_unit: str) -> dict:
    """Attributes of /sample (model, spin, N, n_pairs, sha256, storage, energy unit, field,
    scale_<key>)."""
    attrs = {
        "model": str(sample.model),
        "spin": spin,
        "N": np.int64(N),
        "n_pairs": np.int64(sample.n_pairs),
        "sha256": str(sample.sha256),
        "storage": "dense" if getattr(sample, "dense", None) is not None else "csr",
        "energy_unit": energy_unit,
    }
    if getattr(sample, "field", None) is not None:
        attrs["field"] = float(sample.field)
    for key, value in dict(getattr(sample, "scale", None) or {}).items():
        attrs[f"scale_{key}"] = value
    attrs.update(dict(getattr(sample, "dm_attrs", None) or {}))  # DM model keys (sample_dm.py)
    return attrs


def tempering_arrays(R: int, T: int, n_accepted, n_attempted: int, half_trips,
                     ladder_history=None, ladder_sweeps=None, ladder_acceptance=None,
                     ladder_freeze_sweep=None) -> dict:
    """The /tempering datasets: name -> (array, units, description). n_accepted (R, T-1)
    accepted swaps per ladder and neighbour pair, n_attempted attempts per pair (the same for
    every pair), half_trips (R,) completed half round trips per ladder. A self-tuning ladder
    (drivers/ladder.py) adds ladder_history (K, T) every ladder so far, ladder_sweeps (K,)
    the sweep each took effect, ladder_acceptance (K-1, T-1) the acceptances each update was
    computed from, ladder_freeze_sweep the sweep of the last update; its last ladder is the
    current /temperatures (:func:`current_ladder`)."""
    n_acc = np.asarray(n_accepted, dtype=np.int64).reshape(R, max(T - 1, 0))
    n_att = int(n_attempted)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = n_acc / n_att if n_att > 0 else np.full(n_acc.shape, np.nan)
    half = np.asarray(half_trips, dtype=np.int64).reshape(R)
    return {
        "swap_acceptance": (rate.astype(np.float64), "1",
                            "swap acceptance rate per ladder r and neighbour pair (t, t+1)"),
        "swap_accepted": (n_acc, "swaps", "accepted swaps per ladder r and neighbour pair (t, t+1)"),
        "swap_attempted": (np.int64(n_att), "swaps",
                           "attempted swaps per neighbour pair (the same for every pair and ladder)"),
        "half_trips": (half, "trips",
                       "completed half round trips (lowest <-> highest temperature) per ladder"),
        "round_trips": (half / 2.0, "trips", "round trips per ladder = half_trips / 2"),
        **_ladder_arrays(T, ladder_history, ladder_sweeps, ladder_acceptance, ladder_freeze_sweep),
    }


def _ladder_arrays(T, history, sweeps, acceptance, freeze) -> dict:
    if history is None:
        return {}
    history = np.asarray(history, dtype=np.float64).reshape(-1, T)
    return {
        "ladder_history": (history, "coupling units (k_B = 1)",
                           "every temperature ladder of the run, ascending in T, in the order "
                           "used (row 0 the initial one); the last is /temperatures"),
        "ladder_sweeps": (np.asarray(sweeps, dtype=np.int64).reshape(history.shape[0]), "sweeps",
                          "the sweep from which each ladder_history row was used"),
        "ladder_acceptance": (np.asarray(acceptance, dtype=np.float64).reshape(-1, max(T - 1, 0)),
                              "1", "swap acceptance per neighbour pair (mean over ladders) measured "
                              "on row k of ladder_history, from which row k+1 was computed"),
        "ladder_freeze_sweep": (np.int64(freeze), "sweeps",
                                "the sweep of the last ladder update; rows from it on (and every "
                                "row at sweep ≥ thermalization) are on /temperatures"),
    }


def row_temperatures(tempering: dict | None, temperatures, sweeps) -> np.ndarray:
    """(M, T): the ladder each measurement row was taken on. Rows are measured after sweep
    s; a self-tuning ladder's row k of ladder_history is used from sweep ladder_sweeps[k] on,
    so row s is on the last ladder with ladder_sweeps ≤ s. A fixed ladder: /temperatures for
    every row."""
    sweeps = np.asarray(sweeps, dtype=np.int64).reshape(-1)
    history = (tempering or {}).get("ladder_history")
    if history is None:
        t = np.asarray(temperatures, dtype=np.float64)
        return np.broadcast_to(t, (sweeps.size, t.size)).copy()
    starts = np.asarray(tempering["ladder_sweeps"], dtype=np.int64)
    k = np.searchsorted(starts, sweeps, side="right") - 1
    return np.asarray(history, dtype=np.float64)[np.maximum(k, 0)]


def current_ladder(tempering: dict | None):
    """The ladder a commit's ``tempering`` statistics say is current (the last row of
    ladder_history), or None for a fixed ladder: /temperatures is rewritten with it."""
    history = (tempering or {}).get("ladder_history")
    return None if history is None else np.asarray(history, dtype=np.float64)[-1].copy()


def update_provenance(path, values: dict) -> None:
    """Add ``values`` to the /provenance attrs of the run file ``path`` (e.g. a calibration
    of its energy scale); nothing else changes (the checkpoint's metadata checksum does not
    cover /provenance). The caller holds the run's lock."""
    with h5py.File(str(path), "r+", locking=False) as f:
        set_attrs(f.require_group("provenance"), values)


def _chunk_rows(row_shape, dtype) -> int:
    row_bytes = max(1, int(np.prod(row_shape, dtype=np.int64))) * np.dtype(dtype).itemsize
    return int(max(1, min(65536, _CHUNK_BYTES // row_bytes)))


def _attr_value(value):
    """A provenance/attribute value in an HDF5-friendly form."""
    if value is None:
        return ""
    if isinstance(value, (str, bytes, bool, int, float, np.generic)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf" and arr.ndim >= 1:
            return arr
        return json.dumps(list(value), default=str)
    return str(value)


def _py(value):
    """An attribute as read by h5py -> plain Python (str, int, float, list/array)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        return [_py(v) for v in value.tolist()]
    return value


def _attrs(obj) -> dict:
    return {k: _py(v) for k, v in obj.attrs.items()}


def set_attrs(obj, values: dict) -> None:
    """Write ``values`` as attributes of an h5py group/dataset (see :func:`_attr_value`)."""
    for key, value in values.items():
        obj.attrs[str(key)] = _attr_value(value)


def _put(group, name, data, units, description, **kw):
    """Create or overwrite dataset ``group/name`` with units and description attrs."""
    data = np.asarray(data)
    if name in group:
        ds = group[name]
        if ds.shape == data.shape and ds.dtype == data.dtype:
            ds[...] = data
        else:
            del group[name]
            ds = group.create_dataset(name, data=data, **kw)
    else:
        ds = group.create_dataset(name, data=data, **kw)
    ds.attrs["units"] = units
    ds.attrs["description"] = description
    return ds



def checked_rows(specs: dict, rows: dict) -> tuple[dict, int | None]:
    """Measurement rows checked against the time-series ``specs`` (name -> (row shape,
    dtype, ...)): every series present (OPTIONAL_SERIES may be omitted), none unknown, all
    with the same number m of rows (a single row may come without its leading axis).
    Returns ({name: (m, *row) array in the series' dtype}, m); m is None for no rows."""
    unknown = set(rows) - set(specs)
    if unknown:
        raise KeyError(f"unknown time series {sorted(unknown)}; known: {list(specs)}")
    missing = set(specs) - set(rows) - set(OPTIONAL_SERIES)
    if missing:
        raise KeyError(f"missing time series {sorted(missing)}")
    arrays, m = {}, None
    for name, value in rows.items():
        row, dtype = specs[name][:2]
        arr = np.asarray(value)
        if arr.ndim == len(row):  # a single row
            arr = arr[None]
        if arr.shape[1:] != row:
            raise ValueError(f"{name}: rows of shape {arr.shape[1:]}, expected {row}")
        if m is None:
            m = arr.shape[0]
        elif arr.shape[0] != m:
            raise ValueError(f"{name}: {arr.shape[0]} rows, other series have {m}")
        arrays[name] = arr.astype(dtype, copy=False)
    return arrays, m

class RunWriter:
    """Create a run file and append measurement rows to it.

    ``path`` is written as given (an existing file is replaced: the caller decides the
    overwrite policy).  ``sample`` needs the attributes model, n_spins, dense, csr,
    positions, box, scale, n_pairs, sha256 (and optionally field).  ``positions``/``box``
    default to the sample's.  Use as a context manager; leaving the block closes the file
    without finishing it (status stays "running": an interrupted run).
    """

    def __init__(self, path, cfg, sample, provenance: dict, spin: str, temperatures, R: int,
                 n_rows: int, *, positions=None, box=None, store_couplings: bool = False):
        temperatures = np.asarray(temperatures, dtype=np.float64).reshape(-1)
        if temperatures.size == 0 or np.any(np.diff(temperatures) <= 0):
            raise ValueError("temperatures must be a non-empty ascending array")
        if spin not in ("ising", "heisenberg"):
            raise ValueError(f"spin = {spin!r}: must be 'ising' or 'heisenberg'")
        R = int(R)
        if R < 1 or int(n_rows) < 0:
            raise ValueError(f"need R >= 1 and n_rows >= 0 (R = {R}, n_rows = {n_rows})")
        self.path = str(path)
        self.spin = spin
        self.T = int(temperatures.size)
        self.R = R
        from .kernels.measure import ladder_pairs  # here: reading run files needs no numba

        self.pairs = np.stack(ladder_pairs(R), axis=1)  # (P, 2) int64
        self.P = int(self.pairs.shape[0])
        self.N = int(sample.n_spins)
        self.n_valid = 0
        model = str(getattr(sample, "model", ""))
        self.energy_unit = ENERGY_UNITS.get(model, "model coupling scale")
        self.specs = _timeseries_specs(spin, self.T, self.R, self.P, self.energy_unit)

        f = self.file = h5py.File(self.path, "w", locking=False)
        try:
            set_attrs(f, initial_root_attrs(cfg))
            set_attrs(f.create_group("provenance"), dict(provenance or {}))
            self._write_sample(sample, positions, box, store_couplings)
            set_attrs(f["sample"], _units.sample_unit_attrs(getattr(cfg, "sample", None)))
            ds = f.create_dataset("temperatures", data=temperatures)
            ds.attrs["units"] = self.energy_unit + " (k_B = 1)"
            ds.attrs["description"] = "temperature ladder, ascending; axis T of every array"
            kelvin = _units.temperatures_kelvin(temperatures, _units.j0_kelvin(cfg))
            if kelvin is not None:
                _put(f, "temperatures_kelvin", kelvin, "K",
                     "the ladder in kelvin: /temperatures × sample.J0_kelvin")
            self._create_timeseries(int(n_rows))
            f.flush()
        except BaseException:
            f.close()
            raise

    @classmethod
    def reopen(cls, path) -> RunWriter:
        """Open an existing run file to append more rows (resume / extend): n_valid is read
        back, status is set to "running" again; rows beyond n_valid will be overwritten."""
        check_rkky_mc_file(path)
        self = cls.__new__(cls)
        self.path = str(path)
        f = self.file = h5py.File(self.path, "r+", locking=False)
        try:
            g = f["timeseries"]
            self.T = int(g.attrs["T"])
            self.R = int(g.attrs["R"])
            self.pairs = np.asarray(g.attrs["pairs"], dtype=np.int64).reshape(-1, 2)
            self.P = int(self.pairs.shape[0])
            self.spin = str(_py(f["sample"].attrs["spin"]))
            self.N = int(f["sample"].attrs["N"])
            self.energy_unit = str(_py(f["sample"].attrs["energy_unit"]))
            self.specs = _timeseries_specs(self.spin, self.T, self.R, self.P, self.energy_unit)
            self.n_valid = int(f.attrs["n_valid"])
            g = f["timeseries"]
            n_rows = int(g["sweep"].shape[0])
            for name in self.specs:
                if name not in g:  # a file written before this series existed
                    self._create_series(g, name, n_rows)
            f.attrs["status"] = "running"
            f.flush()
        except BaseException:
            f.close()
            raise
        return self

    # ---- layout ---------------------------------------------------------------------
    def _write_sample(self, sample, positions, box, store_couplings):
        g = self.file.create_group("sample")
        dense = getattr(sample, "dense", None)
        attrs = sample_attrs(sample, self.spin, self.N, self.energy_unit)
        set_attrs(g, attrs)
        positions = positions if positions is not None else getattr(sample, "positions", None)
        box = box if box is not None else getattr(sample, "box", None)
        if positions is not None:
            _put(g, "positions", np.asarray(positions, dtype=np.float64).reshape(-1, 3),
                 "a (host cubic lattice constant)", "impurity positions R_i in the periodic box")
        if box is not None:
            _put(g, "box", np.asarray(box, dtype=np.float64).reshape(3),
                 "a (host cubic lattice constant)", "edges of the periodic box (minimum image)")
        triplets = getattr(sample, "triplets", None)
        if triplets is not None and self.spin == "heisenberg":
            _put(g, "triplets", np.asarray(triplets, dtype=np.int64).reshape(-1, 3), "index",
                 "scalar-chirality triplets, rows (j, i, k): κ = S_j·(S_i × S_k) "
                 "(rkky_mc/observables_chiral.py); (0, 3) when the sample has none")
        scatterers = getattr(sample, "scatterers", None)
        if scatterers is not None:
            _put(g, "scatterers", np.asarray(scatterers, dtype=np.float64).reshape(-1, 3),
                 "a (host cubic lattice constant)", "positions R_l of the Fert-Levy spin-orbit "
                 "scatterers (free fcc host sites)")
        dm = getattr(sample, "dm", None)
        if store_couplings and dm is not None:
            from .interactions.sample_dm import dm_pairs

            _put(g, "dm", dm_pairs(dm), self.energy_unit,
                 "DM vectors D_ij (N, N, 3) (H = -Σ_{i<j} [J_ij S_i·S_j + D_ij·(S_i × S_j)]), "
                 "D_ji = -D_ij", chunks=True, **_COMPRESSION)
        if store_couplings:
            unit = self.energy_unit
            if dense is not None:
                ds = _put(g, "couplings", np.asarray(dense, dtype=np.float64), unit,
                          "coupling matrix J_ij (H = -Σ_{i<j} J_ij S_i·S_j), symmetric, zero diagonal",
                          chunks=True, **_COMPRESSION)
                ds.attrs["storage"] = "dense"
            elif getattr(sample, "csr", None) is not None:
                indptr, indices, data = sample.csr
                c = g.create_group("couplings")
                c.attrs["storage"] = "csr"
                c.attrs["shape"] = np.array([self.N, self.N], dtype=np.int64)
                c.attrs["description"] = ("coupling matrix J_ij in CSR form (both directions "
                                          "stored, columns sorted)")
                _put(c, "indptr", np.asarray(indptr, dtype=np.int64), "index", "CSR row pointers (N+1,)")
                _put(c, "indices", np.asarray(indices, dtype=np.int32), "index", "CSR column indices",
                     chunks=True, **_COMPRESSION)
                _put(c, "data", np.asarray(data, dtype=np.float64), unit, "CSR values J_ij",
                     chunks=True, **_COMPRESSION)

    def _create_timeseries(self, n_rows):
        g = self.file.create_group("timeseries")
        g.attrs["pairs"] = self.pairs
        g.attrs["T"] = np.int64(self.T)
        g.attrs["R"] = np.int64(self.R)
        g.attrs["P"] = np.int64(self.P)
        g.attrs["description"] = ("one row per measurement; valid rows are [0, n_valid) (root "
                                  "attr); pairs[p] = ladders (a, b) of pair p")
        for name in self.specs:
            self._create_series(g, name, n_rows)

    def _create_series(self, g, name, n_rows):
        row, dtype, axes, units, desc = self.specs[name]
        chunk_rows = _chunk_rows(row, dtype)
        ds = g.create_dataset(
            name, shape=(n_rows, *row), dtype=dtype,
            maxshape=(None, *[None if d == 0 else d for d in row]),
            chunks=(chunk_rows, *[max(1, d) for d in row]),
            fillvalue=(np.nan if np.dtype(dtype).kind == "f" else -1),
            **_COMPRESSION,
        )
        ds.attrs["units"] = units
        ds.attrs["description"] = desc
        ds.attrs["axes"] = axes

    # ---- writing --------------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        """Current length of the time series along M (valid or not)."""
        return int(self.file["timeseries/sweep"].shape[0])

    def resize(self, n_rows: int) -> None:
        """Set the length along M of every time series (never below n_valid)."""
        n_rows = max(int(n_rows), self.n_valid)
        for name in self.specs:
            self.file["timeseries"][name].resize(n_rows, axis=0)

    def append(self, rows: dict) -> None:
        """Write m rows at [n_valid, n_valid + m) (growing if needed), flush, then raise
        n_valid and flush again.  ``rows``: name -> (m, *row shape) array for every time
        series (``sweep`` (m,)); ``link_overlap`` and ``link_overlap_bonds`` may be omitted
        (left NaN)."""
        arrays, m = checked_rows(self.specs, rows)
        if not m:
            return
        lo, hi = self.n_valid, self.n_valid + m
        if hi > self.n_rows:
            self.resize(hi)
        g = self.file["timeseries"]
        for k, (name, arr) in enumerate(arrays.items()):
            g[name][lo:hi] = arr
            if k == 0:
                fault_point("timeseries:partial")
        self.file.flush()
        self.n_valid = hi
        self.file.attrs["n_valid"] = np.int64(hi)
        self.file.flush()

    def write_tempering(self, n_accepted, n_attempted: int, half_trips, **ladder) -> None:
        """Swap statistics (may be called again to overwrite): n_accepted (R, T-1) accepted
        swaps per ladder and neighbour pair, n_attempted attempts per pair (same for every
        pair), half_trips (R,) completed half round trips per ladder; ``ladder``: the
        ladder_* entries of a self-tuning ladder (tempering_arrays), whose current ladder
        replaces /temperatures (and /temperatures_kelvin)."""
        g = self.file.require_group("tempering")
        for name, (value, units, desc) in tempering_arrays(self.R, self.T, n_accepted, n_attempted,
                                                           half_trips, **ladder).items():
            _put(g, name, value, units, desc)
        current = current_ladder(ladder)
        if current is not None:
            self.file["temperatures"][...] = current
            if "temperatures_kelvin" in self.file:
                j0_kelvin = float(self.file["sample"].attrs["J0_kelvin"])
                self.file["temperatures_kelvin"][...] = _units.temperatures_kelvin(current, j0_kelvin)
        self.file.flush()

    def write_group(self, name: str, datasets: dict) -> None:
        """Replace the driver output group ``/name`` by ``datasets`` ({dataset: (array,
        units, description)}; see :func:`checked_groups`)."""
        checked = checked_groups({name: datasets})[name]
        if name in self.file:
            del self.file[name]
        g = self.file.create_group(name)
        g.attrs["kind"] = DRIVER_GROUP_KIND
        for ds, (value, units, desc) in checked.items():
            _put(g, ds, value, units, desc)
        self.file.flush()

    def set_attrs(self, group: str, values: dict) -> None:
        """Set attributes of ``group`` (a path in the file, "/" for the root)."""
        # require_group: a group deleted by hand (say /provenance) comes back, not a KeyError
        obj = self.file.require_group(group) if group not in ("", "/") else self.file
        set_attrs(obj, values)
        self.file.flush()

    def finish(self, end_time: str | None = None, **provenance) -> None:
        """Mark the run finished; record ``end_time`` (ISO text; default now, UTC) and any
        further provenance entries."""
        if end_time is None:
            end_time = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        set_attrs(self.file.require_group("provenance"), {"end_time": end_time, **provenance})
        self.file.attrs["status"] = "finished"
        self.file.flush()

    def close(self) -> None:
        if self.file is not None and self.file.id.valid:
            self.file.flush()
            self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---- reading ---------------------------------------------------------------------------


def read_status_and_config(path) -> tuple[str, str]:
    """(root ``status``, stored config TOML) of one run file or generation, without locking
    it (a sweep inspects files other processes may be writing). Raises OSError / KeyError
    if it is not a readable run file."""
    with h5py.File(str(path), "r", locking=False) as f:
        return decode_attr(f.attrs["status"]), decode_attr(f.attrs["config"])


def check_rkky_mc_file(path) -> None:
    """Raise FileNotFoundError / FormatError (clear message) unless ``path`` is an rkky_mc
    run file of a format version this rkky_mc can read."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if not h5py.is_hdf5(str(p)):
        raise FormatError(f"{path}: not an HDF5 file (expected an rkky_mc run file)")
    with h5py.File(str(p), "r", locking=False) as f:
        fmt = _py(f.attrs.get("format", None))
        version = _py(f.attrs.get("format_version", None))
    if fmt != FORMAT:
        raise FormatError(f"{path}: not an rkky_mc run file (root attribute format = {fmt!r}, "
                          f"expected {FORMAT!r})")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise FormatError(f"{path}: format_version = {version!r}; this rkky_mc ({__version__}) "
                          f"reads versions up to {FORMAT_VERSION}")


def is_rkky_mc_file(path) -> bool:
    """True if ``path`` is a readable rkky_mc run file (see check_rkky_mc_file)."""
    try:
        check_rkky_mc_file(path)
    except (OSError, FormatError):
        return False
    return True


@dataclass
class RunData:
    """One run file, read: time series truncated to n_valid rows."""

    path: str
    attrs: dict                      # root attributes
    config_text: str                 # the resolved TOML
    config: dict                     # tomllib.loads(config_text) (not validated)
    status: str                      # "running" | "finished"
    n_valid: int
    provenance: dict
    sample: dict                     # /sample attrs
    temperatures: np.ndarray         # (T,)
    pairs: np.ndarray                # (P, 2) ladders (a, b)
    timeseries: dict                 # name -> (n_valid, ...) array
    timeseries_attrs: dict           # name -> {units, description, axes}
    tempering: dict = field(default_factory=dict)
    positions: np.ndarray | None = None
    box: np.ndarray | None = None
    couplings: object = None         # dense array, or (indptr, indices, data); if requested
    temperatures_kelvin: np.ndarray | None = None   # (T,) K, when sample.J0_kelvin is set
    groups: dict = field(default_factory=dict)        # driver output: group -> {name: array}
    groups_attrs: dict = field(default_factory=dict)  # group -> {name: {units, description}}
    dm: np.ndarray | None = None     # /sample/dm (N, N, 3), with couplings=True, if stored
    scatterers: np.ndarray | None = None  # /sample/scatterers (N_l, 3) (fert_levy)
    triplets: np.ndarray | None = None    # /sample/triplets (N_t, 3) (Heisenberg runs)

    @property
    def spin(self) -> str:
        return self.sample.get("spin", "")

    @property
    def finished(self) -> bool:
        return self.status == "finished"


def read_run(path, *, couplings: bool = False, retries: int = 3) -> RunData:
    """Read a run file (read-only, no file lock: works while a writer has it open).

    Every time series is cut to the root attribute n_valid, read first, so rows appended
    meanwhile are ignored.  ``couplings=True`` also loads /sample/couplings if stored.
    A read that fails while the writer is flushing is retried ``retries`` times."""
    check_rkky_mc_file(path)
    for attempt in range(retries + 1):
        try:
            return _read(str(path), couplings)
        except (OSError, KeyError):
            if attempt >= retries:
                raise
            time.sleep(0.2 * (attempt + 1))


def _read(path: str, want_couplings: bool) -> RunData:
    with h5py.File(path, "r", locking=False) as f:
        attrs = _attrs(f)
        n_valid = int(attrs.get("n_valid", 0))
        config_text = str(attrs.get("config", ""))
        try:
            config = tomllib.loads(config_text)
        except tomllib.TOMLDecodeError:
            config = {}
        g = f["timeseries"]
        timeseries, ts_attrs = {}, {}
        for name, ds in g.items():
            if not isinstance(ds, h5py.Dataset):
                continue
            n = min(n_valid, ds.shape[0]) if ds.ndim else 0
            timeseries[name] = ds[:n] if ds.ndim else ds[()]
            ts_attrs[name] = _attrs(ds)
        pairs = np.asarray(g.attrs.get("pairs", np.zeros((0, 2), np.int64)), dtype=np.int64).reshape(-1, 2)
        missing = [name for name in OPTIONAL_SERIES if name not in timeseries]
        if missing and "sweep" in timeseries:
            # a file written before these series were stored: NaN (not measured)
            n = int(np.shape(timeseries["sweep"])[0])
            T = int(g.attrs.get("T", f["temperatures"].shape[0]))
            R = int(g.attrs.get("R", 1))
            spin = str(_py(f["sample"].attrs.get("spin", "ising"))) if "sample" in f else "ising"
            specs = _timeseries_specs(spin if spin in ("ising", "heisenberg") else "ising", T, R,
                                      int(pairs.shape[0]), "")
            for name in missing:
                spec = specs[name]
                timeseries[name] = np.full((n, *spec[0]), np.nan, dtype=spec[1])
                ts_attrs[name] = {"units": spec[3], "axes": spec[2],
                                  "description": spec[4] + " (not in this file: written "
                                  "before the dataset existed)"}
        groups, groups_attrs = {}, {}
        for name, g_out in f.items():
            if isinstance(g_out, h5py.Group) and _py(g_out.attrs.get("kind", "")) == DRIVER_GROUP_KIND:
                groups[name] = {k: ds[()] for k, ds in g_out.items() if isinstance(ds, h5py.Dataset)}
                groups_attrs[name] = {k: _attrs(ds) for k, ds in g_out.items()
                                      if isinstance(ds, h5py.Dataset)}
        tempering = {}
        if "tempering" in f:
            for name, ds in f["tempering"].items():
                if isinstance(ds, h5py.Dataset):
                    tempering[name] = ds[()]
        sample_g = f["sample"] if "sample" in f else None
        sample = _attrs(sample_g) if sample_g is not None else {}
        positions = sample_g["positions"][()] if sample_g is not None and "positions" in sample_g else None
        box = sample_g["box"][()] if sample_g is not None and "box" in sample_g else None
        cpl = None
        if want_couplings and sample_g is not None and "couplings" in sample_g:
            c = sample_g["couplings"]
            if isinstance(c, h5py.Dataset):
                cpl = c[()]
            else:
                cpl = (c["indptr"][()], c["indices"][()], c["data"][()])
        dm = sample_g["dm"][()] if want_couplings and sample_g is not None and "dm" in sample_g else None
        scat = sample_g["scatterers"][()] if sample_g is not None and "scatterers" in sample_g else None
        tri = sample_g["triplets"][()] if sample_g is not None and "triplets" in sample_g else None
        return RunData(
            path=path,
            attrs=attrs,
            config_text=config_text,
            config=config,
            status=str(attrs.get("status", "")),
            n_valid=n_valid,
            provenance=_attrs(f["provenance"]) if "provenance" in f else {},
            sample=sample,
            temperatures=f["temperatures"][()],
            pairs=pairs,
            timeseries=timeseries,
            timeseries_attrs=ts_attrs,
            tempering=tempering,
            positions=positions,
            box=box,
            couplings=cpl,
            temperatures_kelvin=f["temperatures_kelvin"][()] if "temperatures_kelvin" in f else None,
            groups=groups,
            groups_attrs=groups_attrs,
            dm=dm,
            scatterers=scat,
            triplets=tri,
        )
