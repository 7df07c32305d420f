"""kernels/tempering.py: parallel-tempering swaps and round-trip bookkeeping.

Acceptance rates are binomial: with n independent ladders (independent streams) and swap
probability p, σ = sqrt(p(1 − p)/n) exactly; tolerance 4σ, fixed seeds.
"""
from __future__ import annotations

import numpy as np
import pytest

from rkky_mc.kernels.rng import next_u64, seed_streams, uniform
from rkky_mc.kernels.tempering import tempering_swaps

NSIGMA = 4.0


class Ladders:
    def __init__(self, R, T, betas, seed, shuffle=False):
        self.R, self.T = R, T
        self.betas = np.asarray(betas, dtype=np.float64)
        gen = np.random.default_rng(seed)
        self.perm = np.arange(R * T, dtype=np.int64).reshape(R, T)
        if shuffle:  # any initial assignment within each ladder
            for r in range(R):
                self.perm[r] = gen.permutation(self.perm[r])
        self.beta_w = np.empty(R * T)
        for r in range(R):
            self.beta_w[self.perm[r]] = self.betas
        self.rng = seed_streams(np.random.SeedSequence(seed), R)
        self.n_accepted = np.zeros((R, max(T - 1, 0)), dtype=np.int64)
        self.direction = np.zeros(R * T, dtype=np.int64)
        self.half_trips = np.zeros(R, dtype=np.int64)

    def swap(self, energies):
        tempering_swaps(np.asarray(energies, dtype=np.float64), self.betas, self.perm,
                        self.beta_w, self.rng, self.n_accepted, self.direction,
                        self.half_trips)

    def state(self):
        return {k: getattr(self, k).copy() for k in
                ("perm", "beta_w", "rng", "n_accepted", "direction", "half_trips")}


def reference_swaps(energies, betas, st):
    """The contract of docs/architecture.md, in plain Python, on a copy of the state."""
    perm, beta_w, rng = st["perm"], st["beta_w"], st["rng"]
    R, T = perm.shape
    for r in range(R):
        for t in range(T - 1):
            a, b = perm[r, t], perm[r, t + 1]
            delta = (betas[t] - betas[t + 1]) * (energies[a] - energies[b])
            u = uniform(rng, r)  # one uniform per pair, always
            if u < min(1.0, np.exp(delta)):
                perm[r, t], perm[r, t + 1] = b, a
                beta_w[a], beta_w[b] = betas[t + 1], betas[t]
                st["n_accepted"][r, t] += 1
        if T < 2:
            continue
        w = perm[r, 0]
        if st["direction"][w] == 2:
            st["half_trips"][r] += 1
        st["direction"][w] = 1
        w = perm[r, T - 1]
        if st["direction"][w] == 1:
            st["half_trips"][r] += 1
        st["direction"][w] = 2


@pytest.mark.parametrize("delta", [-3.0, -0.7, -0.1, 0.0, 0.4])
def test_acceptance_is_min_1_exp_delta(delta):
    """Two temperatures, fixed energies: the swap rate is min(1, e^Δ), Δ = (β0−β1)(E_a−E_b)."""
    R = 20000
    betas = np.array([2.0, 0.5])
    lad = Ladders(R, 2, betas, seed=3)
    energies = np.zeros(2 * R)
    energies[0::2] = delta / (betas[0] - betas[1])  # walker 2r at t = 0, 2r + 1 at t = 1
    lad.swap(energies)
    p = min(1.0, np.exp(delta))
    rate = lad.n_accepted[:, 0].mean()
    if p == 1.0:
        assert rate == 1.0
    else:
        sigma = np.sqrt(p * (1 - p) / R)
        assert abs(rate - p) <= NSIGMA * sigma, f"Δ={delta}: {rate:.4f} vs {p:.4f} ± {sigma:.4f}"
    # the swapped ladders have exchanged walkers and betas
    swapped = lad.n_accepted[:, 0] == 1
    assert np.array_equal(lad.perm[swapped, 0] % 2, np.ones(swapped.sum()))
    assert np.array_equal(lad.beta_w[lad.perm[:, 0]], np.full(R, betas[0]))


def test_impossible_swap_never_happens():
    # Δ = −1e4: exp underflows to 0 and u ∈ [0, 1) never beats it; NaN energies never swap
    R = 2000
    lad = Ladders(R, 2, [1.0, 0.5], seed=1)
    e = np.zeros(2 * R)
    e[0::2] = -2e4
    lad.swap(e)
    assert lad.n_accepted.sum() == 0
    lad.swap(np.full(2 * R, np.nan))
    assert lad.n_accepted.sum() == 0


