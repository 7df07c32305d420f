"""Numba hot loops: arrays and scalars in, nothing else (see docs/internals.md)."""
