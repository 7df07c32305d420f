"""The storage contract (rkky_mc.io.Recorder), run over every backend.

Each test builds a tiny real run (SK, N = 8, 3 temperatures, 2 ladders) so that rows and
checkpoint states are the ones a run produces, and checks what the Recorder gives back
against what went in, bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

from rkky_mc import checkpoint, provenance
from rkky_mc.config import from_dict
from rkky_mc.couplings import build_sample
from rkky_mc.io import BACKENDS, MemoryRecorder, Recorder, RunLayout
from rkky_mc.kernels.measure import ladder_pairs
from rkky_mc.observables_registry import OPTIONAL_SERIES, REGISTRY
from rkky_mc.simulation import Simulation, prepare_resume, resume_run, single_row, stack_rows, start_run

CONFIGS = {
    "ising": {"sample": {"model": "sk", "N": 8, "seed": 5},
              "anneal": {"temperatures": [0.4, 0.9, 2.0], "replicas": 2, "thermalization": 6,
                         "sweeps": 18, "measure_every": 2, "seed": 9}},
    "heisenberg": {"sample": {"model": "ea", "L": 2, "spin": "heisenberg", "seed": 5,
                              "distribution": "pm1"},
                   "anneal": {"temperatures": [0.3, 0.8], "replicas": 3, "thermalization": 4,
                              "sweeps": 12, "update": "heatbath", "overrelaxation": 1,
                              "seed": 9}},
}


def _cfg(spin="ising", **anneal):
    data = {k: dict(v) for k, v in CONFIGS[spin].items()}
    data["anneal"].update(anneal)
    return from_dict(data)


@pytest.fixture(params=sorted(BACKENDS))
def make_recorder(request, tmp_path):
    """make_recorder(name) -> a fresh, not yet created Recorder of this test's backend."""
    def _make(name="run"):
        if request.param == "hdf5":
            return BACKENDS["hdf5"](tmp_path / f"{name}.h5")
        return BACKENDS["memory"](name)
    _make.backend = request.param
    return _make


def _created(make_recorder, spin="ising", **anneal):
    cfg = _cfg(spin, **anneal)
    sample = build_sample(cfg.sample)
    sim = Simulation(cfg, sample)
    rec = make_recorder()
    rec.create(RunLayout.for_run(cfg, sample, {"command_line": "test"}, sim.temperatures, sim.R),
               sim.state_dict(), {"sweeps_done": np.int64(0)})
    return rec, sim


def _rows(sim, n):
    rows = []
    for _ in range(n):
        s = sim.sweeps_done
        sim.sweep()
        row = sim.measure()
        row["sweep"] = np.int64(s)
        rows.append(single_row(row))
    return stack_rows(rows)


def _commit(rec, sim, rows, **kw):
    rec.commit(rows, sim.state_dict(), {"sweeps_done": np.int64(sim.sweeps_done)},
               tempering=sim.tempering_stats(), **kw)


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_is_a_recorder(make_recorder):
    assert isinstance(make_recorder(), Recorder)
    assert not make_recorder().exists()


@pytest.mark.parametrize("spin", ["ising", "heisenberg"])
def test_rows_back_and_n_valid(make_recorder, spin):
    rec, sim = _created(make_recorder, spin)
    assert rec.exists()
    first = rec.read()
    assert first.n_valid == 0 and first.status == "running"
    T, R, P = sim.T, sim.R, sim.P
    for name, o in REGISTRY.items():  # empty but shaped from the registry
        assert first.timeseries[name].shape == (0, *o.row_shape(spin, T, R, P))
        assert first.timeseries[name].dtype == o.dtype
        assert first.timeseries_attrs[name]["axes"] == o.axes_attr(spin)
    a, b = _rows(sim, 3), _rows(sim, 4)
    _commit(rec, sim, a)
    _commit(rec, sim, b)
    run = rec.read()
    assert run.n_valid == 7 and rec.root_attrs()["n_valid"] == 7
    for name in REGISTRY:
        if name not in a:  # an optional series the spin type does not measure (Ising chirality)
            assert REGISTRY[name].optional and np.isnan(run.timeseries[name]).all(), name
            assert run.timeseries[name].shape[0] == 7
            continue
        want = np.concatenate([a[name], b[name]]).astype(REGISTRY[name].dtype)
        assert _same(run.timeseries[name], want), name
    assert _same(run.temperatures, sim.temperatures)
    assert run.pairs.tolist() == np.stack(ladder_pairs(R), axis=1).tolist()


