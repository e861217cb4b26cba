"""What a computation may take from this machine: the memory limit every command that predicts its memory checks
before it starts.

The rule: a computation may plan to use at most half of the machine's physical memory (``MEMORY_SHARE``). Physical
memory, not the momentarily free memory, so that the same command is accepted or refused the same way each time;
half, so that the operating system, the interpreter, NumPy's temporaries and whatever else runs keep the rest. The
figure is read from the operating system (``os.sysconf``: page size × physical pages); where it cannot be read,
nothing is refused.
"""

from __future__ import annotations

import os
from numbers import Integral

from attngrad.errors import InputError

MEMORY_SHARE = 0.5  # of physical memory that one computation may plan to use
_SHARE_WORDS = "half of it"  # how the limit is named in a refusal


def physical_memory() -> int | None:
    """Bytes of physical memory (``os.sysconf``), or None where the system does not tell."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return int(pages) * int(size) if pages > 0 and size > 0 else None


def memory_limit() -> int | None:
    """The most bytes one computation may plan to use: ``MEMORY_SHARE`` of physical memory (None: unknown)."""
    total = physical_memory()
    return None if total is None else int(total * MEMORY_SHARE)


def format_bytes(count: int | float) -> str:
    """1536 → '1.5 KiB', 8e10 → '74.5 GiB' (binary units, one decimal)."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(value) < 1024 or unit == "EiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def refuse_if_too_big(what: str, bytes_needed: int | float, purpose: str = "") -> None:
    """Raise InputError when ``bytes_needed`` exceeds ``memory_limit()``, naming the figure and the limit:
    "<what> would need <bytes>[ for <purpose>]; this machine has <physical memory> (limit: half of it)."

    ``what`` is the command or the computation (e.g. "simulate"), ``purpose`` what the memory holds (e.g. "the
    loss curves of 3 runs × 1,000,000,000 steps"). Give the estimate as an int or float (a float does not overflow
    for absurd sizes)."""
    if isinstance(bytes_needed, bool) or not (isinstance(bytes_needed, (Integral, float)) and bytes_needed >= 0):
        raise ValueError(f"bytes_needed must be a non-negative number, got {bytes_needed!r}")
    limit = memory_limit()
    if limit is None or bytes_needed <= limit:
        return
    total = physical_memory()
    reason = f" for {purpose}" if purpose else ""
    raise InputError(f"{what} would need {format_bytes(bytes_needed)}{reason}; this machine has "
                     f"{format_bytes(total)} (limit: {_SHARE_WORDS}).")
