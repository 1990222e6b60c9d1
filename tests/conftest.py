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
    """The plugin's notifications collected instead of shown: ``{"error": [...], "info": [...]}``."""
    import napari_nxtomo._qt.notify as notify

    got = {"error": [], "info": []}
    monkeypatch.setattr(notify, "show_error", got["error"].append)
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
