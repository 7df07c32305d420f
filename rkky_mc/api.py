"""The Python API: a read-only view of one run, from a file or from memory.

    >>> import rkky_mc
    >>> run = rkky_mc.open_run("runs/out/demo.h5")        # a file (also while it is written)
    >>> run = rkky_mc.run("runs/demo.toml", backend="memory")  # run a config, keep it in memory
    >>> run.temperatures, run["energy"].shape              # (T,), (n_valid, T, R)
    >>> ds = run.to_xarray()                               # needs xarray

Every time series is a numpy array cut to ``n_valid`` rows and marked read-only; the object
is a snapshot taken when it was made (``open_run`` again to see newer rows of a running file).
"""
from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import numpy as np

from . import observables_registry

# xarray dimension names of the axis letters of the observables registry
DIMS = {"M": "measurement", "T": "temperature", "R": "replica", "P": "pair",
        "xyz": "component", "mu": "component_a", "nu": "component_b"}


def _frozen(value):
    if isinstance(value, np.ndarray):
        value = value.view()
        value.flags.writeable = False
    return value


class Run:
    """One run, read (see the module docstring). Built by :func:`open_run` / :func:`run`."""

    def __init__(self, data, recorder=None):
        self._data = data
        self.recorder = recorder
        self._series = {name: _frozen(np.asarray(v)) for name, v in data.timeseries.items()}

    # ---- what the run is ------------------------------------------------------------
    @property
    def path(self) -> str:
        """The run file, or "memory:<name>"."""
        return self._data.path

    @property
    def status(self) -> str:
        """ "running" | "finished" (a killed run stays "running")."""
        return self._data.status

    @property
    def finished(self) -> bool:
        return self._data.finished

    @property
    def n_valid(self) -> int:
        """Number of measurement rows."""
        return self._data.n_valid

    @property
    def spin(self) -> str:
        return self._data.spin

    @property
    def config(self):
        """The resolved config as stored (TOML tables as a read-only dict)."""
        return MappingProxyType({k: MappingProxyType(v) if isinstance(v, dict) else v
                                 for k, v in self._data.config.items()})

    @property
    def config_text(self) -> str:
        return self._data.config_text

    @property
    def attrs(self):
        """Root attributes (format, format_version, config, status, n_valid)."""
        return MappingProxyType(self._data.attrs)

    @property
    def provenance(self):
        return MappingProxyType(self._data.provenance)

    @property
    def sample(self):
        """/sample attributes plus ``positions`` (N, 3) and ``box`` (3,) (None without)."""
        out = dict(self._data.sample)
        out["positions"] = None if self._data.positions is None else _frozen(self._data.positions)
        out["box"] = None if self._data.box is None else _frozen(self._data.box)
        return MappingProxyType(out)

    @property
    def temperatures(self) -> np.ndarray:
        """(T,) ascending, in the model's energy unit (k_B = 1)."""
        return _frozen(self._data.temperatures)

    @property
    def temperatures_kelvin(self) -> np.ndarray | None:
        """(T,) the ladder in K (= temperatures × sample.J0_kelvin); None without J0_kelvin."""
        k = self._data.temperatures_kelvin
        return None if k is None else _frozen(k)

    @property
    def pairs(self) -> np.ndarray:
        """(P, 2): the ladders (a, b) of pair p."""
        return _frozen(self._data.pairs)

    @property
    def tempering(self):
        """swap_acceptance (R, T-1), swap_accepted, swap_attempted, half_trips, round_trips."""
        return MappingProxyType({k: _frozen(np.asarray(v)) for k, v in self._data.tempering.items()})

    @property
    def groups(self):
        """A driver's output groups, e.g. ``run.groups["pa"]["free_energy"]`` (population
        annealing: one row per temperature, ascending)."""
        return MappingProxyType({g: MappingProxyType({k: _frozen(np.asarray(v)) for k, v in d.items()})
                                 for g, d in self._data.groups.items()})

    # ---- the time series ------------------------------------------------------------
    def keys(self) -> list[str]:
        """The time series of this run (registry order first)."""
        known = [n for n in observables_registry.names() if n in self._series]
        return known + sorted(set(self._series) - set(known))

    def __contains__(self, name) -> bool:
        return name in self._series

    def __iter__(self):
        return iter(self.keys())

    def __getitem__(self, name: str) -> np.ndarray:
        """Time series ``name``, (n_valid, ...) read-only."""
        try:
            return self._series[name]
        except KeyError:
            raise KeyError(f"no time series {name!r}; this run has {self.keys()}") from None

    def units(self, name: str) -> str:
        return str(self._data.timeseries_attrs.get(name, {}).get("units", ""))

    def description(self, name: str) -> str:
        return str(self._data.timeseries_attrs.get(name, {}).get("description", ""))

    def axes(self, name: str) -> tuple:
        """Axis letters of time series ``name`` ("M", "T", ...)."""
        text = self._data.timeseries_attrs.get(name, {}).get("axes")
        if not text:
            o = observables_registry.REGISTRY.get(name)
            text = o.axes_attr(self.spin or "ising") if o else ",".join("?" * self[name].ndim)
        return tuple(str(text).split(","))

    def to_xarray(self):
        """An xarray.Dataset: one variable per time series, dims measurement, temperature,
        replica, pair, component (component_a / component_b for the overlap tensor);
        coords temperature, sweep, pair_a, pair_b; units and description as attrs."""
        try:
            import xarray as xr
        except ImportError:
            raise ImportError("Run.to_xarray needs xarray: pip install xarray "
                              "(or the rkky_mc 'test' extra)") from None
        data_vars = {}
        for name in self.keys():
            if name == "sweep":
                continue
            dims = tuple(DIMS.get(a, a) for a in self.axes(name))
            data_vars[name] = xr.Variable(dims, self[name], attrs={
                "units": self.units(name), "description": self.description(name)})
        coords = {
            "temperature": ("temperature", self.temperatures),
            "sweep": ("measurement", self["sweep"]) if "sweep" in self else ("measurement", []),
            "pair_a": ("pair", self.pairs[:, 0]),
            "pair_b": ("pair", self.pairs[:, 1]),
        }
        if self.temperatures_kelvin is not None:
            coords["temperature_kelvin"] = ("temperature", self.temperatures_kelvin)
        for dim in ("component", "component_a", "component_b"):
            if any(dim in v.dims for v in data_vars.values()):
                coords[dim] = (dim, ["x", "y", "z"])
        attrs = {"path": self.path, "status": self.status, "n_valid": self.n_valid,
                 "spin": self.spin, "config": self.config_text}
        return xr.Dataset(data_vars, coords=coords, attrs=attrs)

    def __repr__(self) -> str:
        return (f"<rkky_mc.Run {self.path}: {self.status}, {self.n_valid} measurements, "
                f"T = {len(self.temperatures)}, spin {self.spin}>")


