"""The per-run summary (printed after `run`/`resume`) and `rkky-mc plot`: estimators against
exact infinite-temperature values, the block jackknife against its closed form, the
walker-trip inversion, and the CLI paths."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import config_text

from rkky_mc.cli import main
from rkky_mc.hdf5 import RunData
from rkky_mc.run_figures import walker_temperatures
from rkky_mc.summary import binder_ratio, block_jackknife, summarize, two_sided_z


def test_block_jackknife_of_a_mean_is_the_standard_error_of_block_means():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(640, 3))
    value, err = block_jackknife({"x": x}, lambda m: m["x"], 32)
    blocks = x.reshape(32, 20, 3).mean(axis=1)
    assert np.allclose(value, x.mean(axis=0), rtol=0, atol=1e-15)
    assert np.allclose(err, blocks.std(axis=0, ddof=1) / np.sqrt(32), rtol=1e-12, atol=0)
    _, err1 = block_jackknife({"x": x[:1]}, lambda m: m["x"], 32)
    assert np.isnan(err1).all()


def test_two_sided_z():
    assert two_sided_z(0.0455) == pytest.approx(2.0, abs=2e-3)
    assert two_sided_z(2.7e-3) == pytest.approx(3.0, abs=2e-3)


def _free_spin_run(spin: str, N: int, M: int, T: int, seed: int) -> RunData:
    """A run at β = 0 made by hand: independent random spins in two ladders, so
    ⟨q²⟩ = 1/N and the Binder ratio is exactly 1/N (PHYSICS.md, limits)."""
    rng = np.random.default_rng(seed)
    if spin == "ising":
        a, b = rng.choice([-1.0, 1.0], size=(2, M, T, N))
        q = (a * b).mean(axis=-1)[..., None]                          # (M, T, 1)
        mag = np.stack([a.mean(-1), b.mean(-1)], axis=-1)
    else:
        v = rng.normal(size=(2, M, T, N, 3))
        v /= np.linalg.norm(v, axis=-1, keepdims=True)
        q = np.einsum("atiu,ativ->atuv", v[0], v[1])[:, :, None] / N  # (M, T, 1, 3, 3)
        mag = np.stack([v[0].mean(2), v[1].mean(2)], axis=2)          # (M, T, 2, 3)
    zeros = np.zeros((M, T, 2))
    ts = {"sweep": np.arange(M, dtype=np.int64), "energy": zeros, "magnetization": mag,
          "overlap": q, "overlap_k2": np.zeros((M, T, 1)), "link_overlap": np.zeros((M, T, 1)),
          "walker": np.tile(np.arange(T, dtype=np.int32)[None, :, None], (M, 1, 2))}
    return RunData(path="free.h5", attrs={}, config_text="", config={"anneal": {"thermalization": 0}},
                   status="finished", n_valid=M, provenance={},
                   sample={"N": N, "spin": spin, "model": "sk"},
                   temperatures=np.geomspace(1.0, 4.0, T), pairs=np.array([[0, 1]]), timeseries=ts,
                   timeseries_attrs={})


@pytest.mark.parametrize("spin", ["ising", "heisenberg"])
def test_infinite_temperature_chi_sg_and_binder(spin):
    N, M, T = 8, 4096, 3
    s = summarize(_free_spin_run(spin, N, M, T, seed=11))
    # χ_SG = 1 and g = 1/N exactly in expectation; each error bar is the block jackknife's
    for (value, err), exact in ((s.chi_sg, 1.0), (s.binder, 1.0 / N)):
        assert np.all(np.isfinite(err)) and np.all(err > 0)
        assert np.all(np.abs(value - exact) < 4.0 * err), (value, err, exact)
    # and the errors are of the right size: σ(χ) = N σ(q²)/√M for independent rows
    q2 = N * np.asarray(_free_spin_run(spin, N, M, T, seed=11).timeseries["overlap"]) ** 2
    q2 = q2.sum(axis=(-2, -1)) if spin == "heisenberg" else q2
    expected = q2.reshape(M, T).std(axis=0) / np.sqrt(M)
    # 32 blocks: the error estimate itself scatters by 1/√(2·31) ≈ 13 %; 4σ of that
    assert np.all(np.abs(s.chi_sg[1] / expected - 1.0) < 4 * 0.13)


def test_binder_formula():
    assert binder_ratio(1.0, 1.0, "ising") == pytest.approx(1.0)     # |q| = 1: ordered
    assert binder_ratio(1.0, 3.0, "ising") == pytest.approx(0.0)     # Gaussian q
    assert binder_ratio(1.0, 11.0 / 9.0, "heisenberg") == pytest.approx(0.0)
    assert binder_ratio(1.0, 1.0, "heisenberg") == pytest.approx(1.0)


def test_equilibration_verdict_flags_a_drift_and_passes_a_stationary_series():
    stationary = _free_spin_run("ising", 8, 4096, 3, seed=2)
    assert "agree at every T" in summarize(stationary).verdict
    drifting = _free_spin_run("ising", 8, 4096, 3, seed=2)
    e = drifting.timeseries["energy"]
    e[:] = np.random.default_rng(3).normal(scale=0.01, size=e.shape)
    e[3000:, 0, :] += 0.05        # the lowest temperature still moves in the last window
    s = summarize(drifting)
    assert s.verdict.startswith("NOT equilibrated") and "T = 1 " in s.verdict
    assert [d[:2] for d in s.drift] == [(1.0, "e")]


def test_walker_temperatures_inverts_the_permutation():
    rng = np.random.default_rng(0)
    walker = np.stack([np.stack([rng.permutation(5) for _ in range(2)], axis=-1) for _ in range(7)])
    temps = walker_temperatures(walker, ladder=1)
    for m in range(7):
        for t in range(5):
            assert temps[m, walker[m, t, 1]] == t


SAMPLE = {"model": "sk", "N": 12, "spin": "ising", "seed": 3}
ANNEAL = {"temperatures": [0.5, 1.0, 2.0], "replicas": 2, "thermalization": 50,
          "sweeps": 400, "seed": 4}


def _run(tmp_path, *args):
    out = tmp_path / "s.h5"
    cfg = tmp_path / "s.toml"
    cfg.write_text(config_text(SAMPLE, ANNEAL, {"path": str(out)}))
    return out, CliRunner().invoke(main, ["run", str(cfg), *args])


def test_run_prints_the_summary_unless_quiet(tmp_path):
    out, res = _run(tmp_path)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[1].split()[:2] == ["T", "[J]"]
    assert len([ln for ln in lines if ln.strip().startswith(("0.5 ", "1 ", "2 "))]) == 3
    assert any(ln.startswith("equilibration: ") for ln in lines)
    assert any(ln.startswith("next: rkky-mc info") for ln in lines)
    out.unlink()
    _, quiet = _run(tmp_path, "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == ""


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_plot_writes_three_figures(tmp_path, fmt):
    out, res = _run(tmp_path, "--quiet")
    assert res.exit_code == 0
    res = CliRunner().invoke(main, ["plot", str(out), "--out", str(tmp_path / "f"), "--format", fmt])
    assert res.exit_code == 0, res.output
    files = sorted(p.name for p in (tmp_path / "f").iterdir())
    assert files == [f"s_{n}.{fmt}" for n in ("equilibration", "observables", "tempering")]
    assert all((tmp_path / "f" / n).stat().st_size > 1000 for n in files)


def test_plot_of_a_non_run_is_a_one_line_error(tmp_path):
    bad = tmp_path / "x.h5"
    bad.write_text("not hdf5")
    res = CliRunner().invoke(main, ["plot", str(bad)])
    assert res.exit_code == 2
    assert len(res.output.strip().splitlines()) == 1 and "rkky-mc: error" in res.output
