"""The 'particles' step of the Fit dock: segment the particles, edit them as a Labels layer, find columns in them.

Glue only: :func:`napari_nxtomo.core.particles.segment_particles` labels the
particles (a Labels layer '<image> particles', editable with napari's brush
and eraser), :func:`napari_nxtomo.core.particles.find_particle_columns` finds
the columns of the chosen (or all) particles, guided by each particle's
lattice, both in the dock's thread worker; the columns go to the dock's
points layer, the lattices and the unresolved particles to the status line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from magicgui.widgets import LineEdit, PushButton, create_widget

from . import notify


def _chosen_labels(text) -> list | None:
    """'all' (or empty) → None; '1, 3' → [1, 3]; anything else a ValueError that says what to type."""
    text = str(text).strip().lower()
    if text in ("", "all"):
        return None
    try:
        return [int(t) for t in text.replace(";", ",").split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"particles: type 'all' or label numbers separated by commas (e.g. '1, 3'), not {text!r}")


def _lattice_sentence(report, crystal) -> str:
    """One sentence per particle: its lattice, its columns, and what was dropped; the unresolved ones named."""
    parts = []
    for _, r in report.iterrows():
        if not r["resolved"]:
            parts.append(f"particle {r['label']}: {r['note']}")
            continue
        s = (f"particle {r['label']}: {r['columns']} columns, lattice {r['a1']:.2f} × {r['a2']:.2f} Å at "
             f"{r['angle']:.1f}°, {r['motif']} site(s) per cell, {r['off_lattice']} maxima off the lattice dropped")
        if crystal and np.isfinite(r["crystal_mismatch"]):
            s += f", {100 * r['crystal_mismatch']:.1f} % from {crystal}"
        parts.append(s)
    return "; ".join(parts) + "."


class ParticlesPanel:
    """'Find particles' → Labels layer → 'Find columns in particles', for the Fit dock ``dock``."""

    def __init__(self, dock):
        self.dock = dock
        self.segment_button = PushButton(text="Find particles")
        self.segment_button.tooltip = ("label the particles apart from vacuum and support (a lattice seen: resolved; "
                                       "bright without one: off zone axis, no columns); edit the Labels layer")
        self.labels = create_widget(annotation="napari.layers.Labels", label="particles")
        self.which = LineEdit(value="all", label="particle(s)")
        self.which.tooltip = "'all' or the label numbers of the particles to find columns in, e.g. '1, 3'"
        self.find_button = PushButton(text="Find columns in particles")
        self.segment_button.changed.connect(self.segment)
        self.find_button.changed.connect(self.find)

    @property
    def widgets(self) -> list:
        return [self.segment_button, self.labels, self.which, self.find_button]

    def segment(self):
        """Segment the chosen image's particles in a thread worker: a Labels layer '<image> particles'."""
        from ..core.particles import segment_particles

        dock = self.dock
        layer = dock.chosen_layer(dock.image, "open an image first (File > Open, or File > Open Sample)")
        if layer is None:
            return
        try:
            img, pixel, origin = dock.image_input(layer)
        except ValueError as exc:
            notify.error(exc)
            return

        def done(pm):
            lab = self._show_labels(layer, pm.labels, pixel, origin, pm.regions)
            n_res = int(pm.regions["resolved"].sum())
            unresolved = pm.unresolved
            text = f"{n_res} particle(s) with a resolved lattice in '{layer.name}'"
            if unresolved:
                text += (f"; {len(unresolved)} bright region(s) without one (labels {unresolved}: off zone axis, "
                         "no columns looked for there)")
            dock.status.setText(text + f". Edit '{lab.name}' (brush, eraser), then find columns in the particles.")

        dock.status.setText(f"Finding the particles of '{layer.name}' ...")
        dock.start(lambda progress, cancel: segment_particles(img, pixel), done, "particle segmentation")

    def _show_labels(self, layer, labels, pixel, origin, regions):
        viewer = self.dock.viewer
        name = f"{layer.name} particles"
        md = {"pixel_size_A": pixel, "regions": regions.to_dict("list"), "image": layer.name}
        if name in viewer.layers:
            lab = viewer.layers[name]
            lab.data = labels
            lab.metadata.update(md)
        else:
            lab = viewer.add_labels(labels, name=name, scale=(pixel, pixel), translate=tuple(origin), opacity=0.35,
                                    metadata=md)
        self.dock.reset_choices()
        self.labels.value = lab
        return lab

    def find(self):
        """Find the columns of the chosen particles (lattice-guided) in a thread worker; points as 'Find columns'."""
        from ..core.particles import find_particle_columns

        dock = self.dock
        layer = dock.chosen_layer(dock.image, "open an image first (File > Open, or File > Open Sample)")
        lab = dock.chosen_layer(self.labels, "find the particles first ('Find particles') or add a Labels layer")
        if layer is None or lab is None:
            return
        try:
            img, pixel, origin = dock.image_input(layer)
            labels = np.asarray(lab.data)
            if labels.shape != img.shape:
                raise ValueError(f"the Labels layer '{lab.name}' has shape {labels.shape}, the image {img.shape}: "
                                 "find the particles of this image")
            which = _chosen_labels(self.which.value)
        except ValueError as exc:
            notify.error(exc)
            return
        md = layer.metadata or {}
        zone, a = md.get("zone_axis"), md.get("lattice_parameter")
        crystal = f"the {md.get('structure', 'fcc')} crystal (a = {a} Å) along {list(zone)}" if zone and a else ""

        def job(progress, cancel):
            return find_particle_columns(img, pixel, labels.astype(np.int32), labels=which, zone_axis=zone,
                                         lattice_parameter=a, structure=md.get("structure") or "fcc")

        def done(res):
            features = pd.DataFrame({"type": pd.Series(["column"] * len(res.positions), dtype="category"),
                                     "particle": res.particle, "lattice_site_added": res.added})
            pts = dock.show_found(layer, res.positions, pixel, origin, features)
            pts.metadata["particle_lattices"] = res.report.to_dict("list")
            dock.status.setText(f"{len(res.positions)} columns in '{layer.name}'s particles. "
                                + _lattice_sentence(res.report, crystal) + " Edit them, then fit.")

        dock.status.setText(f"Finding the columns of the particles of '{layer.name}' ...")
        dock.start(job, done, "particle columns")
