"""Dzyaloshinskii–Moriya (DM) vectors of one disorder sample (plain Python + numba kernels).

Hamiltonian and sign conventions (the whole package uses these):

    H = − Σ_{i<j} [ J_ij S_i·S_j + D_ij·(S_i × S_j) ] − h Σ_i S_i^z,      D_ji = −D_ij,

so a pair's DM energy is the same read either way round, −D_ij·(S_i × S_j) =
−D_ji·(S_j × S_i), and the local field is h_i = Σ_j (J_ij S_j + S_j × D_ij) + h ẑ
(D_ij·(S_i × S_j) = S_i·(S_j × D_ij)). D is held as a dense (N, N, 3) float64 array with
D[j, i] = −D[i, j] exactly and D[i, i] = 0; energies in the unit of J.

Models:

* ``random_dm(J, strength, seed)`` — D_ij = λ |J_ij| d̂_ij with d̂_ij independent isotropic
  unit vectors for i < j (d̂_ji = −d̂_ij), λ = ``strength``: the simplified model of the
  simulations of anisotropic Heisenberg glasses (e.g. Martín-Mayor and Pérez-Gaviro, PRB 84,
  024419 (2011), who use a random anisotropic coupling tensor of relative strength λ).
  rms|D| / rms|J| = λ exactly on every sample (|d̂| = 1).

* ``fert_levy_dm(positions, box, scatterers, kf, strength, phase, damping_length, cutoff)``
  — after A. Fert and P. M. Lévy, PRL 44, 1538 (1980): spin–orbit scattering of the
  conduction electrons by a non-magnetic impurity l (in CuMn: Mn itself, or added Pt, Au)
  adds to the RKKY coupling of the spins i, j an antisymmetric term with

      D_ij = V₁ Σ_l sin[k_F (R_li + R_lj + R_ij) + ξ₀] (R̂_li·R̂_lj) (R̂_li × R̂_lj)
             / (R_li R_lj R_ij) · exp(−(R_li + R_lj + R_ij)/(2λ)),

  R_li = R_i − R_l, the vector from scatterer l to spin i (minimum image), R_ij = |R_i − R_j|
  (minimum image), V₁ = ``strength`` in J0·a³ (a the host cubic lattice constant, lengths in
  a, k_F in 1/a), ξ₀ = ``phase`` (Fert–Lévy: ξ₀ = π Z_d/10, Z_d the number of d electrons of
  the scatterer). The damping is that of the RKKY J, exp(−R/λ), per unit of electron path:
  the path l → i → j → l has length R_li + R_ij + R_lj, i.e. 2R for the RKKY path i → j → i.
  ``cutoff`` R_c drops the pairs with R_ij > R_c and, for the remaining pairs, the
  scatterers with R_li > R_c or R_lj > R_c. (R̂_li × R̂_lj) changes sign with i ↔ j, so
  D_ji = −D_ij follows from the formula.

  Sign conventions. The vector R̂_li × R̂_lj is a pseudovector, so the overall sign of D
  matters for a single sample (D → −D is not a symmetry of H: the mirror image of a sample
  maps D to −M D, M the mirror, which is a rotation of D, not −D), and the thermodynamics
  contains pseudoscalar terms such as D_ij·(D_jk × D_ki). The formula above, with R_li
  pointing from the scatterer to the spin and the energy −D_ij·(S_i × S_j), is the form
  stated in issue 17; the literature writes the same structure with either sign in front
  of V₁ and with H = +Σ D_ij·(S_i × S_j) (Fert and Lévy 1980; Lévy, Morgan-Pond and Fert,
  J. Appl. Phys. 53, 2168 (1982)). The primary text could not be checked here (the
  project's reference search returned no copy of either paper, only secondary reviews of
  the chirality scenario: Kawamura, arXiv:0907.4218). Any other convention is reached
  without code changes: the opposite sign of V₁ is ``strength`` → −strength (or
  ξ₀ → ξ₀ + π); an energy +D·(S_i × S_j) is the same as −(−D)·(S_i × S_j).
  V₁ itself (Fert–Lévy: V₁ ∝ λ_d Γ² sin(π Z_d/10)/(E_F² k_F³)) is an input here.

  Cost: O(N² N_l) time, 48 N N_l bytes of tables on top of D (24 N² bytes). Measured
  (``python -m rkky_mc.interactions.dm``, 2 numba threads on this project's 2-core VM, which
  other jobs shared at the time: CPU time is the steadier figure): N = 1000 spins and
  N_l = 1000 scatterers on free sites of an fcc L = 17 box (c ≈ 5 % each), λ = 4:
  no cutoff 2.4 s wall / 1.6 s CPU; R_c = L/2 1.6 s wall / 1.0 s CPU; N = N_l = 2000
  (L = 22) 25 s wall / 13 s CPU. About 3 ns of CPU per triple (i, j, l); the inner loop
  (partners j of one scatterer) is elementwise and vectorised.

* a file: ``validate_dm(D, J)`` checks a user-supplied D against the coupling matrix.

``place_scatterers`` draws the scatterers of ``fert_levy`` on free host sites.
"""
from __future__ import annotations

