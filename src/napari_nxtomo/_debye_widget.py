"""Dock widget: Debye scattering pattern of an atomistic model, over a measured pattern.

Thin glue around the core (issue 5, second seed paper):

* the model is a 3D points layer (z, y, x in Å, an ``element`` feature,
  optional ``occupancy`` and ``certainty``), e.g. the reconstructed particle,
  with the anion sublattice completed around it if asked
  (:func:`~napari_nxtomo.core.nanocrystal.complete_sublattice`), or a model
  from the builder (:func:`~napari_nxtomo.core.nanocrystal.build_nanocrystal`:
  structure, size, shape, core/shell occupancies, rhombohedral angle, Pb
  off-centring) that "Show model" adds as a 3D points layer;
* :func:`~napari_nxtomo.core.debye.debye_intensity` (and optionally
  :func:`~napari_nxtomo.core.debye.pair_distribution`) run in a thread worker
  (:class:`~napari_nxtomo._qt_tasks.TaskRunner`: progress bar, cancel);
* a measured pattern is read and fitted with a scale and a flat background
  (:mod:`napari_nxtomo.core.patterns`), and everything exports to CSV.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    SpinBox,
    create_widget,
)
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QLabel, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget

from ._layers import atoms_kwargs
from ._qt_tasks import TaskRunner

__all__ = ["DebyeWidget", "DebyeCancelled", "ModelParams", "make_model"]

SHAPE_CHOICES = {
    "sphere": "sphere",
    "cube": "cube",
    "octahedron": "octahedron",
    "cuboctahedron": "cuboctahedron",
    "rhombic dodecahedron": "rhombic_dodecahedron",
}
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
WEIGHT_CHOICES = {"Poisson-like, w = 1/I": "poisson", "unit weights": "unit"}
SOURCE_BUILDER = "builder (below)"
SOURCE_LAYER = "3D points layer"

#: default ranges of the two axes: Q (Å⁻¹) and 2θ (°), (min, max, step)
AXIS_DEFAULTS = {AXIS_Q: (0.5, 20.0, 0.01), AXIS_TT: (1.0, 130.0, 0.02)}
#: most points of a pattern
MAX_POINTS = 200_000


class DebyeCancelled(Exception):
    """The user pressed Cancel (the TaskRunner reports it as 'cancelled')."""


# ---------------------------------------------------------------- model (no Qt)


@dataclass
class ModelParams:
    """What the dock's model source says, gathered in the main thread."""

    source: str  # "builder" or "layer"
    builder: dict = field(default_factory=dict)  # build_nanocrystal kwargs
    positions: np.ndarray | None = None  # (N, 3) Å, from a layer
    elements: np.ndarray | None = None
    occupancy: np.ndarray | None = None
    lattice_parameter: float | None = None
    complete: dict | None = None  # anion, structure, lattice_parameter, min_neighbours
    name: str = ""


@dataclass
class Model:
    """Arrays handed to ``debye_intensity``."""

    positions: np.ndarray
    elements: np.ndarray
    occupancy: np.ndarray
    sites: np.ndarray | None
    lattice_parameter: float | None
    description: str
    nanocrystal: object = None  # the builder's NanocrystalModel


