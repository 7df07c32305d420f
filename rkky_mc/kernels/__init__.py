"""Numba hot loops: arrays and scalars in, no Python objects.

numba's on-disk cache (``cache=True``) is only invalidated when a function's own file
changes, not when a kernel it calls (rng.py, fields.py, ...) does. So the cache directory is
keyed by a digest of every kernel source: any edit or upgrade starts a fresh cache instead
of loading stale machine code. Base directory: ``$NUMBA_CACHE_DIR`` if set, else
``$XDG_CACHE_HOME/rkky_mc/numba`` (``~/.cache/rkky_mc/numba``).
"""
import hashlib
import os
from pathlib import Path


def _source_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _configure_cache() -> None:
    import numba

    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rkky_mc", "numba")
    numba.config.CACHE_DIR = os.path.join(base, f"kernels-{_source_digest()}")


# OpenMP threads that spin while waiting for work take the core from whatever else runs
# there: with another busy process on a 2-core machine a 2-thread sweep was 30× slower than
# a 1-thread one under the default (active) policy. Passive waiting (the default here unless
# the user set it; it must be set before the threading layer starts) costs a few µs of
# wake-up per parallel region instead.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

_configure_cache()
