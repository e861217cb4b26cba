"""Explain a refutation by the simplest relation that closes the gap (docs/design.md, "verdict").

Tried in order, each at the counterexample and confirmed at a second, larger size:

- a constant factor ``truth = k · printed`` with ``k`` one of a few expressions in n and d;
- the transpose of the printed side;
- one edit of the printed tree: ``diag(v)`` on the other side of a product (rows vs columns),
  the Kronecker factors swapped, the other ``vec`` order, a transpose added to or dropped from one
  definition, a row read as a column.
"""

from __future__ import annotations

from typing import Callable, Iterator

import mpmath
import numpy as np
import sympy as sp

from . import expr as ex
from .sampling import Point, make_inputs, random_normal, size_substitution
from .claims import Claim
from .evaluate import Evaluator, MpmathField
from .printing import show

FACTORS = (2, sp.Rational(1, 2), -1, ex.d, 1 / ex.d, sp.sqrt(ex.d), 1 / sp.sqrt(ex.d), ex.n, 1 / ex.n, ex.d**2, 1 / ex.d**2)
MATCH = 1e-20

Edit = tuple[str, Callable[[ex.Node], ex.Node | None]]


def _edits(node: ex.Node) -> Iterator[Edit]:
    """Single-node edits of ``node`` (description, function returning the edited node or None)."""
    if isinstance(node, ex.MatMul) and isinstance(node.a, ex.Diag):
        yield (f"{show(node.b)}·{show(node.a)} in place of {show(node)} (columns scaled, not rows)",
               lambda x: ex.MatMul(x.b, x.a) if x.b.shape[0] == x.b.shape[1] else None)
    if isinstance(node, ex.MatMul) and isinstance(node.b, ex.Diag):
        yield (f"{show(node.b)}·{show(node.a)} in place of {show(node)} (rows scaled, not columns)",
               lambda x: ex.MatMul(x.b, x.a) if x.a.shape[0] == x.a.shape[1] else None)
    if isinstance(node, ex.Kron):
        yield (f"the Kronecker factors swapped: {show(node.b)}⊗{show(node.a)} in place of {show(node)}",
               lambda x: ex.Kron(x.b, x.a))
    if isinstance(node, ex.MatMul) and isinstance(node.b, ex.Transpose):
        a, b = ex.bare(node.a), ex.bare(node.b.a)
        if isinstance(a, ex.FaceSplit) and isinstance(b, ex.FaceSplit) and a.b.shape == b.b.shape:
            yield (f"({show(a.a)}⊘{show(b.b)})({show(b.a)}⊘{show(a.b)})ᵀ in place of {show(node)} (the second "
                   f"factors exchanged: (U₁V₁ᵀ)∘(V₂U₂ᵀ) for (U₁V₁ᵀ)∘(U₂V₂ᵀ))", _exchange_face_split)
    if isinstance(node, ex.Vec):
        other = "col" if node.order == "row" else "row"
        yield (f"vec in {other}-major order in place of {node.order}-major", lambda x: ex.Vec(x.a, other))
    if isinstance(node, ex.Transpose):
        yield (f"{show(node.a)} in place of {show(node)}", lambda x: x.a if x.a.shape == x.shape else None)
    if isinstance(node, (ex.Named, ex.Matrix, ex.MatMul)) and node.shape[0] != 1 and node.shape[1] != 1:
        yield (f"{show(node)}ᵀ in place of {show(node)}", lambda x: ex.Transpose(x) if x.shape[0] == x.shape[1] else None)
    if isinstance(node, ex.Row):
        yield (f"column {node.j} in place of row {node.j} of {show(node.a)}", lambda x: ex.Col(x.a, x.j))
    if isinstance(node, ex.Col):
        yield (f"row {node.i} in place of column {node.i} of {show(node.a)}", lambda x: ex.Row(x.a, x.i))


def _exchange_face_split(x: ex.Node) -> ex.Node | None:
    """(U₁⊘V₂)(V₁⊘U₂)ᵀ from (U₁⊘U₂)(V₁⊘V₂)ᵀ."""
    a, b = ex.bare(x.a), ex.bare(x.b.a)
    return ex.MatMul(ex.FaceSplit(a.a, b.b), ex.Transpose(ex.FaceSplit(b.a, a.b)))


