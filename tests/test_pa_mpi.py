"""Population annealing over MPI (``mpiexec -n K rkky-mc run CONFIG --mpi``): the bits of one
process (every /pa dataset and the checkpoint), a K = 2 checkpoint resumed by one process,
bad input said once, the per-rank memory estimate. Skipped without mpi4py / mpiexec."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from rkky_mc.config import from_dict
from rkky_mc.resources import estimate

PY = sys.executable


def _mpiexec():
    pytest.importorskip("mpi4py", reason="the mpi extra (mpi4py, mpich) is not installed")
    exe = Path(PY).parent / "mpiexec"
    found = str(exe) if exe.exists() else shutil.which("mpiexec")
    if not found:
        pytest.skip("no mpiexec (install the mpich wheel: pip install 'rkky_mc[mpi]')")
    return found


def _datasets(path) -> dict:
    """Every dataset of a run file (/pa, the checkpoint, /sample, …) by name."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def _same_files(a, b):
    da, db = _datasets(a), _datasets(b)
    assert sorted(da) == sorted(db)
    assert any(n.startswith("pa/") for n in da)
    for name in da:
        x, y = np.asarray(da[name]), np.asarray(db[name])
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), name


CASES = {
    # Heisenberg with DM, dense, heat bath + over-relaxation; 31 slots: blocks of 15 and 16
    "heisenberg-dm": ('[sample]\nmodel = "sk"\nN = 9\nseed = 2\nspin = "heisenberg"\n'
                      'dm = "random"\ndm_strength = 0.7\n[anneal]\nupdate = "heatbath"\n'
                      'overrelaxation = 1\npopulation = 31\n'),
    # Ising, CSR, Metropolis (per-replica site orders from the sites streams), float32
    "ising-csr-float32": ('[sample]\nmodel = "ea"\nL = 3\nseed = 5\n[anneal]\n'
                          'precision = "float32"\npopulation = 40\n'),
}
ANNEAL = 'method = "pa"\nsweeps_per_temperature = 3\ntemperatures = [0.4, 0.7, 1.2, 2.0]\nseed = 11\n'


