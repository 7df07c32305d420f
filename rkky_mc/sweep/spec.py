"""The sweep file: grid, [[when]] rules, task paths and derived seeds (format in the package
docstring)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import _SECTIONS, Config, ConfigError, from_dict

SEED_TAG = "rkky_mc.sweep/1"
SWEEP_KEYS = ("name", "seed", "samples", "out_dir")
GRID_SECTIONS = ("sample", "anneal")
DERIVED_KEYS = ("sample.seed", "anneal.seed")
LOG_NAME = "sweep.log"
# grids up to this many points are validated when the sweep file is read (~0.1 ms a point)
EAGER_POINTS = 20_000

_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_SAFE_VALUE_RE = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,63}")


# ---- the sweep file -----------------------------------------------------------------------


class Task:
    """One run of the sweep: grid point ``point``, disorder sample ``sample``. Its config
    (seeds derived, validated) is built on first use: a listing of a large sweep needs only
    the paths."""

    __slots__ = ("id", "point", "sample", "params", "path", "_config", "_make_config")

    def __init__(self, id: int, point: int, sample: int, params: dict, path: Path, config=None,
                 make_config=None):
        self.id, self.point, self.sample, self.params, self.path = id, point, sample, params, path
        self._config, self._make_config = config, make_config

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = self._make_config()
        return self._config

    @property
    def label(self) -> str:
        return point_label(self.params) + (" " if self.params else "") + f"s{self.sample:04d}"

    def __repr__(self) -> str:
        return f"Task(id={self.id}, path={str(self.path)!r})"


class TaskList(Sequence):
    """The tasks of a sweep, made on access (id = sample · n_points + point): a sweep of 10⁶
    tasks costs no memory until they are used, and a listing can stream."""

    def __init__(self, sweep: Sweep, make_task):
        self._sweep, self._make = sweep, make_task

    def __len__(self) -> int:
        return self._sweep.samples * self._sweep.n_points

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._make(i) for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(index)
        return self._make(index)


@dataclass
class Sweep:
    name: str
    seed: int
    samples: int
    out_dir: Path
    source: Path | None
    keys: list                 # grid keys, path order
    values: dict               # key -> list of raw values, as written
    points: list               # list of dicts key -> canonical value
    tasks: Sequence = ()        # a TaskList

    @property
    def n_points(self) -> int:
        return len(self.points)

    def chunk(self, index: int, size: int) -> list:
        return self.tasks[index * size:(index + 1) * size]

    def n_chunks(self, size: int) -> int:
        return -(-len(self.tasks) // size)


def point_label(params: dict) -> str:
    return " ".join(f"{short_key(k)}={format_value(v)}" for k, v in params.items())


def short_key(key: str) -> str:
    return key.split(".", 1)[1]


def format_value(value) -> str:
    """A grid value as it appears in a path (stable; see the module docstring)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str) and _SAFE_VALUE_RE.fullmatch(value) and value not in (".", ".."):
        return value
    return "h" + hashlib.sha256(canonical_json(value).encode()).hexdigest()[:10]


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True, ensure_ascii=True)


