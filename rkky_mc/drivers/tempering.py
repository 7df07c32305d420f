"""Parallel tempering (replica exchange; Hukushima and Nemoto 1996): R independent ladders of
T walkers; after every sweep each ladder proposes swaps of neighbouring temperatures,
accepted with min(1, exp[(β_t − β_{t+1})(E_t − E_{t+1})]) (kernels/tempering.py).

State: ``perm[r, t]`` the walker at temperature t of ladder r, ``beta_w`` every walker's β,
``rng_ladders`` one swap stream per ladder, ``n_accepted`` (R, T−1) accepted swaps per pair,
``direction`` every walker's last visited end (−1 bottom, +1 top, 0 none) and ``half_trips``
the completed end-to-end trips per ladder. Output group ``/tempering``.

With ``anneal.temperatures.adapt`` the variant of drivers/ladder.py (:meth:`for_config`)
moves the inner temperatures during thermalization.
"""
from __future__ import annotations

import numpy as np

from .base import Driver


class ParallelTempering(Driver):
    name = "pt"
    group = "tempering"
    state_arrays = ("perm", "beta_w", "rng_ladders", "n_accepted", "half_trips", "direction")

    def for_config(self, cfg):
        """With ``anneal.temperatures.adapt`` the self-tuning ladder (drivers/ladder.py)."""
        if getattr(cfg.anneal, "ladder_adapt", None):
            from .ladder import ADAPTIVE_TEMPERING

            return ADAPTIVE_TEMPERING
        return self

    def allocate(self, sim, seed):
        from ..kernels.rng import seed_streams

        T, R = sim.T, sim.R
        sim.rng_ladders = seed_streams(seed, R)
        sim.perm = np.arange(sim.W, dtype=np.int64).reshape(R, T)
        sim.beta_w = np.tile(sim.betas, R).astype(np.float64)
        sim.n_accepted = np.zeros((R, max(T - 1, 0)), dtype=np.int64)
        sim.half_trips = np.zeros(R, dtype=np.int64)
        sim.direction = np.zeros(sim.W, dtype=np.int64)

    def step(self, sim):
        if sim.T > 1:
            from ..kernels.tempering import tempering_swaps

            tempering_swaps(sim.energies, sim.betas, sim.perm, sim.beta_w, sim.rng_ladders,
                            sim.n_accepted, sim.direction, sim.half_trips)

    def statistics(self, sim):
        """Swap and round-trip counts (hdf5.tempering_arrays turns them into /tempering)."""
        return {
            "n_accepted": sim.n_accepted.copy(),
            "n_attempted": int(sim.sweeps_done),
            "half_trips": sim.half_trips.copy(),
        }


PARALLEL_TEMPERING = ParallelTempering()
