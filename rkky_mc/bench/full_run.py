"""Full runs at the small sizes of dilute studies, in ratio to plain C (issue 16's "Measure").

Each case is a real ``Simulation.run`` (compiled chunks of sweeps, swaps, float32 refreshes
and measurements; commits discarded), one numba thread, 16 temperatures × 2 ladders in
[0.3, 2] (the C references' ladder). Its cost per attempted update is the *marginal* one: runs
of n and 3n sweeps are timed and subtracted, which removes the fixed cost of a call. The C
reference of the same N (``reference/ising_pt.c``, ``reference/heisenberg_pt.c``: bare sweeps,
no swaps, no measurements) is timed in the same interleaved rounds, and each round gives one
ratio C / rkky_mc (1.0 = as fast as C); the record holds their median and spread (min, max).

EA ±J L = 8 at measure_every = 1 with every overlap and link overlap is compared with its own
bare sweeps (the sweep kernels alone, as cases.py times them): ``vs_bare`` = full / bare, and
with peapods 0.2.0 on the same job where it is installed (peapods_case.py):
``peapods_over_rkky`` = peapods ns / rkky_mc ns per update (issue 16: ≥ 3).
"""
from __future__ import annotations

import statistics

from .. import kernels as _kernels  # noqa: F401  (first: numba's threading settings, cache dir)
from .probes import _simulation, _Timer

_SK = {"model": "sk", "seed": 1, "sparse": "dense"}
_ISING_N = (64, 128, 256, 512)
_HEIS_N = (128, 512)


def _cases(quick: bool) -> list:
    cases = []
    for N in _ISING_N:
        cases.append((f"run_ising_sk_N{N}_me10", {**_SK, "N": N},
                      {"measure_every": 10, "link_overlap": False}, "ising"))
        cases.append((f"run_ising_sk_N{N}_defaults", {**_SK, "N": N},
                      {"measure_every": 1, "link_overlap": True}, "ising"))
    for N in _HEIS_N:
        cases.append((f"run_heisenberg_sk_N{N}_me10", {**_SK, "N": N, "spin": "heisenberg"},
                      {"measure_every": 10, "link_overlap": False}, "heisenberg"))
    cases.append(("run_ising_ea_pm1_L8_me1", {"model": "ea", "L": 8, "distribution": "pm1",
                                              "seed": 1},
                  {"measure_every": 1, "link_overlap": True}, None))
    if quick:
        cases = [c for c in cases if "N512" not in c[0]]
    return cases


def _sweeps_for(sim, quick: bool) -> int:
    """Sweeps per timed run: about 0.05 s (quick) or 0.25 s of updates at ~10 ns each."""
    updates = sim.N * sim.W * float(sim.spin.components)
    return max(4, int((0.5e7 if quick else 2.5e7) / updates))


class _RunCase:
    def __init__(self, name, sim, n):
        self.name, self.sim, self.n = name, sim, n
        self.ns = []

    def _advance(self, n):
        sim = self.sim
        sim.cfg.anneal.sweeps = sim.sweeps_done + n - sim.cfg.anneal.thermalization
        with _Timer() as t:
            sim.run(commit=lambda blocks, final: blocks.clear())
        return t.wall

    def warm(self):
        self._advance(self.n)

    def time_once(self):
        t1 = self._advance(self.n)
        t3 = self._advance(3 * self.n)
        self.ns.append((t3 - t1) / (2 * self.n * self.sim.N * self.sim.W) * 1e9)


class _BareCase:
    """The sweep kernels alone (cases._ising_kernel) of a second simulation of the same case."""

    def __init__(self, sim, n):
        from .cases import _ising_kernel

        self.sim, self.n, self.kernel = sim, n, _ising_kernel(sim)
        self.ns = []

    def warm(self):
        self.kernel()

    def time_once(self):
        with _Timer() as t:
            for _ in range(self.n):
                self.kernel()
        self.ns.append(t.wall / (self.n * self.sim.N * self.sim.W) * 1e9)


