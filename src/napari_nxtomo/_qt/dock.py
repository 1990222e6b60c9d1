"""What every dock of the plugin shares: the viewer, a form whose layer lists follow it, a task runner, a status line.

A dock subclasses :class:`Dock`, builds its form (a magicgui ``Container``)
from small panels, and lays it out with :func:`stack`; long work goes through
:meth:`Dock.start` (a :class:`~.tasks.TaskRunner`).
"""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from . import notify
from .tasks import TaskRunner


class Dock(QWidget):
    """Base of the docks: ``viewer``, ``form``, ``runner``, ``status`` and ``last_worker``.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    status : str
        What the status line says before anything has run.
    """

    def __init__(self, napari_viewer, status: str):
        super().__init__()
        self.viewer = napari_viewer
        self.form = None  # the subclass's magicgui Container
        self.runner = TaskRunner()
        self.status = QLabel(status)
        self.status.setWordWrap(True)
        self.last_worker = None

    def reset_choices(self, *_):
        """Refresh the layer lists (napari calls this when layers are added or removed)."""
        if self.form is not None:
            self.form.reset_choices()

    def showEvent(self, event):  # keep the layer lists fresh
        self.reset_choices()
        super().showEvent(event)

    def show_tab(self):
        """Bring this dock to the front of the tabbed dock area it shares with the others."""
        from qtpy.QtWidgets import QDockWidget

        parent = self.parent()
        while parent is not None and not isinstance(parent, QDockWidget):
            parent = parent.parent()
        if parent is not None:
            parent.raise_()

    def chosen_layer(self, widget, missing: str):
        """The layer chosen in ``widget`` once the lists are fresh; None, and ``missing`` told the user, if none."""
        self.reset_choices()
        layer = widget.value
        if layer is None:
            notify.error(missing)
        return layer

    def start(self, job, done, what: str, on_cancelled=None):
        """Run ``job(progress, cancel)`` in the task runner, ``done(result)`` after; returns the worker.

        While it runs the dock's buttons (but Cancel) are disabled; a failure
        or a cancel replaces the status line ("… failed: why").
        """
        from qtpy.QtWidgets import QPushButton

        if self.runner.busy:
            return self.runner.start(job, done, what)  # tells the user, starts nothing
        buttons = [b for b in self.findChildren(QPushButton) if b.isEnabled() and b is not self.runner.cancel_button]

        def enable(on):
            for b in buttons:
                b.setEnabled(on)

        enable(False)
        self.last_worker = self.runner.start(job, done, what, on_cancelled=on_cancelled,
                                             on_failed=self.status.setText, on_finished=lambda: enable(True))
        return self.last_worker


def stack(widget: QWidget, *items, stretch: bool = False) -> QVBoxLayout:
    """Lay ``items`` out top to bottom in ``widget``.

    An item is a QWidget, a magicgui widget (its ``native`` is used), a
    layout, or ``(item, stretch_factor)``; ``stretch`` adds space at the end.
    A :class:`Dock` gets its items inside a scroll area, so that however tall
    its form, the dock (and with it napari's window) still fits a 1080p screen.
    """
    is_dock = isinstance(widget, Dock)
    if is_dock:
        widget = _scrolled(widget)
    lay = QVBoxLayout(widget)
    for item in items:
        item, factor = item if isinstance(item, tuple) else (item, 0)
        item = getattr(item, "native", item)
        if isinstance(item, QWidget):
            lay.addWidget(item, factor)
        else:
            lay.addLayout(item)
    if stretch:
        lay.addStretch(1)
    if is_dock:  # a long layer name in a combo box must not widen the dock past the 1920×1080 layout
        from qtpy.QtWidgets import QComboBox

        for combo in widget.findChildren(QComboBox):
            compact(combo, 16)
    return lay


def compact(combo, length: int = 24) -> None:
    """A combo box (Qt or magicgui) about ``length`` characters wide whatever its entries (the full text in its
    tooltip)."""
    from qtpy.QtWidgets import QComboBox

    combo = getattr(combo, "native", combo)
    if combo.sizeAdjustPolicy() == QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon:
        return  # already set (its own length kept)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(length)
    combo.currentTextChanged.connect(combo.setToolTip)


def _scrolled(dock: QWidget) -> QWidget:
    """Fill ``dock`` with a frameless scroll area; returns the widget inside it, for the dock's content."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    inner = QWidget()
    scroll.setWidget(inner)
    outer = QVBoxLayout(dock)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(scroll)
    return inner


def figure_canvas(figsize, min_height: int | None = None):
    """A matplotlib figure in a Qt canvas: ``(figure, canvas)``.

    A dock behind another tab (or squeezed) has a canvas too small for the
    figure's constrained layout: matplotlib then warns on every draw, in the
    user's console; the layout is applied again once the dock is shown, so the
    canvas draws without that warning.
    """
    import warnings

    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
    from matplotlib.figure import Figure

    class Canvas(FigureCanvasQTAgg):
        def draw(self):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="constrained_layout not applied", category=UserWarning)
                super().draw()

    figure = Figure(figsize=figsize, constrained_layout=True)
    canvas = Canvas(figure)
    if min_height is not None:
        canvas.setMinimumHeight(min_height)
    return figure, canvas


def chosen_path(edit, path=None):
    """The file a magicgui ``FileEdit`` names (set to ``path`` first when given), or None when it is empty."""
    if path is not None:
        edit.value = path
    value = edit.value
    if value is None or str(value) in ("", "."):
        return None
    return value
