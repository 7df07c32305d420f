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
    if not p.exists() and not prev_path(p).exists():
        return TaskState("missing")
    try:
        import h5py

        from ..hdf5 import decode_attr

        with h5py.File(str(p), "r", locking=False) as f:
            status = f.attrs["status"]
            text = f.attrs["config"]
        status, text = decode_attr(status), decode_attr(text)
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
