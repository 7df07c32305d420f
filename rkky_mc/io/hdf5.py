"""The crash-safe HDF5 backend: one file per run, every commit a new generation.

A thin wrapper: the generations (copy to .tmp, append, fsync, link .prev, rename) live in
:mod:`rkky_mc.checkpoint`, the file layout in :mod:`rkky_mc.hdf5` (RunWriter, read_run).
Both are part of the storage layer; only they, this module and the analysis IO import h5py.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py

from .. import checkpoint
from ..hdf5 import RunWriter, _attrs, check_rkky_mc_file, read_run
from .base import Recorder, RunLayout


def library_versions() -> dict:
    """h5py and HDF5 library versions (for /provenance)."""
    return {"h5py_version": h5py.__version__, "hdf5_version": h5py.version.hdf5_version}


class HDF5Recorder(Recorder):
    """A run file at ``path`` (see rkky_mc.checkpoint for the commit protocol)."""

    backend = "hdf5"

    def __init__(self, path):
        self.path = Path(path)

    @property
    def location(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists() or checkpoint.prev_path(self.path).exists()

    def create(self, layout: RunLayout, state: dict, meta: dict, replace: bool = False) -> None:
        def make_writer(tmp):
            writer = RunWriter(str(tmp), layout.cfg, layout.sample, layout.provenance, layout.spin,
                               layout.temperatures, layout.R, layout.n_rows,
                               positions=layout.positions, box=layout.box,
                               store_couplings=layout.store_couplings)
            sample_cfg = getattr(layout.cfg, "sample", None)
            if getattr(sample_cfg, "model", None) == "file":  # found again if both move together
                run_dir = os.path.dirname(os.path.realpath(self.path))
                writer.set_attrs("sample", {"file_relative_to_run": os.path.relpath(
                    os.path.abspath(sample_cfg.path), run_dir)})
            return writer

        checkpoint.create(self.path, make_writer, state, meta, replace=replace)

    def commit(self, rows, state, meta, tempering=None, finished=False, finish_info=None,
               resize=None, root_attrs=None, provenance=None, generation=None,
               groups=None) -> int:
        return checkpoint.commit(self.path, rows, state, meta, tempering=tempering,
                                 finished=finished, finish_info=finish_info, resize=resize,
                                 root_attrs=root_attrs, provenance=provenance,
                                 generation=generation, groups=groups)

    def recover(self) -> tuple[dict, dict]:
        state, meta, path = checkpoint.recover(self.path)
        self.path = Path(path)
        return state, meta

    def read(self, couplings: bool = False):
        return read_run(self.path, couplings=couplings)

    def read_series(self, name: str):
        check_rkky_mc_file(self.path)
        with h5py.File(str(self.path), "r", locking=False) as f:
            return f["timeseries"][name][:int(f.attrs["n_valid"])]

    def _group_attrs(self, group: str) -> dict:
        check_rkky_mc_file(self.path)
        with h5py.File(str(self.path), "r", locking=False) as f:
            if group == "/":
                return _attrs(f)
            return _attrs(f[group]) if group in f else {}

    def root_attrs(self) -> dict:
        return self._group_attrs("/")

    def sample_attrs(self) -> dict:
        return self._group_attrs("sample")

    def checkpoint_meta(self) -> dict:
        return self._group_attrs(checkpoint.GROUP)

    def ladder(self) -> tuple:
        check_rkky_mc_file(self.path)
        with h5py.File(str(self.path), "r", locking=False) as f:
            return f["temperatures"][()], int(f["timeseries"].attrs["R"])
