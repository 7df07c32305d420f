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

Modules: spec (the sweep file), state (a task file's state, the plan), task (running one task),
executors (in process, pool, MPI), slurm (the sbatch script), command (`rkky-mc sweep`).
"""

from .command import sweep_command
from .executors import available_cores
from .spec import format_value, load_sweep
from .state import plan
from .task import run_spec

__all__ = ["available_cores", "format_value", "load_sweep", "plan", "run_spec", "sweep_command"]
