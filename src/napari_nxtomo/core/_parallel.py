"""One lock for numba's parallel kernels, and a thread map for the kernels that release the GIL.

numba's default threading layer (workqueue) does not allow two Python threads
to run ``parallel=True`` kernels at the same time, and napari thread workers
are threads.  Every module of ``core`` that calls a parallel kernel takes this
one re-entrant lock around the call, so at most one parallel kernel runs at a
time in the process (the kernel itself still uses all cores).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

NUMBA_LOCK = threading.RLock()
#: the environment variable that caps :func:`thread_map`'s threads (unset: :func:`cores`; 1: the plain loop)
THREADS_ENV = "NAPARI_NXTOMO_THREADS"


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it).

    Examples
    --------
    >>> cores() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity (macOS, Windows)
        return os.cpu_count() or 1


def thread_map(fn, items) -> list:
    """``[fn(item) for item in items]``, in order, on up to :func:`cores` threads: for calls that spend their time
    in numba kernels compiled with ``nogil=True`` (the results are those of the plain loop).  Each thread takes the
    next item when it is done, so a core busy with other work slows only its own share.
    ``NAPARI_NXTOMO_THREADS=n`` in the environment caps the threads at n (1: the plain loop).

    Examples
    --------
    >>> thread_map(lambda v: v * v, range(5))
    [0, 1, 4, 9, 16]
    """
    items = list(items)
    cap = os.environ.get(THREADS_ENV, "").strip()
    n = min(len(items), int(cap) if cap.isdigit() and int(cap) > 0 else cores())
    if n <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, items))


__all__ = ["NUMBA_LOCK", "THREADS_ENV", "cores", "thread_map"]
