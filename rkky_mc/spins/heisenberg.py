"""Classical Heisenberg spins, unit 3-vectors: state ``sx, sy, sz, hx, hy, hz`` (W, N);
kernels in kernels/heisenberg.py. With DM vectors (``sim.dm`` = Dc (3, N, N), issue 17;
dense float64 only) the kernels of kernels/dm.py and kernels/dm_chunk.py take their place
(population annealing: kernels/population.py's blocked DM sweeps)."""
from __future__ import annotations

import math

import numpy as np

from .. import aligned
from .base import SpinType


class Heisenberg(SpinType):
    name = "heisenberg"
    components = 3
    spin_arrays = ("sx", "sy", "sz")
    field_arrays = ("hx", "hy", "hz")
    vector_axes = (3,)
    tensor_axes = (3, 3)
    log_states_per_spin = math.log(4.0 * math.pi)
    moves = ("metropolis", "heatbath", "overrelaxation")
    log_states_label = "N ln 4π"
    overlap_label = " (tensor overlap Σ_μν q_μν²)"
    # the chiral series (issue 17) come after the common ones, as the chunks' out_* arguments
    chunk_series = SpinType.chunk_series + ("chiral_overlap", "chiral_overlap_k2", "chirality_sq")

    def binder_ratio(self, q2, q4):
        # q² = Σ_{μν} q_{μν}² of the 3×3 overlap tensor: 9 Gaussian components give
        # ⟨q⁴⟩/⟨q²⟩² = 11/9, hence g = ½(11 − 9⟨q⁴⟩/⟨q²⟩²)
        with np.errstate(invalid="ignore", divide="ignore"):
            return 0.5 * (11.0 - 9.0 * np.asarray(q4) / np.asarray(q2) ** 2)

    def allocate(self, sim, init):
        v = init.normal(size=(3, sim.W, sim.N))
        v /= np.linalg.norm(v, axis=0)
        sim.sx, sim.sy, sim.sz = (aligned.asarray(c, sim.dtype) for c in v)
        sim.hx, sim.hy, sim.hz = (aligned.zeros((sim.W, sim.N), sim.dtype) for _ in range(3))

    def prepare(self, sim):
        from ..kernels import heisenberg as kheis

        sim._dense_mode = kheis.dense_batch_mode(sim.N, np.dtype(sim.dtype).itemsize)

    def make_views(self, sim):
        return []

    def _spins(self, sim):
        return (sim.sx, sim.sy, sim.sz, sim.hx, sim.hy, sim.hz)

    def recompute_fields(self, sim):
        from ..kernels import fields as kfields

        H = sim.dtype(sim.H)
        if getattr(sim, "dm", None) is not None:
            from ..kernels import dm as kdm

            kdm.dm_local_fields_dense(sim.J, sim.dm, sim.sx, sim.sy, sim.sz, H, sim.hx, sim.hy,
                                      sim.hz)
        elif sim.J is not None:
            kfields.local_fields3_dense(sim.J, sim.sx, sim.sy, sim.sz, H, sim.hx, sim.hy, sim.hz)
        else:
            kfields.local_fields3_csr(*sim.csr, sim.sx, sim.sy, sim.sz, H, sim.hx, sim.hy,
                                      sim.hz)

    def update_energies(self, sim):
        from ..kernels import fields as kfields

        kfields.heisenberg_energies(*self._spins(sim), float(sim.H), sim.energies)

    def reference_moves(self, sim):
        from ..kernels import fields as kfields
        from ..kernels import heisenberg as kheis

        args = self._spins(sim)
        if sim.dm is not None:
            from ..kernels import dm as kdm

            kdm.dm_heisenberg_sweep_dense(sim.J, sim.dm, *args, sim.beta_w, sim._sites_seq,
                                          sim.rng_walkers, sim.heatbath, sim.flips,
                                          sim._dense_mode)
            for _ in range(sim.overrelaxation):
                kdm.dm_overrelax_dense(sim.J, sim.dm, *args, sim._sites_seq, sim._dense_mode)
        elif sim.J is not None:
            kheis.heisenberg_sweep_dense(sim.J, *args, sim.beta_w, sim._sites_seq,
                                         sim.rng_walkers, sim.heatbath, sim.flips,
                                         sim._dense_mode)
            for _ in range(sim.overrelaxation):
                kheis.heisenberg_overrelax_dense(sim.J, *args, sim._sites_seq, sim._dense_mode)
        else:
            kheis.heisenberg_sweep_csr(*sim.csr, *args, sim.beta_w, sim._sites_seq,
                                       sim.rng_walkers, sim.heatbath, sim.flips)
            for _ in range(sim.overrelaxation):
                kheis.heisenberg_overrelax_csr(*sim.csr, *args, sim._sites_seq)
        kfields.heisenberg_energies(*args, sim.H, sim.energies)

    # ---- reference measurements (observables.measure) ---------------------------------
    def reference_magnetization_overlap(self, sim):
        from ..kernels import measure as kmeasure

        T, R, P = sim.T, sim.R, sim.P
        mag = np.zeros((T, R, 3))
        kmeasure.heisenberg_magnetization(sim.sx, sim.sy, sim.sz, sim.perm, mag)
        q, qk2 = np.zeros((T, P, 3, 3)), np.zeros((T, P))
        if P:
            kmeasure.heisenberg_overlap(sim.sx, sim.sy, sim.sz, sim.perm, sim.pair_a,
                                        sim.pair_b, sim.cosk, sim.sink, q, qk2)
        return mag, q, qk2

    def reference_link_overlap(self, sim, out, k2):
        from ..kernels import measure as kmeasure

        spins = (sim.sx, sim.sy, sim.sz)
        if sim.J is not None:
            kmeasure.heisenberg_link_overlap_dense(sim.J, *spins, sim.perm, sim.pair_a,
                                                   sim.pair_b, out, k2)
        else:
            kmeasure.heisenberg_link_overlap_csr(*sim.csr, *spins, sim.perm, sim.pair_a,
                                                 sim.pair_b, out)

    def reference_link_overlaps_csr(self, sim, out, bonds):
        from ..kernels import measure as kmeasure

        kmeasure.heisenberg_link_overlaps_csr(*sim.csr, sim.sx, sim.sy, sim.sz, sim.perm,
                                              sim.pair_a, sim.pair_b, out, bonds)

    def chunk_kernel_args(self, sim, update_id, refresh, tail):
        from ..kernels import chunk as kchunk

        coupling = (sim.J,) if sim.J is not None else sim.csr
        state = (sim.energies, sim.beta_w, sim.betas, sim.perm, sim.rng_walkers,
                 sim.rng_ladders, sim._sites_seq, sim.flips)
        if sim.J is not None:
            state = state + (np.int64(sim._dense_mode),)
        rest = (sim.n_accepted, sim.direction, sim.half_trips, sim.dtype(sim.H), float(sim.H),
                update_id, int(sim.overrelaxation), refresh)
        kernel = (kchunk.heisenberg_chunk_dense if sim.J is not None
                  else kchunk.heisenberg_chunk_csr)
        if sim.dm is not None:  # the same arguments with Dc after J
            from ..kernels import dm_chunk

            kernel, coupling = dm_chunk.dm_chunk_dense, (sim.J, sim.dm)
        # the chirality triplets and their centroid phases (observables.chiral_inputs)
        tail = tail + (sim.triplets, sim.tcosk, sim.tsink)
        return kernel, coupling + self._spins(sim) + state + rest, tail

    def cost_per_update_ns(self, sim, per_update):
        # three field components, more with over-relaxation, plus the direction draw
        cost = 3.0 * per_update * (1 + sim.overrelaxation) + 40.0
        # DM (kernels/dm.py): 3 multiplications and 6 fmas per element and move, ~2.7×
        return cost * 2.7 if getattr(sim, "dm", None) is not None else cost

    # ---- population annealing ---------------------------------------------------------
    def draw_population(self, arrays, init, block, first=0, total=None):
        spins = [arrays[name] for name in self.spin_arrays]
        R, N = spins[0].shape
        total = R if total is None else total
        for r0 in range(0, min(total, first + R), block):  # uniform on the sphere
            v = init.normal(size=(3, min(total, r0 + block) - r0, N))
            v /= np.linalg.norm(v, axis=0)
            a, b = max(r0, first), min(r0 + v.shape[1], first + R)
            for c in range(3):
                if a < b:
                    spins[c][a - first:b - first] = v[c][a - r0:b - r0]

    def prepare_population(self, pa):
        from ..kernels import heisenberg as kheis

        # dense: deferred field updates from N = 128 on (as prepare; same bits)
        pa._batch = np.int64(kheis.dense_batch_mode(pa.N, np.dtype(pa.dtype).itemsize))

    def population_moves(self, pa):
        from ..kernels import heisenberg as kheis
        from ..kernels import population as kpop

        args = self._spins(pa)
        if pa.dm is not None:  # DM vectors (dense float64; kernels/dm.py)
            kpop.dm_sweep_dense_blocked(pa.J, pa.dm, *args, pa.beta_w, pa._sites_seq,
                                        pa.rng_walkers, pa.heatbath, pa.flips, pa._batch)
            for _ in range(pa.overrelaxation):
                kpop.dm_overrelax_dense_blocked(pa.J, pa.dm, *args, pa._sites_seq, pa._batch)
        elif pa.J is not None:
            kpop.heisenberg_sweep_dense_blocked(pa.J, *args, pa.beta_w, pa._sites_seq,
                                                pa.rng_walkers, pa.heatbath, pa.flips,
                                                pa._batch)
            for _ in range(pa.overrelaxation):
                kpop.heisenberg_overrelax_dense_blocked(pa.J, *args, pa._sites_seq, pa._batch)
        else:
            kheis.heisenberg_sweep_csr(*pa.csr, *args, pa.beta_w, pa._sites_seq,
                                       pa.rng_walkers, pa.heatbath, pa.flips)
            for _ in range(pa.overrelaxation):
                kheis.heisenberg_overrelax_csr(*pa.csr, *args, pa._sites_seq)
        self.update_energies(pa)

    def pair_overlap_moments(self, pa, perm, pair_a, pair_b):
        from ..kernels import measure as kmeasure

        P = pair_a.shape[0]
        q, qk2 = np.zeros((1, P, 3, 3)), np.zeros((1, P))
        kmeasure.heisenberg_overlap(pa.sx, pa.sy, pa.sz, perm, pair_a, pair_b, pa.cosk,
                                    pa.sink, q, qk2)
        q2 = (q[0] ** 2).sum(axis=(1, 2))   # tensor overlap Σ_μν q_μν²
        return q2, q2 ** 2

    def pair_link_overlap(self, pa, perm, pair_a, pair_b, out, k2):
        from ..kernels import measure as kmeasure

        spins = (pa.sx, pa.sy, pa.sz)
        if pa.J is not None:
            kmeasure.heisenberg_link_overlap_dense(pa.J, *spins, perm, pair_a, pair_b, out, k2)
        else:
            kmeasure.heisenberg_link_overlap_csr(*pa.csr, *spins, perm, pair_a, pair_b, out)


HEISENBERG = Heisenberg()
