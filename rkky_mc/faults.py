"""Fault injection for crash tests: ``RKKY_MC_FAULT=point[:n]`` kills this process with
SIGKILL the n-th time (default: the first) execution reaches ``fault_point(point)``.

Points: ``commit:copied`` (new generation copied, nothing appended), ``timeseries:partial``
(some time-series datasets of a block written, others not), ``commit:rows`` (rows written,
checkpoint not), ``commit:before-link``, ``commit:before-rename`` (new generation complete
on disk, not yet in place).
"""
from __future__ import annotations

import os
import signal

_counts: dict = {}


def fault_point(name: str) -> None:
    spec = os.environ.get("RKKY_MC_FAULT")
    if not spec:
        return
    point, count = spec, "1"
    head, _, tail = spec.rpartition(":")
    if head and tail.isdigit():  # "commit:copied:3" -> the third time
        point, count = head, tail
    if point != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= int(count):
        os.kill(os.getpid(), signal.SIGKILL)