def test_rows_beyond_the_layout_grow_it(make_recorder):
    rec, sim = _created(make_recorder, measure_every=100)  # layout: 1 row
    rows = _rows(sim, 5)
    _commit(rec, sim, rows)
    assert _same(rec.read().timeseries["energy"], rows["energy"])


def test_optional_series_may_be_left_out_and_read_nan(make_recorder):
    rec, sim = _created(make_recorder)
    rows = _rows(sim, 2)
    for name in OPTIONAL_SERIES:
        rows.pop(name, None)  # (Ising rows have no chiral series to drop)
    _commit(rec, sim, rows)
    run = rec.read()
    from rkky_mc.observables_registry import REGISTRY

    for name in OPTIONAL_SERIES:
        row = REGISTRY[name].row_shape(sim.sample.spin, sim.T, sim.R, sim.P)
        assert run.timeseries[name].shape == (2, *row)
        assert np.isnan(run.timeseries[name]).all()


@pytest.mark.parametrize("damage", ["unknown", "missing", "shape"])
def test_bad_rows_raise_and_leave_the_last_generation(make_recorder, damage):
    rec, sim = _created(make_recorder)
    good = _rows(sim, 2)
    _commit(rec, sim, good)
    bad = _rows(sim, 1)
    if damage == "unknown":
        bad["chirality"] = bad["energy"]
    elif damage == "missing":
        del bad["energy"]
    else:
        bad["energy"] = bad["energy"][:, :1]
    with pytest.raises((KeyError, ValueError)):
        _commit(rec, sim, bad)
    run = rec.read()
    assert run.n_valid == 2 and _same(run.timeseries["energy"], good["energy"])
    state, meta = rec.recover()
    assert int(meta["n_valid"]) == 2


@pytest.mark.parametrize("spin", ["ising", "heisenberg"])
def test_checkpoint_round_trip_bit_for_bit(make_recorder, spin):
    rec, sim = _created(make_recorder, spin)
    state0, meta0 = rec.recover()
    assert int(meta0["sweeps_done"]) == 0 and int(meta0["n_valid"]) == 0
    _commit(rec, sim, _rows(sim, 3))
    want = sim.state_dict()
    state, meta = rec.recover()
    assert sorted(state) == sorted(want)
    for name in want:
        assert _same(state[name], want[name]), name
    assert int(meta["sweeps_done"]) == 3 and int(meta["n_valid"]) == 3
    assert meta["checksum"] == checkpoint.state_checksum(want)
    assert rec.checkpoint_meta()["checksum"] == meta["checksum"]
    # the returned state is a copy: changing it changes nothing stored
    state[sorted(state)[0]][...] = 0
    again, _ = rec.recover()
    assert _same(again[sorted(state)[0]], want[sorted(state)[0]])


def test_tempering_statistics(make_recorder):
    rec, sim = _created(make_recorder)
    _commit(rec, sim, _rows(sim, 6))
    tp = rec.read().tempering
    assert _same(tp["swap_accepted"], sim.n_accepted)
    assert int(tp["swap_attempted"]) == 6
    assert _same(tp["swap_acceptance"], sim.n_accepted / 6)
    assert _same(tp["half_trips"], sim.half_trips)
    assert _same(tp["round_trips"], sim.half_trips / 2.0)


