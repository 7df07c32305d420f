"""Same bits (issue 16, item 3): every /timeseries and /tempering dataset of the case matrix in
digest_matrix.py has the sha256 recorded in digests.json (made by the code at the table's
base commit). The comparison needs the CPU model and the numpy / numba / llvmlite versions of
the table (constraints.txt pins the versions): elsewhere it skips and names the difference.
The resume and thread-count tests compare two runs made here, so they hold on any machine.
"""
from __future__ import annotations

import numba
import pytest
from digest_matrix import (
    BY_NAME,
    CASES,
    RESUMED,
    THREADED,
    case_config,
    differing,
    environment_differences,
    load_table,
    run_case,
)

TABLE = load_table()
HEADER = TABLE["header"]


def test_table_holds_every_case_as_defined():
    """The table and the case list agree: a changed or new case needs a regenerated table
    (tests/digest_matrix.py --write), never a silent comparison against another run."""
    assert sorted(TABLE["cases"]) == sorted(BY_NAME)
    changed = [c.name for c in CASES if TABLE["cases"][c.name]["case"] != c.key()]
    assert not changed, f"case definitions changed since the table was made: {changed}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_digests_match_table(case, tmp_path):
    diff = environment_differences(HEADER)
    if diff:
        pytest.skip("digest table made elsewhere: " + "; ".join(diff))
    expected = TABLE["cases"][case.name]["datasets"]
    got = run_case(case, tmp_path)
    bad = differing(expected, got)
    assert not bad, (f"{case.name}: {len(bad)} of {len(expected)} datasets differ from the "
                     f"table (base {HEADER['base_commit'][:7]}): {bad}")


@pytest.mark.parametrize("name,stops", RESUMED, ids=[n for n, _ in RESUMED])
def test_resumed_run_has_the_uninterrupted_bits(name, stops, tmp_path):
    case = BY_NAME[name]
    whole = run_case(case, tmp_path / "whole")
    resumed = run_case(case, tmp_path / "resumed", stops=stops)
    assert not differing(whole, resumed), differing(whole, resumed)


def _work_per_kernel_call(case, tmp_path) -> int:
    """Attempted updates per sweep-kernel call (the dense Ising Metropolis sweep runs one
    ladder per call), what kernels.fields.n_blocks compares with PARALLEL_MIN_WORK."""
    from rkky_mc.couplings import build_sample

    cfg = case_config(case, tmp_path)
    sample = build_sample(cfg.sample, precision=cfg.anneal.precision)
    T, R = len(cfg.anneal.temperatures), cfg.anneal.replicas
    per_ladder = (sample.spin == "ising" and cfg.anneal.update == "metropolis"
                  and sample.storage == "dense")
    return (T if per_ladder else T * R) * sample.n_spins


@pytest.mark.parametrize("case", THREADED, ids=[c.name for c in THREADED])
def test_two_threads_have_the_one_thread_bits(case, tmp_path):
    from rkky_mc.kernels.fields import PARALLEL_MIN_WORK

    # the case is big enough that the sweep kernels split their walkers over the threads
    assert _work_per_kernel_call(case, tmp_path) >= PARALLEL_MIN_WORK
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip(f"numba runs 1 thread here (NUMBA_NUM_THREADS = "
                    f"{numba.config.NUMBA_NUM_THREADS})")
    one = run_case(case, tmp_path / "one", threads=1)
    two = run_case(case, tmp_path / "two", threads=2)
    assert not differing(one, two), differing(one, two)
