"""Shared fixtures: run the real `rkky-mc run` path on a config and read the file back."""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from rkky_mc.cli import main
from rkky_mc.config import _toml_value

REPO = Path(__file__).resolve().parents[1]


def config_text(sample: dict, anneal: dict, output: dict | None = None) -> str:
    lines = []
    for name, table in (("sample", sample), ("anneal", anneal), ("output", output or {})):
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def read_h5(path) -> dict:
    """Every dataset of a run file as numpy arrays, keyed by path; attrs under '@path'."""
    out = {}
    with h5py.File(path, "r") as f:
        out["@/"] = dict(f.attrs)

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
            out["@" + name] = dict(obj.attrs)

        f.visititems(visit)
    return out


@pytest.fixture
def run_rkky(tmp_path):
    """run_rkky(sample={...}, anneal={...}, couplings=J or None) -> dict of the output file."""
    counter = {"n": 0}

    def _run(sample: dict, anneal: dict, couplings: np.ndarray | None = None, output: dict | None = None,
             extra_args=(), expect_exit: int = 0):
        counter["n"] += 1
        sample = dict(sample)
        if couplings is not None:
            jpath = tmp_path / f"J{counter['n']}.npy"
            np.save(jpath, couplings)
            sample.setdefault("model", "file")
            sample["path"] = str(jpath)
        out = tmp_path / f"run{counter['n']}.h5"
        cfg = tmp_path / f"run{counter['n']}.toml"
        cfg.write_text(config_text(sample, anneal, {"path": str(out), **(output or {})}))
        result = CliRunner().invoke(main, ["run", str(cfg), "--quiet", *extra_args])
        assert result.exit_code == expect_exit, (result.output, result.exception)
        return read_h5(out) if expect_exit == 0 else result

    return _run


@pytest.fixture(scope="session")
def numba_env():
    """Environment for subprocesses: this session's own, so also its numba cache directory
    (``$NUMBA_CACHE_DIR`` or the default that rkky_mc.kernels derives from the same
    environment). A different one would make each subprocess compile its kernels afresh, and a
    signal sent while it compiles is only answered after that."""
    return dict(os.environ)
