"""Typed, validated run configuration.

A run is described by a TOML file with the tables ``[sample]``, ``[anneal]`` and
``[output]`` (see README, "Config reference"), optionally overridden on the command line
with ``--set dotted.key=TOML_VALUE``.  Everything is checked here, before any work starts:
an unknown key, a wrong type or an out-of-range value raises :class:`ConfigError`, whose
message names the key, the value and what is allowed.

Units: lengths in host cubic lattice constants ``a``; ``kf`` in 1/a; energies and
temperatures in units of ``J0`` (RKKY) or of the model's own coupling scale (k_B = 1).
``sample.host`` and ``sample.J0_kelvin`` add physical units (rkky_mc/units.py); with
``anneal.temperature_unit = "K"`` the stored temperatures are in kelvin and
:attr:`Config.temperature_array` converts them.
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .moves import MOVES, UPDATES
from .spins import SPIN_TYPES
from .units import HOSTS, KF_FREE_ELECTRON_FCC  # noqa: F401 - k_F a of a monovalent fcc metal

MODELS = ("rkky", "sk", "ea", "file")
SPINS = tuple(SPIN_TYPES)
LATTICES = ("fcc", "continuum")
NORMALIZE = ("nn", "none")
EA_DISTRIBUTIONS = ("gaussian", "pm1")
PRECISIONS = ("float64", "float32")
TEMPERATURE_UNITS = ("J0", "K")
METHODS = ("pt", "pa")  # anneal.method: parallel tempering | population annealing
# anneal keys that only one method uses: set to anything but their default under the other
# method they are an error naming anneal.method (at their defaults they are accepted)
PT_ONLY_KEYS = ("replicas", "thermalization", "sweeps", "measure_every")
PA_ONLY_KEYS = ("population", "sweeps_per_temperature")
# sample.dm: Dzyaloshinskii–Moriya vectors (Heisenberg only; rkky_mc/interactions/dm.py)
DMS = ("none", "random", "fert_levy")

# upper bound of thermalization + sweeps (also after `resume --sweeps`): sweep counts stay
# exact in float64 and far from int64 overflow in every counter and dataset size
MAX_TOTAL_SWEEPS = 2**53
# lowest temperature (units of J0 or the model's coupling scale): β = 1/T stays finite and
# every Boltzmann factor exp(−β ΔE) representable; far below any spin-glass ladder
MIN_TEMPERATURE = 1e-6
# most temperatures a {min, max, count} ladder may have (the list is built while validating)
MAX_TEMPERATURES = 100_000


class ConfigError(ValueError):
    """Bad input: one line naming the key, the value and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key} = {_show(value)}: {allowed}")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class SampleConfig:
    """One disorder sample: the spins and their couplings."""

    model: str = "rkky"
    spin: str = "ising"
    seed: int = 1
    field: float = 0.0
    # rkky
    lattice: str = "fcc"
    L: int = 4
    concentration: float = 0.05
    kf: float = KF_FREE_ELECTRON_FCC
    J0: float = 1.0
    normalize: str = "nn"
    cutoff: float = math.inf
    damping: float = math.inf
    min_distance: float = 1.0 / math.sqrt(2.0)
    sparse: str = "auto"  # auto | dense | csr : storage of the coupling matrix
    # sk
    N: int = 64
    # ea
    distribution: str = "gaussian"
    # file
    path: str = ""
    # units (rkky_mc/units.py): host preset "" | "Cu" | "Ag" | "Au" (rkky, fcc), a free
    # impurity label, and kelvin per coupling unit (None: unknown; not written to the TOML)
    host: str = ""
    impurity: str = ""
    J0_kelvin: float | None = None
    # Dzyaloshinskii–Moriya term −Σ_{i<j} D_ij·(S_i × S_j) (Heisenberg; interactions/dm.py)
    dm: str = "none"               # none | random | fert_levy
    dm_strength: float = 0.0       # random: λ (D_ij = λ|J_ij| d̂_ij); fert_levy: V₁ in J0·a³
    dm_concentration: float = 0.0  # fert_levy: scatterers per fcc host site
    dm_phase: float = 0.0          # fert_levy: ξ₀ (radians; Fert–Lévy: π Z_d / 10)


