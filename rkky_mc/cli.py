"""Command-line interface: ``rkky-mc run | ...``.

Exit codes (contract): 0 done, 2 bad input, 75 stopped early and resumable, other: failure.
"""
from __future__ import annotations

import atexit
import gc
import os
import signal
import sys
import time
from pathlib import Path

import click

from . import __version__
from .config import ConfigError

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_RESUMABLE = 75


def fail_bad_input(exc: Exception):
    click.echo(f"rkky-mc: error: {exc}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def check_output_path(path: str, overwrite: bool) -> Path:
    """The output file may be created (or replaced with --overwrite); raise ConfigError if not."""
    p = Path(path)
    if p.suffix not in (".h5", ".hdf5"):
        raise ConfigError("output.path", path, "must end in .h5 or .hdf5")
    if p.exists():
        if p.is_dir():
            raise ConfigError("output.path", path, "is a directory; give a file path")
        if not overwrite:
            raise ConfigError("output.path", path, "file exists; pass --overwrite to replace it, or choose another path")
    parent = p.parent if str(p.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("output.path", path, f"cannot create its directory ({exc.strerror})") from None
    if not os.access(parent, os.W_OK):
        raise ConfigError("output.path", path, f"directory {str(parent)!r} is not writable")
    return p


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
        if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts):
            raise ValueError
        seconds = 0.0
        for p in parts:
            seconds = seconds * 60 + p
        seconds += 86400 * days
        if seconds <= 0:
            raise ValueError
        return seconds
    except ValueError:
        raise ConfigError("--max-walltime", text, "expected HH:MM:SS (or D-HH:MM:SS, MM:SS, seconds), > 0") from None


class RunLock:
    """Advisory lock ``FILE.h5.lock`` so two processes never advance the same run.

    Off when HDF5_USE_FILE_LOCKING=FALSE (shared file systems without working locks) or
    with --no-locking.
    """

    def __init__(self, path: Path, enabled: bool):
        self.path = Path(str(path) + ".lock")
        self.enabled = enabled
        self.fd = None

    def __enter__(self):
        if not self.enabled:
            return self
        import fcntl

        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            self.fd = None
            raise ConfigError("output.path", str(self.path)[:-5],
                              "another rkky-mc process is running this file (lock held); "
                              "use --no-locking only if locks are broken on this file system") from None
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
            try:
                self.path.unlink()
            except OSError:
                pass
        return False


def locking_enabled(no_locking: bool) -> bool:
    env = os.environ.get("HDF5_USE_FILE_LOCKING", "").strip().upper()
    return not no_locking and env not in ("FALSE", "0", "NO", "OFF")


def progress_bar(total: int, initial: int, quiet: bool):
    from tqdm import tqdm

    show = not quiet and sys.stderr.isatty()
    return tqdm(total=total, initial=initial, unit="sweep", file=sys.stderr, disable=not show,
                dynamic_ncols=True)


class _LazyGroup(click.Group):
    """A group whose heavier commands (sweep, analyze, bench) are imported only when used:
    ``rkky-mc run`` does not pay for importing the analysis and benchmark modules."""

    lazy = {"sweep": ("rkky_mc.sweep", "sweep_command"),
            "analyze": ("rkky_mc.analysis", "analyze_command"),
            "bench": ("rkky_mc.bench", "bench_command")}

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx, name):
        if name in self.lazy and name not in self.commands:
            import importlib

            module, attr = self.lazy[name]
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rkky-mc")
def main():
    """rkky_mc: Monte Carlo for canonical (RKKY) spin glasses."""


_LEAN_COLLECTOR = False


def entry() -> None:
    """The ``rkky-mc`` executable (and ``python -m rkky_mc.cli``): ``main`` in a process of
    its own, which may keep Python's cyclic garbage collector off numba's object graph.

    Importing numba and loading kernels from its cache create ~10^5 long-lived objects and
    no garbage: collections during a run's start-up only traverse them, and at exit the
    interpreter's teardown of that graph took ~0.4 s of a tiny run's ~1.3 s wall time (tiny
    SK run, warm cache). So ``run`` and ``resume`` collect nothing during start-up
    (``_collector_off`` … ``_collector_on``), and at exit everything is frozen (gc.freeze),
    which skips that teardown. Run files are closed and flushed before then by the run's own
    context managers; nothing relies on collection at exit. In-process callers of ``main``
    (tests, scripts) keep their collector as it is."""
    global _LEAN_COLLECTOR
    _LEAN_COLLECTOR = True
    atexit.register(gc.freeze)
    main()


def _collector_off() -> None:
    """Start-up of a run begins (only in a process started by ``entry``)."""
    if _LEAN_COLLECTOR:
        gc.disable()


def _collector_on() -> None:
    """Start-up done (imports, sample, file): move what exists to the permanent generation
    (later collections skip it) and collect normally from here on, so long runs do not
    accumulate cyclic garbage."""
    if _LEAN_COLLECTOR:
        gc.freeze()
        gc.enable()


