"""Run files under hostile conditions (issue 20, item 7): a full disk, a run file named through
a symbolic link, edited metadata, a repeated ``resume --sweeps N``, strange things at the
paths rkky_mc writes, and a coupling file named relative to the working directory. Each
case ends in a correct run or a one-line error (exit 2, or 75 where the run can be resumed),
with nothing damaged and no ``.tmp`` left behind."""
from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
from conftest import read_h5
from test_lifecycle import assert_same_run
from test_run_safety import ANNEAL, invoke, one_line_error, write_cfg

from rkky_mc import checkpoint


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile_ref")
    cfg, out = write_cfg(tmp, "ref")
    assert invoke("run", cfg, "--quiet").exit_code == 0
    return read_h5(out)


def no_tmp_left(out):
    assert not os.path.lexists(str(out) + ".tmp") and not os.path.lexists(str(out) + ".prev.tmp")


def h5py_enospc(*args, **kwargs):
    # what h5py raises when a write hits a full disk: errno only in the message
    raise OSError("Can't write data (file write failed: time = Fri Dec  4 12:00:00 2026, "
                  "filename = 'x.h5.tmp', file descriptor = 5, errno = 28, error message = "
                  "'No space left on device', buf = 0x1, total write size = 4096)")


# ---- a full disk -------------------------------------------------------------------------

def test_disk_full_during_a_commit_is_resumable(tmp_path, monkeypatch, reference):
    cfg, out = write_cfg(tmp_path, "full")
    real_write, calls = checkpoint.write_checkpoint, {"n": 0}

    def write_until_full(f, state, meta):
        calls["n"] += 1
        if calls["n"] >= 2:  # the first generation went through, the next commit finds the disk full
            h5py_enospc()
        return real_write(f, state, meta)

    monkeypatch.setattr(checkpoint, "write_checkpoint", write_until_full)
    line = one_line_error(invoke("run", cfg, "--quiet"), code=75)
    assert str(out) in line and "no space left" in line and "needs about" in line
    assert "rkky-mc resume" in line
    no_tmp_left(out)
    state, meta = checkpoint.read_checkpoint(out)  # the last good generation is intact
    assert int(meta["sweeps_done"]) == 0 and calls["n"] == 2
    monkeypatch.undo()
    res = invoke("resume", out, "--quiet")
    assert res.exit_code == 0, res.output
    assert_same_run(read_h5(out), reference)


def test_resume_while_the_disk_is_still_full(tmp_path, monkeypatch):
    cfg, out = write_cfg(tmp_path, "still")
    assert invoke("run", cfg, "--quiet", "--max-walltime", "0.001").exit_code == 75
    before = out.read_bytes()
    monkeypatch.setattr(checkpoint, "free_bytes", lambda directory: 4096)
    line = one_line_error(invoke("resume", out, "--quiet"), code=75)
    assert str(out) in line and "needs about" in line and "0.0 MiB free" in line
    assert out.read_bytes() == before
    no_tmp_left(out)


def test_run_refused_when_the_first_generation_cannot_fit(tmp_path, monkeypatch):
    cfg, out = write_cfg(tmp_path, "tiny_disk")
    monkeypatch.setattr(checkpoint, "free_bytes", lambda directory: 4096)
    line = one_line_error(invoke("run", cfg, "--quiet"), code=2)
    assert "needs about" in line and "nothing was written" in line
    assert not os.path.lexists(out)
    no_tmp_left(out)


def test_disk_full_when_the_commit_reserves_its_space(tmp_path, monkeypatch):
    """The usual way a full disk shows: the space a commit reserves before HDF5 writes
    (posix_fallocate) is not there. The run file keeps its generation, nothing is left."""
    cfg, out = write_cfg(tmp_path, "reserve")
    assert invoke("run", cfg, "--quiet", "--max-walltime", "0.001").exit_code == 75
    before = out.read_bytes()

    def no_space(fd, offset, length):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    line = one_line_error(invoke("resume", out, "--quiet"), code=75)
    assert str(out) in line and "needs about" in line
    assert out.read_bytes() == before
    no_tmp_left(out)


# ---- a run file named through a symbolic link ------------------------------------------

