"""`rkky-mc sweep`: the click command over the executors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..config import ConfigError
from ..runtime import EXIT_BAD_INPUT, EXIT_OK, clear_stale_lock
from .executors import run_local, run_mpi, run_tasks_inline
from .slurm import default_numba_cache, slurm_script
from .spec import load_sweep
from .state import check_plan, dry_run_lines, iter_plan, plan, status_text

# ---- the command ---------------------------------------------------------------------------


def _check_out_dir(sweep) -> None:
    """ConfigError (exit 2) unless the sweep's output directory exists or can be made, and
    takes files: said once, up front, not as a failure of every task."""
    out = sweep.out_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("sweep.out_dir", str(out), f"cannot create it ({exc.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError("sweep.out_dir", str(out), "is not writable")


def _check_memory(sweep, tasks, concurrent: int) -> None:
    """The memory estimate (rkky_mc.resources) of the largest task, times the tasks run at
    once, before any starts. Tasks of one grid point need the same memory: one per point."""
    from ..resources import check_memory

    seen, largest = set(), None
    for t in tasks:
        if t.point in seen:
            continue
        seen.add(t.point)
        est = check_memory(t.config, where=f"task {t.id} ({t.label}) ")
        if largest is None or est.peak > largest[1].peak:
            largest = (t, est)
    if largest is not None and concurrent > 1:
        t = largest[0]
        check_memory(t.config, copies=concurrent,
                     where=f"task {t.id} ({t.label}) with --jobs {concurrent}: ")



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
    from ..runtime import fail_bad_input, parse_walltime

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
        click.echo(status_text(sweep, iter_plan(sweep, tasks)))
        return EXIT_OK
    if dry_run:  # streams: one task at a time, never the whole list
        for line in dry_run_lines(sweep, iter_plan(sweep, tasks)):
            click.echo(line)
        return EXIT_OK
    _check_out_dir(sweep)
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
        for t, s in states:  # a kill -9 between a task's last commit and its unlock
            if s.kind == "done":
                clear_stale_lock(t.path)
        if not quiet:
            counts = {k: sum(s.kind == k for _, s in states) for k in ("done", "partial", "missing")}
            print(f"rkky-mc sweep: {sweep.name}: {len(states)} task(s): {counts['done']} done, "
                  f"{counts['partial']} partial, {counts['missing']} missing", file=sys.stderr)
        return todo, n_done

    if task is not None:
        check_plan(plan(sweep, tasks))
        _check_memory(sweep, tasks, 1)
        return run_tasks_inline(sweep, tasks, quiet, walltime, threads)
    if mpi:
        _check_memory(sweep, tasks, 1)
        return run_mpi(sweep, todo_fn, quiet, walltime, threads)
    todo, n_done = todo_fn()
    _check_memory(sweep, todo, min(jobs or 1, len(todo)))
    if not todo:
        if not quiet:
            print(f"rkky-mc sweep: {sweep.name}: nothing to do, all {n_done} task(s) done", file=sys.stderr)
        return EXIT_OK
    return run_local(sweep, todo, jobs or 1, quiet, n_done, walltime, threads)
