"""The seams of docs/architecture.md: spin types, moves, drivers, registry-driven rows."""
from __future__ import annotations

import numpy as np
import pytest

from rkky_mc import config as cfgmod
from rkky_mc.config import load_config
from rkky_mc.couplings import build_sample
from rkky_mc.drivers import DRIVERS
from rkky_mc.kernels import chunk as kchunk
from rkky_mc.moves import MOVES, UPDATES
from rkky_mc.observables_registry import REGISTRY
from rkky_mc.simulation import Simulation
from rkky_mc.spins import SPIN_TYPES, spin_type


def _sim(spin, sparse="dense", update="metropolis", overrelaxation=0):
    text = f"""
[sample]
model = "sk"
N = 7
spin = "{spin}"
sparse = "{sparse}"
seed = 3
[anneal]
temperatures = [0.6, 1.0, 1.7]
replicas = 3
thermalization = 2
sweeps = 4
update = "{update}"
overrelaxation = {overrelaxation}
"""
    cfg = load_config(text=text)
    return Simulation(cfg, build_sample(cfg.sample))


def test_registries_are_what_the_config_accepts():
    assert cfgmod.SPINS == tuple(SPIN_TYPES) == ("ising", "heisenberg")
    assert cfgmod.UPDATES == UPDATES == ("metropolis", "heatbath")
    # the chunk functions branch on these ids
    assert MOVES["metropolis"].chunk_id == kchunk.METROPOLIS
    assert MOVES["heatbath"].chunk_id == kchunk.HEATBATH
    assert MOVES["overrelaxation"].spins() == ("heisenberg",)
    assert set(MOVES["heatbath"].spins()) == {"ising", "heisenberg"}
    assert "pt" in DRIVERS and DRIVERS["pt"].group == "tempering"
    with pytest.raises(KeyError, match="known: ising, heisenberg"):
        spin_type("potts")
    # one module per disorder model (models/), the names the config accepts
    from rkky_mc.models import MODEL_BUILDERS

    assert tuple(MODEL_BUILDERS) == cfgmod.MODELS


@pytest.mark.parametrize("name,gaussian", [("ising", 3.0), ("heisenberg", 11.0 / 9.0)])
def test_binder_ratio_limits(name, gaussian):
    # ordered phase |q| fixed: q4 = q2² -> g = 1; Gaussian overlap components -> g = 0
    st = spin_type(name)
    assert st.binder_ratio(2.0, 4.0) == pytest.approx(1.0, abs=1e-15)
    assert st.binder_ratio(1.0, gaussian) == pytest.approx(0.0, abs=1e-15)


def test_heisenberg_gaussian_binder_from_samples():
    # 9 independent Gaussian tensor components: ⟨(Σq²)²⟩/⟨Σq²⟩² = 11/9 exactly; the sample
    # estimate of g has σ ≈ 0.005 for 4e5 draws (delta method), 4σ = 0.02
    q = np.random.default_rng(1).normal(size=(400_000, 3, 3))
    q2 = np.sum(q * q, axis=(1, 2))
    assert abs(spin_type("heisenberg").binder_ratio(q2.mean(), (q2 * q2).mean())) < 0.02


@pytest.mark.parametrize("spin", ["ising", "heisenberg"])
def test_state_names_are_spin_plus_driver_plus_walker_arrays(spin):
    sim = _sim(spin)
    st, drv = SPIN_TYPES[spin], DRIVERS["pt"]
    names = sim.state_names()
    assert len(names) == len(set(names))
    assert set(names) == set(st.state_arrays) | set(drv.state_arrays) | {
        "rng_walkers", "rng_sites", "flips"}
    for name in st.state_arrays:
        assert getattr(sim, name).shape == (sim.W, sim.N)
    assert sim.perm.shape == (sim.R, sim.T)


@pytest.mark.parametrize("spin,sparse", [("ising", "dense"), ("ising", "csr"),
                                         ("heisenberg", "dense"), ("heisenberg", "csr")])
def test_row_buffers_follow_the_registry_and_the_reference_measurement(spin, sparse):
    sim = _sim(spin, sparse)
    rows = sim.row_buffers(5)
    assert tuple(rows) == sim.spin.chunk_series
    ref = sim.measure()
    for name, block in rows.items():
        o = REGISTRY[name]
        assert block.dtype == np.dtype(o.dtype)
        assert block.shape == (5,) + o.row_shape(spin, sim.T, sim.R, sim.P)
        if name != "sweep":
            assert block.shape[1:] == np.shape(ref[name]), name
    # one compiled chunk writes rows of exactly these shapes
    got = sim.run_chunk(3)
    assert {k: v.shape[1:] for k, v in got.items()} == {k: v.shape[1:] for k, v in rows.items()}
