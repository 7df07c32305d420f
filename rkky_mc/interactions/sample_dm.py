"""DM vectors of a run's sample: ``sample.dm`` and the ``.npz`` coupling file (plain Python).

``couplings.build_sample`` calls :func:`attach_dm` when ``sample.dm`` ≠ "none" or a ``.npz``
coupling file holds ``D``; the models themselves are in interactions/dm.py. The Sample then
carries ``dm`` = Dc (3, N, N) float64 (kernels/dm.py's layout), and

* ``sha256`` = sha256 of J's float64 C-order bytes followed by Dc's (component-major) bytes,
  so ``resume`` refuses a changed D; a sample without D keeps the J-only digest;
* ``dm_attrs`` (the /sample attributes): ``dm`` ("random" | "fert_levy" | "file"), the model's
  keys (``dm_strength``, ``dm_concentration``, ``dm_phase``, ``dm_scatterers``) and
  ``dm_rms_ratio`` = rms|D| / rms|J| over the pairs;
* ``scatterers`` (fert_levy): the (N_l, 3) scatterer positions (``/sample/scatterers``).

The DM draws (random d̂_ij, fert_levy scatterer sites) come from
``interactions.dm.dm_generator(sample.seed)``, a SeedSequence spawn of their own: positions
and J keep their bits whatever DM model is chosen.

``.npz`` contract (``sample.model = "file"`` with a path ending in ``.npz``):

* ``J`` (N, N): required, checked like the ``.npy`` matrix (real, finite, zero diagonal,
  symmetric to 1e-12 relative);
* ``D`` (N, N, 3), optional: real, finite, D[i, i] = 0, D[j, i] = −D[i, j] to 1e-12
  relative (interactions.dm.validate_dm); used as given, so ``sample.dm`` must stay "none";
  it needs ``sample.spin = "heisenberg"``, dense storage and float64;
* ``positions`` (N, 3) and ``box`` (3,), optional, together, in lattice units: finite, box
  sides > 0. They feed overlap_k2 and the chirality triplets.

No other array is allowed. Every violation is a ConfigError naming the key and the value.
"""
from __future__ import annotations

import hashlib
import math

import numpy as np

from ..config import ConfigError, check_dm_storage
from .dm import dm_generator, fert_levy_dm, place_scatterers, random_dm, validate_dm

NPZ_ARRAYS = ("J", "D", "positions", "box")


def read_npz(path, cfg) -> dict:
    """The arrays of a ``.npz`` coupling file, checked (module docstring): dict(J, dm (N, N, 3)
    or None, positions, box, scale)."""
    from ..models.file import check_file_matrix

    key, value = "sample.path", cfg.path
    try:
        archive = np.load(path, allow_pickle=False)
        names = list(archive.files)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        raise ConfigError(key, value, f"not a readable .npz archive ({type(exc).__name__}: "
                          f"{exc}); must hold J (N, N) and optionally D, positions, box") from None
    with archive:
        unknown = sorted(set(names) - set(NPZ_ARRAYS))
        if unknown:
            raise ConfigError(key, value, f"holds arrays {unknown}; allowed: {', '.join(NPZ_ARRAYS)}")
        if "J" not in names:
            raise ConfigError(key, value, "holds no array 'J'; a .npz coupling file needs J (N, N)")
        if ("positions" in names) != ("box" in names):
            raise ConfigError(key, value, "holds only one of 'positions' and 'box'; give both or neither")
        try:
            arrays = {name: archive[name] for name in names}
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(key, value, f"not a readable .npz archive ({type(exc).__name__}: "
                              f"{exc})") from None
    J = check_file_matrix(arrays["J"], key, value)
    n = J.shape[0]
    D = arrays.get("D")
    if D is not None:
        if cfg.spin != "heisenberg":
            raise ConfigError("sample.spin", cfg.spin, f"the coupling file {value!r} holds DM "
                              "vectors D: they need 'heisenberg'")
        if cfg.dm != "none":
            raise ConfigError("sample.dm", cfg.dm, f"the coupling file {value!r} holds D (used as "
                              "given); use 'none', or drop D from the file")
        try:
            D = validate_dm(D, J)
        except ValueError as exc:
            raise ConfigError(key, value, str(exc)) from None
    positions = box = None
    if "positions" in arrays:
        positions, box = arrays["positions"], arrays["box"]
        for name, a, shape in (("positions", positions, (n, 3)), ("box", box, (3,))):
            if not isinstance(a, np.ndarray) or a.dtype.kind not in "iuf" or a.shape != shape:
                raise ConfigError(key, value, f"array {name!r} has shape {getattr(a, 'shape', '?')} "
                                  f"{getattr(a, 'dtype', '')}; must be real {shape} (N = {n})")
            if not np.all(np.isfinite(a)):
                raise ConfigError(key, value, f"array {name!r} holds non-finite entries; must be finite")
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        box = np.ascontiguousarray(box, dtype=np.float64)
        if not np.all(box > 0):
            raise ConfigError(key, value, f"box = {box.tolist()}; its sides must be > 0")
    return dict(J=J, dm=D, positions=positions, box=box, scale={})