def test_resume_through_a_relative_link_updates_the_target(tmp_path, reference):
    """A relative link from another directory, and the target's latest generation damaged:
    the fallback generation is the target's, the target advances, the link stays a link."""
    cfg, real = write_cfg(tmp_path, "target")
    assert invoke("run", cfg, "--quiet", "--max-walltime", "0.001").exit_code == 75
    assert invoke("resume", real, "--quiet", "--max-walltime", "0.001").exit_code == 75
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "elsewhere" / "alias.h5"
    os.symlink(os.path.join("..", real.name), link)
    with open(real, "r+b") as fh:  # the latest generation is damaged: .prev must be used
        fh.truncate(200)
    with pytest.warns(RuntimeWarning, match="latest generation unusable"):
        res = invoke("resume", link, "--quiet")
    assert res.exit_code == 0, res.output
    assert os.path.islink(link) and os.readlink(link) == os.path.join("..", real.name)
    assert_same_run(read_h5(real), reference)
    leftovers = sorted(p.name for p in (tmp_path / "elsewhere").iterdir())
    assert leftovers == ["alias.h5"]  # no .prev, .tmp or .lock beside the link
    no_tmp_left(real)


# ---- edited metadata ----------------------------------------------------------------------

def finished_run(tmp_path, name):
    cfg, out = write_cfg(tmp_path, name)
    assert invoke("run", cfg, "--quiet").exit_code == 0
    return out


def edit_config_attr(out, old, new, drop_checksum=False):
    with h5py.File(out, "r+") as f:
        text = f.attrs["config"]
        text = text.decode() if isinstance(text, bytes) else str(text)
        assert old in text
        f.attrs["config"] = text.replace(old, new)
        if drop_checksum:  # as in a file written before the metadata checksum existed
            del f["checkpoint"].attrs["metadata_checksum"]


def refused_unchanged(out, *args, match):
    before = out.read_bytes(), open(str(out) + ".prev", "rb").read()
    line = one_line_error(invoke("resume", out, "--quiet", *args))
    assert match in line, line
    assert (out.read_bytes(), open(str(out) + ".prev", "rb").read()) == before
    no_tmp_left(out)
    return line


def test_edited_ladder_in_the_config_attribute_is_refused(tmp_path):
    out = finished_run(tmp_path, "ladder")
    edit_config_attr(out, "temperatures = [0.5, 0.9, 1.5]", "temperatures = [0.5, 1.0, 1.5]")
    refused_unchanged(out, "--sweeps", "20", match="root metadata")
    res = invoke("info", out)
    assert res.exit_code == 0 and "INCONSISTENT: the root metadata" in res.output
    # a file without the metadata checksum: the ladder itself is compared
    edit_config_attr(out, "temperatures = [0.5, 1.0, 1.5]", "temperatures = [0.5, 1.0, 1.5]",
                     drop_checksum=True)
    refused_unchanged(out, "--sweeps", "20", match="differ from the config's anneal.temperatures")


def test_edited_replicas_is_a_one_line_error(tmp_path):
    out = finished_run(tmp_path, "replicas")
    edit_config_attr(out, "replicas = 2", "replicas = 3", drop_checksum=True)
    refused_unchanged(out, "--sweeps", "20", match="anneal.replicas = 3")
    edit_config_attr(out, "replicas = 3", "replicas = 100000000")  # must not allocate first
    refused_unchanged(out, "--sweeps", "20", match="anneal.replicas = 100000000")


def test_edited_ladder_length_is_a_one_line_error(tmp_path):
    out = finished_run(tmp_path, "length")
    edit_config_attr(out, "temperatures = [0.5, 0.9, 1.5]", "temperatures = [0.5, 0.9, 1.5, 2.0]",
                     drop_checksum=True)
    refused_unchanged(out, "--sweeps", "20", match="of 4")


def test_inflated_n_valid_is_detected(tmp_path):
    out = finished_run(tmp_path, "nvalid")
    with h5py.File(out, "r+") as f:  # both copies of n_valid, so they agree with each other
        f.attrs["n_valid"] = np.int64(10**6)
        f["checkpoint"].attrs["n_valid"] = np.int64(10**6)
    refused_unchanged(out, match="root metadata")
    with h5py.File(out, "r+") as f:
        del f["checkpoint"].attrs["metadata_checksum"]
    line = refused_unchanged(out, match="measurement rows")
    assert "n_valid = 1000000 measurement rows for 220 sweeps done" in line
    res = invoke("info", out)
    assert res.exit_code == 0 and "INCONSISTENT" in res.output


