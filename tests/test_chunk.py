"""The compiled schedule (kernels/chunk.py, Simulation.run_chunk): the same bits as the
sweep-by-sweep reference (Simulation.sweep + Simulation.measure, the Python schedule the
digest table was made with), for any chunk lengths; and a warm run compiles nothing."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rkky_mc.config import from_dict
from rkky_mc.couplings import build_sample
from rkky_mc.simulation import FIELD_REFRESH_SWEEPS, Simulation, single_row, stack_rows

SAMPLES = {
    "sk-dense": {"model": "sk", "N": 12, "seed": 3, "sparse": "dense"},
    "ea-csr": {"model": "ea", "L": 3, "distribution": "gaussian", "seed": 4, "sparse": "csr"},
    "rkky-dense": {"model": "rkky", "L": 3, "concentration": 0.3, "seed": 5, "field": 0.1,
                   "sparse": "dense"},
}
MOVES = {
    "ising-metropolis": ("ising", {"update": "metropolis"}),
    "ising-heatbath": ("ising", {"update": "heatbath"}),
    "heis-metropolis": ("heisenberg", {"update": "metropolis"}),
    "heis-heatbath-or2": ("heisenberg", {"update": "heatbath", "overrelaxation": 2}),
}


def _sim(sample, spin, moves, precision="float64", sweeps=20, measure_every=3):
    cfg = from_dict({
        "sample": {**SAMPLES[sample], "spin": spin},
        "anneal": {"temperatures": [0.4, 0.9, 1.7], "replicas": 3, "thermalization": 0,
                   "sweeps": sweeps, "measure_every": measure_every, "seed": 8,
                   "precision": precision, "link_overlap": True, **moves},
    })
    return Simulation(cfg, build_sample(cfg.sample, precision=precision))


def _reference(sim, n):
    """n sweeps the sweep-by-sweep way; the rows measured in them (one block)."""
    k = sim.cfg.anneal.measure_every
    rows = []
    for _ in range(n):
        s = sim.sweeps_done
        sim.sweep()
        if s % k == 0:
            row = sim.measure()
            row["sweep"] = np.int64(s)
            rows.append(single_row(row))
    return stack_rows(rows)


def _chunked(sim, lengths):
    return stack_rows([sim.run_chunk(n) for n in lengths])


def _assert_same(a, b):
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        assert a[name].tobytes() == b[name].tobytes(), name  # bits, NaN payloads included


def _assert_same_state(x, y):
    sx, sy = x.state_dict(), y.state_dict()
    for name in sx:
        assert np.asarray(sx[name]).tobytes() == np.asarray(sy[name]).tobytes(), name
    assert x.energies.tobytes() == y.energies.tobytes()


@pytest.mark.parametrize("moves", sorted(MOVES))
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_chunks_give_the_bits_of_the_sweep_by_sweep_schedule(sample, moves):
    spin, anneal = MOVES[moves]
    ref, new = _sim(sample, spin, anneal), _sim(sample, spin, anneal)
    want = _reference(ref, 20)
    got = _chunked(new, [1, 2, 7, 4, 6])  # boundaries on and off measured sweeps
    _assert_same(want, got)
    _assert_same_state(ref, new)
    assert new.sweeps_done == 20 and len(got["sweep"]) == 7  # sweeps 0, 3, …, 18


@pytest.mark.parametrize("spin,sample", [("ising", "sk-dense"), ("heisenberg", "ea-csr")])
def test_float32_refresh_inside_and_at_chunk_boundaries(spin, sample):
    """float32 recomputes the fields before sweep 256: inside a chunk and as its first sweep."""
    n = FIELD_REFRESH_SWEEPS + 10
    ref = _sim(sample, spin, {}, "float32", sweeps=n, measure_every=50)
    a = _sim(sample, spin, {}, "float32", sweeps=n, measure_every=50)
    b = _sim(sample, spin, {}, "float32", sweeps=n, measure_every=50)
    want = _reference(ref, n)
    _assert_same(want, _chunked(a, [100, n - 100]))
    _assert_same(want, _chunked(b, [FIELD_REFRESH_SWEEPS, 10]))
    _assert_same_state(ref, a)
    _assert_same_state(ref, b)


def test_a_chunk_without_a_measured_sweep_returns_empty_rows():
    sim = _sim("sk-dense", "ising", {}, measure_every=5)
    sim.run_chunk(1)
    rows = sim.run_chunk(3)  # sweeps 1, 2, 3
    assert all(len(v) == 0 for v in rows.values()) and sim.sweeps_done == 4


def test_run_commits_every_row_once_whatever_the_chunking():
    sim = _sim("ea-csr", "heisenberg", {"update": "heatbath"}, sweeps=40, measure_every=3)
    commits = []
    assert sim.run(commit=lambda blocks, final: commits.append((stack_rows(blocks), final)))
    (rows, final), = commits
    assert final and rows["sweep"].tolist() == list(range(0, sim.cfg.total_sweeps, 3))


def test_a_warm_run_compiles_nothing(tmp_path):
    """Every kernel a run uses comes from numba's on-disk cache once it is warm: the second
    of two identical runs in fresh processes triggers no numba compilation at all."""
    script = textwrap.dedent("""
        import sys
        from numba.core import event
        compiled = []
        class Listener(event.Listener):
            def on_start(self, ev):
                compiled.append(str(ev.data.get("dispatcher")))
            def on_end(self, ev):
                pass
        event.register("numba:compile", Listener())
        import rkky_mc
        for spin, sparse in (("ising", "dense"), ("heisenberg", "csr")):
            rkky_mc.run({"sample": {"model": "sk", "N": 6, "seed": 1, "spin": spin,
                                    "sparse": sparse},
                         "anneal": {"temperatures": [0.5, 1.0], "replicas": 2,
                                    "thermalization": 2, "sweeps": 6, "seed": 1}},
                        backend="memory", threads=None)
        print(len(compiled), sorted(set(compiled)))
    """)
    out = []
    for _ in range(2):
        res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             check=True)
        out.append(res.stdout.strip())
    assert out[1].startswith("0 "), f"a warm run compiled: {out[1]}"
