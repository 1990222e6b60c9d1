"""Helpers shared by the benchmark scripts (imported as ``_common``: the scripts run from this folder).

Benchmarks import the package and these helpers only: never a test module, and
they patch no private name.
"""

from __future__ import annotations

import os
import resource
import sys
import warnings
from pathlib import Path


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


def find_peer_python(arg: str | None):
    """(interpreter with torch + debyecalculator, None) or (None, why not): ``arg``, ``NXTOMO_PEER_PYTHON``,
    this interpreter, or ``../venv-peers`` next to the repository."""
    if arg:
        return arg, None
    env = os.environ.get("NXTOMO_PEER_PYTHON")
    if env:
        return env, None
    try:
        import debyecalculator  # noqa: F401
        import torch  # noqa: F401

        return sys.executable, None
    except ImportError:
        pass
    guess = Path(__file__).resolve().parents[2] / "venv-peers" / "bin" / "python"
    if guess.exists():
        return str(guess), None
    return None, (
        "DebyeCalculator skipped: no interpreter with torch + debyecalculator "
        "(give --peer-python or NXTOMO_PEER_PYTHON; see benchmarks/bench_debye.py's docstring)"
    )
