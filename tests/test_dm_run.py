"""Runs with DM couplings (issue 17, wiring): the compiled DM chunk (kernels/dm_chunk.py) gives
the bits of the sweep-by-sweep reference (Simulation.sweep); D ≡ 0 gives the isotropic run's
bits; two spins with J and D have the exact ⟨E⟩(T) through a whole run; the run file
stores D and resume refuses a changed D.

D ≡ 0 is not routed to the isotropic kernels: it runs the DM kernels, which reproduce the
isotropic bits at D = 0 (kernels/dm.py, fma(ΔS, J, ±0)); the digest test checks that."""
from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
from digest_matrix import StopAfter, differing, file_digests
from exact import binned_mean
from test_chunk import _assert_same, _assert_same_state, _chunked, _reference
from test_dm import two_spin_energy

import rkky_mc
from rkky_mc import provenance
from rkky_mc.config import from_dict
from rkky_mc.couplings import build_sample
from rkky_mc.interactions.sample_dm import dm_pairs
from rkky_mc.simulation import ResumeError, Simulation, prepare_resume, resume_run, start_run

NSIGMA = 4.0

DM_SAMPLES = {
    "sk-random": {"model": "sk", "N": 12, "seed": 3, "dm": "random", "dm_strength": 0.5},
    # N = 130 ≥ 128: the deferred (batched) field updates of the dense sweeps
    "sk130-random": {"model": "sk", "N": 130, "seed": 3, "dm": "random", "dm_strength": 0.3},
    "rkky-fert-levy": {"model": "rkky", "L": 3, "concentration": 0.3, "seed": 5, "field": 0.1,
                       "dm": "fert_levy", "dm_strength": 0.8, "dm_concentration": 0.05,
                       "dm_phase": 0.5, "damping": 3.0},
}
MOVES = {
    "metropolis": {"update": "metropolis"},
    "heatbath-or2": {"update": "heatbath", "overrelaxation": 2},
}


def _sim(sample, moves, sweeps=20, measure_every=3):
    cfg = from_dict({
        "sample": {**DM_SAMPLES[sample], "spin": "heisenberg"},
        "anneal": {"temperatures": [0.4, 0.9, 1.7], "replicas": 3, "thermalization": 0,
                   "sweeps": sweeps, "measure_every": measure_every, "seed": 8,
                   "link_overlap": True, **MOVES[moves]},
    })
    return Simulation(cfg, build_sample(cfg.sample))


@pytest.mark.parametrize("moves", sorted(MOVES))
@pytest.mark.parametrize("sample", sorted(DM_SAMPLES))
def test_dm_chunks_give_the_bits_of_the_sweep_by_sweep_schedule(sample, moves):
    ref, new = _sim(sample, moves), _sim(sample, moves)
    assert new.dm is not None and new._chunk_args[0].__name__ == "dm_chunk_dense"
    want = _reference(ref, 20)
    got = _chunked(new, [1, 2, 7, 4, 6])
    _assert_same(want, got)
    _assert_same_state(ref, new)


def test_dm_fields_stay_exact():
    """After a chunk the incremental fields equal the from-scratch DM fields to rounding,
    and differ from the J-only fields (D is in them)."""
    sim = _sim("sk-random", "heatbath-or2")
    sim.run_chunk(15)
    h = [a.copy() for a in (sim.hx, sim.hy, sim.hz)]
    sim.recompute_fields()
    for a, b in zip(h, (sim.hx, sim.hy, sim.hz)):
        assert np.allclose(a, b, rtol=0, atol=1e-12)
    from rkky_mc.kernels.fields import local_fields3_dense

    iso = [np.empty_like(sim.hx) for _ in range(3)]
    local_fields3_dense(sim.J, sim.sx, sim.sy, sim.sz, sim.H, *iso)
    assert not np.allclose(iso[0], sim.hx, atol=1e-3)


# ------------------------------------------------------------------------------ D ≡ 0
ANNEAL = {"temperatures": [0.3, 0.6, 1.0, 1.8], "replicas": 2, "thermalization": 10,
          "sweeps": 30, "seed": 21, "link_overlap": True}


