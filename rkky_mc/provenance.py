"""Where and how a run was made: versions, git commit, host, CPU, command line, job id."""
from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from . import __version__

JOB_ID_VARIABLES = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "PBS_JOBID", "LSB_JOBID", "JOB_ID")


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def cpu_model() -> str:
    """The CPU model name (Linux /proc/cpuinfo), else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "cpu model", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


_COMMIT: list = []  # the first answer of this process (see git_commit)


def git_commit() -> str:
    """The commit of the source tree rkky_mc runs from, if it is a git checkout.

    Asked once per process and remembered: a long ``rkky-mc sweep`` keeps running the code it
    imported at its start, so later commits to the tree must not be recorded for its runs."""
    if not _COMMIT:
        _COMMIT.append(_ask_git())
    return _COMMIT[0]


def _ask_git() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if out.returncode == 0:
            commit = out.stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=here, capture_output=True, text=True, timeout=5,
            ).stdout.strip()
            return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return ""


def collect(argv=None) -> dict:
    """Provenance attributes for /provenance (strings only, HDF5-friendly)."""
    import numba
    import numpy

    from .io.hdf5 import library_versions  # the storage layer owns h5py

    job = next((os.environ[v] for v in JOB_ID_VARIABLES if os.environ.get(v)), "")
    return {
        "rkky_mc_version": __version__,
        "git_commit": git_commit(),
        "python_version": platform.python_version(),
        "numpy_version": numpy.__version__,
        "numba_version": numba.__version__,
        **library_versions(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "numba_threads": str(numba.get_num_threads()),
        "command_line": " ".join(sys.argv if argv is None else argv),
        "start_time": now_iso(),
        "job_id": job,
    }
