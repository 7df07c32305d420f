"""Drivers (how walkers move between temperatures), registered by ``anneal.method``.

To add one: ``drivers/<name>.py`` with a :class:`~rkky_mc.drivers.base.Driver` and one line
below (docs/architecture.md, "Adding things"). Population annealing runs its own schedule
(``start_run`` / ``prepare_resume`` / ``resume_run`` of its Driver; simulation.py hands a
config of another method to them).
"""
from __future__ import annotations

from .base import Driver
from .population_annealing import POPULATION_ANNEALING
from .tempering import PARALLEL_TEMPERING

DRIVERS: dict[str, Driver] = {
    PARALLEL_TEMPERING.name: PARALLEL_TEMPERING,
    POPULATION_ANNEALING.name: POPULATION_ANNEALING,
}

__all__ = ["DRIVERS", "Driver"]
