"""One disorder sample: spin positions and the coupling matrix J (H = −Σ_{i<j} J_ij S_i·S_j).

The models (``sample.model``: rkky, sk, ea, file) are one module each in ``models/``;
this module turns their parts into a Sample (precision, checksum, pair count, scales).

Heisenberg samples may carry Dzyaloshinskii–Moriya vectors (``sample.dm``, or a ``D`` in a
``.npz``): ``Sample.dm`` (3, N, N) float64, dense storage and float64 only
(interactions/sample_dm.py builds them).

Lengths in host cubic lattice constants a; couplings in J0 (RKKY) or the model's own unit.
The disorder depends only on ``sample.seed`` and the sample parameters: one
``numpy.random.Generator`` from ``SeedSequence(seed)`` draws positions and random couplings.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import aligned
from .config import PRECISIONS, Config, ConfigError, SampleConfig, check_dm_storage, validate

# "auto" storage: CSR when a spin's cutoff sphere holds less than this fraction of the box
CSR_MAX_FILL = 0.1
# a file matrix this close to symmetric (relative to max|J|) is accepted and symmetrised
FILE_SYMMETRY_RTOL = 1e-12
# dense couplings in float32 are filled from float64 row blocks of about this size: the
# float64 matrix of a model that can build rows (rkky) never exists whole
DENSE_BLOCK_BYTES = 1 << 22


@dataclass
class Sample:
    """Couplings and geometry of one disorder sample (exactly one of dense / csr is set).

    dense:     (N, N) float64, symmetric, zero diagonal; float32 (the float64 values rounded)
               when built with precision = "float32"
    csr:       (indptr int64 (N+1,), indices int32, data float64): both directions,
               columns ascending per row, symmetric
    positions: (N, 3) float64 in lattice units (rkky, ea); None for sk / file
    box:       (3,) float64 periodic box (rkky, ea); None for sk / file
    scale:     {"rms_coupling": sqrt(mean_i Σ_j J_ij²), ...; rkky adds "j_nn" = |J(a/√2)|,
               "two_kf" (1/a), "J_scale"}
    n_pairs:   number of pairs i < j with J_ij ≠ 0
    sha256:    hex digest of the coupling arrays (dense C-order bytes, or indptr+indices+data)
    (sha256, n_pairs and scale always come from the float64 couplings: a sample's identity
    does not depend on the precision it is held in)
    """

    model: str
    spin: str
    n_spins: int
    field: float
    dense: np.ndarray | None
    csr: tuple | None
    positions: np.ndarray | None
    box: np.ndarray | None
    scale: dict
    n_pairs: int
    sha256: str
    # DM vectors, component-major Dc (3, N, N) float64, Dc[μ, i, j] = D_ij^μ (kernels/dm.py;
    # D[j, i] = −D[i, j]); None without DM. sha256 then covers J and Dc (sample_dm.py).
    dm: np.ndarray | None = None
    scatterers: np.ndarray | None = None  # fert_levy: (N_l, 3) scatterer positions, units of a
    dm_attrs: dict = dataclasses.field(default_factory=dict)  # /sample attrs of the DM model
    # scalar-chirality triplets (N_t, 3) int64 rows (j, i, k), Heisenberg samples
    # (observables_chiral.sample_triplets; (0, 3) without positions); None for Ising
    triplets: np.ndarray | None = None

    @property
    def storage(self) -> str:
        return "dense" if self.dense is not None else "csr"

    def dense_matrix(self) -> np.ndarray:
        """The couplings as a dense (N, N) float64 array, whatever the storage (small N)."""
        if self.dense is not None:
            return self.dense
        return csr_to_dense(*self.csr, self.n_spins)

    def row_sq_sum(self) -> np.ndarray:
        """Σ_j J_ij² for every spin i, (N,) (float64; float32 for a float32 dense matrix)."""
        if self.dense is not None:
            return np.einsum("ij,ij->i", self.dense, self.dense)
        indptr, _, data = self.csr
        rows = np.repeat(np.arange(self.n_spins), np.diff(indptr))
        with np.errstate(over="ignore"):  # |J| ≳ 1e154: inf, which rms_coupling rescales
            return np.bincount(rows, weights=data * data, minlength=self.n_spins)


# ---- storage helpers -----------------------------------------------------------------


def csr_from_dense(J: np.ndarray) -> tuple:
    """Nonzero entries of a dense matrix as CSR (indptr int64, indices int32, data float64)."""
    rows, cols = np.nonzero(J)  # row-major: columns ascending within each row
    indptr = np.zeros(J.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=J.shape[0]), out=indptr[1:])
    return indptr, cols.astype(np.int32), np.ascontiguousarray(J[rows, cols], dtype=np.float64)


def csr_to_dense(indptr, indices, data, n: int) -> np.ndarray:
    J = np.zeros((n, n), dtype=np.float64)
    rows = np.repeat(np.arange(n), np.diff(indptr))
    J[rows, indices] = data
    return J


def coupling_sha256(dense: np.ndarray | None, csr: tuple | None) -> str:
    h = hashlib.sha256()
    arrays = [dense] if dense is not None else list(csr)
    for a in arrays:
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def _count_pairs(csr) -> int:
    # both directions stored: the nonzeros are the pairs i<j counted twice
    return int(np.count_nonzero(csr[2]) // 2)


def store_dense(J: np.ndarray, sparse: str) -> tuple:
    """(dense, csr) of a dense matrix for the models without a cutoff: dense unless the
    user asked for sample.sparse = "csr"."""
    return (None, csr_from_dense(J)) if sparse == "csr" else (J, None)


class LazyDense(NamedTuple):
    """A dense float64 coupling matrix not built yet: ``full()`` returns it whole,
    ``rows(r0, out)`` fills its rows r0 … r0 + len(out) − 1 into out (B, N) float64."""

    n: int
    full: Callable
    rows: Callable


def _row_blocks(dense, n: int):
    """(r0, float64 rows r0 … ) blocks of about DENSE_BLOCK_BYTES, in row order."""
    step = max(1, DENSE_BLOCK_BYTES // (8 * n))
    buf = None if isinstance(dense, np.ndarray) else np.empty((min(step, n), n))
    for r0 in range(0, n, step):
        if buf is None:
            yield r0, dense[r0:r0 + step]
        else:
            out = buf[:min(step, n - r0)]
            dense.rows(r0, out)
            yield r0, out


def dense_in_precision(dense, dtype) -> tuple:
    """(J, sha256, n_pairs, Σ_j J_ij² per row) of a dense float64 matrix (an array or a
    LazyDense), with J in ``dtype``. The checksum, the pair count and the row sums come
    from the float64 values in either precision. float64: the matrix itself (no copy;
    a copy only if it does not start on a cache line, see aligned.py).
    float32 from a LazyDense: filled block by block, peak memory ≈ the float32 matrix."""
    n = dense.shape[0] if isinstance(dense, np.ndarray) else dense.n
    if np.dtype(dtype) == np.float64:
        J = aligned.asarray(dense) if isinstance(dense, np.ndarray) else dense.full()
        blocks = [(0, J)]
    else:
        J = aligned.empty((n, n), dtype=dtype)
        blocks = _row_blocks(dense, n)
    digest = hashlib.sha256()
    nonzero = 0
    row_sq = np.empty(n)
    for r0, block in blocks:
        block = np.ascontiguousarray(block)
        digest.update(block.data)
        nonzero += int(np.count_nonzero(block))
        row_sq[r0:r0 + block.shape[0]] = np.einsum("ij,ij->i", block, block)
        if J is not block:
            J[r0:r0 + block.shape[0]] = block
    # symmetric with zero diagonal: the nonzeros are the pairs i<j counted twice
    return J, digest.hexdigest(), nonzero // 2, row_sq




def build_sample(cfg: SampleConfig, base_dir=".", precision: str = "float64") -> Sample:
    """Build the disorder sample described by ``cfg`` (relative file paths against
    ``base_dir``), dense couplings held in ``precision`` ("float64" or "float32": a run's
    anneal.precision; the float32 RKKY matrix is built without a float64 copy).  Raises
    ConfigError on bad input."""
    if precision not in PRECISIONS:
        raise ConfigError("anneal.precision", precision, f"must be one of {', '.join(PRECISIONS)}")
    # the same checks and normalisation as a loaded config, also for hand-built ones
    # (validate works on a copy: the caller's object is left as it is)
    cfg = dataclasses.replace(cfg)
    validate(Config(sample=cfg))
    if cfg.dm != "none":
        check_dm_storage(f"sample.dm = {cfg.dm!r}", cfg.sparse, precision)
        if cfg.sparse == "auto":
            cfg.sparse = "dense"  # DM sweeps are dense (kernels/dm.py)
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed))
    from .models import MODEL_BUILDERS

    parts = MODEL_BUILDERS[cfg.model](cfg, rng, base_dir)
    dense, csr = parts["dense"], parts["csr"]
    if dense is not None:
        dense, sha256, n_pairs, row_sq = dense_in_precision(dense, np.dtype(precision))
        n = dense.shape[0]
    else:
        n = len(csr[0]) - 1
        sha256, n_pairs = coupling_sha256(None, csr), _count_pairs(csr)
    sample = Sample(
        model=cfg.model, spin=cfg.spin, n_spins=n, field=float(cfg.field),
        dense=dense, csr=csr, positions=parts["positions"], box=parts["box"],
        scale={}, n_pairs=n_pairs, sha256=sha256,
    )
    if dense is None:
        row_sq = sample.row_sq_sum()
    sample.scale = {"rms_coupling": rms_coupling(sample, row_sq), **parts["scale"]}
    if cfg.dm != "none" or parts.get("dm") is not None:
        from .interactions.sample_dm import attach_dm

        attach_dm(sample, cfg, parts.get("dm"))
    if cfg.spin == "heisenberg":
        from .observables_chiral import sample_triplets

        sample.triplets = sample_triplets(cfg.model, sample.positions, sample.box)
    return sample


def rms_coupling(sample: Sample, row_sq: np.ndarray) -> float:
    """sqrt(mean_i Σ_j J_ij²) from the row sums ``row_sq``; when Σ J² overflows (|J| beyond
    ~1e150) the same sum of (J / max|J|)², times max|J| (row blocks, no full copy)."""
    rms = float(math.sqrt(np.mean(row_sq)))
    if math.isfinite(rms):
        return rms
    n = sample.n_spins
    if sample.dense is not None:
        J = sample.dense
        scale = float(max(J.max(), -J.min()))
        total = 0.0
        step = max(1, DENSE_BLOCK_BYTES // (8 * n))
        for r0 in range(0, n, step):
            block = np.asarray(J[r0:r0 + step], dtype=np.float64) / scale
            total += float(np.einsum("ij,ij->", block, block))
    else:
        data = sample.csr[2]
        scale = float(np.abs(data).max())
        total = float(np.sum((data / scale) ** 2))
    return scale * math.sqrt(total / n)
