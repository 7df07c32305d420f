"""DM couplings of a run's sample (issue 17, wiring): sample.dm keys and their checks, the
.npz coupling-file contract, the Sample's D and sha256, the memory estimate.

The DM models themselves are tested in tests/test_dm.py; here only what a config reaches."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import config_text

from rkky_mc import resources
from rkky_mc.cli import main
from rkky_mc.config import ConfigError, SampleConfig, load_config
from rkky_mc.couplings import build_sample
from rkky_mc.interactions.dm import dm_generator, fert_levy_dm, random_dm
from rkky_mc.interactions.sample_dm import dm_pairs, dm_sha256
from rkky_mc.kernels.dm import dm_components

HEIS_SK = dict(model="sk", N=10, seed=3, spin="heisenberg", sparse="dense")


def antisymmetric_D(n, seed=5, scale=0.3):
    gen = np.random.default_rng(seed)
    D = np.zeros((n, n, 3))
    iu, ju = np.triu_indices(n, 1)
    v = scale * gen.normal(size=(len(iu), 3))
    D[iu, ju] = v
    D[ju, iu] = -v
    return D


def coupling_matrix(n, seed=4):
    gen = np.random.default_rng(seed)
    J = np.triu(gen.normal(size=(n, n)), 1)
    return J + J.T


# ------------------------------------------------------------------------- the Sample
def test_dm_none_keeps_the_sample_and_its_sha256():
    """dm = "none" (the default) is today's sample: sha256 of J's bytes alone, no D."""
    s = build_sample(SampleConfig(**HEIS_SK))
    assert s.dm is None and s.dm_attrs == {} and s.scatterers is None
    assert s.sha256 == hashlib.sha256(np.ascontiguousarray(s.dense).data).hexdigest()


def test_random_dm_sample():
    base = build_sample(SampleConfig(**HEIS_SK))
    s = build_sample(SampleConfig(**HEIS_SK, dm="random", dm_strength=0.4))
    assert np.array_equal(s.dense, base.dense)          # J untouched by the DM draw
    D = dm_pairs(s.dm)
    assert np.array_equal(D, random_dm(base.dense, 0.4, HEIS_SK["seed"]))
    assert np.array_equal(D.transpose(1, 0, 2), -D)
    mag = np.linalg.norm(D, axis=2)
    assert np.allclose(mag, 0.4 * np.abs(base.dense), rtol=1e-14, atol=0)
    assert s.dm_attrs["dm"] == "random" and s.dm_attrs["dm_strength"] == 0.4
    assert s.dm_attrs["dm_rms_ratio"] == pytest.approx(0.4, rel=1e-12)
    assert s.sha256 == dm_sha256(s.dense, s.dm) != base.sha256
    # the draw depends on the seed only
    again = build_sample(SampleConfig(**HEIS_SK, dm="random", dm_strength=0.4))
    assert np.array_equal(again.dm, s.dm) and again.sha256 == s.sha256


def test_random_dm_zero_strength_is_zero():
    s = build_sample(SampleConfig(**HEIS_SK, dm="random", dm_strength=0.0))
    assert s.dm.shape == (3, 10, 10) and not np.any(s.dm)


def test_random_dm_on_ea_is_dense_by_default():
    """EA is CSR under sparse = "auto"; with DM "auto" means dense (DM sweeps are dense)."""
    s = build_sample(SampleConfig(model="ea", L=3, seed=2, spin="heisenberg", dm="random",
                                  dm_strength=0.2))
    assert s.storage == "dense"
    ea = build_sample(SampleConfig(model="ea", L=3, seed=2, spin="heisenberg", sparse="dense"))
    assert np.array_equal(ea.dense, s.dense)
    assert np.count_nonzero(np.linalg.norm(dm_pairs(s.dm), axis=2)) == np.count_nonzero(ea.dense)


def test_fert_levy_sample():
    kw = dict(model="rkky", L=3, concentration=0.2, seed=6, spin="heisenberg", cutoff=1.5,
              damping=3.0)
    base = build_sample(SampleConfig(**kw, sparse="dense"))
    s = build_sample(SampleConfig(**kw, dm="fert_levy", dm_strength=0.7, dm_concentration=0.05,
                                  dm_phase=0.9))
    assert s.storage == "dense"                       # auto with a cutoff would be CSR
    assert np.array_equal(s.positions, base.positions) and np.array_equal(s.dense, base.dense)
    n_scat = round(0.05 * 4 * 27)
    assert s.scatterers.shape == (n_scat, 3) and s.dm_attrs["dm_scatterers"] == n_scat
    # scatterers on distinct free fcc sites (multiples of 1/2, not on a spin)
    assert np.array_equal(2 * s.scatterers, np.rint(2 * s.scatterers))
    assert len({tuple(p) for p in s.scatterers}) == n_scat
    assert not {tuple(p) for p in s.scatterers} & {tuple(p) for p in s.positions}
    ref = fert_levy_dm(s.positions, s.box, s.scatterers, SampleConfig().kf, 0.7, 0.9, 3.0, 1.5)
    assert np.array_equal(dm_pairs(s.dm), ref)
    assert s.dm_attrs["dm_phase"] == 0.9 and s.dm_attrs["dm_concentration"] == 0.05
    assert s.dm_attrs["dm_rms_ratio"] > 0


def test_dm_draws_have_their_own_stream():
    """The DM generator is a spawn of its own: the sample's positions/J stream is not it."""
    a = dm_generator(3).random(4)
    b = np.random.default_rng(np.random.SeedSequence(3)).random(4)
    assert not np.array_equal(a, b)


