"""Parameter sweeps (issue 5): tasks, paths and seeds; the local pool, MPI, --task and SLURM
executors give bit-identical files; kills and signals leave a sweep that a re-run completes
without redoing finished tasks; bad sweep files are one-line errors (exit 2)."""
from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import read_h5

from rkky_mc.config import ConfigError
from rkky_mc.sweep import format_value, load_sweep, plan

PY = sys.executable

# tiny tasks (well under a second of sweeping each)
BASE = """
[sample]
model = "sk"
[anneal]
temperatures = [0.5, 0.8, 1.2, 1.8]
replicas = 2
thermalization = 200
sweeps = {sweeps}
measure_every = {measure_every}
[output]
checkpoint_interval = {interval}
"""


def sweep_text(out_dir, name="t", seed=11, samples=2, grid='"sample.N" = [12, 16]', sweeps=600,
               interval=600.0, measure_every=2, extra=""):
    return (f'[sweep]\nname = "{name}"\nseed = {seed}\nsamples = {samples}\nout_dir = "{out_dir}"\n'
            f"[grid]\n{grid}\n"
            + BASE.format(sweeps=sweeps, interval=interval, measure_every=measure_every) + extra)

# tasks that run until stopped (minutes)
LONG = dict(grid='"sample.N" = [64]', sweeps=10**7, measure_every=1000)


def write_sweep(tmp_path, name="t", **kw) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(sweep_text(tmp_path / f"out_{name}", name=name, **kw))
    return path


def rkky(args, env, cwd, timeout=300, extra_env=None):
    return subprocess.run([PY, "-m", "rkky_mc.cli", *args], env=dict(env, **(extra_env or {})), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def datasets(path) -> dict:
    return {k: v for k, v in read_h5(path).items() if k.startswith(("timeseries/", "tempering/"))}


def assert_same(a: dict, b: dict):
    assert sorted(a) == sorted(b) and a
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=True), k


def log_lines(out_dir: Path) -> list[str]:
    log = out_dir / "sweep.log"
    return log.read_text().splitlines() if log.exists() else []


# ---- tasks, paths, seeds ----------------------------------------------------------------


def test_tasks_paths_and_ids(tmp_path):
    sw = load_sweep(text=sweep_text("runs/out/t", samples=3, grid='"sample.N" = [12, 16]\n'
                                    '"anneal.update" = ["metropolis", "heatbath"]\n'
                                    '"sample.field" = [0, 0.05]'))
    assert len(sw.tasks) == 2 * 2 * 2 * 3 and sw.n_points == 8
    # [sample] keys first (sorted), then [anneal]; floats canonical (0 -> 0.0)
    t = sw.tasks[0]
    assert t.id == 0 and t.sample == 0
    assert str(t.path) == "runs/out/t/N=12/field=0.0/update=metropolis/s0000.h5"
    assert str(sw.tasks[-1].path) == "runs/out/t/N=16/field=0.05/update=heatbath/s0002.h5"
    assert [t.id for t in sw.tasks] == list(range(len(sw.tasks)))
    assert all(t.id == t.sample * sw.n_points + t.point for t in sw.tasks)
    assert len({t.path for t in sw.tasks}) == len(sw.tasks)
    assert all(t.config.output.path == str(t.path) for t in sw.tasks)
    # value formatting
    assert format_value(6) == "6" and format_value(0.05) == "0.05" and format_value(1e-5) == "1e-05"
    assert format_value(float("inf")) == "inf" and format_value(True) == "true"
    assert format_value("heisenberg") == "heisenberg"
    assert format_value("a/b.npy").startswith("h") and len(format_value([0.5, 1.0])) == 11


def _by_key(sw):
    return {(tuple(sorted(t.params.items())), t.sample): t for t in sw.tasks}