# ---- resume --sweeps N, repeated ---------------------------------------------------------

def sweeps_done(out) -> int:
    with h5py.File(out, "r") as f:
        return int(f["checkpoint/sweeps_done"][()])


def test_repeated_resume_sweeps_is_idempotent(tmp_path):
    """`resume --sweeps 100` interrupted, then the same command again (a requeued job): 100
    sweeps in all, the bits of a run planned that long; once more: nothing added.
    --total-sweeps is absolute."""
    total = ANNEAL["thermalization"] + ANNEAL["sweeps"]
    out = finished_run(tmp_path, "again")
    ref_cfg, ref = write_cfg(tmp_path, "again_ref", dict(ANNEAL, sweeps=ANNEAL["sweeps"] + 100))
    assert invoke("run", ref_cfg, "--quiet").exit_code == 0
    res = invoke("resume", out, "--sweeps", "100", "--quiet", "--max-walltime", "0.001")
    assert res.exit_code == 75, res.output
    assert total < sweeps_done(out) < total + 100
    res = invoke("resume", out, "--sweeps", "100")  # the same command: continues, adds nothing
    assert res.exit_code == 0, res.output
    assert "already extended by 100 sweeps" in res.output and "continuing" in res.output
    assert sweeps_done(out) == total + 100
    assert_same_run(read_h5(out), read_h5(ref))
    before = out.read_bytes()
    res = invoke("resume", out, "--sweeps", "100")  # and once more, after it finished
    assert res.exit_code == 0 and "--total-sweeps 420" in res.output, res.output
    assert out.read_bytes() == before
    res = invoke("resume", out, "--total-sweeps", "420", "--quiet")
    assert res.exit_code == 0 and sweeps_done(out) == 420, res.output
    assert invoke("resume", out, "--total-sweeps", "420", "--quiet").exit_code == 0
    assert sweeps_done(out) == 420
    line = one_line_error(invoke("resume", out, "--total-sweeps", "300", "--quiet"))
    assert "--total-sweeps = 300" in line and "never shortened" in line
    line = one_line_error(invoke("resume", out, "--total-sweeps", "500", "--sweeps", "5", "--quiet"))
    assert "not both" in line
    no_tmp_left(out)


# ---- one line, not a traceback ----------------------------------------------------------

