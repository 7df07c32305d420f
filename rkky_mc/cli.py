"""Command-line interface: ``rkky-mc run | ...``.

Exit codes (contract): 0 done, 2 bad input, 75 stopped early and resumable, other: failure.
"""
from __future__ import annotations

if __name__ == "__main__":  # `python -m rkky_mc.cli`: stop signals and NUMBA_NUM_THREADS first,
    from rkky_mc.console import start  # before the imports below (see rkky_mc/console.py)

    start()

import atexit
import errno
import gc
import os
import sys
from pathlib import Path

import click

from . import __version__
from .config import ConfigError
from .runtime import (  # noqa: F401 - re-exported: the run-control names used to live here
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_RESUMABLE,
    DiskFullError,
    RunLock,
    StopFlag,
    check_output_path,
    check_run_siblings,
    fail_bad_input,
    fail_disk_full,
    locking_enabled,
    parse_walltime,
)


def progress_bar(total: int, initial: int, quiet: bool):
    from tqdm import tqdm

    show = not quiet and sys.stderr.isatty()
    return tqdm(total=total, initial=initial, unit="sweep", file=sys.stderr, disable=not show,
                dynamic_ncols=True)


class OneLineUsageError(click.UsageError):
    """A click usage error (unknown option, bad value, missing argument) told in one line,
    like every other bad input: ``rkky-mc: error: …; see 'rkky-mc CMD --help'`` (exit 2)."""

    def __init__(self, original: click.UsageError):
        super().__init__(original.format_message(), original.ctx)
        self.exit_code = original.exit_code

    def show(self, file=None) -> None:
        where = self.ctx.command_path if self.ctx is not None else "rkky-mc"
        message = " ".join(self.format_message().split())  # click's messages may hold newlines
        try:
            click.echo(f"rkky-mc: error: {message}; see '{where} --help'", err=True, file=file)
        except OSError:
            pass


