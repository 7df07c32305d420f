"""Spin models: one module per spin type, registered here by ``sample.spin`` name.

To add one: ``spins/<name>.py`` with a :class:`~rkky_mc.spins.base.SpinType` subclass, its
kernels in ``kernels/``, its chunk functions in ``kernels/chunk.py``, and one line below
(docs/architecture.md, "Adding things").
"""
from __future__ import annotations

from .base import SpinType
from .heisenberg import HEISENBERG
from .ising import ISING

SPIN_TYPES: dict[str, SpinType] = {
    ISING.name: ISING,
    HEISENBERG.name: HEISENBERG,
}


def spin_type(name: str) -> SpinType:
    """The registered spin type ``name`` (KeyError names the known ones)."""
    try:
        return SPIN_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown spin type {name!r}; known: {', '.join(SPIN_TYPES)}") from None


__all__ = ["SPIN_TYPES", "SpinType", "spin_type"]
