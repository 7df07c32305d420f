"""The observables registry drives the file layout, `info` and the README table."""
from __future__ import annotations

import numpy as np

from rkky_mc import observables_registry as reg
from rkky_mc.hdf5 import _timeseries_specs
from tests.conftest import REPO


def test_readme_table_is_the_generated_one():
    """README's /timeseries rows == `python -m rkky_mc.observables_registry` (regenerate)."""
    lines = (REPO / "README.md").read_text().splitlines()
    have = [ln for ln in lines if ln.startswith("| `/timeseries/")]
    assert have == reg.readme_rows()


def test_shapes_per_spin_model():
    T, R, P = 4, 3, 3
    ising = {n: o.row_shape("ising", T, R, P) for n, o in reg.REGISTRY.items()}
    heis = {n: o.row_shape("heisenberg", T, R, P) for n, o in reg.REGISTRY.items()}
    # the contract in DESIGN.md, "HDF5"
    assert ising == {"sweep": (), "energy": (4, 3), "magnetization": (4, 3), "overlap": (4, 3),
                     "overlap_k2": (4, 3), "link_overlap": (4, 3), "link_overlap_bonds": (4, 3),
                     "walker": (4, 3), "chiral_overlap": (4, 3), "chiral_overlap_k2": (4, 3),
                     "chirality_sq": (4, 3)}
    assert heis["chiral_overlap"] == (4, 3) and heis["chirality_sq"] == (4, 3)
    assert heis["magnetization"] == (4, 3, 3) and heis["overlap"] == (4, 3, 3, 3)
    assert {n: np.dtype(o.dtype).name for n, o in reg.REGISTRY.items()} == {
        "sweep": "int64", "walker": "int32", **{n: "float64" for n in reg.REGISTRY
                                                 if n not in ("sweep", "walker")}}
    assert reg.OPTIONAL_SERIES == ("link_overlap", "link_overlap_bonds", "chiral_overlap",
                                   "chiral_overlap_k2", "chirality_sq")


def test_every_entry_is_complete_and_its_kernel_exists():
    import importlib

    for o in reg.REGISTRY.values():
        assert o.cost and o.units and set(o.description) == set(o.axes) == set(reg.SPINS)
        for spin in reg.SPINS:
            target = o.kernel[spin]
            if not target.startswith("rkky_mc.kernels."):
                continue  # computed outside a kernel (sweep counter, temperature permutation)
            first, *others = [t.strip() for t in target.split(" | ")]
            module_name, name = first.rsplit(".", 1)
            module = importlib.import_module(module_name)
            for fn in [name, *others]:
                assert hasattr(module, fn), (o.name, fn)

def test_writer_specs_come_from_the_registry():
    specs = _timeseries_specs("heisenberg", 2, 2, 1, "J0")
    assert list(specs) == reg.names()
    assert specs["energy"][3] == "J0" and specs["overlap"][2] == "M,T,P,mu,nu"


def test_info_lists_every_series(tmp_path):
    import rkky_mc
    from rkky_mc.info import describe

    rkky_mc.run({"sample": {"model": "sk", "N": 6, "seed": 1},
                 "anneal": {"temperatures": [1.0, 2.0], "replicas": 2, "thermalization": 1,
                            "sweeps": 3, "seed": 1}}, backend="hdf5", output=tmp_path / "a.h5",
                threads=None)
    text = describe(tmp_path / "a.h5")
    for line in reg.info_lines("ising", 2, 2, 1, "J (SK: J_ij ~ N(0, J²/N), J = 1)"):
        assert line in text


def test_only_the_storage_layer_imports_h5py():
    """h5py is imported by the storage modules (io/, hdf5.py, checkpoint.py) and the analysis
    IO only."""
    import re

    allowed = {"rkky_mc/hdf5.py", "rkky_mc/checkpoint.py"}
    pattern = re.compile(r"^\s*(import h5py|from h5py)", re.M)
    users = {str(p.relative_to(REPO)) for p in (REPO / "rkky_mc").rglob("*.py")
             if pattern.search(p.read_text())}
    users = {u for u in users if not u.startswith(("rkky_mc/io/", "rkky_mc/analysis/"))}
    assert users <= allowed, sorted(users - allowed)
