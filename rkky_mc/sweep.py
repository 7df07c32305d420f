"""Parameter sweeps: a base config × a grid of values × disorder samples -> one run file per task.

A sweep file is a run config (``[sample]``, ``[anneal]``, ``[output]``) plus

    [sweep]
    name = "demo"            # [A-Za-z0-9._-]+; default out_dir is runs/out/<name>
    seed = 2024              # master seed: every task's sample.seed and anneal.seed derive from it
    samples = 8              # disorder samples per grid point (s0000 … s0007)
    out_dir = "runs/out/demo"  # optional; relative paths are relative to the working directory

    [grid]                   # every value is a list; the tasks are the cartesian product
    "sample.L" = [4, 6]
    "sample.spin" = ["ising", "heisenberg"]

    [[when]]                 # optional: settings for the tasks whose grid values match
    "sample.spin" = "heisenberg"
    set = { "anneal.overrelaxation" = 1, "anneal.temperatures" = [0.05, 0.1, 0.2] }

Task paths (stable, see docs/sweeps.md): ``<out_dir>/<k1>=<v1>/<k2>=<v2>/…/s<i:04d>.h5`` with the
[sample] grid keys first, then the [anneal] ones, each group in sorted order, ``k`` the key
without its table name. Values: integers as written, floats by ``repr`` (shortest round trip:
0.05, 1e-05, inf), booleans true/false, path-safe strings as they are, anything else (lists,
tables, strings with other characters) as ``h`` + 10 hex digits of its sha256.

Seeds: ``sample.seed`` = sha256("rkky_mc.sweep/1", "sample", sweep seed, the task's [sample]
grid values, sample index); ``anneal.seed`` = the same over *all* grid values. So one disorder
sample is shared by tasks that differ only in [anneal] grid keys (the same sample annealed with
different schedules), the thermal streams never are, and neither depends on the other tasks, on
the order of the grid, or on non-grid settings (``[[when]]`` rules included): adding grid
values or samples changes no existing task's path or seeds.

Task ids: ``id = sample_index · n_points + point_index`` (points in the product order of the
path keys, values in the order written). Ids — unlike paths and seeds — shift when the grid
grows; they only address tasks of one version of the sweep file (``--task``, SLURM arrays).

Executors: in process (``--jobs 1``, ``--task``), a spawn ProcessPoolExecutor (``--jobs K``), MPI
(``--mpi``: mpi4py.futures.MPICommExecutor under ``mpiexec``), SLURM (``--slurm`` writes an sbatch
array script). Every executor runs :func:`run_spec` on each task, which takes the task's lock,
looks at its file and starts, resumes (or extends) or skips it.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
import shlex
import signal
import socket
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .config import Config, ConfigError, from_dict, load_config, _SECTIONS

SEED_TAG = "rkky_mc.sweep/1"
SWEEP_KEYS = ("name", "seed", "samples", "out_dir")
GRID_SECTIONS = ("sample", "anneal")
DERIVED_KEYS = ("sample.seed", "anneal.seed")
LOG_NAME = "sweep.log"

EXIT_OK, EXIT_BAD_INPUT, EXIT_RESUMABLE, EXIT_FAILURE = 0, 2, 75, 1

_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_SAFE_VALUE_RE = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,63}")


# ---- the sweep file -----------------------------------------------------------------------


@dataclass
class Task:
    id: int
    point: int                 # grid point index
    sample: int                # disorder sample index
    params: dict               # dotted key -> canonical value (path order)
    path: Path
    config: Config

    @property
    def label(self) -> str:
        return point_label(self.params) + (" " if self.params else "") + f"s{self.sample:04d}"


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
    tasks: list = field(default_factory=list)

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

    seeds_seen = {}
    for sample in range(samples):
        for p, (raw, params) in enumerate(zip(raw_points, sweep.points)):
            tid = sample * len(raw_points) + p
            rel = Path(*[f"{short_key(k)}={format_value(v)}" for k, v in params.items()]) \
                if params else Path()
            task_path = sweep.out_dir / rel / f"s{sample:04d}.h5"
            s_seed, a_seed = task_seeds(seed, params, sample)
            if a_seed in seeds_seen:  # pragma: no cover - a 63-bit collision
                raise ConfigError("sweep.seed", seed, f"tasks {seeds_seen[a_seed]} and {tid} got the "
                                  "same anneal seed; choose another sweep seed")
            seeds_seen[a_seed] = tid
            cfg_data = copy.deepcopy(base)
            for k, v in raw.items():
                section, kk = k.split(".")
                cfg_data[section][kk] = copy.deepcopy(v)
            for k, v in _when_settings(rules, params).items():
                section, kk = k.split(".")
                cfg_data[section][kk] = copy.deepcopy(v)
            cfg_data["sample"]["seed"] = s_seed
            cfg_data["anneal"]["seed"] = a_seed
            cfg_data["output"]["path"] = str(task_path)
            try:
                cfg = from_dict(cfg_data)
            except ConfigError as exc:
                where = point_label(params) or "every task"
                raise ConfigError(exc.key, exc.value, f"{exc.allowed} (grid point: {where})") from None
            sweep.tasks.append(Task(id=tid, point=p, sample=sample, params=params, path=task_path,
                                    config=cfg))
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


# ---- the state of a task's file -----------------------------------------------------------


@dataclass
class TaskState:
    kind: str                  # done | partial | missing | mismatch
    detail: str = ""
    extra_sweeps: int = 0      # partial: extend the stored run by this many sweeps


_IGNORED_DIFF = {("output", "path"), ("output", "checkpoint_interval")}


def config_diff(stored: Config, wanted: Config) -> list[tuple[str, object, object]]:
    """[(dotted key, stored value, wanted value)] of settings that differ (paths and
    checkpoint intervals ignored; temperature ladders compared to 1e-12)."""
    a, b = stored.to_dict(), wanted.to_dict()
    out = []
    for section in b:
        for key in b[section]:
            if (section, key) in _IGNORED_DIFF:
                continue
            va, vb = a[section].get(key), b[section][key]
            if key == "temperatures" and isinstance(va, list) and isinstance(vb, list) and len(va) == len(vb):
                if all(math.isclose(x, y, rel_tol=1e-12, abs_tol=0.0) for x, y in zip(va, vb)):
                    continue
            if va != vb:
                out.append((f"{section}.{key}", va, vb))
    return out


def inspect(path, cfg: Config) -> TaskState:
    """What the file at ``path`` holds relative to the task's config ``cfg``."""
    from .checkpoint import prev_path

    p = Path(path)
    if not p.exists() and not prev_path(p).exists():
        return TaskState("missing")
    try:
        import h5py

        with h5py.File(str(p), "r", locking=False) as f:
            status = f.attrs["status"]
            text = f.attrs["config"]
        status = status.decode() if isinstance(status, bytes) else str(status)
        text = text.decode() if isinstance(text, bytes) else str(text)
    except Exception as exc:  # noqa: BLE001 - any damage: the resume recovers or says why
        return TaskState("partial", f"latest generation unreadable ({type(exc).__name__}); resume recovers")
    try:
        stored = load_config(text=text)
    except ConfigError as exc:
        return TaskState("mismatch", f"its stored config does not load ({exc})")
    diff = config_diff(stored, cfg)
    extra = 0
    if len(diff) == 1 and diff[0][0] == "anneal.sweeps":
        have, want = diff[0][1], diff[0][2]
        if have < want:
            extra = want - have
        diff = []  # a file with more sweeps than asked for is at least as good
    if diff:
        shown = "; ".join(f"{k}: {_short(va)} in the file, {_short(vb)} in the sweep" for k, va, vb in diff[:3])
        more = f" (+{len(diff) - 3} more)" if len(diff) > 3 else ""
        return TaskState("mismatch", f"made with a different config ({shown}{more}); "
                                     "delete it, or restore the sweep file")
    if status == "finished" and extra == 0:
        return TaskState("done")
    if extra:
        return TaskState("partial", f"extend by {extra} sweeps", extra_sweeps=extra)
    return TaskState("partial")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---- running one task (every executor ends here) ------------------------------------------

