"""Running one task in this process (every executor ends here): signals, the task's lock, start,
resume or skip."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

from ..config import ConfigError, load_config
from ..runtime import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, EXIT_RESUMABLE
from .spec import LOG_NAME, Sweep, Task
from .state import inspect

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
    from ..runtime import StopFlag

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
    from .. import provenance
    from ..checkpoint import CheckpointError
    from ..hdf5 import FormatError
    from ..runtime import DiskFullError, RunLock, locking_enabled

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
                    from ..couplings import build_sample
                    from ..simulation import start_run

                    sample = build_sample(cfg.sample, precision=cfg.anneal.precision)
                    sim = start_run(cfg, sample, path, prov, stop=stop)
                else:
                    from ..simulation import ResumeError, prepare_resume, resume_run

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
    except DiskFullError as exc:
        if exc.resumable:
            return EXIT_RESUMABLE, "stopped", str(exc), 0
        return EXIT_BAD_INPUT, "error", str(exc), 0
