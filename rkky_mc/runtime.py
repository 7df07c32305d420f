"""Run control shared by ``rkky-mc run/resume`` and the sweep executors: exit codes, the
output-path checks, stop requests (signals, wall time) and the run-file lock.

Exit codes (contract): 0 done, 2 bad input, 75 stopped early and resumable, other: failure.
"""
from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import click

from .config import ConfigError

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_RESUMABLE = 75
EXIT_FAILURE = 1  # a crash or a failed sweep task: neither bad input nor resumable


def fail_bad_input(exc: Exception):
    try:
        click.echo(f"rkky-mc: error: {exc}", err=True)
    except OSError:  # stderr cannot take it (/dev/full): the exit code still says it
        pass
    sys.exit(EXIT_BAD_INPUT)


class DiskFullError(RuntimeError):
    """Not enough disk space for a generation. ``resumable``: the run file holds its last
    good generation (exit 75 after freeing space); False for a run's first generation
    (nothing was written: exit 2)."""

    def __init__(self, path, needed: int, free: int, resumable: bool = True):
        self.path, self.needed, self.free, self.resumable = str(path), int(needed), int(free), resumable
        where = os.path.dirname(self.path) or "."
        then = (f"free some, then continue with: rkky-mc resume {self.path}" if resumable
                else "free some and run again (nothing was written)")
        which = "next generation" if resumable else "first generation of the run"
        super().__init__(f"{self.path}: no space left on the disk for the {which} "
                         f"(needs about {mib(needed)}, {mib(free)} free in {where}); {then}")


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"



def fail_disk_full(exc: DiskFullError):
    """One line; exit 75 when the run can be resumed once space is freed, else 2."""
    click.echo(f"rkky-mc: error: {exc}", err=True)
    sys.exit(EXIT_RESUMABLE if exc.resumable else EXIT_BAD_INPUT)


