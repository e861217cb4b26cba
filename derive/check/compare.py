"""Comparing a claim's two sides numerically: the largest difference, its scale, and the counterexample it makes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np

from ..evaluate import Evaluator
from ..sampling import Pair, Point

KERNEL_RTOL = {"float64": 1e-10, "float32": 2e-4}  # a numeric kernel's tolerance, by its dtype, in every tier


@dataclass
class Diff:
    """The largest absolute difference over a size's pairs, the scale of the values, and where it is."""

    max_abs: float
    scale: float
    worst: tuple | None = None  # (index dict, entry, lhs, rhs)
    shape_mismatch: str | None = None

    @property
    def rel(self) -> float:
        return self.max_abs / self.scale


def compare(ev: Evaluator, pairs: list[Pair]) -> Diff:
    """Both sides of every pair by ``ev``; the scale is the largest magnitude on either side (at least 1)."""
    worst_abs, scale, worst = 0.0, 0.0, None
    for idx, lhs, rhs in pairs:
        a, b = ev(lhs), ev(rhs)
        if a.shape != b.shape:
            return Diff(float("inf"), 1.0, (idx, None, None, None), f"shapes differ: {a.shape} vs {b.shape}")
        fa = np.abs(np.asarray(a, dtype=np.float64))
        diff = np.abs(np.asarray(a - b, dtype=np.float64))
        scale = max(scale, float(fa.max(initial=0.0)), float(np.abs(np.asarray(b, dtype=np.float64)).max(initial=0.0)))
        k = int(np.argmax(diff)) if diff.size else 0
        if diff.size and diff.flat[k] > worst_abs:
            worst_abs = float(diff.flat[k])
            entry = np.unravel_index(k, diff.shape)
            worst = (idx, tuple(int(e) for e in entry), a[entry], b[entry])
    return Diff(worst_abs, max(scale, 1.0), worst)


def _fmt(x: Any) -> str:
    try:
        return mpmath.nstr(mpmath.mpf(x), 12) if not isinstance(x, float) else f"{x:.12g}"
    except (TypeError, ValueError):
        return str(x)


def counterexample(point: Point, seed, diff: Diff, inputs: dict[str, np.ndarray]) -> dict:
    """The counterexample of a refuting ``diff`` at ``point``: size, seed, index, entry, both values (and the
    inputs when they are small)."""
    idx, entry, a, b = diff.worst
    ce: dict[str, Any] = {**point, "seed": seed, "inputs": f"N(0,1) entries from numpy default_rng([seed, "
                          f"{', '.join(point)}]), one input after another in name order"}
    if idx:
        ce["index"] = idx
    if diff.shape_mismatch:
        ce["shapes"] = diff.shape_mismatch
        return ce
    ce.update(entry=list(entry), lhs=_fmt(a), rhs=_fmt(b), max_abs_diff=float(diff.max_abs))
    if all(v.size <= 4 for v in inputs.values()):
        ce["values"] = {k: [[round(float(x), 6) for x in row] for row in v] for k, v in inputs.items()}
    return ce


def exact_counterexample(point: Point, seed, index: dict, entry: tuple, lhs: Any, rhs: Any,
                         inputs: dict[str, np.ndarray]) -> dict:
    """The exact tier's counterexample: the keys of ``counterexample``, at exact rational inputs (``values``, as
    strings ``p/q``) where exp and log were evaluated in 60-digit interval arithmetic."""
    ce: dict[str, Any] = {**point, "seed": seed, "inputs": "exact rationals (values); exp and log evaluated at 60 "
                          "digits by interval arithmetic"}
    if index:
        ce["index"] = index
    ce.update(entry=[int(e) for e in entry], lhs=_fmt(lhs), rhs=_fmt(rhs), max_abs_diff=float(abs(lhs - rhs)))
    ce["values"] = {k: [[str(x) for x in row] for row in v] for k, v in inputs.items()}
    return ce
