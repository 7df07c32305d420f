"""Over-relaxation (Heisenberg): reflect each spin about its local field,
S → 2(S·h)h/|h|² − S. Energy-conserving and deterministic: it decorrelates at no rejection
cost but is not ergodic alone, so it runs ``anneal.overrelaxation`` passes after each update
sweep. Kernels: kernels/heisenberg.py (heisenberg_overrelax_dense, _csr)."""
from .base import Move

OVERRELAXATION = Move("overrelaxation", "pass", count_key="anneal.overrelaxation",
                      detailed_balance="microcanonical (energy conserving, reversible)",
                      description="reflection of each spin about its local field")