def test_adapted_ladder_statistics_and_temperatures(make_recorder):
    """A self-tuning ladder (drivers/ladder.py) commits ladder_* with its statistics: every
    backend stores them, /temperatures becomes the current ladder, and the checkpoint of that
    generation (with its ladder) recovers."""
    ladder = {"min": 0.4, "max": 2.0, "count": 4, "adapt": "acceptance"}
    rec, sim = _created(make_recorder, temperatures=ladder, thermalization=100, sweeps=10)
    first = sim.temperatures.copy()
    _commit(rec, sim, _rows(sim, 9))   # updates at sweeps 1, 2, 3, 4, 6, 9 (update_sweeps(100))
    run = rec.read()
    tp = run.tempering
    assert tp["ladder_history"].shape == (7, 4) and _same(tp["ladder_history"][0], first)
    assert tp["ladder_sweeps"].tolist() == [0, 1, 2, 3, 4, 6, 9]
    assert tp["ladder_acceptance"].shape == (6, 3) and int(tp["ladder_freeze_sweep"]) == 50
    assert _same(run.temperatures, sim.temperatures) and _same(tp["ladder_history"][-1], sim.temperatures)
    assert not np.array_equal(sim.temperatures, first)   # it moved (the endpoints did not)
    assert _same(sim.temperatures[[0, -1]], first[[0, -1]])
    assert int(tp["swap_attempted"]) == 0                  # counters restart on a new ladder
    assert _same(rec.ladder()[0], sim.temperatures)
    state, _meta = rec.recover()
    assert _same(state["temperatures"], sim.temperatures) and _same(state["betas"], sim.betas)


def test_finish_status_attrs_and_provenance(make_recorder):
    rec, sim = _created(make_recorder)
    _commit(rec, sim, _rows(sim, 1), root_attrs={"config": "edited"}, provenance={"resumed_at": "x"})
    run = rec.read()
    assert run.status == "running" and run.attrs["config"] == "edited"
    assert run.provenance["resumed_at"] == "x" and run.provenance["command_line"] == "test"
    assert run.attrs["format"] == "rkky_mc" and run.attrs["format_version"] == 1
    _commit(rec, sim, _rows(sim, 1), finished=True, finish_info={"end_time": "2026-01-01"})
    run = rec.read()
    assert run.status == "finished" and run.finished and run.n_valid == 2
    assert run.provenance["end_time"] == "2026-01-01"
    # a later commit (resume / extend) marks it running again, as RunWriter.reopen does
    _commit(rec, sim, _rows(sim, 1), resize=10)
    assert rec.read().status == "running"


def test_resize_keeps_rows(make_recorder):
    rec, sim = _created(make_recorder)
    rows = _rows(sim, 3)
    _commit(rec, sim, rows, resize=1)  # never below n_valid
    _commit(rec, sim, None, resize=40)
    run = rec.read()
    assert run.n_valid == 3 and _same(run.timeseries["walker"], rows["walker"])


def test_generations_and_a_second_writer(make_recorder):
    rec, sim = _created(make_recorder)
    assert rec.root_attrs()["generation"] == 1
    g = rec.commit(_rows(sim, 1), sim.state_dict(), {"sweeps_done": np.int64(1)}, generation=1)
    assert g == 2 and rec.root_attrs()["generation"] == 2
    # a writer that last wrote generation 1 is refused, and nothing is written
    with pytest.raises(checkpoint.ConcurrentWriterError):
        rec.commit(_rows(sim, 1), sim.state_dict(), {"sweeps_done": np.int64(2)}, generation=1)
    assert rec.read().n_valid == 1 and rec.root_attrs()["generation"] == 2
    assert rec.commit(None, sim.state_dict(), {"sweeps_done": np.int64(2)}) == 3


def test_create_over_a_run_needs_replace(make_recorder):
    rec, sim = _created(make_recorder)
    _commit(rec, sim, _rows(sim, 2))
    cfg = _cfg()
    sample = build_sample(cfg.sample)
    fresh = Simulation(cfg, sample)
    layout = RunLayout.for_run(cfg, sample, {}, fresh.temperatures, fresh.R)
    with pytest.raises(checkpoint.CheckpointError):
        rec.create(layout, fresh.state_dict(), {"sweeps_done": np.int64(0)})
    assert rec.read().n_valid == 2  # the old run is untouched
    rec.create(layout, fresh.state_dict(), {"sweeps_done": np.int64(0)}, replace=True)
    assert rec.read().n_valid == 0 and rec.root_attrs()["generation"] == 1


def test_read_series(make_recorder):
    rec, sim = _created(make_recorder)
    rows = _rows(sim, 3)
    _commit(rec, sim, rows)
    assert _same(rec.read_series("sweep"), rows["sweep"])
    assert _same(rec.read_series("overlap"), rows["overlap"])


def test_recover_without_a_run_is_a_checkpoint_error(make_recorder):
    with pytest.raises(checkpoint.CheckpointError):
        make_recorder("never").recover()


