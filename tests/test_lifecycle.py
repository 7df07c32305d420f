"""Run lifecycle: kills at any instant, faults inside commits, signals, corrupted checkpoints,
extension — every resumed run must equal the uninterrupted one bit for bit."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from conftest import config_text, read_h5

SAMPLE = {"model": "sk", "N": 24, "spin": "ising", "seed": 3}
ANNEAL = {"temperatures": [0.4, 0.7, 1.1, 1.6], "replicas": 2, "thermalization": 200,
          "sweeps": 20000, "update": "metropolis", "seed": 7}
HEIS_SAMPLE = {"model": "rkky", "L": 3, "concentration": 0.2, "spin": "heisenberg", "seed": 3}
HEIS_ANNEAL = {"temperatures": [0.3, 0.6, 1.2], "replicas": 2, "thermalization": 100,
               "sweeps": 15000, "update": "heatbath", "overrelaxation": 1, "seed": 7}


def compared(data: dict) -> dict:
    return {k: v for k, v in data.items() if k.startswith(("timeseries/", "tempering/"))}


def assert_same_run(a: dict, b: dict):
    ka, kb = compared(a), compared(b)
    assert sorted(ka) == sorted(kb)
    for k in ka:
        assert np.array_equal(ka[k], kb[k], equal_nan=True), k
    assert a["@/"]["n_valid"] == b["@/"]["n_valid"]
    assert a["@/"]["status"] == b["@/"]["status"] == "finished"


def cli(args, env, timeout=300):
    return subprocess.run([sys.executable, "-m", "rkky_mc.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def write_config(tmp_path, name, sample, anneal, interval):
    out = tmp_path / f"{name}.h5"
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(config_text(sample, anneal, {"path": str(out), "checkpoint_interval": interval}))
    return cfg, out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted runs (in process, via the CLI) to compare against."""
    from click.testing import CliRunner

    from rkky_mc.cli import main

    tmp = tmp_path_factory.mktemp("ref")
    refs = {}
    for name, sample, anneal in (("ising", SAMPLE, ANNEAL), ("heis", HEIS_SAMPLE, HEIS_ANNEAL)):
        cfg, out = write_config(tmp, name, sample, anneal, 600.0)
        result = CliRunner().invoke(main, ["run", str(cfg), "--quiet"])
        assert result.exit_code == 0, result.output
        refs[name] = read_h5(out)
    return refs


def test_checkpoint_frequency_does_not_change_results(tmp_path, reference, run_rkky):
    data = run_rkky(SAMPLE, ANNEAL, output={"checkpoint_interval": 1e-3})
    assert_same_run(data, reference["ising"])


def test_sigkill_at_random_instants_then_resume(tmp_path, numba_env, run_rkky):
    """≥ 10 SIGKILLs at random instants (fixed seed), each followed by resume.

    The run is long enough (~5 s of compiled sweeps, after 0.6-1 s of start-up per process) that
    the kills land inside it: each attempt advances by at most the kill delay."""
    anneal = dict(ANNEAL, sweeps=2_000_000, measure_every=200)
    reference = run_rkky(SAMPLE, anneal)
    rng = np.random.default_rng(2024)
    cfg, out = write_config(tmp_path, "killed", SAMPLE, anneal, 0.02)
    kills, attempts = 0, 0
    while True:
        attempts += 1
        assert attempts < 100, "run never completed"
        args = ["resume", str(out), "--quiet"] if (out.exists() or out.with_suffix(".h5.prev").exists()) \
            else ["run", str(cfg), "--quiet"]
        proc = subprocess.Popen([sys.executable, "-m", "rkky_mc.cli", *args], env=numba_env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if kills < 12:
            # start-up (imports, cached kernels) takes ~1 s; kill at a random instant around it
            time.sleep(rng.uniform(0.2, 1.1))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        break
    assert kills >= 10, f"the run finished after only {kills} kills: make it longer"
    assert not out.with_suffix(".h5.tmp").exists()
    assert_same_run(read_h5(out), reference)


@pytest.mark.parametrize("point", ["commit:copied:2", "timeseries:partial:2", "commit:rows:2",
                                   "commit:before-link:2", "commit:before-rename:2", "commit:copied:1"])
def test_fault_inside_commit(tmp_path, reference, numba_env, point):
    cfg, out = write_config(tmp_path, "fault", SAMPLE, ANNEAL, 0.01)
    proc = cli(["run", str(cfg), "--quiet"], dict(numba_env, RKKY_MC_FAULT=point))
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)
    assert out.exists()  # the previous generation is in place
    with h5py.File(out, "r") as f:  # and it is a sound file
        assert f.attrs["status"] == "running"
    proc = cli(["resume", str(out), "--quiet"], numba_env)
    assert proc.returncode == 0, proc.stderr
    assert_same_run(read_h5(out), reference["ising"])


