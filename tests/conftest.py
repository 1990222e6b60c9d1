"""Shared fixtures: where the shared test data lives, and the display check for GUI tests."""

import os
from pathlib import Path

import pytest

#: ../shared/data next to the repository checkout (never copied into the repository)
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the shared test data folder {SHARED_DATA} is not there (check out the repository next to shared/)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def statstem_ptir(shared_data) -> dict:
    """StatSTEM's Pt/Ir example (../shared/data/real/statstem_ptir.npz): the image, StatSTEM's fit and library.

    ``peer_counts`` are StatSTEM's library counts (the library value nearest to each of its cross-sections), the
    peer's truth; ``peer_yx`` its positions as the project's (row, col) in Å from pixel (0, 0).
    """
    import numpy as np

    d = np.load(shared_data / "real" / "statstem_ptir.npz")
    p = float(d["pixel_size"])
    lib_counts, lib_values = d["library_counts"], d["library_volume"]
    peer_volume = d["statstem_volume"]
    return {
        "image": d["image"],
        "pixel_size": p,
        # StatSTEM's (x, y) from pixel (1, 1) at (dx, dx) → the project's (row, col) from pixel (0, 0)
        "peer_yx": d["statstem_xy"][:, ::-1] - p,
        "peer_volume": peer_volume,
        "peer_width": float(d["statstem_rho"][0]),
        "peer_counts": lib_counts[np.abs(peer_volume[:, None] - lib_values[None, :]).argmin(axis=1)],
        "library": (lib_counts, lib_values),
    }


def pytest_collection_modifyitems(config, items):
    """GUI tests need a display; on a machine without one, say how to get it (CI always has Xvfb)."""
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    offscreen = os.environ.get("QT_QPA_PLATFORM") == "offscreen"
    if has_display or offscreen or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="no display: run the tests with `bash scripts/test.sh` (uses Xvfb)")
    for item in items:
        if "gui" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def notifications(monkeypatch):
    """The plugin's notifications collected instead of shown: ``{"error": [...], "warning": [...], "info": [...]}``."""
    import napari_nxtomo._qt.notify as notify

    got = {"error": [], "warning": [], "info": []}
    monkeypatch.setattr(notify, "show_error", got["error"].append)
    monkeypatch.setattr(notify, "show_warning", got["warning"].append)
    monkeypatch.setattr(notify, "show_info", got["info"].append)
    return got


def preset_refine_start(widget) -> None:
    """The Debye dock's Refine panel set to the start the GUI refinement tests use (a 2-nm PbS population of
    3 size classes over the truth's, width and cell edge fixed)."""
    widget.refine_mean_diameter.value = 19.5
    widget.refine_width.value = 0.08
    widget.refine_b_iso.value = 0.5
    widget.refine_n_sizes.value = 3
    widget.refine_background.value = 1
    widget.free_width.value = False
    widget.free_lattice_parameter.value = False
    widget.refine_size_min.value, widget.refine_size_max.value = 15.0, 21.0  # the truth's classes


@pytest.fixture
def refine_start():
    """:func:`preset_refine_start`, for the GUI tests."""
    return preset_refine_start


@pytest.fixture
def errors(notifications):
    """The plugin's error notifications, collected instead of shown (a list)."""
    return notifications["error"]


@pytest.fixture(scope="session")
def fit_view():
    """``fit_view(view)``: a multislice view's columns found and fitted as the Fit dock does by default (minimum
    distance from the zone axis and lattice, the view's structure), its metadata and pixel size in the attrs."""
    from napari_nxtomo.core.columns import min_distance_for
    from napari_nxtomo.core.workflow import find_and_fit

    def fit(view):
        md = view.layer_metadata()
        table = find_and_fit(view.image, view.pixel_size, min_distance_for(md)[0], zone_axis=md["zone_axis"],
                             lattice_parameter=md["lattice_parameter"], structure=md.get("structure"))
        table.attrs.update(md, pixel_size_A=view.pixel_size)
        return table

    return fit
