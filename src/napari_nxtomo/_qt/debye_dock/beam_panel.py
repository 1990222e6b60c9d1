"""The Debye dock's beam and axis panel: radiation, energy or wavelength, the Q or 2θ grid, B, method, G(r)."""

from __future__ import annotations

from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, Label, LineEdit, PushButton

from ...core.debye import Beam
from ...core.workflow import q_grid

RADIATION_CHOICES = {
    "X-ray: f0(Q) + f′ + i f″ at the energy": ("xray", True),
    "X-ray: f0(Q) only (no anomalous terms)": ("xray", False),
    "constant f = Z (as ASE XrDebye)": ("constant", False),
    "neutron: coherent b": ("neutron", False),
}
AXIS_Q = "Q (Å⁻¹)"
AXIS_TT = "2θ (°)"
BEAM_ENERGY = "energy (keV)"
BEAM_WAVELENGTH = "wavelength (Å)"
#: default ranges of the two axes: Q (Å⁻¹) and 2θ (°), (min, max, step)
AXIS_DEFAULTS = {AXIS_Q: (0.5, 20.0, 0.01), AXIS_TT: (1.0, 130.0, 0.02)}
#: the axis choices as the core names them (``PatternResult.axis``)
AXIS_KEYS = {AXIS_Q: "q", AXIS_TT: "two_theta"}
AXIS_LABELS = {key: label for label, key in AXIS_KEYS.items()}
#: self-scattering weight of a partly occupied site (``debye_intensity``'s ``self_term``)
SELF_TERM_CHOICES = {
    "o: mean over random vacancies": "occupancy",
    "o²: eq. (1) of the seed paper": "squared",
}


