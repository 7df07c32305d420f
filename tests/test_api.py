"""The Python API: rkky_mc.open_run / rkky_mc.run and the read-only Run object."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import rkky_mc
from rkky_mc.config import ConfigError
from rkky_mc.observables_registry import REGISTRY

CONFIG = {"sample": {"model": "rkky", "L": 3, "concentration": 0.1, "seed": 2},
          "anneal": {"temperatures": [0.3, 0.7, 1.5], "replicas": 3, "thermalization": 5,
                     "sweeps": 15, "measure_every": 2, "seed": 4}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same config run in memory, and to a file then opened."""
    path = tmp_path_factory.mktemp("api") / "r.h5"
    mem = rkky_mc.run(CONFIG, threads=None)
    rkky_mc.run(CONFIG, backend="hdf5", output=path, threads=None)
    return mem, rkky_mc.open_run(path)


def test_memory_and_file_runs_give_identical_arrays(runs):
    mem, disk = runs
    assert mem.keys() == disk.keys() == list(REGISTRY)
    for name in mem.keys():
        a, b = mem[name], disk[name]
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
    for name in mem.tempering:
        assert np.asarray(mem.tempering[name]).tobytes() == np.asarray(disk.tempering[name]).tobytes()
    assert mem.temperatures.tolist() == disk.temperatures.tolist() == [0.3, 0.7, 1.5]
    assert mem.sample["sha256"] == disk.sample["sha256"]
    assert np.array_equal(mem.sample["positions"], disk.sample["positions"])
    assert dict(mem.config["anneal"]) == dict(disk.config["anneal"])
    assert mem.path.startswith("memory:") and disk.path.endswith("r.h5")


def test_run_object_shapes_and_read_only(runs):
    mem, _ = runs
    n = len(range(0, 20, 2))
    assert mem.n_valid == n and mem.finished and mem.status == "finished"
    assert mem["energy"].shape == (n, 3, 3) and mem["overlap"].shape == (n, 3, 3)
    assert mem["sweep"].tolist() == list(range(0, 20, 2))
    assert mem.units("energy") == "J0" and "overlap" in mem.description("overlap")
    with pytest.raises(ValueError):
        mem["energy"][0, 0, 0] = 1.0
    with pytest.raises(TypeError):
        mem.config["anneal"]["seed"] = 5
    with pytest.raises(KeyError, match="no time series 'chirality'"):
        mem["chirality"]
    assert mem.sample["N"] == mem.sample["positions"].shape[0]


def test_to_xarray_named_dims(runs):
    pytest.importorskip("xarray")
    mem, disk = runs
    ds = disk.to_xarray()
    assert ds["energy"].dims == ("measurement", "temperature", "replica")
    assert ds["overlap"].dims == ("measurement", "temperature", "pair")
    assert ds["temperature"].values.tolist() == [0.3, 0.7, 1.5]
    assert ds["sweep"].values.tolist() == list(range(0, 20, 2))
    assert ds["pair_a"].values.tolist() == [0, 0, 1] and ds["pair_b"].values.tolist() == [1, 2, 2]
    assert ds["energy"].attrs["units"] == "J0"
    assert np.array_equal(ds["walker"].values, mem["walker"])


def test_to_xarray_heisenberg_components(tmp_path):
    pytest.importorskip("xarray")
    cfg = {"sample": {"model": "sk", "N": 6, "spin": "heisenberg", "seed": 1},
           "anneal": {"temperatures": [0.5, 1.0], "replicas": 2, "thermalization": 2,
                      "sweeps": 4, "seed": 3}}
    ds = rkky_mc.run(cfg, threads=None).to_xarray()
    assert ds["magnetization"].dims == ("measurement", "temperature", "replica", "component")
    assert ds["overlap"].dims == ("measurement", "temperature", "pair", "component_a", "component_b")
    assert ds["component"].values.tolist() == ["x", "y", "z"]


def test_to_xarray_without_xarray_says_so(runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(ImportError, match="needs xarray: pip install xarray"):
        runs[0].to_xarray()


def test_open_a_run_that_is_still_running(tmp_path):
    """A run stopped after 5 sweeps stays "running"; open_run reads its rows."""
    from rkky_mc import provenance
    from rkky_mc.config import from_dict
    from rkky_mc.couplings import build_sample
    from rkky_mc.simulation import start_run

    cfg = from_dict({k: dict(v) for k, v in CONFIG.items()})
    class StopAfter5:  # Simulation.run calls it after every chunk; one-sweep chunks
        max_chunk_sweeps, calls = 1, 0

        def __call__(self):
            self.calls += 1
            return self.calls >= 5

    start_run(cfg, build_sample(cfg.sample), tmp_path / "x.h5", provenance.collect(),
              stop=StopAfter5(), threads=None)
    run = rkky_mc.open_run(tmp_path / "x.h5")
    assert run.status == "running" and not run.finished
    assert run["sweep"].tolist() == [0, 2, 4]
    assert run["energy"].shape == (3, 3, 3)


def test_run_from_a_toml_path_and_bad_input(tmp_path):
    text = ('[sample]\nmodel = "sk"\nN = 6\nseed = 1\n[anneal]\ntemperatures = [1.0, 2.0]\n'
            'replicas = 2\nthermalization = 1\nsweeps = 3\nseed = 1\n')
    (tmp_path / "c.toml").write_text(text)
    assert rkky_mc.run(tmp_path / "c.toml", threads=None).n_valid == 4
    with pytest.raises(ConfigError, match="anneal.replicas"):
        rkky_mc.run({"sample": {"model": "sk", "N": 6}, "anneal": {"replicas": 0}})
    with pytest.raises(ValueError, match="backend = 'zarr'"):
        rkky_mc.run(tmp_path / "c.toml", backend="zarr")