def test_matches_reference_and_stays_consistent():
    R, T = 3, 6
    betas = 1.0 / np.geomspace(0.3, 2.0, T)
    lad = Ladders(R, T, betas, seed=8, shuffle=True)
    gen = np.random.default_rng(4)
    ref = lad.state()
    ladder_walkers = [set(lad.perm[r].tolist()) for r in range(R)]
    for _ in range(400):
        energies = gen.normal(0.0, 3.0, size=R * T)
        lad.swap(energies)
        reference_swaps(energies, betas, ref)
        for k, v in lad.state().items():
            assert np.array_equal(v, ref[k]), k
        for r in range(R):  # perm stays a permutation of the ladder's own walkers
            assert sorted(lad.perm[r].tolist()) == sorted(ladder_walkers[r])
            assert np.array_equal(lad.beta_w[lad.perm[r]], betas)
    assert lad.n_accepted.min() > 0 and lad.half_trips.min() > 0


def test_one_uniform_per_pair():
    """The ladder's stream advances by exactly T − 1 draws per call, whatever the outcome."""
    R, T = 2, 5
    lad = Ladders(R, T, 1.0 / np.linspace(0.5, 2.5, T), seed=2)
    for energies in (np.zeros(R * T), np.full(R * T, 1e6) * np.arange(R * T),
                     -np.arange(R * T) * 1e6):
        expect = lad.rng.copy()
        for r in range(R):
            for _ in range(T - 1):
                next_u64(expect, r)
        lad.swap(energies)
        assert np.array_equal(lad.rng, expect)


def test_round_trips_scripted():
    """T = 3, one ladder: force swaps with energies (Δ ≥ 0 always accepted, Δ = −∞-like
    never) and follow walker 0 cold → hot → cold."""
    T = 3
    betas = np.array([3.0, 2.0, 1.0])  # t = 0 coldest
    lad = Ladders(1, T, betas, seed=5)
    BIG = 1e6  # |Δ| = 1e6: exp(−1e6) = 0 → certain rejection; Δ > 0 → certain acceptance

    def energies_for(order):
        # order[k] is the walker meant to end at slot k: E = k·BIG. For a pair (a at t,
        # b at t + 1), Δ = (β_t − β_{t+1})(E_a − E_b) is ≥ BIG (certain swap) when a is
        # meant to be hotter than b, and ≤ −BIG (certain rejection) otherwise.
        e = np.empty(T)
        for slot, w in enumerate(order):
            e[w] = slot * BIG
        return e

    # 1. everything stays: walker 0 labelled 1 (at t = 0), walker 2 labelled 2 (t = T−1)
    lad.swap(energies_for([0, 1, 2]))
    assert lad.perm[0].tolist() == [0, 1, 2] and lad.n_accepted.sum() == 0
    assert lad.direction.tolist() == [1, 0, 2] and lad.half_trips[0] == 0
    # 2. walker 0 goes to the top in one call (pairs in order t = 0, then t = 1)
    lad.swap(energies_for([1, 2, 0]))
    assert lad.perm[0].tolist() == [1, 2, 0]
    assert lad.n_accepted[0].tolist() == [1, 1]
    assert lad.direction.tolist() == [2, 1, 2] and lad.half_trips[0] == 1  # 0: 1 → 2
    # 3. stay: nothing new
    lad.swap(energies_for([1, 2, 0]))
    assert lad.half_trips[0] == 1 and lad.n_accepted[0].tolist() == [1, 1]
    # 4. walker 0 back to the bottom: needs two calls (pair t = 0 is tried before t = 1)
    lad.swap(energies_for([0, 1, 2]))  # t=0: 1↔2? E1 = 0 < E2 = BIG: no; t=1: 2↔0: yes
    assert lad.perm[0].tolist() == [1, 0, 2]
    assert lad.direction.tolist() == [2, 1, 2] and lad.half_trips[0] == 1
    lad.swap(energies_for([0, 1, 2]))  # t=0: 1↔0: yes
    assert lad.perm[0].tolist() == [0, 1, 2]
    # walker 0 arrives at t = 0 with label 2: a second half trip (one round trip)
    assert lad.direction.tolist() == [1, 1, 2] and lad.half_trips[0] == 2
    assert np.array_equal(lad.beta_w[lad.perm[0]], betas)
    # 5. walker 1 (label 1) goes to the top: a half trip; walker 2 then comes down to
    #    t = 0 with label 2: another
    lad.swap(energies_for([2, 0, 1]))  # t=0: 0↔1 no; t=1: 1↔2 yes → [0, 2, 1]
    assert lad.perm[0].tolist() == [0, 2, 1]
    assert lad.direction.tolist() == [1, 2, 2] and lad.half_trips[0] == 3
    lad.swap(energies_for([2, 0, 1]))  # t=0: 0↔2 yes → [2, 0, 1]; t=1: 0↔1 no
    lad.swap(energies_for([2, 0, 1]))  # nothing moves
    assert lad.perm[0].tolist() == [2, 0, 1]
    assert lad.direction.tolist() == [1, 2, 1] and lad.half_trips[0] == 4


def test_single_temperature_is_a_no_op():
    lad = Ladders(2, 1, [1.0], seed=1)
    before = lad.state()
    lad.swap(np.array([1.0, 2.0]))
    for k, v in lad.state().items():
        assert np.array_equal(v, before[k]), k