def bench_full_runs(quick: bool, c_binaries: dict | None = None) -> list:
    """Every full-run figure. ``c_binaries``: {"ising": path, "heisenberg": path} (float64
    builds of the C references; a missing one leaves that case without a ratio)."""
    import numba

    from .c_reference import ReferenceCase
    from .peapods_case import PeapodsCase, peapods_available

    old = numba.get_num_threads()
    numba.set_num_threads(1)
    cases, refs, bares, peapods = [], {}, {}, {}
    peapods_reason = peapods_available()
    try:
        for name, sample, anneal, ref_kind in _cases(quick):
            anneal = {**anneal, "seed": 2, "thermalization": 0, "sweeps": 1}
            sim, _ = _simulation(sample, anneal)
            n = _sweeps_for(sim, quick)
            case = _RunCase(name, sim, n)
            cases.append(case)
            binary = (c_binaries or {}).get(ref_kind)
            if binary:
                n_c = max(1, n // 2)
                refs[name] = ReferenceCase(name, binary, sim.N, n_c, 2 * n_c)
                cases.append(refs[name])
            if ref_kind is None:
                bare_sim, _ = _simulation(sample, anneal)
                bares[name] = _BareCase(bare_sim, n)
                cases.append(bares[name])
                if peapods_reason is None:
                    peapods[name] = PeapodsCase(n)
                    cases.append(peapods[name])
        rounds = 3 if quick else 5
        for case in cases:
            case.warm()
        for _ in range(rounds):
            for case in cases:
                case.time_once()
    finally:
        numba.set_num_threads(old)
        for ref in (*refs.values(), *peapods.values()):
            ref.close()
    records = []
    for case in cases:
        if not isinstance(case, _RunCase):
            continue
        sim = case.sim
        rec = {"name": case.name, "N": sim.N, "T": sim.T, "R": sim.R,
               "spin": sim.spin.name,
               "measure_every": sim.cfg.anneal.measure_every,
               "link_overlap": bool(sim.cfg.anneal.link_overlap),
               "ns": statistics.median(case.ns), "ns_rounds": case.ns, "sweeps": case.n}
        if case.name in refs:  # C / rkky_mc
            _add_ratios(rec, "c", "c_over_rkky", refs[case.name].ns, case.ns)
        if case.name in bares:  # full / bare
            _add_ratios(rec, "bare", "vs_bare", bares[case.name].ns, case.ns, invert=True)
            if case.name in peapods:  # peapods / rkky_mc
                _add_ratios(rec, "peapods", "peapods_over_rkky", peapods[case.name].ns, case.ns)
            else:
                rec["peapods"] = peapods_reason
        records.append(rec)
    return records


def _add_ratios(rec, other, key, other_ns, rkky_ns, invert=False):
    """rec[other + "_ns"] = median of the other case's ns; rec[key] and rec[key + "_range"]:
    median, [min, max] over rounds of other / rkky_mc (rkky_mc / other with ``invert``)."""
    ratios = [(r / x if invert else x / r) for x, r in zip(other_ns, rkky_ns)]
    rec[other + "_ns"] = statistics.median(other_ns)
    rec[key] = statistics.median(ratios)
    rec[key + "_range"] = [min(ratios), max(ratios)]


def format_full_runs(records: list) -> list[str]:
    """Table lines for the text report."""
    lines = ["full runs (one thread, 16 T x 2; marginal ns per attempted update; C / rkky_mc "
             "median [min, max] over rounds, 1.0 = C speed):"]
    for r in records:
        extra = ""
        if "c_over_rkky" in r:
            lo, hi = r["c_over_rkky_range"]
            extra = f"  C {r['c_ns']:.2f} ns  C/rkky_mc {r['c_over_rkky']:.2f} [{lo:.2f}, {hi:.2f}]"
        if "vs_bare" in r:
            lo, hi = r["vs_bare_range"]
            extra += f"  bare {r['bare_ns']:.2f} ns  full/bare {r['vs_bare']:.2f} [{lo:.2f}, {hi:.2f}]"
        if "peapods_over_rkky" in r:
            lo, hi = r["peapods_over_rkky_range"]
            extra += (f"  peapods {r['peapods_ns']:.2f} ns  peapods/rkky_mc "
                      f"{r['peapods_over_rkky']:.2f} [{lo:.2f}, {hi:.2f}]")
        elif r.get("peapods"):
            extra += f"  (no peapods comparison: {r['peapods']})"
        lines.append(f"  {r['name']:<34} N={r['N']:<5} {r['ns']:7.2f} ns{extra}")
    return lines


