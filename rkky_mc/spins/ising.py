"""Ising spins s_i = ±1: state ``spins, fields`` (W, N); kernels in kernels/ising.py."""
from __future__ import annotations

import math

import numpy as np

from .. import aligned
from .base import SpinType


class Ising(SpinType):
    name = "ising"
    components = 1
    spin_arrays = ("spins",)
    field_arrays = ("fields",)
    vector_axes = ()
    tensor_axes = ()
    log_states_per_spin = math.log(2.0)
    moves = ("metropolis", "heatbath")
    log_states_label = "N ln 2"
    overlap_label = ""

    def binder_ratio(self, q2, q4):
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.asarray(q4) / np.asarray(q2) ** 2
        return 0.5 * (3.0 - r)

    def allocate(self, sim, init):
        sim.spins = aligned.asarray(np.where(init.random((sim.W, sim.N)) < 0.5, -1.0, 1.0),
                                    sim.dtype)
        sim.fields = aligned.zeros((sim.W, sim.N), sim.dtype)

    def prepare(self, sim):
        # dense couplings: each walker's move order in the next sweep follows its acceptance
        # (kernels/ising.py; speed only, same bits)
        from ..kernels import ising as kising

        itemsize = np.dtype(sim.dtype).itemsize
        sim._defer_from = kising.deferred_min_acceptance(sim.N, itemsize)
        sim._walker_outer_below = kising.walker_outer_max_acceptance(sim.N, itemsize)
        first = kising.DEFERRED if sim._defer_from <= 0.0 else kising.SITE_OUTER
        sim._dense_mode = np.full(sim.W, first, dtype=np.uint8)
        sim._flips_seen = np.zeros(sim.W, dtype=np.int64)

    def make_views(self, sim):
        """Per-ladder views of the walker arrays (the dense Metropolis reference sweep runs
        ladder by ladder). The state arrays are only ever updated in place."""
        T = sim.T
        return [tuple(a[r * T:(r + 1) * T] for a in (sim.spins, sim.fields, sim.beta_w,
                                                     sim.rng_walkers, sim.flips,
                                                     sim._dense_mode))
                for r in range(sim.R)]

    def after_load(self, sim):
        sim._flips_seen[:] = sim.flips

    def recompute_fields(self, sim):
        from ..kernels import fields as kfields

        H = sim.dtype(sim.H)
        if sim.J is not None:
            kfields.local_fields_dense(sim.J, sim.spins, H, sim.fields)
        else:
            kfields.local_fields_csr(*sim.csr, sim.spins, H, sim.fields)

    def update_energies(self, sim):
        from ..kernels import fields as kfields

        kfields.ising_energies(sim.spins, sim.fields, float(sim.H), sim.energies)

    def reference_moves(self, sim):
        from ..kernels import fields as kfields
        from ..kernels import ising as kising
        from ..kernels.schedule import random_sites

        if sim.heatbath:
            if sim.J is not None:
                kising.ising_sweep_dense(sim.J, sim.spins, sim.fields, sim.beta_w,
                                         sim._sites_seq, sim.rng_walkers, True, sim.flips,
                                         sim._dense_mode)
            else:
                kising.ising_sweep_csr(*sim.csr, sim.spins, sim.fields, sim.beta_w,
                                       sim._sites_seq, sim.rng_walkers, True, sim.flips)
        # Metropolis: random sites, one sequence per ladder. With one sequence for all
        # walkers, zero-field free spins of two ladders would flip together and their
        # overlap would never decorrelate.
        elif sim.J is None:  # sparse: sites, sweeps and energies in one compiled call
            kising.ising_metropolis_sweep_csr(*sim.csr, sim.spins, sim.fields, sim.beta_w,
                                              sim._sites_rand, sim.rng_sites, sim.rng_walkers,
                                              sim.flips, sim.H, sim.energies)
        else:
            if sim._ladders is None:
                sim._ladders = self.make_views(sim)
            for r, (spins, fields, beta_w, rng, flips, batch) in enumerate(sim._ladders):
                sites = sim._sites_rand[r]
                random_sites(sim.rng_sites, r, sites)
                kising.ising_sweep_dense(sim.J, spins, fields, beta_w, sites, rng, False,
                                         flips, batch)
        if sim.heatbath or sim.J is not None:
            kfields.ising_energies(sim.spins, sim.fields, sim.H, sim.energies)
        if sim.J is not None:
            self.choose_dense_modes(sim)

    def choose_dense_modes(self, sim):
        """Dense couplings: the order of each walker's moves in the next sweep from its
        acceptance in the sweep just done: walker-outer below ``_walker_outer_below``, else
        deferred from ``_defer_from``, else site-outer (kernels/ising.py,
        WALKER_OUTER_MAX_ACCEPTANCE). Affects speed only, never the results."""
        from ..kernels import ising as kising

        kising.choose_modes(sim.flips, sim._flips_seen, sim._dense_mode,
                            sim._defer_from * sim.N, sim._walker_outer_below * sim.N)

    # ---- reference measurements (observables.measure) ---------------------------------
    def reference_magnetization_overlap(self, sim):
        from ..kernels import measure as kmeasure

        T, R, P = sim.T, sim.R, sim.P
        mag = np.zeros((T, R))
        kmeasure.ising_magnetization(sim.spins, sim.perm, mag)
        q, qk2 = np.zeros((T, P)), np.zeros((T, P))
        if P:
            kmeasure.ising_overlap(sim.spins, sim.perm, sim.pair_a, sim.pair_b, sim.cosk,
                                   sim.sink, q, qk2)
        return mag, q, qk2

    def reference_link_overlap(self, sim, out, k2):
        from ..kernels import measure as kmeasure

        if sim.J is not None:
            kmeasure.ising_link_overlap_dense(sim.J, sim.spins, sim.perm, sim.pair_a,
                                              sim.pair_b, out, k2)
        else:
            kmeasure.ising_link_overlap_csr(*sim.csr, sim.spins, sim.perm, sim.pair_a,
                                            sim.pair_b, out)

    def reference_link_overlaps_csr(self, sim, out, bonds):
        from ..kernels import measure as kmeasure

        kmeasure.ising_link_overlaps_csr(*sim.csr, sim.spins, sim.perm, sim.pair_a, sim.pair_b,
                                         out, bonds)

    def chunk_kernel_args(self, sim, update_id, refresh, tail):
        from ..kernels import chunk as kchunk

        coupling = (sim.J,) if sim.J is not None else sim.csr
        spins = (sim.spins, sim.fields)
        state = (sim.energies, sim.beta_w, sim.betas, sim.perm, sim.rng_walkers,
                 sim.rng_ladders, sim.rng_sites, sim._sites_seq, sim._sites_rand, sim.flips)
        if sim.J is not None:
            state = state + (sim._flips_seen, sim._dense_mode, sim._defer_from * sim.N,
                             sim._walker_outer_below * sim.N)
        rest = (sim.n_accepted, sim.direction, sim.half_trips, sim.dtype(sim.H), float(sim.H),
                update_id, refresh)
        kernel = kchunk.ising_chunk_dense if sim.J is not None else kchunk.ising_chunk_csr
        return kernel, coupling + spins + state + rest, tail

    # ---- population annealing ---------------------------------------------------------
    def draw_population(self, arrays, init, block, first=0, total=None):
        spins = arrays["spins"]
        R = spins.shape[0]
        total = R if total is None else total
        for r0 in range(0, min(total, first + R), block):
            u = init.random((min(total, r0 + block) - r0, spins.shape[1]))
            a, b = max(r0, first), min(r0 + u.shape[0], first + R)
            if a < b:
                spins[a - first:b - first] = np.where(u[a - r0:b - r0] < 0.5, -1.0, 1.0)

    def population_moves(self, pa):
        from ..kernels import ising as kising
        from ..kernels import population as kpop

        if pa.heatbath:
            if pa.J is not None:
                kpop.ising_sweep_dense_blocked(pa.J, pa.spins, pa.fields, pa.beta_w,
                                               pa._sites_seq, pa.rng_walkers, True, pa.flips,
                                               np.int64(kising.SITE_OUTER))
            else:
                kising.ising_sweep_csr(*pa.csr, pa.spins, pa.fields, pa.beta_w, pa._sites_seq,
                                       pa.rng_walkers, True, pa.flips)
        elif pa.J is not None:  # Metropolis: random sites, one order per replica
            kpop.ising_metropolis_dense_population(pa.J, pa.spins, pa.fields, pa.beta_w,
                                                   pa._sites_rand, pa.rng_sites,
                                                   pa.rng_walkers, pa.flips)
        else:
            kising.ising_metropolis_sweep_csr(*pa.csr, pa.spins, pa.fields, pa.beta_w,
                                              pa._sites_rand, pa.rng_sites, pa.rng_walkers,
                                              pa.flips, pa.H, pa.energies)
        self.update_energies(pa)

    def pair_overlap_moments(self, pa, perm, pair_a, pair_b):
        from ..kernels import measure as kmeasure

        P = pair_a.shape[0]
        q, qk2 = np.zeros((1, P)), np.zeros((1, P))
        kmeasure.ising_overlap(pa.spins, perm, pair_a, pair_b, pa.cosk, pa.sink, q, qk2)
        return q[0] ** 2, q[0] ** 4

    def pair_link_overlap(self, pa, perm, pair_a, pair_b, out, k2):
        from ..kernels import measure as kmeasure

        if pa.J is not None:
            kmeasure.ising_link_overlap_dense(pa.J, pa.spins, perm, pair_a, pair_b, out, k2)
        else:
            kmeasure.ising_link_overlap_csr(*pa.csr, pa.spins, perm, pair_a, pair_b, out)


ISING = Ising()