class _StopAfter:
    """stop() for Simulation.run: True once ``n`` sweeps are done (one-sweep chunks)."""

    max_chunk_sweeps = 1

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self):
        self.calls += 1
        return self.calls >= self.n


def _all_data(run):
    out = {f"timeseries/{k}": v for k, v in run.timeseries.items()}
    out.update({f"tempering/{k}": v for k, v in run.tempering.items()})
    return out


@pytest.mark.parametrize("spin", ["ising", "heisenberg"])
def test_read_while_running_and_resume_gives_the_same_bits(make_recorder, spin):
    cfg = _cfg(spin)
    sample = build_sample(cfg.sample)
    prov = provenance.collect()
    whole = make_recorder("whole")
    start_run(cfg, sample, whole, prov, threads=None)
    parted = make_recorder("parted")
    sim = start_run(cfg, sample, parted, prov, stop=_StopAfter(7), threads=None)
    assert not sim.finished and sim.sweeps_done == 7
    mid = parted.read()  # a run that stopped early: "running", rows up to the stop
    want_sweeps = list(range(0, 7, cfg.anneal.measure_every))  # rows measured before the stop
    assert mid.status == "running" and mid.timeseries["sweep"].tolist() == want_sweeps
    sim, info = prepare_resume(parted)
    assert sim.sweeps_done == 7
    resume_run(sim, info, prov, threads=None)
    a, b = whole.read(), parted.read()
    assert a.status == b.status == "finished" and a.n_valid == b.n_valid == cfg.n_measurements
    da, db = _all_data(a), _all_data(b)
    assert sorted(da) == sorted(db)
    for name in da:
        assert _same(da[name], db[name]), name


def test_memory_and_file_runs_are_identical(tmp_path):
    cfg = _cfg("ising")
    sample = build_sample(cfg.sample)
    prov = provenance.collect()
    mem = MemoryRecorder()
    disk = BACKENDS["hdf5"](tmp_path / "r.h5")
    start_run(cfg, sample, mem, prov, threads=None)
    start_run(cfg, sample, disk, prov, threads=None)
    a, b = mem.read(), disk.read()
    da, db = _all_data(a), _all_data(b)
    assert sorted(da) == sorted(db)
    for name in da:
        assert _same(da[name], db[name]), name
    assert a.timeseries_attrs == b.timeseries_attrs
    assert a.sample == b.sample
    assert {k: v for k, v in a.attrs.items()} == {k: v for k, v in b.attrs.items()}
    sa, ma = mem.recover()
    sb, mb = disk.recover()
    assert ma["checksum"] == mb["checksum"]


def test_driver_output_groups(make_recorder):
    """commit(groups=): a driver's output group is written whole by each commit, read back
    bit for bit with its units and description (RunData.groups / groups_attrs), replaced
    (not merged) by the next commit, and kept by a commit that does not name it; the
    layout's own group names are refused and leave the last generation."""
    rec, sim = _created(make_recorder)
    first = {"pa": {"free_energy": (np.array([-1.5, np.nan]), "J0", "f per spin"),
                    "families": (np.array([7, 3], dtype=np.int64), "1", "families"),
                    "steps": (np.int64(2), "1", "steps done")}}
    _commit(rec, sim, _rows(sim, 1), groups=first)
    run = rec.read()
    assert sorted(run.groups) == ["pa"] and sorted(run.groups["pa"]) == ["families", "free_energy", "steps"]
    for name, (value, units, desc) in first["pa"].items():
        assert _same(run.groups["pa"][name], value), name
        assert run.groups_attrs["pa"][name] == {"units": units, "description": desc}
    _commit(rec, sim, _rows(sim, 1), groups={"pa": {"families": (np.array([9]), "1", "f")}})
    assert sorted(rec.read().groups["pa"]) == ["families"]
    _commit(rec, sim, _rows(sim, 1))
    assert _same(rec.read().groups["pa"]["families"], np.array([9]))
    before = rec.root_attrs()["generation"]
    for bad in ("tempering", "checkpoint", "a/b"):
        with pytest.raises(ValueError):
            _commit(rec, sim, None, groups={bad: {"x": (np.zeros(1), "1", "x")}})
    assert rec.root_attrs()["generation"] == before
    assert sorted(rec.read().groups) == ["pa"]
