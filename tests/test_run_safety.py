"""Defects that lose or corrupt data (issue 20, item 7): a lock file deleted by hand, links at
the names rkky_mc writes (``.tmp``, ``.prev``, ``.prev.tmp``), ``run --overwrite`` replacing
the old run before the new one exists, a run file named through a symbolic link, and rows
that do not belong to the checkpoint. Each case ends in a correct run or a one-line error,
with nothing damaged."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import config_text, read_h5
from test_lifecycle import SAMPLE, assert_same_run, cli, compared

from rkky_mc.cli import main

ANNEAL = {"temperatures": [0.5, 0.9, 1.5], "replicas": 2, "thermalization": 20,
          "sweeps": 200, "update": "metropolis", "seed": 7}


def write_cfg(tmp_path, name, anneal=ANNEAL, interval=600.0, sample=SAMPLE):
    out = tmp_path / f"{name}.h5"
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(config_text(sample, anneal, {"path": str(out), "checkpoint_interval": interval}))
    return cfg, out


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, code=2):
    assert result.exit_code == code, (result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rkky-mc: error:"), result.output
    return lines[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("safety_ref")
    cfg, out = write_cfg(tmp, "ref")
    assert invoke("run", cfg, "--quiet").exit_code == 0
    return read_h5(out)


# ---- the lock -----------------------------------------------------------------------------

def test_deleted_lock_is_noticed_by_its_holder(tmp_path):
    from rkky_mc.runtime import LockLost, RunLock, verify_lock

    run = tmp_path / "x.h5"
    lock = tmp_path / "x.h5.lock"
    with RunLock(run, True) as first:
        first.verify()
        verify_lock(run)
        lock.unlink()                      # what a user does to a lock a kill -9 left behind
        with pytest.raises(LockLost, match="removed or replaced"):
            first.verify()
        second = RunLock(run, True).__enter__()  # a second process may now take the run ...
        second.verify()
        with pytest.raises(LockLost):      # ... and the first one can no longer commit
            first.verify()
    # the first holder leaving removes neither the second one's lock file nor its record
    assert lock.exists()
    second.verify()
    verify_lock(run)
    second.__exit__(None, None, None)
    assert not lock.exists()


def test_lock_held_is_refused(tmp_path):
    from rkky_mc.config import ConfigError
    from rkky_mc.runtime import RunLock

    with RunLock(tmp_path / "x.h5", True):
        with pytest.raises(ConfigError, match="lock held"):
            RunLock(tmp_path / "x.h5", True).__enter__()


def test_second_writer_of_one_generation_is_refused(tmp_path, reference):
    """Two processes resuming from the same generation (locks off or broken): the first
    commit wins, the second stops with a one-line error and writes nothing."""
    from rkky_mc import provenance
    from rkky_mc.checkpoint import ConcurrentWriterError
    from rkky_mc.simulation import prepare_resume, resume_run

    cfg, out = write_cfg(tmp_path, "two")
    res = invoke("run", cfg, "--quiet", "--max-walltime", "0.001")  # stops at once: exit 75
    assert res.exit_code == 75, res.output
    first, info_first = prepare_resume(out)
    second, info_second = prepare_resume(out)
    resume_run(first, info_first, provenance.collect())
    assert first.finished
    before = out.read_bytes()
    with pytest.raises(ConcurrentWriterError, match="another process advanced it"):
        resume_run(second, info_second, provenance.collect())
    assert out.read_bytes() == before
    assert not (tmp_path / "two.h5.tmp").exists()
    assert_same_run(read_h5(out), reference)


def test_removed_lock_file_two_processes(tmp_path, numba_env):
    """The issue's scenario: `rm FILE.h5.lock` while a run is going, then a second
    `resume`. The first process stops at its next commit (exit 2, one line), the second
    finishes, and the file equals the uninterrupted run."""
    anneal = dict(ANNEAL, sweeps=60_000, measure_every=3)
    cfg, out = write_cfg(tmp_path, "race", anneal, interval=0.05)
    ref_cfg, ref_out = write_cfg(tmp_path, "race_ref", anneal)
    assert invoke("run", ref_cfg, "--quiet").exit_code == 0
    first = subprocess.Popen([sys.executable, "-m", "rkky_mc.cli", "run", str(cfg), "--quiet"],
                             env=numba_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "race.h5.lock"
    deadline = time.monotonic() + 120
    while not out.exists():
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.02)
    lock.unlink()
    second = cli(["resume", str(out), "--quiet"], numba_env)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "lock file" in err, err
    if second.returncode != 0:  # the first one committed after the second read: run it again
        assert second.returncode == 2 and "another process" in second.stderr, second.stderr
        second = cli(["resume", str(out), "--quiet"], numba_env)
    assert second.returncode == 0, second.stderr
    assert_same_run(read_h5(out), read_h5(ref_out))


# ---- rows against the checkpoint --------------------------------------------------------

def test_rows_that_do_not_match_the_checkpoint_are_refused(tmp_path):
    from rkky_mc.checkpoint import row_problem

    assert row_problem(np.arange(0, 30, 3), 28, 3) is None
    assert row_problem(np.arange(0, 30, 3), 30, 3) is None
    assert "11 measurement rows" in row_problem(np.arange(0, 33, 3), 30, 3)
    backwards = np.array([0, 3, 6, 3, 6])
    assert "row 3 was measured at sweep 3" in row_problem(backwards, 13, 3)

    cfg, out = write_cfg(tmp_path, "rows")
    assert invoke("run", cfg, "--quiet").exit_code == 0
    with h5py.File(out, "r+") as f:  # what two writers left: the sweep column goes backwards
        f["timeseries/sweep"][5] = 1
    line = one_line_error(invoke("resume", out, "--sweeps", "10", "--quiet"))
    assert "row 5 was measured at sweep 1" in line
    res = invoke("info", out)
    assert res.exit_code == 0 and "INCONSISTENT: row 5" in res.output


# ---- links at the names rkky_mc writes ----------------------------------------------------

def test_links_at_tmp_and_prev_are_never_written_through(tmp_path, reference):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    cfg, out = write_cfg(tmp_path, "link", interval=1e-3)
    for suffix in (".tmp", ".prev", ".prev.tmp"):
        os.symlink(victim, str(out) + suffix)
    res = invoke("run", cfg, "--quiet")
    assert res.exit_code == 0, res.output
    assert victim.read_text() == "precious"
    assert not os.path.islink(str(out) + ".prev") and os.path.isfile(str(out) + ".prev")
    assert not os.path.lexists(str(out) + ".tmp")
    assert_same_run(read_h5(out), reference)
    # and on resume: links placed after the run, then an extension
    for suffix in (".tmp", ".prev.tmp"):
        os.symlink(victim, str(out) + suffix)
    os.unlink(str(out) + ".prev")
    os.symlink(victim, str(out) + ".prev")
    res = invoke("resume", out, "--sweeps", "20", "--quiet")
    assert res.exit_code == 0, res.output
    assert victim.read_text() == "precious"
    assert os.path.isfile(str(out) + ".prev") and not os.path.islink(str(out) + ".prev")


def test_a_linked_prev_is_not_a_fallback(tmp_path):
    from rkky_mc.checkpoint import CheckpointError, recover

    cfg, out = write_cfg(tmp_path, "fallback")
    other_cfg, other = write_cfg(tmp_path, "other")
    assert invoke("run", other_cfg, "--quiet").exit_code == 0
    assert invoke("run", cfg, "--quiet").exit_code == 0
    os.unlink(str(out) + ".prev")
    os.symlink(other, str(out) + ".prev")  # a sound file, of another run
    with open(out, "r+b") as fh:
        fh.truncate(100)
    with pytest.raises(CheckpointError, match="symbolic link"):
        recover(out)


@pytest.mark.parametrize("suffix", [".tmp", ".prev", ".lock"])
def test_directory_in_place_of_a_generation_is_a_clear_error(tmp_path, suffix):
    cfg, out = write_cfg(tmp_path, "dir")
    os.mkdir(str(out) + suffix)
    line = one_line_error(invoke("run", cfg, "--quiet"))
    assert "is a directory" in line or "lock file" in line
    assert not out.exists()


def test_resume_through_a_symlink_advances_its_target(tmp_path):
    cfg, real = write_cfg(tmp_path, "real")
    assert invoke("run", cfg, "--quiet").exit_code == 0
    link = tmp_path / "alias.h5"
    os.symlink(real, link)
    res = invoke("resume", link, "--sweeps", "30", "--quiet")
    assert res.exit_code == 0, res.output
    assert os.path.islink(link)
    with h5py.File(real, "r") as f:
        assert int(f["checkpoint"].attrs["sweeps_done"]) == ANNEAL["thermalization"] + ANNEAL["sweeps"] + 30
    assert not os.path.lexists(str(link) + ".prev") and os.path.exists(str(real) + ".prev")


# ---- --overwrite ---------------------------------------------------------------------------

def test_overwrite_keeps_the_old_run_until_the_new_one_starts(tmp_path, monkeypatch, reference):
    from rkky_mc import simulation

    cfg, out = write_cfg(tmp_path, "over", dict(ANNEAL, seed=8))
    assert invoke("run", cfg, "--quiet").exit_code == 0
    assert invoke("resume", out, "--sweeps", "10", "--quiet").exit_code == 0  # now with .prev
    old, old_prev = out.read_bytes(), (tmp_path / "over.h5.prev").read_bytes()

    def no_memory(*args, **kwargs):
        raise MemoryError("simulated: the ensemble does not fit")

    monkeypatch.setattr(simulation.Simulation, "_init_state", no_memory)
    res = invoke("run", cfg, "--quiet", "--overwrite")
    assert isinstance(res.exception, MemoryError)
    assert out.read_bytes() == old and (tmp_path / "over.h5.prev").read_bytes() == old_prev
    monkeypatch.undo()

    cfg.write_text(cfg.read_text().replace("seed = 8", "seed = 7"))  # the reference's config
    res = invoke("run", cfg, "--quiet", "--overwrite")
    assert res.exit_code == 0, res.output
    assert_same_run(read_h5(out), reference)
    # the old run's generations are gone: .prev is the new run's first generation
    with h5py.File(tmp_path / "over.h5.prev", "r") as f:
        assert int(f.attrs["generation"]) == 1
        assert "seed = 7" in str(f.attrs["config"]) and "seed = 8" not in str(f.attrs["config"])
    assert compared(read_h5(out)).keys() == compared(reference).keys()


def test_clear_stale_lock_removes_an_unheld_lock_and_keeps_a_held_one(tmp_path):
    """A sweep clears the lock a kill -9 left beside a finished task; a held lock stays."""
    from rkky_mc.runtime import RunLock, clear_stale_lock

    run = tmp_path / "r.h5"
    assert not clear_stale_lock(run)  # no lock: nothing to do
    (tmp_path / "r.h5.lock").write_text("12345 gone-host\n")  # what a kill -9 leaves
    assert clear_stale_lock(run) and not (tmp_path / "r.h5.lock").exists()
    with RunLock(run, enabled=True):
        assert not clear_stale_lock(run)
        assert (tmp_path / "r.h5.lock").exists()
