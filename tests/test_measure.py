"""kernels/measure.py against plain numpy references, plus exact identities."""
from __future__ import annotations

import numba
import numpy as np
import pytest

from rkky_mc.kernels import measure as km

# ---- helpers -----------------------------------------------------------------------------

def make_perm(rng, R, T):
    """perm[r, t] = global walker (r*T + slot) at temperature t of ladder r."""
    return np.array([r * T + rng.permutation(T) for r in range(R)], dtype=np.int64)


def ising_spins(rng, W, N, dtype=np.float64):
    return rng.choice([-1.0, 1.0], size=(W, N)).astype(dtype)


def heis_spins(rng, W, N, dtype=np.float64):
    v = rng.normal(size=(3, W, N))
    v /= np.sqrt((v * v).sum(axis=0))
    return tuple(np.ascontiguousarray(c.astype(dtype)) for c in v)


def pairs(R):
    return km.ladder_pairs(R)


def random_j(rng, N, fill=0.5, dtype=np.float64):
    """Symmetric random couplings with zero diagonal, a fraction ``fill`` of them nonzero."""
    J = rng.normal(size=(N, N)) * (rng.random((N, N)) < fill)
    J = np.triu(J, 1)
    J = J + J.T
    return J.astype(dtype)


def squared(J):
    """The link-overlap weights J_ij², squared in float64 as the kernels do."""
    J = J.astype(np.float64)
    return J * J


def to_csr(K):
    indptr, indices, data = [0], [], []
    for i in range(K.shape[0]):
        cols = np.nonzero(K[i])[0]
        indices.extend(cols)
        data.extend(K[i, cols])
        indptr.append(len(indices))
    return (np.array(indptr, np.int64), np.array(indices, np.int32), np.array(data, K.dtype))


def vecs(sx, sy, sz, w):
    """(N, 3) float64 spins of walker w."""
    return np.stack([sx[w], sy[w], sz[w]], axis=1).astype(np.float64)


def ref_link_ising(J, s, perm, pa, pb):
    T, P = perm.shape[1], len(pa)
    K2 = squared(J)
    out = np.zeros((T, P))
    for t in range(T):
        for p in range(P):
            a = s[perm[pa[p], t]].astype(np.float64)
            b = s[perm[pb[p], t]].astype(np.float64)
            G = np.outer(a, a) * np.outer(b, b)
            out[t, p] = np.triu(K2 * G, 1).sum() / np.triu(K2, 1).sum()
    return out


def ref_link_heis(J, sx, sy, sz, perm, pa, pb):
    T, P = perm.shape[1], len(pa)
    K2 = squared(J)
    out = np.zeros((T, P))
    for t in range(T):
        for p in range(P):
            A = vecs(sx, sy, sz, perm[pa[p], t])
            B = vecs(sx, sy, sz, perm[pb[p], t])
            out[t, p] = np.triu(K2 * (A @ A.T) * (B @ B.T), 1).sum() / np.triu(K2, 1).sum()
    return out


def ref_link_heis_abs(J, sx, sy, sz, perm, pa, pb):
    """ref_link_heis with every product replaced by its absolute value:
    Σ_{i<j} J_ij² Σ_μν |S_iμ^a S_jμ^a S_iν^b S_jν^b| / Σ_{i<j} J_ij²."""
    return ref_link_heis(np.abs(J), np.abs(sx), np.abs(sy), np.abs(sz), perm, pa, pb)


def f32_bound(abs_ref):
    """Rounding bound of the float32 dense link overlap: every term J_ij² τ_i τ_j carries at
    most _J_CHUNK + 8 roundings of u = 2⁻²⁴ (J², τ_j, τ_i, the product with w, the chunk's
    float32 sum of ≤ _J_CHUNK + 3 terms), so |q − q_exact| ≤ γ_{_J_CHUNK+8} Σ|terms| / Σ J²
    (γ_n = n u / (1 − n u)), plus the float64 rest."""
    n = km._J_CHUNK + 8
    u = 2.0 ** -24
    return n * u / (1 - n * u) * abs_ref + 1e-13


