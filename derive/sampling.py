"""Where a claim is checked: size points, their substitutions, input makers, index tuples and a claim's pairs.

The tiers (``derive.check``) share these so that every tier sees the same sides at the same inputs; the relation
finder (``derive.relations``) redraws a counterexample's inputs with them.
"""

from __future__ import annotations

import itertools
import random
from typing import Callable

import numpy as np
import sympy as sp

from attngrad.errors import InputError

from . import expr as ex
from .claims import Claim, missing_sizes

Point = dict[str, int]  # a size point: size-symbol name → value, e.g. {"n": 2, "d": 1}
Pair = tuple[dict[str, int], ex.Node, ex.Node]  # (index tuple, left side, right side) of a claim at one size
InputMaker = Callable[[str, tuple[int, int]], np.ndarray]  # (input name, shape) → its values


def points(*nd: tuple[int, int]) -> tuple[Point, ...]:
    """Size points of the two default size symbols, from (n, d) pairs."""
    return tuple({"n": n, "d": d} for n, d in nd)


MP_SIZES = points((1, 1), (2, 1), (1, 2), (2, 2), (3, 2), (2, 3), (4, 3), (5, 4))
EXACT_SIZES = points((1, 1), (2, 1), (1, 2), (2, 2))
FLOAT_SIZES = points((24, 4), (64, 8))
EXACT_MAX = {"n": 4, "d": 3, "entries": 9}  # the largest sizes the exact tier accepts
MAX_INDEX_SAMPLES = 24  # index tuples per size beyond which a sampling tier draws this many


def show_point(point: Point) -> str:
    """``2x1`` for the default sizes (n, d), else ``N=2, n=3, d=1``."""
    if list(point) == ["n", "d"]:
        return f"{point['n']}x{point['d']}"
    return ", ".join(f"{k}={v}" for k, v in point.items())


def check_exact_sizes(sizes: tuple[Point, ...]) -> None:
    """Raise ``InputError`` for a size that is not positive or too large for the exact tier (``EXACT_MAX``)."""
    for point in sizes:
        if min(point.values()) < 1:
            raise InputError(f"Size {show_point(point)} is not positive.")
        n, d = point.get("n", 1), point.get("d", 1)
        total = int(np.prod(list(point.values())))
        if n > EXACT_MAX["n"] or d > EXACT_MAX["d"] or total > EXACT_MAX["entries"]:
            raise InputError(
                f"Size {show_point(point)} is too large for the exact symbolic tier "
                f"(at most n ≤ {EXACT_MAX['n']}, d ≤ {EXACT_MAX['d']}, product of the sizes ≤ {EXACT_MAX['entries']})."
            )


def size_substitution(point: Point) -> dict[sp.Symbol, int]:
    """The substitution of a size point (symbols as ``expr.size`` makes them)."""
    return {ex.size(k): v for k, v in point.items()}


def make_inputs(sides, sizes: dict[sp.Symbol, int], make: InputMaker) -> dict[str, np.ndarray]:
    """The inputs (leaf matrices) of ``sides``, (lhs, rhs) pairs, at ``sizes``: ``make(name, shape)`` in name order."""
    leaves: dict[str, ex.Matrix] = {}
    for lhs, rhs in sides:
        leaves.update(ex.leaves(lhs))
        leaves.update(ex.leaves(rhs))
    out = {}
    for name in sorted(leaves):
        m = leaves[name]
        shape = (int(m.shape[0].subs(sizes)), int(m.shape[1].subs(sizes)))
        out[name] = make(name, shape)
    return out


def random_normal(seed: int, point: Point, positive: tuple[str, ...] = ()) -> InputMaker:
    """Input maker: standard normal entries from ``default_rng([seed, *point values])`` (for the default
    sizes ``[seed, n, d]``), drawn input after input in name order."""
    rng = np.random.default_rng([seed, *point.values()])

    def make(name: str, shape: tuple[int, int]) -> np.ndarray:
        a = rng.standard_normal(shape)
        return np.abs(a) + 0.5 if name in positive else a

    return make


def index_tuples(claim: Claim, sizes, rng: random.Random, sample: bool) -> list[dict[str, int]]:
    """Every tuple of the claim's indices at ``sizes``; with ``sample``, at most ``MAX_INDEX_SAMPLES`` of them."""
    ranges = claim.index_ranges(sizes)
    names = list(ranges)
    combos = [dict(zip(names, t)) for t in itertools.product(*(range(ranges[k]) for k in names))]
    if sample and len(combos) > MAX_INDEX_SAMPLES:
        combos = rng.sample(combos, MAX_INDEX_SAMPLES)
    return combos


def claim_pairs(claim: Claim, point: Point, indices: list[dict[str, int]]) -> list[Pair]:
    """The claim's two sides at ``point``, one (index tuple, lhs, rhs) per index tuple. A size symbol of the sides
    that ``point`` gives no value (a model's own ``N`` at the default points over n, d) is an InputError."""
    out = []
    for idx in indices:
        lhs, rhs = claim.sides(point, idx)
        out.append((idx, lhs, rhs))
    unknown = {s for _, lhs, rhs in out for s in size_symbols((lhs, rhs)) if s.name not in point}
    if unknown:
        raise InputError(missing_sizes(claim.id, unknown))
    return out


def size_symbols(roots) -> set[sp.Symbol]:
    """The symbols in the shapes and scalars of the trees ``roots`` (each shared subtree visited once), including
    the shapes of a Grad's or Deriv's variable and of a kernel's inputs."""
    seen: set[int] = set()
    found: set[sp.Symbol] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        exprs = list(node.shape) + [getattr(node, attr) for attr in ("k", "value") if hasattr(node, attr)]
        found.update(s for e in exprs if isinstance(e, sp.Basic) for s in e.free_symbols)
        stack.extend(node.children)
        stack.extend(x for x in (getattr(node, "var", None),) if isinstance(x, ex.Node))
        stack.extend(getattr(node, "inputs", ()) if isinstance(node, ex.Kernel) else ())
    return found


def contains(node: ex.Node, kind: type) -> bool:
    """Whether a node of type ``kind`` occurs in ``node``."""
    return any(isinstance(x, kind) for x in node.walk())


def kernel_dtype(pairs: list[Pair]) -> str | None:
    """The dtype of the first numeric kernel in ``pairs``, or None when the sides have none."""
    for _, lhs, rhs in pairs:
        for side in (lhs, rhs):
            for x in side.walk():
                if isinstance(x, ex.Kernel):
                    return x.dtype
    return None
