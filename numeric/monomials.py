"""The exponents of the polynomial feature map of the low-rank gradient (numeric/lowrank.py; the U₁V₁ᵀ of
Alman & Song 2024, Lemma D.1, docs/mathematics.md). A module of its own, NumPy only, so that the derivations about
those features (derive/papers/lowrank_bounds.py) read the very exponents the kernel uses without importing it."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=64)
def multi_indices(d: int, degree: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The exponents α ∈ ℕ^d with |α| ≤ degree (by degree, then lexicographically descending), and for each
    α ≠ 0 its parent (α minus one in its first nonzero variable) and that variable: x^α = x^parent · x_var."""
    exps: list[tuple[int, ...]] = []

    def comps(total: int, parts: int) -> list[tuple[int, ...]]:
        if parts == 1:
            return [(total,)]
        return [(a,) + rest for a in range(total, -1, -1) for rest in comps(total - a, parts - 1)]

    for total in range(degree + 1):
        exps.extend(comps(total, d))
    where = {e: i for i, e in enumerate(exps)}
    parent, var = np.zeros(len(exps), np.int64), np.zeros(len(exps), np.int64)
    for i, e in enumerate(exps[1:], 1):
        v = next(j for j, a in enumerate(e) if a)
        parent[i], var[i] = where[e[:v] + (e[v] - 1,) + e[v + 1:]], v
    return np.array(exps, dtype=np.int64).reshape(len(exps), d), parent, var
