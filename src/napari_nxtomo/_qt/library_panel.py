"""The Count dock's cross-section library: which one counts, the dose, and computing one (abTEM).

Glue only: the choices list the shipped and cached libraries
(:func:`~napari_nxtomo.core.library.library_files`); "Compute library…"
opens a small group of the optics that runs
:func:`~napari_nxtomo.core.library.simulate_library` in the dock's task
runner (progress, cancel), which caches the library; it is then selected.
"""

from __future__ import annotations

from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, PushButton, SpinBox

from ..core.library import INSTALL_HINT, library_files
from ..core.library.cell import KNOWN_CRYSTALS
from ..core.workflow import describe_library
from . import notify
from .dock import chosen_path, compact

AUTO = ("auto (shipped library for the image's optics)", "auto")
FILE = ("file…", "file")
NONE = ("none (mixture only)", "none")
#: the file dialog's filter: a library JSON or a table of count and cross-section as a user writes it
LIBRARY_FILES = "*.json *.csv *.txt *.tsv *.dat"


def library_choices(*_) -> list:
    """(label, value) of the library box: auto, every shipped or cached library (value: its path), file, none."""
    from ..core.library import SHIPPED_DIR, CrossSectionLibrary

    out = [AUTO]
    for path in library_files():
        try:
            lib = CrossSectionLibrary.read(path)
        except ValueError:  # a broken file in the cache is skipped, not fatal
            continue
        where = "shipped" if path.parent == SHIPPED_DIR else "cached"
        out.append((f"{describe_library(lib)} ({where})", str(path)))
    return out + [FILE, NONE]