def test_growing_the_sweep_keeps_paths_and_seeds():
    small = load_sweep(text=sweep_text("o", samples=2, grid='"sample.N" = [12, 16]\n'
                                       '"anneal.update" = ["metropolis"]'))
    big = load_sweep(text=sweep_text("o", samples=5, grid='"sample.N" = [20, 16, 12, 8]\n'
                                     '"anneal.update" = ["heatbath", "metropolis"]'))
    bk = _by_key(big)
    for key, t in _by_key(small).items():
        u = bk[key]
        assert u.path == t.path
        assert (u.config.sample.seed, u.config.anneal.seed) == (t.config.sample.seed, t.config.anneal.seed)
        assert u.config.to_toml() == t.config.to_toml()
    # no two tasks share thermal streams; a disorder sample is shared only across [anneal] keys
    assert len({t.config.anneal.seed for t in big.tasks}) == len(big.tasks)
    disorder = {}
    for t in big.tasks:
        disorder.setdefault((t.params["sample.N"], t.sample), set()).add(t.config.sample.seed)
    assert all(len(s) == 1 for s in disorder.values())
    assert len({next(iter(s)) for s in disorder.values()}) == len(disorder)
    # another master seed: everything changes
    other = load_sweep(text=sweep_text("o", seed=12, samples=2, grid='"sample.N" = [12, 16]\n'
                                       '"anneal.update" = ["metropolis"]'))
    assert not {t.config.anneal.seed for t in other.tasks} & {t.config.anneal.seed for t in small.tasks}
    assert not {t.config.sample.seed for t in other.tasks} & {t.config.sample.seed for t in small.tasks}


def test_grid_order_and_number_spelling_do_not_matter():
    a = load_sweep(text=sweep_text("o", grid='"sample.N" = [12]\n"sample.field" = [1, 0.5]'))
    b = load_sweep(text=sweep_text("o", grid='"sample.field" = [0.5, 1.0]\n"sample.N" = [12]'))
    assert {(str(t.path), t.config.anneal.seed, t.config.sample.seed) for t in a.tasks} == \
           {(str(t.path), t.config.anneal.seed, t.config.sample.seed) for t in b.tasks}


WHEN = """
[[when]]
"anneal.update" = "heatbath"
"sample.N" = 16
set = { "anneal.thermalization" = 50, "anneal.temperatures" = { min = 0.3, max = 1.0, count = 3 } }
"""


def test_when_rules_set_keys_of_matching_tasks_only():
    grid = '"sample.N" = [12, 16]\n"anneal.update" = ["metropolis", "heatbath"]'
    plain = load_sweep(text=sweep_text("o", grid=grid))
    ruled = load_sweep(text=sweep_text("o", grid=grid, extra=WHEN))
    for a, b in zip(plain.tasks, ruled.tasks):
        assert (a.path, a.config.sample.seed, a.config.anneal.seed) == \
               (b.path, b.config.sample.seed, b.config.anneal.seed)
        if b.params == {"sample.N": 16, "anneal.update": "heatbath"}:
            assert b.config.anneal.thermalization == 50 and len(b.config.anneal.temperatures) == 3
        else:
            assert b.config.to_toml() == a.config.to_toml()


