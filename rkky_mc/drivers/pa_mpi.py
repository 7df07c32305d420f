"""Population annealing over MPI ranks (``mpiexec -n K rkky-mc run CONFIG --mpi``; issue 18).

The R_p slots of the population are split into K contiguous blocks, rank r holding slots
bounds[r] … bounds[r+1] − 1 with bounds[r] = ⌊r R_p / K⌋: their spins, fields, energies and
streams. Everything a slot is — its initial spins, its streams after each resampling (derived
from (seed, step, slot)), its moves — is a function of its global index, never of K, so the
bits are those of one process:

* every rank holds the replicated, global part of the state: the resampling stream, the
  families (R_p int64) and, at each reweighting, every slot's energy (gathered in slot order,
  MPI_Allgatherv: a copy, not a sum). Each rank then computes the same weights, ln(mean w)
  and parents with the serial kernels, on the same numbers in the same order: no
  MPI_Allreduce, whose summation order would depend on K;
* resampling: slot k's new row is a copy of its parent's (parents are non-decreasing, so a
  rank's parents form one sorted run); each rank receives every distinct parent it needs
  once, from the rank that holds it, and expands the copies in place
  (kernels/population.expand_rows);
* the q², q⁴ and link-overlap pairs (drawn from the replicated resampling stream, so the
  same on every rank) are measured on rank 0 from the pairs' rows gathered there, and
  summed there in pair order (math.fsum, as serially); the row's numbers are broadcast;
* the checkpoint: rank 0 gathers the population and writes it (Recorder, as serially); a
  checkpoint is the serial one, so a run resumes with any K (or none).

Messages are byte views of the numpy arrays (any dtype). Rank 0 takes every decision that
depends on time (chunk length, commits, stops) and broadcasts it.
"""
from __future__ import annotations

import numpy as np

from .. import aligned
from ..kernels import population as kpop

_TAG = 18


