"""Small numba helpers for the sweep schedule (visiting orders)."""
from numba import njit

from .rng import uniform


@njit(cache=True)
def random_sites(rng, stream, out):
    """Fill ``out`` with independent uniform site indices in [0, len(out)).

    Used as the visiting order of an Ising Metropolis sweep: with a fixed order and ΔE = 0
    always accepted, zero-field free spins would flip deterministically (not ergodic).
    """
    n = out.shape[0]
    for k in range(n):
        s = int(uniform(rng, stream) * n)
        out[k] = s if s < n else n - 1
