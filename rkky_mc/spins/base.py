"""The spin-model seam: what a spin type owns.

A :class:`SpinType` says what one spin is (its components, the state arrays of a walker and
their checkpoint names, the initial draw), how its local fields and energies are computed,
its reference move pass, which compiled chunk function runs it (kernels/chunk.py), the shapes
of its observables and its Binder formula. The :class:`rkky_mc.simulation.Simulation` owns
the arrays (attributes named as the checkpoint arrays) and calls its spin type for
everything that differs between spin types; no other module branches on the spin type.

Kernels are imported inside the methods: the descriptors (components, Binder formula, the
registry of ``rkky_mc.spins``) are read by the config validation and the offline analysis,
which should not pay for numba's import.
"""
from __future__ import annotations

import math

import numpy as np


class SpinType:
    """One spin model. Subclasses set the class attributes and implement the methods.

    Class attributes
    ----------------
    name : str
        The ``sample.spin`` value.
    components : int
        Spin components (1 Ising, 3 Heisenberg).
    spin_arrays, field_arrays : tuple of str
        The (W, N) state arrays of the walkers: the spins and their local fields (units of
        J0), in checkpoint order. Their names are the checkpoint array names of the file
        format (DESIGN.md), never to be renamed.
    vector_axes, tensor_axes : tuple
        The per-row shape a magnetization (vector) and an overlap (tensor) get from the
        spin's components: () for Ising, (3,) and (3, 3) for Heisenberg.
    log_states_per_spin : float
        ln of the phase-space volume of one spin (ln 2; ln 4π): ln Z at β = 0 per spin.
    moves : tuple of str
        The move names (rkky_mc.moves) this spin type implements.
    log_states_label : str
        ln Z at β = 0 as text ("N ln 2"), for the output's descriptions.
    overlap_label : str
        What the overlap moments q², q⁴ of this spin type are, for the descriptions.
    """

    name = ""
    components = 1
    spin_arrays: tuple = ()
    field_arrays: tuple = ()
    vector_axes: tuple = ()
    tensor_axes: tuple = ()
    log_states_per_spin = math.nan
    moves: tuple = ()
    log_states_label = ""
    overlap_label = ""
    #: the time series the compiled chunk functions write, in the order of their ``out_*``
    #: arguments (the rows are allocated from the observables registry)
    chunk_series: tuple = ("energy", "magnetization", "overlap", "overlap_k2", "link_overlap",
                           "link_overlap_bonds", "walker", "sweep")

    # ---- descriptors ----------------------------------------------------------------
    @property
    def state_arrays(self) -> tuple:
        return self.spin_arrays + self.field_arrays

    @property
    def arrays_per_spin(self) -> int:
        """(W, N) arrays of the state per walker: spin + field components."""
        return len(self.state_arrays)

    def binder_ratio(self, q2, q4):
        """g = ½(c − c' ⟨q⁴⟩/⟨q²⟩²) from the moments of the overlap (arrays broadcast); g → 1
        in an ordered phase, → 0 for Gaussian fluctuations of the n² overlap components."""
        raise NotImplementedError

    # ---- the engine (all take the Simulation that owns the arrays) ------------------
    def allocate(self, sim, init: np.random.Generator) -> None:
        """Set the state arrays on ``sim`` (W, N) in ``sim.dtype``: spins drawn from
        ``init`` (independent uniform), fields zero (computed by recompute_fields)."""
        raise NotImplementedError

    def prepare(self, sim) -> None:
        """Per-run settings that affect speed only (e.g. the dense move order)."""

    def after_load(self, sim) -> None:
        """Re-derive speed-only bookkeeping after a checkpoint was loaded."""

    def recompute_fields(self, sim) -> None:
        raise NotImplementedError

    def update_energies(self, sim) -> None:
        raise NotImplementedError

    def reference_moves(self, sim) -> None:
        """One sweep of every walker with the run's moves, then the energies: the
        sweep-by-sweep reference path (Simulation.sweep) the compiled chunks are tested
        against."""
        raise NotImplementedError

    def reference_magnetization_overlap(self, sim):
        """(magnetization (T, R, *vector_axes), overlap (T, P, *tensor_axes), overlap_k2 (T, P))
        of the current state: the reference rows (observables.measure)."""
        raise NotImplementedError

    def reference_link_overlap(self, sim, out, k2: float) -> None:
        """The J²-weighted link overlap (T, P) into ``out`` (dense: ``k2`` = Σ J²)."""
        raise NotImplementedError

    def reference_link_overlaps_csr(self, sim, out, bonds) -> None:
        """CSR: the link overlap and the bond overlap (T, P) in one pass."""
        raise NotImplementedError

    def chunk_kernel_args(self, sim, update_id: int, refresh: int, tail: tuple):
        """(kernel, leading args, tail) of the run's compiled chunk function (kernels/chunk.py)."""
        raise NotImplementedError

    def cost_per_update_ns(self, sim, per_update: float) -> float:
        """The rough cost of one attempted update given that of an Ising one (threads)."""
        return per_update

    # ---- population annealing (drivers/population_annealing.py) ----------------------
    # The population (R, N) state arrays are those of ``state_arrays``, held by the driver
    # as attributes of the same names; every replica has its own streams (rng_walkers,
    # rng_sites) and β (beta_w).
    def draw_population(self, arrays: dict, init: np.random.Generator, block: int,
                        first: int = 0, total: int | None = None) -> None:
        """Fill the spin arrays of ``arrays`` ((R, N) each) with independent uniform spins
        from ``init``, ``block`` replicas per draw (the float64 draw of a block, never of
        the whole population). Under MPI ``arrays`` hold slots first … first + R − 1 of a
        population of ``total``: the draws of the slots before are made and dropped, so
        every slot gets the spins it has in one process."""
        raise NotImplementedError

    def prepare_population(self, pa) -> None:
        """Per-run settings of the population sweeps that affect speed only."""

    def population_moves(self, pa) -> None:
        """One sweep of every replica at its β (the run's moves), then the energies."""
        raise NotImplementedError

    def pair_overlap_moments(self, pa, perm, pair_a, pair_b):
        """(q², q⁴) per pair (P,) of the replica pairs (perm[pair_a], perm[pair_b]), perm
        (R, 1): the overlap moments whose means are PA's rows (Heisenberg: the tensor
        overlap, q² = Σ_μν q_μν²)."""
        raise NotImplementedError

    def pair_link_overlap(self, pa, perm, pair_a, pair_b, out, k2: float) -> None:
        """The J²-weighted link overlap of the pairs into ``out`` (1, P) (dense: ``k2`` =
        Σ J²)."""
        raise NotImplementedError