_SIGNALLED: str | None = None      # a stop signal that arrived outside a running task
_STOP_EVENT = None                  # pool workers: set by the parent to stop everything
_PARENT_PID: int | None = None      # pool workers: stop when the parent is gone


def _note_signal(signum, frame):
    global _SIGNALLED
    _SIGNALLED = signal.Signals(signum).name


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


def install_worker_signals() -> dict:
    """Between tasks a worker only notes SIGTERM/SIGINT/SIGUSR1 (the next task then does not
    start); during a task the run's StopFlag has them (checkpoint at the next sweep).
    Returns the previous handlers."""
    global _SIGNALLED
    _SIGNALLED = None
    return {sig: signal.signal(sig, _note_signal) for sig in _STOP_SIGNALS}


def restore_signals(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _pool_worker_init(threads: int, event, parent_pid: int) -> None:
    # the parent spawned this worker with NUMBA_NUM_THREADS = threads in its environment;
    # if numba was imported already (spawn imports the parent's main module), lower it here
    apply_threads(threads)
    global _STOP_EVENT, _PARENT_PID
    _STOP_EVENT, _PARENT_PID = event, parent_pid
    install_worker_signals()
    import threading

    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                     name="rkky-mc-watch-parent").start()


_BUSY = False  # a task is running in this process
MIN_WALLTIME_TO_START = 10.0  # seconds: with less wall time left (--max-walltime), no task starts


SIGNAL_GRACE = 2.0  # seconds an idle, signalled worker waits for the parent's stop event


def _watch_parent(parent_pid: int) -> None:
    """Exit an idle pool worker (its task, if any, has checkpointed and stopped) when

    * its parent died (SIGKILL, OOM): it would wait for work forever;
    * it got a stop signal but the parent did not stop the sweep within SIGNAL_GRACE seconds:
      the signal was not a sweep-wide stop but the pool terminating its workers after another
      worker died (or a kill of this worker alone), and the pool joins them.

    After a sweep-wide stop (the parent's event is set) workers wait for the pool's orderly
    shutdown: exiting on their own would make the pool report the running tasks as failed."""
    signalled_at = None
    while True:
        time.sleep(0.25)
        if _BUSY:
            continue
        if os.getppid() != parent_pid:
            os._exit(EXIT_RESUMABLE)
        if _SIGNALLED is not None and not (_STOP_EVENT is not None and _STOP_EVENT.is_set()):
            signalled_at = signalled_at or time.monotonic()
            if time.monotonic() - signalled_at > SIGNAL_GRACE:
                os._exit(EXIT_RESUMABLE)
        else:
            signalled_at = None


def _external_stop() -> str | None:
    if _SIGNALLED is not None:
        return _SIGNALLED
    if _STOP_EVENT is not None and _STOP_EVENT.is_set():
        return "sweep stopped"
    if _PARENT_PID is not None and os.getppid() != _PARENT_PID:
        return "parent process gone"
    return None