class LibraryPanel:
    """The library box, its file, the dose and the collapsible 'Compute library…' group of a :class:`Dock`."""

    def __init__(self, dock):
        self.dock = dock
        self.library = ComboBox(choices=library_choices, label="library")
        compact(self.library)
        self.file = FileEdit(mode="r", filter=LIBRARY_FILES, label="library file",
                             tooltip="a library JSON, or any table of atom count and cross-section (Å²) you wrote: "
                                     "CSV or text, comma, semicolon, tab or space separated, header or none")
        self.file.visible = False
        self.dose = FloatSpinBox(value=0.0, min=0.0, max=1e9, step=1000.0, label="dose e/Å² (0: fit)",
                                 tooltip="incident e/Å² of an image in detected electrons: the library's scale is "
                                         "dose × pixel²; 0 (unknown): the scale is fitted")
        self.compute_toggle = PushButton(text="Compute library…")
        self.group = Container(widgets=self._compute_fields(), labels=True)
        self.group.visible = False
        self.expanded = False  # the compute group shown (``visible`` also needs the dock itself shown)
        self.library.changed.connect(lambda value: setattr(self.file, "visible", value == "file"))
        self.compute_toggle.changed.connect(self.toggle)
        self.compute_button.changed.connect(self.compute)

    def widgets(self) -> list:
        return [self.library, self.file, self.dose, self.compute_toggle, self.group]

    def _compute_fields(self) -> list:
        """The optics of a library to compute: kV, convergence, detector, crystal, zone axis, max count, vibration."""
        self.energy = FloatSpinBox(value=300.0, min=20.0, max=1000.0, label="energy (kV)")
        self.convergence = FloatSpinBox(value=24.0, min=1.0, max=100.0, label="convergence (mrad)")
        self.inner = FloatSpinBox(value=60.0, min=0.0, max=500.0, label="detector inner (mrad)")
        self.outer = FloatSpinBox(value=130.0, min=1.0, max=1000.0, label="detector outer (mrad)")
        self.crystal = ComboBox(choices=sorted(KNOWN_CRYSTALS), value="PbSe", label="crystal")
        self.zone = ComboBox(choices=["110", "100"], value="110", label="zone axis")
        self.max_count = SpinBox(value=15, min=1, max=60, label="max count")
        self.vibration = FloatSpinBox(value=self._room_vibration(), min=0.01, max=0.5, step=0.005,
                                      label="rms vibration (Å)",
                                      tooltip="thermal rms displacement of the heaviest element (room temperature's "
                                              "by default; the others scaled alike): it changes the library's shape")
        self.crystal.changed.connect(lambda *_: setattr(self.vibration, "value", self._room_vibration()))
        self.compute_button = PushButton(text="Compute (abTEM, minutes)")
        return [self.energy, self.convergence, self.inner, self.outer, self.crystal, self.zone, self.max_count,
                self.vibration, self.compute_button]

    def _room_vibration(self) -> float:
        """Room temperature's rms displacement of the chosen crystal's heaviest element, Å."""
        from ..core.library import room_vibration

        return room_vibration(self.crystal.value)

    def toggle(self, *_):
        """Show or hide the compute group (filled from the chosen layer's metadata when shown)."""
        self.expanded = not self.expanded
        self.group.visible = self.expanded
        if self.expanded:
            self.prefill(getattr(self.dock.points.value, "metadata", {}) or {})

    def prefill(self, md: dict) -> None:
        """The compute fields from an image's metadata (energy_keV, convergence_mrad, detector_mrad, crystal, zone)."""
        for key, box in (("energy_keV", self.energy), ("convergence_mrad", self.convergence)):
            if md.get(key) is not None:
                box.value = float(md[key])
        if md.get("detector_mrad") is not None:
            self.inner.value, self.outer.value = (float(v) for v in md["detector_mrad"])
        if md.get("crystal") in KNOWN_CRYSTALS:
            self.crystal.value = md["crystal"]
        zone = "".join(str(abs(int(v))) for v in md.get("zone_axis") or ())
        if zone in ("110", "101", "011"):
            self.zone.value = "110"
        elif zone in ("100", "010", "001"):
            self.zone.value = "100"

    def choice(self):
        """What ``count_table(library=...)`` gets: "auto", "none", or a file path (ValueError if none chosen)."""
        value = self.library.value
        if value != "file":
            return value
        path = chosen_path(self.file)
        if path is None:
            raise ValueError("choose the library file (a library JSON, or a CSV or text table of atom count and "
                             "cross-section)")
        return str(path)

    def dose_value(self):
        """The dose (e/Å²), or None when 0 (the scale is then fitted)."""
        return float(self.dose.value) or None

    def compute(self, *_):
        """Run simulate_library for the fields' optics in the dock's task runner; select the library it caches.

        Without abTEM (and no cached library of these settings) a notification says how to install it.
        """
        from ..core import library as core_library
        from ..core.library.shipped import cached_library

        options = dict(energy_keV=float(self.energy.value), convergence_mrad=float(self.convergence.value),
                       detector_mrad=(float(self.inner.value), float(self.outer.value)),
                       max_count=int(self.max_count.value))
        crystal, zone = self.crystal.value, tuple(int(c) for c in self.zone.value)
        try:
            options["thermal_sigma"] = core_library.scaled_vibrations(crystal, float(self.vibration.value))
            settings = core_library.library_settings(crystal, zone, **options)
        except ValueError as exc:
            notify.error(exc)
            return
        if not _has_abtem() and cached_library(settings) is None:
            notify.error(INSTALL_HINT)
            self.compute_button.tooltip = INSTALL_HINT
            return

        def job(progress, cancel):
            return core_library.simulate_library(crystal, zone, progress=progress, cancel=cancel, **options)

        self.dock.start(job, self._computed, "library computation")

    def _computed(self, lib) -> None:
        """Cache the library (if not already there) and select it in the box."""
        from ..core.library import store_in_cache
        from ..core.library.shipped import _file_name, cached_library

        if cached_library(lib.settings) is None:
            store_in_cache(lib)
        self.library.reset_choices()
        name = _file_name(lib.settings)
        matches = [v for _, v in _named_choices(self.library) if isinstance(v, str) and v.endswith(name)]
        if matches:
            self.library.value = matches[0]
        self.dock.status.setText(f"library computed and cached: {describe_library(lib)}; selected for counting")


def _named_choices(combo) -> list:
    """(label, value) of a magicgui ComboBox's choices."""
    return [(combo.native.itemText(i), combo.native.itemData(i)) for i in range(combo.native.count())]


def _has_abtem() -> bool:
    import importlib.util

    return importlib.util.find_spec("abtem") is not None
