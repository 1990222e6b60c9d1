"""The Debye dock's model panels: a 3D points layer of atoms as the model, or the nanocrystal builder."""

from __future__ import annotations

import re

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, LineEdit, PushButton, SpinBox, create_widget

from ...core.lattice import ROCKSALT_PBSE
from ...core.workflow.run_pattern import RUNS_KEY
from ..layers import atoms_from_layer

SHAPE_CHOICES = {
    "sphere": "sphere",
    "cube": "cube",
    "octahedron": "octahedron",
    "cuboctahedron": "cuboctahedron",
    "rhombic dodecahedron": "rhombic_dodecahedron",
}
SOURCE_BUILDER = "builder (below)"
SOURCE_LAYER = "3D points layer"
#: anions kept around a free-standing particle's cations: 4 of the 6 rocksalt neighbours (well-coordinated sites)
DEFAULT_MIN_NEIGHBOURS = 4
#: the anions of a core-shell particle's core: those with at least half (3 of 6) of their neighbours in the core
CORE_MIN_NEIGHBOURS = 3


def _element_list(text) -> tuple:
    names = tuple(t for t in re.split(r"[\s,;]+", str(text).strip()) if t)
    if not names:
        raise ValueError("give the elements, cation first, e.g. 'Pb, S' (one element for fcc)")
    return names


class BuilderPanel:
    """The nanocrystal builder: structure, elements, size, shape, occupancies, distortion, 'Show model'."""

    def __init__(self):
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
        self.widgets = [self.builder_box]

    def parameters(self) -> dict:
        """``build_nanocrystal`` keyword arguments from the builder's fields (ValueError if malformed)."""
        from ...core.patterns import parse_element_values

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


