"""Progress reports and cancellation of a column fit."""

from __future__ import annotations


class FitCancelled(Exception):
    """Raised by :func:`fit_columns` when its ``cancel`` callback returns True.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_nxtomo.core.fitting import FitCancelled, fit_columns
    >>> image = np.zeros((20, 20))
    >>> image[10, 10] = 1.0
    >>> try:
    ...     fit_columns(image, 0.2, [[2.0, 2.0]], width=0.4, cancel=lambda: True)
    ... except FitCancelled as exc:
    ...     print(exc)
    column fit cancelled after 0 iterations
    """


class _Progress:
    """Counts the iterations of a fit, reports them to ``progress(i, n)`` and honours ``cancel()``."""

    def __init__(self, progress, cancel, total):
        self.progress = progress
        self.cancel = cancel
        self.total = int(total)
        self.done = 0

    def check_cancel(self, message=None):
        """Raise :class:`FitCancelled` (with ``message``) when ``cancel()`` returns True."""
        if self.cancel is not None and self.cancel():
            raise FitCancelled(message or f"column fit cancelled after {self.done} iterations")

    def tick(self):
        """One more iteration done."""
        self.done += 1
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)

    def finish(self):
        """The fit is done: report ``progress(n, n)``."""
        if self.progress is not None:
            self.progress(self.total, self.total)
