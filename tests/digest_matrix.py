"""Same bits (issue 16, item 3): the case matrix whose /timeseries and /tempering datasets (and
a driver's output group, /pa)
must keep their sha256 digests through every refactor of the engine.

The table ``tests/digests.json`` was made by the code at the commit in its header (the base
of engine v2). ``tests/test_digests.py`` re-runs every case and compares. Regenerate the
table only in a commit that says which bits move and why (DESIGN.md, "Same bits")::

    NUMBA_CACHE_DIR=$PWD/.numba_cache .venv/bin/python tests/digest_matrix.py --write

Without ``--write`` the script compares the current code with the table and lists the
datasets that differ (``--only SUBSTRING`` picks cases by name).

Every case runs in process, through the same path as ``rkky-mc run``
(``couplings.build_sample`` + ``simulation.start_run``; ``prepare_resume`` + ``resume_run``
for the interrupted runs). A dataset's digest covers its dtype, shape and raw bytes, time
series cut to the root attribute ``n_valid``; NaNs are written as the one canonical quiet NaN
first (the series that are "not measured" are NaN, and a NaN's payload is not a result).
Nothing else of the file (time stamps, provenance, attributes) enters the digest.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TABLE_PATH = HERE / "digests.json"
# the code the table was made with (issue 16: "commit a table ... from d0c0014")
BASE_COMMIT = "d0c0014d09c3bb36c13c78e39a44ba6c633e6b03"
# header entries that decide the bits: a different value skips the comparison
PINNED = ("cpu", "numpy", "numba", "llvmlite")
GROUPS = ("timeseries", "tempering")
# drivers' output groups, digested when a file has them (population annealing: /pa)
DRIVER_GROUPS = ("pa",)


@dataclass(frozen=True)
class Case:
    """One run of the matrix: the sample and anneal tables (config keys as in the TOML file;
    ``path`` of the file model is filled in by :func:`run_case`)."""

    name: str
    sample: dict
    anneal: dict
    output: dict = field(default_factory=dict)

    def key(self) -> str:
        """The case definition as canonical JSON (stored in the table: a changed case must
        be regenerated, not compared)."""
        return json.dumps({"sample": self.sample, "anneal": self.anneal, "output": self.output},
                          sort_keys=True)


# ---- the matrix ----------------------------------------------------------------------
# Storage is chosen with sample.sparse ("dense" | "csr"); the RKKY CSR samples get a finite
# cutoff (built by kernels.rkky.rkky_csr, the path "auto" takes for a dilute cutoff sphere).
MODELS = {
    # N = round(0.3·4·3³) = 32 impurities; field on, so the Zeeman terms are in the bits
    "rkky-dense": {"model": "rkky", "L": 3, "concentration": 0.3, "seed": 11, "field": 0.1,
                   "sparse": "dense"},
    "rkky-csr": {"model": "rkky", "L": 3, "concentration": 0.3, "seed": 11, "field": 0.1,
                 "cutoff": 1.5, "sparse": "csr"},
    "sk-dense": {"model": "sk", "N": 24, "seed": 12, "sparse": "dense"},
    "sk-csr": {"model": "sk", "N": 24, "seed": 12, "sparse": "csr"},
    "file-dense": {"model": "file", "sparse": "dense"},
    "file-csr": {"model": "file", "sparse": "csr"},
    "ea-csr": {"model": "ea", "L": 3, "distribution": "gaussian", "seed": 13, "sparse": "csr"},
}
UPDATES = {
    "ising-metropolis": ({"spin": "ising"}, {"update": "metropolis"}),
    "ising-heatbath": ({"spin": "ising"}, {"update": "heatbath"}),
    "heis-metropolis": ({"spin": "heisenberg"}, {"update": "metropolis"}),
    "heis-heatbath": ({"spin": "heisenberg"}, {"update": "heatbath"}),
    "heis-heatbath-or2": ({"spin": "heisenberg"}, {"update": "heatbath", "overrelaxation": 2}),
}
# float64 cases measure every sweep, float32 cases every 3rd (both settings meet every model
# and move)
PRECISIONS = {"f64": {"precision": "float64", "measure_every": 1},
              "f32": {"precision": "float32", "measure_every": 3}}
ANNEAL = {"temperatures": [0.3, 0.6, 1.0, 1.8], "replicas": 2, "thermalization": 10,
          "sweeps": 30, "seed": 21, "link_overlap": True}


def _matrix() -> list[Case]:
    cases = []
    for model, sample in MODELS.items():
        for update, (spin, moves) in UPDATES.items():
            for prec, anneal in PRECISIONS.items():
                cases.append(Case(f"{model}-{update}-{prec}", {**sample, **spin},
                                  {**ANNEAL, **moves, **anneal}))
    return cases


# float32 runs recompute their fields every simulation.FIELD_REFRESH_SWEEPS = 256 sweeps:
# 600 sweeps cross two refreshes
REFRESH = [
    Case("sk-dense-ising-metropolis-f32-refresh", {**MODELS["sk-dense"], "spin": "ising"},
         {**ANNEAL, "update": "metropolis", "precision": "float32", "thermalization": 100,
          "sweeps": 500, "measure_every": 7}),
    Case("ea-csr-heis-heatbath-or2-f32-refresh", {**MODELS["ea-csr"], "spin": "heisenberg"},
         {**ANNEAL, "update": "heatbath", "overrelaxation": 2, "precision": "float32",
          "thermalization": 100, "sweeps": 500, "measure_every": 7}),
]

# Sizes where the kernels split the walkers over threads (W·N ≥ kernels.fields.
# PARALLEL_MIN_WORK per kernel call; the dense Ising Metropolis sweep runs ladder by ladder,
# W = T there) and where the dense sweeps take their deferred orders (Ising N ≥ 1000 in
# float64, Heisenberg N ≥ 128). Used by the 2-thread test, and in the table themselves.
WIDE = {"temperatures": [0.3, 0.6, 1.0, 1.8], "replicas": 8, "thermalization": 5,
        "sweeps": 15, "seed": 22, "link_overlap": True}
THREADED = [
    Case("sk1024-dense-ising-metropolis-f64", {"model": "sk", "N": 1024, "seed": 14,
                                               "sparse": "dense", "spin": "ising"},
         {**WIDE, "replicas": 2, "update": "metropolis", "precision": "float64"}),
    Case("sk128-dense-heis-heatbath-or2-f32", {"model": "sk", "N": 128, "seed": 14,
                                               "sparse": "dense", "spin": "heisenberg"},
         {**WIDE, "update": "heatbath", "overrelaxation": 2, "precision": "float32",
          "measure_every": 2}),
    Case("sk128-dense-heis-metropolis-f64", {"model": "sk", "N": 128, "seed": 14,
                                             "sparse": "dense", "spin": "heisenberg"},
         {**WIDE, "update": "metropolis", "precision": "float64"}),
    Case("ea6-csr-ising-heatbath-f64", {"model": "ea", "L": 6, "distribution": "pm1",
                                        "seed": 15, "sparse": "csr", "spin": "ising"},
         {**WIDE, "update": "heatbath", "precision": "float64"}),
    Case("ea6-csr-ising-metropolis-f32", {"model": "ea", "L": 6, "distribution": "gaussian",
                                          "seed": 15, "sparse": "csr", "spin": "ising"},
         {**WIDE, "update": "metropolis", "precision": "float32", "measure_every": 2}),
    # N = round(0.15·4·6³) = 130
    Case("rkky130-csr-heis-metropolis-f32", {"model": "rkky", "L": 6, "concentration": 0.15,
                                             "seed": 16, "cutoff": 2.0, "sparse": "csr",
                                             "spin": "heisenberg", "field": 0.1},
         {**WIDE, "update": "metropolis", "precision": "float32"}),
]

# Population annealing (anneal.method = "pa", issue 18): its output is the /pa group (the
# time series have no rows). Replica-blocked dense sweeps (Ising heat bath, Heisenberg),
# per-replica Ising Metropolis orders, CSR, float32 with a field refresh (4 × 70 sweeps
# cross sweep 256), and populations large enough for parallel sweep blocks.
PA = {"method": "pa", "temperatures": [0.3, 0.6, 1.0, 1.8], "population": 40,
      "sweeps_per_temperature": 5, "seed": 23, "link_overlap": True}
POPULATION = [
    Case("pa-sk-dense-ising-metropolis-f64", {**MODELS["sk-dense"], "spin": "ising"}, dict(PA)),
    Case("pa-rkky-dense-ising-heatbath-f32", {**MODELS["rkky-dense"], "spin": "ising"},
         {**PA, "update": "heatbath", "precision": "float32"}),
    Case("pa-rkky-csr-heis-heatbath-or2-f64", {**MODELS["rkky-csr"], "spin": "heisenberg"},
         {**PA, "update": "heatbath", "overrelaxation": 2}),
    Case("pa-sk-dense-heis-metropolis-f64", {**MODELS["sk-dense"], "spin": "heisenberg"},
         {**PA, "population": 300}),
    Case("pa-ea-csr-ising-metropolis-f32-refresh", {**MODELS["ea-csr"], "spin": "ising"},
         {**PA, "population": 200, "precision": "float32", "sweeps_per_temperature": 70}),
]

# The self-tuning ladder (drivers/ladder.py, issue 18): updates at sweeps 1, 2, 3, 5, 8, 12,
# 17, 25, 35, 50, 71, 100 (update_sweeps(200)), frozen from 100 on
ADAPTED = [
    Case("sk-dense-ising-metropolis-f64-adapt", {**MODELS["sk-dense"], "spin": "ising"},
         {**ANNEAL, "temperatures": {"min": 0.3, "max": 1.8, "count": 5, "adapt": "acceptance"},
          "thermalization": 200, "sweeps": 60, "measure_every": 3}),
    Case("rkky-csr-heis-heatbath-or2-f32-adapt", {**MODELS["rkky-csr"], "spin": "heisenberg"},
         {**ANNEAL, "temperatures": {"min": 0.05, "max": 1.0, "count": 6, "adapt": "acceptance"},
          "update": "heatbath", "overrelaxation": 2, "precision": "float32",
          "thermalization": 200, "sweeps": 60, "measure_every": 3}),
]

# DM couplings (issue 17; dense float64 Heisenberg only): the random model on SK (N = 130:
# deferred field updates) and Fert–Lévy on RKKY, with a field
DM = [
    Case("sk-dense-heis-dm-random-heatbath-or2-f64",
         {"model": "sk", "N": 24, "seed": 12, "sparse": "dense", "spin": "heisenberg",
          "dm": "random", "dm_strength": 0.5},
         {**ANNEAL, "update": "heatbath", "overrelaxation": 2, "precision": "float64",
          "measure_every": 1}),
    Case("sk130-dense-heis-dm-random-metropolis-f64",
         {"model": "sk", "N": 130, "seed": 14, "sparse": "dense", "spin": "heisenberg",
          "dm": "random", "dm_strength": 0.3},
         {**WIDE, "update": "metropolis", "precision": "float64"}),
    Case("rkky-dense-heis-dm-fert-levy-metropolis-f64",
         {**MODELS["rkky-dense"], "spin": "heisenberg", "dm": "fert_levy", "dm_strength": 0.8,
          "dm_concentration": 0.05, "dm_phase": 0.5, "damping": 3.0},
         {**ANNEAL, "update": "metropolis", "precision": "float64", "measure_every": 1}),
]

CASES: list[Case] = _matrix() + REFRESH + THREADED + POPULATION + ADAPTED + DM
BY_NAME = {c.name: c for c in CASES}

# Interrupted runs: (case, sweeps after which each attempt stops), resumed until done. The
# stops fall between measurements (measure_every > 1), just before a float32 field refresh
# (sweep 256), and in dense Ising runs whose per-walker sweep orders are not checkpointed.
RESUMED = [
    ("rkky-dense-heis-metropolis-f64", (17,)),
    ("file-csr-ising-heatbath-f32", (10, 11)),
    ("sk-dense-ising-metropolis-f32-refresh", (100, 256, 301)),
    ("ea-csr-heis-heatbath-or2-f32-refresh", (256,)),
    ("sk1024-dense-ising-metropolis-f64", (7,)),
    ("pa-sk-dense-ising-metropolis-f64", (3, 5, 12)),           # inside and at PA steps
    ("pa-ea-csr-ising-metropolis-f32-refresh", (200, 256, 257)),
    # at an update sweep, one after, after the freeze
    ("sk-dense-ising-metropolis-f64-adapt", (17, 18, 131)),
    ("rkky-csr-heis-heatbath-or2-f32-adapt", (50, 51)),
    ("sk-dense-heis-dm-random-heatbath-or2-f64", (13,)),
]


# ---- running a case ------------------------------------------------------------------
def write_coupling_file(path: Path, n: int = 20) -> Path:
    """A symmetric, zero-diagonal n×n matrix with about a third of its pairs 0 (so CSR and
    dense differ), from integer arithmetic only (no RNG whose stream could change): J_ij =
    ((3i + 5j + ij) mod 9 − 4)/4 for i < j, and 0 where (i + 2j) mod 4 = 0."""
    J = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            if (i + 2 * j) % 4:
                J[i, j] = J[j, i] = ((3 * i + 5 * j + i * j) % 9 - 4) / 4.0
    np.save(path, J)
    return path


class StopAfter:
    """A ``stop`` callable for Simulation.run: True from its ``n``-th call on. Simulation.run
    calls it after every chunk of sweeps; ``max_chunk_sweeps = 1`` makes every chunk one
    sweep, so the run stops after exactly ``n`` sweeps."""

    max_chunk_sweeps = 1

    def __init__(self, n: int):
        self.n, self.calls = int(n), 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.n


def case_config(case: Case, workdir: Path):
    from rkky_mc.config import from_dict

    sample = dict(case.sample)
    if sample["model"] == "file":
        sample["path"] = str(write_coupling_file(workdir / f"{case.name}.npy"))
    output = {"path": str(workdir / f"{case.name}.h5"), **case.output}
    return from_dict({"sample": sample, "anneal": dict(case.anneal), "output": output})


def run_case(case: Case, workdir, threads: int | None = 1, stops=()) -> dict:
    """Run ``case`` in ``workdir`` (``threads`` numba threads, as start_run's argument) and
    return {dataset path: sha256}. With ``stops``, the run stops after each of those sweep
    counts in turn and is resumed from its file (prepare_resume + resume_run) until done."""
    from rkky_mc import provenance
    from rkky_mc.couplings import build_sample
    from rkky_mc.simulation import prepare_resume, resume_run, start_run

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = case_config(case, workdir)
    sample = build_sample(cfg.sample, precision=cfg.anneal.precision)
    prov = provenance.collect()
    stops = list(stops)
    stop = StopAfter(stops[0]) if stops else None
    sim = start_run(cfg, sample, cfg.output.path, prov, stop=stop, threads=threads)
    for k, target in enumerate(stops):
        if sim.finished or sim.sweeps_done != target:
            raise RuntimeError(f"{case.name}: expected a stop after {target} sweeps, got "
                               f"{sim.sweeps_done} (finished = {sim.finished})")
        sim, info = prepare_resume(cfg.output.path)
        stop = StopAfter(stops[k + 1] - sim.sweeps_done) if k + 1 < len(stops) else None
        sim = resume_run(sim, info, prov, stop=stop, threads=threads)
    if not sim.finished:
        raise RuntimeError(f"{case.name}: not finished after {sim.sweeps_done} sweeps")
    return file_digests(cfg.output.path)


def array_digest(a: np.ndarray) -> str:
    """sha256 of dtype, shape and C-order bytes; NaNs canonical (see the module docstring)."""
    a = np.ascontiguousarray(a)
    if a.dtype.kind in "fc" and np.isnan(a).any():
        a = a.copy()
        a[np.isnan(a)] = np.nan
    h = hashlib.sha256()
    h.update(f"{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def file_digests(path) -> dict:
    """{"timeseries/energy": sha256, ..., "tempering/...": ...} of one run file."""
    import h5py

    out = {}
    with h5py.File(str(path), "r") as f:
        n_valid = int(f.attrs["n_valid"])
        for group in GROUPS + DRIVER_GROUPS:
            if group not in f:  # a PA file has no /tempering, a PT file no /pa
                continue

            def visit(name, obj, group=group):
                if isinstance(obj, h5py.Dataset):
                    a = obj[()]
                    if group == "timeseries" and obj.ndim:
                        a = a[:n_valid]
                    out[f"{group}/{name}"] = array_digest(np.asarray(a))
            f[group].visititems(visit)
    return out


# ---- the table -----------------------------------------------------------------------
def environment() -> dict:
    """What decides the bits besides the code (PINNED), and what is recorded only."""
    import platform

    import h5py
    import llvmlite
    import numba

    from rkky_mc.provenance import cpu_model

    return {"cpu": cpu_model(), "numpy": np.__version__, "numba": numba.__version__,
            "llvmlite": llvmlite.__version__, "h5py": h5py.__version__,
            "python": platform.python_version()}


def environment_differences(header: dict) -> list[str]:
    """The PINNED entries in which this machine differs from the table's header."""
    here = environment()
    return [f"{k} {header.get(k)!r} (table) vs {here[k]!r} (here)"
            for k in PINNED if header.get(k) != here[k]]


def load_table(path: Path = TABLE_PATH) -> dict:
    return json.loads(Path(path).read_text())


def differing(expected: dict, got: dict) -> list[str]:
    """Dataset paths whose digests differ (or that exist on one side only)."""
    return [k for k in sorted(set(expected) | set(got)) if expected.get(k) != got.get(k)]


def add_new(cases) -> int:
    """New entries only: run ``cases``, require every digest the table holds to be
    reproduced, then add the datasets and cases it lacks (a new series, a new case)."""
    import tempfile

    table = load_table()
    diffs = environment_differences(table["header"])
    if diffs:
        print("refusing: table made elsewhere: " + "; ".join(diffs), file=sys.stderr)
        return 1
    added, changed = 0, []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            digests = run_case(case, Path(tmp))
            entry = table["cases"].get(case.name)
            if entry is None:
                table["cases"][case.name] = {"case": case.key(), "datasets": digests}
                added += len(digests)
                continue
            if entry["case"] != case.key():
                changed.append(f"{case.name} (case definition)")
                continue
            old = entry["datasets"]
            changed += [f"{case.name}: {k}" for k in old if digests.get(k) != old[k]]
            for k in digests:
                if k not in old:
                    old[k] = digests[k]
                    added += 1
    if changed:
        print("refusing: existing digests differ: " + ", ".join(changed), file=sys.stderr)
        return 1
    TABLE_PATH.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"added {added} digests to {TABLE_PATH}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {TABLE_PATH.name}")
    parser.add_argument("--only", default="", help="cases whose name contains this")
    parser.add_argument("--add-new", action="store_true",
                        help=f"add new cases and new datasets to {TABLE_PATH.name}, refusing "
                             "if any digest already in the table differs")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if args.only in c.name]
    if args.write and args.only:
        parser.error("--write regenerates the whole table; drop --only")
    if args.add_new:
        return add_new(cases)
    table = None if args.write else load_table()
    if table is not None:
        for diff in environment_differences(table["header"]):
            print(f"warning: {diff}", file=sys.stderr)
    results, bad = {}, 0
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            t = time.monotonic()
            digests = run_case(case, Path(tmp))
            results[case.name] = {"case": case.key(), "datasets": digests}
            status = ""
            if table is not None:
                entry = table["cases"].get(case.name)
                if entry is None or entry["case"] != case.key():
                    status = "  NOT IN TABLE (or changed case)"
                    bad += 1
                else:
                    diff = differing(entry["datasets"], digests)
                    status = "  ok" if not diff else "  DIFFERS: " + ", ".join(diff)
                    bad += bool(diff)
            print(f"{case.name:45s} {time.monotonic() - t:6.2f} s{status}", file=sys.stderr)
    print(f"{len(cases)} cases, {sum(len(r['datasets']) for r in results.values())} datasets, "
          f"{time.monotonic() - t0:.1f} s", file=sys.stderr)
    if args.write:
        header = {**environment(), "base_commit": BASE_COMMIT,
                  "made_with": "python tests/digest_matrix.py --write",
                  "pinned": list(PINNED)}
        TABLE_PATH.write_text(json.dumps({"header": header, "cases": results}, indent=1,
                                         sort_keys=True) + "\n")
        print(f"wrote {TABLE_PATH}", file=sys.stderr)
        return 0
    return 1 if bad else 0


if __name__ == "__main__":
    os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".numba_cache"))
    sys.exit(main())
