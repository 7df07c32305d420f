"""rkky_mc — Monte Carlo for canonical (RKKY) spin glasses."""

__version__ = "0.1.0"

FORMAT = "rkky_mc"
FORMAT_VERSION = 1