@dataclass
class AnnealConfig:
    """The Monte Carlo schedule and its moves."""

    temperatures: list = field(default_factory=lambda: [0.5, 1.0, 2.0])
    replicas: int = 2
    thermalization: int = 1000
    sweeps: int = 10000
    measure_every: int = 1
    update: str = "metropolis"
    overrelaxation: int = 0
    seed: int = 2
    link_overlap: bool = True
    precision: str = "float64"
    temperature_unit: str = "J0"  # "J0" | "K" (K: converted with sample.J0_kelvin)
    # population annealing (method = "pa"; rkky_mc/drivers/population_annealing.py).
    # anneal.sweeps already means the measured sweeps of parallel tempering, so the sweeps
    # at each annealing temperature (N_S) are sweeps_per_temperature.
    method: str = "pt"
    population: int = 1000
    sweeps_per_temperature: int = 10
    # anneal.temperatures = {min, max, count, adapt = "acceptance"}: the self-tuning ladder
    # (drivers/ladder.py). Not a key of its own: set from the table, written back into it.
    ladder_adapt: str | None = field(default=None, metadata={"internal": True})


@dataclass
class OutputConfig:
    path: str = "runs/out/demo.h5"
    store_couplings: bool = False
    checkpoint_interval: float = 600.0  # seconds of wall time between checkpoints


@dataclass
class Config:
    sample: SampleConfig = field(default_factory=SampleConfig)
    anneal: AnnealConfig = field(default_factory=AnnealConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    # ---- derived quantities -------------------------------------------------------
    @property
    def temperature_array(self):
        """The ladder in coupling units (J0), what the simulation and /temperatures use."""
        from .units import temperatures_in_j0

        return temperatures_in_j0(self.anneal.temperatures, self.anneal.temperature_unit,
                                  self.sample.J0_kelvin)

    @property
    def total_sweeps(self) -> int:
        if self.anneal.method == "pa":  # every temperature's sweeps
            return len(self.anneal.temperatures) * self.anneal.sweeps_per_temperature
        return self.anneal.thermalization + self.anneal.sweeps

    @property
    def n_measurements(self) -> int:
        """Measurements are taken after sweeps s = 0, k, 2k, ... < total_sweeps (none for
        population annealing: its rows are /pa's)."""
        if self.anneal.method == "pa":
            return 0
        k = self.anneal.measure_every
        return -(-self.total_sweeps // k)

    def to_dict(self) -> dict:
        return {
            "sample": _table(self.sample),
            "anneal": _table(self.anneal),
            "output": _table(self.output),
        }

    def to_toml(self) -> str:
        """The full resolved configuration as TOML text (round-trips through load)."""
        lines = []
        for name, table in self.to_dict().items():
            lines.append(f"[{name}]")
            for key, value in table.items():
                if value is None:  # unset optional key (TOML has no null): its default on load
                    continue
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        return "\n".join(lines)


def _table(obj) -> dict:
    table = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)
             if not f.metadata.get("internal")}
    adapt = getattr(obj, "ladder_adapt", None)
    if adapt:  # the geometric table it came from (rebuilt bit for bit on load)
        t = table["temperatures"]
        table["temperatures"] = {"min": t[0], "max": t[-1], "count": len(t), "adapt": adapt}
    return table


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if math.isnan(value):
            return "nan"
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


# ---- loading ---------------------------------------------------------------------

_SECTIONS = {"sample": SampleConfig, "anneal": AnnealConfig, "output": OutputConfig}


def parse_override(text: str) -> tuple[str, Any]:
    """``"sample.L=6"`` -> ``("sample.L", 6)``; the value is parsed as TOML."""
    if "=" not in text:
        raise ConfigError("--set", text, "expected KEY=VALUE with a dotted key, e.g. sample.L=6")
    key, raw = text.split("=", 1)
    key, raw = key.strip(), raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        # bare words are taken as strings: --set sample.model=sk
        if raw and all(c.isalnum() or c in "_-./" for c in raw):
            value = raw
        else:
            raise ConfigError(key, raw, "value is not valid TOML (quote strings: 'sample.model=\"sk\"')") from None
    return key, value


