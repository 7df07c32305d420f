"""Chirality triplets (observables_chiral.py) and the chiral kernels (kernels/chirality.py).

κ = S_j·(S_i × S_k) for rows (j, i, k). At T = ∞ (independent uniform unit vectors)
⟨κ²⟩ = 2/9, ⟨κ⁴⟩ = ⟨(1 − u²)²⟩/5 = 8/75 (u uniform on [−1, 1]), and distinct triplets are
uncorrelated, so N_t ⟨q_χ²⟩ = (2/9)² = 4/81 for two independent replicas (PHYSICS.md).
Statistical checks: fixed seeds, 4σ, σ the standard error over independent draws.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from rkky_mc import geometry
from rkky_mc.kernels.chirality import (
    chiral_measure,
    chiral_overlap,
    chiral_overlap_k2,
    chiralities,
    chirality_sq,
)
from rkky_mc.kernels.measure import ladder_pairs
from rkky_mc.observables_chiral import (
    chiral_binder,
    chiral_susceptibility,
    dedupe_triplets,
    ea_triplets,
    nearest_neighbour_triplets,
    sample_triplets,
    triplet_centroids,
    triplet_phases,
)

NSIGMA = 4.0


def random_spins(gen, W, N):
    v = gen.normal(size=(W, N, 3))
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    return [np.ascontiguousarray(v[..., c]) for c in range(3)]


def kappa_of(s, tri):
    S = np.stack(s, axis=-1)
    return np.einsum("wtc,wtc->wt", S[:, tri[:, 0]], np.cross(S[:, tri[:, 1]], S[:, tri[:, 2]]))


def set_keys(tri):
    return [tuple(sorted(r)) for r in tri.tolist()]


# ------------------------------------------------------------------------------ triplets
def test_ea_triplets_convention():
    L = 4
    tri = ea_triplets(L)
    assert tri.shape == (3 * L**3, 3) and tri.dtype == np.int64
    sites = geometry.simple_cubic_sites(L).astype(int)
    for row in (0, 1, 2, 3 * 27 + 1, 3 * 63 + 2):
        i, mu = divmod(row, 3)
        up = sites[i].copy()
        dn = sites[i].copy()
        up[mu] = (up[mu] + 1) % L
        dn[mu] = (dn[mu] - 1) % L
        idx = lambda p: (p[0] * L + p[1]) * L + p[2]  # noqa: E731
        assert tri[row].tolist() == [idx(up), i, idx(dn)]
        # the coordinates agree with geometry.simple_cubic_sites
        assert np.array_equal(sites[tri[row, 0]], up) and np.array_equal(sites[tri[row, 2]], dn)


@pytest.mark.parametrize("L", [4, 5])
def test_ea_triplets_distinct(L):
    keys = set_keys(ea_triplets(L))
    assert len(keys) == len(set(keys)) == 3 * L**3


def test_ea_triplets_small_lattices():
    t3 = ea_triplets(3)  # each line's three sites once
    assert len(t3) == 3 * 9 and len(set(set_keys(t3))) == len(t3)
    assert len(ea_triplets(2)) == 0 and len(ea_triplets(1)) == 0


def reference_nn_triplets(pos, box):
    """Brute force: sort the other sites of i by (distance, index), dedupe by set."""
    n = len(pos)
    rows, seen = [], set()
    for i in range(n):
        d = pos - pos[i]
        d -= box * np.rint(d / box)
        r = np.sqrt((d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]) + d[:, 2] * d[:, 2])
        others = [j for j in range(n) if j != i]
        others.sort(key=lambda j: (r[j], j))
        row = (others[0], i, others[1])
        key = tuple(sorted(row))
        if key not in seen:
            seen.add(key)
            rows.append(row)
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


@pytest.mark.parametrize("lattice", [False, True])
def test_nearest_neighbour_triplets(lattice):
    gen = np.random.default_rng(3)
    if lattice:  # fcc sites: many equal distances, the index tie-break decides
        L = 3
        pos = geometry.place_on_lattice(geometry.fcc_sites(L), 40, gen)
        box = np.full(3, float(L))
    else:
        box = np.array([4.0, 5.0, 3.0])
        pos = gen.random((60, 3)) * box
    tri = nearest_neighbour_triplets(pos, box)
    assert np.array_equal(tri, reference_nn_triplets(pos, box))
    keys = set_keys(tri)
    assert len(keys) == len(set(keys))
    assert len(tri) < len(pos)  # mutual nearest neighbours produce repeats that were dropped
    assert np.array_equal(sample_triplets("rkky", pos, box), tri)


def test_no_triplets():
    assert sample_triplets("sk", None, None).shape == (0, 3)
    assert sample_triplets("rkky", np.zeros((2, 3)), np.ones(3)).shape == (0, 3)
    assert nearest_neighbour_triplets(np.zeros((2, 3)), np.ones(3)).shape == (0, 3)
    gen = np.random.default_rng(4)
    s = random_spins(gen, 4, 5)
    perm = np.arange(4).reshape(2, 2)
    pa, pb = ladder_pairs(2)
    tri = np.zeros((0, 3), dtype=np.int64)
    cosk, sink = triplet_phases(tri, None, None)
    q, qk2, k2 = np.empty((2, 1)), np.empty((2, 1)), np.empty((2, 2))
    chiral_measure(*s, tri, perm, pa, pb, cosk, sink, q, qk2, k2)
    assert np.isnan(q).all() and np.isnan(qk2).all() and np.isnan(k2).all()


def test_dedupe_keeps_first_orientation():
    rows = [[0, 1, 2], [2, 1, 0], [1, 0, 2], [3, 4, 3], [4, 5, 6]]
    assert dedupe_triplets(rows).tolist() == [[0, 1, 2], [4, 5, 6]]


def test_centroids_minimum_image():
    box = np.array([10.0, 10.0, 10.0])
    pos = np.array([[9.5, 0.0, 0.0], [0.5, 0.0, 0.0], [1.5, 0.0, 3.0]])
    c = triplet_centroids(np.array([[0, 1, 2]]), pos, box)
    np.testing.assert_allclose(c, [[0.5, 0.0, 1.0]], atol=1e-14)


# ------------------------------------------------------------------------------ kernels
def test_kernels_against_numpy():
    gen = np.random.default_rng(5)
    L = 4
    pos = geometry.simple_cubic_sites(L)
    box = np.full(3, float(L))
    tri = ea_triplets(L)
    R, T = 3, 2
    W = R * T
    s = random_spins(gen, W, L**3)
    perm = gen.permutation(W).reshape(R, T)
    pa, pb = ladder_pairs(R)
    kap = np.empty((W, len(tri)))
    chiralities(*s, tri, kap)
    ref = kappa_of(s, tri)
    np.testing.assert_allclose(kap, ref, rtol=0, atol=1e-15)
    cosk, sink = triplet_phases(tri, pos, box)
    assert cosk.shape == (3, len(tri))
    q = np.empty((T, len(pa)))
    qk2 = np.empty((T, len(pa)))
    k2 = np.empty((T, R))
    chiral_overlap(kap, perm, pa, pb, q)
    chiral_overlap_k2(kap, perm, pa, pb, cosk, sink, qk2)
    chirality_sq(kap, perm, k2)
    cent = triplet_centroids(tri, pos, box)
    for t in range(T):
        for p in range(len(pa)):
            a, b = perm[pa[p], t], perm[pb[p], t]
            tau = ref[a] * ref[b]
            assert q[t, p] == pytest.approx(tau.mean(), abs=1e-15)
            qk = [np.mean(tau * np.exp(1j * 2 * np.pi / L * cent[:, mu])) for mu in range(3)]
            assert qk2[t, p] == pytest.approx(np.mean(np.abs(qk) ** 2), rel=1e-12)
        for r in range(R):
            assert k2[t, r] == pytest.approx(np.mean(ref[perm[r, t]] ** 2), rel=1e-14)
    # the fused kernel gives the same bits
    q2, qk22, k22 = np.empty_like(q), np.empty_like(qk2), np.empty_like(k2)
    chiral_measure(*s, tri, perm, pa, pb, cosk, sink, q2, qk22, k22)
    assert np.array_equal(q, q2) and np.array_equal(qk2, qk22) and np.array_equal(k2, k22)


def test_rotation_and_inversion_of_replica_b():
    """q_χ is unchanged by a global rotation of replica b and changes sign (exactly) when
    replica b is inverted; q_χ(k)² is unchanged by both."""
    gen = np.random.default_rng(6)
    pos = gen.random((50, 3)) * 4.0
    box = np.full(3, 4.0)
    tri = nearest_neighbour_triplets(pos, box)
    cosk, sink = triplet_phases(tri, pos, box)
    s = random_spins(gen, 2, 50)
    Q, _ = np.linalg.qr(gen.normal(size=(3, 3)))
    Q *= np.sign(np.linalg.det(Q))  # a proper rotation
    S = np.stack(s, axis=-1)
    rot = S.copy()
    rot[1] = S[1] @ Q.T
    inv = S.copy()
    inv[1] = -S[1]
    perm = np.array([[0], [1]])
    pa, pb = ladder_pairs(2)

    def measure(spins):
        q, qk2, k2 = np.empty((1, 1)), np.empty((1, 1)), np.empty((1, 2))
        chiral_measure(*[np.ascontiguousarray(spins[..., c]) for c in range(3)], tri, perm,
                       pa, pb, cosk, sink, q, qk2, k2)
        return q[0, 0], qk2[0, 0]

    q0, k0 = measure(S)
    assert abs(q0) > 1e-3  # not trivially zero
    q1, k1 = measure(rot)
    assert q1 == pytest.approx(q0, abs=1e-14) and k1 == pytest.approx(k0, rel=1e-12)
    q2, k2_ = measure(inv)
    assert q2 == -q0 and k2_ == k0


def test_infinite_temperature_moments():
    """⟨κ²⟩ = 2/9 and N_t ⟨q_χ²⟩ = 4/81 for random spins (EA L = 4, N_t = 192; 5000 pairs): each
    temperature column is an independent pair of replicas."""
    gen = np.random.default_rng(7)
    L = 4
    tri = ea_triplets(L)
    nt = len(tri)
    T, R, draws = 250, 2, 20
    pa, pb = ladder_pairs(R)
    perm = np.arange(R * T).reshape(R, T)
    x, k2s = [], []
    for _ in range(draws):
        s = random_spins(gen, R * T, L**3)
        kap = np.empty((R * T, nt))
        chiralities(*s, tri, kap)
        q = np.empty((T, 1))
        k2 = np.empty((T, R))
        chiral_overlap(kap, perm, pa, pb, q)
        chirality_sq(kap, perm, k2)
        x.append(nt * q[:, 0] ** 2)
        k2s.append(k2[:, 0])  # one replica per column: independent configurations
    x = np.concatenate(x)
    k2s = np.concatenate(k2s)
    err_x = x.std(ddof=1) / math.sqrt(len(x))
    err_k = k2s.std(ddof=1) / math.sqrt(len(k2s))
    assert abs(x.mean() - 4 / 81) < NSIGMA * err_x, (x.mean(), err_x)
    assert abs(k2s.mean() - 2 / 9) < NSIGMA * err_k, (k2s.mean(), err_k)
    # resolution: a 20 % error in either would be seen
    assert 0.2 * 4 / 81 > 2 * NSIGMA * err_x and 0.2 * 2 / 9 > 2 * NSIGMA * err_k
    # normalised χ_CG: N_t[q²]/[κ²]² → 1 at T = ∞
    chi, chi_n = chiral_susceptibility(x.mean() / nt, nt, k2s.mean())
    assert chi == pytest.approx(x.mean()) and chi_n == pytest.approx(1.0, abs=0.15)


def test_chiral_binder_not_clipped():
    assert chiral_binder(1.0, 1.0) == 1.0
    assert chiral_binder(1.0, 5.0) == -1.0  # negative values are kept
