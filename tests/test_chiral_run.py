"""Chirality series of runs (issue 17): /sample/triplets, chiral_overlap, chiral_overlap_k2 and
chirality_sq in every Heisenberg run (NaN without triplets and for Ising runs), exact values
at T = ∞, and files written before the series existed.

The chunk == sweep-by-sweep bits of the chiral rows are checked by tests/test_chunk.py (its
Heisenberg cases: SK without triplets, EA L = 3, RKKY with positions) and
tests/test_dm_run.py; the kernels against numpy in tests/test_chirality.py."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from exact import binned_mean

import rkky_mc
from rkky_mc import provenance
from rkky_mc.config import from_dict
from rkky_mc.couplings import build_sample
from rkky_mc.hdf5 import read_run
from rkky_mc.observables_chiral import ea_triplets, nearest_neighbour_triplets
from rkky_mc.simulation import prepare_resume, resume_run, start_run

CHIRAL = ("chiral_overlap", "chiral_overlap_k2", "chirality_sq")
ANNEAL = {"temperatures": [0.5, 1.0], "replicas": 3, "thermalization": 2, "sweeps": 6,
          "seed": 3}


def _run(tmp_path, sample, anneal=ANNEAL, name="run.h5", stop=None):
    cfg = from_dict({"sample": sample, "anneal": anneal,
                     "output": {"path": str(tmp_path / name)}})
    sim = start_run(cfg, build_sample(cfg.sample), cfg.output.path, provenance.collect(),
                    stop=stop, threads=1)
    return cfg.output.path, sim


def test_ea_run_stores_lattice_triplets_and_measures(tmp_path):
    path, _ = _run(tmp_path, {"model": "ea", "L": 4, "seed": 2, "spin": "heisenberg"})
    run = read_run(path)
    assert np.array_equal(run.triplets, ea_triplets(4)) and run.triplets.shape == (192, 3)
    for name in CHIRAL:
        assert np.all(np.isfinite(run.timeseries[name])), name
    k2 = run.timeseries["chirality_sq"]
    assert k2.shape == (8, 2, 3) and np.all((k2 > 0) & (k2 <= 1))
    with h5py.File(path, "r") as f:
        assert f["timeseries/chiral_overlap"].attrs["axes"] == "M,T,P"
        assert f["sample/triplets"].dtype == np.int64


def test_rkky_run_has_nearest_neighbour_triplets(tmp_path):
    path, sim = _run(tmp_path, {"model": "rkky", "L": 3, "concentration": 0.3, "seed": 5,
                                "spin": "heisenberg"})
    run = read_run(path)
    assert np.array_equal(run.triplets, nearest_neighbour_triplets(run.positions, run.box))
    assert np.all(np.isfinite(run.timeseries["chiral_overlap_k2"]))


@pytest.mark.parametrize("sample", [{"model": "sk", "N": 8, "seed": 1, "spin": "heisenberg"},
                                    {"model": "sk", "N": 8, "seed": 1, "spin": "ising"},
                                    {"model": "ea", "L": 3, "seed": 1, "spin": "ising"}],
                         ids=["sk-heisenberg", "sk-ising", "ea-ising"])
def test_no_triplets_or_ising_gives_nan(tmp_path, sample):
    path, _ = _run(tmp_path, sample)
    run = read_run(path)
    for name in CHIRAL:
        assert run.timeseries[name].shape[0] == 8 and np.all(np.isnan(run.timeseries[name]))
    if sample["spin"] == "heisenberg":
        assert run.triplets.shape == (0, 3)
    else:
        assert run.triplets is None  # Ising runs store no triplets


def test_file_with_positions_gets_triplets(tmp_path):
    n = 9
    gen = np.random.default_rng(3)
    J = np.triu(gen.normal(size=(n, n)), 1)
    pos = gen.random((n, 3)) * 4.0
    np.savez(tmp_path / "c.npz", J=J + J.T, positions=pos, box=np.full(3, 4.0))
    path, _ = _run(tmp_path, {"model": "file", "path": str(tmp_path / "c.npz"),
                              "spin": "heisenberg"})
    run = read_run(path)
    assert np.array_equal(run.triplets, nearest_neighbour_triplets(pos, np.full(3, 4.0)))
    assert np.all(np.isfinite(run.timeseries["chiral_overlap"]))
    assert np.all(np.isfinite(run.timeseries["overlap_k2"]))  # positions feed q(k) too


def test_infinite_temperature_moments_through_a_run():
    """T = 10⁶ (β|h| ≲ 1e-5): heat-bath spins are independent uniform vectors at every sweep.
    For distinct triplet sets (EA L = 4: 192 of them) the κ_t are uncorrelated with
    ⟨κ²⟩ = 2/9, so ⟨κ²⟩ = 2/9, N_t⟨q_χ²⟩ = (2/9)² = 4/81, and N_t⟨|q_χ(k)|²⟩ = 4/81 for
    each k ≠ 0 as well. 2000 sweeps × 4 ladders (6 pairs), 40 bins; 4σ (the sweeps are
    independent; a β of 1e-6 biases ⟨κ²⟩ by O(β²), far below σ ≈ 5e-4)."""
    run = rkky_mc.run({"sample": {"model": "ea", "L": 4, "seed": 7, "spin": "heisenberg"},
                       "anneal": {"temperatures": [1e6], "replicas": 4, "thermalization": 0,
                                  "sweeps": 2000, "update": "heatbath", "seed": 9,
                                  "link_overlap": False}}, backend="memory", threads=1)
    n_t = 192
    checks = [("chirality_sq", np.asarray(run["chirality_sq"]), 2.0 / 9.0),
              ("N_t q_chi^2", n_t * np.asarray(run["chiral_overlap"]) ** 2, 4.0 / 81.0),
              ("N_t |q_chi(k)|^2", n_t * np.asarray(run["chiral_overlap_k2"]), 4.0 / 81.0)]
    for name, series, exact in checks:
        mean, err = binned_mean(series)
        assert abs(mean - exact) < 4 * err, f"{name}: {mean:.5f} ± {err:.5f} vs {exact:.5f}"
        assert err < 0.05 * exact  # a test that can fail: σ is 5 % of the value at most


def test_file_without_chiral_series_reads_and_resumes(tmp_path):
    """A file of an older version (no chiral datasets): read_run fills NaN; a resume creates
    the datasets, NaN for the old rows and measured from then on."""
    from digest_matrix import StopAfter

    sample = {"model": "ea", "L": 4, "seed": 2, "spin": "heisenberg"}
    path, sim = _run(tmp_path, sample, stop=StopAfter(4))
    assert sim.sweeps_done == 4
    with h5py.File(path, "r+") as f:
        for name in CHIRAL:
            del f["timeseries"][name]
    run = read_run(path)
    for name in CHIRAL:
        assert run.timeseries[name].shape[0] == 4 and np.all(np.isnan(run.timeseries[name]))
    sim, info = prepare_resume(path)
    resume_run(sim, info, provenance.collect(), threads=1)
    run = read_run(path)
    q = run.timeseries["chiral_overlap"]
    assert q.shape[0] == 8 and np.all(np.isnan(q[:4])) and np.all(np.isfinite(q[4:]))
