"""One lock for numba's parallel kernels.

numba's default threading layer (workqueue) does not allow two Python threads
to run ``parallel=True`` kernels at the same time, and napari thread workers
are threads.  Every module of ``core`` that calls a parallel kernel takes this
one re-entrant lock around the call, so at most one parallel kernel runs at a
time in the process (the kernel itself still uses all cores).
"""

from __future__ import annotations

import threading

NUMBA_LOCK = threading.RLock()

__all__ = ["NUMBA_LOCK"]
