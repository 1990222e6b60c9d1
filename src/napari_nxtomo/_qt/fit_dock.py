"""The 'Fit columns' dock: find atomic columns in an image and fit one Gaussian per column.

Glue only: the image layer becomes an array in Å (:func:`.layers.image_array`),
:func:`napari_nxtomo.core.fitting.find_columns`,
:func:`napari_nxtomo.core.workflow.find_and_fit` and
:func:`napari_nxtomo.core.workflow.check_fit` do the work (the fit in a
thread worker), and the results come back as the points layer's ``features``
and two image layers (model, residual).
"""

from __future__ import annotations

import numpy as np

import pandas as pd
from magicgui.widgets import ComboBox, Container, FloatSpinBox, LineEdit, PushButton, create_widget

from ..core.columns import DEFAULT_MIN_DISTANCE
from ..core.io import OPTICS_KEYS, check_real_space
from ..core.workflow.counts import FIT_SETTINGS
from . import notify
from .dock import Dock, stack
from .particles_panel import ParticlesPanel
from .layers import (add_or_update_points, columns_kwargs, fitted_features, image_array, place_above,
                     points_to_image_frame)

TYPE_CHOICES = {
    "auto (from zone axis)": "auto",
    "one type": "one",
    "one type, mixed heavy+light ([100] rocksalt)": "mixed",
    "two types by lattice parity ([110] rocksalt)": "parity",
    "two types by intensity": "intensity",
    "keep the points' 'type' feature": "given",
}
#: (label, value) of the fit's weighting box (fit_columns' weighting)
WEIGHTINGS = [("noise (max. likelihood)", "noise"), ("uniform least squares (StatSTEM)", "uniform")]
#: (label, value) of the fit's background box (fit_columns' background_degree)
BACKGROUNDS = [("flat", 0), *((f"smooth, degree {d}", d) for d in (1, 2, 3, 4))]
#: image metadata the fitted points layer carries over (the optics choose the counting's library)
CARRIED_METADATA = ("zone_axis", "tilt_axis", "tilt_direction", "image_rotation_deg", *OPTICS_KEYS)


def _calibration_warning(layer, pixel: float) -> str:
    """A sentence for the status line (and a notification) when the image carries no pixel size; else ""."""
    md = layer.metadata or {}
    if md.get("calibrated", True) and ("pixel_size_A" in md or not np.isclose(pixel, 1.0)):
        return ""
    text = (f" '{layer.name}' carries no pixel size: distances are taken as {pixel:g} Å per pixel; set the layer's "
            "scale to the pixel size in Å (e.g. viewer.layers['…'].scale = (0.2, 0.2)) or open a calibrated file.")
    notify.info(text.strip())
    return text


def _element_pair(text) -> tuple:
    names = [t.strip() for t in str(text).replace(";", ",").split(",") if t.strip()]
    if len(names) != 2:
        raise ValueError(f"give the heavy and the light element separated by a comma (e.g. 'Pb, Se'), not {text!r}")
    return names[0], names[1]


