"""Dock widgets: column fitting and atom counting.

Thin glue: layers become arrays in Å, the core functions
(:func:`napari_nxtomo.core.fitting.fit_columns`,
:func:`napari_nxtomo.core.counting.count_atoms`) do the work in a thread
worker (:class:`~napari_nxtomo._qt_tasks.TaskRunner`), and their results
come back as layers and ``features``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from magicgui.widgets import (
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    LineEdit,
    PushButton,
    SpinBox,
    create_widget,
)
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from ._layers import COUNT_CMAP, colour_by, columns_kwargs
from ._qt_tasks import TaskRunner

FIT_FEATURES = ["y", "x", "volume", "height", "width", "type", "y_err", "x_err", "volume_err"]

TYPE_CHOICES = {
    "auto (from zone axis)": "auto",
    "one type": "one",
    "one type, mixed heavy+light ([100] rocksalt)": "mixed",
    "two types by lattice parity ([110] rocksalt)": "parity",
    "two types by intensity": "intensity",
    "keep the points' 'type' feature": "given",
}


def _element_pair(text) -> tuple:
    names = [t.strip() for t in str(text).replace(";", ",").split(",") if t.strip()]
    if len(names) != 2:
        raise ValueError(f"give the heavy and the light element separated by a comma (e.g. 'Pb, Se'), not {text!r}")
    return names[0], names[1]


# ---------------------------------------------------------------- layer <-> arrays


def image_array(layer, viewer=None):
    """The 2D image shown by an image layer, its pixel size (Å) and its translate (Å).

    A stack gives the frame the viewer shows.
    """
    data = np.asarray(layer.data)
    if getattr(layer, "rgb", False):
        raise ValueError(f"'{layer.name}' is an RGB image; open the HAADF image as a single-channel layer")
    if data.ndim > 2:
        if viewer is not None:
            idx = tuple(int(round(v)) for v in viewer.dims.current_step[: data.ndim - 2])
        else:
            idx = (0,) * (data.ndim - 2)
        data = data[idx]
    scale = np.asarray(layer.scale[-2:], dtype=float)
    if not np.isclose(scale[0], scale[1], rtol=1e-3):
        raise ValueError(f"'{layer.name}' has non-square pixels {tuple(scale)}; resample it to square pixels first")
    return np.asarray(data, dtype=float), float(scale[1]), np.asarray(layer.translate[-2:], dtype=float)


def points_to_image_frame(points, origin) -> np.ndarray:
    """Points layer positions as Å in the frame of an image whose pixel (0, 0) sits at ``origin`` (world)."""
    data = np.asarray(points.data, dtype=float)[:, -2:]
    world = data * np.asarray(points.scale[-2:]) + np.asarray(points.translate[-2:])
    return world - origin


# ---------------------------------------------------------------- fitting


class FitColumnsWidget(QWidget):
    """Find atomic columns and fit one Gaussian per column (overlap handled, one width per type)."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.image = create_widget(annotation="napari.layers.Image", label="image")
        self.min_distance = FloatSpinBox(value=2.0, min=0.3, max=50.0, step=0.1, label="min distance (Å)")
        self.find_button = PushButton(text="Find columns")
        self.points = create_widget(annotation="napari.layers.Points", label="columns")
        self.types = ComboBox(choices=list(TYPE_CHOICES), value="auto (from zone axis)", label="column types")
        self.types.tooltip = (
            "auto: from the image's zone axis (rocksalt [100]: mixed Pb+Se columns; [110]: Pb and Se "
            "columns by lattice parity); or choose; 'keep' uses the points' own 'type' feature"
        )
        self.elements = LineEdit(value="Pb, Se", label="heavy, light element")
        self.fit_button = PushButton(text="Fit columns")
        self.form = Container(
            widgets=[
                self.image,
                self.min_distance,
                self.find_button,
                self.points,
                self.types,
                self.elements,
                self.fit_button,
            ]
        )
        self.runner = TaskRunner()
        self.status = QLabel("Find columns (or draw them in a points layer), edit them, then fit.")
        self.status.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.form.native)
        lay.addWidget(self.runner)
        lay.addWidget(self.status)
        lay.addStretch(1)
        self.find_button.changed.connect(self.find)
        self.fit_button.changed.connect(self.fit)
        self.last_worker = None

    def reset_choices(self, *_):
        """Refresh the layer lists (napari calls this when layers are added or removed)."""
        self.form.reset_choices()

    def showEvent(self, event):  # keep the layer lists fresh
        self.reset_choices()
        super().showEvent(event)

    def find(self):
        from .core.fitting import find_columns

        self.reset_choices()
        layer = self.image.value
        if layer is None:
            show_error("napari-nxtomo: open an image first (File > Open, or File > Open Sample)")
            return
        try:
            img, pixel, origin = image_array(layer, self.viewer)
            pos = find_columns(img, pixel, self.min_distance.value)
        except ValueError as exc:
            show_error(f"napari-nxtomo: {exc}")
            return
        features = pd.DataFrame({"type": pd.Series(["column"] * len(pos), dtype="category")})
        kwargs = columns_kwargs(features, f"{layer.name} columns", {"pixel_size_A": pixel, "units": "Å"}, origin)
        name = kwargs.pop("name")
        if name in self.viewer.layers:
            old = self.viewer.layers[name]
            old.data = pos
            old.features = features
            pts = old
        else:
            pts = self.viewer.add_points(pos, name=name, **kwargs)
        self.reset_choices()
        self.points.value = pts
        self.status.setText(f"{len(pos)} columns found in '{layer.name}'. Add, delete or move them, then fit.")

    def fit(self):
        from .core.fitting import fit_columns, model_image

        self.reset_choices()
        layer, pts = self.image.value, self.points.value
        if layer is None or pts is None:
            show_error("napari-nxtomo: choose an image and a points layer of columns (use 'Find columns')")
            return
        try:
            img, pixel, origin = image_array(layer, self.viewer)
            pos = points_to_image_frame(pts, origin)
            if len(pos) == 0:
                raise ValueError(f"the points layer '{pts.name}' is empty: find or draw columns first")
            own = pts.features["type"].astype(str).to_numpy() if "type" in pts.features else None
            rule = TYPE_CHOICES[self.types.value]
            if rule == "given" and own is None:
                raise ValueError(f"the points layer '{pts.name}' has no 'type' feature to keep")
            names = _element_pair(self.elements.value)
            zone = layer.metadata.get("zone_axis")
        except ValueError as exc:
            show_error(f"napari-nxtomo: {exc}")
            return

        def job(progress, cancel):
            from .core.columns import fit_typed_columns

            table = fit_typed_columns(img, pixel, pos, rule, zone_axis=zone, names=names, types=own,
                                      progress=progress, cancel=cancel)
            model = model_image(img.shape, pixel, table, table.attrs.get("background", 0.0))
            return table, model

        def done(result):
            table, model = result
            keep = pts.features.drop(columns=[c for c in pts.features.columns if c in table.columns], errors="ignore")
            features = pd.concat([table.reset_index(drop=True), keep.reset_index(drop=True)], axis=1)
            pts.data = table[["y", "x"]].to_numpy()
            pts.translate = tuple(origin)
            pts.features = features
            pts.metadata.update({"fitted_on": layer.name, "pixel_size_A": pixel,
                                 "column_types": table.attrs.get("type_rule")})
            for key in ("zone_axis", "tilt_axis", "tilt_direction", "image_rotation_deg"):
                if key in layer.metadata:
                    pts.metadata[key] = layer.metadata[key]
            common = {"scale": (pixel, pixel), "translate": tuple(origin), "units": ("angstrom", "angstrom")}
            for suffix, data, cmap in (("model", model, "gray"), ("residual", img - model, "twilight_shifted")):
                name = f"{layer.name} {suffix}"
                if name in self.viewer.layers:
                    self.viewer.layers[name].data = data
                else:
                    self.viewer.add_image(data, name=name, colormap=cmap, visible=suffix == "residual", **common)
            rms = float(np.sqrt(np.mean((img - model) ** 2)))
            self.status.setText(
                f"Fitted {len(table)} columns of '{layer.name}': median volume {np.median(table.volume):.4g} "
                f"(image units × Å²), residual RMS {rms:.3g}. Results in the features of '{pts.name}'."
            )

        self.status.setText(f"Fitting {len(pos)} columns ...")
        self.last_worker = self.runner.start(job, done, "column fit")


