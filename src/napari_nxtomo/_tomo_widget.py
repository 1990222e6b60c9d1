"""Dock widget: discrete tomography from the counted columns of two or more images.

Thin glue over :func:`napari_nxtomo.core.tomography.reconstruct`: the points
layers of counted columns (features ``count`` and ``type``, metadata
``zone_axis``) become :class:`~napari_nxtomo.core.tomography.Projection`
objects, the solver runs in a thread worker with "run i of N" progress and a
cancel button (finished runs are kept), and the result comes back as a 3D
points layer coloured by certainty, a residual per column on every
projection's layer, and a table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from magicgui.widgets import ComboBox, Container, FloatSpinBox, LineEdit, PushButton, Select, SpinBox
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ._layers import CERTAINTY_CMAP, atoms_kwargs, colour_by
from ._qt_tasks import TaskRunner
from .core.tomography import _zone_name, parse_zone_axis

SOLVERS = {
    "annealing runs + exact optimum": "both",
    "annealing runs (paper)": "anneal",
    "exact optimum only (MILP)": "exact",
}


def projection_from_layer(layer, element="Pb", zone_override=None):
    """A core Projection from a points layer of counted columns (see ``projection_from_table``)."""
    from .core.tomography import projection_from_table

    if len(layer.data) == 0:
        raise ValueError(f"the points layer '{layer.name}' is empty")
    zone = zone_override if zone_override is not None else layer.metadata.get("zone_axis")
    world = np.asarray(layer.data, dtype=float)[:, -2:] * np.asarray(layer.scale[-2:]) + np.asarray(
        layer.translate[-2:]
    )
    proj, kept = projection_from_table(world, layer.features, zone, element,
                                       tilt_direction=layer.metadata.get("tilt_direction"), name=f"'{layer.name}'")
    proj.name = _zone_name(proj.zone_axis)
    return proj, kept


class ReconstructWidget(QWidget):
    """Discrete tomography: a 3D atomic model on the fcc grid from counted columns, with certainty."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.layers = Select(choices=self._counted_layers, label="counted columns", allow_multiple=True)
        self.zones = LineEdit(value="", label="zone axes (optional)")
        self.zones.tooltip = "one per chosen layer, e.g. '100, 010, 110'; empty: from each layer's metadata"
        self.element = LineEdit(value="Pb", label="element")
        self.lattice = FloatSpinBox(value=6.12, min=1.0, max=20.0, step=0.01, label="lattice parameter (Å)")
        self.solver = ComboBox(choices=list(SOLVERS), value="annealing runs + exact optimum", label="solver")
        self.n_runs = SpinBox(value=10, min=1, max=1000, label="annealing runs")
        self.seed = SpinBox(value=0, min=0, max=2**31 - 1, label="seed")
        self.run_button = PushButton(text="Reconstruct")
        self.form = Container(
            widgets=[self.layers, self.zones, self.element, self.lattice, self.solver, self.n_runs, self.seed,
                     self.run_button]
        )
        self.runner = TaskRunner()
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(
            ["projection", "columns", "measured", "model", "columns off", "RMS residual"]
        )
        self.table.setMinimumHeight(110)
        self.status = QLabel("Count the columns of two or more images of one particle, choose their layers, run.")
        self.status.setWordWrap(True)
        self.save_xyz = QPushButton("Save model (.xyz)")
        self.save_csv = QPushButton("Save model (CSV)")
        for b in (self.save_xyz, self.save_csv):
            b.setEnabled(False)
        self.save_xyz.clicked.connect(lambda: self._save("xyz"))
        self.save_csv.clicked.connect(lambda: self._save("csv"))
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_xyz)
        buttons.addWidget(self.save_csv)
        lay = QVBoxLayout(self)
        lay.addWidget(self.form.native)
        lay.addWidget(self.runner)
        lay.addWidget(self.table)
        lay.addLayout(buttons)
        lay.addWidget(self.status)
        lay.addStretch(1)
        self.run_button.changed.connect(self.run)
        self.result = None
        self.model_layer = None

    # ------------------------------------------------------------ choices
    def _counted_layers(self, *_):
        from napari.layers import Points

        viewer = getattr(self, "viewer", None)
        if viewer is None:
            return []
        return [ly for ly in viewer.layers if isinstance(ly, Points) and "count" in ly.features and ly.ndim == 2]

    def reset_choices(self, *_):
        """Refresh the layer list (napari calls this when layers are added or removed)."""
        self.form.reset_choices()

    def showEvent(self, event):
        self.reset_choices()
        super().showEvent(event)

    # ------------------------------------------------------------ run
    def _projections(self):
        chosen = list(self.layers.value)
        if len(chosen) < 2:
            raise ValueError("choose at least two layers of counted columns (one per zone axis)")
        zones = [None] * len(chosen)
        text = self.zones.value.strip()
        if text:
            items = [t for t in text.replace(";", ",").split(",") if t.strip()]
            if len(items) != len(chosen):
                raise ValueError(f"{len(items)} zone axes typed for {len(chosen)} layers: give one per layer")
            zones = [parse_zone_axis(t) for t in items]
        element = self.element.value.strip() or "Pb"
        out = [projection_from_layer(ly, element, z) for ly, z in zip(chosen, zones)]
        return chosen, [p for p, _ in out], [k for _, k in out]

    def run(self):
        from .core.tomography import reconstruct

        self.reset_choices()
        try:
            layers, projections, kept = self._projections()
        except ValueError as exc:
            show_error(f"napari-nxtomo: {exc}")
            return
        method = SOLVERS[self.solver.value]
        n_runs, seed, a = int(self.n_runs.value), int(self.seed.value), float(self.lattice.value)
        element = self.element.value.strip() or "Pb"

        def job(progress, cancel):
            return reconstruct(projections, a, lattice="fcc", n_runs=n_runs, seed=seed, method=method,
                               progress=progress, cancel=cancel)

        def done(result):
            self._show(result, layers, kept, element, a)

        def cancelled(exc):
            partial = getattr(exc, "partial", None)
            if partial is not None:
                self._show(partial, layers, kept, element, a)
                show_info(f"napari-nxtomo: reconstruction cancelled; {len(partial.runs)} finished runs kept")

        self.status.setText(f"Reconstructing {element} from {len(projections)} projections, {n_runs} runs ...")
        self.runner.start(job, done, "reconstruction", on_cancelled=cancelled)

    # ------------------------------------------------------------ results
    def _show(self, result, layers, kept, element, a):
        self.result = result
        pos = np.asarray(result.positions, dtype=float)
        feats = pd.DataFrame({"element": [element] * len(pos), "certainty": np.asarray(result.certainty, float)})
        freq = np.asarray(getattr(result, "frequency", np.full(len(pos), np.nan)), dtype=float)
        if freq.shape == (len(pos),):
            feats["frequency"] = freq
        md = dict(result.metadata())
        md.update(lattice_parameter=a, structure="rocksalt", element=element,
                  projection_layers=[ly.name for ly in layers])
        name = f"{element} model"
        kwargs = atoms_kwargs(feats, name, md)
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        self.model_layer = self.viewer.add_points(pos[:, ::-1], **kwargs)
        colour_by(self.model_layer, "certainty", CERTAINTY_CMAP, (0.0, 1.0))
        self.table.setRowCount(len(layers))
        for row, (ly, idx, rep) in enumerate(zip(layers, kept, result.reprojection)):
            measured_rows = rep[rep["input_index"] >= 0]
            rows = idx[measured_rows["input_index"].to_numpy(dtype=int)]
            measured = measured_rows["measured"].to_numpy(dtype=float)
            model = measured_rows["reconstructed"].to_numpy(dtype=float)
            resid = model - measured
            f = ly.features.copy()
            f["model_count"] = np.nan
            f["residual"] = np.nan
            f.loc[f.index[rows], "model_count"] = model
            f.loc[f.index[rows], "residual"] = resid
            ly.features = f
            n_missing = int(rep["missing"].sum()) if "missing" in rep else 0
            cells = [ly.name, len(idx), int(measured.sum()), int(model.sum()), int(np.count_nonzero(resid)),
                     f"{np.sqrt(np.mean(resid ** 2)):.3g}" + (f" ({n_missing} unmeasured)" if n_missing else "")]
            for col, v in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(str(v)))
        self.table.resizeColumnsToContents()
        self.save_xyz.setEnabled(True)
        self.save_csv.setEnabled(True)
        cert = np.asarray(result.certainty)
        exact = getattr(result, "exact", None)
        certified = f", exact optimum {exact.status}" if exact is not None and hasattr(exact, "status") else ""
        self.status.setText(
            f"{len(pos)} {element} atoms ({result.model_source}{certified}), energy {result.energy:.1f}, "
            f"{result.surface_edges} surface edges, {'connected' if result.connected else 'NOT connected'}, "
            f"{result.n_holes} holes; {np.mean(cert >= 0.9) * 100:.1f} % of the atoms at certainty ≥ 0.9. "
            "Residual (model − measured) per column in each layer's 'residual' feature."
        )

    def _save(self, kind, path=None):
        """Save the model (.xyz: extended XYZ; .csv: points table with features and metadata)."""
        if self.result is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save the 3D model", f"model.{kind}", f"*.{kind}")
            if not path:
                return None
        element = self.model_layer.metadata.get("element", "Pb") if self.model_layer is not None else "Pb"
        try:
            if kind == "xyz":
                out = self.result.write_xyz(path, element=element)
            else:
                out = self.result.to_csv(path, name=f"{element} model")
        except OSError as exc:
            show_error(f"napari-nxtomo: cannot write {path}: {exc}")
            return None
        show_info(f"napari-nxtomo: model saved to {out}")
        return str(out)