def _run_file(tmp_path, name, sample, anneal, store=False):
    cfg = from_dict({"sample": sample, "anneal": anneal,
                     "output": {"path": str(tmp_path / f"{name}.h5"), "store_couplings": store}})
    s = build_sample(cfg.sample)
    sim = start_run(cfg, s, cfg.output.path, provenance.collect(), threads=1)
    assert sim.finished
    return cfg.output.path, s


def _coupling_matrix(n, seed=4):
    gen = np.random.default_rng(seed)
    J = np.triu(gen.normal(size=(n, n)) * (gen.random((n, n)) < 0.7), 1)
    return J + J.T


@pytest.mark.parametrize("moves", [{"update": "metropolis"},
                                   {"update": "heatbath", "overrelaxation": 2}],
                         ids=["metropolis", "heatbath-or2"])
def test_zero_dm_has_the_isotropic_digests(tmp_path, moves):
    """A .npz with D = 0 and `random` with λ = 0: every /timeseries and /tempering dataset
    has the digest of the same run without D (N = 20 file: one move at a time; SK N = 130:
    the deferred field updates)."""
    anneal = {**ANNEAL, **moves}
    J = _coupling_matrix(20)
    np.save(tmp_path / "J.npy", J)
    np.savez(tmp_path / "JD.npz", J=J, D=np.zeros((20, 20, 3)))
    heis = {"spin": "heisenberg", "field": 0.2}
    iso, _ = _run_file(tmp_path, "iso", {"model": "file", "path": str(tmp_path / "J.npy"), **heis},
                       anneal)
    zero, s = _run_file(tmp_path, "zero", {"model": "file", "path": str(tmp_path / "JD.npz"),
                                           **heis}, anneal)
    assert s.dm is not None and not np.any(s.dm)
    a, b = file_digests(iso), file_digests(zero)
    assert len(a) > 10 and not differing(a, b), differing(a, b)
    sk = {"model": "sk", "N": 130, "seed": 12, "sparse": "dense", **heis}
    iso, _ = _run_file(tmp_path, "sk-iso", sk, anneal)
    zero, s = _run_file(tmp_path, "sk-zero", {**sk, "dm": "random", "dm_strength": 0.0}, anneal)
    assert s.dm is not None and not np.any(s.dm)
    a, b = file_digests(iso), file_digests(zero)
    assert not differing(a, b), differing(a, b)
    # and a D ≠ 0 moves them (the comparison can fail)
    small, _ = _run_file(tmp_path, "sk-small", {**sk, "dm": "random", "dm_strength": 1e-3}, anneal)
    assert "timeseries/energy" in differing(a, file_digests(small))


# ----------------------------------------------------------------------- file contract
def test_run_file_stores_D_and_resume_refuses_a_changed_D(tmp_path):
    n = 12
    J = _coupling_matrix(n)
    gen = np.random.default_rng(2)
    D = np.zeros((n, n, 3))
    iu, ju = np.triu_indices(n, 1)
    v = 0.4 * gen.normal(size=(len(iu), 3))
    D[iu, ju], D[ju, iu] = v, -v
    path = tmp_path / "JD.npz"
    np.savez(path, J=J, D=D)
    cfg = from_dict({"sample": {"model": "file", "path": str(path), "spin": "heisenberg"},
                     "anneal": {**ANNEAL, "update": "heatbath"},
                     "output": {"path": str(tmp_path / "run.h5"), "store_couplings": True}})
    sample = build_sample(cfg.sample)
    sim = start_run(cfg, sample, cfg.output.path, provenance.collect(), stop=StopAfter(17),
                    threads=1)
    assert not sim.finished and sim.sweeps_done == 17
    with h5py.File(cfg.output.path, "r") as f:
        assert np.array_equal(f["sample/dm"][()], D)
        assert f["sample/dm"].attrs["units"]
        assert f["sample"].attrs["dm"] == "file"
        ratio = math.sqrt((D**2).sum() / (J**2).sum())
        assert f["sample"].attrs["dm_rms_ratio"] == pytest.approx(ratio, rel=1e-12)
    # resume continues bit for bit (the whole run in one go has the same digests)
    sim, info = prepare_resume(cfg.output.path)
    assert sim.dm is not None
    resume_run(sim, info, provenance.collect(), threads=1)
    whole, _ = _run_file(tmp_path, "whole", {"model": "file", "path": str(path),
                                             "spin": "heisenberg"}, {**ANNEAL, "update": "heatbath"})
    assert not differing(file_digests(whole), file_digests(cfg.output.path))
    # a changed D: resume refuses (the sha256 covers D)
    D2 = D.copy()
    D2[0, 1, 0] += 0.25
    D2[1, 0, 0] -= 0.25
    np.savez(path, J=J, D=D2)
    with pytest.raises(ResumeError, match="sha256"):
        prepare_resume(cfg.output.path, extra_sweeps=5)


