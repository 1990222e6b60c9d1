"""Memory guards: refuse a job whose estimated size exceeds what the machine can hold, before allocating it.

Every size a user controls (the Q points of a pattern, the pixels of an
image, the candidate sites of a reconstruction) is turned into an estimate
of bytes first and checked here, so that a mistyped option gives a message
with the estimate instead of a process that grows until the system kills
it.  The limit is 80 % of the memory available now, or
``NAPARI_NXTOMO_MEMORY_LIMIT_GB`` (GB, 10⁹ bytes) when that is set.
"""

from __future__ import annotations

import os

__all__ = ["available_memory", "check_memory", "memory_limit"]

LIMIT_VARIABLE = "NAPARI_NXTOMO_MEMORY_LIMIT_GB"


def available_memory():
    """Bytes of memory available to this process, or None when unknown.

    Examples
    --------
    >>> avail = available_memory()
    >>> avail is None or avail > 0
    True
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def memory_limit():
    """``(bytes, how)``: the largest job to start, and where that limit comes from (None: no limit known).

    Examples
    --------
    >>> import os
    >>> os.environ["NAPARI_NXTOMO_MEMORY_LIMIT_GB"] = "2"
    >>> memory_limit()
    (2000000000.0, 'NAPARI_NXTOMO_MEMORY_LIMIT_GB=2')
    >>> del os.environ["NAPARI_NXTOMO_MEMORY_LIMIT_GB"]
    """
    text = os.environ.get(LIMIT_VARIABLE, "").strip()
    if text:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{LIMIT_VARIABLE}={text!r} is not a number of GB; set it to e.g. 8") from None
        if value > 0:
            return value * 1e9, f"{LIMIT_VARIABLE}={text}"
    avail = available_memory()
    if avail is None:
        return None, "unknown"
    return 0.8 * avail, f"80 % of the {avail / 1e9:.3g} GB of free memory"


def check_memory(need_bytes: float, what: str, advice: str) -> None:
    """Raise a ValueError when ``need_bytes`` exceeds :func:`memory_limit`.

    Parameters
    ----------
    need_bytes : float
        The estimate, bytes.
    what : str
        What needs it, e.g. ``"the pattern of 1e9 Q points"``.
    advice : str
        How to make it smaller, e.g. ``"use a larger --q-step"``.

    Examples
    --------
    >>> check_memory(1e3, "a small array", "nothing")
    >>> try:
    ...     check_memory(1e30, "10²⁹ Q points", "use a larger Q step")
    ... except ValueError as exc:
    ...     print(str(exc)[:60])
    10²⁹ Q points needs about 1e+21 GB of memory, more than the
    """
    limit, how = memory_limit()
    if limit is not None and need_bytes > limit:
        raise ValueError(
            f"{what} needs about {need_bytes / 1e9:.3g} GB of memory, more than the {limit / 1e9:.3g} GB limit "
            f"({how}): too large; {advice} (or set {LIMIT_VARIABLE} on a machine with more memory)"
        )
