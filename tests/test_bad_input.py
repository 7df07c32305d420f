"""Bad input: one line naming the key, the value and what is allowed; exit code 2; no
traceback; nothing written or damaged. Table-driven."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import config_text

from rkky_mc.cli import main

GOOD_SAMPLE = {"model": "sk", "N": 8, "spin": "ising", "seed": 1}
GOOD_ANNEAL = {"temperatures": [0.5, 1.0], "replicas": 2, "thermalization": 5, "sweeps": 10, "seed": 2}


def matrix(kind):
    J = np.zeros((4, 4))
    J[0, 1] = J[1, 0] = 1.0
    if kind == "nonsquare":
        return np.zeros((3, 4))
    if kind == "asymmetric":
        J[0, 2] = 0.5
        return J
    if kind == "nonfinite":
        J[2, 3] = J[3, 2] = np.nan
        return J
    if kind == "diagonal":
        J[1, 1] = 0.3
        return J
    if kind == "vector":
        return np.zeros(4)
    raise ValueError(kind)


# (id, sample changes, anneal changes, output changes, extra CLI args, text the message must hold)
CASES = [
    ("unknown-key", {"Lx": 4}, {}, {}, [], "sample.Lx"),
    ("model", {"model": "xyz"}, {}, {}, [], "sample.model"),
    ("spin", {"spin": "xy"}, {}, {}, [], "sample.spin"),
    ("L-negative", {"model": "rkky", "L": -3}, {}, {}, [], "sample.L"),
    ("L-string", {"model": "rkky", "L": "six"}, {}, {}, [], "sample.L"),
    ("L-bool", {"model": "rkky", "L": True}, {}, {}, [], "sample.L"),
    ("concentration-zero", {"model": "rkky", "concentration": 0.0}, {}, {}, [], "sample.concentration"),
    ("concentration-above-1", {"model": "rkky", "concentration": 1.5}, {}, {}, [], "sample.concentration"),
    ("too-few-spins", {"model": "rkky", "L": 2, "concentration": 0.01}, {}, {}, [], "at least 2"),
    ("cutoff-above-half-box", {"model": "rkky", "L": 4, "cutoff": 2.5}, {}, {}, [], "sample.cutoff"),
    ("kf-negative", {"model": "rkky", "kf": -1.0}, {}, {}, [], "sample.kf"),
    ("damping-zero", {"model": "rkky", "damping": 0.0}, {}, {}, [], "sample.damping"),
    ("seed-negative", {"seed": -1}, {}, {}, [], "sample.seed"),
    ("sk-one-spin", {"N": 1}, {}, {}, [], "sample.N"),
    ("lattice", {"model": "rkky", "lattice": "bcc"}, {}, {}, [], "sample.lattice"),
    ("temperature-negative", {}, {"temperatures": [1.0, -0.5]}, {}, [], "anneal.temperatures"),
    ("temperature-zero", {}, {"temperatures": [0.0, 1.0]}, {}, [], "anneal.temperatures"),
    ("temperature-duplicate", {}, {"temperatures": [1.0, 1.0]}, {}, [], "distinct"),
    ("temperature-empty", {}, {"temperatures": []}, {}, [], "anneal.temperatures"),
    ("temperature-table", {}, {"temperatures": {"min": 1.0, "max": 0.5, "count": 4}}, {}, [],
     "anneal.temperatures.max"),
    ("replicas-zero", {}, {"replicas": 0}, {}, [], "anneal.replicas"),
    ("replicas-float", {}, {"replicas": 2.5}, {}, [], "anneal.replicas"),
    ("sweeps-negative", {}, {"sweeps": -1}, {}, [], "anneal.sweeps"),
    ("measure-every-zero", {}, {"measure_every": 0}, {}, [], "anneal.measure_every"),
    ("update", {}, {"update": "glauber"}, {}, [], "anneal.update"),
    ("overrelaxation-ising", {}, {"overrelaxation": 2}, {}, [], "anneal.overrelaxation"),
    ("precision", {}, {"precision": "float16"}, {}, [], "anneal.precision"),
    ("file-missing", {"model": "file", "path": "/nonexistent/J.npy"}, {}, {}, [], "sample.path"),
    ("file-nonsquare", {"model": "file", "path": "@nonsquare"}, {}, {}, [], "sample.path"),
    ("file-asymmetric", {"model": "file", "path": "@asymmetric"}, {}, {}, [], "sample.path"),
    ("file-nonfinite", {"model": "file", "path": "@nonfinite"}, {}, {}, [], "sample.path"),
    ("file-diagonal", {"model": "file", "path": "@diagonal"}, {}, {}, [], "sample.path"),
    ("file-vector", {"model": "file", "path": "@vector"}, {}, {}, [], "sample.path"),
    ("output-suffix", {}, {}, {"path": "@out.txt"}, [], "output.path"),
    ("output-parent-is-file", {}, {}, {"path": "@afile/out.h5"}, [], "output.path"),
    ("output-exists", {}, {}, {"path": "@existing.h5"}, [], "--overwrite"),
    ("checkpoint-interval", {}, {}, {"checkpoint_interval": 0}, [], "output.checkpoint_interval"),
    ("set-no-equals", {}, {}, {}, ["--set", "sample.L"], "KEY=VALUE"),
    ("set-unknown-section", {}, {}, {}, ["--set", "foo.bar=1"], "foo.bar"),
    ("set-bad-value", {}, {}, {}, ["--set", "sample.N=[1,"], "sample.N"),
    ("walltime", {}, {}, {}, ["--max-walltime", "abc"], "--max-walltime"),
    ("unknown-table", None, {}, {}, [], "foo"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line(tmp_path, case):
    name, sample_changes, anneal_changes, output_changes, args, needle = case
    (tmp_path / "afile").write_text("not a directory")
    existing = tmp_path / "existing.h5"
    existing.write_bytes(b"precious data")

    def resolve(value):
        if isinstance(value, str) and value.startswith("@"):
            key = value[1:]
            if key in ("nonsquare", "asymmetric", "nonfinite", "diagonal", "vector"):
                path = tmp_path / f"{key}.npy"
                np.save(path, matrix(key))
                return str(path)
            return str(tmp_path / key)
        return value

    sample = dict(GOOD_SAMPLE, **{k: resolve(v) for k, v in (sample_changes or {}).items()})
    anneal = dict(GOOD_ANNEAL, **anneal_changes)
    output = {"path": str(tmp_path / "out.h5"), **{k: resolve(v) for k, v in output_changes.items()}}
    text = config_text(sample, anneal, output)
    if sample_changes is None:
        text += "\n[foo]\nx = 1\n"
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    result = CliRunner().invoke(main, ["run", str(cfg), "--quiet", *args])
    assert result.exit_code == 2, (name, result.output, result.exception)
    assert isinstance(result.exception, SystemExit)  # not a crash
    err = result.stderr.strip()
    assert "Traceback" not in result.output
    assert len(err.splitlines()) == 1, err
    assert needle in err, err
    assert err.startswith("rkky-mc: error: ")
    assert not (tmp_path / "out.h5").exists()  # no work started
    assert existing.read_bytes() == b"precious data"


def test_config_file_problems(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["run", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2 and "file not found" in result.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[sample\nmodel = 'sk'")
    result = runner.invoke(main, ["run", str(bad)])
    assert result.exit_code == 2 and "not valid TOML" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_resume_refuses_foreign_files_without_touching_them(tmp_path):
    runner = CliRunner()
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.arange(3)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    newer = tmp_path / "newer.h5"
    with h5py.File(newer, "w") as f:
        f.attrs["format"] = "rkky_mc"
        f.attrs["format_version"] = 999
    for path, needle in ((plain, "not an rkky_mc run file"), (text, "not an HDF5 file"),
                         (newer, "format"), (tmp_path / "missing.h5", "no such run file")):
        before = path.read_bytes() if path.exists() else None
        result = runner.invoke(main, ["resume", str(path), "--quiet"])
        assert result.exit_code == 2, (path, result.output, result.exception)
        assert isinstance(result.exception, SystemExit)
        err = result.stderr.strip()
        assert len(err.splitlines()) == 1 and needle in err, err
        if before is not None:
            assert path.read_bytes() == before
    result = runner.invoke(main, ["info", str(plain)])
    assert result.exit_code == 2 and "not an rkky_mc run file" in result.stderr
