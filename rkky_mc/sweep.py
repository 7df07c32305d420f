"""Parameter sweeps: a base config × a grid of values × disorder samples -> one run file per task.

A sweep file is a run config (``[sample]``, ``[anneal]``, ``[output]``) plus

    [sweep]
    name = "demo"            # [A-Za-z0-9._-]+; default out_dir is runs/out/<name>
    seed = 2024              # master seed: every task's sample.seed and anneal.seed derive from it
    samples = 8              # disorder samples per grid point (s0000 … s0007)
    out_dir = "runs/out/demo"  # optional; relative paths are relative to the working directory

    [grid]                   # every value is a list; the tasks are the cartesian product
    "sample.L" = [4, 6]
    "anneal.update" = ["metropolis", "heatbath"]

Task paths (stable, see docs/sweeps.md): ``<out_dir>/<k1>=<v1>/<k2>=<v2>/…/s<i:04d>.h5`` with the
[sample] grid keys first, then the [anneal] ones, each group in sorted order, ``k`` the key
without its table name. Values: integers as written, floats by ``repr`` (shortest round trip:
0.05, 1e-05, inf), booleans true/false, path-safe strings as they are, anything else (lists,
tables, strings with other characters) as ``h`` + 10 hex digits of its sha256.

Seeds: ``sample.seed`` = sha256("rkky_mc.sweep/1", "sample", sweep seed, the task's [sample]
grid values, sample index); ``anneal.seed`` = the same over *all* grid values. So one disorder
sample is shared by tasks that differ only in [anneal] grid keys (the same sample annealed with
different schedules), the thermal streams never are, and neither depends on the other tasks, on
the order of the grid, or on non-grid settings: adding grid values or samples changes no
existing task's path or seeds.

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

    allowed_tables = ("sweep", "grid", *_SECTIONS)
    for name in data:
        if name not in allowed_tables:
            raise ConfigError(name, data[name], f"unknown table; allowed: {', '.join(allowed_tables)}")
    for name in allowed_tables:
        if name in data and not isinstance(data[name], dict):
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
    return {sig: signal.signal(sig, _note_signal) for sig in _STOP_SIGNALS}


def restore_signals(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _pool_worker_init(threads: int, event, parent_pid: int) -> None:
    # before numba is imported in this process: its thread pool is sized from the environment
    os.environ["NUMBA_NUM_THREADS"] = str(threads)
    global _STOP_EVENT, _PARENT_PID
    _STOP_EVENT, _PARENT_PID = event, parent_pid
    install_worker_signals()


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


def task_spec(sweep: Sweep, task: Task, argv=None, deadline: float | None = None) -> dict:
    """A picklable description of one task for a worker (process, MPI rank)."""
    return {"id": task.id, "path": str(task.path), "config": task.config.to_toml(),
            "label": task.label, "out_dir": str(sweep.out_dir),
            "argv": list(sys.argv if argv is None else argv), "deadline": deadline}


def run_spec(spec: dict) -> dict:
    """Run one task (start, resume, extend or skip it). Never raises; returns
    {"id", "code", "action", "message", "seconds", "sweeps"} with code 0 done, 75 stopped,
    2 bad input (lock held, unusable file, config mismatch), 1 failure."""
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
    reason = _external_stop()
    if reason is not None:
        return EXIT_RESUMABLE, "not-started", f"not started ({reason})", 0
    cfg = load_config(text=spec["config"])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return EXIT_BAD_INPUT, "error", f"cannot create {path.parent} ({exc.strerror})", 0
    deadline = spec.get("deadline")
    walltime = None if deadline is None else max(deadline - time.time(), 1e-3)
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

                    sample = build_sample(cfg.sample)
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
        self.paths = {t.id: t.path for t in sweep.tasks}

    def add(self, r: dict) -> None:
        self.results.append(r)
        if r["code"] == EXIT_OK:
            self.bar.update(1)
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
                    r = run_spec(task_spec(sweep, t, deadline=deadline))
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
    with StopFlag() as stop, cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_pool_worker_init,
            initargs=(threads, event, os.getpid())) as pool:
        futures = {pool.submit(run_spec, task_spec(sweep, t, deadline=deadline)): t for t in todo}
        pending = set(futures)
        stopping = False
        while pending:
            done, pending = cf.wait(pending, timeout=0.25, return_when=cf.FIRST_COMPLETED)
            for f in done:
                if f.cancelled():
                    continue
                try:
                    reporter.add(f.result())
                except Exception as exc:  # noqa: BLE001 - a worker died (BrokenProcessPool)
                    reporter.add({"id": futures[f].id, "code": EXIT_FAILURE, "action": "failed",
                                  "message": f"worker died: {type(exc).__name__}: {exc}"})
            if not stopping and (stop.requested or
                                 (deadline is not None and time.time() > deadline)):
                stopping = True
                stop_reason = stop.requested or "walltime"
                event.set()  # running tasks checkpoint and stop; queued ones do not start
                for f in pending:
                    f.cancel()
                pending = {f for f in pending if not f.cancelled()}
    return stop_reason


def run_mpi(sweep: Sweep, todo_fn, quiet: bool, walltime=None) -> int:
    """Under ``mpiexec -n K``: rank 0 schedules, ranks 1..K-1 run tasks (MPICommExecutor;
    also works under ``python -m mpi4py.futures``). ``todo_fn() -> (todo, n_done)`` plans on
    rank 0 only (a ConfigError there is re-raised on rank 0; the other ranks return 2)."""
    MPI, MPICommExecutor = import_mpi()
    from .cli import StopFlag

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    # numba threads: the cores of a node shared by the worker ranks on it (rank 0 only schedules)
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    n_local_workers = local.Get_size() - local.allreduce(1 if rank == 0 else 0)
    local.Free()
    if "NUMBA_NUM_THREADS" not in os.environ:
        os.environ["NUMBA_NUM_THREADS"] = str(max(1, available_cores() // max(1, n_local_workers)))
    if size == 1:
        todo, n_done = todo_fn()
        if not quiet:
            print("rkky-mc sweep: --mpi with one MPI process: running the tasks in this process",
                  file=sys.stderr)
        return run_local(sweep, todo, 1, quiet, n_done, walltime)
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


def import_mpi():
    try:
        from mpi4py import MPI
        from mpi4py.futures import MPICommExecutor
    except ImportError as exc:
        raise ConfigError("--mpi", str(exc), "needs mpi4py and an MPI: pip install 'rkky_mc[mpi]'") from None
    return MPI, MPICommExecutor


def _mpi_root(sweep, pool, planned, quiet, walltime, size, StopFlag) -> int:
    import concurrent.futures as cf

    t0 = time.monotonic()
    todo, n_done = planned
    deadline = None if walltime is None else time.time() + walltime
    reporter = _Reporter(sweep, n_done + len(todo), n_done, quiet)
    stop_reason = None
    try:
        with StopFlag() as stop:
            pending = {pool.submit(run_spec, task_spec(sweep, t, deadline=deadline)) for t in todo}
            stopping = False
            while pending:
                done, pending = cf.wait(pending, timeout=0.25, return_when=cf.FIRST_COMPLETED)
                for f in done:
                    if not f.cancelled():
                        reporter.add(f.result())
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


def run_tasks_inline(sweep: Sweep, tasks: list, quiet: bool, walltime=None) -> int:
    """``--task I`` (one task, or one chunk of tasks, in this process): the exit code of the
    run (0 done, 75 stopped and resumable, 2 bad input, 1 failure)."""
    from .cli import StopFlag  # noqa: F401 - (imported by the task runner)

    deadline = None if walltime is None else time.time() + walltime
    install_worker_signals()
    code = EXIT_OK
    for t in tasks:
        r = run_spec(task_spec(sweep, t, deadline=deadline))
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