def test_fert_levy_run_stores_scatterers_and_attrs(tmp_path):
    sample = {**DM_SAMPLES["rkky-fert-levy"], "spin": "heisenberg"}
    path, s = _run_file(tmp_path, "fl", sample, {**ANNEAL, "sweeps": 3}, store=True)
    with h5py.File(path, "r") as f:
        assert np.array_equal(f["sample/scatterers"][()], s.scatterers)
        assert np.array_equal(f["sample/dm"][()], dm_pairs(s.dm))
        a = f["sample"].attrs
        assert a["dm"] == "fert_levy" and a["dm_strength"] == 0.8 and a["dm_phase"] == 0.5
        assert a["dm_concentration"] == 0.05 and a["dm_scatterers"] == len(s.scatterers)
        assert a["sha256"] == s.sha256
    mem = rkky_mc.run({"sample": sample, "anneal": {**ANNEAL, "sweeps": 3}}, backend="memory",
                      threads=1)
    assert np.array_equal(mem["energy"], rkky_mc.open_run(path)["energy"])


# -------------------------------------------------------------------------- two spins
@pytest.mark.parametrize("moves", [{"update": "metropolis"},
                                   {"update": "heatbath", "overrelaxation": 1}],
                         ids=["metropolis", "heatbath-or1"])
def test_two_spin_energy_through_a_run(tmp_path, moves):
    """⟨E⟩(T) of two spins with J and D (h = 0) from a whole run (.npz file, 3 temperatures
    with swaps, 16 ladders): Z ∝ ∫₋₁¹ du sinh(βv)/(βv), v² = J² + |D|²(1 − u²)
    (tests/test_dm.two_spin_energy). 4000 measured sweeps per walker in 40 bins of 100,
    ≫ the few-sweep autocorrelation time of two spins; 4σ per temperature."""
    J, d = 0.6, 1.1
    Dv = d * np.array([0.48, -0.6, 0.64])
    Dv *= d / np.linalg.norm(Dv)
    D = np.zeros((2, 2, 3))
    D[0, 1], D[1, 0] = Dv, -Dv
    np.savez(tmp_path / "two.npz", J=np.array([[0.0, J], [J, 0.0]]), D=D)
    temps = [0.4, 0.8, 1.6]
    run = rkky_mc.run({"sample": {"model": "file", "path": str(tmp_path / "two.npz"),
                                  "spin": "heisenberg"},
                       "anneal": {"temperatures": temps, "replicas": 16, "thermalization": 200,
                                  "sweeps": 4000, "seed": 5, "link_overlap": False, **moves}},
                      backend="memory", threads=1)
    e = 2.0 * np.asarray(run["energy"])[200:]          # (M, T, R): energy per spin × N
    for t, T in enumerate(temps):
        mean, err = binned_mean(e[:, t, :])
        exact = two_spin_energy(J, d, 1.0 / T)
        assert abs(mean - exact) < NSIGMA * err, f"T = {T}: {mean:.5f} ± {err:.5f} vs {exact:.5f}"
        # the run sees D: without it ⟨E⟩ is ≥ 8σ away
        assert abs(two_spin_energy(J, 0.0, 1.0 / T) - exact) > 2 * NSIGMA * err
