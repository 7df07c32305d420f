"""Groups of samples with the same physical parameters, and series of groups that differ only in
size."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from .samples import _merge, _size_name

# ---- groups ---------------------------------------------------------------------------------


@dataclass
class Group:
    key: tuple
    label: str
    series: str
    samples: list
    n_files: int
    params: dict = field(default_factory=dict)

    @property
    def model(self):
        return self.params["model"]

    @property
    def spin(self):
        return self.params["spin"]

    @property
    def N(self):
        return self.params["N"]

    @property
    def L(self):
        return self.samples[0].L

    @property
    def size_name(self):
        return _size_name(self.model)

    @property
    def size(self):
        return self.L if self.size_name == "L" else self.N

    @property
    def temperatures(self):
        return self.samples[0].temperatures

    @property
    def J0_kelvin(self) -> float:
        """Kelvin per coupling unit (part of the group key, so one per group); NaN if unset."""
        k = self.samples[0].J0_kelvin
        return math.nan if k is None else float(k)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _series_key(key: tuple) -> tuple:
    return tuple((k, v) for k, v in key if k not in ("N", "L", "temperatures"))


def _series_label(params: dict) -> str:
    parts = [params["model"], params["spin"]]
    if params["model"] == "rkky":
        parts.append(str(params.get("lattice", "")))
        parts.append(f"c{_fmt(params.get('concentration'))}")
    if params["model"] == "ea":
        parts.append(str(params.get("distribution", "")))
    if params.get("field"):
        parts.append(f"h{_fmt(params['field'])}")
    if params.get("dm"):
        parts.append(f"dm-{params['dm']}" + (f"{_fmt(params['dm_strength'])}"
                                             if "dm_strength" in params else ""))
    return "_".join(parts)


def _short_hash(obj) -> str:
    return hashlib.sha1(repr(obj).encode()).hexdigest()[:6]


def make_groups(samples: list, warn=None) -> list:
    """Group samples by physical parameters, merge files of one disorder sample, label."""
    warn = warn or (lambda msg: None)
    by_key: dict = {}
    for s in samples:
        by_key.setdefault(s.key, []).append(s)
    # series labels, unique per series key
    series_keys = sorted({_series_key(k) for k in by_key}, key=repr)
    series_label, used = {}, {}
    for sk in series_keys:
        base = _series_label(dict(sk))
        used.setdefault(base, []).append(sk)
    for base, keys in used.items():
        for sk in keys:
            series_label[sk] = base if len(keys) == 1 else f"{base}_{_short_hash(sk)}"
    groups = []
    labels: dict = {}
    for key in sorted(by_key, key=repr):
        params = dict(key)
        files = by_key[key]
        by_sha: dict = {}
        for s in files:
            by_sha.setdefault(s.sha256 or s.paths[0], []).append(s)
        merged = [_merge(v) for v in by_sha.values()]
        n_dup = sum(len(v) - 1 for v in by_sha.values() if len(v) > 1)
        ser = series_label[_series_key(key)]
        size_name = _size_name(params["model"])
        size = files[0].L if size_name == "L" else params["N"]
        label = f"{ser}_{size_name}{_fmt(size)}"
        labels.setdefault(label, []).append(key)
        g = Group(key=key, label=label, series=ser, samples=merged, n_files=len(files), params=params)
        groups.append(g)
        if n_dup:
            warn(f"{label}: {n_dup} file(s) repeat the couplings (sha256) of another file of "
                 "the group: each set of files with one disorder sample counts once (their "
                 "thermal averages are averaged)")
        n_qb = sum(bool(np.isfinite(m.thermal["qb"]).any()) for m in merged)
        if 0 < n_qb < len(merged):
            warn(f"{label}: {len(merged) - n_qb} of {len(merged)} samples have no "
                 "link_overlap_bonds (files written before rkky_mc measured it): no q_b "
                 "or EA Gaussian identity rows for this group (ql_implied instead)")
    for label, keys in labels.items():
        if len(keys) > 1:  # same size in one series, different temperature ladders
            for g in groups:
                if g.label == label:
                    g.label = f"{label}_T{_short_hash(dict(g.key)['temperatures'])}"
    return groups