def load_config(path: str | Path | None = None, overrides=(), text: str | None = None) -> Config:
    """Read a TOML file (or ``text``), apply ``overrides`` (``KEY=VALUE`` strings or
    ``(key, value)`` pairs), validate, and return the resolved :class:`Config`."""
    if text is None and path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError("config", str(path), "file not found")
        text = p.read_bytes().decode("utf-8", errors="replace")
    data: dict = {}
    if text is not None:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("config", str(path or "<text>"), f"not valid TOML ({exc})") from None
    for item in overrides:
        key, value = parse_override(item) if isinstance(item, str) else item
        parts = key.split(".")
        if len(parts) != 2 or parts[0] not in _SECTIONS:
            raise ConfigError(key, value, "keys are section.name with section in sample, anneal, output")
        section = data.setdefault(parts[0], {})
        if not isinstance(section, dict):
            raise ConfigError(parts[0], section, "must be a table")
        section[parts[1]] = value
    return from_dict(data)


def from_dict(data: dict) -> Config:
    for name in data:
        if name not in _SECTIONS:
            raise ConfigError(name, data[name], f"unknown table; allowed: {', '.join(_SECTIONS)}")
    tables = {}
    for name, cls in _SECTIONS.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(name, raw, "must be a table")
        known = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
        for key in raw:
            if key not in known:
                raise ConfigError(f"{name}.{key}", raw[key], f"unknown key; allowed: {', '.join(known)}")
        tables[name] = cls(**{k: v for k, v in raw.items()})
    cfg = Config(**tables)
    validate(cfg)
    return cfg


# ---- validation ------------------------------------------------------------------


