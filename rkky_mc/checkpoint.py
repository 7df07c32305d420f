"""Crash-safe run files: every commit is a new generation, put in place by an atomic rename.

Plain HDF5 appends are not crash-safe (a kill while the library writes metadata can leave a
file that does not open). So the run file is never modified in place. A commit

1. copies ``run.h5`` to ``run.h5.tmp``,
2. appends the new time-series rows, the tempering statistics and the complete ensemble
   state (group ``/checkpoint``, with a sha256 checksum) to the copy, closes and fsyncs it,
3. hard-links the current ``run.h5`` as ``run.h5.prev`` (the fallback generation), and
4. renames ``run.h5.tmp`` over ``run.h5`` and fsyncs the directory.

At every instant ``run.h5`` is a complete file whose time series (up to ``n_valid``) and
checkpoint belong to the same sweep; a kill at any point loses at most the sweeps since the
last commit, which a resume recomputes bit for bit. Readers may open ``run.h5`` at any time.
Recovery takes ``run.h5`` if it opens and its checkpoint checksum holds, else ``run.h5.prev``
(with a warning), else fails with a clear error.

Fault injection for tests: see :mod:`rkky_mc.faults`.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np

from .faults import fault_point
from .hdf5 import FormatError, check_rkky_mc_file

GROUP = "checkpoint"


class CheckpointError(RuntimeError):
    """No usable checkpoint (missing, corrupted, or of another run)."""


def tmp_path(path) -> Path:
    return Path(str(path) + ".tmp")


def prev_path(path) -> Path:
    return Path(str(path) + ".prev")


def state_checksum(state: dict) -> str:
    """sha256 over the names, dtypes, shapes and bytes of the state, in sorted order."""
    h = hashlib.sha256()
    for name in sorted(state):
        value = np.ascontiguousarray(state[name])
        h.update(name.encode())
        h.update(str(value.dtype).encode())
        h.update(str(value.shape).encode())
        h.update(value.tobytes())
    return h.hexdigest()


def write_checkpoint(f: h5py.File, state: dict, meta: dict) -> None:
    """Replace /checkpoint in an open file with ``state`` (name -> array or scalar)."""
    if GROUP in f:
        del f[GROUP]
    g = f.create_group(GROUP)
    g.attrs["description"] = ("complete ensemble state after sweep `sweeps_done` (spins, local "
                              "fields, RNG states, temperature permutations, swap statistics); "
                              "used by `rkky-mc resume`")
    for name, value in state.items():
        g.create_dataset(name, data=np.asarray(value))
    for key, value in meta.items():
        g.attrs[key] = value
    g.attrs["checksum"] = state_checksum(state)


def read_checkpoint(path) -> tuple[dict, dict]:
    """(state, meta) of the checkpoint in ``path``; CheckpointError if unusable."""
    try:
        check_rkky_mc_file(path)
        with h5py.File(str(path), "r", locking=False) as f:
            if GROUP not in f:
                raise CheckpointError(f"{path}: holds no checkpoint")
            g = f[GROUP]
            state = {name: g[name][()] for name in g}
            meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
            n_valid = int(f.attrs["n_valid"])
    except (OSError, KeyError, ValueError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise CheckpointError(f"{path}: unreadable ({exc})") from None
    if state_checksum(state) != meta.get("checksum"):
        raise CheckpointError(f"{path}: checkpoint checksum mismatch (corrupted)")
    if int(meta.get("n_valid", -1)) != n_valid:
        raise CheckpointError(f"{path}: checkpoint belongs to row {meta.get('n_valid')}, file has {n_valid}")
    return state, meta


def fsync_path(path) -> None:
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install(tmp: Path, path: Path) -> None:
    """Make the finished ``tmp`` the current generation; keep the old one as ``.prev``."""
    fsync_path(tmp)
    fault_point("commit:before-link")
    if path.exists():
        prev, prev_tmp = prev_path(path), Path(str(path) + ".prev.tmp")
        if prev_tmp.exists():
            prev_tmp.unlink()
        try:
            os.link(path, prev_tmp)
        except OSError:  # file systems without hard links
            shutil.copyfile(path, prev_tmp)
        os.replace(prev_tmp, prev)
    fault_point("commit:before-rename")
    os.replace(tmp, path)
    fsync_path(path.parent if str(path.parent) else Path("."))


def recover(path) -> tuple[dict, dict, Path]:
    """The newest usable generation: (state, meta, file it came from).

    If ``path`` is damaged and ``path.prev`` is good, ``path.prev`` is copied back to
    ``path`` first (with a warning) so the run continues from a sound file.
    """
    path = Path(path)
    prev = prev_path(path)
    errors = []
    for candidate in (path, prev):
        if not candidate.exists():
            errors.append(f"{candidate}: missing")
            continue
        try:
            state, meta = read_checkpoint(candidate)
        except FormatError as exc:
            # a truncated latest generation is not HDF5 any more: fall back if we can
            if candidate == path and not prev.exists():
                raise
            errors.append(str(exc))
            continue
        except CheckpointError as exc:
            errors.append(str(exc))
            continue
        if candidate != path:
            warnings.warn(f"{path}: latest generation unusable ({errors[-1]}); "
                          f"continuing from the previous one, {candidate}", RuntimeWarning, stacklevel=2)
            tmp = tmp_path(path)
            shutil.copyfile(candidate, tmp)
            fsync_path(tmp)
            os.replace(tmp, path)
        return state, meta, path
    raise CheckpointError("no usable checkpoint: " + "; ".join(errors))


def create(path, make_writer, state: dict, meta: dict) -> None:
    """First generation: ``make_writer(tmp)`` builds the layout (a RunWriter), then the
    initial checkpoint is added and the file put in place atomically."""
    path = Path(path)
    tmp = tmp_path(path)
    if tmp.exists():
        tmp.unlink()
    with make_writer(tmp) as writer:
        write_checkpoint(writer.file, state, dict(meta, n_valid=0))
    install(tmp, path)


def commit(path, rows: dict | None, state: dict, meta: dict, tempering: dict | None = None,
           finished: bool = False, finish_info: dict | None = None, resize: int | None = None,
           root_attrs: dict | None = None, provenance: dict | None = None) -> None:
    """Write a new generation: the current file plus ``rows``, ``tempering`` and the
    checkpoint ``state``; optionally marked finished, with root attributes, provenance
    entries or a new number of rows (an extended run) set. See the module docstring."""
    from .hdf5 import RunWriter

    path = Path(path)
    tmp = tmp_path(path)
    shutil.copyfile(path, tmp)
    fault_point("commit:copied")
    writer = RunWriter.reopen(tmp)
    try:
        if root_attrs:
            writer.set_attrs("/", root_attrs)
        if provenance:
            writer.set_attrs("provenance", provenance)
        if resize is not None:
            writer.resize(resize)
        if rows:
            writer.append(rows)
        fault_point("commit:rows")
        if tempering is not None:
            writer.write_tempering(**tempering)
        write_checkpoint(writer.file, state, dict(meta, n_valid=writer.n_valid))
        if finished:
            writer.finish(**(finish_info or {}))
    finally:
        writer.close()
    install(tmp, path)
