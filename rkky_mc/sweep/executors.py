"""Executors: in process, a spawn process pool (--jobs K) and MPI (--mpi), with progress and
summary."""

from __future__ import annotations

import os
import sys
import time

from ..config import ConfigError
from ..runtime import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, EXIT_RESUMABLE
from . import task as _task  # its module globals: _SIGNALLED, _LOCAL_THREADS
from .spec import Sweep
from .task import (
    _env_var,
    _pool_worker_init,
    install_worker_signals,
    restore_signals,
    run_spec,
    task_spec,
)

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
    from ..runtime import StopFlag

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
                    if r["code"] == EXIT_RESUMABLE or _task._SIGNALLED:
                        stop_reason = _task._SIGNALLED or r["message"]
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
    from ..runtime import StopFlag

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
    if threads is not None:
        _task._LOCAL_THREADS = threads
    elif "NUMBA_NUM_THREADS" not in os.environ:
        _task._LOCAL_THREADS = max(1, available_cores() // max(1, n_local_workers))
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
                if not stopping and (stop.requested or _task._SIGNALLED or
                                     (deadline is not None and time.time() > deadline)):
                    stopping = True
                    stop_reason = stop.requested or _task._SIGNALLED or "walltime"
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