class BeamAxisPanel:
    """Radiation and beam (energy and wavelength kept in step), the pattern's axis and range, B, method, G(r)."""

    def __init__(self):
        self.radiation = ComboBox(choices=list(RADIATION_CHOICES), value=list(RADIATION_CHOICES)[0], label="radiation")
        self.beam = ComboBox(choices=[BEAM_ENERGY, BEAM_WAVELENGTH], value=BEAM_ENERGY, label="beam given by")
        self.energy = FloatSpinBox(value=22.0, min=0.5, max=500.0, step=0.001, label="energy (keV)")
        self.wavelength = FloatSpinBox(value=0.56356, min=0.01, max=30.0, step=0.00001, label="wavelength (Å)")
        self.axis = ComboBox(choices=[AXIS_Q, AXIS_TT], value=AXIS_Q, label="axis")
        self.x_min = FloatSpinBox(value=AXIS_DEFAULTS[AXIS_Q][0], min=0.0, max=180.0, step=0.01, label="from")
        self.x_max = FloatSpinBox(value=AXIS_DEFAULTS[AXIS_Q][1], min=0.0, max=180.0, step=0.01, label="to")
        self.x_step = FloatSpinBox(value=AXIS_DEFAULTS[AXIS_Q][2], min=0.0001, max=10.0, step=0.0001, label="step")
        self.b_iso = LineEdit(value="", label="B (Å²)")
        self.b_iso.tooltip = "Debye-Waller B per element, 'Pb=1.2, S=0.9', or one number for all (empty: 0)"
        self.method = ComboBox(choices=["auto", "exact", "histogram", "lattice"], value="auto", label="method")
        self.self_term = ComboBox(choices=list(SELF_TERM_CHOICES), value=list(SELF_TERM_CHOICES)[0],
                                  label="occupancy self term")
        self.self_term.tooltip = (
            "weight of a partly occupied site's self-scattering: o (default; the mean pattern of particles whose "
            "sites are full with probability o, e.g. a reconstruction's certainty) or o² (the seed paper's eq. 1, "
            "a fraction o of an atom on every site)")
        self.with_gr = CheckBox(value=False, text="also G(r)")
        self.r_max = FloatSpinBox(value=0.0, min=0.0, max=1000.0, step=0.5, label="r max (Å, 0 = size)")
        self.compute_button = PushButton(text="Compute pattern")
        self.widgets = [
            Label(value="— radiation and pattern —"),
            self.radiation, self.beam, self.energy, self.wavelength,
            self.axis, self.x_min, self.x_max, self.x_step, self.b_iso, self.method, self.self_term,
            self.with_gr, self.r_max, self.compute_button,
        ]
        self._axis_now = AXIS_Q
        for w in (self.radiation, self.beam, self.energy, self.wavelength):
            w.changed.connect(self._on_beam)
        self.with_gr.changed.connect(lambda *_: setattr(self.r_max, "enabled", self.with_gr.value))
        self.r_max.enabled = False
        self._on_beam()

    def radiation_kind(self):
        """(kind: "xray", "constant" or "neutron", anomalous terms: bool)."""
        return RADIATION_CHOICES[self.radiation.value]

    def _on_beam(self, *_):
        """Keep energy and wavelength showing the same beam; neutrons are given by their wavelength."""
        kind, _ = self.radiation_kind()
        if kind == "neutron" and self.beam.value != BEAM_WAVELENGTH:
            self.beam.value = BEAM_WAVELENGTH  # re-enters through beam.changed
            return
        self.beam.enabled = kind != "neutron"
        by_energy = self.beam.value == BEAM_ENERGY
        self.energy.enabled = by_energy
        self.wavelength.enabled = not by_energy
        if kind == "neutron":
            return
        with self.energy.changed.blocked(), self.wavelength.changed.blocked():
            beam = self.beam_now()
            if by_energy:
                self.wavelength.value = beam.wavelength
            else:
                self.energy.value = beam.energy_keV

    def beam_now(self) -> Beam:
        """The beam as the panel gives it now: by its energy, or by its wavelength (always for neutrons)."""
        kind, _ = self.radiation_kind()
        if kind != "neutron" and self.beam.value == BEAM_ENERGY:
            return Beam.from_energy(float(self.energy.value), kind)
        return Beam.from_wavelength(float(self.wavelength.value), kind)

    def beam_parameters(self):
        """(wavelength Å, energy keV or None for the anomalous terms) as the panel says now."""
        beam = self.beam_now()
        _, anomalous = self.radiation_kind()
        return beam.wavelength, (beam.energy_keV if anomalous else None)

    def carry_range(self) -> bool:
        """Carry the range over to the axis now chosen (through the wavelength) when it can be; True if it changed."""
        new, old = self.axis.value, self._axis_now
        if new == old:
            return False
        self._axis_now = new
        beam = self.beam_now()
        lo, hi = self.x_min.value, self.x_max.value
        try:
            lo, hi = (float(v) for v in (beam.two_theta([lo, hi]) if new == AXIS_TT else beam.q([lo, hi])))
        except ValueError:
            lo, hi, _ = AXIS_DEFAULTS[new]
        self.x_min.value, self.x_max.value = round(lo, 2), round(hi, 2)
        self.x_step.value = AXIS_DEFAULTS[new][2]
        return True

    def q_grid(self):
        """(x in the axis unit, Q in Å⁻¹, 2θ in ° or None) of the pattern asked for."""
        lam, _ = self.beam_parameters()
        return q_grid(float(self.x_min.value), float(self.x_max.value), float(self.x_step.value), lam,
                      axis=AXIS_KEYS[self.axis.value])

    def request(self) -> dict:
        """``compute_pattern`` keyword arguments (all but the model), read now. ValueError on bad input."""
        from ...core.patterns import parse_element_values

        x, q, two_theta = self.q_grid()
        lam, energy = self.beam_parameters()
        return {
            "q": q,
            "x": x,
            "two_theta": two_theta,
            "axis": AXIS_KEYS[self.axis.value],
            "radiation": self.radiation_kind()[0],
            "wavelength": lam,
            "energy_keV": energy,
            "b_iso": parse_element_values(self.b_iso.value, "B (Å²)", lo=0.0),
            "method": self.method.value,
            "self_term": SELF_TERM_CHOICES[self.self_term.value],
            "with_gr": bool(self.with_gr.value),
            "r_max": float(self.r_max.value),
        }
