"""The move seam: a :class:`Move` describes one Monte Carlo move.

A move is chosen by the config (``anneal.update`` picks the single-spin update, a count key
such as ``anneal.overrelaxation`` adds passes of a deterministic move). Its kernels live in
``kernels/`` (one per spin type and coupling storage), and the compiled chunk functions
(kernels/chunk.py) branch on its integer ``chunk_id``: that dispatch keeps the composition
cacheable (numba caches no function-valued arguments). The descriptor is what the config
validation, the thread heuristic and the README read; the spin types (rkky_mc/spins/) list
which moves they implement.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Move:
    """One move.

    name : the config value (``anneal.update``) or the count key's name
    kind : "update" (the one single-spin update per sweep, ``anneal.update``) or "pass"
           (``count_key`` deterministic passes after the update, e.g. over-relaxation)
    chunk_id : the integer id the chunk functions branch on (kind "update"); -1 for a pass
           (its count is a chunk argument)
    count_key : the config key holding the number of passes (kind "pass")
    detailed_balance : what the move satisfies (for the README and the docs)
    description : one line for the README
    """

    name: str
    kind: str
    chunk_id: int = -1
    count_key: str = ""
    detailed_balance: str = ""
    description: str = ""

    def spins(self) -> tuple:
        """The spin types (rkky_mc.spins) that implement this move."""
        from ..spins import SPIN_TYPES

        return tuple(name for name, st in SPIN_TYPES.items() if self.name in st.moves)
