"""The first steps of the ``rkky-mc`` executable, before anything heavy is imported.

Kept to the standard library (``signal``, ``os``, ``sys``): it runs within milliseconds of
the interpreter's start, where importing click, numpy, numba and h5py, loading the kernels
and building the sample take about a second.

* Stop signals (SIGTERM, SIGUSR1, SIGINT) that arrive while ``run``, ``resume`` or ``sweep``
  start up exit at once with 75 (resumable): nothing has been written yet, so running the
  same command again is the way on, and a batch script requeues the task. Without these
  handlers Python dies of the signal (exit 143 or 138), which the generated sbatch script
  takes for a failure. Once a run can checkpoint, its own handlers take over
  (runtime.StopFlag, the sweep executors) and the run stops at a sweep boundary.
* ``NUMBA_NUM_THREADS`` that numba would refuse at import (0, negative, not an integer):
  a one-line error, exit 2, instead of numba's traceback.
"""
from __future__ import annotations

import os
import signal
import sys

EXIT_BAD_INPUT = 2
EXIT_RESUMABLE = 75
STARTUP_COMMANDS = ("run", "resume", "sweep")
_STOP_SIGNALS = ("SIGTERM", "SIGUSR1", "SIGINT")


def _stopped_at_startup(signum, frame):
    name = signal.Signals(signum).name
    try:
        sys.stderr.write(f"rkky-mc: stopped ({name}) while starting up, before anything was "
                         "written; run the same command again to continue\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    # SystemExit, not os._exit: `finally` blocks and context managers still run (RunLock
    # removes its lock file); `except Exception` clauses do not catch it
    raise SystemExit(EXIT_RESUMABLE)


def install_startup_signals(argv=None) -> bool:
    """Stop signals exit 75 from here on, for the commands that run simulations; True if
    installed. Called first thing by the executable (see the module docstring)."""
    argv = sys.argv if argv is None else argv
    if len(argv) < 2 or argv[1] not in STARTUP_COMMANDS:
        return False
    for name in _STOP_SIGNALS:
        signal.signal(getattr(signal, name), _stopped_at_startup)
    return True


def numba_threads_problem(environ=None) -> str | None:
    """The one-line complaint about NUMBA_NUM_THREADS, or None if numba will accept it."""
    value = (os.environ if environ is None else environ).get("NUMBA_NUM_THREADS", "")
    if not value.strip():
        return None
    try:
        n = int(value)
    except ValueError:
        return f"NUMBA_NUM_THREADS = {value!r}: must be an integer ≥ 1 (or unset: all cores)"
    if n < 1:
        return f"NUMBA_NUM_THREADS = {value!r}: must be ≥ 1 (or unset: all cores)"
    return None


def start(argv=None) -> None:
    """Everything the executable does before importing the command line."""
    install_startup_signals(argv)
    problem = numba_threads_problem()
    if problem:
        try:
            sys.stderr.write(f"rkky-mc: error: {problem}\n")
        except OSError:
            pass
        sys.exit(EXIT_BAD_INPUT)


def entry() -> None:
    """The ``rkky-mc`` console script."""
    start()
    from .cli import entry as cli_entry

    cli_entry()
