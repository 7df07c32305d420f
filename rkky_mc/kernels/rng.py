"""Per-stream xoshiro256** random numbers (Blackman & Vigna, https://prng.di.unimi.it/).

The state of ``n`` independent streams is an ``(n, 4)`` uint64 array; stream ``k`` is
``rng[k]``. Every walker (and every ladder, for the tempering swaps) owns one stream, so the
numbers a walker draws never depend on the thread count or on the other walkers. numba's
global ``np.random`` is never used.

Arithmetic notes (numba): every operand of a shift, rotation or multiply is ``uint64`` (a
``uint64`` mixed with a plain ``int`` literal is promoted to float64 by numba); the 53-bit
integer for a float is cast through int64, which is exact below 2**53.

Caching caveat: numba's on-disk cache of a *caller* (e.g. the sweeps in ising.py) is not
invalidated when this file changes; after editing it, clear ``$NUMBA_CACHE_DIR``
(``make clean``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

# Any non-zero word; used only when a seeded state comes out all-zero (probability 2**-256),
# the one state xoshiro256** can never leave.
_NONZERO = np.uint64(0x9E3779B97F4A7C15)

_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53


def seed_streams(seed_sequence, n: int) -> np.ndarray:
    """States of ``n`` independent streams: ``(n, 4)`` uint64.

    Stream ``k`` is ``seed_sequence.spawn(n)[k].generate_state(4, np.uint64)``. Note that
    ``spawn`` advances the SeedSequence's child counter, so a second call on the same object
    gives new, independent streams (resume from the stored state, never by re-seeding).
    An int (or anything ``np.random.SeedSequence`` accepts) is taken as
    ``np.random.SeedSequence(seed_sequence)``.
    """
    if not isinstance(seed_sequence, np.random.SeedSequence):
        seed_sequence = np.random.SeedSequence(seed_sequence)
    n = int(n)
    if n < 0:
        raise ValueError(f"number of streams must be >= 0, got {n}")
    out = np.empty((n, 4), dtype=np.uint64)
    for k, child in enumerate(seed_sequence.spawn(n)):
        state = child.generate_state(4, np.uint64)
        if not state.any():
            state[0] = _NONZERO
        out[k] = state
    return out


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << k) | (x >> (np.uint64(64) - k))


@njit(cache=True, inline="always")
def xoshiro_step(s0, s1, s2, s3):
    """One xoshiro256** step on a state held in local variables: returns
    ``(output, s0, s1, s2, s3)``. Loops that draw many numbers from one stream keep the state
    in registers this way (load it once, store it once) instead of a load and a store of
    four words per draw; the numbers are exactly those of :func:`next_u64`."""
    result = _rotl(s1 * np.uint64(5), np.uint64(7)) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, np.uint64(45))
    return result, s0, s1, s2, s3


@njit(cache=True, inline="always")
def next_u64(rng, k):
    """Next 64-bit output of stream ``k`` (advances ``rng[k]`` in place)."""
    result, s0, s1, s2, s3 = xoshiro_step(rng[k, 0], rng[k, 1], rng[k, 2], rng[k, 3])
    rng[k, 0] = s0
    rng[k, 1] = s1
    rng[k, 2] = s2
    rng[k, 3] = s3
    return result


@njit(cache=True, inline="always")
def u64_to_uniform(x):
    """Uniform float64 in [0, 1) from a 64-bit output: the top 53 bits, ``(x >> 11) * 2**-53``."""
    return np.float64(np.int64(x >> np.uint64(11))) * _TWO_M53


@njit(cache=True, inline="always")
def uniform(rng, k):
    """Uniform float64 in [0, 1): the top 53 bits, ``(x >> 11) * 2**-53``."""
    return u64_to_uniform(next_u64(rng, k))


@njit(cache=True, inline="always")
def uniform_open(rng, k):
    """Uniform float64 in (0, 1]: ``((x >> 11) + 1) * 2**-53`` (safe for logs)."""
    x = (next_u64(rng, k) >> np.uint64(11)) + np.uint64(1)
    return np.float64(np.int64(x)) * _TWO_M53


@njit(cache=True, inline="always")
def accept_exp(rng, k, x):
    """Metropolis test for x = β ΔE > 0: draws one uniform u of stream ``k`` and returns
    ``u < exp(-x)`` — bit for bit, but without evaluating exp in most rejections.

    Since e^x ≥ 1 + x + x²/2 for x ≥ 0, exp(−x) ≤ 1/(1 + x + x²/2): when
    u·(1 + x(1 + x/2)) ≥ 1 + 1e-12 the move is certainly rejected (the margin 1e-12 covers
    the few ulps of rounding in the product, the polynomial and exp itself, so the decision
    is exactly that of ``u < exp(-x)``). Only the remaining draws evaluate exp. At low
    temperature, where most attempts are rejected, this removes most exp calls.
    """
    return exp_test(uniform(rng, k), x)


@njit(cache=True, inline="always")
def exp_test(u, x):
    """``u < exp(-x)`` for x > 0, without exp in most rejections (see :func:`accept_exp`)."""
    if u * (1.0 + x * (1.0 + 0.5 * x)) >= 1.0 + 1e-12:
        return False
    return u < np.exp(-x)
