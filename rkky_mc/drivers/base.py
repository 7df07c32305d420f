"""The driver seam: what moves the ensemble between temperatures.

A :class:`Driver` owns the arrays that say which walker sits at which temperature and how
they got there (their checkpoint names), its reference step (after every sweep), the
statistics it commits with each generation and the output group they go to. Parallel
tempering (drivers/tempering.py) is the driver of ``anneal.method = "pt"``; population
annealing (issue 18) is the next.

The state arrays are set as attributes of the Simulation (their checkpoint names), because
the compiled chunk functions take them by position with the spin arrays; the driver says
which they are and creates them.
"""
from __future__ import annotations

import numpy as np


class Driver:
    """One driver. Subclasses set ``name``, ``group``, ``state_arrays`` and the methods."""

    name = ""
    #: the output group of :meth:`statistics` (``/tempering`` for PT)
    group = ""
    #: checkpoint array names of the driver's state (file format; never renamed)
    state_arrays: tuple = ()

    def allocate(self, sim, seed: np.random.SeedSequence) -> None:
        """Create the driver's state arrays on ``sim`` (streams from ``seed``)."""
        raise NotImplementedError

    def for_config(self, cfg) -> Driver:
        """The driver instance for ``cfg`` (a variant of this method, e.g. PT with an
        adaptive ladder); itself by default."""
        return self

    def next_event(self, sim) -> int | None:
        """The next sweep (> sim.sweeps_done) at which the driver must act between chunks
        (:meth:`after_chunk`): Simulation.run never lets a chunk cross it. None: never."""
        return None

    def after_chunk(self, sim) -> None:
        """Called after every chunk (and every reference sweep), before any commit: a
        driver that acts at fixed sweeps (:meth:`next_event`) does so here."""

    def step(self, sim) -> None:
        """The reference step after every sweep (Simulation.sweep)."""
        raise NotImplementedError

    def statistics(self, sim) -> dict:
        """What each generation commits to :attr:`group` (Recorder.commit)."""
        raise NotImplementedError