import math

import numpy as np

from .. import aligned
from ..kernels.dm import fert_levy_dense, unit_vectors

# SeedSequence spawn key of the DM draws when ``seed`` is an int: a stream of its own, so
# that the positions and J drawn from SeedSequence(seed) keep their bits whatever DM model
# is chosen (spawn_key (0x444D,) is "DM"; no other draw of the package uses a spawn key).
DM_SPAWN_KEY = 0x444D
# a D this close to antisymmetric (relative to max|D|) is accepted and antisymmetrised
DM_ANTISYMMETRY_RTOL = 1e-12


def dm_generator(seed) -> np.random.Generator:
    """The generator of the DM draws: a Generator is used as given; anything else is the
    seed of ``SeedSequence(seed, spawn_key=(DM_SPAWN_KEY,))``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(DM_SPAWN_KEY,)))


def random_dm(J: np.ndarray, strength: float, seed) -> np.ndarray:
    """D (N, N, 3) float64 with D_ij = λ |J_ij| d̂_ij, λ = ``strength`` (dimensionless).

    One isotropic unit vector per pair i < j with J_ij ≠ 0, drawn in row-major order of the
    upper triangle (two uniforms each, kernels.heisenberg.uniform_direction), so the vectors
    depend only on the seed and the set of coupled pairs (dense or sparse storage alike).
    D_ji = −D_ij exactly; λ = 0 gives D ≡ +0.0 (the draws are still made)."""
    J = np.asarray(J)
    if J.ndim != 2 or J.shape[0] != J.shape[1]:
        raise ValueError(f"random_dm: J has shape {J.shape}; must be square (N, N)")
    strength = float(strength)
    if not math.isfinite(strength) or strength < 0.0:
        raise ValueError(f"random_dm: strength = {strength!r}; must be finite and ≥ 0")
    n = J.shape[0]
    iu, ju = np.triu_indices(n, 1)
    nz = J[iu, ju] != 0.0
    iu, ju = iu[nz], ju[nz]
    rng = dm_generator(seed)
    d = unit_vectors(rng.random((len(iu), 2)))
    D = aligned.zeros((n, n, 3))
    if strength > 0.0:
        v = (strength * np.abs(J[iu, ju]).astype(np.float64))[:, None] * d
        D[iu, ju] = v
        D[ju, iu] = -v
    return D


def place_scatterers(host_sites: np.ndarray, occupied: np.ndarray, n: int,
                     rng: np.random.Generator) -> np.ndarray:
    """n distinct host sites not in ``occupied`` (the spins), drawn uniformly: (n, 3), in the
    order of ``host_sites``. Sites are matched exactly (multiples of ½ in lattice units)."""
    host = np.asarray(host_sites, dtype=np.float64)
    occ = np.asarray(occupied, dtype=np.float64).reshape(-1, 3)

    def code(p):
        q = np.rint(2.0 * p).astype(np.int64)
        m = int(np.max(np.rint(2.0 * host))) + 1 if len(host) else 1
        return (q[:, 0] * m + q[:, 1]) * m + q[:, 2]

    free = host[~np.isin(code(host), code(occ))]
    if not 0 <= n <= len(free):
        raise ValueError(f"cannot place {n} scatterers on {len(free)} free host sites")
    idx = np.sort(rng.choice(len(free), size=n, replace=False))
    return np.array(free[idx], dtype=np.float64)


def fert_levy_dm(positions, box, scatterers, kf: float, strength: float, phase: float,
                 damping_length: float = math.inf, cutoff: float = math.inf) -> np.ndarray:
    """Fert–Lévy DM vectors D (N, N, 3) float64 (formula and units in the module docstring).

    positions (N, 3), box (3,), scatterers (N_l, 3) in lattice units; kf = k_F in 1/a;
    strength = V₁ in J0·a³; phase = ξ₀ (radians); damping_length = λ (inf: none);
    cutoff = R_c (inf: none). Raises ValueError for a scatterer on a spin, coincident
    spins, or a non-finite input."""
    pos = np.ascontiguousarray(positions, dtype=np.float64)
    scat = np.ascontiguousarray(scatterers, dtype=np.float64).reshape(-1, 3)
    box = np.ascontiguousarray(box, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"fert_levy_dm: positions have shape {pos.shape}; must be (N, 3)")
    if box.shape != (3,) or not np.all(np.isfinite(box)) or not np.all(box > 0):
        raise ValueError(f"fert_levy_dm: box = {box.tolist()}; must be 3 finite lengths > 0")
    for name, v in (("kf", kf), ("strength", strength), ("phase", phase)):
        if not math.isfinite(float(v)):
            raise ValueError(f"fert_levy_dm: {name} = {v!r}; must be finite")
    for name, v in (("damping_length", damping_length), ("cutoff", cutoff)):
        if not float(v) > 0.0:
            raise ValueError(f"fert_levy_dm: {name} = {v!r}; must be > 0 (inf: none)")
    n = len(pos)
    D = aligned.zeros((n, n, 3))
    bad = fert_levy_dense(pos, box, scat, float(kf), float(strength), float(phase),
                          float(damping_length), float(cutoff), D)
    if bad:
        raise ValueError(f"fert_levy_dm: {bad} scatterer(s) sit on a spin (distance 0); "
                         "scatterers must occupy free sites")
    if not np.all(np.isfinite(D)):
        raise ValueError("fert_levy_dm: two spins coincide (minimum-image distance 0)")
    return D


def validate_dm(D, J) -> np.ndarray:
    """D checked against the couplings J (N, N): returns D as float64 (N, N, 3), exactly
    antisymmetric. Raises ValueError (one line, naming what is wrong and what is allowed)
    for a wrong shape or dtype, non-finite entries, a nonzero diagonal D[i, i], or
    D[j, i] ≠ −D[i, j] beyond DM_ANTISYMMETRY_RTOL·max|D| (rounding-level asymmetry is
    removed: D ← (D − Dᵀ)/2, exact for an antisymmetric D)."""
    J = np.asarray(J)
    n = J.shape[0] if J.ndim == 2 else -1
    if not isinstance(D, np.ndarray) or D.dtype.kind not in "iuf":
        raise ValueError(f"D holds {getattr(D, 'dtype', type(D))} data; must be a real "
                         f"(N, N, 3) array")
    if D.shape != (n, n, 3):
        raise ValueError(f"D has shape {D.shape}; must be (N, N, 3) = ({n}, {n}, 3) to match J")
    D = np.asarray(D, dtype=np.float64)
    finite = np.isfinite(D)
    if not finite.all():
        raise ValueError(f"D holds {np.count_nonzero(~finite)} non-finite entries; all DM "
                         "vectors must be finite")
    diag = np.abs(D[np.arange(n), np.arange(n)])
    if np.any(diag != 0.0):
        raise ValueError(f"D has a nonzero diagonal (max |D_ii| = {diag.max():g}); "
                         "D[i, i] must be exactly 0")
    DT = D.transpose(1, 0, 2)
    if not np.array_equal(DT, -D):
        asym = np.abs(D + DT).max()
        dmax = np.abs(D).max()
        if asym > DM_ANTISYMMETRY_RTOL * dmax:
            i, j, _ = np.unravel_index(np.argmax(np.abs(D + DT)), D.shape)
            raise ValueError(f"D is not antisymmetric (max |D[j, i] + D[i, j]| = {asym:g} at "
                             f"(i, j) = ({i}, {j}), max |D| = {dmax:g}); allowed: "
                             f"≤ {DM_ANTISYMMETRY_RTOL:g}·max|D|")
        D = 0.5 * (D - DT)
    return aligned.asarray(D)


def dm_scale(D: np.ndarray, J: np.ndarray) -> float:
    """rms|D| / rms|J| over the pairs i < j (nan if J ≡ 0): the /sample attr of issue 17."""
    d2 = float(np.einsum("ijk,ijk->", D, D))
    j2 = float(np.einsum("ij,ij->", J, J))
    return math.sqrt(d2 / j2) if j2 > 0 else math.nan


def _time_build(n: int = 1000, n_side: int = 17, cutoff: float = math.inf) -> None:
    """Time fert_levy_dm for n spins and n scatterers on an fcc box of n_side cells
    (the docstring's figure)."""
    import time

    from .. import geometry
    L = n_side
    rng = np.random.default_rng(1)
    sites = geometry.fcc_sites(L)
    pos = geometry.place_on_lattice(sites, n, rng)
    scat = place_scatterers(sites, pos, n, rng)
    box = np.full(3, float(L))
    fert_levy_dm(pos[:10], box, scat[:5], 1.0, 1.0, 0.3, 4.0, cutoff)  # compile
    t, c = time.perf_counter(), time.process_time()
    fert_levy_dm(pos, box, scat, 1.36, 1.0, 0.5 * math.pi, 4.0, cutoff)
    print(f"fert_levy_dm N = {n}, N_l = {n}, L = {L}, cutoff = {cutoff}: "
          f"{time.perf_counter() - t:.3f} s wall, {time.process_time() - c:.3f} s CPU")


if __name__ == "__main__":
    L_HALF = 8.5
    _time_build()
    _time_build(cutoff=L_HALF)
    _time_build(n=2000, n_side=22)
