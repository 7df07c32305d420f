"""analysis/examples/first_run.py runs as written (a subprocess, as a user starts it), and the
numbers it prints are the per-run estimates of rkky_mc.summary (the table `rkky-mc run`
prints) for the same run: Ising in memory, Heisenberg from a run file."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rkky_mc
from rkky_mc.hdf5 import read_run
from rkky_mc.summary import summarize

EXAMPLE = Path(__file__).resolve().parents[1] / "analysis" / "examples" / "first_run.py"

# tiny versions of the demo: N = round(0.05 · 4 · 3³) = 5 spins, 4 temperatures
TINY_SETS = ["sample.L=3", "anneal.thermalization=64", "anneal.sweeps=256",
             "anneal.temperatures={min = 0.3, max = 1.2, count = 4}"]


def _example(*args, cwd=None):
    return subprocess.run([sys.executable, str(EXAMPLE), *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def _printed_rows(stdout: str) -> np.ndarray:
    """The per-temperature lines `T  e ± de  g ± dg` -> (T, 5) array."""
    rows = []
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 7 and parts[2] == parts[5] == "±":
            rows.append([float(parts[i]) for i in (0, 1, 3, 4, 6)])
    return np.array(rows)


def _check_against_summary(rows, s):
    # printed with 6 (energy) and 4 (Binder) decimals: equal to the summary's estimates to
    # within the rounding, and the temperatures to 4 significant digits
    np.testing.assert_allclose(rows[:, 0], s.temperatures, rtol=1e-3)
    np.testing.assert_allclose(rows[:, 1], s.energy[0], atol=5.1e-7)
    np.testing.assert_allclose(rows[:, 2], s.energy[1], atol=5.1e-7)
    np.testing.assert_allclose(rows[:, 3], s.binder[0], atol=5.1e-5)
    np.testing.assert_allclose(rows[:, 4], s.binder[1], atol=5.1e-5)


def test_first_run_in_memory(tmp_path):
    fig = tmp_path / "figs" / "first_run.png"
    sets = [a for s in TINY_SETS for a in ("--set", s)]
    res = _example(fig, *sets, cwd=tmp_path)          # another cwd: the demo config is found
    assert res.returncode == 0, res.stderr
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "temperatures [J0]: 0.3 0.4762 0.756 1.2" in res.stdout
    rows = _printed_rows(res.stdout)
    assert rows.shape == (4, 5)
    # the same config, run here: the same bits (seeds in the config), so the same estimates
    from rkky_mc.config import load_config

    demo = EXAMPLE.parents[2] / "runs" / "demo.toml"
    run = rkky_mc.run(load_config(demo, overrides=TINY_SETS), backend="memory")
    _check_against_summary(rows, summarize(run.recorder.read()))


def test_first_run_opens_a_heisenberg_file(tmp_path):
    path = tmp_path / "heis.h5"
    config = {"sample": {"model": "sk", "spin": "heisenberg", "N": 8, "seed": 3},
              "anneal": {"temperatures": [0.2, 0.4, 0.8], "thermalization": 64, "sweeps": 320,
                         "update": "heatbath", "overrelaxation": 1, "seed": 4},
              "output": {"path": str(path)}}
    rkky_mc.run(config, backend="hdf5")
    fig = tmp_path / "heis.svg"
    res = _example(fig, "--open", path)
    assert res.returncode == 0, res.stderr
    assert fig.read_text().lstrip().startswith("<?xml")
    assert "heisenberg spins, N = 8" in res.stdout
    rows = _printed_rows(res.stdout)
    assert rows.shape == (3, 5)
    # the Heisenberg q² = Σ_μν q_μν² (not q_xx²): g from the summary module's own series
    _check_against_summary(rows, summarize(read_run(path)))


@pytest.mark.parametrize("args, named", [
    (["--set", "anneal.sweeps=-1"], "anneal.sweeps"),
    (["--open", "no_such_file.h5"], "no_such_file.h5"),
])
def test_first_run_bad_input_one_line(tmp_path, args, named):
    res = _example(tmp_path / "x.png", *args, cwd=tmp_path)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and named in res.stderr, res.stderr
    assert not (tmp_path / "x.png").exists()


def test_tutorial_sweep_file():
    """The README tutorial's sweep: two SK sizes × 200 samples, in the paths the README shows."""
    from rkky_mc.sweep import load_sweep

    sw = load_sweep(EXAMPLE.parents[2] / "runs" / "sweep_tutorial.toml")
    assert len(sw.tasks) == 400
    assert {t.config.sample.N for t in sw.tasks} == {32, 64}
    assert str(sw.tasks[0].path) == "runs/out/sweep_tutorial/N=32/s0000.h5"
    assert str(sw.tasks[-1].path) == "runs/out/sweep_tutorial/N=64/s0199.h5"