# ----------------------------------------------------------------------- config checks
@pytest.mark.parametrize("overrides,key", [
    ({"sample.dm": "random"}, "sample.dm"),                                   # ising
    ({"sample.dm": "chiral"}, "sample.dm"),
    ({"sample.dm": "random", "sample.spin": "heisenberg", "sample.sparse": "csr"}, "sample.sparse"),
    ({"sample.dm": "random", "sample.spin": "heisenberg", "anneal.precision": "float32"},
     "anneal.precision"),
    ({"sample.dm": "random", "sample.spin": "heisenberg", "sample.dm_strength": -0.1},
     "sample.dm_strength"),
    ({"sample.dm": "fert_levy", "sample.spin": "heisenberg", "sample.model": "sk",
      "sample.dm_concentration": 0.01}, "sample.dm"),
    ({"sample.dm": "fert_levy", "sample.spin": "heisenberg", "sample.lattice": "continuum",
      "sample.dm_concentration": 0.01}, "sample.dm"),
    ({"sample.dm": "fert_levy", "sample.spin": "heisenberg"}, "sample.dm_concentration"),
    ({"sample.dm": "fert_levy", "sample.spin": "heisenberg", "sample.dm_concentration": 0.97},
     "sample.dm_concentration"),
    ({"sample.dm": "fert_levy", "sample.spin": "heisenberg", "sample.dm_concentration": 0.01,
      "sample.dm_phase": float("nan")}, "sample.dm_phase"),
])
def test_bad_dm_keys(overrides, key):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=list(overrides.items()))
    assert err.value.key == key
    assert "\n" not in str(err.value)


def test_bad_dm_key_on_the_command_line(tmp_path):
    """Exit 2, one line naming the key, nothing written (the CLI path)."""
    cfg = tmp_path / "bad.toml"
    cfg.write_text(config_text({**HEIS_SK, "dm": "random", "sparse": "csr"},
                               {"temperatures": [1.0], "sweeps": 2, "thermalization": 0},
                               {"path": str(tmp_path / "out.h5")}))
    result = CliRunner().invoke(main, ["run", str(cfg), "--quiet"])
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and "sample.sparse" in err and "Traceback" not in err
    assert not (tmp_path / "out.h5").exists()