class FitColumnsWidget(Dock):
    """Find atomic columns and fit one Gaussian per column (overlap handled, one width per type)."""

    def __init__(self, napari_viewer):
        super().__init__(napari_viewer, "Find columns (or draw them in a points layer), edit them, then fit.")
        self.particles = ParticlesPanel(self)
        self.form = Container(widgets=[*self._find_panel(), *self.particles.widgets, *self._fit_panel()])
        stack(self, self.form, self.runner, self.status, stretch=True)
        self.find_button.changed.connect(self.find)
        self.image.changed.connect(self._preset_min_distance)
        self.image.changed.connect(self._show_pixel_size)
        self._preset_min_distance()
        self._show_pixel_size()
        self.fit_button.changed.connect(self.fit)

    def _find_panel(self) -> list:
        """Image, minimum distance, 'Find columns'."""
        self.image = create_widget(annotation="napari.layers.Image", label="image")
        self.pixel_size = FloatSpinBox(value=1.0, min=0.001, max=100.0, step=0.001, label="pixel size (Å)")
        self.pixel_size.tooltip = "the image layer's scale: set it here when the file carries no calibration"
        self.min_distance = FloatSpinBox(value=DEFAULT_MIN_DISTANCE, min=0.3, max=50.0, step=0.1, label="min distance (Å)")
        self.find_button = PushButton(text="Find columns")
        self.pixel_size.changed.connect(self._set_pixel_size)
        return [self.image, self.pixel_size, self.min_distance, self.find_button]

    def _show_pixel_size(self):
        """The chosen image's pixel size (its layer scale, Å) into the box."""
        layer = self.image.value
        if layer is not None:
            with self.pixel_size.changed.blocked():
                self.pixel_size.value = float(layer.scale[-1])

    def _set_pixel_size(self, value):
        """The box's pixel size (Å) onto the image layer's scale: the image is then calibrated."""
        layer = self.image.value
        if layer is None or np.isclose(float(layer.scale[-1]), value):
            return
        layer.scale = (*layer.scale[:-2], value, value)
        layer.metadata = {**(layer.metadata or {}), "pixel_size_A": float(value), "calibrated": True}
        self.status.setText(f"pixel size of '{layer.name}' set to {value:g} Å (its layer scale).")

    def _fit_panel(self) -> list:
        """Points layer of columns, column types, elements, 'Fit columns'."""
        self.points = create_widget(annotation="napari.layers.Points", label="columns")
        self.types = ComboBox(choices=list(TYPE_CHOICES), value="auto (from zone axis)", label="column types")
        self.types.tooltip = (
            "auto: from the image's zone axis (rocksalt [100]: mixed Pb+Se columns; [110]: Pb and Se "
            "columns by lattice parity); or choose; 'keep' uses the points' own 'type' feature"
        )
        self.elements = LineEdit(value="Pb, Se", label="heavy, light element")
        self.weighting = ComboBox(choices=WEIGHTINGS, value="noise", label="weighting",
                                  tooltip="noise: each pixel by its fitted noise (maximum likelihood, the default); "
                                          "uniform: ordinary least squares, StatSTEM's estimator: the fit a library "
                                          "of least-squares cross-sections (StatSTEM's) is compared with")
        self.background = ComboBox(choices=BACKGROUNDS, value=0, label="background",
                                   tooltip="flat, or a smooth polynomial fitted with the columns (a support or a "
                                           "thickness that varies across the image)")
        self.fit_button = PushButton(text="Fit columns")
        return [self.points, self.types, self.elements, self.weighting, self.background, self.fit_button]

    # ------------------------------------------------------------ find

    def _preset_min_distance(self, *_):
        """Min distance from the image's zone axis and lattice parameter (metadata), else the default; said in the status."""
        from ..core.columns import min_distance_for

        layer = self.image.value
        if layer is None:
            return
        self.min_distance.value, why = min_distance_for(layer.metadata or {})
        if why.startswith("the default"):
            self.status.setText(f"min distance {self.min_distance.value} Å (default: '{layer.name}' does not give its "
                                "zone axis and lattice parameter). Find columns, edit them, then fit.")
        else:
            self.status.setText(f"min distance {self.min_distance.value} Å: {why} of '{layer.name}' (zone axis and "
                                "lattice parameter from its metadata). Find columns, edit them, then fit.")

    def find(self):
        """Find the columns of the chosen image: a points layer '<image> columns' (added or updated)."""
        from ..core.fitting import find_columns

        layer = self.chosen_layer(self.image, "open an image first (File > Open, or File > Open Sample)")
        if layer is None:
            return
        try:
            img, pixel, origin = self.image_input(layer)
            pos = find_columns(img, pixel, self.min_distance.value)
        except ValueError as exc:
            notify.error(exc)
            return
        self.show_found(layer, pos, pixel, origin)
        if len(pos) == 0:
            self.status.setText(f"No column stands out of the noise in '{layer.name}' (none 6 σ above the "
                                "background): check the image and the minimum distance, or draw the columns.")
            return
        self.status.setText(f"{len(pos)} columns found in '{layer.name}'. Add, delete or move them, then fit."
                            + _calibration_warning(layer, pixel))

    def image_input(self, layer):
        """The image layer as (array, pixel size Å, origin Å), refused (ValueError) for a reciprocal-space image."""
        check_real_space(layer.metadata or {}, f"'{layer.name}'")
        return image_array(layer, self.viewer)

    def show_found(self, layer, pos, pixel, origin, features=None):
        """Found columns into the points layer '<image> columns' (added or updated), drawn on the image; returns it."""
        if features is None:
            features = pd.DataFrame({"type": pd.Series(["column"] * len(pos), dtype="category")})
        kwargs = columns_kwargs(features, f"{layer.name} columns", {"pixel_size_A": pixel, "units": "Å"}, origin)
        pts = add_or_update_points(self.viewer, pos, kwargs)
        place_above(self.viewer, pts, layer)  # drawn on the image it was found on
        layer.visible = pts.visible = True
        self.reset_choices()
        self.points.value = pts
        return pts

    # ------------------------------------------------------------ fit

    def _fit_inputs(self):
        """Everything the fit needs, read in the main thread (ValueError on bad input)."""
        layer, pts = self.image.value, self.points.value
        check_real_space(layer.metadata or {}, f"'{layer.name}'")
        img, pixel, origin = image_array(layer, self.viewer)
        pos = points_to_image_frame(pts, origin)
        if len(pos) == 0:
            raise ValueError(f"the points layer '{pts.name}' is empty: find or draw columns first")
        own = pts.features["type"].astype(str).to_numpy() if "type" in pts.features else None
        rule = TYPE_CHOICES[self.types.value]
        if rule == "given" and own is None:
            raise ValueError(f"the points layer '{pts.name}' has no 'type' feature to keep")
        options = {"zone_axis": layer.metadata.get("zone_axis"), "elements": _element_pair(self.elements.value),
                   "given_types": own, "lattice_parameter": layer.metadata.get("lattice_parameter"),
                   "structure": layer.metadata.get("structure"),
                   "fit_options": {"weighting": self.weighting.value, "background_degree": int(self.background.value)}}
        return img, pixel, origin, pos, rule, options

    def fit(self):
        """Fit the chosen points layer's columns on the chosen image in a thread worker."""
        from ..core.workflow import check_fit, find_and_fit

        self.reset_choices()
        layer, pts = self.image.value, self.points.value
        if layer is None or pts is None:
            notify.error("choose an image and a points layer of columns (use 'Find columns')")
            return
        try:
            img, pixel, origin, pos, rule, options = self._fit_inputs()
        except ValueError as exc:
            notify.error(exc)
            return

        def job(progress, cancel):
            table = find_and_fit(img, pixel, positions=pos, types=rule, **options, progress=progress, cancel=cancel)
            return table, check_fit(img, pixel, table)

        def done(result):
            table, check = result
            self._show_columns(pts, layer, table, pixel, origin)
            self._show_model(layer, check, pixel, origin)
            self.status.setText(
                f"Fitted {len(table)} columns of '{layer.name}': median volume {check.median_volume:.4g} "
                f"(image units × Å²), residual RMS {check.residual_rms:.3g}. "
                f"Results in the features of '{pts.name}'."
            )

        self.status.setText(f"Fitting {len(pos)} columns ...")
        self.start(job, done, "column fit")

    @staticmethod
    def _show_columns(pts, layer, table, pixel, origin):
        """The fitted table into the points layer: positions, features, metadata."""
        features = fitted_features(table, pts.features)
        pts.data = table[["y", "x"]].to_numpy()
        pts.translate = tuple(origin)
        pts.features = features
        pts.metadata.update({"fitted_on": layer.name, "pixel_size_A": pixel,
                             "column_types": table.attrs.get("type_rule"),
                             **{k: table.attrs[k] for k in FIT_SETTINGS if k in table.attrs}})
        for key in CARRIED_METADATA:
            if key in layer.metadata:
                pts.metadata[key] = layer.metadata[key]

    def _show_model(self, layer, check, pixel, origin):
        """The model image and the residual of a FitCheck as image layers over the image (added or updated)."""
        common = {"scale": (pixel, pixel), "translate": tuple(origin), "units": ("angstrom", "angstrom")}
        for suffix, data, cmap in (("model", check.model, "gray"), ("residual", check.residual, "twilight_shifted")):
            name = f"{layer.name} {suffix}"
            if name in self.viewer.layers:
                self.viewer.layers[name].data = data
            else:  # hidden, just above the image: the count colours of the columns stay in sight
                place_above(self.viewer, self.viewer.add_image(data, name=name, colormap=cmap, visible=False,
                                                               **common), layer)