def _paths(node: ex.Node, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], ex.Node]]:
    yield path, node
    for k, c in enumerate(node.children):
        yield from _paths(c, path + (k,))


def _at(node: ex.Node, path: tuple[int, ...]) -> ex.Node | None:
    for k in path:
        if k >= len(node.children):
            return None
        node = node.children[k]
    return node


def _replace(root: ex.Node, path: tuple[int, ...], edit: Callable[[ex.Node], ex.Node | None]) -> ex.Node | None:
    """``root`` with every occurrence of the node at ``path`` (a shared definition) edited."""
    target = _at(root, path)
    new = edit(target) if target is not None else None
    if new is None:
        return None
    memo: dict[int, ex.Node] = {}

    def rebuild(x: ex.Node) -> ex.Node:
        if x is target:
            return new
        if id(x) not in memo:
            kids = tuple(rebuild(c) for c in x.children)
            same = all(a is b for a, b in zip(kids, x.children))
            memo[id(x)] = x if same else x.with_children(kids)
        return memo[id(x)]

    try:
        return rebuild(root)
    except ValueError:
        return None


def _values(claim: Claim, point: dict[str, int], seed: int, index: dict | None):
    lhs, rhs = claim.sides(point, index)
    field_ = MpmathField(50)
    raw = make_inputs([(lhs, rhs)], size_substitution(point), random_normal(seed, point, claim.positive))
    ev = Evaluator(field_, {k: field_.array(v) for k, v in raw.items()}, size_substitution(point))
    return lhs, rhs, ev


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    scale = max(1.0, float(np.max(np.abs(np.asarray(a, dtype=float)), initial=0.0)))
    return float(np.max(np.abs(np.asarray(a - b, dtype=float)), initial=0.0)) <= MATCH * scale


def _factor(truth: np.ndarray, printed: np.ndarray) -> mpmath.mpf | None:
    if truth.shape != printed.shape:
        return None
    t, p = truth.reshape(-1), printed.reshape(-1)
    big = [k for k in range(p.size) if abs(p[k]) > 1e-10]
    if not big:
        return None
    k = t[big[0]] / p[big[0]]
    return k if _close(truth, k * printed) and abs(k) > 1e-30 else None


def explain(claim: Claim, ce: dict | None, seed: int, sizes: tuple[Point, ...]) -> str | None:
    """The simple relation between the true and the printed side, or None."""
    if ce is None:
        return None
    if "shapes" in ce:
        return ce["shapes"]
    index = ce.get("index")
    point = {k: ce[k] for k in sizes[0]}
    bigger = [p for p in sizes if all(p[k] > point[k] for k in p)] or [p for p in sizes if p != point]
    checks = [point] + bigger[-1:]
    with mpmath.workdps(50):
        evs = [_values(claim, p, seed, _clip(index, claim, p)) for p in checks]
        # a constant factor that is the same expression of the sizes at both points
        ks = [_factor(ev(lhs), ev(rhs)) for lhs, rhs, ev in evs]
        if all(k is not None for k in ks):
            for f in FACTORS:
                if all(abs(k - mpmath.mpf(sp.N(sp.sympify(f).subs(size_substitution(p)), 60))) < 1e-20
                       for k, p in zip(ks, checks)):
                    return f"off by a constant factor: true = ({sp.sstr(f)}) × printed"
            if all(abs(k - ks[0]) < 1e-20 for k in ks):
                return f"off by a constant factor: true = {mpmath.nstr(ks[0], 10)} × printed"
        if all(_close(ev(lhs), ev(rhs).T) for lhs, rhs, ev in evs):
            return "the printed side is the transpose of the true value"
        lhs0, rhs0, _ = evs[0]
        seen: set[int] = set()
        for path, node in _paths(rhs0):
            if id(node) in seen:
                continue
            seen.add(id(node))
            for desc, edit in _edits(node):
                ok = True
                for lhs, rhs, ev in evs:
                    new = _replace(rhs, path, edit)
                    if new is None or not _close(ev(lhs), ev(new)):
                        ok = False
                        break
                if ok:
                    return f"true with {desc}"
    return None


def _clip(index: dict | None, claim: Claim, point: dict[str, int]) -> dict | None:
    """The counterexample's index, kept inside the ranges of another size."""
    if not index:
        return index
    ranges = claim.index_ranges(size_substitution(point))
    return {k: min(v, ranges[k] - 1) for k, v in index.items()}
