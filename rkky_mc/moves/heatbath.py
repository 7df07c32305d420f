"""Heat bath: draw the spin from its exact conditional distribution in its local field
(Ising: P(s=+1) = 1/(1+e^{−2βh}); Heisenberg: cos θ to the field from p ∝ e^{βh cos θ}).
Kernels: kernels/ising.py, kernels/heisenberg.py."""
from .base import Move

HEATBATH = Move("heatbath", "update", chunk_id=1, detailed_balance="detailed balance",
                description="spin drawn from its conditional distribution in its local field")