class ModelSourcePanel:
    """Where the model comes from: the builder (its box shown) or a 3D points layer with its options.

    The layer's options: certainty as occupancy, and the anion sublattice
    completed around the atoms (anion, sublattice, minimum number of cation
    neighbours, lattice parameter when the layer does not say it).
    """

    def __init__(self, builder_box):
        self.builder_box = builder_box
        self.source = ComboBox(choices=[SOURCE_BUILDER, SOURCE_LAYER], value=SOURCE_BUILDER, label="model")
        self.layer = create_widget(annotation="napari.layers.Points", label="points layer")
        self.layer.tooltip = "3D points (z, y, x in Å) with an 'element' feature; 'occupancy' is used when present"
        self.use_certainty = CheckBox(value=False, text="use 'certainty' as occupancy")
        self.use_certainty.tooltip = "multiply each atom's occupancy (1 if absent) by its 'certainty' feature"
        self.complete = CheckBox(value=False, text="complete the anion sublattice")
        self.complete.tooltip = "add the anion sites around the atoms (e.g. rocksalt Se around reconstructed Pb)"
        self.anion = LineEdit(value="Se", label="anion")
        self.sublattice = ComboBox(choices=["rocksalt", "zincblende"], value="rocksalt", label="sublattice")
        self.layer_a = FloatSpinBox(value=ROCKSALT_PBSE.lattice_parameter, min=1.0, max=30.0, step=0.001,
                                    label="a (Å) if not in layer")
        self.min_neighbours = SpinBox(value=DEFAULT_MIN_NEIGHBOURS, min=1, max=6, label="min. cation neighbours")
        self.min_neighbours.tooltip = (
            "keep an anion site with at least this many cations around it: 1 adds every site touching a cation "
            "(an anion-rich shell), 4 of 6 (rocksalt) keeps well-coordinated sites only; set from the layer: 4 for a "
            "free-standing particle, 3 for the core of a core-shell one (the anions with half their cations in the "
            "core; the shell holds the others); "
            "the status line says how many were added"
        )
        self.average_runs = CheckBox(value=False, text="average over the annealing runs")
        self.average_runs.tooltip = (
            "the mean of the patterns of the reconstruction's annealing runs (each run's model a sample): it keeps "
            "the runs' pair correlations, which certainty-as-occupancy drops; the two agree where the runs agree. "
            "Offered when the layer carries the runs (a model from the Reconstruct 3D dock)")
        self.average_runs.enabled = False
        self.layer_box = Container(
            widgets=[self.layer, self.use_certainty, self.average_runs, self.complete, self.anion, self.sublattice, self.min_neighbours,
                     self.layer_a]
        )
        self.widgets = [self.source, self.layer_box]
        self._layer_seen = None
        self.source.changed.connect(self._on_source)
        self.complete.changed.connect(self._on_source)
        self.layer.changed.connect(self._on_layer)
        self._on_source()

    @property
    def from_builder(self) -> bool:
        return self.source.value == SOURCE_BUILDER

    def _on_source(self, *_):
        self.builder_box.visible = self.from_builder
        self.layer_box.visible = not self.from_builder
        for w in (self.anion, self.sublattice, self.min_neighbours, self.layer_a):
            w.enabled = self.complete.value

    def follow_reconstruction(self, viewer):
        """Start on the newest reconstruction (a 3D points layer with 'certainty'), once per new one.

        Sets the source to the layer, chooses it and completes the anion
        sublattice (a reconstruction holds the cations only).  A core–shell
        reconstruction's shell layer is not chosen: the core's brings it.
        """
        from napari.layers import Points

        models = [ly for ly in viewer.layers if isinstance(ly, Points) and ly.ndim == 3 and "certainty" in ly.features
                  and "core_layer" not in (ly.metadata or {})]  # a shell comes with its core's layer
        if not models or models[-1] is getattr(self, "_model_seen", None):
            return
        self._model_seen = models[-1]
        self.source.value = SOURCE_LAYER
        self.layer.value = models[-1]
        self.complete.value = True
        self.follow_layer()

    def follow_layer(self):
        """Take the chosen layer's settings if the choice changed (after the layer list was refreshed)."""
        if self.layer.value is not self._layer_seen:
            self._on_layer()

    def _on_layer(self, *_):
        """The chosen layer's structure, lattice parameter and certainty preset the options."""
        layer = self.layer.value
        self._layer_seen = layer
        if layer is None:
            return
        md = layer.metadata or {}
        if md.get("structure") in ("rocksalt", "zincblende"):
            self.sublattice.value = md["structure"]
        # a free-standing particle ends on its cations' well-coordinated anions (4 of 6 rocksalt neighbours: the
        # PbSe sample's 266 of its 268 Se); the core of a core-shell particle is wrapped in the shell's anions (one
        # continuous sublattice), so its own are those with at least half their neighbours in it (3 of 6: the rod's
        # 174 exactly, from its true core)
        self.min_neighbours.value = CORE_MIN_NEIGHBOURS if md.get("shell_crystal") else DEFAULT_MIN_NEIGHBOURS
        a = md.get("lattice_parameter")
        if a is not None:
            try:
                self.layer_a.value = float(a)
            except (TypeError, ValueError):
                pass
        if "certainty" in layer.features and "occupancy" not in layer.features:
            self.use_certainty.value = True
        self.average_runs.enabled = RUNS_KEY in md
        if not self.average_runs.enabled:
            self.average_runs.value = False

    def parameters(self) -> dict:
        """``pattern_model`` keyword arguments: the layer's atoms (copied), the completion asked for.

        ValueError on bad input.
        """
        layer = self.layer.value
        if layer is None:
            raise ValueError("choose a 3D points layer of atoms (or switch the model to the builder)")
        positions, elements, occupancy, certainty = atoms_from_layer(layer, self.use_certainty.value)
        a = (layer.metadata or {}).get("lattice_parameter")
        completion = self._completion(a) if self.complete.value else None
        if self.average_runs.value and RUNS_KEY in (layer.metadata or {}):
            return {"runs": layer.metadata[RUNS_KEY], "element": str(elements[0]),
                    "lattice_parameter": float(a) if a is not None else None, "complete": completion,
                    "name": layer.name}
        params = {
            "positions": positions,  # (x, y, z)
            "elements": elements,
            "occupancy": occupancy,
            "certainty": certainty,
            "lattice_parameter": float(a) if a is not None else None,
            "complete": completion,
            "name": layer.name,
        }
        shell = self._shell_layer(layer)
        return params if shell is None else self._with_shell(params, shell)

    def _shell_layer(self, layer):
        """The shell layer a core's model names (``metadata["shell_layer"]``, the Reconstruct dock's), if shown."""
        name = (layer.metadata or {}).get("shell_layer")
        return next((ly for ly in self.layer.choices if ly.name == name), None) if name else None

    def _with_shell(self, params, shell):
        """The whole core–shell particle: the shell's atoms added, the anions completed around both (the shell's
        Cd: :data:`~napari_nxtomo.core.workflow.core_shell_model.WHOLE_MIN_NEIGHBOURS`, its polarity)."""
        import numpy as np

        from ...core.workflow.core_shell_model import whole_completion

        pos, els, occ, cert = atoms_from_layer(shell, self.use_certainty.value)
        n0, n1 = len(params["positions"]), len(pos)

        def joined(a, b):
            if a is None and b is None:
                return None
            return np.concatenate([np.ones(n0) if a is None else a, np.ones(n1) if b is None else b])

        out = dict(params, positions=np.vstack([params["positions"], pos]),
                   elements=np.concatenate([params["elements"], els]), occupancy=joined(params["occupancy"], occ),
                   certainty=joined(params["certainty"], cert), name=f"{params['name']}' + '{shell.name}")
        if params["complete"] is not None:
            core = dict(params["complete"], cation=str(params["elements"][0]))
            shift = (shell.metadata or {}).get("shell_shift_q", (-1, 1, 1))
            out["complete"] = [core, whole_completion(core["lattice_parameter"], shift, core["anion"])[1]]
        return out

    def _completion(self, a) -> dict:
        anion = self.anion.value.strip()
        if not re.fullmatch(r"[A-Z][a-z]?", anion):
            raise ValueError(f"the anion must be one element symbol such as 'Se'; got {anion!r}")
        return {
            "anion": anion,
            "structure": self.sublattice.value,
            "min_neighbours": int(self.min_neighbours.value),
            "lattice_parameter": float(a) if a is not None else float(self.layer_a.value),
        }