class _LazyGroup(click.Group):
    """A group whose heavier commands (sweep, analyze, bench, calibrate) are imported only when used:
    ``rkky-mc run`` does not pay for importing the analysis and benchmark modules. Usage
    errors of the group and of every command are one line (OneLineUsageError)."""

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except OneLineUsageError:
            raise
        except click.UsageError as exc:
            raise OneLineUsageError(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OneLineUsageError:
            raise
        except click.UsageError as exc:
            raise OneLineUsageError(exc) from None

    lazy = {"sweep": ("rkky_mc.sweep", "sweep_command"),
            "analyze": ("rkky_mc.analysis", "analyze_command"),
            "bench": ("rkky_mc.bench", "bench_command"),
            "calibrate": ("rkky_mc.calibrate", "calibrate_command")}

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
    try:
        main()
    except OSError as exc:
        if not _is_output_error(exc):
            raise
        _output_failed(exc)


# what writing to a closed pipe, a full disk or a vanished terminal raises
_OUTPUT_ERRNOS = (errno.EPIPE, errno.ENOSPC, errno.EIO, errno.EDQUOT)


def _is_output_error(exc: OSError) -> bool:
    """Whether ``exc`` came from writing standard output or error (`> /dev/full`), not from
    a file of the run (those name their file, and keep their traceback): it was raised in
    click.echo, or stdout/stderr refuses even an empty write (as /dev/full does)."""
    if exc.errno not in _OUTPUT_ERRNOS or exc.filename is not None:
        return False
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None and tb.tb_frame.f_code.co_name == "echo" \
            and tb.tb_frame.f_code.co_filename.endswith(os.path.join("click", "utils.py")):
        return True
    for stream in (sys.stdout, sys.stderr):
        try:
            os.write(stream.fileno(), b"")
        except (OSError, ValueError, AttributeError):
            return True
    return False


def _output_failed(exc: OSError) -> None:
    """`rkky-mc info FILE > /dev/full`, `… | head -1`: one line on stderr (if it can take
    it), exit 1, no traceback, and nothing more written at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the pending text goes nowhere at exit
    except (OSError, ValueError):
        pass
    if exc.errno != errno.EPIPE:  # a closed pipe is the reader's choice: say nothing
        try:
            sys.stderr.write(f"rkky-mc: error: cannot write the output ({exc.strerror})\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
    sys.exit(1)


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


# upper bound of --sweeps / --total-sweeps: far beyond any run, far below int64 overflow
MAX_SWEEPS = 10**15

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
@click.option("--mpi", is_flag=True,
              help="Under mpiexec -n K: split a population-annealing population over K ranks.")
def run(config, overrides, output, overwrite, quiet, max_walltime, no_locking, mpi):
    """Run the simulation described by CONFIG (TOML) and write one HDF5 file."""
    _collector_off()
    _skip_numba_blas_probe()
    from .config import load_config
    from .couplings import build_sample
    from .resources import check_memory

    if mpi:
        _run_mpi(config, overrides, output, overwrite, quiet, max_walltime, no_locking)
    try:
        walltime = parse_walltime(max_walltime)
        cfg = load_config(config, overrides)
        if output is not None:
            cfg.output.path = output
        out_path = check_output_path(cfg.output.path, overwrite)
        check_memory(cfg)  # before anything is built: a run that cannot fit is bad input
        sample = build_sample(cfg.sample, precision=cfg.anneal.precision)
        _warn_if_space_short(cfg, sample, out_path)
        with RunLock(out_path, locking_enabled(no_locking)):
            sys.exit(_execute(cfg, sample, out_path, quiet, walltime, overwrite))
    except ConfigError as exc:
        fail_bad_input(exc)
    except DiskFullError as exc:
        fail_disk_full(exc)


def _run_mpi(config, overrides, output, overwrite, quiet, max_walltime, no_locking) -> None:
    """``run --mpi``: every rank reads the config and builds the sample; rank 0 alone checks
    the output path, holds the lock, writes the file and talks (drivers/pa_mpi.py). Bad
    input is said once (rank 0), every rank exits 2."""
    from .config import load_config
    from .couplings import build_sample
    from .drivers import pa_mpi
    from .resources import check_memory

    comm, root = None, True
    try:
        comm = pa_mpi.world()
        root = comm.Get_rank() == 0
        walltime = parse_walltime(max_walltime)
        cfg = load_config(config, overrides)
        if output is not None:
            cfg.output.path = output
        pa_mpi.check_config(cfg, comm)
        failure, out_path = None, None
        try:
            # a rank's share (rank 0's, the largest) times the ranks sharing this node's
            # memory (MemAvailable may differ between nodes: agree() stops every rank)
            check_memory(cfg, copies=pa_mpi.node_ranks(comm), ranks=comm.Get_size())
            if root:
                out_path = check_output_path(cfg.output.path, overwrite)
        except ConfigError as exc:
            failure = exc
        pa_mpi.agree(comm, failure)
        sample = build_sample(cfg.sample, precision=cfg.anneal.precision)
        threads = pa_mpi.threads_per_rank(comm)
        if root:
            _warn_if_space_short(cfg, sample, out_path)
            with RunLock(out_path, locking_enabled(no_locking)):
                sys.exit(_execute_mpi(cfg, sample, out_path, quiet, walltime, overwrite, comm,
                                      threads))
        sys.exit(_execute_mpi(cfg, sample, None, True, None, False, comm, threads))
    except ConfigError as exc:
        if not root:
            sys.exit(EXIT_BAD_INPUT)
        fail_bad_input(exc)
    except DiskFullError as exc:
        fail_disk_full(exc)


def _execute_mpi(cfg, sample, out_path, quiet, walltime, overwrite, comm, threads) -> int:
    from . import provenance
    from .drivers import population_annealing as pam

    prov = provenance.collect()
    _collector_on()
    if comm.Get_rank() != 0:
        pa = pam.start_run(cfg, sample, None, prov, threads=threads, comm=comm)
        return EXIT_OK if pa.finished else EXIT_RESUMABLE
    with StopFlag(walltime) as stop, progress_bar(cfg.total_sweeps, 0, quiet) as bar:
        pa = pam.start_run(cfg, sample, out_path, prov, stop=stop, progress=bar, threads=threads,
                           replace=overwrite, comm=comm)
    return _report(pa, out_path, stop, quiet)


def _resume_mpi(file, extra_sweeps, total_sweeps, quiet, max_walltime, no_locking) -> None:
    """``resume --mpi``: rank 0 checks FILE, holds the lock and reads the checkpoint; every
    rank takes its block (drivers/pa_mpi.prepare_resume). Any K continues a checkpoint of
    any K bit for bit."""
    import contextlib

    from . import provenance
    from .checkpoint import CheckpointError
    from .drivers import pa_mpi
    from .drivers import population_annealing as pam
    from .hdf5 import FormatError
    from .simulation import ResumeError

    path, root = Path(file), True
    try:
        comm = pa_mpi.world()
        root = comm.Get_rank() == 0
        failure = None
        try:
            walltime = parse_walltime(max_walltime)
            if extra_sweeps or total_sweeps is not None:
                raise ConfigError("--sweeps" if extra_sweeps else "--total-sweeps",
                                  extra_sweeps or total_sweeps, "a population-annealing run "
                                  "(anneal.method = 'pa') cannot be extended")
            if root:
                if not path.exists() and not Path(str(path) + ".prev").exists():
                    raise ConfigError("FILE", file, "no such run file")
                check_run_siblings(path)
        except ConfigError as exc:
            failure = exc
        pa_mpi.agree(comm, failure)
        lock = RunLock(path, locking_enabled(no_locking)) if root else contextlib.nullcontext()
        with lock:
            try:
                pa, info = pa_mpi.prepare_resume(path, comm)
            except (CheckpointError, FormatError, ResumeError) as exc:
                raise ConfigError("FILE", file, str(exc)) from None
            done = comm.bcast(info["status"] == "finished" and pa.done if root else None, root=0)
            if done:
                if root and not quiet:
                    _note(f"rkky-mc: {file} is finished ({pa.sweeps_done} sweeps)")
                sys.exit(EXIT_OK)
            threads = pa_mpi.threads_per_rank(comm)
            prov = provenance.collect()
            _collector_on()
            if not root:
                pam.resume_run(pa, None, prov, threads=threads)
                sys.exit(EXIT_OK if pa.finished else EXIT_RESUMABLE)
            with StopFlag(walltime) as stop, \
                    progress_bar(pa.cfg.total_sweeps, pa.sweeps_done, quiet) as bar:
                pam.resume_run(pa, info, prov, stop=stop, progress=bar, threads=threads)
            code = _report(pa, path, stop, quiet)
    except ConfigError as exc:
        if not root:
            sys.exit(EXIT_BAD_INPUT)
        fail_bad_input(exc)
    except DiskFullError as exc:
        fail_disk_full(exc)
    sys.exit(code)


def _warn_if_space_short(cfg, sample, out_path) -> None:
    """Exit 2 (DiskFullError) if even the first generation does not fit; a warning if the
    finished file (twice: a commit copies it) may not."""
    from .checkpoint import check_space, free_bytes
    from .runtime import mib
    from .simulation import estimated_file_bytes

    first, final = estimated_file_bytes(cfg, sample)
    check_space(out_path, first, resumable=False)
    try:
        free = free_bytes(out_path.parent if str(out_path.parent) else ".")
    except OSError:
        return
    if free < 2 * final:
        click.echo(f"rkky-mc: warning: {out_path}: the finished file may need up to {mib(final)} "
                   f"(twice that during a commit), {mib(free)} are free", err=True)


def _execute(cfg, sample, out_path: Path, quiet: bool, walltime, overwrite: bool) -> int:
    from . import provenance
    from .simulation import start_run

    prov = provenance.collect()
    _collector_on()
    # --overwrite: the old run (and its .prev) is replaced when the new run's first
    # generation is complete on disk, never before (a failing start leaves it intact)
    with StopFlag(walltime) as stop, progress_bar(cfg.total_sweeps, 0, quiet) as bar:
        sim = start_run(cfg, sample, out_path, prov, stop=stop, progress=bar, replace=overwrite)
    return _report(sim, out_path, stop, quiet)


def _print_summary(out_path) -> None:
    """The per-temperature table, equilibration verdict and next commands (stdout)."""
    from .hdf5 import read_run
    from .summary import format_summary, summarize

    run = read_run(out_path)
    if "pa" in run.groups:  # population annealing: its table
        from .info import pa_table_lines

        click.echo("\n".join(pa_table_lines(run.groups["pa"])))
        return
    summary = summarize(run)
    if summary is not None:
        click.echo(format_summary(summary, str(out_path)))


def _note(text: str) -> None:
    """A message on stderr that must not change the exit code: the run's outcome is decided
    (and on disk) when it is said, so a stderr that cannot take it (/dev/full) is ignored."""
    try:
        click.echo(text, err=True)
    except OSError:
        pass


def _report(sim, out_path, stop, quiet) -> int:
    if not quiet:
        _print_summary(out_path)
    if not sim.finished:
        _note(f"rkky-mc: stopped ({stop.requested}) after {sim.sweeps_done} of "
              f"{sim.cfg.total_sweeps} sweeps; checkpoint in {out_path}; "
              f"continue with: rkky-mc resume {out_path}")
        return EXIT_RESUMABLE
    if not quiet:
        _note(f"rkky-mc: wrote {out_path} ({sim.sweeps_done} sweeps, N = {sim.N}, "
              f"T = {sim.T}, R = {sim.R})")
    return EXIT_OK


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--sweeps", "extra_sweeps", default=0, type=click.IntRange(min=0, max=MAX_SWEEPS),
              help="Extend the run by this many measured sweeps (the same command again "
                   "continues this extension, it does not add N twice).")
@click.option("--total-sweeps", "total_sweeps", default=None, type=click.IntRange(min=1, max=MAX_SWEEPS),
              metavar="M", help="Extend the run to M sweeps in all (thermalization included).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_walltime_option
@_locking_option
@click.option("--mpi", is_flag=True,
              help="Under mpiexec -n K: continue a population-annealing run split over K ranks.")
def resume(file, extra_sweeps, total_sweeps, quiet, max_walltime, no_locking, mpi):
    """Continue an interrupted run in FILE, or extend it (--sweeps N, --total-sweeps M).

    The result is bit-identical to an uninterrupted run with the same seeds.
    """
    _collector_off()
    _skip_numba_blas_probe()
    if mpi:
        _resume_mpi(file, extra_sweeps, total_sweeps, quiet, max_walltime, no_locking)
    from . import provenance
    from .checkpoint import CheckpointError
    from .hdf5 import FormatError
    from .simulation import ResumeError, prepare_resume, resume_run

    path = Path(file)
    try:
        walltime = parse_walltime(max_walltime)
        if not path.exists() and not Path(str(path) + ".prev").exists():
            raise ConfigError("FILE", file, "no such run file")
        check_run_siblings(path)
        with RunLock(path, locking_enabled(no_locking)):
            try:
                sim, info = prepare_resume(path, extra_sweeps, total_sweeps, repeatable=True)
            except (CheckpointError, FormatError, ResumeError) as exc:
                raise ConfigError("FILE", file, str(exc)) from None
            done = info["status"] == "finished" and sim.sweeps_done >= sim.cfg.total_sweeps
            if info["repeated"] and not quiet:
                _note(f"rkky-mc: {file} was already extended by {extra_sweeps} sweeps to "
                      f"{sim.cfg.total_sweeps} (this command ran before); "
                      + ("it is finished; to extend it further pass --total-sweeps "
                         f"{sim.cfg.total_sweeps + extra_sweeps}" if done
                         else "continuing that extension"))
            if done:
                if not quiet and not info["repeated"]:
                    _note(f"rkky-mc: {file} is finished ({sim.sweeps_done} sweeps); "
                          "extend it with --sweeps N or --total-sweeps M")
                sys.exit(EXIT_OK)
            prov = provenance.collect()
            _collector_on()
            with StopFlag(walltime) as stop, \
                    progress_bar(sim.cfg.total_sweeps, sim.sweeps_done, quiet) as bar:
                resume_run(sim, info, prov, stop=stop, progress=bar)
            code = _report(sim, path, stop, quiet)
    except ConfigError as exc:
        fail_bad_input(exc)
    except DiskFullError as exc:
        fail_disk_full(exc)
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
    except (OSError, KeyError, ValueError, IndexError) as exc:  # truncated, groups deleted
        fail_bad_input(ConfigError("FILE", file, f"not a readable run file ({_h5_reason(exc)})"))
    click.echo(text)


def _h5_reason(exc: BaseException) -> str:
    """h5py's message without its quoting and 'Unable to synchronously …' preamble."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if text.startswith("Unable to synchronously") and "(" in text:
        text = text[text.index("(") + 1:].rstrip(")")
    return text


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", default=None, metavar="DIR",
              help="Where the figures go (default: beside FILE, in FILE's stem + '_figures').")
