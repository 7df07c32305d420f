"""A self-tuning parallel-tempering ladder: ``anneal.temperatures = {min, max, count,
adapt = "acceptance"}`` (issue 18).

During the first half of the thermalization the inner temperatures move until the swap
acceptances of all neighbour pairs are equal; the endpoints ``min`` and ``max`` never move.
From the freeze sweep on (:func:`freeze_sweep` = thermalization // 2) the ladder is fixed, so
every row with sweep ≥ thermalization (the measured part) is taken on the final ladder, after
at least thermalization/2 sweeps of re-equilibration on it.

The rule (equal acceptance by equal Gaussian overlap length)
--------------------------------------------------------------
The iterative idea is Hukushima's (K. Hukushima, PRE 60, 3606 (1999)): measure the swap
acceptance A_t of each pair (t, t+1) on the current ladder, move the temperatures to equalise
it, repeat with the new ladder. What this module implements per update:

1. A_t = (accepted swaps of pair t over all R ladders + 1/2) / (R·w + 1) over the w sweeps
   since the previous update (the ±1/2 keeps A_t inside (0, 1) when a window saw no swap, or
   only swaps).
2. Each interval gets a length ℓ_t = erfc⁻¹(A_t). For two Gaussian energy distributions of
   equal width σ (the canonical distributions at β_t and β_{t+1} with a heat capacity that
   varies little between them, mean difference σ²Δβ) the swap acceptance is exactly
   A = erfc(σΔβ/2) (⟨min(1, e^z)⟩ with z ~ N(−σ²Δβ², 2σ²Δβ²)), so ℓ_t = σ_tΔβ_t/2: the
   thermodynamic length of the interval, linear in Δβ.
3. The length density ρ_t = ℓ_t/Δβ_t is taken constant on each interval; the cumulative
   length Λ(β) is then piecewise linear between the current β's, and the target ladder puts
   the inner β*_k at Λ(β*_k) = k·Λ_total/(T−1), k = 1 … T−2 (equal lengths, hence equal
   acceptances; the same piecewise-constant interpolation as the feedback method of
   Katzgraber, Trebst, Huse and Troyer, J. Stat. Mech. P03018 (2006), with the length in
   place of the diffusion density).
4. Damping: β_new = β + γ(β* − β), γ = :data:`DAMPING` (a convex combination of two
   decreasing ladders is decreasing, so the order never breaks).

In the Gaussian model with σ constant on each interval one undamped step is exact; otherwise
the map's fixed point is still A_t = const (ℓ_t all equal ⇔ β* = β), reached by iteration
(tests/test_ladder_adapt.py: synthetic profiles, Gaussian and not).

Schedule: :data:`N_UPDATES` updates at the sweeps :func:`update_sweeps` (windows growing by
:data:`WINDOW_GROWTH`, the last ending at the freeze sweep): early short windows move a bad
ladder fast, the last long ones measure the final acceptances well. A function of the config
only, so a resumed or differently chunked run updates at the same sweeps: Simulation.run never
lets a compiled chunk cross an update sweep (:meth:`AdaptiveTempering.next_event`), and the
update after the chunk that ends at sweep u happens before any commit at u (the checkpoint at
sweep u holds the updated ladder).

At every update the swap counters (n_accepted, half_trips, direction) restart, so /tempering's
swap statistics always describe the current ladder (swap_attempted = sweeps since the last
update): after the run, the frozen ladder from the freeze sweep on.

Checkpoint state (besides ParallelTempering's): ``temperatures`` and ``betas`` (T,) the current
ladder, ``ladder_history`` (N_UPDATES + 1, T) every ladder so far (row 0 the initial geometric
one, rows not reached yet NaN), ``ladder_acceptance`` (N_UPDATES, T−1) the A_t each update
was computed from (NaN until then).
"""
from __future__ import annotations

import math

import numpy as np

from .tempering import ParallelTempering

#: allowed values of anneal.temperatures.adapt
ADAPT_METHODS = ("acceptance",)
#: ladder updates during thermalization (fewer if the windows would be shorter than a sweep)
N_UPDATES = 12
#: each window is this factor longer than the previous one
WINDOW_GROWTH = 1.4
#: fraction γ of the way to the equal-length ladder taken per update (noise damping)
DAMPING = 0.5
#: the least anneal.thermalization with adapt (freeze at 50 sweeps: windows of ≥ 1 sweep)
MIN_THERMALIZATION = 100


def freeze_sweep(thermalization: int) -> int:
    """The sweep of the last ladder update; the ladder is fixed from here on."""
    return int(thermalization) // 2


def update_sweeps(thermalization: int) -> np.ndarray:
    """(K,) int64 ascending: the sweeps s at which the ladder is updated (after sweep s − 1,
    before sweep s). u_k = round(F·(q^k − 1)/(q^U − 1)), k = 1 … U, F the freeze sweep,
    q = WINDOW_GROWTH, U = N_UPDATES; duplicates and 0 dropped; the last is F."""
    F = freeze_sweep(thermalization)
    q, U = WINDOW_GROWTH, N_UPDATES
    out = sorted({round(F * (q**k - 1.0) / (q**U - 1.0)) for k in range(1, U + 1)} - {0})
    return np.asarray(out, dtype=np.int64)


