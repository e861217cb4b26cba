"""How the command line reads its text options: number lists, sizes, seeds, weight scales, name lists.

The standard library only; bad text raises ``InputError`` with one sentence naming the option (exit 2).
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
    """'generated, fused' → ('generated', 'fused'), empty items kept (for the callee to reject) unless
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


def seeds(text: str | None) -> list[int] | None:
    """'0-7', '0,3,5' or '2' → seeds."""
    if text is None:
        return None
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise InputError(f"--seeds must look like '0-7' or '0,3,5', got '{text}'.") from None
    if not out or min(out) < 0:
        raise InputError(f"--seeds must be non-negative integers, got '{text}'.")
    return out


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
    if seed < 0:
        raise InputError(f"{label} must be a non-negative integer, got {seed}.")
    return seed