def _task_stop_class():
    from .cli import StopFlag

    class TaskStop(StopFlag):
        """The run's StopFlag, plus: the sweep was stopped, or the pool's parent died."""

        def __init__(self, max_walltime=None):
            super().__init__(max_walltime)
            self._next_poll = 0.0

        def _handler(self, signum, frame):
            super()._handler(signum, frame)
            _note_signal(signum, frame)  # the worker remembers it after this task

        def __call__(self) -> bool:
            if super().__call__():
                return True
            now = time.monotonic()
            if now >= self._next_poll:
                self._next_poll = now + 0.2
                reason = _external_stop()
                if reason is not None:
                    self.requested = reason
                    return True
            return False

    return TaskStop


def log_line(out_dir: Path, **fields) -> None:
    """Append one line to <out_dir>/sweep.log (one write, O_APPEND)."""
    parts = [time.strftime("%Y-%m-%dT%H:%M:%S"), f"host={socket.gethostname()}", f"pid={os.getpid()}"]
    parts += [f"{k}={v}" for k, v in fields.items()]
    line = (" ".join(parts) + "\n").encode()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(out_dir / LOG_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:
        pass


def task_spec(sweep: Sweep, task: Task, argv=None, deadline: float | None = None,
              threads: int | None = None) -> dict:
    """A picklable description of one task for a worker (process, MPI rank)."""
    return {"id": task.id, "path": str(task.path), "config": task.config.to_toml(),
            "label": task.label, "out_dir": str(sweep.out_dir),
            "argv": list(sys.argv if argv is None else argv), "deadline": deadline,
            "threads": threads}


_LOCAL_THREADS: int | None = None   # MPI worker ranks: threads for this node (set by run_mpi)


def apply_threads(threads: int | None) -> None:
    """numba threads for the runs of this process: through NUMBA_NUM_THREADS while numba is
    not imported (it sizes its pool from it), else numba.set_num_threads (for the calling
    thread, which runs the tasks). Never changes NUMBA_NUM_THREADS once numba is imported:
    numba refuses a new value after its threads have started."""
    if not threads:
        return
    if "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = str(threads)
        return
    import numba

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


class _env_var:
    """Set an environment variable for the duration of a ``with`` block (None: leave it)."""

    def __init__(self, name: str, value: str | None):
        self.name, self.value, self.old = name, value, None

    def __enter__(self):
        if self.value is not None:
            self.old = os.environ.get(self.name)
            os.environ[self.name] = self.value
        return self

    def __exit__(self, *exc):
        if self.value is not None:
            if self.old is None:
                os.environ.pop(self.name, None)
            else:
                os.environ[self.name] = self.old
        return False


def run_spec(spec: dict) -> dict:
    """Run one task (start, resume, extend or skip it). Never raises; returns
    {"id", "code", "action", "message", "seconds", "sweeps"} with code 0 done, 75 stopped,
    2 bad input (lock held, unusable file, config mismatch), 1 failure."""
    global _BUSY
    _BUSY = True
    try:
        return _run_spec(spec)
    finally:
        _BUSY = False


def _run_spec(spec: dict) -> dict:
    t0 = time.monotonic()
    out = {"id": spec["id"], "code": EXIT_FAILURE, "action": "failed", "message": "", "seconds": 0.0,
           "sweeps": 0}
    out_dir = Path(spec["out_dir"])
    try:
        code, action, message, sweeps = _run_task(spec)
        out.update(code=code, action=action, message=message, sweeps=sweeps)
    except BaseException as exc:  # noqa: BLE001 - report, never kill the pool
        import traceback

        out["message"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
        if isinstance(exc, KeyboardInterrupt):
            out.update(code=EXIT_RESUMABLE, action="stopped", message="interrupted")
    out["seconds"] = time.monotonic() - t0
    if out["action"] != "skip":
        log_line(out_dir, task=spec["id"], action=out["action"], code=out["code"],
                 seconds=f"{out['seconds']:.2f}", sweeps=out["sweeps"], path=spec["path"])
    return out


def _run_task(spec: dict):
    from . import provenance
    from .checkpoint import CheckpointError
    from .cli import RunLock, locking_enabled
    from .hdf5 import FormatError

    path = Path(spec["path"])
    apply_threads(spec.get("threads") or _LOCAL_THREADS)
    reason = _external_stop()
    if reason is not None:
        return EXIT_RESUMABLE, "not-started", f"not started ({reason})", 0
    cfg = load_config(text=spec["config"])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return EXIT_BAD_INPUT, "error", f"cannot create {path.parent} ({exc.strerror})", 0
    deadline = spec.get("deadline")
    walltime = None if deadline is None else deadline - time.time()
    if walltime is not None and walltime < MIN_WALLTIME_TO_START:
        return EXIT_RESUMABLE, "not-started", "not started (wall time nearly used up)", 0
    TaskStop = _task_stop_class()
    try:
        with RunLock(path, locking_enabled(False)):
            state = inspect(path, cfg)
            if state.kind == "done":
                return EXIT_OK, "skip", "", 0
            if state.kind == "mismatch":
                return EXIT_BAD_INPUT, "error", f"{path}: {state.detail}", 0
            prov = provenance.collect(spec.get("argv"))
            prov["sweep_task"] = f"{spec['id']} ({spec.get('label', '')})"
            log_line(Path(spec["out_dir"]), task=spec["id"],
                     action="start" if state.kind == "missing" else
                     ("extend" if state.extra_sweeps else "resume"), path=path)
            with TaskStop(walltime) as stop:
                if state.kind == "missing":
                    from .couplings import build_sample
                    from .simulation import start_run

                    sample = build_sample(cfg.sample, precision=cfg.anneal.precision)
                    sim = start_run(cfg, sample, path, prov, stop=stop)
                else:
                    from .simulation import ResumeError, prepare_resume, resume_run

                    try:
                        sim, info = prepare_resume(path, state.extra_sweeps)
                    except (CheckpointError, FormatError, ResumeError) as exc:
                        return EXIT_BAD_INPUT, "error", f"{path}: cannot resume ({exc}); delete it to start over", 0
                    if info["status"] == "finished" and sim.sweeps_done >= sim.cfg.total_sweeps:
                        return EXIT_OK, "skip", "", 0
                    resume_run(sim, info, prov, stop=stop)
            if sim.finished:
                return EXIT_OK, "finished", "", sim.sweeps_done
            return (EXIT_RESUMABLE, "stopped",
                    f"stopped ({stop.requested}) after {sim.sweeps_done} of {sim.cfg.total_sweeps} sweeps",
                    sim.sweeps_done)
    except ConfigError as exc:
        return EXIT_BAD_INPUT, "error", str(exc), 0


# ---- planning ------------------------------------------------------------------------------


def plan(sweep: Sweep, tasks=None) -> list[tuple[Task, TaskState]]:
    return [(t, inspect(t.path, t.config)) for t in (sweep.tasks if tasks is None else tasks)]


def check_plan(states) -> None:
    """ConfigError (exit 2, before any work) if a task's file holds a different run."""
    bad = [(t, s) for t, s in states if s.kind == "mismatch"]
    if bad:
        t, s = bad[0]
        more = f" [and {len(bad) - 1} more task(s)]" if len(bad) > 1 else ""
        raise ConfigError(f"task {t.id}", str(t.path), s.detail + more)


def status_text(sweep: Sweep, states) -> str:
    counts = {"done": 0, "partial": 0, "missing": 0, "mismatch": 0}
    per_point = [dict.fromkeys(counts, 0) for _ in sweep.points]
    for t, s in states:
        counts[s.kind] += 1
        per_point[t.point][s.kind] += 1
    total = len(states)
    lines = [f"sweep {sweep.name}: {total} tasks ({sweep.n_points} grid point(s) × {sweep.samples} "
             f"sample(s)) in {sweep.out_dir}",
             "  " + ", ".join(f"{k} {v}" for k, v in counts.items() if v or k != "mismatch")]
    if sweep.keys:
        width = max(len(point_label(p)) for p in sweep.points)
        for p, c in zip(sweep.points, per_point):
            lines.append(f"  {point_label(p):<{width}}  " +
                         "  ".join(f"{k} {v}" for k, v in c.items() if v or k != "mismatch"))
    return "\n".join(lines)


def dry_run_text(sweep: Sweep, states) -> str:
    lines = []
    todo = [(t, s) for t, s in states if s.kind != "done"]
    for t, s in todo:
        extra = f"  ({s.detail})" if s.detail else ""
        lines.append(f"{t.id:6d}  {s.kind:<8}  {t.path}{extra}")
    n_done = len(states) - len(todo)
    lines.append(f"sweep {sweep.name}: {len(todo)} of {len(states)} task(s) would run "
                 f"({n_done} done)")
    return "\n".join(lines)


# ---- executors -----------------------------------------------------------------------------


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _overall_code(results: list[dict], n_left: int) -> int:
    codes = [r["code"] for r in results]
    if any(c not in (EXIT_OK, EXIT_RESUMABLE) for c in codes):
        return EXIT_FAILURE
    if n_left or any(c == EXIT_RESUMABLE for c in codes):
        return EXIT_RESUMABLE
    return EXIT_OK


class _Reporter:
    """The overall bar (tasks) and one line per failed/stopped task."""

    def __init__(self, sweep: Sweep, total: int, initial: int, quiet: bool):
        from tqdm import tqdm

        self.quiet = quiet
        show = not quiet and sys.stderr.isatty()
        self.bar = tqdm(total=total, initial=initial, unit="task", file=sys.stderr, disable=not show,
                        dynamic_ncols=True, desc=sweep.name)
        self.results = []
        self._said = set()

    def add(self, r: dict) -> None:
        self.results.append(r)
        if r["code"] == EXIT_OK:
            self.bar.update(1)
        elif r.get("once"):
            if r["message"] not in self._said:
                self._said.add(r["message"])
                self._say(f"rkky-mc sweep: {r['message']}")
        elif r["code"] != EXIT_RESUMABLE:
            self._say(f"rkky-mc sweep: task {r['id']} failed (exit {r['code']}): {r['message']}")
            if r.get("traceback") and not self.quiet:
                self._say(r["traceback"].rstrip())

    def _say(self, text: str) -> None:
        if self.bar.disable:
            print(text, file=sys.stderr, flush=True)
        else:
            self.bar.write(text, file=sys.stderr)

    def close(self):
        self.bar.close()


def _summary(sweep: Sweep, results, n_todo: int, n_total: int, seconds: float, stop_reason, code) -> str:
    n_ok = sum(r["code"] == EXIT_OK for r in results)
    n_failed = sum(r["code"] not in (EXIT_OK, EXIT_RESUMABLE) for r in results)
    left = n_todo - n_ok
    head = f"rkky-mc sweep: {sweep.name}: {n_ok} task(s) run to the end in {seconds:.1f} s"
    if code == EXIT_OK:
        return head + f"; all {n_total} done ({sweep.out_dir})"
    tail = f"; {left} of {n_total} not done"
    if n_failed:
        tail += f" ({n_failed} failed)"
    if not stop_reason:
        stop_reason = next((r["message"].split(" after ")[0].removeprefix("stopped (").rstrip(")")
                            for r in results if r.get("action") == "stopped"), None)
    if stop_reason:
        tail += f"; stopped ({stop_reason})"
    return head + tail + "; re-run the same command to continue"


def run_local(sweep: Sweep, todo: list, jobs: int, quiet: bool, n_done: int, walltime=None,
              threads: int | None = None) -> int:
    """Run ``todo`` tasks in this process (jobs = 1) or a spawn process pool."""
    from .cli import StopFlag

    t0 = time.monotonic()
    deadline = None if walltime is None else time.time() + walltime
    n_total = n_done + len(todo)
    reporter = _Reporter(sweep, n_total, n_done, quiet)
    stop_reason = None
    try:
        if jobs <= 1 or len(todo) <= 1:
            previous = install_worker_signals()  # outside a task, a signal stops the sweep
            try:
                for t in todo:
                    r = run_spec(task_spec(sweep, t, deadline=deadline, threads=threads))
                    reporter.add(r)
                    if r["code"] == EXIT_RESUMABLE or _SIGNALLED:
                        stop_reason = _SIGNALLED or r["message"]
                        break
            finally:
                restore_signals(previous)
        else:
            stop_reason = _run_pool(sweep, todo, jobs, reporter, deadline, threads, StopFlag)
    finally:
        reporter.close()
    results = reporter.results
    n_left = len(todo) - sum(r["code"] == EXIT_OK for r in results)
    code = _overall_code(results, n_left)
    if not quiet or code != EXIT_OK:
        print(_summary(sweep, results, len(todo), n_total, time.monotonic() - t0, stop_reason, code),
              file=sys.stderr)
    return code


def _run_pool(sweep, todo, jobs, reporter, deadline, threads, StopFlag):
    import concurrent.futures as cf
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    workers = min(jobs, len(todo))
    if threads is None:
        threads = max(1, available_cores() // workers)
    event = ctx.Event()
    stop_reason = None

    class PoolStop(StopFlag):
        def _handler(self, signum, frame):
            super()._handler(signum, frame)
            event.set()  # at once: idle workers that got the same signal wait for it

    with PoolStop() as stop, cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_pool_worker_init,
            initargs=(threads, event, os.getpid())) as pool:
        # the workers are spawned at the first submit and inherit this environment: numba
        # sizes its thread pool from it at import (the parent itself never starts numba threads)
        with _env_var("NUMBA_NUM_THREADS", str(threads)):
            futures = {pool.submit(run_spec, task_spec(sweep, t, deadline=deadline)): t for t in todo}
        pending = set(futures)
        stopping = False
        while pending:
            done, pending = cf.wait(pending, timeout=0.1, return_when=cf.FIRST_COMPLETED)
            for f in done:
                if f.cancelled():
                    continue
                try:
                    reporter.add(f.result())
                except cf.process.BrokenProcessPool:
                    reporter.add({"id": futures[f].id, "code": EXIT_FAILURE, "action": "failed",
                                  "once": True,
                                  "message": "a worker process died (killed? out of memory?); the "
                                             "tasks it and the pool had not completed are left as they "
                                             "are (see sweep.log)"})
                except Exception as exc:  # noqa: BLE001
                    reporter.add({"id": futures[f].id, "code": EXIT_FAILURE, "action": "failed",
                                  "message": f"{type(exc).__name__}: {exc}"})
            if not stopping and (stop.requested or
                                 (deadline is not None and time.time() > deadline)):
                stopping = True
                stop_reason = stop.requested or "walltime"
                event.set()  # running tasks checkpoint and stop; queued ones do not start
                for f in pending:
                    f.cancel()
                pending = {f for f in pending if not f.cancelled()}
    return stop_reason


def run_mpi(sweep: Sweep, todo_fn, quiet: bool, walltime=None, threads: int | None = None) -> int:
    """Under ``mpiexec -n K``: rank 0 schedules, ranks 1..K-1 run tasks (MPICommExecutor;
    also works under ``python -m mpi4py.futures``). ``todo_fn() -> (todo, n_done)`` plans on
    rank 0 only (a ConfigError there is re-raised on rank 0; the other ranks return 2)."""
    MPI, MPICommExecutor = import_mpi()
    from .cli import StopFlag

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    if _mpi_shared_pool():
        # `python -m mpi4py.futures …`: only rank 0 runs this code; the others already serve
        # the shared pool (no collectives here). Threads: NUMBA_NUM_THREADS from the environment.
        previous = install_worker_signals()
        try:
            with MPICommExecutor(comm, root=0) as pool:
                if threads is None and "NUMBA_NUM_THREADS" not in os.environ:
                    threads = max(1, available_cores() // max(1, size - 1))  # as if on one node
                return _mpi_root(sweep, pool, todo_fn(), quiet, walltime, size, StopFlag, threads)
        finally:
            restore_signals(previous)
    # numba threads: the cores of a node shared by the worker ranks on it (rank 0 only schedules)
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    n_local_workers = local.Get_size() - local.allreduce(1 if rank == 0 else 0)
    local.Free()
    global _LOCAL_THREADS
    if threads is not None:
        _LOCAL_THREADS = threads
    elif "NUMBA_NUM_THREADS" not in os.environ:
        _LOCAL_THREADS = max(1, available_cores() // max(1, n_local_workers))
    if size == 1:
        todo, n_done = todo_fn()
        if not quiet:
            print("rkky-mc sweep: --mpi with one MPI process: running the tasks in this process",
                  file=sys.stderr)
        return run_local(sweep, todo, 1, quiet, n_done, walltime, threads)
    error, planned = None, None
    if rank == 0:
        try:
            planned = todo_fn()
        except ConfigError as exc:
            error = exc
    if comm.bcast(error is not None, root=0):
        if rank == 0:
            raise error
        return EXIT_BAD_INPUT
    previous = install_worker_signals()
    code = EXIT_OK
    try:
        with MPICommExecutor(comm, root=0) as pool:
            if pool is not None:  # rank 0
                code = _mpi_root(sweep, pool, planned, quiet, walltime, size, StopFlag)
    finally:
        restore_signals(previous)
    return code if rank == 0 else EXIT_OK


def _mpi_shared_pool() -> bool:
    try:
        from mpi4py.futures import _core
    except ImportError:  # pragma: no cover
        return False
    return getattr(_core, "SharedPool", None) is not None


def import_mpi():
    try:
        from mpi4py import MPI
        from mpi4py.futures import MPICommExecutor
    except ImportError as exc:
        raise ConfigError("--mpi", str(exc), "needs mpi4py and an MPI: pip install 'rkky_mc[mpi]'") from None
    return MPI, MPICommExecutor


def _mpi_root(sweep, pool, planned, quiet, walltime, size, StopFlag, threads=None) -> int:
    import concurrent.futures as cf

    t0 = time.monotonic()
    todo, n_done = planned
    deadline = None if walltime is None else time.time() + walltime
    reporter = _Reporter(sweep, n_done + len(todo), n_done, quiet)
    stop_reason = None
    try:
        with StopFlag() as stop:
            pending = {pool.submit(run_spec, task_spec(sweep, t, deadline=deadline, threads=threads))
                       for t in todo}
            stopping = False
            while pending:
                done, pending = cf.wait(pending, timeout=0.25, return_when=cf.FIRST_COMPLETED)
                for f in done:
                    if f.cancelled():
                        continue
                    try:
                        reporter.add(f.result())
                    except Exception as exc:  # noqa: BLE001 - a rank failed
                        reporter.add({"id": -1, "code": EXIT_FAILURE, "action": "failed",
                                      "message": f"MPI worker failed: {type(exc).__name__}: {exc}"})
                if not stopping and (stop.requested or _SIGNALLED or
                                     (deadline is not None and time.time() > deadline)):
                    stopping = True
                    stop_reason = stop.requested or _SIGNALLED or "walltime"
                    for f in pending:
                        f.cancel()
                    pending = {f for f in pending if not f.cancelled()}
    finally:
        reporter.close()
    results = reporter.results
    n_left = len(todo) - sum(r["code"] == EXIT_OK for r in results)
    code = _overall_code(results, n_left)
    if not quiet or code != EXIT_OK:
        print(_summary(sweep, results, len(todo), n_done + len(todo), time.monotonic() - t0,
                       stop_reason, code) + f" [MPI, {size - 1} worker rank(s)]", file=sys.stderr)
    return code


def run_tasks_inline(sweep: Sweep, tasks: list, quiet: bool, walltime=None, threads=None) -> int:
    """``--task I`` (one task, or one chunk of tasks, in this process): the exit code of the
    run (0 done, 75 stopped and resumable, 2 bad input, 1 failure)."""
    deadline = None if walltime is None else time.time() + walltime
    previous = install_worker_signals()
    try:
        return _run_inline(sweep, tasks, quiet, deadline, threads)
    finally:
        restore_signals(previous)


def _run_inline(sweep, tasks, quiet, deadline, threads) -> int:
    code = EXIT_OK
    for t in tasks:
        r = run_spec(task_spec(sweep, t, deadline=deadline, threads=threads))
        if r["code"] != EXIT_OK or not quiet:
            what = {"skip": "already done", "finished": "done"}.get(r["action"], r["action"])
            msg = f" — {r['message']}" if r["message"] else ""
            print(f"rkky-mc sweep: task {t.id} [{t.label}] {t.path}: {what}{msg}", file=sys.stderr)
            if r.get("traceback"):
                print(r["traceback"].rstrip(), file=sys.stderr)
        if r["code"] != EXIT_OK:
            code = r["code"] if code == EXIT_OK else code
            if r["code"] == EXIT_RESUMABLE:
                return EXIT_RESUMABLE if code == EXIT_RESUMABLE else code
    return code


# ---- SLURM --------------------------------------------------------------------------------


def slurm_script(sweep: Sweep, sweep_file: Path, chunk: int = 1, time_limit: str = "24:00:00",
                 signal_seconds: int = 300, cpus_per_task: int = 1, max_running: int | None = None,
                 extra_options=(), executable: str | None = None, workdir: Path | None = None,
                 numba_seed_cache: str | None = None) -> str:
    """An sbatch array script: element i runs ``rkky-mc sweep SWEEP --task i --chunk C``."""
    workdir = Path(workdir or Path.cwd()).resolve()
    sweep_file = Path(sweep_file).resolve()
    out_dir = sweep.out_dir if sweep.out_dir.is_absolute() else workdir / sweep.out_dir
    n = sweep.n_chunks(chunk)
    array = f"0-{n - 1}" + (f"%{max_running}" if max_running else "")
    exe = executable or _rkky_executable()
    q = shlex.quote
    lines = [
        "#!/bin/bash",
        f"# rkky_mc sweep {sweep.name!r}: {len(sweep.tasks)} task(s) in {n} array element(s) of "
        f"{chunk} task(s)",
        f"# written by: rkky-mc sweep {sweep_file} --slurm --chunk {chunk}",
        "# submit with: sbatch THIS_FILE   (re-submitting is safe: finished tasks are skipped)",
        "# Regenerate this script whenever the sweep file changes (task ids follow the grid).",
        f"#SBATCH --job-name=rkky-{sweep.name}",
        f"#SBATCH --array={array}",
        "#SBATCH --ntasks=1",
        f"#SBATCH --cpus-per-task={cpus_per_task}",
        f"#SBATCH --time={time_limit}",
        f"#SBATCH --signal=B:USR1@{signal_seconds}",
        "#SBATCH --requeue",
        "#SBATCH --open-mode=append",
        f"#SBATCH --output={out_dir}/slurm/%A_%a.out",
    ]
    lines += [f"#SBATCH {opt}" for opt in extra_options]
    lines += [
        "",
        "set -u",
        f"cd {q(str(workdir))} || exit 1",
        "# HDF5 file locks do not work on many cluster file systems; rkky_mc's own lock files",
        "# are switched off with it (each array element owns its tasks).",
        "export HDF5_USE_FILE_LOCKING=FALSE",
        "# numba's cache: one directory per array element (concurrent writers on a shared file",
        "# system corrupt it), seeded from a warm cache when there is one",
        'export NUMBA_CACHE_DIR="${TMPDIR:-/tmp}/rkky_mc_numba.${SLURM_ARRAY_JOB_ID:-0}_${SLURM_ARRAY_TASK_ID:-0}"',
        'mkdir -p "$NUMBA_CACHE_DIR"',
        f"NUMBA_SEED_CACHE={q(numba_seed_cache or '')}",
        'if [ -n "$NUMBA_SEED_CACHE" ] && [ -d "$NUMBA_SEED_CACHE" ]; then',
        '    cp -R "$NUMBA_SEED_CACHE"/. "$NUMBA_CACHE_DIR"/ 2>/dev/null || true',
        "fi",
        "export NUMBA_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-%d}\"" % cpus_per_task,
        "",
        f"{exe} sweep {q(str(sweep_file))} --task \"$SLURM_ARRAY_TASK_ID\" --chunk {chunk} --quiet &",
        "child=$!",
        "# the early-warning signal (and a TERM at the time limit) go to this shell: pass them on,",
        "# the run checkpoints at the next sweep and exits with 75",
        "trap 'kill -USR1 \"$child\" 2>/dev/null' USR1",
        "trap 'kill -TERM \"$child\" 2>/dev/null' TERM",
        "while :; do",
        '    wait "$child"; code=$?',
        '    [ "$code" -le 128 ] && break                 # the child\'s own exit status',
        '    kill -0 "$child" 2>/dev/null && continue     # wait was cut short by a trapped signal',
        '    wait "$child" 2>/dev/null; c=$?              # the child ended meanwhile: its status',
        '    [ "$c" -ne 127 ] && code=$c',
        "    break",
        "done",
        'rm -rf "$NUMBA_CACHE_DIR"',
        'if [ "$code" -eq 75 ]; then',
        '    echo "rkky-mc: task(s) of array element ${SLURM_ARRAY_TASK_ID} stopped early; requeueing" >&2',
        '    scontrol requeue "$SLURM_JOB_ID"',
        "fi",
        'exit "$code"',
        "",
    ]
    return "\n".join(lines)


def _rkky_executable() -> str:
    """The rkky-mc command of this installation, shell-quoted."""
    import shutil

    exe = Path(sys.executable).parent / "rkky-mc"
    if exe.exists():
        return shlex.quote(str(exe))
    found = shutil.which("rkky-mc")
    if found:
        return shlex.quote(str(Path(found).resolve()))
    return f"{shlex.quote(sys.executable)} -m rkky_mc.cli"


def default_numba_cache() -> str:
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rkky_mc", "numba")
    return str(Path(base).resolve())


# ---- the command ---------------------------------------------------------------------------

import click  # noqa: E402


def _mpi_rank_from_env() -> int:
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK"):
        value = os.environ.get(var)
        if value is not None and value.isdigit():
            return int(value)
    return 0


@click.command("sweep")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--jobs", "-j", default=None, type=int, metavar="K",
              help="Run K tasks at a time in worker processes (default 1: in this process).")
@click.option("--mpi", is_flag=True, help="Run under mpiexec -n K: rank 0 schedules, K-1 ranks work.")
@click.option("--slurm", is_flag=True, help="Write an sbatch array script (does not submit it).")
@click.option("--task", "task", default=None, type=int, metavar="I",
              help="Run only task I (with --chunk C: tasks I·C … I·C+C-1) in this process.")
@click.option("--chunk", default=1, type=int, metavar="C", show_default=True,
              help="Tasks per --task index / SLURM array element.")
@click.option("--dry-run", is_flag=True, help="List the tasks that would run (id, state, path).")
@click.option("--status", is_flag=True, help="Count done / partial / missing tasks.")
@click.option("--threads", default=None, type=int, metavar="T",
              help="numba threads per run (default: cores // K with --jobs K; else all cores "
                   "or NUMBA_NUM_THREADS).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, no summary on success.")
@click.option("--max-walltime", default=None, metavar="HH:MM:SS",
              help="Stop every run (checkpoint, exit 75) before this much wall time has passed.")
@click.option("--script", "script_path", default=None, type=click.Path(dir_okay=False),
              help="--slurm: where to write the script (default <out_dir>/<name>.sbatch).")
@click.option("--slurm-time", default="24:00:00", show_default=True, help="--slurm: #SBATCH --time.")
@click.option("--slurm-signal", default=300, type=int, show_default=True, metavar="SECONDS",
              help="--slurm: USR1 this long before the time limit (the run checkpoints, requeues).")
@click.option("--slurm-cpus", default=1, type=int, show_default=True,
              help="--slurm: cpus per array element (= numba threads).")
@click.option("--slurm-max-running", default=None, type=int, metavar="N",
              help="--slurm: at most N array elements at a time (--array=...%N).")
@click.option("--slurm-option", "slurm_options", multiple=True, metavar="OPT",
              help="--slurm: an extra #SBATCH line, e.g. --slurm-option=--partition=short.")
def sweep_command(sweep_file, jobs, mpi, slurm, task, chunk, dry_run, status, threads, quiet,
                  max_walltime, script_path, slurm_time, slurm_signal, slurm_cpus, slurm_max_running,
                  slurm_options):
    """Run the parameter sweep SWEEP_FILE: a base config, a [grid] of values and a number of
    disorder samples -> one run file per task under runs/out/<name>/. Re-running continues it:
    finished tasks are skipped, interrupted ones resumed, missing ones started.

    Exit codes: 0 all done, 2 bad input, 75 stopped early (re-run to continue), 1 a task failed.
    """
    from .cli import fail_bad_input, parse_walltime

    try:
        code = _sweep_main(sweep_file, jobs, mpi, slurm, task, chunk, dry_run, status, threads, quiet,
                           parse_walltime(max_walltime), script_path, slurm_time, slurm_signal,
                           slurm_cpus, slurm_max_running, slurm_options)
    except ConfigError as exc:
        if mpi and _mpi_rank_from_env() != 0:
            sys.exit(EXIT_BAD_INPUT)  # rank 0 says it
        fail_bad_input(exc)
    sys.exit(code)


def _sweep_main(sweep_file, jobs, mpi, slurm, task, chunk, dry_run, status, threads, quiet, walltime,
                script_path, slurm_time, slurm_signal, slurm_cpus, slurm_max_running, slurm_options) -> int:
    modes = [name for name, on in (("--jobs", jobs is not None), ("--mpi", mpi), ("--slurm", slurm),
                                   ("--task", task is not None)) if on]
    if len(modes) > 1:
        raise ConfigError(" ".join(modes), "", "choose one of --jobs, --mpi, --slurm, --task")
    if dry_run and status:
        raise ConfigError("--dry-run --status", "", "choose one")
    if (dry_run or status) and (mpi or slurm):
        raise ConfigError("--dry-run/--status", "", "not with --mpi or --slurm")
    if jobs is not None and jobs < 1:
        raise ConfigError("--jobs", jobs, "must be ≥ 1")
    if threads is not None and threads < 1:
        raise ConfigError("--threads", threads, "must be ≥ 1")
    if chunk < 1:
        raise ConfigError("--chunk", chunk, "must be ≥ 1")
    if slurm_signal < 1 or slurm_cpus < 1 or (slurm_max_running is not None and slurm_max_running < 1):
        raise ConfigError("--slurm-signal/--slurm-cpus/--slurm-max-running", "", "must be ≥ 1")

    sweep = load_sweep(sweep_file)

    tasks = sweep.tasks
    if task is not None:
        n = sweep.n_chunks(chunk)
        if not 0 <= task < n:
            what = "tasks" if chunk == 1 else f"chunks of {chunk} tasks"
            raise ConfigError("--task", task, f"this sweep has {n} {what}: 0 … {n - 1}")
        tasks = sweep.chunk(task, chunk)

    if status:
        click.echo(status_text(sweep, plan(sweep, tasks)))
        return EXIT_OK
    if dry_run:
        click.echo(dry_run_text(sweep, plan(sweep, tasks)))
        return EXIT_OK
    if slurm:
        path = Path(script_path) if script_path else sweep.out_dir / f"{sweep.name}.sbatch"
        text = slurm_script(sweep, Path(sweep_file), chunk=chunk, time_limit=slurm_time,
                            signal_seconds=slurm_signal, cpus_per_task=slurm_cpus,
                            max_running=slurm_max_running, extra_options=slurm_options,
                            numba_seed_cache=default_numba_cache())
        path.parent.mkdir(parents=True, exist_ok=True)
        (sweep.out_dir / "slurm").mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
        n = sweep.n_chunks(chunk)
        if n > 1000:
            print(f"rkky-mc sweep: note: {n} array elements; many sites cap arrays at 1000 "
                  "(MaxArraySize): use --chunk", file=sys.stderr)
        click.echo(f"wrote {path}: {len(sweep.tasks)} task(s) in {n} array element(s); "
                   f"submit with: sbatch {path}")
        return EXIT_OK

    def todo_fn():
        states = plan(sweep, tasks)
        check_plan(states)
        todo = [t for t, s in states if s.kind != "done"]
        n_done = len(states) - len(todo)
        if not quiet:
            counts = {k: sum(s.kind == k for _, s in states) for k in ("done", "partial", "missing")}
            print(f"rkky-mc sweep: {sweep.name}: {len(states)} task(s): {counts['done']} done, "
                  f"{counts['partial']} partial, {counts['missing']} missing", file=sys.stderr)
        return todo, n_done

    if task is not None:
        check_plan(plan(sweep, tasks))
        return run_tasks_inline(sweep, tasks, quiet, walltime, threads)
    if mpi:
        return run_mpi(sweep, todo_fn, quiet, walltime, threads)
    todo, n_done = todo_fn()
    if not todo:
        if not quiet:
            print(f"rkky-mc sweep: {sweep.name}: nothing to do, all {n_done} task(s) done", file=sys.stderr)
        return EXIT_OK
    return run_local(sweep, todo, jobs or 1, quiet, n_done, walltime, threads)
