"""The 'Reconstruct 3D' dock: discrete tomography from the counted columns of two or more images.

Glue only: the points layers of counted columns (features ``count`` and
``type``, metadata ``zone_axis``) become projections
(:func:`.layers.projection_from_layer`),
:func:`napari_nxtomo.core.tomography.reconstruct` runs in a thread worker with
"run i of N" progress and a cancel button (finished runs are kept), and the
result comes back as a 3D points layer coloured by certainty, a residual per
column on every projection's layer, and a table.  When the layers are a
core–shell particle's with the shell's Cd counted (``count_Cd``), the shell's
Cd are reconstructed around the core in the same worker
(:func:`napari_nxtomo.core.workflow.core_shell_model.reconstruct_shell`) and
shown as a second layer, 'Cd shell', see-through, in the Cd colour with its
opacity following the certainty.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from magicgui.widgets import ComboBox, Container, FloatSlider, FloatSpinBox, LineEdit, PushButton, Select, SpinBox
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QTableWidget, QTableWidgetItem

from ..core.lattice import ROCKSALT_PBSE
from ..core.workflow import reprojection_per_column, reprojection_table, runs_metadata
from . import notify
from .dock import Dock, figure_canvas, stack
from .layers import (
    CERTAINTY_CMAP,
    ELEMENT_COLOUR,
    atoms_kwargs,
    colour_by,
    projection_from_layer,
    show_in_3d,
    world_coordinates,
)

#: the layer of a core-shell particle's shell (the core's is '<element> model'), drawn see-through
SHELL_LAYER = "Cd shell"
SHELL_OPACITY = 0.35

SOLVERS = {
    "annealing runs + exact optimum": "both",
    "annealing runs (paper)": "anneal",
    "exact optimum only (MILP)": "exact",
}
TABLE_COLUMNS = ["projection", "columns", "measured", "model", "columns off", "RMS residual"]


class ReconstructWidget(Dock):
    """Discrete tomography: a 3D atomic model on the fcc grid from counted columns, with certainty."""

    def __init__(self, napari_viewer):
        super().__init__(napari_viewer,
                         "Count the columns of two or more images of one particle, choose their layers, run.")
        self.result = None
        self.shell = None  # (shell result, shift_q) of a core-shell particle
        self.model_layer = None
        self.form = Container(widgets=self._options_panel())
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.table.setMinimumHeight(110)
        stack(self, self.form, self.runner, self.table, self._save_panel(), *self._certainty_panel(), self.status,
              stretch=True)
        self.run_button.changed.connect(self.run)

    def _options_panel(self) -> list:
        """Counted layers, zone axes, element, lattice parameter, solver, runs, seed, 'Reconstruct'."""
        self.layers = Select(choices=self._counted_layers, label="counted columns", allow_multiple=True)
        self.layers.native.setMaximumHeight(84)  # four rows (two or three views): the status line stays in sight
        self.zones = LineEdit(value="", label="zone axes (optional)")
        self.zones.tooltip = "one per chosen layer, e.g. '100, 010, 110'; empty: from each layer's metadata"
        self.element = LineEdit(value="Pb", label="element")
        self.lattice = FloatSpinBox(value=ROCKSALT_PBSE.lattice_parameter, min=1.0, max=20.0, step=0.01,
                                    label="lattice parameter (Å)")
        self.solver = ComboBox(choices=list(SOLVERS), value="annealing runs + exact optimum", label="solver")
        self.n_runs = SpinBox(value=10, min=1, max=1000, label="annealing runs")
        self.seed = SpinBox(value=0, min=0, max=2**31 - 1, label="seed")
        self.run_button = PushButton(text="Reconstruct")
        return [self.layers, self.zones, self.element, self.lattice, self.solver, self.n_runs, self.seed,
                self.run_button]

    def _save_panel(self) -> QHBoxLayout:
        """'Save model (.xyz)' and 'Save model (CSV)', enabled once there is a model."""
        self.save_xyz = QPushButton("Save model (.xyz)")
        self.save_csv = QPushButton("Save model (CSV)")
        for b in (self.save_xyz, self.save_csv):
            b.setEnabled(False)
        self.save_xyz.clicked.connect(lambda: self._save("xyz"))
        self.save_csv.clicked.connect(lambda: self._save("csv"))
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_xyz)
        buttons.addWidget(self.save_csv)
        return buttons

    def _certainty_panel(self) -> list:
        """The model's colour bar (napari draws none for points) with the histogram of its atoms' certainty above
        it, a slider hiding atoms below a certainty, and a line counting the atoms the runs disagree on."""
        self.certainty_figure, self.colour_bar = figure_canvas((4, 1.5), min_height=130)
        self._draw_certainty(None)
        self.threshold = FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, label="hide certainty below")
        self.threshold.tooltip = "atoms of the model whose certainty is below this value are hidden"
        self.threshold.changed.connect(self._apply_threshold)
        self.shown_label = QLabel("")
        self.shown_label.setWordWrap(True)
        return [self.colour_bar, Container(widgets=[self.threshold]), self.shown_label]

    def _draw_certainty(self, certainty) -> None:
        """The colour bar, and above it the number of the model's atoms per certainty bin (bars in the atoms'
        colours, log scale: the few atoms the runs disagree on stay visible beside the many certain ones)."""
        from matplotlib import colormaps
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        fig = self.certainty_figure
        fig.clear()
        hist, bar = fig.subplots(2, 1, height_ratios=(2.2, 1), sharex=True)
        if certainty is not None and len(certainty):
            cert = np.clip(np.asarray(certainty, float), 0.0, 1.0)
            sure = cert >= 1.0 - 1e-9
            # bins of 0.05 below 1 (the last one drawn half wide), then the atoms every run agrees on at 1
            n, edges = np.histogram(cert[~sure], np.linspace(0.0, 1.0, 21))
            n = np.append(n, sure.sum())
            left = np.append(edges[:-1], 0.975)
            width = np.append(np.full(19, 0.05), [0.025, 0.025])
            hist.bar(left, n, width=width, align="edge", color=colormaps[CERTAINTY_CMAP](left + width / 2),
                     edgecolor="k", linewidth=0.3, log=True)
            hist.set_ylim(0.5, max(2.0, 2.0 * n.max()))
            hist.set_ylabel("atoms", fontsize=8)
            hist.set_title(f"{int((~sure).sum())} of {cert.size} atoms below certainty 1", fontsize=8)
        else:
            hist.text(0.5, 0.5, "the model's atoms per certainty appear here", ha="center", va="center",
                      transform=hist.transAxes, fontsize=8)
            hist.set_yticks([])
        hist.tick_params(labelsize=7)
        hist.set_xlim(0.0, 1.0)
        fig.colorbar(ScalarMappable(Normalize(0.0, 1.0), CERTAINTY_CMAP), cax=bar, orientation="horizontal")
        bar.set_xlabel("certainty (share of runs with the atom)", fontsize=8)
        bar.tick_params(labelsize=7)
        self.colour_bar.draw_idle()

    def _apply_threshold(self, *_):
        """Show only the model's atoms at or above the certainty threshold; say how many are shown and uncertain."""
        layer = self.model_layer
        if layer is None or layer not in self.viewer.layers:
            return
        cert = layer.features["certainty"].to_numpy(float)
        layer.shown = cert >= float(self.threshold.value) - 1e-9
        unsure = int(np.sum(cert < 1.0 - 1e-9))
        self.shown_label.setText(
            f"{int(layer.shown.sum())} of {len(cert)} atoms shown; {unsure} with certainty < 1 (the runs disagree "
            "on them)" + ("" if unsure else ": every run and the optimum agree"))

    def _counted_layers(self, *_):
        from napari.layers import Points

        viewer = getattr(self, "viewer", None)
        if viewer is None:
            return []
        return [ly for ly in viewer.layers if isinstance(ly, Points) and "count" in ly.features and ly.ndim == 2]

    # ------------------------------------------------------------ run

    def _projections(self):
        from ..core.tomography import parse_zone_axis

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
        """Reconstruct from the chosen layers in a thread worker; a cancelled run keeps its finished runs."""
        from ..core.tomography import reconstruct

        self.reset_choices()
        try:
            layers, projections, kept = self._projections()
        except ValueError as exc:
            notify.error(exc)
            return
        method = SOLVERS[self.solver.value]
        n_runs, seed, a = int(self.n_runs.value), int(self.seed.value), float(self.lattice.value)
        element = self.element.value.strip() or "Pb"

        shell_tables = _shell_tables(layers) if element == "Pb" else None

        def job(progress, cancel):
            from ..core.workflow.core_shell_model import _shell_projections, reconstruct_shell

            result = reconstruct(projections, a, lattice="fcc", n_runs=n_runs, seed=seed, method=method,
                                 progress=progress, cancel=cancel)
            if shell_tables is None:
                return result, None
            shell, shift_q = reconstruct_shell(shell_tables, result, a, n_runs=n_runs, seed=seed, method=method,
                                               progress=progress, cancel=cancel)
            _, shell_kept = _shell_projections(shell_tables, result, shift_q, a)
            return result, (shell, shift_q, shell_kept)

        def done(pair):
            self._show(pair[0], layers, kept, element, a, pair[1])

        def cancelled(exc):
            partial = getattr(exc, "partial", None)
            if partial is not None:
                self._show(partial, layers, kept, element, a)
                notify.info(f"reconstruction cancelled; {len(partial.runs)} finished runs kept")

        self.status.setText(f"Reconstructing {element} from {len(projections)} projections, {n_runs} runs ...")
        self.start(job, done, "reconstruction", on_cancelled=cancelled)

    # ------------------------------------------------------------ results

    def _show(self, result, layers, kept, element, a, shell=None):
        self.result, self.shell = result, (shell[:2] if shell else None)
        self._show_model(result, layers, element, a)
        self._show_shell(self.shell, a)
        if shell:
            _put_reprojection(shell[0], layers, shell[2], "_Cd")
        self._show_reprojection(result, layers, kept)
        self.save_xyz.setEnabled(True)
        self.save_csv.setEnabled(True)
        exact = getattr(result, "exact", None)
        certified = f", exact optimum {exact.status}" if exact is not None and hasattr(exact, "status") else ""
        self.status.setText(
            f"{len(result.positions)} {element} atoms ({result.model_source}{certified}), "
            f"energy {result.energy:.1f}, {result.surface_edges} surface edges, "
            f"{'connected' if result.connected else 'NOT connected'}, {result.n_holes} holes; "
            f"{result.certain_fraction(0.9) * 100:.1f} % of the atoms at certainty ≥ 0.9. "
            "Residual (model − measured) per column in each layer's 'residual' feature."
            + (f" Shell: {shell[0].n_atoms} Cd around the core (layer '{SHELL_LAYER}'; per column "
               "'model_count_Cd', 'residual_Cd')." if shell else "")
            + "".join(f" {n[0].upper()}{n[1:]}." for n in result.notes if "by their probability" in n)
        )

    def _show_shell(self, shell, a):
        """The shell's Cd as the 3D points layer 'Cd shell' (Cd colour, opacity by certainty), or none."""
        if SHELL_LAYER in self.viewer.layers:
            self.viewer.layers.remove(SHELL_LAYER)
        if shell is None:
            return
        from ..core.workflow.core_shell_model import shell_positions

        result, shift_q = shell
        pos = shell_positions(result, shift_q)
        cert = np.asarray(result.certainty, dtype=float)
        feats = pd.DataFrame({"element": ["Cd"] * len(pos), "certainty": cert})
        md = dict(result.metadata(), lattice_parameter=a, structure="zincblende", element="Cd",
                  core_layer=self.model_layer.name, shell_shift_q=[int(v) for v in shift_q])
        kwargs = atoms_kwargs(feats, SHELL_LAYER, md)
        rgb = np.array([int(ELEMENT_COLOUR["Cd"][i:i + 2], 16) / 255 for i in (1, 3, 5)])
        kwargs["face_color"] = np.column_stack([np.tile(rgb, (len(pos), 1)), 0.25 + 0.75 * np.clip(cert, 0, 1)])
        layer = self.viewer.add_points(pos[:, ::-1], **kwargs)
        layer.opacity = SHELL_OPACITY  # the core shows through its shell
        self.model_layer.metadata["shell_layer"] = layer.name
        show_in_3d(self.viewer, layer)

    def _show_model(self, result, layers, element, a):
        """The model as a 3D points layer '<element> model' coloured by certainty (replacing an older one)."""
        pos = np.asarray(result.positions, dtype=float)
        feats = pd.DataFrame({"element": [element] * len(pos), "certainty": np.asarray(result.certainty, float)})
        freq = np.asarray(getattr(result, "frequency", np.full(len(pos), np.nan)), dtype=float)
        if freq.shape == (len(pos),):
            feats["frequency"] = freq
        md = dict(result.metadata())
        md.update(lattice_parameter=a, structure="rocksalt", element=element,
                  projection_layers=[ly.name for ly in layers])
        shells = [ly.metadata.get("shell_crystal", "shell") for ly in layers
                  if (ly.metadata or {}).get("structure") == "core-shell"]
        if shells:  # the core of a core-shell particle: its anions are all there (the shell holds them)
            md["shell_crystal"] = shells[0]
        md.update(runs_metadata(result))  # each annealing run's model: the Debye dock averages their patterns
        name = f"{element} model"
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        self.model_layer = self.viewer.add_points(pos[:, ::-1], **atoms_kwargs(feats, name, md))
        colour_by(self.model_layer, "certainty", CERTAINTY_CMAP, (0.0, 1.0))
        self._draw_certainty(feats["certainty"].to_numpy(float))
        self._apply_threshold()
        show_in_3d(self.viewer, self.model_layer)  # a 3D model is never shown as a 2D slice

    def _show_reprojection(self, result, layers, kept):
        """Model count and residual per column in each projection's layer; one table row per projection."""
        _put_reprojection(result, layers, kept)
        summary = reprojection_table(result, [ly.name for ly in layers], kept)
        self.table.setRowCount(len(layers))
        for row, s in enumerate(summary.to_dict("records")):
            unmeasured = f" ({s['unmeasured']} unmeasured)" if s["unmeasured"] else ""
            cells = [s["projection"], s["columns"], s["measured"], s["model"], s["columns_off"],
                     f"{s['rms_residual']:.3g}" + unmeasured]
            for col, v in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(str(v)))
        self.table.resizeColumnsToContents()

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
            if kind == "xyz" and self.shell is not None:
                from ..core.workflow.core_shell_model import write_whole_xyz

                out = write_whole_xyz(path, self.result, *self.shell)
            elif kind == "xyz":
                out = self.result.write_xyz(path, element=element)
            else:
                out = self.result.to_csv(path, name=f"{element} model")
        except OSError as exc:
            notify.error(f"cannot write {path}: {exc}")
            return None
        notify.info(f"model saved to {out}")
        return str(out)


def _shell_tables(layers):
    """The counted layers as tables for the shell (``y, x`` Å and the features) when every one has Cd counts."""
    if not all({"count_Cd", "type"} <= set(ly.features.columns) for ly in layers):
        return None
    tables = []
    for ly in layers:
        yx = world_coordinates(ly, 2)
        tables.append(ly.features.assign(y=yx[:, 0], x=yx[:, 1]))
    return tables


def _put_reprojection(result, layers, kept, suffix=""):
    """Each counted layer's ``model_count`` and ``residual`` (model − measured; ``suffix`` for the shell's Cd)."""
    per_column = reprojection_per_column(result, kept, [len(ly.data) for ly in layers])
    for ly, frame in zip(layers, per_column):
        f = ly.features.copy()
        f["model_count" + suffix] = frame["model_count"].to_numpy()
        f["residual" + suffix] = frame["residual"].to_numpy()
        ly.features = f