def ref_overlap_heis(sx, sy, sz, perm, pa, pb, pos, box):
    T, P = perm.shape[1], len(pa)
    N = sx.shape[1]
    q = np.zeros((T, P, 3, 3))
    qk2 = np.zeros((T, P))
    for t in range(T):
        for p in range(P):
            A = vecs(sx, sy, sz, perm[pa[p], t])
            B = vecs(sx, sy, sz, perm[pb[p], t])
            q[t, p] = A.T @ B / N
            acc = 0.0
            for mu in range(3):
                ph = np.exp(1j * 2 * np.pi / box[mu] * pos[:, mu])
                qk = (A * ph[:, None]).T @ B / N
                acc += (np.abs(qk) ** 2).sum()
            qk2[t, p] = acc / 3
    return q, qk2


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


# ---- basics ------------------------------------------------------------------------------

def test_ladder_pairs_lexicographic():
    pa, pb = km.ladder_pairs(4)
    assert list(zip(pa, pb)) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert pa.dtype == np.int64
    assert len(km.ladder_pairs(1)[0]) == 0


def test_kmin_phases(rng):
    pos = rng.random((7, 3)) * np.array([3.0, 4.0, 5.0])
    box = np.array([3.0, 4.0, 5.0])
    c, s = km.kmin_phases(pos, box)
    ph = 2 * np.pi * pos / box
    np.testing.assert_allclose(c, np.cos(ph).T, atol=1e-14)
    np.testing.assert_allclose(s, np.sin(ph).T, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_magnetization(rng, dtype):
    T, R, N = 3, 2, 17
    perm = make_perm(rng, R, T)
    s = ising_spins(rng, T * R, N, dtype)
    out = np.zeros((T, R))
    km.ising_magnetization(s, perm, out)
    np.testing.assert_allclose(out, s[perm].astype(np.float64).mean(axis=2).T, atol=1e-14)
    sx, sy, sz = heis_spins(rng, T * R, N, dtype)
    m3 = np.zeros((T, R, 3))
    km.heisenberg_magnetization(sx, sy, sz, perm, m3)
    for t in range(T):
        for r in range(R):
            np.testing.assert_allclose(m3[t, r], vecs(sx, sy, sz, perm[r, t]).mean(axis=0), atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ising_overlap_reference(rng, dtype):
    T, R, N = 3, 3, 23
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    s = ising_spins(rng, T * R, N, dtype)
    box = np.array([4.0, 4.0, 5.0])
    pos = rng.random((N, 3)) * box
    cosk, sink = km.kmin_phases(pos, box)
    q = np.zeros((T, 3))
    qk2 = np.zeros((T, 3))
    km.ising_overlap(s, perm, pa, pb, cosk, sink, q, qk2)
    for t in range(T):
        for p in range(3):
            tau = s[perm[pa[p], t]].astype(np.float64) * s[perm[pb[p], t]]
            assert q[t, p] == pytest.approx(tau.mean(), abs=1e-14)
            qk = [(tau * np.exp(1j * 2 * np.pi / box[mu] * pos[:, mu])).mean() for mu in range(3)]
            assert qk2[t, p] == pytest.approx(np.mean(np.abs(qk) ** 2), rel=1e-12)
    # K = 0: no wave vectors -> nan
    empty = np.zeros((0, N))
    km.ising_overlap(s, perm, pa, pb, empty, empty, q, qk2)
    assert np.isnan(qk2).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_heisenberg_overlap_reference(rng, dtype):
    T, R, N = 2, 3, 19
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    sx, sy, sz = heis_spins(rng, T * R, N, dtype)
    box = np.array([3.0, 4.0, 5.0])
    pos = rng.random((N, 3)) * box
    cosk, sink = km.kmin_phases(pos, box)
    q = np.zeros((T, 3, 3, 3))
    qk2 = np.zeros((T, 3))
    km.heisenberg_overlap(sx, sy, sz, perm, pa, pb, cosk, sink, q, qk2)
    q_ref, qk2_ref = ref_overlap_heis(sx, sy, sz, perm, pa, pb, pos, box)
    np.testing.assert_allclose(q, q_ref, atol=1e-14)
    np.testing.assert_allclose(qk2, qk2_ref, rtol=1e-12)
    empty = np.zeros((0, N))
    km.heisenberg_overlap(sx, sy, sz, perm, pa, pb, empty, empty, q, qk2)
    assert np.isnan(qk2).all()


def test_qk2_at_k_zero_is_q_squared(rng):
    T, R, N = 3, 2, 31
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    cosk, sink = np.ones((2, N)), np.zeros((2, N))
    s = ising_spins(rng, T * R, N)
    q, qk2 = np.zeros((T, 1)), np.zeros((T, 1))
    km.ising_overlap(s, perm, pa, pb, cosk, sink, q, qk2)
    np.testing.assert_allclose(qk2, q**2, rtol=1e-13)
    sx, sy, sz = heis_spins(rng, T * R, N)
    q3 = np.zeros((T, 1, 3, 3))
    km.heisenberg_overlap(sx, sy, sz, perm, pa, pb, cosk, sink, q3, qk2)
    np.testing.assert_allclose(qk2, (q3**2).sum(axis=(2, 3)), rtol=1e-13)


def test_heisenberg_q2_invariant_under_global_rotation(rng):
    T, R, N = 3, 2, 25
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    sx, sy, sz = heis_spins(rng, T * R, N)
    box = np.full(3, 4.0)
    cosk, sink = km.kmin_phases(rng.random((N, 3)) * 4.0, box)
    J = random_j(rng, N)

    def observe(sx, sy, sz):
        q, qk2, ql = np.zeros((T, 1, 3, 3)), np.zeros((T, 1)), np.zeros((T, 1))
        km.heisenberg_overlap(sx, sy, sz, perm, pa, pb, cosk, sink, q, qk2)
        km.heisenberg_link_overlap_dense(J, sx, sy, sz, perm, pa, pb, ql)
        return q, qk2, ql

    q0, k0, l0 = observe(sx, sy, sz)
    # a random rotation of every walker of ladder 1 (replica b)
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    Q *= np.sign(np.linalg.det(Q))
    S = np.stack([sx, sy, sz])  # (3, W, N)
    w1 = perm[1]
    S[:, w1] = np.einsum("mn,nwi->mwi", Q, S[:, w1])
    q1, k1, l1 = observe(*(np.ascontiguousarray(c) for c in S))
    assert not np.allclose(q0, q1)  # the tensor itself changes ...
    np.testing.assert_allclose((q1**2).sum(axis=(2, 3)), (q0**2).sum(axis=(2, 3)), rtol=1e-12)
    np.testing.assert_allclose(k1, k0, rtol=1e-12)  # ... q² and |q(k)|² do not
    np.testing.assert_allclose(l1, l0, rtol=1e-12)
    np.testing.assert_allclose(q1[:, 0], q0[:, 0] @ Q.T, atol=1e-14)


# ---- link overlap -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_link_overlap_ising_dense_csr_reference(rng, dtype):
    # N = 141 > 2·_ROW_UNITS rows (several row blocks, odd N: middle row unpaired);
    # T·P = 5·6 = 30 columns
    T, R, N = 5, 4, 141
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    s = ising_spins(rng, T * R, N, dtype)
    J = random_j(rng, N, fill=0.3, dtype=dtype)
    dense = np.zeros((T, 6))
    csr = np.zeros((T, 6))
    km.ising_link_overlap_dense(J, s, perm, pa, pb, dense)
    km.ising_link_overlap_csr(*to_csr(J), s, perm, pa, pb, csr)
    ref = ref_link_ising(J, s, perm, pa, pb)
    np.testing.assert_allclose(csr, ref, rtol=1e-12, atol=1e-14)  # CSR: float64 throughout
    if dtype == np.float64:
        np.testing.assert_allclose(dense, ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(csr, dense, rtol=1e-13, atol=1e-15)
    else:  # dense float32: sums in float32 (chunks of _J_CHUNK), within the rounding bound
        bound = f32_bound(ref_link_ising(np.abs(J), np.abs(s), perm, pa, pb))
        assert np.all(np.abs(dense - ref) <= bound)
    assert np.all(np.abs(dense) <= 1.0 + 1e-12)
    # Σ J² passed in (cached by the simulation) gives the same bits as computing it
    given = np.zeros((T, 6))
    km.ising_link_overlap_dense(J, s, perm, pa, pb, given, km.k2_sum_dense(J))
    assert np.array_equal(given, dense)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_link_overlap_heisenberg_dense_csr_reference(rng, dtype):
    # T·P·9 = 4·3·9 = 108 columns > one column block of 64
    T, R, N = 4, 3, 133
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    sx, sy, sz = heis_spins(rng, T * R, N, dtype)
    J = random_j(rng, N, fill=0.3, dtype=dtype)
    dense = np.zeros((T, 3))
    csr = np.zeros((T, 3))
    km.heisenberg_link_overlap_dense(J, sx, sy, sz, perm, pa, pb, dense)
    km.heisenberg_link_overlap_csr(*to_csr(J), sx, sy, sz, perm, pa, pb, csr)
    ref = ref_link_heis(J, sx, sy, sz, perm, pa, pb)
    np.testing.assert_allclose(csr, ref, rtol=1e-11, atol=1e-14)
    if dtype == np.float64:
        np.testing.assert_allclose(dense, ref, rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(csr, dense, rtol=1e-13, atol=1e-15)
    else:
        bound = f32_bound(ref_link_heis_abs(J, sx, sy, sz, perm, pa, pb))
        assert np.all(np.abs(dense - ref) <= bound)
    given = np.zeros((T, 3))
    km.heisenberg_link_overlap_dense(J, sx, sy, sz, perm, pa, pb, given, km.k2_sum_dense(J))
    assert np.array_equal(given, dense)


@pytest.mark.parametrize("N", range(2, 14))
def test_link_overlap_dense_every_small_N(rng, N):
    """The dense kernel takes rows four at a time, then their mirrors (the middle row of an
    odd N once), leftovers one by one: every N up to 13 against the pure-Python reference,
    Ising and Heisenberg."""
    T, R = 3, 2
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    J = random_j(rng, N, fill=0.8)
    s = ising_spins(rng, T * R, N)
    out = np.zeros((T, 1))
    km.ising_link_overlap_dense(J, s, perm, pa, pb, out)
    np.testing.assert_allclose(out, ref_link_ising(J, s, perm, pa, pb), rtol=1e-12, atol=1e-14)
    sx, sy, sz = heis_spins(rng, T * R, N)
    out = np.zeros((T, 1))
    km.heisenberg_link_overlap_dense(J, sx, sy, sz, perm, pa, pb, out)
    np.testing.assert_allclose(out, ref_link_heis(J, sx, sy, sz, perm, pa, pb), rtol=1e-12,
                               atol=1e-14)


@pytest.mark.parametrize("N", [5, 131, 300])
def test_link_overlap_dense_float32_within_rounding_bound(rng, N):
    """float32 couplings and spins: the dense kernels sum J_ij² τ_j in float32 over chunks of
    _J_CHUNK columns and add the chunks in float64. N = 300 has three chunks for the first
    rows, 131 two (the first starting at i+1), 5 one; against the float64 reference of the
    same float32 inputs, within the rounding bound; and in float64 the same inputs give the
    reference to 1e-12."""
    T, R = 16, 2
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    J = random_j(rng, N, fill=0.8, dtype=np.float32)
    s = ising_spins(rng, T * R, N, np.float32)
    out = np.zeros((T, 1))
    km.ising_link_overlap_dense(J, s, perm, pa, pb, out)
    ref = ref_link_ising(J, s, perm, pa, pb)
    assert np.all(np.abs(out - ref) <= f32_bound(ref_link_ising(np.abs(J), np.abs(s), perm, pa, pb)))
    out64 = np.zeros((T, 1))
    km.ising_link_overlap_dense(J.astype(np.float64), s.astype(np.float64), perm, pa, pb, out64)
    np.testing.assert_allclose(out64, ref, rtol=1e-12, atol=1e-14)
    sx, sy, sz = heis_spins(rng, T * R, N, np.float32)
    out = np.zeros((T, 1))
    km.heisenberg_link_overlap_dense(J, sx, sy, sz, perm, pa, pb, out)
    ref = ref_link_heis(J, sx, sy, sz, perm, pa, pb)
    assert np.all(np.abs(out - ref) <= f32_bound(ref_link_heis_abs(J, sx, sy, sz, perm, pa, pb)))
    km.heisenberg_link_overlap_dense(J.astype(np.float64), *(c.astype(np.float64) for c in (sx, sy, sz)),
                                     perm, pa, pb, out64)
    np.testing.assert_allclose(out64, ref, rtol=1e-11, atol=1e-14)


def test_link_overlap_same_replica_is_one_and_no_bonds_is_nan(rng):
    T, R, N = 2, 2, 12
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    s = ising_spins(rng, T * R, N)
    s[perm[1]] = s[perm[0]] * -1.0  # b = -a at every temperature: q_l = 1 (gauge of the sign)
    J = random_j(rng, N)
    out = np.zeros((T, 1))
    km.ising_link_overlap_dense(J, s, perm, pa, pb, out)
    np.testing.assert_allclose(out, 1.0, rtol=1e-13)
    km.ising_link_overlap_dense(np.zeros((N, N)), s, perm, pa, pb, out)
    assert np.isnan(out).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_k2_sums(rng, dtype):
    """Σ_{i<j} J_ij², from J (squared inside, in float64), dense and CSR."""
    J = random_j(rng, 30, fill=0.4, dtype=dtype)
    ref = np.triu(squared(J), 1).sum()
    assert km.k2_sum_dense(J) == pytest.approx(ref, rel=1e-13)
    assert km.k2_sum_csr(*to_csr(J)) == pytest.approx(ref, rel=1e-13)


# ---- bond overlap (unweighted, CSR) --------------------------------------------------------

def csr_with_stored_zeros(rng, N, fill=0.3, n_zero=5, dtype=np.float64):
    """CSR of random symmetric couplings (both directions stored, columns sorted) with
    ``n_zero`` extra pairs stored as explicit zeros: no bonds, must not count."""
    J = random_j(rng, N, fill=fill)
    Z = np.zeros((N, N), bool)
    free = np.argwhere(np.triu(J == 0.0, 1))
    for i, j in free[rng.choice(len(free), n_zero, replace=False)]:
        Z[i, j] = Z[j, i] = True
    indptr, indices, data = [0], [], []
    for i in range(N):
        cols = np.nonzero((J[i] != 0.0) | Z[i])[0]
        indices.extend(cols)
        data.extend(J[i, cols])
        indptr.append(len(indices))
    return (np.array(indptr, np.int64), np.array(indices, np.int32), np.array(data, dtype)), J


def ref_bonds(indptr, indices, data, tau_pair):
    """Slow pure-Python q_b = (1/N_b) Σ_{stored i<j, J_ij ≠ 0} tau_pair(i, j)."""
    tot, n_b = 0.0, 0
    for i in range(len(indptr) - 1):
        for e in range(indptr[i], indptr[i + 1]):
            j = int(indices[e])
            if j > i and float(data[e]) != 0.0:
                tot += tau_pair(i, j)
                n_b += 1
    return tot / n_b if n_b else float("nan")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bond_overlap_ising_csr_reference(rng, dtype):
    # N = 141: several row blocks, odd N; T·P = 5·6 = 30 columns
    T, R, N = 5, 4, 141
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    s = ising_spins(rng, T * R, N, dtype)
    csr, J = csr_with_stored_zeros(rng, N, dtype=dtype)
    ql, qb = np.zeros((T, 6)), np.zeros((T, 6))
    km.ising_link_overlaps_csr(*csr, s, perm, pa, pb, ql, qb)
    ref = np.zeros((T, 6))
    for t in range(T):
        for p in range(6):
            a = s[perm[pa[p], t]].astype(np.float64)
            b = s[perm[pb[p], t]].astype(np.float64)
            ref[t, p] = ref_bonds(*csr, lambda i, j: a[i] * a[j] * b[i] * b[j])
    np.testing.assert_allclose(qb, ref, rtol=1e-12, atol=1e-14)
    # the J²-weighted output is exactly that of the single kernel
    single = np.zeros((T, 6))
    km.ising_link_overlap_csr(*csr, s, perm, pa, pb, single)
    assert ql.tobytes() == single.tobytes()
    assert not np.allclose(qb, ql)  # the weights matter
    assert km.bond_count_csr(*csr) == np.count_nonzero(np.triu(J, 1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bond_overlap_heisenberg_csr_reference(rng, dtype):
    # T·P·9 = 4·3·9 = 108 columns > one column block of 64
    T, R, N = 4, 3, 133
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    sx, sy, sz = heis_spins(rng, T * R, N, dtype)
    csr, _ = csr_with_stored_zeros(rng, N, dtype=dtype)
    ql, qb = np.zeros((T, 3)), np.zeros((T, 3))
    km.heisenberg_link_overlaps_csr(*csr, sx, sy, sz, perm, pa, pb, ql, qb)
    ref = np.zeros((T, 3))
    for t in range(T):
        for p in range(3):
            A = vecs(sx, sy, sz, perm[pa[p], t])
            B = vecs(sx, sy, sz, perm[pb[p], t])
            ref[t, p] = ref_bonds(*csr, lambda i, j: float(A[i] @ A[j]) * float(B[i] @ B[j]))
    np.testing.assert_allclose(qb, ref, rtol=1e-12, atol=1e-14)
    single = np.zeros((T, 3))
    km.heisenberg_link_overlap_csr(*csr, sx, sy, sz, perm, pa, pb, single)
    assert ql.tobytes() == single.tobytes()


def test_bond_overlap_identical_replicas_is_one_and_no_bonds_is_nan(rng):
    T, R, N = 3, 2, 40
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    s = ising_spins(rng, T * R, N)
    s[perm[1]] = s[perm[0]]                  # identical replicas: τ^a τ^b = τ² = 1 per bond
    csr, _ = csr_with_stored_zeros(rng, N)
    ql, qb = np.zeros((T, 1)), np.zeros((T, 1))
    km.ising_link_overlaps_csr(*csr, s, perm, pa, pb, ql, qb)
    assert np.all(qb == 1.0)
    np.testing.assert_allclose(ql, 1.0, rtol=1e-13)
    # Heisenberg, identical collinear replicas (every S_i = ±ẑ): (S_i·S_j)² = 1
    z = np.zeros((T * R, N))
    sz = s.copy()
    qh, qhb = np.zeros((T, 1)), np.zeros((T, 1))
    km.heisenberg_link_overlaps_csr(*csr, z, z.copy(), sz, perm, pa, pb, qh, qhb)
    assert np.all(qhb == 1.0)
    # only stored zeros: no bond at all
    empty = (csr[0], csr[1], np.zeros_like(csr[2]))
    km.ising_link_overlaps_csr(*empty, s, perm, pa, pb, ql, qb)
    assert np.isnan(qb).all() and np.isnan(ql).all()
    assert km.bond_count_csr(*empty) == 0.0


def _ea_csr(L, distribution, seed):
    from rkky_mc.config import SampleConfig
    from rkky_mc.couplings import build_sample

    sample = build_sample(SampleConfig(model="ea", L=L, distribution=distribution, seed=seed))
    assert sample.csr is not None
    return sample.csr


@pytest.mark.parametrize("distribution", ["gaussian", "pm1"])
def test_bond_overlap_ea_random_spins_is_zero_on_average(distribution):
    """β = 0 (independent random spins, the T = 10⁴ limit) on an EA L = 4 sample: the bond
    products τ_b^a τ_b^b have mean 0 and are pairwise uncorrelated, so [q_b] = 0 with
    variance 1/N_b per pair (N_b = 3L³ = 192)."""
    rng = np.random.default_rng(11)
    csr = _ea_csr(4, distribution, 3)
    assert km.bond_count_csr(*csr) == 192.0
    T, R = 400, 2
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    x = []
    for _ in range(2):
        s = ising_spins(rng, T * R, 64)
        ql, qb = np.zeros((T, 1)), np.zeros((T, 1))
        km.ising_link_overlaps_csr(*csr, s, perm, pa, pb, ql, qb)
        x.append(qb[:, 0])
        if distribution == "pm1":              # J² = 1: both overlaps coincide
            np.testing.assert_allclose(qb, ql, rtol=1e-13, atol=1e-15)
    x = np.concatenate(x)
    sigma = x.std(ddof=1) / np.sqrt(len(x))
    assert abs(x.mean()) < 4 * sigma, (x.mean(), sigma)
    assert x.var(ddof=1) == pytest.approx(1.0 / 192, rel=0.15)


# ---- infinite-temperature identities -------------------------------------------------------

def test_beta_zero_N_q2_is_one():
    """Independent random spins (β = 0): N[q²] = 1 for Ising and for Heisenberg (Σ_μν q_μν²)."""
    rng = np.random.default_rng(7)
    T, R, N = 2000, 2, 16  # 2000 independent pairs per call
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    empty = np.zeros((0, N))
    nq2_i, nq2_h = [], []
    for _ in range(2):
        s = ising_spins(rng, T * R, N)
        q, qk2 = np.zeros((T, 1)), np.zeros((T, 1))
        km.ising_overlap(s, perm, pa, pb, empty, empty, q, qk2)
        nq2_i.append(N * q[:, 0] ** 2)
        sx, sy, sz = heis_spins(rng, T * R, N)
        q3 = np.zeros((T, 1, 3, 3))
        km.heisenberg_overlap(sx, sy, sz, perm, pa, pb, empty, empty, q3, qk2)
        nq2_h.append(N * (q3[:, 0] ** 2).sum(axis=(1, 2)))
    for x in (np.concatenate(nq2_i), np.concatenate(nq2_h)):
        sigma = x.std(ddof=1) / np.sqrt(len(x))
        assert abs(x.mean() - 1.0) < 4 * sigma, (x.mean(), sigma)


# ---- determinism -----------------------------------------------------------------------

def test_bitwise_reproducible_and_thread_independent(rng):
    T, R, N = 6, 3, 90
    perm = make_perm(rng, R, T)
    pa, pb = pairs(R)
    s = ising_spins(rng, T * R, N)
    sx, sy, sz = heis_spins(rng, T * R, N)
    J = random_j(rng, N, fill=0.5)
    csr = to_csr(J)
    cosk, sink = km.kmin_phases(rng.random((N, 3)) * 4, np.full(3, 4.0))

    def run_all():
        res = []
        q, k = np.zeros((T, 3)), np.zeros((T, 3))
        km.ising_overlap(s, perm, pa, pb, cosk, sink, q, k)
        res += [q, k]
        q3 = np.zeros((T, 3, 3, 3))
        k3 = np.zeros((T, 3))
        km.heisenberg_overlap(sx, sy, sz, perm, pa, pb, cosk, sink, q3, k3)
        res += [q3, k3]
        for f, args in ((km.ising_link_overlap_dense, (J, s)),
                        (km.ising_link_overlap_csr, (*csr, s)),
                        (km.heisenberg_link_overlap_dense, (J, sx, sy, sz)),
                        (km.heisenberg_link_overlap_csr, (*csr, sx, sy, sz))):
            out = np.zeros((T, 3))
            f(*args, perm, pa, pb, out)
            res.append(out)
        for f, args in ((km.ising_link_overlaps_csr, (*csr, s)),
                        (km.heisenberg_link_overlaps_csr, (*csr, sx, sy, sz))):
            out, bonds = np.zeros((T, 3)), np.zeros((T, 3))
            f(*args, perm, pa, pb, out, bonds)
            res += [out, bonds]
        m = np.zeros((T, R))
        km.ising_magnetization(s, perm, m)
        m3 = np.zeros((T, R, 3))
        km.heisenberg_magnetization(sx, sy, sz, perm, m3)
        return res + [m, m3]

    first = run_all()
    second = run_all()
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = run_all()
    finally:
        numba.set_num_threads(old)
    for a, b, c in zip(first, second, single):
        assert a.tobytes() == b.tobytes()
        assert a.tobytes() == c.tobytes()
