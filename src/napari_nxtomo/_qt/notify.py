"""Messages to the user: napari notifications that say they come from napari-nxtomo.

Every dock and the task runner report through :func:`error` and :func:`info`,
so a bad input or a failed task reaches the user as a notification, never as
a traceback (tests replace ``show_error``/``show_warning``/``show_info`` here to collect them).
"""

from __future__ import annotations

from napari.utils.notifications import show_error, show_info, show_warning

PREFIX = "napari-nxtomo: "


def error(message) -> None:
    """Show an error notification (``message``: text or an exception)."""
    show_error(f"{PREFIX}{message}")


def warning(message) -> None:
    """Show a warning notification: the result is there, but the user must know its limits."""
    show_warning(f"{PREFIX}{message}")


def info(message) -> None:
    """Show an information notification (``message``: text or an exception)."""
    show_info(f"{PREFIX}{message}")
