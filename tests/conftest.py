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
