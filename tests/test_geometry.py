"""Host lattices, placement and the minimum image."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rkky_mc import geometry


def dist(pos, box):
    d = geometry.minimum_image(pos[:, None, :] - pos[None, :, :], box)
    return np.sqrt((d**2).sum(-1))


def test_fcc_sites():
    for L in (1, 2, 3):
        s = geometry.fcc_sites(L)
        assert s.shape == (4 * L**3, 3) and s.dtype == np.float64
        assert len(np.unique(s, axis=0)) == 4 * L**3
        assert np.all((s >= 0) & (s < L))
    s = geometry.fcc_sites(3)
    d = dist(s, np.full(3, 3.0))
    assert np.all(np.sum(np.isclose(d, 1 / math.sqrt(2)), axis=1) == 12)  # 12 nearest neighbours
    assert np.all(np.sum(np.isclose(d, 1.0), axis=1) == 6)  # 6 second neighbours


def test_simple_cubic_sites():
    s = geometry.simple_cubic_sites(3)
    assert s.shape == (27, 3) and len(np.unique(s, axis=0)) == 27
    x, y, z = s[14].astype(int)
    assert (x * 3 + y) * 3 + z == 14


def test_minimum_image():
    box = np.array([4.0, 5.0, 6.0])
    d = np.array([[3.9, -4.9, 2.9], [-2.1, 2.4, -3.2]])
    np.testing.assert_allclose(geometry.minimum_image(d, box), [[-0.1, 0.1, 2.9], [1.9, 2.4, 2.8]], atol=1e-14)
    rng = np.random.default_rng(0)
    d = (rng.random((1000, 3)) - 0.5) * 40
    m = geometry.minimum_image(d, box)
    assert np.all(np.abs(m) <= box / 2)
    assert np.array_equal(geometry.minimum_image(-d, box), -m)  # odd: J_ij = J_ji bitwise


def test_place_on_lattice():
    sites = geometry.fcc_sites(3)
    p = geometry.place_on_lattice(sites, 40, np.random.default_rng(1))
    assert p.shape == (40, 3) and len(np.unique(p, axis=0)) == 40
    assert (p[:, None, :] == sites[None]).all(-1).any(1).all()
    assert np.array_equal(p, geometry.place_on_lattice(sites, 40, np.random.default_rng(1)))
    assert len(geometry.place_on_lattice(sites, len(sites), np.random.default_rng(1))) == len(sites)
    with pytest.raises(ValueError):
        geometry.place_on_lattice(sites, len(sites) + 1, np.random.default_rng(1))


@pytest.mark.parametrize("n,L,d", [(300, 8.0, 0.9), (20, 2.5, 0.8), (50, 3.0, 0.0)])
def test_place_continuum(n, L, d):
    p = geometry.place_continuum(n, L, d, np.random.default_rng(2))
    assert p.shape == (n, 3) and np.all((p >= 0) & (p < L))
    r = dist(p, np.full(3, L))
    r[np.diag_indices(n)] = np.inf
    assert r.min() >= d


def test_place_continuum_impossible():
    with pytest.raises(ValueError, match="could not place"):
        geometry.place_continuum(30, 2.0, 1.0, np.random.default_rng(0), max_tries=2000)
