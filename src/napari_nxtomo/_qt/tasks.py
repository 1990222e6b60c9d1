"""Running long core computations from a dock: thread worker, progress bar, cancel button.

Every dock of the plugin runs its numerics through :class:`TaskRunner`: the
core function gets ``progress(i, n)`` and ``cancel() -> bool`` callbacks, runs
in a napari thread worker (the viewer stays responsive), the progress bar in
the dock follows it, the cancel button stops it at the next check, and any
error reaches the user as a napari notification (:mod:`.notify`) instead of a
traceback.
"""

from __future__ import annotations

import threading
from typing import Callable

from napari.qt.threading import create_worker
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from . import notify


class _ProgressSignal(QObject):
    changed = Signal(int, int)


class TaskRunner(QWidget):
    """A progress bar and a cancel button that run one core task at a time."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._signal = _ProgressSignal()
        self._signal.changed.connect(self._on_progress)
        self._cancel_event = threading.Event()
        self.worker = None
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.label = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.cancel_button)

    # -- callbacks handed to the core (called from the worker thread) --
    def progress(self, i: int, n: int) -> None:
        self._signal.changed.emit(int(i), int(max(n, 1)))

    def cancelled(self) -> bool:
        return self._cancel_event.is_set()

    # -- main thread --
    def _on_progress(self, i: int, n: int) -> None:
        self.bar.setRange(0, n)
        self.bar.setValue(i)

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def wait(self, timeout: float = 600.0) -> None:
        """Block (keeping the viewer alive) until the running task ends: for scripted sessions.

        Raises TimeoutError after ``timeout`` seconds.
        """
        import time

        from qtpy.QtWidgets import QApplication

        t0 = time.monotonic()
        while self.busy:
            QApplication.processEvents()
            time.sleep(0.01)
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"the task did not finish within {timeout} s")
        QApplication.processEvents()

    def cancel(self) -> None:
        self._cancel_event.set()
        self.cancel_button.setEnabled(False)

    def start(self, func: Callable, on_done: Callable, what: str, on_cancelled: Callable | None = None,
              on_failed: Callable | None = None, on_finished: Callable | None = None):
        """Run ``func(progress=..., cancel=...)`` in a thread; ``on_done(result)`` in the main thread.

        ``on_failed(message)`` gets the message told to the user when the task
        fails or is cancelled (before ``on_cancelled(exc)``); ``on_finished()``
        runs last, whatever the outcome.  Returns the worker (tests may wait on
        it), or None if a task is already running.
        """
        if self.busy:
            notify.info(f"{what} not started: another task is still running (wait for it, or press Cancel)")
            return None
        self._cancel_event.clear()
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.cancel_button.setEnabled(True)

        def job():
            return func(progress=self.progress, cancel=self.cancelled)

        worker = create_worker(job, _ignore_errors=True)  # our errored handler notifies the user
        self.worker = worker

        def finished():
            self.worker = None
            self.cancel_button.setEnabled(False)
            self.bar.setRange(0, 1)
            if on_finished is not None:
                on_finished()

        def returned(result):
            self.bar.setValue(1)
            on_done(result)

        def errored(exc):
            cancelled = type(exc).__name__.endswith("Cancelled")
            message = f"{what} cancelled" if cancelled else f"{what} failed: {exc}"
            if on_failed is not None:
                on_failed(message)
            if not cancelled:
                notify.error(message)
                return
            notify.info(message)
            if on_cancelled is not None:
                on_cancelled(exc)

        worker.returned.connect(returned)
        worker.errored.connect(errored)
        worker.finished.connect(finished)
        worker.start()
        return worker