# ---------------------------------------------------------------- counting


class CountAtomsWidget(QWidget):
    """Atom counts from the fitted cross-sections: Gaussian mixture with ICL, or a library."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.points = create_widget(annotation="napari.layers.Points", label="columns")
        self.feature = ComboBox(choices=self._feature_choices, label="cross-section")
        self.max_components = SpinBox(value=20, min=1, max=100, label="max components")
        self.n_components = SpinBox(value=0, min=0, max=100, label="components (0 = ICL)")
        self.lowest = SpinBox(value=0, min=0, max=1000, label="lowest count (0 = auto)")
        self.library = FileEdit(mode="r", filter="*.csv", label="library CSV (optional)")
        self.run_button = PushButton(text="Count atoms")
        self.form = Container(
            widgets=[
                self.points,
                self.feature,
                self.max_components,
                self.n_components,
                self.lowest,
                self.library,
                self.run_button,
            ]
        )
        self.points.changed.connect(lambda *_: self.feature.reset_choices())
        self.runner = TaskRunner()
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4, 5), constrained_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(320)
        self.status = QLabel("Fit the columns first; their volumes are counted here.")
        self.status.setWordWrap(True)
        # a wrapped label's height is not kept when the dock is squeezed: reserve the summary's three lines
        self.status.setMinimumHeight(3 * self.status.fontMetrics().lineSpacing() + 4)
        # the counting's notes (choice of K, inferred lowest count, ...) can run to many lines: a scrolling box
        # keeps them readable when the dock is short, where a wrapped label would be squeezed over the plot
        self.notes = QPlainTextEdit()
        self.notes.setReadOnly(True)
        self.notes.setMaximumHeight(96)
        self.notes.setPlaceholderText("notes on the counting appear here")
        lay = QVBoxLayout(self)
        lay.addWidget(self.form.native)
        lay.addWidget(self.runner)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.status)
        lay.addWidget(self.notes)
        self.run_button.changed.connect(self.run)
        self.last_worker = None
        self.result = None

    def _feature_choices(self, *_):
        pts = getattr(self, "points", None)
        layer = pts.value if pts is not None else None
        if layer is None:
            return ["volume"]
        cols = [c for c in layer.features.columns if pd.api.types.is_numeric_dtype(layer.features[c])]
        return cols or ["volume"]

    def reset_choices(self, *_):
        """Refresh the layer lists (napari calls this when layers are added or removed)."""
        self.form.reset_choices()

    def showEvent(self, event):
        self.reset_choices()
        super().showEvent(event)

    def _library(self):
        path = self.library.value
        if path is None or str(path) in ("", ".") or not path.is_file():
            return None
        lib = pd.read_csv(path)
        if not {"count", "cross_section"} <= set(lib.columns):
            raise ValueError(f"the library {path.name} needs two columns named 'count' and 'cross_section'")
        return dict(zip(lib["count"].astype(int), lib["cross_section"].astype(float)))

    def run(self):
        from .core.counting import count_atoms

        self.reset_choices()
        pts = self.points.value
        if pts is None:
            show_error("napari-nxtomo: choose the points layer of fitted columns")
            return
        feature = self.feature.value
        if feature not in pts.features:
            show_error(f"napari-nxtomo: '{pts.name}' has no feature '{feature}': fit the columns first")
            return
        try:
            volumes = pts.features[feature].to_numpy(dtype=float)
            library = self._library()
        except (ValueError, OSError) as exc:
            show_error(f"napari-nxtomo: {exc}")
            return
        types = pts.features["type"].astype(str).to_numpy() if "type" in pts.features else None
        kwargs = {"max_components": int(self.max_components.value), "library": library, "types": types}
        if feature == "volume" and "volume_err" in pts.features:
            kwargs["errors"] = pts.features["volume_err"].to_numpy(dtype=float)
        if self.n_components.value:
            kwargs["n_components"] = int(self.n_components.value)
        if self.lowest.value:
            kwargs["lowest_count"] = int(self.lowest.value)

        self.notes.clear()

        def job(progress, cancel):
            progress(0, 1)
            res = count_atoms(volumes, **kwargs)
            progress(1, 1)
            return res

        def done(res):
            self.result = res
            features = pts.features.copy()
            frame = res.to_frame()
            features["count"] = np.asarray(res.counts, dtype=int)
            features["count_probability"] = frame["probability"].to_numpy()
            if "n_minor" in frame:
                features["n_minor"] = frame["n_minor"].to_numpy()
            pts.features = features
            lo, hi = int(np.min(res.counts)), int(np.max(res.counts))
            colour_by(pts, "count", COUNT_CMAP, (lo, max(hi, lo + 1)))
            pts.metadata["counting"] = {
                "feature": feature,
                "method": res.method,
                "n_components": int(res.n_components),
                "sigma": np.atleast_1d(np.asarray(res.sigma, dtype=float)).tolist(),
                "means": np.asarray(res.means).tolist(),
                "notes": list(res.notes),
            }
            self.plot(volumes, res)
            what = "Pb" if res.minor_counts is not None else "atoms"
            self.status.setText(
                f"{len(volumes)} columns, {res.n_components} classes ({res.method}), {what} per column {lo}-{hi}; "
                f"written to the 'count' feature of '{pts.name}' (colour = count, legend above)."
            )
            self.notes.setPlainText("\n".join(f"• {n}" for n in res.notes))

        self.last_worker = self.runner.start(job, done, "atom counting")

    def plot(self, volumes, res):
        """Histogram with the mixture and its components, the ICL curve with its minimum, a count legend."""
        from .core.plots import plot_counts

        self.figure.clear()
        plot_counts(self.figure, volumes, res, cmap=COUNT_CMAP)
        self.canvas.draw_idle()