def test_sigterm_exits_75_and_resumes_exactly(tmp_path, numba_env, run_rkky):
    # long enough (~3 s of compiled sweeps) that the signal, 0.3 s after the first
    # generation, lands inside the run
    anneal = dict(HEIS_ANNEAL, sweeps=200_000, measure_every=20)
    k = anneal["measure_every"]
    cfg, out = write_config(tmp_path, "term", HEIS_SAMPLE, anneal, 600.0)
    proc = subprocess.Popen([sys.executable, "-m", "rkky_mc.cli", "run", str(cfg), "--quiet"],
                            env=numba_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not out.exists():  # the first generation exists once sweeping starts
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.3)
    t_signal = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    exit_time = time.monotonic() - t_signal
    assert proc.returncode == 75, err
    assert "resume" in err
    assert exit_time < 10.0  # one sweep plus one commit
    with h5py.File(out, "r") as f:
        done = int(f["checkpoint"].attrs["sweeps_done"])
        assert f.attrs["status"] == "running"
        assert 0 < done < anneal["thermalization"] + anneal["sweeps"]
        # every measured sweep up to the checkpoint is in the time series, nothing after it
        assert f.attrs["n_valid"] == -(-done // k)
    proc = cli(["resume", str(out), "--quiet"], numba_env)
    assert proc.returncode == 0, proc.stderr
    assert_same_run(read_h5(out), run_rkky(HEIS_SAMPLE, anneal))


def _interrupted_copy(tmp_path, numba_env, name):
    """A run stopped by a fault after a few commits: (file, previous generation exists)."""
    cfg, out = write_config(tmp_path, name, SAMPLE, ANNEAL, 0.01)
    proc = cli(["run", str(cfg), "--quiet"], dict(numba_env, RKKY_MC_FAULT="commit:copied:2"))
    assert proc.returncode == -signal.SIGKILL
    assert out.exists() and out.with_suffix(".h5.prev").exists()
    return out


@pytest.mark.parametrize("damage", ["truncate", "flip-checkpoint-bytes"])
def test_corrupted_latest_checkpoint_falls_back(tmp_path, reference, numba_env, damage):
    out = _interrupted_copy(tmp_path, numba_env, damage)
    if damage == "truncate":
        size = out.stat().st_size
        with open(out, "r+b") as fh:
            fh.truncate(size // 2)
    else:
        with h5py.File(out, "r+") as f:  # silent corruption of the state, checksum unchanged
            f["checkpoint/spins"][0, 0] *= -1
    proc = cli(["resume", str(out), "--quiet"], numba_env)
    assert proc.returncode == 0, proc.stderr
    assert "previous" in proc.stderr  # the warning names the fallback
    assert_same_run(read_h5(out), reference["ising"])


def test_no_usable_checkpoint_is_a_clear_error(tmp_path, numba_env):
    out = _interrupted_copy(tmp_path, numba_env, "both")
    for p in (out, out.with_suffix(".h5.prev")):
        with h5py.File(p, "r+") as f:
            f["checkpoint/rng_walkers"][0, 0] ^= np.uint64(1)
    before = out.read_bytes()
    proc = cli(["resume", str(out), "--quiet"], numba_env)
    assert proc.returncode == 2
    assert "checkpoint" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == before  # nothing damaged further


def test_extend_finished_run_equals_longer_run(tmp_path, numba_env, run_rkky):
    short = dict(ANNEAL, sweeps=1000)
    cfg, out = write_config(tmp_path, "short", SAMPLE, short, 600.0)
    assert cli(["run", str(cfg), "--quiet"], numba_env).returncode == 0
    proc = cli(["resume", str(out), "--sweeps", "600", "--quiet"], numba_env)
    assert proc.returncode == 0, proc.stderr
    longer = run_rkky(SAMPLE, dict(ANNEAL, sweeps=1600))
    extended = read_h5(out)
    assert_same_run(extended, longer)
    assert "sweeps = 1600" in extended["@/"]["config"]
    # resuming a finished run without --sweeps does nothing and says so
    proc = cli(["resume", str(out)], numba_env)
    assert proc.returncode == 0 and "finished" in proc.stderr
    assert compared(read_h5(out)).keys() == compared(extended).keys()


def killed_then_resumed(tmp_path, name, sample, anneal, env) -> dict:
    """A CLI run SIGKILLed inside its second checkpoint commit, then resumed: its file."""
    cfg, out = write_config(tmp_path, name, sample, anneal, 0.01)
    proc = cli(["run", str(cfg), "--quiet"], dict(env, RKKY_MC_FAULT="commit:copied:2"))
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)
    proc = cli(["resume", str(out), "--quiet"], env)
    assert proc.returncode == 0, proc.stderr
    return read_h5(out)


EA_SAMPLE = {"model": "ea", "L": 4, "distribution": "gaussian", "spin": "ising", "seed": 3}
EA_ANNEAL = {"temperatures": [0.8, 1.2, 2.0], "replicas": 2, "thermalization": 100,
             "sweeps": 8000, "measure_every": 2, "update": "metropolis", "seed": 7}


def test_csr_bond_overlap_fault_resume_and_old_file_extend(tmp_path, numba_env, run_rkky):
    """CSR couplings (EA): the bond overlap survives a kill + resume bit for bit; a file
    written before link_overlap_bonds existed resumes (extend) with NaN for its old rows and
    exactly the uninterrupted run's values for the new ones."""
    reference = run_rkky(EA_SAMPLE, EA_ANNEAL)
    assert np.isfinite(reference["timeseries/link_overlap_bonds"]).all()
    assert_same_run(killed_then_resumed(tmp_path, "ea_fault", EA_SAMPLE, EA_ANNEAL, numba_env),
                    reference)

    short = dict(EA_ANNEAL, sweeps=300)
    cfg, out = write_config(tmp_path, "ea_old", EA_SAMPLE, short, 600.0)
    assert cli(["run", str(cfg), "--quiet"], numba_env).returncode == 0
    with h5py.File(out, "r+") as f:        # as written before the dataset existed
        n_old = int(f.attrs["n_valid"])
        del f["timeseries/link_overlap_bonds"]
    proc = cli(["resume", str(out), "--sweeps", "200", "--quiet"], numba_env)
    assert proc.returncode == 0, proc.stderr
    longer = run_rkky(EA_SAMPLE, dict(EA_ANNEAL, sweeps=500))
    extended = read_h5(out)
    qb, qb_ref = extended["timeseries/link_overlap_bonds"], longer["timeseries/link_overlap_bonds"]
    assert np.isnan(qb[:n_old]).all() and np.array_equal(qb[n_old:], qb_ref[n_old:])
    extended["timeseries/link_overlap_bonds"] = qb_ref      # everything else: the same run
    assert_same_run(extended, longer)


F32_SAMPLE = {"model": "rkky", "L": 3, "concentration": 0.3, "spin": "ising", "seed": 4}
F32_ANNEAL = {"temperatures": [0.3, 0.6, 1.2], "replicas": 2, "thermalization": 100,
              "sweeps": 6000, "update": "metropolis", "precision": "float32", "seed": 7}


def test_float32_dense_run_resumes_after_kill(tmp_path, numba_env, run_rkky):
    """float32 dense couplings (built without a float64 copy): the resume rebuilds them in
    float32, matches the stored checksum (that of the float64 couplings) and ends bit for
    bit on the uninterrupted run."""
    reference = run_rkky(F32_SAMPLE, F32_ANNEAL)
    f64 = run_rkky(F32_SAMPLE, dict(F32_ANNEAL, precision="float64", sweeps=10))
    assert reference["@sample"]["sha256"] == f64["@sample"]["sha256"]
    assert_same_run(killed_then_resumed(tmp_path, "f32_fault", F32_SAMPLE, F32_ANNEAL, numba_env),
                    reference)


def test_walltime_stop(tmp_path, numba_env):
    anneal = dict(ANNEAL, sweeps=10_000_000)  # far more than fits in the limit
    cfg, out = write_config(tmp_path, "wall", SAMPLE, anneal, 600.0)
    t0 = time.monotonic()
    proc = cli(["run", str(cfg), "--quiet", "--max-walltime", "00:00:08"], numba_env)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 75, proc.stderr
    assert elapsed < 8.0 + 5.0  # start-up (not counted by the limit) is ~1-2 s
    with h5py.File(out, "r") as f:
        assert int(f["checkpoint"].attrs["sweeps_done"]) > 0


def test_info_describes_a_running_file(tmp_path, numba_env):
    out = _interrupted_copy(tmp_path, numba_env, "info")
    proc = cli(["info", str(out)], numba_env)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for needle in ("model sk", "N = 24", "status: running", "swap acceptance", "round trips",
                   "last checkpoint", "equilibration", "temperatures (4)"):
        assert needle in text, (needle, text)


def test_provenance_recorded(tmp_path, run_rkky, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    data = run_rkky(SAMPLE, dict(ANNEAL, sweeps=10, thermalization=0))
    prov = data["@provenance"]
    assert prov["job_id"] == "4242"
    for key in ("rkky_mc_version", "git_commit", "python_version", "numpy_version", "numba_version",
                "h5py_version", "host", "cpu", "command_line", "start_time", "end_time"):
        assert key in prov
    assert prov["cpu"] == data["@checkpoint"]["cpu"]


def test_checkpointer_due_by_time_or_by_buffered_bytes(tmp_path):
    """A commit is due after ``interval`` seconds, or as soon as the buffered rows exceed
    ``max_buffer_bytes`` (each row 4·2·8 + 8 = 72 bytes here: 2 rows fit in 200, 3 do not)."""
    from rkky_mc.simulation import Checkpointer

    row = {"energy": np.zeros((4, 2)), "sweep": np.int64(0)}
    ckpt = Checkpointer(tmp_path / "x.h5", None, interval=1e9, max_buffer_bytes=200)
    assert not ckpt.due([])
    assert not ckpt.due([row])
    assert not ckpt.due([row, row])
    assert ckpt.due([row, row, row])
    assert not ckpt.due([row])  # the row size is measured once and kept
    assert Checkpointer(tmp_path / "x.h5", None, interval=0.0).due([])  # time is up
