"""peapods 0.2.0 on rkky_mc's EA job, timed in the same rounds (issue 16's "Measure").

The job: 3D EA ±J, L = 8 (N = 512), 16 temperatures geometric in [0.3, 2] × 2 replicas,
Metropolis, a parallel-tempering swap after every sweep and a measurement (energy,
magnetization, overlap, link overlap) after every sweep: ``peapods.Ising((8, 8, 8),
couplings="bimodal", temperatures=T, n_replicas=2).sample(n, sweep_mode="metropolis",
pt_interval=1, warmup_ratio=0, sequential=True)`` with RAYON_NUM_THREADS=1, against
rkky_mc's ``run_ising_ea_pm1_L8_me1`` full-run case (full_run.py; its ladder is the same).

peapods runs in a child process of its own (its Rust thread pool reads RAYON_NUM_THREADS
at import), serving one timing per request like the C references. Its figure is the marginal
cost per attempted update, ns: ``sample(3n)`` − ``sample(n)`` over 2n sweeps × 16 × 2 × 512
updates, which removes the fixed cost of a call. peapods is optional (``make bench``
installs it where a wheel exists): without it the record says why.
"""
from __future__ import annotations

import os
import subprocess
import sys

PEAPODS_VERSION = "0.2.0"
L, N_TEMPS, N_REPLICAS, T_MIN, T_MAX = 8, 16, 2, 0.3, 2.0

_WORKER = f"""
import sys, time
import numpy as np
import peapods
T = np.geomspace({T_MIN}, {T_MAX}, {N_TEMPS})
model = peapods.Ising(({L}, {L}, {L}), couplings="bimodal", temperatures=T,
                      n_replicas={N_REPLICAS})
def wall(n):
    t0 = time.perf_counter()
    model.sample(n, sweep_mode="metropolis", pt_interval=1, warmup_ratio=0.0, sequential=True)
    return time.perf_counter() - t0
print("ready", peapods.__version__ if hasattr(peapods, "__version__") else "?", flush=True)
for line in sys.stdin:
    n = int(line)
    w1 = wall(n)
    w3 = wall(3 * n)
    print((w3 - w1) / (2 * n * {N_TEMPS} * {N_REPLICAS} * {L ** 3}) * 1e9, flush=True)
"""


def peapods_available() -> str | None:
    """None when peapods can be imported here, else the reason it cannot."""
    try:
        from importlib.metadata import version

        v = version("peapods")
    except Exception:
        return (f"peapods is not installed (pip install peapods=={PEAPODS_VERSION}; "
                "make bench installs it where a wheel exists)")
    if v != PEAPODS_VERSION:
        return f"peapods {v} is installed; the comparison is defined for {PEAPODS_VERSION}"
    return None


class PeapodsCase:
    """peapods in the bench's interleaving protocol: ``warm()`` once, ``time_once()`` per
    round, ``close()`` at the end; ``ns`` holds one marginal ns per update per round."""

    name = "peapods_ising_ea_pm1_L8_me1"

    def __init__(self, n_sweeps: int):
        self.n = int(n_sweeps)
        self.ns = []
        self.proc = None

    def warm(self):
        env = {**os.environ, "RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            self.close()
            raise RuntimeError(f"peapods worker: expected 'ready', got {line!r}")
        self._request(max(4, self.n // 4))  # its first sample() call warms caches
        self.ns.clear()

    def _request(self, n):
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        self.ns.append(float(self.proc.stdout.readline()))

    def time_once(self):
        self._request(self.n)

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=120)
            self.proc = None
