"""Scattering factors of the elements: X-ray f0(Q) and anomalous terms, f = Z, neutron lengths.

X-ray data come from xraydb (Waasmaier-Kirfel f0, Chantler f′ and f″);
neutron coherent scattering lengths from the built-in table
:data:`NEUTRON_SCATTERING_LENGTHS`, else from ``periodictable``.  The
Debye-Waller factor ``T = exp(-B Q^2 / 16 pi^2)`` lives here too.
"""

from __future__ import annotations

import warnings

import numpy as np

from .beam import _check_radiation

__all__ = ["NEUTRON_SCATTERING_LENGTHS", "scattering_factors"]

#: Coherent neutron scattering lengths b (fm), complex where the element
#: absorbs (b = b' + i b'').  Values from the NIST Center for Neutron Research
#: table (V. F. Sears, *Neutron News* 3, 26 (1992), with its later
#: revisions), as distributed with the ``periodictable`` package (version
#: 2.1.0); the test suite checks them against that package when it is
#: installed.
NEUTRON_SCATTERING_LENGTHS = {
    "H": -3.7409,
    "C": 6.6472,
    "N": 9.36,
    "O": 5.8037,
    "Mg": 5.375,
    "Al": 3.449,
    "Si": 4.15071,
    "P": 5.13,
    "S": 2.847,
    "Cl": 9.5792,
    "Ca": 4.7,
    "Ti": -3.37,
    "Mn": -3.75,
    "Fe": 9.45,
    "Co": 2.49,
    "Ni": 10.3,
    "Cu": 7.718,
    "Zn": 5.68,
    "Ga": 7.288,
    "Ge": 8.185,
    "As": 6.58,
    "Se": 7.97,
    "Br": 6.79,
    "Sr": 7.02,
    "Pd": 5.91,
    "Ag": 5.922,
    "Cd": 4.83 - 1.2j,
    "In": 4.065 - 0.054j,
    "Sn": 6.2239,
    "Te": 5.68,
    "I": 5.28,
    "Cs": 5.42,
    "Ba": 5.07,
    "Pt": 9.6,
    "Au": 7.9,
    "Pb": 9.4024,
}


def _xraydb():
    import xraydb

    return xraydb


_ELEMENT_SYMBOLS: set | None = None


def _element_symbols() -> set:
    global _ELEMENT_SYMBOLS
    if _ELEMENT_SYMBOLS is None:
        xdb = _xraydb()
        _ELEMENT_SYMBOLS = {xdb.atomic_symbol(z) for z in range(1, 99)}
    return _ELEMENT_SYMBOLS


def _base_element(symbol: str) -> str:
    """'Pb2+' -> 'Pb'."""
    return symbol.rstrip("0123456789+-")


def _check_elements(symbols, radiation: str) -> None:
    """Raise for a symbol that is no element (H to Cf), or an ion / a neutron length no table knows."""
    known = _element_symbols()
    bad = []
    for s in symbols:
        base = _base_element(s)
        if base not in known:
            bad.append(s)
        elif s != base:
            # an ion: only the X-ray f0 tables know ions
            if radiation != "xray" or s not in set(_xraydb().f0_ions()):
                bad.append(s)
    if bad:
        raise ValueError(
            f"unknown element symbol(s) {sorted(set(bad))}: give element symbols such as 'Pb', 'S', 'Se' "
            "(capitalised, H to Cf; ions such as 'Pb2+' only with radiation='xray')"
        )
    if radiation == "neutron":
        missing = [s for s in symbols if s not in NEUTRON_SCATTERING_LENGTHS]
        if missing:
            try:
                import periodictable  # noqa: F401
            except ImportError:
                raise ValueError(
                    f"no neutron scattering length for {sorted(set(missing))} in the built-in table "
                    f"({sorted(NEUTRON_SCATTERING_LENGTHS)}), and 'periodictable' (a dependency of napari-nxtomo, "
                    "which has the others) is not installed: install it"
                ) from None


def _neutron_b(symbol: str) -> complex:
    """Coherent scattering length (fm) of an element: the built-in table, else periodictable."""
    if symbol in NEUTRON_SCATTERING_LENGTHS:
        return complex(NEUTRON_SCATTERING_LENGTHS[symbol])
    import periodictable

    n = getattr(periodictable, symbol).neutron
    if n.b_c is None:
        raise ValueError(f"periodictable has no coherent scattering length for {symbol}")
    return complex(n.b_c, n.b_c_i or 0.0)


def _anomalous(xdb, symbol: str, energy_keV: float) -> tuple[float, float]:
    """(f′, f″) (electrons) of the Chantler tables at ``energy_keV``."""
    e_ev = float(energy_keV) * 1e3
    if not np.isfinite(e_ev) or e_ev <= 0:
        raise ValueError(f"energy_keV must be a positive number; got {energy_keV!r}")
    base = _base_element(symbol)
    emin, emax = (float(v) for v in (np.min(xdb.chantler_energies(base)), np.max(xdb.chantler_energies(base))))
    if not emin <= e_ev <= emax:
        raise ValueError(
            f"energy {energy_keV} keV is outside the Chantler tables for {base} "
            f"({emin / 1e3:.3g}-{emax / 1e3:.4g} keV); choose an energy inside that range"
        )
    return float(xdb.f1_chantler(base, e_ev)), float(xdb.f2_chantler(base, e_ev))


