"""Monte Carlo moves: one module per move, registered here.

To add one: ``moves/<name>.py`` with a :class:`~rkky_mc.moves.base.Move`, its kernels in
``kernels/``, a branch on its ``chunk_id`` in the chunk functions of the spin types that list
it in their ``moves`` (rkky_mc/spins/), and one line below (docs/architecture.md).
"""
from __future__ import annotations

from .base import Move
from .heatbath import HEATBATH
from .metropolis import METROPOLIS
from .overrelaxation import OVERRELAXATION

MOVES: dict[str, Move] = {m.name: m for m in (METROPOLIS, HEATBATH, OVERRELAXATION)}

#: the values of ``anneal.update``
UPDATES = tuple(name for name, m in MOVES.items() if m.kind == "update")

__all__ = ["MOVES", "UPDATES", "Move"]
