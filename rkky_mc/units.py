"""Physical units: host-metal presets (lattice constant, k_F, E_F) and the kelvin scale of J0.

The simulation itself is unit-free: lengths in host cubic lattice constants ``a``, ``kf`` in
1/a, energies and temperatures in units of the coupling scale J0 (k_B = 1). This module
turns those into Å, Å⁻¹, eV and K for the run file and the tables; nothing here enters the
couplings or the Monte Carlo (a run with ``sample.host = "Cu"`` has the bits of the same run
without it).

Host presets (``sample.host``): fcc noble metals with one conduction electron per atom.

- Lattice constants a (Å, room temperature): Cu 3.615, Ag 4.086, Au 4.078, the values of
  issue 19; Ashcroft & Mermin, *Solid State Physics* (1976), Table 4.1, rounds them to
  3.61, 4.09 and 4.08.
- Free-electron Fermi wave number: n = 4 electrons per cubic cell of volume a³ (fcc: 4
  atoms per cell, valence 1), k_F = (3π² n)^(1/3) = (12π²)^(1/3) / a. So k_F a =
  (12π²)^(1/3) = 4.910891 for every monovalent fcc host: the default ``sample.kf``; the
  preset changes the units, never the couplings. k_F = 1.3585, 1.2019, 1.2042 Å⁻¹.
- Free-electron Fermi energy E_F = ħ² k_F² / (2 m_e): 7.03, 5.50, 5.53 eV.

Energy scale (``sample.J0_kelvin``): kelvin per energy unit of the couplings. It is not
known from first principles here; ``rkky-mc calibrate`` fits it to one measured T_g.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# k_F a of a free-electron metal with 4 conduction electrons per cubic cell (monovalent fcc):
# (3π² · 4)^(1/3). The default sample.kf (config.KF_FREE_ELECTRON_FCC is this number).
KF_FREE_ELECTRON_FCC = (12.0 * math.pi**2) ** (1.0 / 3.0)

# CODATA 2018 (SI since 2019: h and e exact). Hard-coded: scipy is only a test dependency.
PLANCK_J_S = 6.62607015e-34                 # h, exact
HBAR_J_S = PLANCK_J_S / (2.0 * math.pi)     # ħ = 1.054571817...e-34 J s
ELECTRON_MASS_KG = 9.1093837015e-31         # m_e (CODATA 2018, rel. unc. 3e-10)
ELEMENTARY_CHARGE_C = 1.602176634e-19       # e, exact (J per eV)
# ħ²/(2 m_e) in eV Å² (= 3.80998 eV Å²): E_F [eV] = this × (k_F [1/Å])²
HBAR2_OVER_2ME_EV_A2 = HBAR_J_S**2 / (2.0 * ELECTRON_MASS_KG) / ELEMENTARY_CHARGE_C * 1e20


@dataclass(frozen=True)
class Host:
    """A host-metal preset: fcc lattice, cubic lattice constant a in Å, valence."""

    name: str
    lattice_constant_angstrom: float
    lattice: str = "fcc"
    valence: int = 1


# sources: see the module docstring
HOSTS = {
    "Cu": Host("Cu", 3.615),
    "Ag": Host("Ag", 4.086),
    "Au": Host("Au", 4.078),
}


def kf_times_a(host: Host) -> float:
    """Free-electron k_F·a (dimensionless) of ``host``: (3π² · 4 · valence)^(1/3) on fcc (4
    atoms per cubic cell). For valence 1 this is exactly KF_FREE_ELECTRON_FCC (same bits)."""
    if host.valence == 1:
        return KF_FREE_ELECTRON_FCC
    return (3.0 * math.pi**2 * 4 * host.valence) ** (1.0 / 3.0)


def kf_per_angstrom(host: Host, kf: float | None = None) -> float:
    """k_F in 1/Å: ``kf`` (in 1/a, the config's sample.kf) / a; the free-electron value of
    the host if ``kf`` is None."""
    return (kf_times_a(host) if kf is None else float(kf)) / host.lattice_constant_angstrom


def fermi_energy_ev(kf_inv_angstrom: float) -> float:
    """Free-electron Fermi energy ħ² k_F² / (2 m_e) in eV, k_F in 1/Å."""
    return HBAR2_OVER_2ME_EV_A2 * float(kf_inv_angstrom) ** 2


def kf_overridden(sample) -> bool:
    """Whether ``sample`` (a config's [sample]) sets a host and a kf other than the host's
    free-electron value (the explicit kf wins: couplings and kf_per_angstrom use it)."""
    host = HOSTS.get(getattr(sample, "host", "") or "")
    return host is not None and float(sample.kf) != kf_times_a(host)


def sample_unit_attrs(sample) -> dict:
    """Attributes of /sample for the units of ``sample`` (a config's [sample]): host,
    impurity, lattice_constant_angstrom, kf_per_angstrom, fermi_energy_ev (when a host is
    set), J0_kelvin (when set). Empty for a run with none of them (the layout of old runs)."""
    attrs: dict = {}
    if sample is None:
        return attrs
    name = getattr(sample, "host", "") or ""
    if getattr(sample, "impurity", ""):
        attrs["impurity"] = str(sample.impurity)
    if name in HOSTS:
        host = HOSTS[name]
        k = kf_per_angstrom(host, sample.kf)
        attrs.update(host=name, lattice_constant_angstrom=host.lattice_constant_angstrom,
                     kf_per_angstrom=k, fermi_energy_ev=fermi_energy_ev(k),
                     kf_source="sample.kf (explicit)" if kf_overridden(sample)
                     else "free electron, one per atom")
    if getattr(sample, "J0_kelvin", None) is not None:
        attrs["J0_kelvin"] = float(sample.J0_kelvin)
    return attrs


# ---- temperatures ---------------------------------------------------------------------------


def j0_kelvin(cfg) -> float | None:
    """Kelvin per coupling unit of a Config (None if unknown or not a Config)."""
    value = getattr(getattr(cfg, "sample", None), "J0_kelvin", None)
    return None if value is None else float(value)


def temperatures_in_j0(temperatures, unit: str, J0_kelvin: float | None):
    """The ladder in coupling units (what the simulation uses and /temperatures holds):
    the given values if ``unit`` is "J0", T_K / J0_kelvin if "K" (one float64 division
    per temperature, so a resumed run that reloads the stored config gets the same bits)."""
    import numpy as np

    t = np.asarray(temperatures, dtype=np.float64)
    if unit == "K":
        return t / np.float64(J0_kelvin)
    return t


def temperatures_kelvin(temperatures_j0, J0_kelvin: float | None):
    """/temperatures_kelvin: /temperatures × J0_kelvin (None when J0_kelvin is unknown)."""
    import numpy as np

    if J0_kelvin is None:
        return None
    return np.asarray(temperatures_j0, dtype=np.float64) * np.float64(J0_kelvin)


def j0_kelvin_of_run(run) -> float | None:
    """J0_kelvin of a read run (rkky_mc.hdf5.RunData): from its stored config."""
    value = dict(getattr(run, "config", {}) or {}).get("sample", {}).get("J0_kelvin")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None