# ----------------------------------------------------------------------- .npz contract
def npz(tmp_path, name="c.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


def test_npz_with_J_only_is_the_npy_sample(tmp_path):
    J = coupling_matrix(7)
    np.save(tmp_path / "J.npy", J)
    a = build_sample(SampleConfig(model="file", path=str(tmp_path / "J.npy"), spin="heisenberg"))
    b = build_sample(SampleConfig(model="file", path=npz(tmp_path, J=J), spin="heisenberg"))
    assert a.sha256 == b.sha256 and np.array_equal(a.dense, b.dense)
    assert b.dm is None and b.positions is None


def test_npz_with_D_positions_and_box(tmp_path):
    n = 7
    J, D = coupling_matrix(n), antisymmetric_D(n)
    pos = np.random.default_rng(1).random((n, 3)) * 3.0
    box = np.array([3.0, 3.0, 4.0])
    s = build_sample(SampleConfig(model="file", path=npz(tmp_path, J=J, D=D, positions=pos, box=box),
                                  spin="heisenberg"))
    assert np.array_equal(s.dm, dm_components(D)) and np.array_equal(dm_pairs(s.dm), D)
    assert np.array_equal(s.positions, pos) and np.array_equal(s.box, box)
    assert s.dm_attrs["dm"] == "file"
    assert s.sha256 == dm_sha256(J, dm_components(D))
    D2 = D.copy()
    D2[0, 1, 2] += 1e-3
    D2[1, 0, 2] -= 1e-3
    s2 = build_sample(SampleConfig(model="file", path=npz(tmp_path, "d.npz", J=J, D=D2),
                                   spin="heisenberg"))
    assert s2.sha256 != s.sha256                      # resume refuses a changed D


def _bad_npz_cases():
    n = 5
    J, D = coupling_matrix(n), antisymmetric_D(n)
    Dsym = D.copy()
    Dsym[0, 1] = Dsym[1, 0] = 1.0
    Ddiag = D.copy()
    Ddiag[2, 2, 0] = 0.1
    Dnan = D.copy()
    Dnan[0, 1, 0] = Dnan[1, 0, 0] = np.nan
    return [
        ("D-with-ising", dict(J=J, D=D), {"spin": "ising"}, "sample.spin"),
        ("dm-and-file-D", dict(J=J, D=D), {"dm": "random"}, "sample.dm"),
        ("D-symmetric", dict(J=J, D=Dsym), {}, "sample.path"),
        ("D-diagonal", dict(J=J, D=Ddiag), {}, "sample.path"),
        ("D-nonfinite", dict(J=J, D=Dnan), {}, "sample.path"),
        ("D-shape", dict(J=J, D=D[:, :, :2]), {}, "sample.path"),
        ("no-J", dict(D=D), {}, "sample.path"),
        ("unknown-array", dict(J=J, K=J), {}, "sample.path"),
        ("positions-without-box", dict(J=J, positions=np.zeros((n, 3))), {}, "sample.path"),
        ("positions-shape", dict(J=J, positions=np.zeros((n, 2)), box=np.ones(3)), {}, "sample.path"),
        ("box-zero", dict(J=J, positions=np.zeros((n, 3)), box=np.zeros(3)), {}, "sample.path"),
        ("J-asymmetric", dict(J=J + np.triu(np.ones((n, n)), 1)), {}, "sample.path"),
        ("D-csr", dict(J=J, D=D), {"sparse": "csr"}, "sample.sparse"),
    ]


@pytest.mark.parametrize("name,arrays,changes,key", _bad_npz_cases(),
                         ids=[c[0] for c in _bad_npz_cases()])
def test_bad_npz(tmp_path, name, arrays, changes, key):
    cfg = SampleConfig(**{"model": "file", "path": npz(tmp_path, **arrays), "spin": "heisenberg",
                          **changes})
    with pytest.raises(ConfigError) as err:
        build_sample(cfg)
    assert err.value.key == key, str(err.value)
    assert "\n" not in str(err.value)


def test_npz_D_refuses_float32(tmp_path):
    n = 5
    path = npz(tmp_path, J=coupling_matrix(n), D=antisymmetric_D(n))
    with pytest.raises(ConfigError) as err:
        build_sample(SampleConfig(model="file", path=path, spin="heisenberg"), precision="float32")
    assert err.value.key == "anneal.precision"


def test_npz_not_an_archive(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"garbage")
    with pytest.raises(ConfigError) as err:
        build_sample(SampleConfig(model="file", path=str(tmp_path / "x.npz"), spin="heisenberg"))
    assert err.value.key == "sample.path" and ".npz" in str(err.value)


# ----------------------------------------------------------------------- memory estimate
def test_memory_estimate_includes_D(tmp_path):
    base = load_config(overrides=[("sample.model", "sk"), ("sample.N", 300),
                                  ("sample.spin", "heisenberg"), ("sample.sparse", "dense")])
    dm = load_config(overrides=[("sample.model", "sk"), ("sample.N", 300),
                                ("sample.spin", "heisenberg"), ("sample.dm", "random")])
    e0, e1 = resources.estimate(base), resources.estimate(dm)
    assert "DM vectors" not in e0.parts and e1.parts["DM vectors"] == 24 * 300**2
    assert e1.peak >= e0.peak + 24 * 300**2
    n = 40
    path = npz(tmp_path, J=coupling_matrix(n), D=antisymmetric_D(n))
    f = load_config(overrides=[("sample.model", "file"), ("sample.path", path),
                               ("sample.spin", "heisenberg")])
    assert resources.n_spins(f) == n
    assert resources.estimate(f).parts["DM vectors"] == 24 * n * n


def test_npz_D_runs_with_population_annealing(tmp_path):
    """A .npz D and sample.dm both run with anneal.method = "pa" (issue 18): the population
    carries the sample's Dc and its fields are the DM fields (exact: kernels/dm.py)."""
    from rkky_mc.drivers.population_annealing import PopulationAnnealing
    from rkky_mc.kernels.dm import dm_local_fields_dense

    n = 5
    path = npz(tmp_path, J=coupling_matrix(n), D=antisymmetric_D(n))
    cfg = load_config(overrides=[("sample.model", "file"), ("sample.path", path),
                                 ("sample.spin", "heisenberg"), ("anneal.method", "pa"),
                                 ("anneal.population", 7)])
    sample = build_sample(cfg.sample)
    pa = PopulationAnnealing(cfg, sample)
    assert pa.dm is sample.dm and sample.dm is not None
    h = [np.zeros((7, n)) for _ in range(3)]
    dm_local_fields_dense(sample.dense, sample.dm, pa.sx, pa.sy, pa.sz, 0.0, *h)
    assert all(np.array_equal(a, b) for a, b in zip(h, (pa.hx, pa.hy, pa.hz)))
    load_config(overrides=[("sample.dm", "random"), ("sample.spin", "heisenberg"),
                           ("anneal.method", "pa")])  # no error
