"""Storage: the :class:`Recorder` interface and its backends (see base.py).

``recorder_for(target)``: a Recorder as it is (or a path -> the HDF5 backend).
Backends by name: BACKENDS["hdf5"] (a path argument), BACKENDS["memory"] (an optional name).
"""
from __future__ import annotations

from .base import Recorder, RunLayout
from .memory import MemoryRecorder


def _hdf5(path):
    from .hdf5 import HDF5Recorder

    return HDF5Recorder(path)


BACKENDS = {"hdf5": _hdf5, "memory": MemoryRecorder}


def recorder_for(target) -> Recorder:
    """``target`` as a Recorder: a Recorder itself, or a file path (HDF5 backend)."""
    if isinstance(target, Recorder):
        return target
    return _hdf5(target)


__all__ = ["BACKENDS", "MemoryRecorder", "Recorder", "RunLayout", "recorder_for"]
