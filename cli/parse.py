"""How the command line reads its text options: number lists, sizes, seeds, weight scales, name lists.

The standard library only at import time; bad text raises ``InputError`` with one sentence naming the option
(exit 2). A single number or seed is checked by the same helpers as the numeric API's arguments
(attngrad.numeric.inputs, imported when a command calls them).
"""

from __future__ import annotations

import math
from typing import Any

from attngrad.errors import InputError


def ints(text: str, label: str) -> list[int]:
    """'512,1024' → [512, 1024]: positive integers."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"{label} must be a comma-separated list of positive integers, got '{text}'.") from None
    if not values or min(values) < 1:
        raise InputError(f"{label} must be a comma-separated list of positive integers, got '{text}'.")
    return values


def floats(text: str, label: str, allow_none: bool = False) -> list[Any]:
    """'0.25,1' → [0.25, 1.0]: positive finite numbers; with ``allow_none`` the word 'none' gives None."""
    out: list[Any] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if allow_none and part.lower() == "none":
            out.append(None)
            continue
        try:
            value = float(part)
        except ValueError:
            raise InputError(f"{label} must be a comma-separated list of positive numbers, got '{text}'.") from None
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{label} must be a comma-separated list of positive numbers, got '{text}'.")
        out.append(value)
    if not out:
        raise InputError(f"{label} must be a comma-separated list of positive numbers, got '{text}'.")
    return out


def names(text: str | None, skip_empty: bool = False) -> tuple[str, ...] | None:
    """'generated, reference' → ('generated', 'reference'), empty items kept (for the callee to reject) unless
    ``skip_empty``; None stays None (the command's default)."""
    if text is None:
        return None
    return tuple(m.strip() for m in text.split(",") if m.strip() or not skip_empty)


def sizes(text: str | None) -> tuple[dict[str, int], ...] | None:
    """'2x2,3x2' → ({'n': 2, 'd': 2}, {'n': 3, 'd': 2}) (n x d)."""
    if text is None:
        return None
    out = []
    for part in text.split(","):
        try:
            n, d = (int(x) for x in part.lower().split("x"))
        except ValueError:
            raise InputError(f"Sizes must look like '2x2,3x2' (n x d), got '{part}'.") from None
        out.append({"n": n, "d": d})
    return tuple(out)


#: more seeds than this are accepted only as one range 'a-b' (counted, never listed here)
MAX_LISTED_SEEDS = 1_000_000


def seeds(text: str | None) -> list[int] | range | None:
    """'0-7', '0,3,5' or '2' → seeds; a single range 'a-b' stays a ``range`` (the command counts it, and refuses
    it by its predicted memory, without building a list of, say, 10⁸ numbers)."""
    if text is None:
        return None
    try:
        parts = [(int(lo), int(hi) if hi else int(lo)) for lo, _, hi in (p.strip().partition("-") for p in text.split(","))]
    except ValueError:
        raise InputError(f"--seeds must look like '0-7' or '0,3,5', got '{text}'.") from None
    if any(lo < 0 or hi < lo for lo, hi in parts):
        raise InputError(f"--seeds must be non-negative integers, ranges a-b with a ≤ b, got '{text}'.")
    if len(parts) == 1:
        return range(parts[0][0], parts[0][1] + 1)
    count = sum(hi - lo + 1 for lo, hi in parts)
    if count > MAX_LISTED_SEEDS:
        raise InputError(f"--seeds names {count:,} seeds in {len(parts)} parts; give more than "
                         f"{MAX_LISTED_SEEDS:,} seeds as one range a-b.")
    return [s for lo, hi in parts for s in range(lo, hi + 1)]


def init_scales(items: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """('W_Q=0.5',) → (('W_Q', 0.5),)."""
    out = []
    for item in items:
        name, _, value = item.partition("=")
        try:
            out.append((name.strip(), float(value)))
        except ValueError:
            raise InputError(f"--init-scale must look like W_Q=0.5, got '{item}'.") from None
    return tuple(out)


def non_negative_seed(seed: int, label: str = "--seed") -> int:
    from attngrad.numeric.inputs import seed as check_seed

    return check_seed(label, seed)


def positive(value: float, label: str) -> float:
    """A finite number > 0 (Click's float type reads 'nan' and 'inf' as numbers)."""
    from attngrad.numeric.inputs import positive_number

    return positive_number(label, value)


def at_least_one(value: int, label: str) -> int:
    from attngrad.numeric.inputs import integer

    return integer(label, value, 1)
