"""The `rkky-mc run` path end to end: the demo config, the HDF5 contract, reproducibility."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, config_text, read_h5

TIMESERIES = ("sweep", "energy", "magnetization", "overlap", "overlap_k2", "link_overlap",
              "link_overlap_bonds", "walker")


def test_demo_config_runs_and_has_the_contract(tmp_path, run_rkky):
    """runs/demo.toml (shortened) through the CLI: every contract dataset, shape and attribute."""
    import tomllib

    demo = tomllib.loads((REPO / "runs" / "demo.toml").read_text())
    anneal = dict(demo["anneal"], thermalization=20, sweeps=40, measure_every=3)
    data = run_rkky(demo["sample"], anneal)
    T = len(data["temperatures"])
    R = anneal["replicas"]
    P = R * (R - 1) // 2
    M = -(-60 // 3)
    root = data["@/"]
    assert root["format"] == "rkky_mc" and root["status"] == "finished" and root["n_valid"] == M
    assert "[sample]" in root["config"] and "format_version" in root
    prov = data["@provenance"]
    for key in ("rkky_mc_version", "python_version", "numpy_version", "numba_version", "h5py_version",
                "host", "cpu", "command_line", "start_time", "end_time"):
        assert key in prov, key
    s = data["@sample"]
    assert s["model"] == "rkky" and s["N"] == data["sample/positions"].shape[0]
    assert len(s["sha256"]) == 64
    assert np.all(np.diff(data["temperatures"]) > 0)
    ts = {k: data[f"timeseries/{k}"] for k in TIMESERIES}
    assert np.array_equal(ts["sweep"], np.arange(0, 60, 3))
    assert ts["energy"].shape == (M, T, R)
    spin = demo["sample"].get("spin", "ising")
    if spin == "ising":
        assert ts["magnetization"].shape == (M, T, R) and ts["overlap"].shape == (M, T, P)
    else:
        assert ts["magnetization"].shape == (M, T, R, 3) and ts["overlap"].shape == (M, T, P, 3, 3)
    assert ts["overlap_k2"].shape == ts["link_overlap"].shape == (M, T, P)
    assert np.all(np.isfinite(ts["overlap_k2"])) and np.all(np.isfinite(ts["link_overlap"]))
    # the unweighted bond overlap: measured for CSR storage only (the demo sample is dense)
    assert ts["link_overlap_bonds"].shape == (M, T, P)
    if s["storage"] == "csr":
        assert np.all(np.isfinite(ts["link_overlap_bonds"]))
    else:
        assert np.all(np.isnan(ts["link_overlap_bonds"]))
    assert ts["walker"].shape == (M, T, R)
    for r in range(R):  # each row of walker is a permutation of the ladder's walkers
        assert np.all(np.sort(ts["walker"][:, :, r], axis=1) == np.arange(T))
    for k in TIMESERIES:
        attrs = data[f"@timeseries/{k}"]
        assert "units" in attrs and "description" in attrs, k
    assert any(k.startswith("tempering/") for k in data)


def _run_subprocess(tmp_path, name, sample, anneal, threads, env):
    out = tmp_path / f"{name}_{threads}.h5"
    cfg = tmp_path / f"{name}_{threads}.toml"
    cfg.write_text(config_text(sample, anneal, {"path": str(out)}))
    env = dict(env, NUMBA_NUM_THREADS=str(threads))
    proc = subprocess.run([sys.executable, "-m", "rkky_mc.cli", "run", str(cfg), "--quiet"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return read_h5(out)


@pytest.mark.parametrize("sample,anneal", [
    ({"model": "sk", "N": 40, "spin": "ising", "seed": 4},
     {"temperatures": {"min": 0.4, "max": 2.0, "count": 5}, "replicas": 3, "thermalization": 30,
      "sweeps": 60, "update": "metropolis", "seed": 6}),
    ({"model": "rkky", "L": 3, "concentration": 0.3, "spin": "heisenberg", "seed": 4, "field": 0.1},
     {"temperatures": [0.3, 0.6, 1.2], "replicas": 3, "thermalization": 20, "sweeps": 40,
      "update": "heatbath", "overrelaxation": 1, "seed": 6}),
    ({"model": "ea", "L": 3, "spin": "ising", "seed": 4},
     {"temperatures": [0.5, 1.0, 2.0], "replicas": 2, "thermalization": 20, "sweeps": 40,
      "update": "heatbath", "seed": 6}),
], ids=["sk-ising", "rkky-heisenberg", "ea-csr"])
def test_bit_identical_for_any_thread_count(tmp_path, numba_env, sample, anneal):
    one = _run_subprocess(tmp_path, "a", sample, anneal, 1, numba_env)
    two = _run_subprocess(tmp_path, "b", sample, anneal, 2, numba_env)
    again = _run_subprocess(tmp_path, "c", sample, anneal, 2, numba_env)
    keys = [k for k in one if k.startswith(("timeseries/", "tempering/", "sample/"))] + ["temperatures"]
    assert any(k.startswith("tempering/") for k in keys)
    for k in keys:
        assert np.array_equal(one[k], two[k], equal_nan=True), k
        assert np.array_equal(two[k], again[k], equal_nan=True), k
    # the run actually moved: energies change along the series
    assert np.std(one["timeseries/energy"]) > 0


def test_executable_collects_garbage_during_the_run_and_main_leaves_the_collector_alone(
        tmp_path, numba_env):
    """`rkky-mc` (cli.entry) skips collections during start-up and freezes at exit (a faster
    tiny run), but collects during the sweeps; in-process callers of main keep their own
    collector settings."""
    import gc

    from rkky_mc.cli import main

    cfg = tmp_path / "tiny.toml"
    out = tmp_path / "tiny.h5"
    cfg.write_text(config_text({"model": "sk", "N": 8, "seed": 1},
                               {"temperatures": [0.5, 1.0], "replicas": 2, "thermalization": 2,
                                "sweeps": 4, "seed": 2}, {"path": str(out)}))
    script = ("import gc, sys\nfrom rkky_mc import cli\n"
              f"sys.argv = ['rkky-mc', 'run', {str(cfg)!r}, '--quiet', '--overwrite']\n"
              "try:\n    cli.entry()\nexcept SystemExit as exc:\n"
              "    print(exc.code, gc.isenabled(), gc.get_freeze_count() > 0)\n")
    proc = subprocess.run([sys.executable, "-c", script], env=numba_env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "True", "True"]
    assert read_h5(out)["@/"]["status"] == "finished"

    enabled, frozen = gc.isenabled(), gc.get_freeze_count()
    with pytest.raises(SystemExit) as exc:
        main(["run", str(cfg), "--quiet", "--overwrite"])
    assert exc.value.code == 0
    assert gc.isenabled() == enabled and gc.get_freeze_count() == frozen