def make_model(p: ModelParams) -> Model:
    """Build (builder) or assemble (layer, with optional anion completion) the model."""
    from .core.nanocrystal import add_anion_sublattice, build_nanocrystal

    if p.source == "builder":
        m = build_nanocrystal(**p.builder)
        b = p.builder
        desc = (
            f"{''.join(b['elements'])} {b['structure']} {b['shape'].replace('_', ' ')}, d = {b['diameter']:g} Å, "
            f"a = {b['a']:g} Å" + (f", α_RH = {b['alpha_rh']:g}°" if b["alpha_rh"] != 60 else "")
            + (f", Δr = {b['delta_r_pb']:g} Å" if b["delta_r_pb"] else "")
        )
        return Model(m.positions, m.elements, m.occupancy, m.sites, m.lattice_parameter if m.on_grid else None,
                     desc, m)
    pos = np.asarray(p.positions, dtype=float)
    els = np.asarray(p.elements).astype(str)
    occ = np.ones(len(pos)) if p.occupancy is None else np.asarray(p.occupancy, dtype=float)
    desc = f"layer '{p.name}'"
    a = p.lattice_parameter
    if p.complete:
        anion = p.complete["anion"]
        a = p.complete["lattice_parameter"]
        pos, els, occ, n_added = add_anion_sublattice(
            pos, els, a, anion=anion, structure=p.complete["structure"], occupancy=occ,
            min_neighbours=p.complete.get("min_neighbours", 1),
        )
        desc += f" + {n_added} {anion} ({p.complete['structure']} sublattice)"
    return Model(pos, els, occ, None, a, desc)


def _element_list(text) -> tuple:
    names = tuple(t for t in re.split(r"[\s,;]+", str(text).strip()) if t)
    if not names:
        raise ValueError("give the elements, cation first, e.g. 'Pb, S' (one element for fcc)")
    return names


# ---------------------------------------------------------------- the dock


@dataclass
class PatternResult:
    """A computed pattern as the dock holds it."""

    x: np.ndarray  # in the axis unit
    q: np.ndarray  # Å⁻¹
    two_theta: np.ndarray | None  # ° (None where Q exceeds 4π/λ)
    intensity: np.ndarray
    axis: str
    radiation: str
    wavelength: float
    energy_keV: float | None
    b_iso: object
    method: str
    model: Model
    r: np.ndarray | None = None
    g: np.ndarray | None = None