def check_output_path(path: str, overwrite: bool) -> Path:
    """The output file may be created (or replaced with --overwrite); raise ConfigError if not."""
    p = Path(path)
    if not p.name.endswith((".h5", ".hdf5")):  # not p.suffix: a file named ".h5" has none
        raise ConfigError("output.path", path, "must end in .h5 or .hdf5")
    if p.exists():
        if p.is_dir():
            raise ConfigError("output.path", path, "is a directory; give a file path")
        if not overwrite:
            raise ConfigError("output.path", path,
                              "file exists; pass --overwrite to replace it, or choose another path")
    parent = p.parent if str(p.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("output.path", path, f"cannot create its directory ({exc.strerror})") from None
    if not os.access(parent, os.W_OK):
        raise ConfigError("output.path", path, f"directory {str(parent)!r} is not writable")
    check_run_siblings(p, "output.path")
    _check_can_create_files(parent, path)
    return p


def _check_can_create_files(parent: Path, path: str) -> None:
    """ConfigError unless a regular file can be created in ``parent`` on a file system that
    stores data: /proc, /sys and their like take neither (and report no space at all)."""
    try:
        total = shutil.disk_usage(parent).total
    except OSError:
        total = None
    if total == 0:
        raise ConfigError("output.path", path, f"directory {str(parent)!r} is on a file system that "
                          "stores no files (like /proc or /sys); choose a directory on a disk")
    probe = parent / f".rkky-mc-probe-{os.getpid()}-{time.monotonic_ns()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise ConfigError("output.path", path, f"cannot create files in {str(parent)!r} "
                          f"({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)


# names next to a run file that rkky_mc writes itself (generations, lock)
SIBLING_SUFFIXES = (".tmp", ".prev", ".prev.tmp", ".lock")


def check_run_siblings(path, key: str = "FILE") -> None:
    """ConfigError if a directory stands where rkky_mc keeps a generation or the lock of
    the run file ``path`` (it would fail at the first commit, after the work)."""
    real = os.path.realpath(path)
    longest = os.path.basename(real) + max(SIBLING_SUFFIXES, key=len)
    try:
        name_max = os.pathconf(os.path.dirname(real) or ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(os.fsencode(longest)) > name_max:
        raise ConfigError(key, str(path), f"file name too long: rkky_mc also writes {longest!r} "
                          f"beside it, {len(os.fsencode(longest))} bytes, and this file system "
                          f"allows {name_max}; use a shorter name")
    for suffix in SIBLING_SUFFIXES:
        q = real + suffix
        if os.path.isdir(q) and not os.path.islink(q):
            raise ConfigError(key, str(path), f"{q!r} is a directory; rkky_mc keeps the run's "
                              f"{suffix[1:]} file under that name: move it away")


class StopFlag:
    """Asks the run to stop at the next sweep boundary: on SIGTERM, SIGINT or SIGUSR1, or
    before a wall-time limit (leaving room for the final commit). A second SIGINT aborts."""

    def __init__(self, max_walltime: float | None = None):
        self.requested = None
        self._previous = {}
        self.start = time.monotonic()
        self.deadline = None if max_walltime is None else self.start + max_walltime
        self._last_call = self.start
        self._longest_step = 0.0
        self.commit_cost = lambda: 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        self._longest_step = max(self._longest_step, now - self._last_call)
        self._last_call = now
        if self.requested is None and self.deadline is not None:
            margin = max(5.0, 4.0 * self._longest_step + 3.0 * self.commit_cost())
            if self.deadline - now < margin:
                self.requested = "walltime"
        return self.requested is not None

    def _handler(self, signum, frame):
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C aborts at once
        self.requested = signal.Signals(signum).name

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


def parse_walltime(text: str | None) -> float | None:
    """'HH:MM:SS', 'MM:SS', 'D-HH:MM:SS' or seconds -> seconds."""
    if text is None:
        return None
    try:
        days = 0
        body = text
        if "-" in text:
            d, body = text.split("-", 1)
            days = int(d)
        parts = [float(p) for p in body.split(":")]
        # nan would compare false everywhere and silently turn the limit off
        if not 1 <= len(parts) <= 3 or not all(math.isfinite(p) and p >= 0 for p in parts):
            raise ValueError
        seconds = 0.0
        for p in parts:
            seconds = seconds * 60 + p
        seconds += 86400 * days
        if seconds <= 0:
            raise ValueError
        return seconds
    except ValueError:
        raise ConfigError("--max-walltime", text,
                          "expected HH:MM:SS (or D-HH:MM:SS, MM:SS, seconds), finite and > 0") from None


class LockLost(ConfigError):
    """This process's lock on a run file was removed or replaced while it ran (exit 2: the
    file keeps its last commit; whoever holds the new lock may be advancing it)."""


# run file (resolved path) -> the RunLock this process holds on it; Checkpointer commits
# verify it before each new generation is put in place (verify_lock)
_HELD: dict[str, RunLock] = {}


class RunLock:
    """Advisory lock ``FILE.h5.lock`` so two processes never advance the same run.

    flock on the lock file, and the lock counts only while the path still names the locked
    file: after acquiring, and before every commit (:func:`verify_lock`), the inode at
    ``FILE.h5.lock`` must be the one this process holds. So a lock file deleted by hand
    (e.g. one left by a kill -9) cannot let a second process in unnoticed: the first one
    stops at its next commit without writing. The file is unlinked while still locked, so
    a process that opened the old inode sees the mismatch and retries on a fresh file.

    Off when HDF5_USE_FILE_LOCKING=FALSE (shared file systems without working locks) or
    with --no-locking.
    """

    def __init__(self, path: Path, enabled: bool):
        # the lock belongs to the run file, not to a symbolic link naming it
        self.run_path = Path(os.path.realpath(path))
        self.path = Path(str(self.run_path) + ".lock")
        self.enabled = enabled
        self.fd = None

    def _key(self) -> str:
        return os.path.realpath(self.run_path)

    def _open_locked(self) -> int | None:
        """fd of the lock file, locked; None if another process holds it."""
        import fcntl

        try:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise ConfigError("output.path", str(self.run_path),
                              f"cannot create its lock file {str(self.path)!r} ({exc.strerror}); "
                              "remove what is in the way, or pass --no-locking") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return fd

    def _names_fd(self, fd: int) -> bool:
        try:
            st = os.lstat(self.path)
        except OSError:
            return False
        mine = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    def __enter__(self):
        if not self.enabled:
            return self
        for _ in range(20):
            fd = self._open_locked()
            if fd is None:
                raise ConfigError("output.path", str(self.run_path),
                                  "another rkky-mc process is running this file (lock held); "
                                  "use --no-locking only if locks are broken on this file system")
            if self._names_fd(fd):
                self.fd = fd
                _HELD[self._key()] = self
                try:
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
                except OSError:
                    pass  # the lock does not need its text
                return self
            os.close(fd)  # locked an inode its holder had just unlinked: try the new one
        raise ConfigError("output.path", str(self.run_path),
                          f"the lock file {str(self.path)!r} keeps being replaced; is another process racing?")

    def verify(self) -> None:
        """Raise LockLost unless ``FILE.h5.lock`` is still the file this process locked."""
        if self.fd is not None and not self._names_fd(self.fd):
            raise LockLost("output.path", str(self.run_path),
                           f"its lock file {str(self.path)!r} was removed or replaced while this "
                           "process ran; another process may be advancing the run, so this one "
                           "stopped without writing (the file holds its last commit)")

    def __exit__(self, *exc):
        if self.fd is not None:
            if _HELD.get(self._key()) is self:
                del _HELD[self._key()]
            if self._names_fd(self.fd):
                try:  # unlink while still locked (see the class docstring)
                    self.path.unlink()
                except OSError:
                    pass
            os.close(self.fd)
            self.fd = None
        return False


def clear_stale_lock(run_path) -> bool:
    """Remove ``FILE.h5.lock`` if no process holds it (left by a kill -9, e.g. of a sweep
    task that had already made its final commit). True if one was removed; a held lock, or
    none at all, is left alone."""
    lock = RunLock(Path(run_path), enabled=True)
    if not os.path.lexists(lock.path):
        return False
    try:
        with lock:  # acquiring and releasing unlinks it
            pass
    except ConfigError:
        return False  # held by a live process, or not ours to remove
    return True


def verify_lock(run_path) -> None:
    """Before a commit: the lock this process holds on ``run_path`` (if any) still holds."""
    lock = _HELD.get(os.path.realpath(run_path))
    if lock is not None:
        lock.verify()


def locking_enabled(no_locking: bool) -> bool:
    env = os.environ.get("HDF5_USE_FILE_LOCKING", "").strip().upper()
    return not no_locking and env not in ("FALSE", "0", "NO", "OFF")