def _skip_numba_blas_probe() -> None:
    """Let numba's BLAS probe fail fast in the CLI process.

    The first kernel numba loads (even from its cache) imports numba.np.arraymath, which
    imports scipy.linalg (~0.25 s, a third of a tiny run's wall time) only to learn whether
    np.dot and np.linalg can be compiled. rkky_mc's kernels use none of them, so `rkky-mc
    run/resume` hide scipy.linalg.cython_blas while that module is imported: the probe then
    answers "no BLAS" at once. Library users (``import rkky_mc``) are unaffected."""
    key = "scipy.linalg.cython_blas"
    if "numba.np.arraymath" in sys.modules or key in sys.modules:
        return
    sys.modules[key] = None  # makes `import scipy.linalg.cython_blas` raise ImportError
    try:
        import numba.np.arraymath  # noqa: F401
    except Exception:  # noqa: BLE001 - an optimisation only; numba loads it later anyway
        pass
    finally:
        del sys.modules[key]


_walltime_option = click.option("--max-walltime", default=None, metavar="HH:MM:SS",
                                help="Stop (checkpoint, exit 75) before this much wall time has passed.")
_locking_option = click.option("--no-locking", is_flag=True,
                               help="No lock file (also: HDF5_USE_FILE_LOCKING=FALSE).")


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key with a TOML value, e.g. --set sample.L=6.")
@click.option("--output", "-o", default=None, metavar="FILE.h5", help="Output file (overrides output.path).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_walltime_option
@_locking_option
def run(config, overrides, output, overwrite, quiet, max_walltime, no_locking):
    """Run the simulation described by CONFIG (TOML) and write one HDF5 file."""
    _collector_off()
    _skip_numba_blas_probe()
    from .config import load_config
    from .couplings import build_sample

    try:
        walltime = parse_walltime(max_walltime)
        cfg = load_config(config, overrides)
        if output is not None:
            cfg.output.path = output
        out_path = check_output_path(cfg.output.path, overwrite)
        sample = build_sample(cfg.sample, precision=cfg.anneal.precision)
        with RunLock(out_path, locking_enabled(no_locking)):
            sys.exit(_execute(cfg, sample, out_path, quiet, walltime, overwrite))
    except ConfigError as exc:
        fail_bad_input(exc)


def _execute(cfg, sample, out_path: Path, quiet: bool, walltime, overwrite: bool) -> int:
    from . import provenance
    from .checkpoint import prev_path, tmp_path
    from .simulation import start_run

    if overwrite:
        for p in (out_path, prev_path(out_path), tmp_path(out_path)):
            if p.exists():
                p.unlink()
    prov = provenance.collect()
    _collector_on()
    with StopFlag(walltime) as stop, progress_bar(cfg.total_sweeps, 0, quiet) as bar:
        sim = start_run(cfg, sample, out_path, prov, stop=stop, progress=bar)
    return _report(sim, out_path, stop, quiet)


def _report(sim, out_path, stop, quiet) -> int:
    if not sim.finished:
        click.echo(f"rkky-mc: stopped ({stop.requested}) after {sim.sweeps_done} of "
                   f"{sim.cfg.total_sweeps} sweeps; checkpoint in {out_path}; "
                   f"continue with: rkky-mc resume {out_path}", err=True)
        return EXIT_RESUMABLE
    if not quiet:
        click.echo(f"rkky-mc: wrote {out_path} ({sim.sweeps_done} sweeps, N = {sim.N}, "
                   f"T = {sim.T}, R = {sim.R})", err=True)
    return EXIT_OK


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--sweeps", "extra_sweeps", default=0, type=click.IntRange(min=0),
              help="Extend the run by this many measured sweeps.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_walltime_option
@_locking_option
def resume(file, extra_sweeps, quiet, max_walltime, no_locking):
    """Continue an interrupted run in FILE, or extend a finished one (--sweeps N).

    The result is bit-identical to an uninterrupted run with the same seeds.
    """
    _collector_off()
    _skip_numba_blas_probe()
    from . import provenance
    from .checkpoint import CheckpointError
    from .hdf5 import FormatError
    from .simulation import ResumeError, prepare_resume, resume_run

    path = Path(file)
    try:
        walltime = parse_walltime(max_walltime)
        if not path.exists() and not Path(str(path) + ".prev").exists():
            raise ConfigError("FILE", file, "no such run file")
        with RunLock(path, locking_enabled(no_locking)):
            try:
                sim, info = prepare_resume(path, extra_sweeps)
            except (CheckpointError, FormatError, ResumeError) as exc:
                raise ConfigError("FILE", file, str(exc)) from None
            if info["status"] == "finished" and sim.sweeps_done >= sim.cfg.total_sweeps:
                if not quiet:
                    click.echo(f"rkky-mc: {file} is finished ({sim.sweeps_done} sweeps); "
                               "extend it with --sweeps N", err=True)
                sys.exit(EXIT_OK)
            prov = provenance.collect()
            _collector_on()
            with StopFlag(walltime) as stop, \
                    progress_bar(sim.cfg.total_sweeps, sim.sweeps_done, quiet) as bar:
                resume_run(sim, info, prov, stop=stop, progress=bar)
            code = _report(sim, path, stop, quiet)
    except ConfigError as exc:
        fail_bad_input(exc)
    sys.exit(code)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
def info(file):
    """What FILE holds: model, size, temperatures, progress, tempering, equilibration."""
    from .hdf5 import FormatError
    from .info import describe

    try:
        text = describe(file)
    except (FileNotFoundError, FormatError) as exc:
        fail_bad_input(ConfigError("FILE", file, str(exc)))
    click.echo(text)


# sweep (issue 5, rkky_mc/sweep.py), analyze (issue 4, rkky_mc/analysis.py) and bench
# (issue 6, rkky_mc/bench.py) are registered lazily by _LazyGroup.


if __name__ == "__main__":  # pragma: no cover
    entry()
