"""``rkky-mc bench``: spin-update throughput and run overheads on this machine.

Every figure is measured here, on this machine, now: single-core figures run with one numba
thread; each is the median of a few repeats after a warm-up call (compile and first-touch
costs excluded); the sweep figures are timed in interleaved rounds (every case once per
round), so that a slow spell of the machine costs each case one repeat, not all of them.
Machines shared with other jobs make absolute times drift (each record also carries the
process CPU time, which competing processes disturb less; the load average and a probe at
the start and the end are reported); ratios and the fraction of the memory-bandwidth bound
are what to compare.

Figures (``--json`` gives the same as one JSON object; ``--quick`` shrinks the work, for
tests, and skips the cold-cache start-up):

* ``machine``     CPU, cores, versions, load average, and ``probe_start`` / ``probe_end``:
                  a compute probe and a short row-streaming probe at the start and the end
                  (how much the machine drifted during the bench);
* ``bandwidth``   the row-streaming bandwidth: ``fields[w] += c·J[i]`` over random rows i of
                  an N×N matrix for 16 walkers (the kernels' accepted-move update), counted as
                  N × bytes per row and walker;
* ``sweeps``      ns per attempted spin update (sweep wall time / (sweeps × N × T × R)),
                  sweeps/s and acceptance, through ``Simulation.sweep()`` (tempering, energies,
                  visiting orders included) and for the bare kernel; beside each the
                  bandwidth bound ``N × acceptance × bytes / bandwidth`` per attempted update
                  (× 3 field components for Heisenberg; for CSR couplings N → stored entries
                  per row and bytes → value + column index) and the fraction of it reached
                  (> 1 where deferred field updates apply several moves per pass over a
                  walker's field rows, which the one-move-at-a-time bound does not model);
                  for dense Ising, the plain C reference of issue 6 (``c_reference``) timed in
                  the same interleaved rounds, and rkky_mc's time over it (``vs_c``);
* ``c_reference`` the C compiler and flags used, or why the C reference was not run;
* ``temperature_ratio``  Ising sweep cost at T = 3 over T = 0.5 (N = 1000, all 32 walkers at
                  one temperature), as run and with every flip applied one at a time;
* ``build``       time to build dense RKKY couplings (N = 4000) and sparse ones (N ≈ 20 000);
* ``startup``     wall time of a tiny ``rkky-mc run`` (subprocess) with a cold and a warm
                  numba cache;
* ``run_overhead``  a real run (measurements every 10 sweeps, HDF5, checkpoints) over the
                  bare sweep time at N = 1000;
* ``python_overhead``  per-sweep cost outside the kernels at small N;
* ``memory``      peak RSS of a dense N = 4000 run over a tiny run, per coupling matrix
                  (float64 and float32);
* ``threads``     one run with 2 threads vs 1, and two independent single-thread runs at once.

Modules: probes (machine probes, timing helpers), cases (sweep cases, temperature ratio, build),
process (start-up, memory, threads), overhead (run and Python overhead), report (targets,
checks, table), c_reference (the plain C sweep of issue 6), command (`rkky-mc bench`).
"""

from .command import bench_command, run_all

__all__ = ["bench_command", "run_all"]
