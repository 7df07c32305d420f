"""The observables registry: one entry per time series of a run.

Each :class:`Observable` says what a measurement row holds: name, axes (hence the shape per
spin model, in terms of T temperatures, R ladders, P ladder pairs and 3 spin components),
dtype, units, description, the cost of one measurement and the kernel that computes it.
Generated from it: the /timeseries datasets of the HDF5 writer (shape, dtype, ``units``,
``description`` and ``axes`` attributes), the time-series listing of ``rkky-mc info``, and
the README table of time series (``python -m rkky_mc.observables_registry`` prints it;
tests/test_observables_registry.py checks that the README holds exactly that table).

This module is a plain-data catalogue (no numba, no h5py). The values themselves are
computed by :func:`rkky_mc.observables.measure`; an observable added here needs its kernel
there (see docs/architecture.md, "Storage and observables").

Axis letters (the ``axes`` attribute of each dataset): M measurement, T temperature,
R replica (ladder), P ladder pair, xyz one spin component, mu/nu the spin components of
ladders a and b of a pair.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spins import SPIN_TYPES

SPINS = tuple(SPIN_TYPES)

# placeholder in ``units``: replaced by the model's energy unit (hdf5.ENERGY_UNITS)
ENERGY_UNIT = "{energy_unit}"


@dataclass(frozen=True)
class Observable:
    """One time series: a row of shape ``shape(spin, T, R, P)`` per measurement."""

    name: str
    dtype: type
    axes: dict          # spin -> axis letters after M, e.g. ("T", "R", "xyz")
    units: str          # may hold ENERGY_UNIT
    description: dict   # spin -> text (the dataset's ``description`` attribute)
    cost: str           # work of one measurement (W = T·R walkers, N spins, n_b stored bonds)
    kernel: dict        # spin -> the function(s) that compute it
    optional: bool = False  # a writer may leave it NaN; files of older versions may lack it
    summary: str = ""   # one line for the README table and `info` (default: description)

    def row_shape(self, spin: str, T: int, R: int, P: int) -> tuple:
        """Shape of one row for ``spin`` ("ising" | "heisenberg")."""
        sizes = {"T": int(T), "R": int(R), "P": int(P), "xyz": 3, "mu": 3, "nu": 3}
        return tuple(sizes[a] for a in self.axes[spin])

    def axes_attr(self, spin: str) -> str:
        """The ``axes`` attribute of the dataset: "M,T,R", ..."""
        return ",".join(("M", *self.axes[spin]))

    def units_for(self, energy_unit: str) -> str:
        return self.units.replace(ENERGY_UNIT, energy_unit)


def _same(value):
    return {spin: value for spin in SPINS}


_K = "rkky_mc.kernels."
# the chiral series: computed for Heisenberg spins, NaN for Ising spins (no chirality)
_CHIRAL_KERNEL = {"ising": "none (NaN: Ising spins have no chirality)",
                  "heisenberg": _K + "chirality.chiral_measure"}

REGISTRY: dict[str, Observable] = {o.name: o for o in (
    Observable(
        "sweep", np.int64, _same(()), "sweeps",
        _same("sweep s (0-based) after which the measurement was taken; rows with "
              "s < anneal.thermalization belong to the thermalization"),
        cost="O(1)", kernel=_same("Simulation.run (the sweep counter)"),
        summary="sweep (0-based) after which the measurement was taken"),
    Observable(
        "energy", np.float64, _same(("T", "R")), ENERGY_UNIT,
        _same("energy per spin e = H/N of the walker at temperature t of ladder r, "
              "H = -Σ_{i<j} J_ij S_i·S_j - h Σ_i S_i^z"),
        cost="O(W·N) (from the local fields, after each sweep)",
        kernel={"ising": _K + "fields.ising_energies",
                "heisenberg": _K + "fields.heisenberg_energies"},
        summary="energy per spin"),
    Observable(
        "magnetization", np.float64, {"ising": ("T", "R"), "heisenberg": ("T", "R", "xyz")},
        "1 (spin length)",
        {"ising": "magnetization per spin m = (1/N) Σ_i s_i",
         "heisenberg": "magnetization per spin, vector m_μ = (1/N) Σ_i S_iμ (last axis x, y, z)"},
        cost="O(W·N)",
        kernel={"ising": _K + "measure.ising_magnetization",
                "heisenberg": _K + "measure.heisenberg_magnetization"},
        summary="Ising m per spin; Heisenberg the vector m"),
    Observable(
        "overlap", np.float64, {"ising": ("T", "P"), "heisenberg": ("T", "P", "mu", "nu")}, "1",
        {"ising": "Edwards-Anderson overlap q = (1/N) Σ_i s_i^a s_i^b of ladders (a, b) = "
                  "pairs[p] at temperature t",
         "heisenberg": "overlap tensor q_μν = (1/N) Σ_i S_iμ^a S_iν^b of ladders (a, b) = pairs[p] "
                       "at temperature t; q² = Σ_μν q_μν²"},
        cost="O(T·P·N) (9 T·P·N for Heisenberg), with overlap_k2",
        kernel={"ising": _K + "measure.ising_overlap",
                "heisenberg": _K + "measure.heisenberg_overlap"},
        summary="Ising q_ab = Σ s_i^a s_i^b / N; Heisenberg q_μν = Σ S_iμ^a S_iν^b / N"),
    Observable(
        "overlap_k2", np.float64, _same(("T", "P")), "1",
        _same("(1/3) Σ_{k = 2π/L x̂, ŷ, ẑ} Σ_μν |q_μν(k)|², q_μν(k) = (1/N) Σ_i "
              "S_iμ^a S_iν^b e^{ik·R_i} (Ising: |q(k)|²); NaN for models without positions"),
        cost="O(T·P·N) (in the overlap kernel)",
        kernel={"ising": _K + "measure.ising_overlap",
                "heisenberg": _K + "measure.heisenberg_overlap"},
        summary="(1/3) Σ_{k = 2π/L x̂,ŷ,ẑ} Σ_μν \\|q_μν(k)\\|² (NaN for models without positions)"),
    Observable(
        "link_overlap", np.float64, _same(("T", "P")), "1",
        _same("J²-weighted link overlap q_l = Σ_{i<j} J_ij² (S_i^a·S_j^a)(S_i^b·S_j^b) "
              "/ Σ_{i<j} J_ij²; NaN when not measured"),
        cost="O(T·P·N²) dense, O(T·P·n_b) CSR (anneal.link_overlap = false skips it)",
        kernel={"ising": _K + "measure.ising_link_overlap_dense | ising_link_overlaps_csr",
                "heisenberg": _K + "measure.heisenberg_link_overlap_dense | "
                                   "heisenberg_link_overlaps_csr"},
        optional=True,
        summary="Σ_{i<j} J_ij² (S_i^a·S_j^a)(S_i^b·S_j^b) / Σ_{i<j} J_ij² (NaN if switched off)"),
    Observable(
        "link_overlap_bonds", np.float64, _same(("T", "P")), "1",
        _same("unweighted bond overlap q_b = (1/N_b) Σ_{i<j, J_ij ≠ 0} "
              "(S_i^a·S_j^a)(S_i^b·S_j^b), N_b the number of pairs with a stored "
              "J_ij ≠ 0 (Ising: s_i s_j); measured for CSR-stored couplings only "
              "(EA, RKKY with a cutoff, sparse = \"csr\"); NaN for dense storage "
              "and when the link overlap is not measured"),
        cost="O(T·P·n_b) (CSR only, in the link-overlap kernel)",
        kernel={"ising": _K + "measure.ising_link_overlaps_csr",
                "heisenberg": _K + "measure.heisenberg_link_overlaps_csr"},
        optional=True,
        summary="unweighted bond overlap (1/N_b) Σ_{i<j, J_ij ≠ 0} (S_i^a·S_j^a)(S_i^b·S_j^b), "
                "N_b = number of such pairs; CSR-stored couplings only (EA, RKKY with a cutoff, "
                "`sparse = \"csr\"`), NaN for dense storage and if switched off. Files written "
                "before it existed lack it: `read_run` fills NaN, a resume creates it (NaN for "
                "the old rows)"),
    Observable(
        "chiral_overlap", np.float64, _same(("T", "P")), "1",
        {"ising": "chiral overlap; Ising spins have no chirality: NaN",
         "heisenberg": "chiral overlap q_χ = (1/N_t) Σ_t κ_t^a κ_t^b of ladders (a, b) = "
                       "pairs[p] at temperature t, κ_t = S_j·(S_i × S_k) for the triplet rows "
                       "(j, i, k) of /sample/triplets; NaN without triplets"},
        cost="O(W·N_t + T·P·N_t) (κ once per walker, with chirality_sq)",
        kernel=_CHIRAL_KERNEL,
        optional=True,
        summary="Heisenberg chiral overlap q_χ = (1/N_t) Σ_t κ_t^a κ_t^b, κ_t = S_j·(S_i × S_k) "
                "over the rows (j, i, k) of `/sample/triplets`; NaN without triplets and for "
                "Ising spins"),
    Observable(
        "chiral_overlap_k2", np.float64, _same(("T", "P")), "1",
        {"ising": "chiral overlap at k_min; Ising spins have no chirality: NaN",
         "heisenberg": "(1/3) Σ_{k = 2π/L x̂, ŷ, ẑ} |q_χ(k)|², q_χ(k) = (1/N_t) Σ_t κ_t^a "
                       "κ_t^b e^{ik·R_t}, R_t the centroid of triplet t (minimum image); "
                       "NaN without triplets or positions"},
        cost="O(T·P·N_t) (with chiral_overlap)",
        kernel=_CHIRAL_KERNEL,
        optional=True,
        summary="(1/3) Σ_{k = 2π/L x̂,ŷ,ẑ} \\|q_χ(k)\\|², each triplet at the centroid of its "
                "sites; NaN without triplets / positions and for Ising spins"),
    Observable(
        "chirality_sq", np.float64, _same(("T", "R")), "1",
        {"ising": "mean squared chirality; Ising spins have no chirality: NaN",
         "heisenberg": "mean squared chirality (1/N_t) Σ_t κ_t² of the walker at temperature "
                       "t of ladder r (2/9 at T = ∞); NaN without triplets"},
        cost="O(W·N_t) (with chiral_overlap)",
        kernel=_CHIRAL_KERNEL,
        optional=True,
        summary="Heisenberg (1/N_t) Σ_t κ_t² per walker (2/9 at T = ∞); NaN without triplets "
                "and for Ising spins"),
    Observable(
        "walker", np.int32, _same(("T", "R")), "index",
        _same("which walker of ladder r sits at temperature t (its index within the "
              "ladder, 0..T-1; global walker index r·T + walker)"),
        cost="O(W) (from the temperature permutation)",
        kernel=_same("rkky_mc.observables.measure (from Simulation.perm)"),
        summary="which walker of ladder r sits at temperature t"),
)}

# time series that a writer may omit (left NaN) and that files of older versions may lack
OPTIONAL_SERIES = tuple(name for name, o in REGISTRY.items() if o.optional)


def names() -> list[str]:
    """Every time series, in file order."""
    return list(REGISTRY)


def timeseries_specs(spin: str, T: int, R: int, P: int, energy_unit: str) -> dict:
    """name -> (row shape, dtype, axes, units, description): the /timeseries layout."""
    return {name: (o.row_shape(spin, T, R, P), o.dtype, o.axes_attr(spin),
                   o.units_for(energy_unit), o.description[spin])
            for name, o in REGISTRY.items()}


def _shape_text(o: Observable) -> str:
    def one(spin):
        return "(" + ", ".join(("M", *[{"xyz": "3", "mu": "3", "nu": "3"}.get(a, a)
                                       for a in o.axes[spin]])) + ")"
    shape = one("ising")
    if o.axes["ising"] != o.axes["heisenberg"]:
        shape += " or " + one("heisenberg")
    if len(o.axes["ising"]) == 0:
        shape = "(M,)"
    if np.dtype(o.dtype) != np.float64:
        shape += " " + np.dtype(o.dtype).name
    return shape


def readme_rows() -> list[str]:
    """The /timeseries rows of the README table of the HDF5 contract (markdown)."""
    return [f"| `/timeseries/{name}` | {_shape_text(o)} | {o.summary or o.description['ising']} |"
            for name, o in REGISTRY.items()]


def info_lines(spin: str, T: int, R: int, P: int, energy_unit: str = "energy unit") -> list[str]:
    """`rkky-mc info` listing: one line per time series with its row shape, units, cost."""
    out = []
    for name, o in REGISTRY.items():
        shape = "(M" + "".join(f", {d}" for d in o.row_shape(spin, T, R, P)) + ")"
        out.append(f"    {name:<19} {shape:<18} {o.units_for(energy_unit):<16} {o.cost}")
    return out


def write_readme(path) -> None:
    """Replace the /timeseries rows of the table in ``path`` (README.md) by the generated ones."""
    from pathlib import Path

    lines = Path(path).read_text().split("\n")
    rows = [i for i, line in enumerate(lines) if line.startswith("| `/timeseries/")]
    if not rows or rows != list(range(rows[0], rows[-1] + 1)):
        raise SystemExit(f"{path}: no contiguous block of | `/timeseries/...` rows")
    lines[rows[0]:rows[-1] + 1] = readme_rows()
    Path(path).write_text("\n".join(lines))


if __name__ == "__main__":  # print the README table rows, or rewrite them in place
    import sys

    if sys.argv[1:2] == ["--write"] and len(sys.argv) == 3:
        write_readme(sys.argv[2])
    else:
        print("\n".join(readme_rows()))
