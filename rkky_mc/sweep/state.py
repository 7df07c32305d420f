"""The state of a task's file (missing, partial, finished, to extend, conflicting) and the plan
over all tasks."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..config import Config, ConfigError, load_config
from .spec import Sweep, Task, point_label

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
            if (section, key) == ("sample", "path") and va and vb and os.path.abspath(va) == os.path.abspath(vb):
                continue  # a run stores its coupling file's path made absolute (start_run)
            if key == "temperatures" and isinstance(va, list) and isinstance(vb, list) and len(va) == len(vb):
                if all(math.isclose(x, y, rel_tol=1e-12, abs_tol=0.0) for x, y in zip(va, vb)):
                    continue
            if va != vb:
                out.append((f"{section}.{key}", va, vb))
    return out


def inspect(path, cfg: Config) -> TaskState:
    """What the file at ``path`` holds relative to the task's config ``cfg``."""
    from ..checkpoint import prev_path

    p = Path(path)
    prev = prev_path(p)
    if not p.exists() and not prev.exists():
        return TaskState("missing")
    try:
        status, text = _read_head(p)
    except Exception as exc:  # noqa: BLE001 - any damage: the resume recovers or says why
        problem = "missing" if not p.exists() else f"unreadable ({type(exc).__name__})"
        try:
            if prev.is_symlink():
                raise OSError("a symbolic link")
            status, text = _read_head(prev)
        except Exception:  # noqa: BLE001 - neither generation: nothing to resume from
            return TaskState("damaged", f"no usable generation (the file is {problem}, and "
                             f"{'its .prev is unreadable' if prev.exists() else 'there is no .prev'}); "
                             f"to run the task afresh, delete {p}"
                             f"{' and ' + prev.name if prev.exists() else ''}")
        if not p.exists():
            return TaskState("partial", "latest generation missing; resume recovers from .prev")
        return TaskState("partial", f"latest generation {problem}; resume recovers from .prev")
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


def _read_head(path: Path) -> tuple[str, str]:
    """(status, config text) of one generation (raises if it is not a readable run file)."""
    from ..hdf5 import read_status_and_config

    return read_status_and_config(path)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

# ---- planning ------------------------------------------------------------------------------


def plan(sweep: Sweep, tasks=None) -> list[tuple[Task, TaskState]]:
    return list(iter_plan(sweep, tasks))


def check_plan(states) -> None:
    """ConfigError (exit 2, before any work) if a task's file holds a different run, or no
    generation that a resume could continue (the message says which file to delete)."""
    bad = [(t, s) for t, s in states if s.kind in ("mismatch", "damaged")]
    if bad:
        t, s = bad[0]
        more = f" [and {len(bad) - 1} more task(s)]" if len(bad) > 1 else ""
        raise ConfigError(f"task {t.id}", str(t.path), s.detail + more)


KINDS = ("done", "partial", "missing", "mismatch", "damaged")
SHOWN_PROBLEMS = 10  # tasks whose file needs a hand, named by --status


def status_text(sweep: Sweep, states) -> str:
    """The counts per state (``states``: any iterable of (task, state), consumed once)."""
    counts = dict.fromkeys(KINDS, 0)
    per_point = [dict.fromkeys(KINDS, 0) for _ in sweep.points] if sweep.keys else None
    problems = []
    for t, s in states:
        counts[s.kind] += 1
        if per_point is not None:
            per_point[t.point][s.kind] += 1
        if s.kind in ("mismatch", "damaged") and len(problems) < SHOWN_PROBLEMS:
            problems.append(f"  task {t.id} {s.kind}: {t.path}: {s.detail}")
    total = sum(counts.values())

    def shown(c):
        return ", ".join(f"{k} {v}" for k, v in c.items() if v or k in ("done", "partial", "missing"))

    lines = [f"sweep {sweep.name}: {total} tasks ({sweep.n_points} grid point(s) × {sweep.samples} "
             f"sample(s)) in {sweep.out_dir}", "  " + shown(counts)]
    if per_point is not None:
        width = max(len(point_label(p)) for p in sweep.points)
        for p, c in zip(sweep.points, per_point):
            lines.append(f"  {point_label(p):<{width}}  " + shown(c).replace(", ", "  "))
    lines += problems
    n_problems = counts["mismatch"] + counts["damaged"]
    if n_problems > len(problems):
        lines.append(f"  … and {n_problems - len(problems)} more such task(s)")
    return "\n".join(lines)


def dry_run_lines(sweep: Sweep, states):
    """The tasks that would run, one line each, then the summary (a generator: a sweep of 10⁶
    tasks streams, holding one task at a time)."""
    n_todo = n_all = 0
    for t, s in states:
        n_all += 1
        if s.kind == "done":
            continue
        n_todo += 1
        extra = f"  ({s.detail})" if s.detail else ""
        yield f"{t.id:6d}  {s.kind:<8}  {t.path}{extra}"
    yield f"sweep {sweep.name}: {n_todo} of {n_all} task(s) would run ({n_all - n_todo} done)"


def dry_run_text(sweep: Sweep, states) -> str:
    return "\n".join(dry_run_lines(sweep, states))


def iter_plan(sweep: Sweep, tasks=None):
    """(task, state) one at a time: :func:`plan` without the list."""
    for t in (sweep.tasks if tasks is None else tasks):
        yield t, inspect(t.path, _LazyConfig(t))


class _LazyConfig:
    """The task's config, built only if its file exists and has to be compared (inspect)."""

    def __init__(self, task):
        self._task = task

    def __getattr__(self, name):
        return getattr(self._task.config, name)
