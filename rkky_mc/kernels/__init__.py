"""Numba hot loops: arrays and scalars in, no Python objects.

numba's on-disk cache (``cache=True``) is only invalidated when a function's own file
changes, not when a kernel it calls (rng.py, fields.py, ...) does. So the cache directory is
keyed by a digest of every kernel source: any edit or upgrade starts a fresh cache instead
of loading stale machine code. Base directory: ``$NUMBA_CACHE_DIR`` if set, else
``$XDG_CACHE_HOME/rkky_mc/numba`` (``~/.cache/rkky_mc/numba``). When a new digest's
directory is first made, older ``kernels-<digest>`` directories are pruned: the previous one
(most recently modified) is kept, e.g. for a checkout one commit behind sharing the cache.
"""
import hashlib
import os
import re
import shutil
from pathlib import Path

_CACHE_DIR_RE = re.compile(r"kernels-[0-9a-f]{16}")


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
    current = os.path.join(base, f"kernels-{_source_digest()}")
    if not os.path.isdir(current):
        prune_cache_dirs(base, keep=os.path.basename(current))
    numba.config.CACHE_DIR = current


def prune_cache_dirs(base, keep: str) -> list:
    """Delete the ``kernels-<digest>`` directories under ``base`` except ``keep`` and the most
    recently modified other one. Anything else there is left alone; a directory another
    process removes meanwhile is skipped. Returns the names deleted."""
    try:
        entries = [e for e in os.scandir(base) if e.is_dir(follow_symlinks=False)
                   and _CACHE_DIR_RE.fullmatch(e.name) and e.name != keep]
    except OSError:
        return []

    def mtime(entry):
        try:
            return entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            return 0.0

    entries.sort(key=mtime, reverse=True)
    deleted = []
    for entry in entries[1:]:  # entries[0]: the previous digest's cache
        shutil.rmtree(entry.path, ignore_errors=True)
        deleted.append(entry.name)
    return deleted


# OpenMP threads that spin while waiting for work take the core from whatever else runs
# there: with another busy process on a 2-core machine a 2-thread sweep was 30× slower than
# a 1-thread one under the default (active) policy. Passive waiting (the default here unless
# the user set it; it must be set before the threading layer starts) costs a few µs of
# wake-up per parallel region instead.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

_configure_cache()
