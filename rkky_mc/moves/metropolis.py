"""Metropolis: propose a new state of one spin (Ising: the flip; Heisenberg: a uniform new
direction), accept with min(1, e^{−βΔE}). Kernels: kernels/ising.py, kernels/heisenberg.py."""
from .base import Move

METROPOLIS = Move("metropolis", "update", chunk_id=0, detailed_balance="detailed balance",
                  description="flip (Ising) / uniform new direction (Heisenberg), accepted "
                              "with min(1, exp(−βΔE))")
