"""Threads of the fit's numba kernels: how many, and one at a time.

A fit holds the package-wide numba lock while it runs, so two threads (for
example napari thread workers) never run parallel kernels at the same time
(numba's default ``workqueue`` threading layer does not allow it).  The lock
is the one of :mod:`napari_nxtomo.core._parallel`, which every module of
``core`` takes around its parallel kernels.  Small fits run single-threaded.
"""

from __future__ import annotations

import math
import os

import numba

from .._parallel import NUMBA_LOCK as _LOCK

#: below this many pixel evaluations per pass (columns × window area) the
#: kernels run on one thread: starting the parallel region costs more than it
#: saves, all the more so on a busy machine
PARALLEL_MIN_WORK = 2_000_000


def _default_threads(work):
    """Threads for a fit of ``work`` pixel evaluations per pass.

    One for small fits; else as many as the machine has idle cores (from the
    1-minute load average, counting this process as one), at most numba's.
    A parallel region waits for its slowest thread: a thread that shares a
    core with another busy process makes every pass several times slower
    than one thread would.

    Examples
    --------
    >>> _default_threads(10_000)
    1
    """
    if work < PARALLEL_MIN_WORK:
        return 1
    n_max = numba.config.NUMBA_NUM_THREADS
    try:
        idle = (os.cpu_count() or 1) - os.getloadavg()[0] + 1.0
    except (AttributeError, OSError):  # no load average (Windows)
        return n_max
    return int(max(1, min(n_max, math.floor(idle + 0.25))))


class _threads:
    """Run numba's parallel kernels on ``n`` threads inside the block (thread-local setting)."""

    def __init__(self, n):
        self.n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))

    def __enter__(self):
        self.old = numba.get_num_threads()
        numba.set_num_threads(self.n)

    def __exit__(self, *exc):
        numba.set_num_threads(self.old)


__all__ = ["PARALLEL_MIN_WORK", "_LOCK", "_default_threads", "_threads"]
