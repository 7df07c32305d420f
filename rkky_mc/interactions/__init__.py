"""Interactions beyond the scalar coupling matrix J: Dzyaloshinskii–Moriya vectors (dm.py)."""