def erfcinv(y: float) -> float:
    """x with erfc(x) = y, for 0 < y < 2 (pure Python: Newton steps on math.erfc from a
    bracketing bisection start; |erfc(x) − y| at the last bit)."""
    if not 0.0 < y < 2.0:
        raise ValueError(f"erfcinv needs 0 < y < 2, got {y!r}")
    if y == 1.0:
        return 0.0
    if y > 1.0:
        return -erfcinv(2.0 - y)
    lo, hi = 0.0, 1.0
    while math.erfc(hi) > y:
        lo, hi = hi, 2.0 * hi
    x = 0.5 * (lo + hi)
    for _ in range(200):
        f = math.erfc(x) - y
        if f > 0.0:  # erfc decreases: the root lies above x
            lo = x
        elif f < 0.0:
            hi = x
        else:
            return x
        slope = -2.0 / math.sqrt(math.pi) * math.exp(-x * x)
        new = x - f / slope if slope != 0.0 else 0.5 * (lo + hi)
        if not lo < new < hi:  # Newton left the bracket: bisect instead
            new = 0.5 * (lo + hi)
        if new == x or hi - lo <= 4e-16 * hi:
            return new
        x = new
    return x


def window_acceptance(n_accepted_sum: np.ndarray, attempts: int) -> np.ndarray:
    """Regularised acceptance (n + 1/2)/(attempts + 1) per pair: inside (0, 1) always."""
    n = np.asarray(n_accepted_sum, dtype=np.float64)
    return (n + 0.5) / (float(attempts) + 1.0)


def equalized_betas(betas, acceptance, damping: float = DAMPING) -> np.ndarray:
    """One update of the ladder: ``betas`` (T,) strictly decreasing (T ascending), the
    measured ``acceptance`` (T−1,) of each pair in (0, 1) -> the new betas (endpoints kept
    bit for bit), see the module docstring (steps 2–4)."""
    b = np.asarray(betas, dtype=np.float64)
    A = np.asarray(acceptance, dtype=np.float64)
    T = b.size
    if T < 3:
        return b.copy()
    length = np.array([erfcinv(float(a)) for a in A])       # ℓ_t = σ_t Δβ_t / 2
    dbeta = b[:-1] - b[1:]                                   # > 0
    cum = np.concatenate([[0.0], np.cumsum(length)])        # Λ at the current β's
    target = cum[-1] * np.arange(1, T - 1) / (T - 1)
    new = b.copy()
    for k, lam in enumerate(target, start=1):
        t = min(int(np.searchsorted(cum, lam, side="right")) - 1, T - 2)
        frac = (lam - cum[t]) / length[t] if length[t] > 0 else 0.0
        star = b[t] - frac * dbeta[t]
        new[k] = b[k] + damping * (star - b[k])
    return new


class AdaptiveTempering(ParallelTempering):
    """Parallel tempering whose ladder adapts during thermalization (module docstring)."""

    state_arrays = ParallelTempering.state_arrays + ("temperatures", "betas", "ladder_history",
                                                      "ladder_acceptance")

    def allocate(self, sim, seed):
        super().allocate(sim, seed)  # same streams as a fixed ladder: only the β's differ
        sim.ladder_history = np.full((N_UPDATES + 1, sim.T), np.nan)
        sim.ladder_history[0] = sim.temperatures
        sim.ladder_acceptance = np.full((N_UPDATES, max(sim.T - 1, 0)), np.nan)

    @staticmethod
    def _schedule(sim) -> np.ndarray:
        return update_sweeps(sim.cfg.anneal.thermalization)

    @staticmethod
    def _n_done(sim) -> int:
        return int(np.count_nonzero(~np.isnan(sim.ladder_history[:, 0]))) - 1

    def next_event(self, sim):
        schedule = self._schedule(sim)
        later = schedule[schedule > sim.sweeps_done]
        return int(later[0]) if later.size else None

    def after_chunk(self, sim) -> None:
        schedule = self._schedule(sim)
        k = self._n_done(sim)
        if k >= schedule.size or sim.sweeps_done != schedule[k]:
            return
        start = int(schedule[k - 1]) if k else 0
        attempts = sim.R * (sim.sweeps_done - start)
        sim.ladder_acceptance[k] = sim.n_accepted.sum(axis=0) / attempts
        new = equalized_betas(sim.betas, window_acceptance(sim.n_accepted.sum(axis=0), attempts))
        # in place: the compiled chunk's cached arguments hold these arrays
        sim.betas[1:-1] = new[1:-1]
        sim.temperatures[1:-1] = 1.0 / sim.betas[1:-1]
        for r in range(sim.R):
            sim.beta_w[sim.perm[r]] = sim.betas
        sim.ladder_history[k + 1] = sim.temperatures
        # the swap statistics restart on the new ladder
        sim.n_accepted[...] = 0
        sim.half_trips[...] = 0
        sim.direction[...] = 0

    def _last_update(self, sim) -> int:
        k = self._n_done(sim)
        return int(self._schedule(sim)[k - 1]) if k else 0

    def statistics(self, sim):
        stats = super().statistics(sim)
        k = self._n_done(sim)
        schedule = self._schedule(sim)
        stats["n_attempted"] = int(sim.sweeps_done) - self._last_update(sim)
        stats["ladder_history"] = sim.ladder_history[:k + 1].copy()
        stats["ladder_sweeps"] = np.concatenate([[0], schedule[:k]]).astype(np.int64)
        stats["ladder_acceptance"] = sim.ladder_acceptance[:k].copy()
        stats["ladder_freeze_sweep"] = int(schedule[-1]) if schedule.size else 0
        return stats


ADAPTIVE_TEMPERING = AdaptiveTempering()