def dm_sha256(J: np.ndarray, Dc: np.ndarray) -> str:
    """sha256 of J's float64 bytes then Dc's (3, N, N) bytes, both C order."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(J, dtype=np.float64).data)
    h.update(np.ascontiguousarray(Dc, dtype=np.float64).data)
    return h.hexdigest()


def rms_ratio(Dc: np.ndarray, J: np.ndarray) -> float:
    """rms|D| / rms|J| over the pairs (nan if J ≡ 0); Dc (3, N, N) or D (N, N, 3)."""
    d2 = float(np.dot(Dc.ravel(), Dc.ravel()))
    j2 = float(np.einsum("ij,ij->", J, J))
    return math.sqrt(d2 / j2) if j2 > 0 else math.nan


def _fert_levy(sample, cfg) -> tuple[np.ndarray, np.ndarray]:
    from ..geometry import fcc_sites

    n_scat = round(cfg.dm_concentration * 4 * cfg.L**3)
    rng = dm_generator(cfg.seed)
    try:
        scat = place_scatterers(fcc_sites(cfg.L), sample.positions, n_scat, rng)
        D = fert_levy_dm(sample.positions, sample.box, scat, cfg.kf, cfg.dm_strength * cfg.J0,
                         cfg.dm_phase, cfg.damping, cfg.cutoff)
    except ValueError as exc:
        raise ConfigError("sample.dm", cfg.dm, str(exc)) from None
    return D, scat


def attach_dm(sample, cfg, file_dm=None) -> None:
    """Give ``sample`` (dense float64 J) its DM vectors: ``file_dm`` (N, N, 3) from a .npz,
    else the ``cfg.dm`` model. Sets sample.dm (3, N, N), sha256, dm_attrs, scatterers."""
    from ..kernels.dm import dm_components

    what = "the coupling file's D" if file_dm is not None else f"sample.dm = {cfg.dm!r}"
    J = sample.dense
    if J is None:
        check_dm_storage(what, "csr", "float64")
    if J.dtype != np.float64:
        check_dm_storage(what, "dense", str(J.dtype))
    attrs: dict = {}
    if file_dm is not None:
        D = file_dm
        attrs["dm"] = "file"
    elif cfg.dm == "random":
        D = random_dm(J, cfg.dm_strength, cfg.seed)
        attrs.update(dm="random", dm_strength=float(cfg.dm_strength))
    else:
        D, scat = _fert_levy(sample, cfg)
        sample.scatterers = scat
        attrs.update(dm="fert_levy", dm_strength=float(cfg.dm_strength),
                     dm_concentration=float(cfg.dm_concentration), dm_phase=float(cfg.dm_phase),
                     dm_scatterers=np.int64(len(scat)))
    Dc = dm_components(D)
    del D
    sample.dm = Dc
    sample.sha256 = dm_sha256(J, Dc)
    attrs["dm_rms_ratio"] = rms_ratio(Dc, J)
    sample.dm_attrs = attrs


def dm_pairs(Dc: np.ndarray) -> np.ndarray:
    """D (N, N, 3) of the component-major Dc (3, N, N): the layout files and HDF5 hold."""
    return np.ascontiguousarray(np.moveaxis(Dc, 0, 2))
