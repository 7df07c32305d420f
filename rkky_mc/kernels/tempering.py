"""Parallel-tempering swaps within each ladder, and round-trip bookkeeping (numba).

Walkers never move in memory; a ladder's temperature order lives in ``perm``:
``perm[r, t]`` is the global walker index at temperature index t of ladder r, and
``beta_w[w]`` is the inverse temperature walker w currently runs at (kept consistent:
``beta_w[perm[r, t]] == betas[t]``).

Stream usage: ladder r uses ``rng[r]`` and draws exactly one uniform per attempted pair
(T − 1 per call), even when the acceptance is certain, so the stream position depends only on
the number of calls, never on the energies.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .fields import FASTMATH
from .rng import uniform


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def tempering_swaps(energies, betas, perm, beta_w, rng, n_accepted, direction, half_trips):
    """One sweep of neighbour swaps t ↔ t+1, t = 0..T−2 in order, in every ladder.

    energies (W,) f8   total energy of each walker (indexed by walker, not temperature)
    betas (T,) f8      inverse temperatures by temperature index
    perm (R, T) i8     walker at each temperature (updated)
    beta_w (W,) f8     inverse temperature of each walker (updated)
    rng (R, 4) u8      one stream per ladder
    n_accepted (R, T−1) i8   accepted swaps per neighbour pair (incremented)
    direction (W,) i8  round-trip label: 0 none yet, 1 last visited t = 0, 2 last visited T−1
    half_trips (R,) i8 label changes 1 → 2 or 2 → 1 (a round trip is two half trips)

    A pair (a at t, b at t+1) is swapped with probability min(1, exp((β_t − β_{t+1})(E_a − E_b))).
    After the swaps: the walker at t = 0 gets label 1 (a half trip if it was 2), the walker at
    t = T−1 gets label 2 (a half trip if it was 1). Nothing is labelled when T < 2.
    """
    R, T = perm.shape
    for r in range(R):
        for t in range(T - 1):
            a = perm[r, t]
            b = perm[r, t + 1]
            delta = (betas[t] - betas[t + 1]) * (energies[a] - energies[b])
            u = uniform(rng, r)
            if delta >= 0.0 or u < np.exp(delta):
                perm[r, t] = b
                perm[r, t + 1] = a
                beta_w[a] = betas[t + 1]
                beta_w[b] = betas[t]
                n_accepted[r, t] += 1
        if T < 2:
            continue
        w = perm[r, 0]
        if direction[w] == 2:
            half_trips[r] += 1
        direction[w] = 1
        w = perm[r, T - 1]
        if direction[w] == 1:
            half_trips[r] += 1
        direction[w] = 2