@click.option("--format", "fmt", default="png", type=click.Choice(["png", "pdf", "svg"]),
              show_default=True, help="Figure file format.")
def plot(file, out_dir, fmt):
    """Figures of one run FILE (also while it runs): observables against T, the
    equilibration view, swap acceptance and the walkers' trips."""
    from .hdf5 import FormatError, read_run

    path = Path(file)
    try:
        if not path.exists():
            raise ConfigError("FILE", file, "no such run file")
        try:
            run = read_run(path)
        except (OSError, KeyError, FormatError) as exc:
            raise ConfigError("FILE", file, f"not a readable run file ({_h5_reason(exc)})") from None
        from .run_figures import make_run_figures

        target = Path(out_dir) if out_dir else path.with_name(path.stem + "_figures")
        try:
            written = make_run_figures(run, target, fmt)
        except OSError as exc:
            raise ConfigError("--out", str(target), f"cannot write figures there ({exc.strerror})") from None
    except ConfigError as exc:
        fail_bad_input(exc)
    if not written:
        click.echo(f"rkky-mc: {file} has no measurements yet; nothing to plot", err=True)
        return
    for name, p, _ in written:
        click.echo(f"{name:>14}: {p}")


# sweep (issue 5, rkky_mc/sweep.py), analyze (issue 4, rkky_mc/analysis.py) and bench
# (issue 6, rkky_mc/bench.py) are registered lazily by _LazyGroup.


if __name__ == "__main__":  # pragma: no cover
    entry()
