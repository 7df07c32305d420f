"""hdf5.py: the run-file layout, append / n_valid semantics, reading while written."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from rkky_mc import FORMAT, FORMAT_VERSION, __version__
from rkky_mc.config import Config
from rkky_mc.hdf5 import FormatError, RunWriter, check_rkky_mc_file, is_rkky_mc_file, read_run
from rkky_mc.kernels.measure import ladder_pairs

REPO = Path(__file__).resolve().parents[1]
TEMPS = np.array([0.5, 0.8, 1.2, 2.0])
SERIES = ("sweep", "energy", "magnetization", "overlap", "overlap_k2", "link_overlap",
          "link_overlap_bonds", "chiral_overlap", "chiral_overlap_k2", "chirality_sq", "walker")


def fake_sample(N=6, csr=False, positions=True):
    rng = np.random.default_rng(3)
    J = np.triu(rng.normal(size=(N, N)), 1)
    J = J + J.T
    dense, sparse = J, None
    if csr:
        indptr = np.concatenate([[0], np.cumsum((J != 0).sum(axis=1))]).astype(np.int64)
        indices = np.concatenate([np.nonzero(row)[0] for row in J]).astype(np.int32)
        sparse, dense = (indptr, indices, J[J != 0]), None
    return SimpleNamespace(
        model="rkky", spin="ising", n_spins=N, field=0.25, dense=dense, csr=sparse,
        positions=rng.random((N, 3)) * 2 if positions else None,
        box=np.full(3, 2.0) if positions else None,
        scale={"rms_coupling": 1.5, "j_nn": 0.002}, n_pairs=N * (N - 1) // 2, sha256="f" * 64,
    )


def rows(spin, m, start, T=4, R=3, seed=0):
    rng = np.random.default_rng(seed + start)
    P = R * (R - 1) // 2
    heis = spin == "heisenberg"
    return {
        "sweep": np.arange(start, start + m, dtype=np.int64),
        "energy": rng.normal(size=(m, T, R)),
        "magnetization": rng.normal(size=(m, T, R, 3) if heis else (m, T, R)),
        "overlap": rng.normal(size=(m, T, P, 3, 3) if heis else (m, T, P)),
        "overlap_k2": rng.random((m, T, P)),
        "link_overlap": rng.random((m, T, P)),
        "link_overlap_bonds": rng.random((m, T, P)),
        "walker": np.tile(np.arange(T)[:, None], (m, 1, R)),
    }


def make_writer(path, spin="ising", R=3, n_rows=5, sample=None, **kw):
    sample = sample or fake_sample()
    prov = {"host": "node1", "argv": ["rkky-mc", "run", "x.toml"], "cpus": 2, "job_id": None,
            "start_time": "2025-01-01T00:00:00+00:00"}
    return RunWriter(str(path), Config(), sample, prov, spin, TEMPS, R, n_rows, **kw)


@pytest.mark.parametrize("spin", ["ising", "heisenberg"])
def test_layout_shapes_dtypes_attrs(tmp_path, spin):
    path = tmp_path / "run.h5"
    with make_writer(path, spin, store_couplings=True):
        pass
    T, R, P, M = 4, 3, 3, 5
    heis = spin == "heisenberg"
    expect = {
        "sweep": ((M,), np.int64),
        "energy": ((M, T, R), np.float64),
        "magnetization": ((M, T, R, 3) if heis else (M, T, R), np.float64),
        "overlap": ((M, T, P, 3, 3) if heis else (M, T, P), np.float64),
        "overlap_k2": ((M, T, P), np.float64),
        "link_overlap": ((M, T, P), np.float64),
        "link_overlap_bonds": ((M, T, P), np.float64),
        "walker": ((M, T, R), np.int32),
    }
    with h5py.File(path, "r") as f:
        a = f.attrs
        assert a["format"] == FORMAT and a["format_version"] == FORMAT_VERSION
        assert a["rkky_mc_version"] == __version__
        assert a["status"] == "running" and a["n_valid"] == 0
        assert tomllib.loads(a["config"]) == tomllib.loads(Config().to_toml())
        assert f["provenance"].attrs["host"] == "node1"
        assert json.loads(f["provenance"].attrs["argv"]) == ["rkky-mc", "run", "x.toml"]
        assert f["provenance"].attrs["job_id"] == ""
        s = f["sample"].attrs
        assert (s["model"], s["spin"], s["N"], s["n_pairs"], s["sha256"]) == ("rkky", spin, 6, 15, "f" * 64)
        assert s["scale_rms_coupling"] == 1.5 and s["scale_j_nn"] == 0.002 and s["field"] == 0.25
        assert f["sample/positions"].shape == (6, 3) and f["sample/box"].shape == (3,)
        assert f["sample/couplings"].shape == (6, 6)
        np.testing.assert_array_equal(f["temperatures"][()], TEMPS)
        assert f["temperatures"].dtype == np.float64
        g = f["timeseries"]
        np.testing.assert_array_equal(g.attrs["pairs"], [[0, 1], [0, 2], [1, 2]])
        np.testing.assert_array_equal(g.attrs["pairs"], np.stack(ladder_pairs(R), axis=1))
        assert set(g) == set(SERIES)
        for name, (shape, dtype) in expect.items():
            ds = g[name]
            assert ds.shape == shape, name
            assert ds.dtype == dtype, name
            assert ds.maxshape[0] is None, name
            assert ds.chunks is not None and ds.compression in ("gzip", "lzf"), name
            row_bytes = ds.dtype.itemsize * int(np.prod(shape[1:]))
            assert ds.chunks[0] * row_bytes <= 256 * 1024 or ds.chunks[0] == 1, name
            for key in ("units", "description", "axes"):
                assert isinstance(ds.attrs[key], str) and ds.attrs[key], (name, key)
            assert ds.attrs["axes"].split(",")[0] == "M"
        assert g["energy"].attrs["units"] == "J0"
        # every dataset in the file is documented
        missing = []
        f.visititems(lambda n, o: missing.append(n) if isinstance(o, h5py.Dataset)
                     and not ("units" in o.attrs and "description" in o.attrs) else None)
        assert not missing


def test_csr_couplings_and_no_positions(tmp_path):
    path = tmp_path / "run.h5"
    sample = fake_sample(csr=True, positions=False)
    with make_writer(path, sample=sample, store_couplings=True):
        pass
    with h5py.File(path, "r") as f:
        c = f["sample/couplings"]
        assert isinstance(c, h5py.Group) and c.attrs["storage"] == "csr"
        for name, ref in zip(("indptr", "indices", "data"), sample.csr):
            np.testing.assert_array_equal(c[name][()], ref)
        assert "positions" not in f["sample"] and "box" not in f["sample"]
        assert f["sample"].attrs["storage"] == "csr"
    run = read_run(path, couplings=True)
    assert run.positions is None and run.box is None
    np.testing.assert_array_equal(run.couplings[2], sample.csr[2])


def test_no_couplings_unless_asked(tmp_path):
    path = tmp_path / "run.h5"
    with make_writer(path):
        pass
    with h5py.File(path, "r") as f:
        assert "couplings" not in f["sample"]


@pytest.mark.parametrize("spin", ["ising", "heisenberg"])
def test_append_n_valid_roundtrip_and_growth(tmp_path, spin):
    path = tmp_path / "run.h5"
    w = make_writer(path, spin, n_rows=4)
    try:
        run = read_run(path)  # nothing appended yet: empty, but the right row shapes
        assert run.n_valid == 0 and run.status == "running"
        assert run.timeseries["energy"].shape == (0, 4, 3)
        a, b, c = rows(spin, 3, 0), rows(spin, 2, 3), rows(spin, 4, 5)
        w.append(a)
        assert w.n_valid == 3
        with h5py.File(path, "r", locking=False) as f:
            assert f.attrs["n_valid"] == 3
            assert np.isnan(f["timeseries/energy"][3]).all()      # not yet data: fill value
            assert (f["timeseries/walker"][3] == -1).all()
        w.append(b)  # fills n_rows exactly
        w.append(c)  # grows beyond n_rows
        assert w.n_valid == 9 and w.n_rows >= 9
        w.write_tempering(np.arange(9).reshape(3, 3), 100, np.array([3, 4, 0]))
        w.finish("2025-01-02T00:00:00+00:00", wall_seconds=1.5)
    finally:
        w.close()
    run = read_run(path)
    assert run.status == "finished" and run.finished and run.n_valid == 9
    assert run.provenance["end_time"] == "2025-01-02T00:00:00+00:00"
    assert run.provenance["wall_seconds"] == 1.5
    assert run.provenance["start_time"] == "2025-01-01T00:00:00+00:00"
    assert run.spin == spin and run.sample["N"] == 6
    for name in a:  # the series given (the chiral ones are optional: left NaN)
        ref = np.concatenate([a[name], b[name], c[name]])
        np.testing.assert_array_equal(run.timeseries[name], ref, err_msg=name)
        assert run.timeseries_attrs[name]["units"]
    assert run.timeseries["walker"].dtype == np.int32
    np.testing.assert_array_equal(run.pairs, [[0, 1], [0, 2], [1, 2]])
    np.testing.assert_array_equal(run.temperatures, TEMPS)
    assert run.config["anneal"]["replicas"] == Config().anneal.replicas
    assert run.config_text == Config().to_toml()
    t = run.tempering
    np.testing.assert_allclose(t["swap_acceptance"], np.arange(9).reshape(3, 3) / 100)
    assert t["swap_attempted"] == 100
    np.testing.assert_array_equal(t["round_trips"], [1.5, 2.0, 0.0])
    np.testing.assert_allclose(run.positions, fake_sample().positions)


def test_read_while_writing_in_process_and_from_another_process(tmp_path):
    path = tmp_path / "run.h5"
    with make_writer(path, "heisenberg", n_rows=10) as w:
        w.append(rows("heisenberg", 3, 0))
        run = read_run(path)  # same process, writer still open
        assert run.n_valid == 3 and run.status == "running"
        assert run.timeseries["overlap"].shape == (3, 4, 3, 3, 3)
        w.append(rows("heisenberg", 2, 3))
        code = ("import json, sys; from rkky_mc.hdf5 import read_run; r = read_run(sys.argv[1]); "
                "print(json.dumps([r.n_valid, r.status, list(r.timeseries['overlap'].shape), "
                "r.timeseries['sweep'].tolist()]))")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                             env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == [5, "running", [5, 4, 3, 3, 3], [0, 1, 2, 3, 4]]
    # closed without finish(): an interrupted run, readable up to n_valid
    run = read_run(path)
    assert run.status == "running" and run.n_valid == 5


def test_reopen_appends_after_n_valid(tmp_path):
    path = tmp_path / "run.h5"
    with make_writer(path, n_rows=3) as w:
        w.append(rows("ising", 2, 0))
        w.finish()
    with RunWriter.reopen(path) as w:
        assert w.n_valid == 2
        assert read_run(path).status == "running"
        w.resize(6)
        w.append(rows("ising", 3, 2))
    run = read_run(path)
    assert run.n_valid == 5
    np.testing.assert_array_equal(run.timeseries["sweep"], np.arange(5))


def test_single_ladder_has_empty_pair_axes(tmp_path):
    path = tmp_path / "run.h5"
    with make_writer(path, "heisenberg", R=1, n_rows=2) as w:
        w.append(rows("heisenberg", 3, 0, R=1))
    run = read_run(path)
    assert run.pairs.shape == (0, 2)
    assert run.timeseries["overlap"].shape == (3, 4, 0, 3, 3)
    assert run.timeseries["energy"].shape == (3, 4, 1)


def test_append_checks_names_and_shapes(tmp_path):
    path = tmp_path / "run.h5"
    with make_writer(path) as w:
        bad = rows("ising", 2, 0)
        bad["energy"] = bad["energy"][:, :, :2]
        with pytest.raises(ValueError, match="energy"):
            w.append(bad)
        with pytest.raises(KeyError, match="bogus"):
            w.append({**rows("ising", 2, 0), "bogus": np.zeros(2)})
        with pytest.raises(KeyError, match="energy"):
            w.append({k: v for k, v in rows("ising", 2, 0).items() if k != "energy"})
        good = rows("ising", 2, 0)
        del good["link_overlap"], good["link_overlap_bonds"]  # optional: left NaN
        w.append(good)
        assert w.n_valid == 2
    run = read_run(path)
    assert np.isnan(run.timeseries["link_overlap"]).all()
    assert np.isnan(run.timeseries["link_overlap_bonds"]).all()


def _strip_bonds(path):
    """Make ``path`` look like a file written before link_overlap_bonds existed."""
    with h5py.File(path, "r+") as f:
        del f["timeseries/link_overlap_bonds"]


@pytest.mark.parametrize("spin", ["ising", "heisenberg"])
def test_old_file_without_bond_overlap_reads_and_resumes(tmp_path, spin):
    """Files from before link_overlap_bonds: read_run fills it with NaN (row shape (T, P));
    RunWriter.reopen (resume / extend) creates it, NaN for the rows already written."""
    path = tmp_path / "old.h5"
    a, b = rows(spin, 3, 0), rows(spin, 2, 3)
    with make_writer(path, spin, n_rows=4) as w:
        w.append(a)
        w.finish()
    _strip_bonds(path)
    run = read_run(path)
    assert run.timeseries["link_overlap_bonds"].shape == (3, 4, 3)
    assert np.isnan(run.timeseries["link_overlap_bonds"]).all()
    assert run.timeseries_attrs["link_overlap_bonds"]["units"] == "1"
    np.testing.assert_array_equal(run.timeseries["link_overlap"], a["link_overlap"])
    with RunWriter.reopen(path) as w:
        w.append(b)                                  # grows past the old n_rows = 4
    run = read_run(path)
    assert run.n_valid == 5
    qb = run.timeseries["link_overlap_bonds"]
    assert qb.shape == (5, 4, 3) and np.isnan(qb[:3]).all()
    np.testing.assert_array_equal(qb[3:], b["link_overlap_bonds"])
    with h5py.File(path, "r") as f:
        ds = f["timeseries/link_overlap_bonds"]
        assert ds.attrs["units"] == "1" and ds.attrs["axes"] == "M,T,P" and ds.attrs["description"]
        assert ds.shape[0] == f["timeseries/sweep"].shape[0]


def test_not_an_rkky_mc_file(tmp_path):
    missing = tmp_path / "nope.h5"
    with pytest.raises(FileNotFoundError):
        check_rkky_mc_file(missing)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(FormatError, match="not an HDF5 file"):
        read_run(text)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "something_else"
    with pytest.raises(FormatError, match="not an rkky_mc run file"):
        read_run(other)
    newer = tmp_path / "newer.h5"
    with h5py.File(newer, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(FormatError, match="format_version"):
        check_rkky_mc_file(newer)
    assert not any(is_rkky_mc_file(p) for p in (missing, text, other, newer))
    good = tmp_path / "good.h5"
    with make_writer(good):
        pass
    assert is_rkky_mc_file(good)
