"""Helpers shared by the benchmark scripts (imported as ``_common``: the scripts run from this folder).

Benchmarks import the package and these helpers only: never a test module, and
they patch no private name.
"""

from __future__ import annotations

import resource
import warnings


def peak_memory_kb() -> int:
    """Peak resident memory of this process, kB (VmHWM on Linux: unlike getrusage's ru_maxrss it
    does not inherit the parent's peak across fork and exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def quiet(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with its warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)