def open_run(path) -> Run:
    """A run file (or a Recorder) as a read-only :class:`Run`; works while it is written."""
    from .io import recorder_for

    recorder = recorder_for(path)
    return Run(recorder.read(), recorder)


def _as_config(config):
    from .config import Config, from_dict, load_config

    if isinstance(config, Config):
        return config
    if isinstance(config, (str, Path)):
        return load_config(config)
    if isinstance(config, dict):
        return from_dict({k: dict(v) if isinstance(v, dict) else v for k, v in config.items()})
    raise TypeError(f"config: a Config, a TOML path or a dict, not {type(config).__name__}")


def run(config, backend: str = "memory", output=None, threads="auto") -> Run:
    """Run ``config`` (a Config, a TOML path or a dict of tables) to the end and return it.

    ``backend="memory"`` keeps everything in this process (nothing is written);
    ``backend="hdf5"`` writes the crash-safe run file ``output`` (default output.path; an
    existing file is an error). Bad config values raise ConfigError."""
    from . import provenance
    from .couplings import build_sample
    from .io import BACKENDS, MemoryRecorder
    from .simulation import start_run  # hands other anneal.method values to their driver

    cfg = _as_config(config)
    if backend == "memory":
        recorder = MemoryRecorder()
    elif backend == "hdf5":
        path = Path(output if output is not None else cfg.output.path)
        if path.exists():
            raise FileExistsError(f"{path}: exists; choose another output")
        path.parent.mkdir(parents=True, exist_ok=True)
        recorder = BACKENDS["hdf5"](path)
    else:
        raise ValueError(f"backend = {backend!r}: must be one of {sorted(BACKENDS)}")
    sample = build_sample(cfg.sample, precision=cfg.anneal.precision)
    if backend == "hdf5":  # the same lock as `rkky-mc run`: one writer per file
        from .runtime import RunLock, locking_enabled

        with RunLock(path, locking_enabled(False)):
            start_run(cfg, sample, recorder, provenance.collect(), threads=threads)
    else:
        start_run(cfg, sample, recorder, provenance.collect(), threads=threads)
    return Run(recorder.read(), recorder)
