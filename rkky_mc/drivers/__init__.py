"""Drivers (how walkers move between temperatures), registered by ``anneal.method``.

To add one: ``drivers/<name>.py`` with a :class:`~rkky_mc.drivers.base.Driver` and one line
below (docs/architecture.md, "Adding things").
"""
from __future__ import annotations

from .base import Driver
from .tempering import PARALLEL_TEMPERING

DRIVERS: dict[str, Driver] = {
    PARALLEL_TEMPERING.name: PARALLEL_TEMPERING,
}

__all__ = ["DRIVERS", "Driver"]