def _config(tmp_path, case) -> Path:
    path = tmp_path / f"{case}.toml"
    path.write_text(CASES[case] + ANNEAL)
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_two_ranks_give_the_bits_of_one_process(tmp_path, numba_env, case):
    mpiexec = _mpiexec()
    conf = _config(tmp_path, case)
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    proc = subprocess.run([PY, "-m", "rkky_mc.cli", "run", str(conf), "-o", str(one), "-q"],
                          env=numba_env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([mpiexec, "-n", "2", PY, "-m", "rkky_mc.cli", "run", str(conf), "-o",
                           str(two), "--mpi"], env=numba_env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("rho_t") == 1  # rank 0 alone prints the table
    _same_files(one, two)


_STOPPED_RUN = r'''
import sys
from mpi4py import MPI
from rkky_mc import provenance
from rkky_mc.config import load_config
from rkky_mc.couplings import build_sample
from rkky_mc.drivers import population_annealing as pam


class StopAfter:  # stop at the n-th call, chunks of at most `chunk` sweeps (rank 0 decides)
    # (4, 1): one sweep per chunk, stopped after the first sweep of the second temperature
    def __init__(self, n, chunk):
        self.n, self.calls, self.max_chunk_sweeps = n, 0, chunk

    def __call__(self):
        self.calls += 1
        return self.calls >= self.n


cfg = load_config(sys.argv[1])
sample = build_sample(cfg.sample, precision=cfg.anneal.precision)
pa = pam.start_run(cfg, sample, sys.argv[2], provenance.collect(), stop=StopAfter(4, 1),
                   threads=None, comm=MPI.COMM_WORLD)
assert not pa.finished
'''


def test_a_two_rank_checkpoint_resumes_in_one_process(tmp_path, numba_env):
    """Stopped mid-run (inside a temperature step) with K = 2, resumed with K = 1: the bits
    of an uninterrupted one-process run."""
    from rkky_mc import provenance
    from rkky_mc.simulation import prepare_resume, resume_run

    mpiexec = _mpiexec()
    conf = _config(tmp_path, "heisenberg-dm")
    script = tmp_path / "stopped.py"
    script.write_text(_STOPPED_RUN)
    parted, straight = tmp_path / "parted.h5", tmp_path / "straight.h5"
    proc = subprocess.run([mpiexec, "-n", "2", PY, str(script), str(conf), str(parted)],
                          env=numba_env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sim, info = prepare_resume(parted)
    assert info["driver"] == "pa" and 0 < sim.sweeps_done < sim.total_sweeps
    assert sim.pa_step_sweeps not in (0, sim.n_sweeps)  # stopped inside a step
    resume_run(sim, info, provenance.collect(), threads=None)
    assert sim.finished
    proc = subprocess.run([PY, "-m", "rkky_mc.cli", "run", str(conf), "-o", str(straight), "-q"],
                          env=numba_env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    a, b = _datasets(straight), _datasets(parted)
    for name in a:
        if name.startswith("pa/") or name.startswith("checkpoint"):
            assert np.asarray(a[name]).tobytes() == np.asarray(b[name]).tobytes(), name


def test_bad_input_under_mpi_is_said_once(tmp_path, numba_env):
    mpiexec = _mpiexec()
    conf = tmp_path / "pt.toml"
    conf.write_text('[sample]\nmodel = "sk"\nN = 8\n[anneal]\ntemperatures = [1.0]\n')
    proc = subprocess.run([mpiexec, "-n", "2", PY, "-m", "rkky_mc.cli", "run", str(conf), "-o",
                           str(tmp_path / "x.h5"), "--mpi"], env=numba_env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("rkky-mc: error:") == 1 and "anneal.method" in proc.stderr
    assert not (tmp_path / "x.h5").exists()


def test_memory_estimate_per_rank():
    """K ranks: each holds ⌈R_p/K⌉ slots twice; rank 0 also gathers the population for a
    checkpoint (once) and every rank the per-slot family, weight, parent and energy."""
    cfg = from_dict({"sample": {"model": "sk", "N": 64, "spin": "heisenberg"},
                     "anneal": {"method": "pa", "population": 10**5}})
    one = estimate(cfg).parts["population (twice: resampling)"]
    four = estimate(cfg, ranks=4).parts["population (per rank; twice: resampling; rank 0: checkpoint)"]
    per_slot = 6 * 64 * 8  # spin + field components × bytes
    assert one == 2 * per_slot * 10**5 + 8 * 64 * 10**5 + 256 * 10**5
    assert four == (2 * per_slot * 25000 + 8 * 64 * 25000 + 256 * 25000 + 32 * 10**5
                    + per_slot * 10**5 + 64 * 10**5)
    assert four < one


def test_a_one_process_checkpoint_resumes_on_two_ranks(tmp_path, numba_env):
    """Stopped inside a temperature step by one process, resumed by ``mpiexec -n 2 rkky-mc
    resume FILE --mpi``: the bits of an uninterrupted run; a finished run is said so once."""
    mpiexec = _mpiexec()
    conf = _config(tmp_path, "ising-csr-float32")
    script = tmp_path / "stopped.py"
    script.write_text(_STOPPED_RUN.replace("comm=MPI.COMM_WORLD", "comm=None"))
    parted, straight = tmp_path / "parted.h5", tmp_path / "straight.h5"
    proc = subprocess.run([PY, str(script), str(conf), str(parted)], env=numba_env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resume = [mpiexec, "-n", "2", PY, "-m", "rkky_mc.cli", "resume", str(parted), "--mpi"]
    proc = subprocess.run(resume + ["-q"], env=numba_env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([PY, "-m", "rkky_mc.cli", "run", str(conf), "-o", str(straight), "-q"],
                          env=numba_env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    a, b = _datasets(straight), _datasets(parted)
    for name in a:
        if name.startswith("pa/") or name.startswith("checkpoint"):
            assert np.asarray(a[name]).tobytes() == np.asarray(b[name]).tobytes(), name
    proc = subprocess.run(resume, env=numba_env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and proc.stderr.count("is finished") == 1, proc.stderr