def _bytes(a: np.ndarray) -> np.ndarray:
    """A uint8 view of a C-contiguous array (MPI messages of any dtype)."""
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def slot_bounds(R: int, K: int) -> np.ndarray:
    """(K + 1,) the first slot of every rank: ⌊r R / K⌋."""
    return np.array([(r * R) // K for r in range(K + 1)], dtype=np.int64)


class SlotPartition:
    """The slots of a population of ``R`` over the ranks of ``comm`` (an mpi4py communicator)."""

    def __init__(self, comm, R: int):
        self.comm = comm
        self.K, self.rank = comm.Get_size(), comm.Get_rank()
        self.R = R
        self.bounds = slot_bounds(R, self.K)
        self.lo, self.hi = int(self.bounds[self.rank]), int(self.bounds[self.rank + 1])
        self.root = self.rank == 0

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def _counts(self, row_bytes: int):
        counts = np.diff(self.bounds) * row_bytes
        return counts, self.bounds[:-1] * row_bytes

    def allgather(self, local: np.ndarray, out: np.ndarray) -> None:
        """out (R, …) on every rank = the ranks' ``local`` blocks in slot order (a copy)."""
        from mpi4py import MPI

        row = int(np.prod(local.shape[1:], dtype=np.int64)) * local.itemsize
        counts, displs = self._counts(row)
        self.comm.Allgatherv(_bytes(local), [out.reshape(-1).view(np.uint8), counts, displs,
                                             MPI.BYTE])

    def gather(self, local: np.ndarray):
        """The (R, …) array of the ranks' blocks on rank 0 (None elsewhere)."""
        from mpi4py import MPI

        row = int(np.prod(local.shape[1:], dtype=np.int64)) * local.itemsize
        counts, displs = self._counts(row)
        out = np.empty((self.R,) + local.shape[1:], dtype=local.dtype) if self.root else None
        recv = [out.reshape(-1).view(np.uint8), counts, displs, MPI.BYTE] if self.root else None
        self.comm.Gatherv(_bytes(local), recv, root=0)
        return out

    def scatter(self, full, local: np.ndarray) -> None:
        """local = rank's block of ``full`` (R, …), given on rank 0 (ignored elsewhere)."""
        from mpi4py import MPI

        row = int(np.prod(local.shape[1:], dtype=np.int64)) * local.itemsize
        counts, displs = self._counts(row)
        send = ([_bytes(np.asarray(full, dtype=local.dtype)), counts, displs, MPI.BYTE]
                if self.root else None)
        recv = np.empty(local.shape, dtype=local.dtype)
        self.comm.Scatterv(send, _bytes(recv), root=0)
        local[...] = recv

    # ---- resampling -------------------------------------------------------------------
    def resample_plan(self, parents: np.ndarray) -> dict:
        """Who sends which rows to whom for the global ``parents`` (R,), non-decreasing."""
        lo, hi, bounds = self.lo, self.hi, self.bounds
        distinct, index = np.unique(parents[lo:hi], return_inverse=True)
        cut = np.searchsorted(distinct, bounds)  # distinct[cut[s]:cut[s+1]] are rank s's
        sends = []
        for d in range(self.K):
            if d == self.rank:
                continue
            theirs = np.unique(parents[bounds[d]:bounds[d + 1]])
            part = theirs[(theirs >= lo) & (theirs < hi)] - lo
            if part.size:
                sends.append((d, part))
        recvs = [(s, int(cut[s]), int(cut[s + 1])) for s in range(self.K)
                 if s != self.rank and cut[s + 1] > cut[s]]
        a, b = int(cut[self.rank]), int(cut[self.rank + 1])
        return {"index": index.astype(np.int64), "recvs": recvs, "sends": sends,
                "own": (a, b, distinct[a:b] - lo)}

    def resample_rows(self, plan: dict, src: np.ndarray, dst: np.ndarray) -> None:
        """dst[k] = the row of slot parents[lo + k] (held by any rank), from ``src``."""
        from mpi4py import MPI

        reqs, keep = [], []
        for s, a, b in plan["recvs"]:
            reqs.append(self.comm.Irecv(dst[a:b].reshape(-1).view(np.uint8), source=s, tag=_TAG))
        for d, part in plan["sends"]:
            buf = np.ascontiguousarray(src[part])
            keep.append(buf)
            reqs.append(self.comm.Isend(_bytes(buf), dest=d, tag=_TAG))
        a, b, own = plan["own"]
        if b > a:
            dst[a:b] = src[own]
        MPI.Request.Waitall(reqs)
        kpop.expand_rows(dst.reshape(dst.shape[0], -1), plan["index"])

    # ---- measurements -------------------------------------------------------------------
    def gather_slots(self, arrays: list, slots: np.ndarray):
        """On rank 0: the rows ``slots`` (sorted, distinct, global) of every (R_local, N)
        array of ``arrays``, as (len(slots), N) aligned arrays; None elsewhere."""
        cut = np.searchsorted(slots, self.bounds)
        a, b = int(cut[self.rank]), int(cut[self.rank + 1])
        mine = slots[a:b] - self.lo
        out = []
        for x in arrays:
            if self.root:
                full = aligned.zeros((slots.size,) + x.shape[1:], x.dtype)
                reqs = [self.comm.Irecv(full[cut[s]:cut[s + 1]].reshape(-1).view(np.uint8),
                                        source=s, tag=_TAG)
                        for s in range(1, self.K) if cut[s + 1] > cut[s]]
                full[a:b] = x[mine]
                from mpi4py import MPI

                MPI.Request.Waitall(reqs)
                out.append(full)
            elif b > a:
                self.comm.Send(_bytes(x[mine]), dest=0, tag=_TAG)
        return out if self.root else None


# ---- the command line (rkky-mc run CONFIG --mpi) ----------------------------------------
def world():
    """mpi4py's COMM_WORLD, or a ConfigError naming --mpi when mpi4py is missing."""
    from ..config import ConfigError

    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ConfigError("--mpi", str(exc), "needs mpi4py and an MPI: pip install 'rkky_mc[mpi]'") from None
    return MPI.COMM_WORLD


def check_config(cfg, comm) -> None:
    """--mpi splits a population: anneal.method = 'pa', at least one slot per rank."""
    from ..config import ConfigError

    if cfg.anneal.method != "pa":
        raise ConfigError("anneal.method", cfg.anneal.method,
                          "run --mpi splits a population-annealing population over the ranks; "
                          "use 'pa' (many runs over MPI: rkky-mc sweep --mpi)")
    if cfg.anneal.population < comm.Get_size():
        raise ConfigError("anneal.population", cfg.anneal.population,
                          f"fewer replicas than the {comm.Get_size()} MPI ranks")


def node_ranks(comm) -> int:
    """The ranks of ``comm`` on this node (they share its cores and memory)."""
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return node.Get_size()
    finally:
        node.Free()


def threads_per_rank(comm):
    """numba threads of each rank: the cores of the node shared by its ranks (None: keep
    NUMBA_NUM_THREADS when it is set, an explicit choice)."""
    import os

    if os.environ.get("NUMBA_NUM_THREADS"):
        return None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores // node_ranks(comm))


def agree(comm, failure) -> None:
    """Every rank at once: when any rank failed, every rank stops — the one that failed
    raises its error (rank 0 says it), the others exit 2 silently, so no rank is left
    waiting in a collective call."""
    from ..config import ConfigError
    from ..runtime import EXIT_BAD_INPUT

    failed = comm.allgather(failure is not None)
    if not any(failed):
        return
    if failure is not None:
        raise failure
    if comm.Get_rank() == 0:
        raise ConfigError("--mpi", f"rank {failed.index(True)}", "failed on another rank "
                          "(its error is above)")
    raise SystemExit(EXIT_BAD_INPUT)


def prepare_resume(path, comm):
    """``rkky-mc resume FILE --mpi``, every rank: rank 0 recovers the checkpoint and the
    config, every rank rebuilds the sample and its block of the population, rank 0's state
    is scattered. Returns (pa, info) on rank 0, (pa, None) elsewhere. Any K resumes a
    checkpoint written with any K (it is the one-process one)."""
    from ..config import load_config
    from ..couplings import build_sample
    from ..io import recorder_for
    from ..resources import check_memory
    from ..simulation import ResumeError, resolve_coupling_file
    from .population_annealing import NAME, PopulationAnnealing

    root = comm.Get_rank() == 0
    head = failure = state = info = None
    if root:
        try:
            recorder = recorder_for(path)
            state, meta = recorder.recover()
            attrs = recorder.root_attrs()
            path = getattr(recorder, "path", recorder.location)
            text = str(attrs["config"])
            cfg = load_config(text=text)
            check_config(cfg, comm)
            stored = recorder.sample_attrs()
            resolve_coupling_file(cfg, path, stored)
            head = (text, cfg.sample.path, str(stored["sha256"]))
            info = {"config": cfg, "config_text": text, "status": str(attrs["status"]),
                    "meta": meta, "path": path, "generation": int(attrs.get("generation", 0)),
                    "recorder": recorder, "extension": None, "repeated": False, "driver": NAME}
        except Exception as exc:  # noqa: BLE001 - said by rank 0, every rank stops
            failure = exc
    agree(comm, failure)
    text, sample_path, sha = comm.bcast(head, root=0)
    if not root:
        cfg = load_config(text=text)
        cfg.sample.path = sample_path
    sample = None
    try:
        check_memory(cfg, copies=node_ranks(comm), ranks=comm.Get_size())
        sample = build_sample(cfg.sample, precision=cfg.anneal.precision)
        if sample.sha256 != sha:
            raise ResumeError(f"{path}: the couplings rebuilt from the stored config differ "
                              "from the run's")
    except Exception as exc:  # noqa: BLE001
        failure = exc
    agree(comm, failure)
    pa = PopulationAnnealing(cfg, sample, comm)
    try:
        pa.load_state(state)
    except (KeyError, ValueError) as exc:
        raise ResumeError(f"{path}: the checkpoint does not fit the stored config ({exc}); "
                          "not resumable") from None
    return pa, info
