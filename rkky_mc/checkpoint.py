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

Links and strangers: ``.tmp``, ``.prev`` and ``.prev.tmp`` are rkky_mc's own names. Whatever
else stands there (a symbolic link, a stale file) is removed, never written through; a
directory there is an error. The run file itself is used through its resolved path (a
symbolic link to it stays a link, and its target is what advances).

Concurrent writers: every generation carries a root attribute ``generation`` (1 for the
first, +1 per commit). A commit names the generation it continues from; if the file on disk
holds another one (a second process advanced it), or this process's run lock was lost
(:func:`rkky_mc.runtime.verify_lock`), the commit stops with ConcurrentWriterError and
installs nothing.

Fault injection for tests: see :mod:`rkky_mc.faults`.
"""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import warnings
from pathlib import Path

import h5py
import numpy as np

from .config import ConfigError
from .faults import fault_point
from .hdf5 import FormatError, check_rkky_mc_file
from .runtime import DiskFullError

GROUP = "checkpoint"


class CheckpointError(RuntimeError):
    """No usable checkpoint (missing, corrupted, or of another run)."""


class MetadataEditedError(CheckpointError):
    """The root metadata (config, n_valid, temperatures, ladder shape, sample checksum) is
    not what the checkpoint was written with: someone edited the file. Not a damaged
    generation, so recovery does not silently fall back to ``.prev``."""


class ConcurrentWriterError(ConfigError):
    """The run file was advanced by someone else since this process last committed it."""


# a commit's room beyond its arrays: HDF5 metadata, attributes, chunk-index growth
SPACE_MARGIN = 64 << 10


def free_bytes(directory) -> int:
    """Bytes this process may still write in ``directory`` (statvfs f_bavail)."""
    return int(shutil.disk_usage(str(directory)).free)


def is_disk_full(exc: BaseException) -> bool:
    """An OSError from the OS or from HDF5 (which reports errno only in its message) that
    means no space or quota is left."""
    if not isinstance(exc, (OSError, RuntimeError)):  # h5py raises either on a failed flush
        return False
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left" in text or "errno = 28" in text or "Disk quota exceeded" in text


def check_space(path, needed: int, resumable: bool = True) -> None:
    """DiskFullError unless ``needed`` bytes (plus SPACE_MARGIN) fit beside ``path``."""
    directory = Path(path).parent if str(Path(path).parent) else Path(".")
    try:
        free = free_bytes(directory)
    except OSError:
        return  # no statvfs here: the write itself will tell
    if free < needed + SPACE_MARGIN:
        raise DiskFullError(path, needed + SPACE_MARGIN, free, resumable)


def reserve(path: Path, extra: int) -> None:
    """Allocate ``extra`` bytes past the end of ``path`` before HDF5 writes there: a full disk
    then fails here, cleanly (OSError ENOSPC), and not inside HDF5, whose state after a failed
    write is not safe to close (it crashed the process). HDF5 writes its additions into the
    reserved blocks and truncates the file to its real end on close."""
    fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    try:
        os.posix_fallocate(fd, os.fstat(fd).st_size, max(int(extra), 1))
    except OSError as exc:
        if is_disk_full(exc):
            raise
        # file systems without fallocate: the write itself will tell
    finally:
        os.close(fd)


def commit_bytes(path, rows: dict | None, state: dict) -> int:
    """Disk space one commit needs: a copy of the current file plus the new rows (their raw
    size, an upper bound) and the checkpoint (the .prev link takes no space)."""
    size = os.stat(path).st_size if path is not None and os.path.exists(path) else 0
    extra = sum(np.asarray(v).nbytes for v in (rows or {}).values())
    return size + extra + sum(np.asarray(v).nbytes for v in state.values())


def run_file(path) -> Path:
    """The run file behind ``path`` (symbolic links resolved): generations replace it, not
    a link to it."""
    return Path(os.path.realpath(path))


def clear_entry(p: Path) -> None:
    """Remove whatever is at ``p``: a file, or a symbolic link (the link itself, never its
    target). A directory there is an error (CheckpointError), left as it is."""
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise CheckpointError(f"{p} is a directory; rkky_mc keeps a generation of the run "
                              "under that name: move it away")
    os.unlink(p)


def copy_to_new(src, dst: Path) -> None:
    """Copy ``src`` into a new regular file ``dst`` (whatever was at ``dst`` is removed
    first; a link there is never followed)."""
    clear_entry(dst)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with open(src, "rb") as fin:
            size, offset = os.fstat(fin.fileno()).st_size, 0
            try:
                while offset < size:
                    n = os.sendfile(fd, fin.fileno(), offset, size - offset)
                    if n == 0:
                        break
                    offset += n
            except OSError as exc:  # no sendfile between these file systems: plain copy
                if is_disk_full(exc):
                    raise
                os.lseek(fd, 0, os.SEEK_SET)
                os.ftruncate(fd, 0)
                fin.seek(0)
                with os.fdopen(os.dup(fd), "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
    finally:
        os.close(fd)


def _check_not_directory(p: Path) -> None:
    if os.path.isdir(p) and not os.path.islink(p):
        raise CheckpointError(f"{p} is a directory; rkky_mc keeps a generation of the run "
                              "under that name: move it away")


def file_generation(path) -> int:
    """The ``generation`` root attribute of a run file (0 for files older than it)."""
    with h5py.File(str(path), "r", locking=False) as f:
        return int(f.attrs.get("generation", 0))


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


def metadata_checksum(f: h5py.File, sweeps_done: int) -> str:
    """sha256 over what a resume trusts besides the state: the root attributes config,
    n_valid and format_version, /temperatures, the ladder shape (/timeseries attrs T, R), the
    sample's coupling checksum, and the checkpoint's sweep. Stored in /checkpoint as
    ``metadata_checksum`` (files written before it lack it; they are checked field by field
    on resume)."""
    from .hdf5 import decode_attr

    h = hashlib.sha256()
    for part in (decode_attr(f.attrs["config"]), int(f.attrs["n_valid"]), int(f.attrs["format_version"]),
                 int(f["timeseries"].attrs["T"]), int(f["timeseries"].attrs["R"]),
                 decode_attr(f["sample"].attrs["sha256"]), int(sweeps_done)):
        h.update(repr(part).encode())
        h.update(b"\0")
    h.update(np.ascontiguousarray(f["temperatures"][()], dtype=np.float64).tobytes())
    return h.hexdigest()


def metadata_edited(path) -> bool:
    """Whether the root metadata of ``path`` differs from what its checkpoint was written
    with (False when the file has no metadata checksum, or no checkpoint)."""
    with h5py.File(str(path), "r", locking=False) as f:
        if GROUP not in f or "metadata_checksum" not in f[GROUP].attrs:
            return False
        g = f[GROUP]
        stored = g.attrs["metadata_checksum"]
        stored = stored.decode() if isinstance(stored, bytes) else str(stored)
        return metadata_checksum(f, int(g["sweeps_done"][()])) != stored


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
    g.attrs["metadata_checksum"] = metadata_checksum(f, int(np.asarray(state["sweeps_done"])))


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
            edited = ("metadata_checksum" in meta and "sweeps_done" in state
                      and metadata_checksum(f, int(state["sweeps_done"])) != meta["metadata_checksum"])
    except (OSError, KeyError, ValueError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise CheckpointError(f"{path}: unreadable ({exc})") from None
    if state_checksum(state) != meta.get("checksum"):
        raise CheckpointError(f"{path}: checkpoint checksum mismatch (corrupted)")
    if edited:
        raise MetadataEditedError(
            f"{path}: its root metadata (config, n_valid, temperatures or ladder shape) is not "
            "what its checkpoint was written with (edited by hand?); restore it, or resume "
            f"from the previous generation by moving {prev_path(path)} over it")
    if int(meta.get("n_valid", -1)) != n_valid:
        raise CheckpointError(f"{path}: checkpoint belongs to row {meta.get('n_valid')}, file has {n_valid}")
    return state, meta


def fsync_path(path) -> None:
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install(tmp: Path, path: Path, keep_previous: bool = True) -> None:
    """Make the finished ``tmp`` the current generation; keep the old one as ``.prev``
    (``keep_previous``), or, for a new run that replaces another, drop the old run's
    ``.prev`` first (it belongs to another run and must never be recovered as this one's)."""
    fsync_path(tmp)
    fault_point("commit:before-link")
    prev = prev_path(path)
    _check_not_directory(prev)
    if not keep_previous:
        clear_entry(prev)
    elif os.path.lexists(path):
        prev_tmp = Path(str(path) + ".prev.tmp")
        clear_entry(prev_tmp)
        try:
            os.link(path, prev_tmp, follow_symlinks=False)
        except OSError:  # file systems without hard links
            copy_to_new(path, prev_tmp)
        os.replace(prev_tmp, prev)  # replaces a link at .prev, never writes through it
    fault_point("commit:before-rename")
    os.replace(tmp, path)
    fsync_path(path.parent if str(path.parent) else Path("."))


def recover(path) -> tuple[dict, dict, Path]:
    """The newest usable generation: (state, meta, file it came from).

    If ``path`` is damaged and ``path.prev`` is good, ``path.prev`` is copied back to
    ``path`` first (with a warning) so the run continues from a sound file. A ``.prev``
    that is a symbolic link is not a generation of this run and is never used.
    """
    path = run_file(path)
    prev = prev_path(path)
    errors = []
    for candidate in (path, prev):
        if candidate == prev and os.path.islink(prev):
            errors.append(f"{candidate}: a symbolic link, not a generation of this run (ignored)")
            continue
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
        except MetadataEditedError:
            raise  # an edit, not damage: falling back would silently undo it
        except CheckpointError as exc:
            errors.append(str(exc))
            continue
        if candidate != path:
            warnings.warn(f"{path}: latest generation unusable ({errors[-1]}); "
                          f"continuing from the previous one, {candidate}", RuntimeWarning, stacklevel=2)
            tmp = tmp_path(path)
            try:
                copy_to_new(candidate, tmp)
                fsync_path(tmp)
                os.replace(tmp, path)
            except BaseException as exc:
                _discard(tmp)
                if is_disk_full(exc):
                    raise DiskFullError(path, os.stat(candidate).st_size + SPACE_MARGIN,
                                        _free_or_zero(path)) from None
                raise
        return state, meta, path
    raise CheckpointError("no usable checkpoint: " + "; ".join(errors))


def create(path, make_writer, state: dict, meta: dict, replace: bool = False) -> None:
    """First generation: ``make_writer(tmp)`` builds the layout (a RunWriter), then the
    initial checkpoint is added and the file put in place atomically.

    An existing file at ``path`` is an error unless ``replace`` (``run --overwrite``): it is
    then replaced only here, once the new run's first generation is complete on disk; until
    that instant the old run and its ``.prev`` stay as they were."""
    path = run_file(path)
    if os.path.lexists(path) and not replace:
        raise CheckpointError(f"{path} exists; a new run replaces it only when asked to (--overwrite)")
    tmp = tmp_path(path)
    clear_entry(tmp)
    needed = commit_bytes(None, None, state)
    check_space(path, needed, resumable=False)
    try:
        with make_writer(tmp) as writer:
            writer.file.attrs["generation"] = np.int64(1)
            write_checkpoint(writer.file, state, dict(meta, n_valid=0))
        install(tmp, path, keep_previous=False)
    except BaseException as exc:
        _discard(tmp)
        if is_disk_full(exc):
            raise DiskFullError(path, needed + SPACE_MARGIN, _free_or_zero(path), resumable=False) from None
        raise


def commit(path, rows: dict | None, state: dict, meta: dict, tempering: dict | None = None,
           finished: bool = False, finish_info: dict | None = None, resize: int | None = None,
           root_attrs: dict | None = None, provenance: dict | None = None,
           generation: int | None = None, groups: dict | None = None) -> int:
    """Write a new generation: the current file plus ``rows``, ``tempering``, a driver's
    output ``groups`` ({group: {dataset: (array, units, description)}}) and the
    checkpoint ``state``; optionally marked finished, with root attributes, provenance
    entries or a new number of rows (an extended run) set. See the module docstring.

    ``generation``: the generation this commit continues from (None: whatever is there).
    Returns the new generation's number."""
    path = run_file(path)
    tmp = tmp_path(path)
    # disk full: refused before the copy when the space is plainly not there; a write that
    # fails anyway (ENOSPC from the OS or HDF5) removes the .tmp. Either way the run file
    # keeps its last generation: DiskFullError, resumable.
    # (the pre-check asks only for what the commit needs for sure: the copy and the state;
    # the rows are compressed on the way, so their raw size only goes into the message)
    check_space(path, commit_bytes(path, None, state))
    needed = commit_bytes(path, rows, state) + sum(
        np.asarray(v[0]).nbytes for g in (groups or {}).values() for v in g.values())
    try:
        return _commit(path, tmp, rows, state, meta, tempering, finished, finish_info, resize,
                       root_attrs, provenance, generation, reserve_bytes=needed - commit_bytes(path, None, {}),
                       groups=groups)
    except (OSError, RuntimeError) as exc:
        if is_disk_full(exc):
            _discard(tmp)
            raise DiskFullError(path, needed + SPACE_MARGIN, _free_or_zero(path)) from None
        raise


def _free_or_zero(path) -> int:
    try:
        return free_bytes(Path(path).parent)
    except OSError:
        return 0


def _commit(path, tmp, rows, state, meta, tempering, finished, finish_info, resize, root_attrs,
            provenance, generation, reserve_bytes: int = 0, groups: dict | None = None) -> int:
    from .hdf5 import RunWriter

    try:
        copy_to_new(path, tmp)
        reserve(tmp, reserve_bytes + SPACE_MARGIN)
        fault_point("commit:copied")
        writer = RunWriter.reopen(tmp)
    except BaseException:
        _discard(tmp)
        raise
    try:
        found = int(writer.file.attrs.get("generation", 0))
        if generation is not None and found != generation:
            raise _advanced_elsewhere(path, generation, found)
        new_generation = found + 1
        writer.file.attrs["generation"] = np.int64(new_generation)
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
        for name, datasets in (groups or {}).items():
            writer.write_group(name, datasets)
        write_checkpoint(writer.file, state, dict(meta, n_valid=writer.n_valid))
        if finished:
            writer.finish(**(finish_info or {}))
    except BaseException:
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - a failed flush (disk full): the .tmp goes anyway
            pass
        _discard(tmp)
        raise
    try:
        writer.close()
    except BaseException:
        _discard(tmp)
        raise
    try:
        # last look before the rename: still our lock, still the generation we copied
        from .runtime import verify_lock

        verify_lock(path)
        if generation is not None and (now := file_generation(path)) != found:
            raise _advanced_elsewhere(path, generation, now)
    except BaseException:
        _discard(tmp)
        raise
    install(tmp, path)
    return new_generation


def _discard(tmp: Path) -> None:
    try:
        clear_entry(tmp)
    except OSError:
        pass


def _advanced_elsewhere(path, expected: int, found: int) -> ConcurrentWriterError:
    return ConcurrentWriterError(
        "output.path", str(path),
        f"the file is at generation {found}, this process last wrote generation {expected}: "
        "another process advanced it (a lock file removed by hand, or --no-locking); this "
        "process stopped without writing")


def row_problem(measured_sweeps: np.ndarray, sweeps_done: int, measure_every: int,
                n_valid: int | None = None) -> str | None:
    """Why the measurement rows do not belong to a run at ``sweeps_done`` (None if they do).

    A run measures after sweep s for every s % measure_every == 0 below sweeps_done, in
    order, so its rows are exactly sweeps 0, k, 2k, … (ceil(sweeps_done / k) of them).
    ``n_valid``: the file's row count (root attribute), which readers cap at the datasets'
    length: an inflated one would make the next append start far beyond the data."""
    k = int(measure_every)
    expected = -(-int(sweeps_done) // k)
    if n_valid is not None and int(n_valid) != expected:
        return (f"n_valid = {int(n_valid)} measurement rows for {sweeps_done} sweeps done at "
                f"measure_every = {k} (expected {expected})")
    sweeps = np.asarray(measured_sweeps, dtype=np.int64)
    if sweeps.shape[0] != expected:
        return (f"{sweeps.shape[0]} measurement rows for {sweeps_done} sweeps done at "
                f"measure_every = {k} (expected {expected})")
    bad = np.flatnonzero(sweeps != k * np.arange(expected, dtype=np.int64))
    if bad.size:
        i = int(bad[0])
        return f"row {i} was measured at sweep {int(sweeps[i])}, expected sweep {k * i}"
    return None
