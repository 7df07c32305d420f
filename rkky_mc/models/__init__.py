"""Disorder models, one module each (``sample.model``): ``build(cfg, rng, base_dir)`` returns
the parts of a Sample — ``dense`` (an array or a couplings.LazyDense) or ``csr``,
``positions`` and ``box`` (None without geometry), ``scale`` (model-specific scales), and
optionally ``dm``. couplings.build_sample turns them into the Sample (precision, checksum,
pair count, rms coupling, DM vectors, chirality triplets).

A new model: one module here with ``build``, one line below, its name and keys in
config.py (``MODELS``, SampleConfig, checks; tests/test_seams.py checks the two lists agree).
"""
from __future__ import annotations

from . import ea, file, rkky, sk

MODEL_BUILDERS = {"rkky": rkky.build, "sk": sk.build, "ea": ea.build, "file": file.build}
