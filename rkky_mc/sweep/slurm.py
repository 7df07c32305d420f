"""SLURM: the sbatch array script of a sweep (written, never submitted)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from .spec import Sweep

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
        "export NUMBA_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-%d}\"" % cpus_per_task,  # noqa: UP031 (shell ${})
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