def test_info_on_a_truncated_file_is_one_line(tmp_path):
    out = finished_run(tmp_path, "cut")
    with open(out, "r+b") as fh:
        fh.truncate(out.stat().st_size // 3)
    line = one_line_error(invoke("info", out))
    assert "not a readable run file" in line and "truncated" in line


@pytest.mark.parametrize("group", ["timeseries", "sample", "temperatures"])
def test_deleted_groups_are_one_line_errors(tmp_path, group):
    out = finished_run(tmp_path, "del_" + group)
    os.unlink(str(out) + ".prev")
    with h5py.File(out, "r+") as f:
        del f[group]
    line = one_line_error(invoke("info", out))
    assert f"'{group}' doesn't exist" in line
    before = out.read_bytes()
    line = one_line_error(invoke("resume", out, "--sweeps", "10", "--quiet"))
    assert f"'{group}' doesn't exist" in line
    assert out.read_bytes() == before
    no_tmp_left(out)


def test_deleted_provenance_still_resumes(tmp_path):
    out = finished_run(tmp_path, "del_provenance")
    with h5py.File(out, "r+") as f:
        del f["provenance"]
    res = invoke("resume", out, "--sweeps", "10", "--quiet")
    assert res.exit_code == 0, res.output
    assert sweeps_done(out) == ANNEAL["thermalization"] + ANNEAL["sweeps"] + 10
    no_tmp_left(out)


@pytest.mark.parametrize("target", ["/proc/rkky_mc_probe.h5", "/sys/kernel/rkky_mc_probe.h5"])
@pytest.mark.parametrize("locking", [[], ["--no-locking"]], ids=["lock", "no-lock"])
def test_output_under_proc_or_sys_is_refused(tmp_path, target, locking):
    if not os.path.isdir(os.path.dirname(target)):
        pytest.skip(f"no {os.path.dirname(target)} here")
    cfg, _ = write_cfg(tmp_path, "pseudo")
    line = one_line_error(invoke("run", cfg, "--quiet", "--output", target, *locking))
    assert "/proc or /sys" in line or "cannot create" in line or "not writable" in line, line
    assert not os.path.lexists(target) and not os.path.lexists(target + ".tmp")


@pytest.mark.parametrize("suffix", [".lock", ".tmp", ".prev", ".prev.tmp"])
def test_directory_in_place_on_resume_is_one_line(tmp_path, suffix):
    cfg, out = write_cfg(tmp_path, "dirres")
    assert invoke("run", cfg, "--quiet", "--max-walltime", "0.001").exit_code == 75
    if os.path.lexists(str(out) + suffix):
        os.unlink(str(out) + suffix)
    before = out.read_bytes()
    os.mkdir(str(out) + suffix)
    line = one_line_error(invoke("resume", out, "--quiet"))
    assert "is a directory" in line or "lock file" in line
    assert out.read_bytes() == before and os.path.isdir(str(out) + suffix)
    if suffix != ".tmp":
        assert not os.path.lexists(str(out) + ".tmp")


@pytest.mark.parametrize("locking", [[], ["--no-locking"]], ids=["lock", "no-lock"])
def test_name_too_long_for_the_lock_file(tmp_path, locking):
    cfg, _ = write_cfg(tmp_path, "longname")
    name = "r" * (255 - len(".h5")) + ".h5"  # fits; NAME.h5.lock and NAME.h5.prev.tmp do not
    before = sorted(os.listdir(tmp_path))
    line = one_line_error(invoke("run", cfg, "--quiet", "--output", tmp_path / name, *locking))
    assert "file name too long" in line
    assert sorted(os.listdir(tmp_path)) == before


# ---- a coupling file named relative to the working directory -------------------------

def test_relative_coupling_file_does_not_follow_the_cwd(tmp_path, monkeypatch):
    """model = "file" with sample.path = "J.npy" relative to where `run` was started: a
    resume from another directory finds the same file, and so does one after the run
    directory (run file and couplings together) was moved."""
    from conftest import config_text

    rng = np.random.default_rng(5)
    J = np.triu(rng.normal(size=(12, 12)), 1)
    work = tmp_path / "work"
    work.mkdir()
    np.save(work / "J.npy", J + J.T)
    sample = {"model": "file", "spin": "ising", "path": "J.npy"}
    (work / "run.toml").write_text(config_text(sample, ANNEAL, {"path": "out/run.h5"}))
    (work / "ref.toml").write_text(config_text(dict(sample, path=str(work / "J.npy")), ANNEAL,
                                               {"path": str(tmp_path / "ref.h5")}))
    assert invoke("run", work / "ref.toml", "--quiet").exit_code == 0
    monkeypatch.chdir(work)
    assert invoke("run", "run.toml", "--quiet", "--max-walltime", "0.001").exit_code == 75
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run_file = work / "out" / "run.h5"
    res = invoke("resume", run_file, "--quiet", "--max-walltime", "0.001")
    assert res.exit_code == 75, res.output
    with h5py.File(run_file, "r") as f:
        assert f"path = {str(work / 'J.npy')!r}".replace("'", '"') in str(f.attrs["config"])
        assert f["sample"].attrs["file_relative_to_run"] == os.path.join("..", "J.npy")
    moved = tmp_path / "moved"
    os.rename(work, moved)  # the run directory moves, couplings and all
    res = invoke("resume", moved / "out" / "run.h5", "--quiet")
    assert res.exit_code == 0, res.output
    assert_same_run(read_h5(moved / "out" / "run.h5"), read_h5(tmp_path / "ref.h5"))
    os.unlink(moved / "J.npy")  # and gone altogether: one line naming where it looked
    line = one_line_error(invoke("resume", moved / "out" / "run.h5", "--sweeps", "5", "--quiet"))
    assert "coupling file" in line and "J.npy" in line
    no_tmp_left(moved / "out" / "run.h5")
