"""Cache-line-aligned arrays (rkky_mc.aligned): the allocators, the arrays a run streams, and
that alignment changes speed only, never a bit of the results."""
from __future__ import annotations

import numpy as np
import pytest

from rkky_mc import aligned
from rkky_mc.config import from_dict
from rkky_mc.couplings import build_sample
from rkky_mc.simulation import Simulation


def misaligned_copy(a: np.ndarray, offset: int) -> np.ndarray:
    """A C-contiguous copy of ``a`` whose data start ``offset`` bytes past a 64-byte
    boundary."""
    buf = np.empty(a.nbytes + 2 * aligned.ALIGNMENT, dtype=np.uint8)
    k = (-buf.ctypes.data) % aligned.ALIGNMENT + offset
    out = buf[k:k + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


@pytest.mark.parametrize("shape", [7, (3, 5), (1000, 1000), (0, 4), (2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8])
def test_allocators(shape, dtype):
    for make, ref in ((aligned.zeros, np.zeros), (aligned.empty, np.empty)):
        a = make(shape, dtype)
        assert aligned.is_aligned(a) and a.shape == ref(shape).shape and a.dtype == dtype
        assert a.flags.c_contiguous and a.flags.writeable
        if make is aligned.zeros:
            assert not a.any()
        a[...] = 1  # the whole extent is writable (no overrun into the padding)
        assert a.sum() == a.size


def test_asarray_copies_only_when_needed():
    rng = np.random.default_rng(0)
    x = misaligned_copy(rng.normal(size=(5, 9)), 16)
    assert not aligned.is_aligned(x)
    y = aligned.asarray(x)
    assert aligned.is_aligned(y) and y.dtype == np.float64 and np.array_equal(x, y)
    assert aligned.asarray(y) is y  # already aligned, contiguous, same dtype: no copy
    z = aligned.asarray(y, np.float32)
    assert aligned.is_aligned(z) and np.array_equal(z, y.astype(np.float32))
    t = aligned.asarray(y.T)  # not contiguous: a contiguous copy
    assert t.flags.c_contiguous and np.array_equal(t, y.T)


SAMPLES = {
    "sk": {"model": "sk", "N": 37, "seed": 1},
    "rkky": {"model": "rkky", "L": 3, "concentration": 0.3, "seed": 2},
    "sk-heisenberg": {"model": "sk", "N": 21, "spin": "heisenberg", "seed": 3},
}


def make(sample, precision):
    extra = {"overrelaxation": 1} if sample.get("spin") == "heisenberg" else {}
    cfg = from_dict({"sample": sample, "anneal": {"temperatures": [0.4, 0.9, 2.0],
                                                  "replicas": 2, "thermalization": 0,
                                                  "sweeps": 1, "seed": 5,
                                                  "precision": precision, **extra}})
    return cfg, build_sample(cfg.sample, precision=precision)


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("name", list(SAMPLES))
def test_streamed_arrays_are_aligned_and_alignment_changes_no_bit(name, precision):
    """The dense couplings and every walker array of a run start on a cache line; a run whose
    J, spins and fields are moved 16 bytes off (as numpy allocates them) ends in the same
    bits."""
    cfg, sample = make(SAMPLES[name], precision)
    a = Simulation(cfg, sample)
    names = a.spin.state_arrays
    assert aligned.is_aligned(sample.dense) and a.J is sample.dense
    assert all(aligned.is_aligned(getattr(a, k)) for k in names)

    b = Simulation(cfg, sample)
    b.J = misaligned_copy(b.J, 16)
    for k in names:
        setattr(b, k, misaligned_copy(getattr(b, k), 16))
    b._ladders = None  # the per-ladder views must see the moved arrays (made on first use)
    assert not aligned.is_aligned(b.J) and not aligned.is_aligned(getattr(b, names[0]))
    for _ in range(25):
        a.sweep()
        b.sweep()
    for k, v in a.state_dict().items():
        assert np.asarray(v).tobytes() == np.asarray(b.state_dict()[k]).tobytes(), k


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("model", ["sk", "rkky", "ea", "file"])
def test_every_builder_gives_aligned_dense_couplings(tmp_path, model, precision):
    """Whatever built the dense matrix (array, LazyDense, file), it starts on a cache line
    and holds the builder's values."""
    rng = np.random.default_rng(7)
    A = np.triu(rng.normal(size=(13, 13)), 1)
    np.save(tmp_path / "J.npy", misaligned_copy(A + A.T, 16))
    sample = {"sk": {"model": "sk", "N": 13, "seed": 1},
              "rkky": {"model": "rkky", "L": 3, "concentration": 0.3, "seed": 2},
              "ea": {"model": "ea", "L": 3, "sparse": "dense", "seed": 3},
              "file": {"model": "file", "path": "J.npy"}}[model]
    cfg = from_dict({"sample": sample})
    smp = build_sample(cfg.sample, base_dir=tmp_path, precision=precision)
    assert smp.dense is not None and smp.dense.dtype == np.dtype(precision)
    assert aligned.is_aligned(smp.dense) and smp.dense.flags.c_contiguous
    if model == "file":
        assert np.array_equal(smp.dense, (A + A.T).astype(precision))