def _int(key, value, lo=None, hi=None, what=""):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, value, f"must be an integer{what}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        rng = f"≥ {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ConfigError(key, value, f"must be an integer {rng}{what}")
    return value


def _float(key, value, lo=None, hi=None, lo_open=False, hi_open=False, allow_inf=False, what=""):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(key, value, f"must be a number{what}")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ConfigError(key, value, f"must be a finite number{what}")
    bad = (
        (lo is not None and (value < lo or (lo_open and value == lo)))
        or (hi is not None and (value > hi or (hi_open and value == hi)))
    )
    if bad:
        left = "(" if lo_open else "["
        right = ")" if (hi_open or hi is None) else "]"
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        raise ConfigError(key, value, f"must lie in {left}{lo_s}, {hi_s}{right}{what}")
    return value


def _choice(key, value, allowed):
    if value not in allowed:
        raise ConfigError(key, value, f"must be one of {', '.join(map(repr, allowed))}")
    return value


def _bool(key, value):
    if not isinstance(value, bool):
        raise ConfigError(key, value, "must be true or false")
    return value


_T_RANGE = f" (temperatures are ≥ {MIN_TEMPERATURE:g}, so that β = 1/T stays finite)"


def _temperatures(value) -> list[float]:
    key = "anneal.temperatures"
    if isinstance(value, dict):
        extra = set(value) - {"min", "max", "count", "adapt"}
        if extra or not {"min", "max", "count"} <= set(value):
            raise ConfigError(key, value, "a table needs exactly min, max, count (geometric ladder) "
                              "and optionally adapt")
        tmin = _float(f"{key}.min", value["min"], lo=MIN_TEMPERATURE, what=_T_RANGE)
        tmax = _float(f"{key}.max", value["max"], lo=MIN_TEMPERATURE, what=_T_RANGE)
        count = _int(f"{key}.count", value["count"], lo=1, hi=MAX_TEMPERATURES)
        if count > 1 and not tmax > tmin:
            raise ConfigError(f"{key}.max", tmax, f"must exceed min = {tmin:g}")
        if count == 1:
            return [tmin]
        ratio = (tmax / tmin) ** (1.0 / (count - 1))
        temps = [tmin * ratio**k for k in range(count)]
        temps[-1] = tmax
        return temps
    if not isinstance(value, list) or not value:
        raise ConfigError(key, value, "must be a non-empty list of temperatures or {min, max, count}")
    temps = []
    for k, t in enumerate(value):
        temps.append(_float(f"{key}[{k}]", t, lo=MIN_TEMPERATURE, what=_T_RANGE))
    if len(set(temps)) != len(temps):
        raise ConfigError(key, value, "temperatures must be distinct")
    return sorted(temps)


def _method_keys(a: AnnealConfig) -> None:
    """Keys of the other method: accepted at their defaults, else an error naming
    anneal.method."""
    defaults = AnnealConfig()
    unused, other = (PT_ONLY_KEYS, "pt") if a.method == "pa" else (PA_ONLY_KEYS, "pa")
    for key in unused:
        value = getattr(a, key)
        if value != getattr(defaults, key):
            hint = (" (the sweeps at each temperature are anneal.sweeps_per_temperature)"
                    if key == "sweeps" else "")
            raise ConfigError(f"anneal.{key}", value,
                              f"used only with anneal.method = {other!r}, this run has "
                              f"anneal.method = {a.method!r}; remove it{hint}")
def _validate_dm(s: SampleConfig, a: AnnealConfig) -> None:
    """The DM keys (sample.dm ...). A D given in a .npz coupling file is checked when the
    file is read (models/file.py), with the same rules."""
    _choice("sample.dm", s.dm, DMS)
    s.dm_phase = _float("sample.dm_phase", s.dm_phase)
    if s.dm == "none":
        s.dm_strength = _float("sample.dm_strength", s.dm_strength)
        s.dm_concentration = _float("sample.dm_concentration", s.dm_concentration, lo=0.0, hi=1.0)
        return
    if s.spin != "heisenberg":
        raise ConfigError("sample.dm", s.dm, "DM couplings need sample.spin = 'heisenberg'; "
                          "use sample.dm = 'none' for Ising spins")
    check_dm_storage(f"sample.dm = {s.dm!r}", s.sparse, a.precision)
    if s.dm == "random":
        s.dm_strength = _float("sample.dm_strength", s.dm_strength, lo=0.0,
                               what=" (λ of D_ij = λ|J_ij| d̂_ij)")
        s.dm_concentration = _float("sample.dm_concentration", s.dm_concentration, lo=0.0, hi=1.0)
        return
    # fert_levy: scatterers on free fcc host sites of an RKKY sample
    s.dm_strength = _float("sample.dm_strength", s.dm_strength, what=" (V₁ in J0·a³)")
    if s.model != "rkky" or s.lattice != "fcc":
        where = f"model = {s.model!r}" + (f", lattice = {s.lattice!r}" if s.model == "rkky" else "")
        raise ConfigError("sample.dm", s.dm, f"needs sample.model = 'rkky' with lattice = 'fcc' "
                          f"(scatterers on free fcc host sites), not {where}")
    s.dm_concentration = _float("sample.dm_concentration", s.dm_concentration, lo=0.0, hi=1.0,
                                lo_open=True, what=" (scatterers per fcc host site)")
    sites = 4 * s.L**3
    n_spins = round(s.concentration * sites)
    n_scat = round(s.dm_concentration * sites)
    if n_scat < 1 or n_scat > sites - n_spins:
        raise ConfigError("sample.dm_concentration", s.dm_concentration,
                          f"gives round(c_l·4L³) = {n_scat} scatterers; need 1 … {sites - n_spins} "
                          f"(the fcc host sites not taken by the {n_spins} spins)")


def check_dm_storage(what: str, sparse: str, precision: str) -> None:
    """DM runs are dense float64 (kernels/dm.py): CSR storage and float32 are refused."""
    if sparse == "csr":
        raise ConfigError("sample.sparse", sparse, f"{what} needs dense couplings (DM sweeps are "
                          "dense only); use 'dense' or 'auto'")
    if precision != "float64":
        raise ConfigError("anneal.precision", precision, f"{what} runs in float64 only (DM "
                          "sweeps are float64); use 'float64'")


def validate(cfg: Config) -> None:
    """Check every value; normalise types in place (ints to floats, temperature ladder)."""
    s, a, o = cfg.sample, cfg.anneal, cfg.output
    _choice("sample.model", s.model, MODELS)
    _choice("sample.spin", s.spin, SPINS)
    _int("sample.seed", s.seed, lo=0)
    s.field = _float("sample.field", s.field)
    _choice("sample.lattice", s.lattice, LATTICES)
    _choice("sample.normalize", s.normalize, NORMALIZE)
    _choice("sample.distribution", s.distribution, EA_DISTRIBUTIONS)
    _choice("sample.sparse", s.sparse, ("auto", "dense", "csr"))
    if s.model in ("rkky", "ea"):
        _int("sample.L", s.L, lo=1 if s.model == "rkky" else 2)
    if s.model == "rkky":
        s.concentration = _float("sample.concentration", s.concentration, lo=0.0, hi=1.0, lo_open=True)
        s.kf = _float("sample.kf", s.kf, lo=0.0, lo_open=True)
        s.J0 = _float("sample.J0", s.J0, lo=0.0, lo_open=True)
        s.damping = _float("sample.damping", s.damping, lo=0.0, lo_open=True, allow_inf=True)
        s.cutoff = _float("sample.cutoff", s.cutoff, lo=0.0, lo_open=True, allow_inf=True)
        if math.isfinite(s.cutoff) and s.cutoff > s.L / 2:
            raise ConfigError("sample.cutoff", s.cutoff, f"must be ≤ L/2 = {s.L / 2:g} (minimum image), or inf")
        s.min_distance = _float("sample.min_distance", s.min_distance, lo=0.0)
        if s.lattice == "fcc":
            n = round(s.concentration * 4 * s.L**3)
            if n < 2:
                raise ConfigError(
                    "sample.concentration", s.concentration,
                    f"gives N = round(c·4L³) = {n} spins for L = {s.L}; need at least 2",
                )
        else:
            n = round(s.concentration * 4 * s.L**3)
            if n < 2:
                raise ConfigError("sample.concentration", s.concentration, f"gives N = {n} spins; need at least 2")
            # random close packing of hard spheres of diameter d fills ~64% of the volume
            packing = n * math.pi / 6 * s.min_distance**3 / s.L**3
            if packing > 0.5:
                raise ConfigError(
                    "sample.min_distance", s.min_distance,
                    f"too large to place N = {n} spins in an L = {s.L} box (packing {packing:.2f} > 0.5)",
                )
    if s.model == "sk":
        _int("sample.N", s.N, lo=2)
    if s.model == "file":
        if not isinstance(s.path, str) or not s.path:
            raise ConfigError("sample.path", s.path, "must name a .npy file holding a symmetric N×N coupling matrix")
    _validate_units(s)

    _validate_dm(s, a)

    _choice("anneal.temperature_unit", a.temperature_unit, TEMPERATURE_UNITS)
    if isinstance(a.temperatures, dict):
        a.ladder_adapt = a.temperatures.get("adapt")
    a.temperatures = _temperatures(a.temperatures)
    if a.temperature_unit == "K":
        _kelvin_ladder(cfg)
    _int("anneal.replicas", a.replicas, lo=1)
    _int("anneal.thermalization", a.thermalization, lo=0, hi=MAX_TOTAL_SWEEPS)
    _int("anneal.sweeps", a.sweeps, lo=0, hi=MAX_TOTAL_SWEEPS)
    if a.thermalization + a.sweeps < 1:
        raise ConfigError("anneal.sweeps", a.sweeps, "thermalization + sweeps must be ≥ 1")
    if a.thermalization + a.sweeps > MAX_TOTAL_SWEEPS:
        raise ConfigError("anneal.sweeps", a.sweeps, f"thermalization + sweeps = "
                          f"{a.thermalization + a.sweeps} must be ≤ 2**53 = {MAX_TOTAL_SWEEPS}")
    _int("anneal.measure_every", a.measure_every, lo=1)
    if a.ladder_adapt is not None:
        _validate_adapt(a)
    _choice("anneal.update", a.update, UPDATES)
    _int("anneal.overrelaxation", a.overrelaxation, lo=0)
    if a.overrelaxation and s.spin not in MOVES["overrelaxation"].spins():
        spins = " or ".join(repr(n) for n in MOVES["overrelaxation"].spins())
        raise ConfigError("anneal.overrelaxation", a.overrelaxation,
                          f"over-relaxation needs sample.spin = {spins}; use 0")
    _int("anneal.seed", a.seed, lo=0)
    _bool("anneal.link_overlap", a.link_overlap)
    _choice("anneal.precision", a.precision, PRECISIONS)
    _choice("anneal.method", a.method, METHODS)
    _int("anneal.population", a.population, lo=1, hi=2**40)
    _int("anneal.sweeps_per_temperature", a.sweeps_per_temperature, lo=1, hi=MAX_TOTAL_SWEEPS)
    _method_keys(a)
    if a.method == "pa" and len(a.temperatures) * a.sweeps_per_temperature > MAX_TOTAL_SWEEPS:
        raise ConfigError("anneal.sweeps_per_temperature", a.sweeps_per_temperature,
                          f"× {len(a.temperatures)} temperatures must be ≤ 2**53 sweeps in all")

    if not isinstance(o.path, str) or not o.path:
        raise ConfigError("output.path", o.path, "must be a file path ending in .h5")
    _bool("output.store_couplings", o.store_couplings)
    o.checkpoint_interval = _float("output.checkpoint_interval", o.checkpoint_interval, lo=0.0, lo_open=True)


def _validate_adapt(a: AnnealConfig) -> None:
    """anneal.temperatures.adapt (drivers/ladder.py): the method, inner temperatures to move,
    and thermalization for the updates before the freeze."""
    from .drivers.ladder import ADAPT_METHODS, MIN_THERMALIZATION

    key = "anneal.temperatures.adapt"
    if a.method == "pa":
        raise ConfigError(key, a.ladder_adapt, "a self-tuning ladder is parallel tempering's "
                          "(anneal.method = 'pt'); population annealing visits the given "
                          "temperatures: remove adapt, or use anneal.method = 'pt'")
    if a.ladder_adapt not in ADAPT_METHODS:
        raise ConfigError(key, a.ladder_adapt, f"must be one of {', '.join(map(repr, ADAPT_METHODS))} "
                          "(equal swap acceptances; 'flow', the round-trip feedback, is not built)")
    if len(a.temperatures) < 3:
        raise ConfigError("anneal.temperatures.count", len(a.temperatures),
                          "must be ≥ 3 with adapt (the endpoints stay, the inner temperatures move)")
    if a.thermalization < MIN_THERMALIZATION:
        raise ConfigError("anneal.thermalization", a.thermalization,
                          f"must be ≥ {MIN_THERMALIZATION} with anneal.temperatures.adapt (the "
                          "ladder is tuned during the first half of the thermalization)")


def _validate_units(s: SampleConfig) -> None:
    """sample.host, sample.impurity, sample.J0_kelvin (see rkky_mc/units.py)."""
    if s.host not in ("", *HOSTS):
        raise ConfigError("sample.host", s.host, f"must be one of {', '.join(map(repr, HOSTS))} "
                          "(or '' for no host: lengths in lattice constants only)")
    if s.host and s.model != "rkky":
        raise ConfigError("sample.host", s.host, f"a host preset needs sample.model = 'rkky' "
                          f"(not {s.model!r}); remove sample.host")
    if s.host and s.lattice != "fcc":
        raise ConfigError("sample.host", s.host, f"a host preset is an fcc lattice: needs "
                          f"sample.lattice = 'fcc' (not {s.lattice!r}); remove sample.host")
    if not isinstance(s.impurity, str):
        raise ConfigError("sample.impurity", s.impurity, "must be a string (a label, e.g. 'Mn')")
    if s.J0_kelvin is not None:
        s.J0_kelvin = _float("sample.J0_kelvin", s.J0_kelvin, lo=0.0, lo_open=True,
                             what=" (kelvin per coupling unit)")


def _kelvin_ladder(cfg: Config) -> None:
    """Temperatures given in K: they need J0_kelvin, and must stay valid in J0 units."""
    import numpy as np

    a, s = cfg.anneal, cfg.sample
    if s.J0_kelvin is None:
        raise ConfigError("anneal.temperature_unit", a.temperature_unit,
                          "temperatures in K need sample.J0_kelvin (kelvin per coupling unit; "
                          "see rkky-mc calibrate), or use 'J0'")
    t = cfg.temperature_array
    if t[0] < MIN_TEMPERATURE:
        raise ConfigError("anneal.temperatures", a.temperatures[0],
                          f"K is {t[0]:g} in coupling units with sample.J0_kelvin = "
                          f"{s.J0_kelvin:g}; must be ≥ {MIN_TEMPERATURE:g}")
    if np.any(np.diff(t) <= 0):
        raise ConfigError("anneal.temperatures", a.temperatures,
                          "two temperatures coincide after the division by sample.J0_kelvin")