BAD = {
    "unknown table": ('[sweeps]\nname = "x"\n', "sweeps"),
    "unknown sweep key": (None, "sweep.jobs"),
    "no seed": ('[sweep]\nname = "x"\n', "sweep.seed"),
    "bad name": ('[sweep]\nname = "a b"\nseed = 1\n', "sweep.name"),
    "grid not a list": ('[sweep]\nname = "x"\nseed = 1\n[grid]\n"sample.N" = 12\n', "grid.sample.N"),
    "empty grid list": ('[sweep]\nname = "x"\nseed = 1\n[grid]\n"sample.N" = []\n', "grid.sample.N"),
    "grid key unknown": ('[sweep]\nname = "x"\nseed = 1\n[grid]\n"sample.size" = [1]\n', "grid.sample.size"),
    "grid key undotted": ('[sweep]\nname = "x"\nseed = 1\n[grid]\nN = [1]\n', "grid.N"),
    "grid seed": ('[sweep]\nname = "x"\nseed = 1\n[grid]\n"anneal.seed" = [1, 2]\n', "grid.anneal.seed"),
    "grid output": ('[sweep]\nname = "x"\nseed = 1\n[grid]\n"output.store_couplings" = [true]\n', "grid.output"),
    "duplicate value": ('[sweep]\nname = "x"\nseed = 1\n[grid]\n"sample.field" = [1, 1.0]\n', "grid.sample.field"),
    "bad task value": ('[sweep]\nname = "x"\nseed = 1\n[sample]\nmodel = "sk"\n[grid]\n"sample.N" = [8, 1]\n',
                       "N=1"),
    "base seed": ('[sweep]\nname = "x"\nseed = 1\n[sample]\nseed = 3\n', "sample.seed"),
    "output path": ('[sweep]\nname = "x"\nseed = 1\n[output]\npath = "a.h5"\n', "output.path"),
    "unknown base key": ('[sweep]\nname = "x"\nseed = 1\n[anneal]\nsweep = 3\n', "anneal.sweep"),
    "not toml": ('[sweep\n', "not valid TOML"),
    "when matches a non-grid key": ('[sweep]\nname = "x"\nseed = 1\n[grid]\n"sample.N" = [8]\n'
                                    '[[when]]\n"sample.L" = 4\nset = { "anneal.sweeps" = 5 }\n', "when[0].sample.L"),
    "when value not in grid": ('[sweep]\nname = "x"\nseed = 1\n[grid]\n"sample.N" = [8]\n'
                               '[[when]]\n"sample.N" = 9\nset = { "anneal.sweeps" = 5 }\n', "grid values"),
    "when sets a grid key": ('[sweep]\nname = "x"\nseed = 1\n[grid]\n"sample.N" = [8]\n'
                             '[[when]]\n"sample.N" = 8\nset = { "sample.N" = 5 }\n', "is a grid key"),
    "when conflict": ('[sweep]\nname = "x"\nseed = 1\n[sample]\nmodel = "sk"\n[grid]\n"sample.N" = [8]\n'
                      '"anneal.replicas" = [2]\n'
                      '[[when]]\n"sample.N" = 8\nset = { "anneal.sweeps" = 5 }\n'
                      '[[when]]\n"anneal.replicas" = 2\nset = { "anneal.sweeps" = 6 }\n', "when[0] sets it"),
    "when bad value": ('[sweep]\nname = "x"\nseed = 1\n[sample]\nmodel = "sk"\n[grid]\n"sample.N" = [8]\n'
                       '[[when]]\n"sample.N" = 8\nset = { "anneal.sweeps" = -5 }\n', "anneal.sweeps"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_sweep_files_are_one_line_errors(tmp_path, numba_env, case):
    text, needle = BAD[case]
    if text is None:
        text = '[sweep]\nname = "x"\nseed = 1\njobs = 2\n'
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_sweep(path)
    from click.testing import CliRunner

    from rkky_mc.cli import main

    result = CliRunner().invoke(main, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rkky-mc: error: ") and needle in lines[0], result.output
    assert not (tmp_path / "runs").exists()


def test_bad_options_are_one_line_errors(tmp_path):
    from click.testing import CliRunner

    from rkky_mc.cli import main

    path = write_sweep(tmp_path)
    for args in (["--jobs", "2", "--mpi"], ["--task", "4"], ["--task", "2", "--chunk", "2"],
                 ["--jobs", "0"], ["--status", "--dry-run"]):
        result = CliRunner().invoke(main, ["sweep", str(path), *args])
        assert result.exit_code == 2, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1 and "rkky-mc: error:" in result.output


# ---- executors give identical files -----------------------------------------------------


@pytest.fixture(scope="module")
def by_task(tmp_path_factory, numba_env):
    """The 4-task reference sweep, run task by task with --task i."""
    tmp = tmp_path_factory.mktemp("ref")
    path = write_sweep(tmp, name="ref")
    sw = load_sweep(path)
    for t in sw.tasks:
        proc = rkky(["sweep", str(path), "--task", str(t.id), "--quiet"], numba_env, tmp)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
    return {t.id: datasets(t.path) for t in sw.tasks}


def _same_as_reference(sw, by_task):
    for t in sw.tasks:
        assert_same(datasets(t.path), by_task[t.id])


def test_jobs_2_equals_task_by_task(tmp_path, numba_env, by_task):
    path = write_sweep(tmp_path, name="ref")
    proc = rkky(["sweep", str(path), "--jobs", "2"], numba_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "all 4 done" in proc.stderr
    _same_as_reference(load_sweep(path), by_task)
    workers = {line.split()[2] for line in log_lines(tmp_path / "out_ref") if "action=start" in line}
    assert len(workers) == 2
    # each of the K = 2 workers ran with cores // K numba threads
    from rkky_mc.sweep import available_cores

    for t in load_sweep(path).tasks:
        assert read_h5(t.path)["@provenance"]["numba_threads"] == str(max(1, available_cores() // 2))
    # running it again does nothing
    proc = rkky(["sweep", str(path), "--jobs", "2"], numba_env, tmp_path)
    assert proc.returncode == 0 and "nothing to do" in proc.stderr


def _mpiexec():
    pytest.importorskip("mpi4py", reason="the mpi extra (mpi4py, mpich) is not installed")
    exe = Path(PY).parent / "mpiexec"
    found = str(exe) if exe.exists() else shutil.which("mpiexec")
    if not found:
        pytest.skip("no mpiexec (install the mpich wheel: pip install 'rkky_mc[mpi]')")
    return found


def test_mpi_equals_task_by_task(tmp_path, numba_env, by_task):
    mpiexec = _mpiexec()
    path = write_sweep(tmp_path, name="ref")
    proc = subprocess.run([mpiexec, "-n", "3", PY, "-m", "rkky_mc.cli", "sweep", str(path), "--mpi"],
                          env=numba_env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all 4 done" in proc.stderr and "2 worker rank(s)" in proc.stderr
    _same_as_reference(load_sweep(path), by_task)
    ranks = {line.split()[2] for line in log_lines(tmp_path / "out_ref") if "action=start" in line}
    assert len(ranks) == 2  # rank 0 schedules, ranks 1 and 2 run tasks
    from rkky_mc.sweep import available_cores

    for t in load_sweep(path).tasks:  # the node's cores shared by its 2 worker ranks
        assert read_h5(t.path)["@provenance"]["numba_threads"] == str(max(1, available_cores() // 2))
    # a bad sweep file under MPI: exit 2, said once
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep]\nname = "x"\n')
    proc = subprocess.run([mpiexec, "-n", "3", PY, "-m", "rkky_mc.cli", "sweep", str(bad), "--mpi"],
                          env=numba_env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("rkky-mc: error:") == 1, proc.stderr


# ---- interruptions ------------------------------------------------------------------------


def _wait_for(cond, timeout=120, proc=None):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        if proc is not None:
            assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)


def _snapshot(paths):
    return {p: (os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in paths}


def test_sigkill_midway_then_rerun_redoes_nothing(tmp_path, numba_env):
    """SIGKILL the pool parent and its workers as soon as one task has finished; the re-run
    completes the sweep and never touches a finished file."""
    path = write_sweep(tmp_path, name="kill", samples=4, grid='"sample.N" = [24, 32]', sweeps=20000,
                       measure_every=10, interval=0.2)
    out = tmp_path / "out_kill"
    sw = load_sweep(path)
    proc = subprocess.Popen([PY, "-m", "rkky_mc.cli", "sweep", str(path), "--jobs", "2", "--quiet"],
                            env=numba_env, cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(lambda: any("action=finished" in line for line in log_lines(out)), proc=proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # what the files say (a task may have finished after its last log line was written)
    states = {t.id: s.kind for t, s in plan(sw)}
    finished_ids = {i for i, k in states.items() if k == "done"}
    partial = {i for i, k in states.items() if k == "partial"}
    done = [t.path for t in sw.tasks if t.id in finished_ids]
    assert done and len(done) < len(sw.tasks)
    before = _snapshot(done)
    n_lines = len(log_lines(out))
    status = rkky(["sweep", str(path), "--status"], numba_env, tmp_path)
    assert status.returncode == 0 and f"done {len(done)}, partial {len(partial)}," in status.stdout, status.stdout

    proc = rkky(["sweep", str(path), "--jobs", "2"], numba_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _snapshot(done) == before  # same inode and mtime: not rewritten
    rerun = log_lines(out)[n_lines:]
    touched = {int(line.split("task=")[1].split()[0]) for line in rerun}
    assert touched and not touched & finished_ids
    for tid in partial:  # the killed runs continued from their checkpoints
        assert any(f"task={tid} action=resume" in line for line in rerun), rerun
    status = rkky(["sweep", str(path), "--status"], numba_env, tmp_path)
    assert f"done {len(sw.tasks)}, partial 0, missing 0" in status.stdout
    for t in sw.tasks:
        assert not Path(str(t.path) + ".lock").exists()


def test_worker_killed_inside_a_commit_then_rerun(tmp_path, numba_env):
    """Fault injection: every worker SIGKILLs itself inside its 2nd commit (pool breaks,
    exit 1); the re-run completes the sweep."""
    path = write_sweep(tmp_path, name="fault", samples=2, sweeps=12000, interval=0.05)
    proc = rkky(["sweep", str(path), "--jobs", "2", "--quiet"], numba_env, tmp_path,
                extra_env={"RKKY_MC_FAULT": "commit:rows:2"})
    assert proc.returncode == 1, proc.stderr
    assert "a worker process died" in proc.stderr
    proc = rkky(["sweep", str(path), "--jobs", "2", "--quiet"], numba_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    status = rkky(["sweep", str(path), "--status"], numba_env, tmp_path)
    assert "done 4, partial 0, missing 0" in status.stdout


def test_sigterm_to_pool_parent_checkpoints_and_exits_75(tmp_path, numba_env):
    path = write_sweep(tmp_path, name="term", samples=4, **LONG)
    out = tmp_path / "out_term"
    proc = subprocess.Popen([PY, "-m", "rkky_mc.cli", "sweep", str(path), "--jobs", "2", "--quiet"],
                            env=numba_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    _wait_for(lambda: sum("action=start" in line for line in log_lines(out)) >= 2, proc=proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 75, err
    assert "stopped (SIGTERM)" in err and "re-run" in err
    stopped = [line for line in log_lines(out) if "action=stopped" in line]
    assert len(stopped) == 2  # both running tasks checkpointed
    dry = rkky(["sweep", str(path), "--dry-run"], numba_env, tmp_path)
    assert dry.returncode == 0
    states = [line.split()[1] for line in dry.stdout.splitlines()[:-1]]
    assert states.count("partial") == 2 and states.count("missing") == 2, dry.stdout
    assert "4 of 4 task(s) would run" in dry.stdout


# ---- config changes between runs ---------------------------------------------------------


def test_more_sweeps_extend_and_other_changes_are_refused(tmp_path, numba_env):
    path = write_sweep(tmp_path, name="ext", samples=1, grid='"sample.N" = [12]', sweeps=300)
    assert rkky(["sweep", str(path), "--quiet"], numba_env, tmp_path).returncode == 0
    # more sweeps in the sweep file: the run is extended (= a run with the longer schedule)
    path.write_text(sweep_text(tmp_path / "out_ext", name="ext", samples=1, grid='"sample.N" = [12]',
                               sweeps=600))
    dry = rkky(["sweep", str(path), "--dry-run"], numba_env, tmp_path)
    assert "partial" in dry.stdout and "extend by 300 sweeps" in dry.stdout
    assert rkky(["sweep", str(path), "--quiet"], numba_env, tmp_path).returncode == 0
    longer = tmp_path / "longer"
    longer.mkdir()
    lpath = write_sweep(longer, name="ext", samples=1, grid='"sample.N" = [12]', sweeps=600)
    assert rkky(["sweep", str(lpath), "--quiet"], numba_env, longer).returncode == 0
    assert_same(datasets(load_sweep(path).tasks[0].path), datasets(load_sweep(lpath).tasks[0].path))
    # any other change is refused before any work, in one line
    path.write_text(sweep_text(tmp_path / "out_ext", name="ext", samples=1, grid='"sample.N" = [12]',
                               sweeps=600).replace("thermalization = 200", "thermalization = 300"))
    proc = rkky(["sweep", str(path)], numba_env, tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "anneal.thermalization" in proc.stderr


def test_anneal_grid_keys_share_the_disorder_sample(tmp_path, numba_env):
    path = write_sweep(tmp_path, name="upd", samples=1, grid='"sample.N" = [12]\n'
                       '"anneal.update" = ["metropolis", "heatbath"]')
    assert rkky(["sweep", str(path), "--jobs", "2", "--quiet"], numba_env, tmp_path).returncode == 0
    a, b = (read_h5(t.path) for t in load_sweep(path).tasks)
    assert a["@sample"]["sha256"] == b["@sample"]["sha256"]
    assert not np.array_equal(a["timeseries/energy"], b["timeseries/energy"])


# ---- SLURM --------------------------------------------------------------------------------


@pytest.fixture
def fake_scontrol(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "scontrol.log"
    exe = bindir / "scontrol"
    exe.write_text(f'#!/bin/bash\necho "$@" >> {log}\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return bindir, log


def test_slurm_script_runs_the_right_chunk(tmp_path, numba_env, by_task, fake_scontrol):
    path = write_sweep(tmp_path, name="ref")
    proc = rkky(["sweep", str(path), "--slurm", "--chunk", "2", "--slurm-time", "01:00:00",
                 "--slurm-option=--partition=short"], numba_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    script = tmp_path / "out_ref" / "ref.sbatch"
    text = script.read_text()
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    for needle in ("#SBATCH --array=0-1", "#SBATCH --signal=B:USR1@300", "#SBATCH --requeue",
                   "#SBATCH --time=01:00:00", "#SBATCH --partition=short", "scontrol requeue",
                   "NUMBA_CACHE_DIR=", "SLURM_ARRAY_TASK_ID", "HDF5_USE_FILE_LOCKING=FALSE",
                   "trap ", "--task \"$SLURM_ARRAY_TASK_ID\" --chunk 2"):
        assert needle in text, needle
    bindir, log = fake_scontrol
    env = dict(numba_env, SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_JOB_ID="77", SLURM_JOB_ID="78",
               PATH=f"{bindir}:{numba_env['PATH']}", TMPDIR=str(tmp_path))
    run = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    sw = load_sweep(path)
    assert [t.path.exists() for t in sw.tasks] == [False, False, True, True]
    for t in sw.tasks[2:]:
        assert_same(datasets(t.path), by_task[t.id])
    assert not log.exists()  # no requeue
    assert not list(tmp_path.glob("rkky_mc_numba.*"))  # the per-task numba cache is removed
    # the file locks are off under SLURM (HDF5_USE_FILE_LOCKING=FALSE)
    assert not list((tmp_path / "out_ref").rglob("*.lock"))


def test_slurm_usr1_checkpoints_and_requeues(tmp_path, numba_env, fake_scontrol):
    path = write_sweep(tmp_path, name="req", samples=1, **LONG)
    assert rkky(["sweep", str(path), "--slurm"], numba_env, tmp_path).returncode == 0
    script = tmp_path / "out_req" / "req.sbatch"
    bindir, log = fake_scontrol
    env = dict(numba_env, SLURM_ARRAY_TASK_ID="0", SLURM_ARRAY_JOB_ID="77", SLURM_JOB_ID="4242",
               PATH=f"{bindir}:{numba_env['PATH']}", TMPDIR=str(tmp_path))
    proc = subprocess.Popen(["bash", str(script)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: any("action=start" in line for line in log_lines(tmp_path / "out_req")), proc=proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGUSR1)  # SLURM's early warning goes to the batch shell (B:)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 75, err
    assert log.read_text().split() == ["requeue", "4242"]
    assert any("action=stopped" in line for line in log_lines(tmp_path / "out_req"))
    status = rkky(["sweep", str(path), "--status"], numba_env, tmp_path)
    assert "partial 1" in status.stdout