def _floatify(value):
    """Numbers inside lists/tables as floats (so [1, 2] and [1.0, 2.0] are one value)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [_floatify(v) for v in value]
    if isinstance(value, dict):
        return {k: _floatify(v) for k, v in value.items()}
    return value


def canonical_value(key: str, raw):
    """The form of a grid value that paths and seeds are made of: floats for float-typed keys
    (``1`` and ``1.0`` are one value), numbers inside lists/tables as floats, else as written."""
    section, name = key.split(".", 1)
    default = getattr(_SECTIONS[section](), name)
    if isinstance(default, float) and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, (list, dict)):
        return _floatify(raw)
    return raw


def derive_seed(kind: str, sweep_seed: int, params: dict, sample: int) -> int:
    """A 63-bit seed from sha256 of a canonical string (see the module docstring)."""
    text = canonical_json([SEED_TAG, kind, int(sweep_seed), params, int(sample)])
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def task_seeds(sweep_seed: int, params: dict, sample: int) -> tuple[int, int]:
    """(sample.seed, anneal.seed) of one task: the disorder seed sees only [sample] grid keys."""
    physical = {k: v for k, v in params.items() if k.startswith("sample.")}
    return (derive_seed("sample", sweep_seed, physical, sample),
            derive_seed("anneal", sweep_seed, params, sample))


def _check_int(key, value, lo):
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigError(key, value, f"must be an integer ≥ {lo}")
    return value


def load_sweep(path=None, text: str | None = None) -> Sweep:
    """Read and validate a sweep file; build every task's config (each one validated)."""
    source = None
    if text is None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError("sweep", str(path), "file not found")
        source = p
        text = p.read_bytes().decode("utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("sweep", str(path or "<text>"), f"not valid TOML ({exc})") from None

    allowed_tables = ("sweep", "grid", "when", *_SECTIONS)
    for name in data:
        if name not in allowed_tables:
            raise ConfigError(name, data[name], f"unknown table; allowed: {', '.join(allowed_tables)}")
    for name in allowed_tables:
        if name in data and name != "when" and not isinstance(data[name], dict):
            raise ConfigError(name, data[name], "must be a table")

    # [sweep]
    sw = data.get("sweep")
    if sw is None:
        raise ConfigError("sweep", None, "a sweep file needs a [sweep] table with name and seed")
    for key in sw:
        if key not in SWEEP_KEYS:
            raise ConfigError(f"sweep.{key}", sw[key], f"unknown key; allowed: {', '.join(SWEEP_KEYS)}")
    name = sw.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ConfigError("sweep.name", name, "required; letters, digits, '.', '_' and '-' only")
    if "seed" not in sw:
        raise ConfigError("sweep.seed", None, "required: an integer ≥ 0 (the master seed of every task)")
    seed = _check_int("sweep.seed", sw["seed"], 0)
    samples = _check_int("sweep.samples", sw.get("samples", 1), 1)
    out_dir = sw.get("out_dir", f"runs/out/{name}")
    if not isinstance(out_dir, str) or not out_dir:
        raise ConfigError("sweep.out_dir", out_dir, "must be a directory path")

    # base tables
    base = {s: dict(data.get(s, {})) for s in _SECTIONS}
    for key in DERIVED_KEYS:
        section, k = key.split(".")
        if k in base[section]:
            raise ConfigError(key, base[section][k],
                              "is derived per task from sweep.seed in a sweep file; remove it")
    if "path" in base["output"]:
        raise ConfigError("output.path", base["output"]["path"],
                          "is set per task by the sweep (<out_dir>/<grid values>/sNNNN.h5); "
                          "remove it (set sweep.out_dir instead)")

    # [grid]
    grid = data.get("grid", {})
    keys = []
    values = {}
    for key, vals in grid.items():
        parts = key.split(".")
        if len(parts) != 2 or parts[0] not in _SECTIONS:
            raise ConfigError(f"grid.{key}", vals, "grid keys are quoted dotted config keys, e.g. \"sample.L\"")
        section, k = parts
        if section not in GRID_SECTIONS:
            raise ConfigError(f"grid.{key}", vals, "only [sample] and [anneal] keys can be swept")
        known = [f.name for f in dataclasses.fields(_SECTIONS[section])]
        if k not in known:
            raise ConfigError(f"grid.{key}", vals, f"unknown key; allowed in {section}: {', '.join(known)}")
        if key in DERIVED_KEYS:
            raise ConfigError(f"grid.{key}", vals, "seeds are derived per task from sweep.seed; "
                              "use sweep.samples for more disorder samples")
        if k in base[section]:
            raise ConfigError(f"grid.{key}", vals, f"also set in [{section}]; keep one of the two")
        if not isinstance(vals, list) or not vals:
            raise ConfigError(f"grid.{key}", vals, "must be a non-empty list of values")
        seen = set()
        for v in vals:
            c = canonical_json(canonical_value(key, v))
            if c in seen:
                raise ConfigError(f"grid.{key}", vals, f"value {v!r} appears twice")
            seen.add(c)
        keys.append(key)
        values[key] = vals
    keys.sort(key=lambda k: (GRID_SECTIONS.index(k.split(".")[0]), k))
    shorts = [short_key(k) for k in keys]
    if len(set(shorts)) != len(shorts):  # pragma: no cover - no such keys today
        raise ConfigError("grid", keys, "two grid keys share a name")

    rules = _parse_when(data.get("when", []), keys, values)

    sweep = Sweep(name=name, seed=seed, samples=samples, out_dir=Path(out_dir), source=source,
                  keys=keys, values=values, points=[])
    combos = list(itertools.product(*(values[k] for k in keys)))
    raw_points = [dict(zip(keys, combo)) for combo in combos]
    sweep.points = [{k: canonical_value(k, v) for k, v in rp.items()} for rp in raw_points]

    def make_config(p: int, sample: int, params: dict, task_path: Path) -> Config:
        s_seed, a_seed = task_seeds(seed, params, sample)
        cfg_data = copy.deepcopy(base)
        for k, v in raw_points[p].items():
            section, kk = k.split(".")
            cfg_data[section][kk] = copy.deepcopy(v)
        for k, v in _when_settings(rules, params).items():
            section, kk = k.split(".")
            cfg_data[section][kk] = copy.deepcopy(v)
        cfg_data["sample"]["seed"] = s_seed
        cfg_data["anneal"]["seed"] = a_seed
        cfg_data["output"]["path"] = str(task_path)
        try:
            return from_dict(cfg_data)
        except ConfigError as exc:
            where = point_label(params) or "every task"
            raise ConfigError(exc.key, exc.value, f"{exc.allowed} (grid point: {where})") from None

    n_points = len(raw_points)
    rel_dirs: dict = {}

    def make_task(tid: int) -> Task:
        sample, p = divmod(tid, n_points)
        params = sweep.points[p]
        rel = rel_dirs.get(p)
        if rel is None:
            rel = Path(*[f"{short_key(k)}={format_value(v)}" for k, v in params.items()]) \
                if params else Path()
            if n_points <= EAGER_POINTS:
                rel_dirs[p] = rel
        task_path = sweep.out_dir / rel / f"s{sample:04d}.h5"
        return Task(id=tid, point=p, sample=sample, params=params, path=task_path,
                    make_config=lambda: make_config(p, sample, params, task_path))

    sweep.tasks = TaskList(sweep, make_task)
    # every grid point's config is checked now (exit 2 before any work), the point's
    # other disorder samples differ only in their seeds; grids larger than EAGER_POINTS are
    # checked as their tasks are reached (a listing streams instead of waiting minutes).
    # Two tasks with one anneal seed would need a 63-bit collision: p ≈ n²/2⁶⁴.
    if n_points <= EAGER_POINTS:
        for p in range(n_points):
            _ = sweep.tasks[p].config
    return sweep


def _parse_when(when, keys: list, values: dict) -> list:
    """``[[when]]`` rules: grid key = value matches (all must hold) and a ``set`` table of
    dotted config keys applied to the matching tasks. Returns [(index, match, set)]."""
    if not isinstance(when, list):
        raise ConfigError("when", when, "must be an array of tables: [[when]]")
    rules = []
    for i, rule in enumerate(when):
        where = f"when[{i}]"
        if not isinstance(rule, dict):
            raise ConfigError(where, rule, "must be a table")
        settings = rule.get("set")
        if not isinstance(settings, dict) or not settings:
            raise ConfigError(f"{where}.set", settings, "required: a table of dotted config keys to set, "
                              'e.g. set = { "anneal.overrelaxation" = 1 }')
        match = {}
        for key, value in rule.items():
            if key == "set":
                continue
            if key not in keys:
                raise ConfigError(f"{where}.{key}", value, "match keys must be grid keys "
                                  f"({', '.join(keys) or 'the grid is empty'}); the settings go in set")
            c = canonical_value(key, value)
            if canonical_json(c) not in {canonical_json(canonical_value(key, v)) for v in values[key]}:
                raise ConfigError(f"{where}.{key}", value, f"is not one of the grid values {values[key]!r}")
            match[key] = c
        if not match:
            raise ConfigError(where, rule, "needs at least one grid key = value to match")
        for key, value in settings.items():
            parts = key.split(".")
            if len(parts) != 2 or parts[0] not in _SECTIONS:
                raise ConfigError(f"{where}.set.{key}", value, "keys are quoted dotted config keys, "
                                  'e.g. "anneal.sweeps"')
            known = [f.name for f in dataclasses.fields(_SECTIONS[parts[0]])]
            if parts[1] not in known:
                raise ConfigError(f"{where}.set.{key}", value,
                                  f"unknown key; allowed in {parts[0]}: {', '.join(known)}")
            if key in keys:
                raise ConfigError(f"{where}.set.{key}", value, "is a grid key")
            if key in DERIVED_KEYS or key == "output.path":
                raise ConfigError(f"{where}.set.{key}", value, "is derived per task by the sweep")
        rules.append((i, match, settings))
    return rules


def _when_settings(rules: list, params: dict) -> dict:
    out, origin = {}, {}
    for i, match, settings in rules:
        if all(params.get(k) == v for k, v in match.items()):
            for key, value in settings.items():
                if key in out and canonical_json(out[key]) != canonical_json(value):
                    raise ConfigError(f"when[{i}].set.{key}", value,
                                      f"when[{origin[key]}] sets it to {out[key]!r} for the same "
                                      f"grid point ({point_label(params)})")
                out[key], origin[key] = value, i
    return out