def scattering_factors(elements, q, radiation: str = "xray", energy_keV: float | None = None) -> np.ndarray:
    """Scattering factor of each element at each Q.

    Parameters
    ----------
    elements : sequence of str
        Element symbols, e.g. ``["Pb", "S"]`` (ions such as ``"Pb2+"`` for
        X-ray f0 only).
    q : (M,) array
        ``Q = 4 pi sin(theta) / lambda`` in Å⁻¹.
    radiation : {"xray", "constant", "neutron"}
        ``"xray"``: Waasmaier-Kirfel f0(Q) from xraydb (xraydb takes
        ``sin(theta)/lambda = Q / 4 pi``), plus the anomalous f′ + i f″ of the
        Chantler tables at ``energy_keV`` when given (electrons).
        ``"constant"``: f = Z, independent of Q (ASE XrDebye's default).
        ``"neutron"``: the coherent scattering length b (fm), independent of Q,
        from :data:`NEUTRON_SCATTERING_LENGTHS`.
    energy_keV : float, optional
        Photon energy for the anomalous correction (X-rays only).

    Returns
    -------
    f : (len(elements), M) complex ndarray

    Examples
    --------
    >>> from napari_nxtomo.core.debye import scattering_factors
    >>> f = scattering_factors(["Pb", "S"], [0.0, 4.0])
    >>> f.shape
    (2, 2)
    >>> print(f.real.round(2))
    [[82.   60.37]
     [16.    8.77]]
    >>> print(scattering_factors(["Pb"], [0.0, 4.0], energy_keV=12.0).round(2))
    [[74.62+4.43j 53.  +4.43j]]
    >>> print(scattering_factors(["Pb", "S"], [4.0], "constant").real)
    [[82.]
     [16.]]
    >>> print(scattering_factors(["Pb", "Cd"], [4.0], "neutron"))
    [[9.4024+0.j ]
     [4.83  -1.2j]]
    """
    _check_radiation(radiation)
    q = np.atleast_1d(np.asarray(q, dtype=float))
    symbols = [str(s) for s in elements]
    _check_elements(symbols, radiation)
    if energy_keV is not None and radiation != "xray":
        raise ValueError(
            f"energy_keV (anomalous scattering) applies to radiation='xray' only, not {radiation!r}; leave it at None"
        )
    out = np.empty((len(symbols), q.size), dtype=complex)
    xdb = _xraydb()
    for k, s in enumerate(symbols):
        if radiation == "xray":
            f = np.asarray(xdb.f0(s, q / (4.0 * np.pi)), dtype=float).reshape(q.shape).astype(complex)
            if energy_keV is not None:
                f1, f2 = _anomalous(xdb, s, energy_keV)
                f = f + f1 + 1j * f2
            out[k] = f
        elif radiation == "constant":
            out[k] = float(xdb.atomic_number(_base_element(s)))
        else:
            out[k] = _neutron_b(s)
    return out


def _check_element_keys(options: dict, symbols, what: str) -> None:
    """Refuse keys of a per-element option that are no element symbol; warn of elements the model lacks."""
    known = _element_symbols()
    unknown = [k for k in options if not (isinstance(k, str) and (k in known or _base_element(k) in known))]
    if unknown:
        raise ValueError(
            f"{what} names {unknown}, which {'is' if len(unknown) == 1 else 'are'} not element symbols (case "
            f"matters, e.g. Pb, Se); the model holds {sorted(set(symbols))}"
        )
    absent = [k for k in options if k not in set(symbols)]
    if absent:
        warnings.warn(
            f"{what} gives values for {absent}, which the model does not hold (it holds {sorted(set(symbols))}): "
            "they are not used",
            stacklevel=4,
        )


def _debye_waller(symbols, q, b_iso) -> np.ndarray:
    """T = exp(-B Q^2 / 16 pi^2), shape (n_el, M); ``b_iso`` None, one B (Å²) or a dict element -> B."""
    ne = len(symbols)
    b = np.zeros(ne)
    if b_iso is None:
        pass
    elif isinstance(b_iso, dict):
        _check_element_keys(b_iso, symbols, "b_iso")
        for k, s in enumerate(symbols):
            b[k] = float(b_iso.get(s, 0.0))
    else:
        try:
            b[:] = float(b_iso)
        except (TypeError, ValueError):
            raise ValueError(
                f"b_iso must be None, one number (Å²) for every element, or a dict element -> B (Å²); got {b_iso!r}"
            ) from None
    if np.any(~np.isfinite(b)) or np.any(b < 0):
        bad = {s: float(v) for s, v in zip(symbols, b) if not (np.isfinite(v) and v >= 0)}
        raise ValueError(
            f"the Debye-Waller B must be a finite number >= 0 Å² (B = 8 pi^2 <u^2>); got {bad}. "
            "A negative B would make T = exp(-B Q^2 / 16 pi^2) grow without bound"
        )
    return np.exp(-np.outer(b, q * q) / (16.0 * np.pi**2))
