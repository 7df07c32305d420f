"""rkky_mc — Monte Carlo for canonical (RKKY) spin glasses."""

__version__ = "0.1.0"

FORMAT = "rkky_mc"
FORMAT_VERSION = 1


def open_run(path):
    """A run file as a read-only :class:`rkky_mc.api.Run` (also while it is being written)."""
    from .api import open_run as _open_run

    return _open_run(path)


def run(config, backend: str = "memory", output=None, threads="auto"):
    """Run ``config`` (Config, TOML path or dict) and return its :class:`rkky_mc.api.Run`;
    ``backend="memory"`` (default) writes nothing, ``"hdf5"`` writes the run file."""
    from .api import run as _run

    return _run(config, backend=backend, output=output, threads=threads)