class DebyeWidget(QWidget):
    """Debye scattering pattern of an atomistic model (a 3D points layer or the builder), over a measured pattern."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.pattern: PatternResult | None = None
        self.measured = None  # dict: x, y, unit, name
        self.fit = None  # PatternFit
        self.lines = {}
        self.last_worker = None
        self._layer_seen = None

        # -- model source
        self.source = ComboBox(choices=[SOURCE_BUILDER, SOURCE_LAYER], value=SOURCE_BUILDER, label="model")
        self.layer = create_widget(annotation="napari.layers.Points", label="points layer")
        self.layer.tooltip = "3D points (z, y, x in Å) with an 'element' feature; 'occupancy' is used when present"
        self.use_certainty = CheckBox(value=False, text="use 'certainty' as occupancy")
        self.use_certainty.tooltip = "multiply each atom's occupancy (1 if absent) by its 'certainty' feature"
        self.complete = CheckBox(value=False, text="complete the anion sublattice")
        self.complete.tooltip = "add the anion sites around the atoms (e.g. rocksalt Se around reconstructed Pb)"
        self.anion = LineEdit(value="Se", label="anion")
        self.sublattice = ComboBox(choices=["rocksalt", "zincblende"], value="rocksalt", label="sublattice")
        self.layer_a = FloatSpinBox(value=6.12, min=1.0, max=30.0, step=0.001, label="a (Å) if not in layer")
        self.min_neighbours = SpinBox(value=1, min=1, max=6, label="min. cation neighbours")
        self.min_neighbours.tooltip = (
            "keep an anion site with at least this many cations around it: 1 adds every site touching a cation "
            "(an anion-rich shell), 4 of 6 (rocksalt) keeps well-coordinated sites only; the status line says "
            "how many were added"
        )
        self.layer_box = Container(
            widgets=[self.layer, self.use_certainty, self.complete, self.anion, self.sublattice, self.min_neighbours,
                     self.layer_a]
        )
        # builder
        self.structure = ComboBox(choices=["rocksalt", "zincblende", "fcc"], value="rocksalt", label="structure")
        self.elements = LineEdit(value="Pb, S", label="elements (cation, anion)")
        self.a = FloatSpinBox(value=5.936, min=1.0, max=30.0, step=0.001, label="lattice a (Å)")
        self.diameter = FloatSpinBox(value=32.0, min=2.0, max=500.0, step=0.5, label="diameter (Å)")
        self.diameter.tooltip = "diameter of the sphere of the same volume as the shape"
        self.shape = ComboBox(choices=list(SHAPE_CHOICES), value="sphere", label="shape")
        self.core_occ = LineEdit(value="", label="core occupancy")
        self.core_occ.tooltip = "element=occupancy, e.g. 'Pb=0.9' (missing elements: 1)"
        self.shell_occ = LineEdit(value="", label="shell occupancy")
        self.shell_occ.tooltip = "element=occupancy, e.g. 'S=0.8' (missing elements: 1)"
        self.shell = FloatSpinBox(value=0.0, min=0.0, max=100.0, step=0.1, label="shell thickness (Å)")
        self.alpha_rh = FloatSpinBox(value=60.0, min=45.1, max=74.9, step=0.01, label="α_RH (°)")
        self.alpha_rh.tooltip = "primitive rhombohedral angle: 60° cubic, the paper's 59.1° for 3.2 nm PbS"
        self.delta_r = FloatSpinBox(value=0.0, min=-1.0, max=1.0, step=0.001, label="cation Δr [111] (Å)")
        self.delta_r.tooltip = "off-centring of the cation (Pb) along [111], Å"
        self.show_button = PushButton(text="Show model")
        self.builder_box = Container(
            widgets=[
                self.structure, self.elements, self.a, self.diameter, self.shape, self.core_occ,
                self.shell_occ, self.shell, self.alpha_rh, self.delta_r, self.show_button,
            ]
        )
        # -- radiation and axis
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
        self.with_gr = CheckBox(value=False, text="also G(r)")
        self.r_max = FloatSpinBox(value=0.0, min=0.0, max=1000.0, step=0.5, label="r max (Å, 0 = size)")
        self.compute_button = PushButton(text="Compute pattern")
        self.log_y = CheckBox(value=False, text="log intensity")
        # -- measured
        self.measured_file = FileEdit(mode="r", label="measured pattern")
        self.measured_x = ComboBox(choices=[AXIS_Q, AXIS_TT], value=AXIS_Q, label="its x column")
        self.weights = ComboBox(choices=list(WEIGHT_CHOICES), value=list(WEIGHT_CHOICES)[0], label="fit weights")
        self.fit_background = CheckBox(value=True, text="fit a flat background")
        self.load_button = PushButton(text="Load and fit")
        self.clear_button = PushButton(text="Clear measured")
        self.export_file = FileEdit(mode="w", filter="*.csv", label="CSV file")
        self.export_button = PushButton(text="Export CSV")

        self.form = Container(
            widgets=[
                self.source, self.layer_box, self.builder_box,
                Label(value="— radiation and pattern —"),
                self.radiation, self.beam, self.energy, self.wavelength,
                self.axis, self.x_min, self.x_max, self.x_step, self.b_iso, self.method,
                self.with_gr, self.r_max, self.compute_button,
                Label(value="— measured pattern —"),
                self.measured_file, self.measured_x, self.weights, self.fit_background,
                self.load_button, self.clear_button,
                Label(value="— export —"),
                self.export_file, self.export_button,
            ]
        )
        self.runner = TaskRunner()

        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4, 3.5), constrained_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(260)
        self.figure_gr = Figure(figsize=(4, 3.5), constrained_layout=True)
        self.canvas_gr = FigureCanvasQTAgg(self.figure_gr)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.canvas, "I(Q)")
        self.tabs.addTab(self.canvas_gr, "G(r)")
        self.status = QLabel("Choose a model (builder or a 3D points layer) and compute its pattern.")
        self.status.setWordWrap(True)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form.native)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.runner)
        bl.addWidget(self.log_y.native)
        bl.addWidget(self.tabs, 1)
        bl.addWidget(self.status)
        split = QSplitter(Qt.Vertical)
        split.addWidget(scroll)
        split.addWidget(bottom)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(split)

        self.source.changed.connect(self._on_source)
        self.layer.changed.connect(self._on_layer)
        self.complete.changed.connect(self._on_source)
        self.radiation.changed.connect(self._on_beam)
        self.beam.changed.connect(self._on_beam)
        self.energy.changed.connect(self._on_beam)
        self.wavelength.changed.connect(self._on_beam)
        self.axis.changed.connect(self._on_axis)
        self.with_gr.changed.connect(lambda *_: setattr(self.r_max, "enabled", self.with_gr.value))
        self.show_button.changed.connect(self.show_model)
        self.compute_button.changed.connect(self.compute)
        self.load_button.changed.connect(lambda *_: self.load_measured())
        self.clear_button.changed.connect(self.clear_measured)
        self.export_button.changed.connect(lambda *_: self.export_csv())
        self.log_y.changed.connect(lambda *_: self.redraw())
        self._axis_now = AXIS_Q
        self.r_max.enabled = False
        self._on_source()
        self._on_beam()
        self.redraw()

    # ------------------------------------------------------------ housekeeping

    def reset_choices(self, *_):
        """Refresh the layer list (napari calls this when layers are added or removed)."""
        self.form.reset_choices()
        if self.layer.value is not self._layer_seen:
            self._on_layer()

    def showEvent(self, event):
        self.reset_choices()
        super().showEvent(event)

    def _on_source(self, *_):
        builder = self.source.value == SOURCE_BUILDER
        self.builder_box.visible = builder
        self.layer_box.visible = not builder
        for w in (self.anion, self.sublattice, self.min_neighbours, self.layer_a):
            w.enabled = self.complete.value

    def _on_layer(self, *_):
        layer = self.layer.value
        self._layer_seen = layer
        if layer is None:
            return
        md = layer.metadata or {}
        if md.get("structure") in ("rocksalt", "zincblende"):
            self.sublattice.value = md["structure"]
        a = md.get("lattice_parameter")
        if a is not None:
            try:
                self.layer_a.value = float(a)
            except (TypeError, ValueError):
                pass
        if "certainty" in layer.features and "occupancy" not in layer.features:
            self.use_certainty.value = True

    def _radiation(self):
        return RADIATION_CHOICES[self.radiation.value]

    def _on_beam(self, *_):
        """Keep energy and wavelength showing the same beam; neutrons are given by their wavelength."""
        from .core.debye import energy_to_wavelength, wavelength_to_energy

        kind, _ = self._radiation()
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
            if by_energy:
                self.wavelength.value = float(energy_to_wavelength(self.energy.value))
            else:
                self.energy.value = float(wavelength_to_energy(self.wavelength.value))

    def beam_parameters(self):
        """(wavelength Å, energy keV or None for the anomalous terms) as the dock says now."""
        from .core.debye import energy_to_wavelength, wavelength_to_energy

        kind, anomalous = self._radiation()
        if kind != "neutron" and self.beam.value == BEAM_ENERGY:
            energy = float(self.energy.value)
            lam = float(energy_to_wavelength(energy))
        else:
            lam = float(self.wavelength.value)
            energy = float(wavelength_to_energy(lam)) if kind != "neutron" else None
        return lam, (energy if anomalous else None)

    def _on_axis(self, *_):
        """Carry the range over to the other axis (through the wavelength) when it can be."""
        from .core.debye import q_to_two_theta, two_theta_to_q

        new, old = self.axis.value, self._axis_now
        if new == old:
            return
        self._axis_now = new
        lam, _ = self.beam_parameters()
        lo, hi = self.x_min.value, self.x_max.value
        try:
            if new == AXIS_TT:
                lo, hi = (float(v) for v in q_to_two_theta([lo, hi], lam))
            else:
                lo, hi = (float(v) for v in two_theta_to_q([lo, hi], lam))
        except ValueError:
            lo, hi, _ = AXIS_DEFAULTS[new]
        self.x_min.value, self.x_max.value = round(lo, 2), round(hi, 2)
        self.x_step.value = AXIS_DEFAULTS[new][2]
        self.measured_x.value = new

    # ------------------------------------------------------------ model

    def builder_parameters(self) -> dict:
        """``build_nanocrystal`` keyword arguments from the builder's fields (ValueError if malformed)."""
        from .core.patterns import parse_element_values

        els = _element_list(self.elements.value)
        core = parse_element_values(self.core_occ.value, "core occupancy", allow_single=False, lo=0.0, hi=1.0)
        shell = parse_element_values(self.shell_occ.value, "shell occupancy", allow_single=False, lo=0.0, hi=1.0)
        return {
            "structure": self.structure.value,
            "elements": els,
            "a": float(self.a.value),
            "diameter": float(self.diameter.value),
            "shape": SHAPE_CHOICES[self.shape.value],
            "core_occupancy": core,
            "shell_occupancy": shell,
            "shell_thickness": float(self.shell.value),
            "alpha_rh": float(self.alpha_rh.value),
            "delta_r_pb": float(self.delta_r.value),
        }

    def model_parameters(self) -> ModelParams:
        """Gather the model source in the main thread (layer data copied). ValueError on bad input."""
        if self.source.value == SOURCE_BUILDER:
            return ModelParams("builder", builder=self.builder_parameters())
        self.reset_choices()
        layer = self.layer.value
        if layer is None:
            raise ValueError("choose a 3D points layer of atoms (or switch the model to the builder)")
        data = np.asarray(layer.data, dtype=float)
        if data.ndim != 2 or data.shape[1] != 3:
            raise ValueError(f"'{layer.name}' is not a 3D points layer; the Debye pattern needs (z, y, x) in Å")
        if len(data) == 0:
            raise ValueError(f"the points layer '{layer.name}' has no atoms")
        feats = layer.features
        if "element" not in feats:
            raise ValueError(
                f"the points layer '{layer.name}' has no 'element' feature; give each point its element symbol "
                "(e.g. layer.features['element'] = 'Pb')"
            )
        world = data * np.asarray(layer.scale, dtype=float) + np.asarray(layer.translate, dtype=float)
        occ = feats["occupancy"].to_numpy(dtype=float) if "occupancy" in feats else None
        if self.use_certainty.value:
            if "certainty" not in feats:
                raise ValueError(f"the points layer '{layer.name}' has no 'certainty' feature to use as occupancy")
            cert = np.clip(feats["certainty"].to_numpy(dtype=float), 0.0, 1.0)
            occ = cert if occ is None else occ * cert
        md = layer.metadata or {}
        a = md.get("lattice_parameter")
        complete = None
        if self.complete.value:
            anion = self.anion.value.strip()
            if not re.fullmatch(r"[A-Z][a-z]?", anion):
                raise ValueError(f"the anion must be one element symbol such as 'Se'; got {anion!r}")
            complete = {
                "anion": anion,
                "structure": self.sublattice.value,
                "min_neighbours": int(self.min_neighbours.value),
                "lattice_parameter": float(a) if a is not None else float(self.layer_a.value),
            }
        return ModelParams(
            "layer",
            positions=world[:, ::-1].copy(),  # (x, y, z)
            elements=feats["element"].astype(str).to_numpy(),
            occupancy=occ,
            lattice_parameter=float(a) if a is not None else None,
            complete=complete,
            name=layer.name,
        )

    def show_model(self, *_):
        """Add (or update) the builder's model as a 3D points layer coloured by element."""
        from .core.nanocrystal import build_nanocrystal

        try:
            kwargs = self.builder_parameters()
            model = build_nanocrystal(**kwargs)
        except ValueError as exc:
            show_error(f"napari-nxtomo: {exc}")
            return None
        zyx, lk = model.layer_data()
        features = pd.DataFrame(lk["features"])
        metadata = dict(lk["metadata"])
        if kwargs["structure"] in ("rocksalt", "zincblende"):
            metadata["structure"] = kwargs["structure"]
        name = f"{''.join(kwargs['elements'])} {self.shape.value} {kwargs['diameter']:g} Å (model)"
        layer_kw = atoms_kwargs(features, name, metadata)
        layer_kw.pop("name")
        if name in self.viewer.layers:
            layer = self.viewer.layers[name]
            layer.data = zyx
            layer.features = features
            layer.size = layer_kw["size"]
            layer.face_color = layer_kw["face_color"]
            layer.metadata.update(metadata)
        else:
            layer = self.viewer.add_points(zyx, name=name, **layer_kw)
        self.viewer.dims.ndisplay = 3
        self.reset_choices()
        comp = ", ".join(f"{k} {v:.1f}" for k, v in model.composition().items())
        self.status.setText(f"'{name}': {len(model)} sites (effective atoms: {comp}).")
        return layer

    # ------------------------------------------------------------ compute

    def q_grid(self):
        """(x in the axis unit, Q in Å⁻¹, 2θ in ° or None) of the pattern asked for."""
        from .core.debye import q_to_two_theta, two_theta_to_q

        lo, hi, step = float(self.x_min.value), float(self.x_max.value), float(self.x_step.value)
        if not hi > lo:
            raise ValueError(f"the range {lo:g} to {hi:g} is empty: 'to' must be larger than 'from'")
        n = int(round((hi - lo) / step)) + 1
        if n > MAX_POINTS:
            raise ValueError(f"{n} points is too many (at most {MAX_POINTS}); use a larger step")
        x = np.linspace(lo, lo + (n - 1) * step, n)
        lam, _ = self.beam_parameters()
        if self.axis.value == AXIS_TT:
            if hi > 180:
                raise ValueError("2θ goes up to 180°")
            return x, two_theta_to_q(x, lam), x
        try:
            tt = q_to_two_theta(x, lam)
        except ValueError:
            tt = None  # Q beyond 4π/λ: no 2θ column
        return x, x, tt

    def compute(self, *_):
        """Compute the pattern (and G(r)) of the model in a thread worker."""
        from .core.debye import debye_intensity, pair_distance_histogram, pair_distribution
        from .core.patterns import parse_element_values

        try:
            params = self.model_parameters()
            x, q, tt = self.q_grid()
            lam, energy = self.beam_parameters()
            b_iso = parse_element_values(self.b_iso.value, "B (Å²)", lo=0.0)
        except ValueError as exc:
            show_error(f"napari-nxtomo: {exc}")
            return None
        kind, _ = self._radiation()
        method = self.method.value
        with_gr = bool(self.with_gr.value)
        r_max = float(self.r_max.value)
        axis = self.axis.value

        def job(progress, cancel):
            def report(lo, hi):
                def f(frac):
                    if cancel():
                        raise DebyeCancelled("cancelled")
                    progress(int(round(1000 * (lo + (hi - lo) * float(frac)))), 1000)
                return f

            report(0.0, 0.0)(0.0)
            model = make_model(params)
            split = 0.8 if with_gr else 1.0
            intensity = debye_intensity(
                model.positions, model.elements, q, b_iso=b_iso, occupancy=model.occupancy, method=method,
                radiation=kind, energy_keV=energy, lattice_parameter=model.lattice_parameter if model.sites is None else None,
                sites=model.sites, progress=report(0.0, split),
            )
            result = PatternResult(x, q, tt, intensity, axis, kind, lam, energy, b_iso, method, model)
            if with_gr:
                centre = model.positions.mean(axis=0)
                size = 2.0 * float(np.max(np.linalg.norm(model.positions - centre, axis=1))) + 1.0
                rmax = r_max if r_max > 0 else size
                h = pair_distance_histogram(
                    model.positions, model.elements, model.occupancy,
                    "histogram" if method in ("exact", "histogram") else method,
                    lattice_parameter=model.lattice_parameter if model.sites is None else None,
                    sites=model.sites, progress=report(split, 1.0),
                )
                result.r = np.arange(0.0, rmax + 1e-9, 0.01)
                result.g = pair_distribution(
                    model.positions, model.elements, result.r, model.occupancy, q_max=float(q.max()),
                    radiation=kind, energy_keV=energy, histogram=h,
                )
            progress(1000, 1000)
            return result

        def done(result):
            self.pattern = result
            n = len(result.model.positions)
            text = f"{result.model.description}: {n} atoms, {len(result.q)} points."
            if self.measured is not None:
                try:
                    self._refit()
                    text += " Fit: " + self.fit.describe()
                except ValueError as exc:
                    self.fit = None
                    show_error(f"napari-nxtomo: {exc}")
            self.status.setText(text)
            self.redraw()

        self.status.setText("Computing the Debye pattern ...")
        self.last_worker = self.runner.start(job, done, "Debye pattern")
        return self.last_worker

    # ------------------------------------------------------------ measured

    def load_measured(self, path=None):
        """Read a measured pattern (x, intensity) and fit scale + background to the computed pattern."""
        from .core.patterns import load_pattern

        if path is not None:
            self.measured_file.value = path
        path = self.measured_file.value
        if path is None or str(path) in ("", "."):
            show_error("napari-nxtomo: choose the measured pattern file first (two columns: x, intensity)")
            return None
        try:
            x, y = load_pattern(path)
        except ValueError as exc:
            show_error(f"napari-nxtomo: {exc}")
            return None
        self.measured = {"x": x, "y": y, "unit": self.measured_x.value, "name": path.name}
        if self.pattern is None:
            self.fit = None
            self.status.setText(f"Read {len(x)} points from {path.name}; compute a pattern to fit it.")
            self.redraw()
            return None
        try:
            self._refit()
        except ValueError as exc:
            self.fit = None
            show_error(f"napari-nxtomo: {exc}")
            self.redraw()
            return None
        self.status.setText(f"{path.name}: " + self.fit.describe())
        self.redraw()
        return self.fit

    def _measured_in_axis(self):
        """The measured abscissae in the computed pattern's axis unit."""
        from .core.debye import q_to_two_theta, two_theta_to_q

        x, unit = self.measured["x"], self.measured["unit"]
        axis, lam = self.pattern.axis, self.pattern.wavelength
        if unit == axis:
            return x
        if unit == AXIS_TT:
            return two_theta_to_q(x, lam)
        return q_to_two_theta(x, lam)

    def _refit(self):
        from .core.patterns import fit_scale_background

        self.measured["unit"] = self.measured_x.value
        xm = self._measured_in_axis()
        self.fit = fit_scale_background(
            self.pattern.x, self.pattern.intensity, xm, self.measured["y"],
            weighting=WEIGHT_CHOICES[self.weights.value], background=bool(self.fit_background.value),
        )
        self.measured["x_axis"] = xm

    def clear_measured(self, *_):
        self.measured = None
        self.fit = None
        self.redraw()

    # ------------------------------------------------------------ drawing

    def _intensity_unit(self):
        kind = self.pattern.radiation if self.pattern is not None else self._radiation()[0]
        return "fm²" if kind == "neutron" else "e²"

    def redraw(self):
        """Draw the pattern (and the measured one with the fit and its residual), and G(r)."""
        self.figure.clear()
        self.lines = {}
        p = self.pattern
        axis = p.axis if p is not None else self.axis.value
        xlabel = "Q (Å⁻¹)" if axis == AXIS_Q else "2θ (°)"
        if self.fit is not None and p is not None:
            ax, axr = self.figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
            m = self.measured
            (self.lines["measured"],) = ax.plot(m["x_axis"], m["y"], ".", ms=2, color="0.45", label=f"measured ({m['name']})")
            (self.lines["fitted"],) = ax.plot(p.x, self.fit.apply(p.intensity), "-", lw=1.0, color="C3",
                                              label="Debye × scale + background")
            ax.set_ylabel("intensity (measured units)")
            ax.legend(fontsize=7)
            (self.lines["residual"],) = axr.plot(self.fit.x, self.fit.residual, "-", lw=0.8, color="C0")
            axr.axhline(0.0, color="0.6", lw=0.5)
            axr.set_ylabel("meas. − fit")
            axr.set_xlabel(xlabel)
            w = "Poisson-like weights" if self.fit.weighting == "poisson" else "unit weights"
            ax.set_title(f"reduced χ² = {self.fit.chi2_red:.4g} ({w})", fontsize=8)
        else:
            ax = self.figure.subplots()
            if p is not None:
                (self.lines["simulated"],) = ax.plot(p.x, p.intensity, "-", lw=1.0, color="C3", label="Debye")
                ax.set_title(p.model.description, fontsize=8)
            if self.measured is not None and p is None:
                m = self.measured
                (self.lines["measured"],) = ax.plot(m["x"], m["y"], ".", ms=2, color="0.45")
                xlabel = m["unit"]
            ax.set_ylabel(f"I ({self._intensity_unit()} per particle)")
            ax.set_xlabel(xlabel)
        if self.log_y.value:
            ax.set_yscale("log")
        self.canvas.draw_idle()

        self.figure_gr.clear()
        axg = self.figure_gr.subplots()
        if p is not None and p.g is not None:
            (self.lines["G(r)"],) = axg.plot(p.r, p.g, "-", lw=1.0, color="C2")
            axg.axhline(0.0, color="0.6", lw=0.5)
            axg.set_title(f"Q_max = {p.q.max():.3g} Å⁻¹", fontsize=8)
        axg.set_xlabel("r (Å)")
        axg.set_ylabel("G(r) (Å⁻²)")
        self.canvas_gr.draw_idle()

    # ------------------------------------------------------------ export

    def export_csv(self, path=None):
        """Write the pattern (and the measured points, the fitted curve, G(r)) to a CSV file."""
        from pathlib import Path

        from .core.patterns import write_pattern_csv

        if self.pattern is None:
            show_error("napari-nxtomo: compute a pattern first, then export it")
            return None
        if path is not None:
            self.export_file.value = path
        path = self.export_file.value
        if path is None or str(path) in ("", "."):
            show_error("napari-nxtomo: choose the CSV file to write first")
            return None
        path = Path(path)
        if path.suffix.lower() != ".csv":
            path = path.with_suffix(".csv")
        p = self.pattern
        unit = self._intensity_unit().replace("²", "2")
        cols = {"q_inv_A": p.q}
        if p.two_theta is not None:
            cols["two_theta_deg"] = p.two_theta
        cols[f"intensity_{unit}"] = p.intensity
        extra = {}
        comments = [
            f"Debye pattern of {p.model.description}: {len(p.model.positions)} atoms",
            f"radiation {p.radiation}, wavelength {p.wavelength:.6g} A"
            + (f", anomalous terms at {p.energy_keV:.6g} keV" if p.energy_keV is not None else "")
            + f", B {p.b_iso if p.b_iso is not None else 0} A^2, method {p.method}",
            f"intensity_{unit}: {unit} per particle (no polarisation, absorption or Lorentz factors)",
        ]
        if self.fit is not None:
            f = self.fit
            cols["fitted"] = f.apply(p.intensity)
            xname = "measured_q_inv_A" if p.axis == AXIS_Q else "measured_two_theta_deg"
            extra = {xname: f.x, "measured": f.measured, "measured_fitted": f.fitted, "measured_residual": f.residual}
            comments.append(f"measured {self.measured['name']}: {f.describe()}")
            comments.append("fitted = scale * intensity + background; measured_* columns: the measured points in the overlap")
        if p.g is not None:
            extra.update({"r_A": p.r, "G_inv_A2": p.g})
        try:
            out = write_pattern_csv(path, cols, extra, comments)
        except (OSError, ValueError) as exc:
            show_error(f"napari-nxtomo: could not write {path}: {exc}")
            return None
        show_info(f"napari-nxtomo: pattern written to {out}")
        self.status.setText(f"Pattern written to {out}.")
        return out
