"""The second route of an all-sizes proof: the index form the prover derived, summed out at concrete sizes.

The prover (``derive.index_proof``) differentiates in index notation by its own rules; a bug there must not prove a
false claim silently. So the derived index form of each side is evaluated at small concrete sizes — every term an
``einsum`` over its dummies, each atom by the ordinary evaluator at 50 digits — and compared with the side's value
from the evaluator (whose gradients are central differences at 50 digits). A disagreement is an internal error.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from . import expr as ex
from .evaluate import Evaluator
from .index import DELTA, IndexForm, Term, eliminate_deltas


def concrete(node: ex.Node, at: dict, memo: dict | None = None) -> ex.Node:
    """``node`` with each symbolic index (a claim's ``j0``, ``i`` built for all sizes) replaced by its value in
    ``at`` (symbol → int), so that the evaluator can give it a value."""
    if not at:
        return node
    memo = {} if memo is None else memo
    hit = memo.get(id(node))
    if hit is not None:
        return hit[1]
    kids = tuple(concrete(c, at, memo) for c in node.children)
    out = node.with_children(kids) if kids else node
    if isinstance(node, ex.Row):
        out = ex.Row(kids[0], at.get(node.j, node.j))
    elif isinstance(node, ex.Col):
        out = ex.Col(kids[0], at.get(node.i, node.i))
    elif isinstance(node, ex.Entry):
        out = ex.Entry(kids[0], at.get(node.i, node.i), at.get(node.j, node.j))
    elif isinstance(node, ex.Basis):
        out = ex.Basis(at.get(node.index, node.index), node.shape[0])
    elif isinstance(node, ex.Deriv):
        out = ex.Deriv(kids[0], node.var, at.get(node.index, node.index))
    memo[id(node)] = (node, out)
    return out


def atom_values(form: IndexForm, ev: Evaluator, keys: set[str], at: dict | None = None) -> dict[str, np.ndarray]:
    """Each atom's entries as float64 (inputs as given, definitions by ``ev`` with the claim's indices ``at``,
    exp/log of their argument)."""
    out: dict[str, np.ndarray] = {}
    memo: dict = {}

    def value(key: str) -> np.ndarray:
        if key not in out:
            atom = form.atoms[key]
            if atom.kind in ("exp", "log"):
                arg = value(atom.arg)
                out[key] = np.exp(arg) if atom.kind == "exp" else np.log(arg)
            else:
                out[key] = np.asarray(ev(concrete(atom.node, at or {}, memo)), dtype=np.float64)
        return out[key]

    for k in keys:
        value(k)
    return out


def bindings(form: IndexForm, ev: Evaluator, values: dict[str, int]) -> dict[str, int]:
    """Free index names → values, with the parts of each split name (major = v // K_minor, minor = v % K_minor)."""
    out = dict(values)
    for name, v in values.items():
        if name in form.splits:
            minor = ev.dim(form.splits[name][1])
            out[f"{name}⁰"], out[f"{name}¹"] = v // minor, v % minor
    return out


def term_value(t: Term, values: dict[str, np.ndarray], ev: Evaluator, bound: dict[str, int]) -> float:
    """One term with its free indices bound: an einsum over its dummies."""
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    names = {s: next(letters) for s, _ in t.dummies}
    ranges = {s: ev.dim(r) for s, r in t.dummies}
    operands, subs = [], []
    for k, idx, e in t.factors:
        if k == DELTA:
            a, b = (bound.get(x, x) for x in idx)
            if isinstance(a, int) and isinstance(b, int):
                if a != b:
                    return 0.0
                continue
            if isinstance(a, int) or isinstance(b, int):
                free, fixed = (b, a) if isinstance(a, int) else (a, b)
                vec = np.zeros(ranges[free])
                if fixed < ranges[free]:
                    vec[fixed] = 1.0
                operands.append(vec)
                subs.append(names[free])
                continue
            operands.append(np.eye(ranges[a], ranges[b]))
            subs.append(names[a] + names[b])
            continue
        arr = values[k] ** float(e) if e != 1 else values[k]
        sel, sub = [], ""
        for x in idx:
            x = bound.get(x, x)
            if isinstance(x, int):
                sel.append(x)
            else:
                sel.append(slice(None))
                sub += names[x]
        operands.append(np.asarray(arr[tuple(sel)], dtype=np.float64))
        subs.append(sub)
    coef = float(sp.sympify(t.coef).subs(ev.sizes))
    unused = [np.ones(ranges[s]) for s, _ in t.dummies if names[s] not in "".join(subs)]
    scalar = np.prod([u.sum() for u in unused]) if unused else 1.0
    if not operands:
        return coef * scalar
    return coef * scalar * float(np.einsum(",".join(subs) + "->", *operands))


def evaluate_terms(terms: list[Term], form: IndexForm, ev: Evaluator, shape: tuple[int, int],
                   row: str, col: str, at: dict | None = None) -> np.ndarray:
    """Σ terms at every entry of ``shape`` (free indices ``row``, ``col``; a claim's own indices at ``at``, symbol
    → int), at the sizes and inputs of ``ev``."""
    terms = [t for t in map(eliminate_deltas, terms) if t is not None]
    keys = {k for t in terms for k, _, _ in t.factors if k != DELTA}
    values = atom_values(form, ev, keys, at)
    fixed = {form.name_of(k): v for k, v in (at or {}).items()}
    out = np.zeros(shape)
    for r in range(shape[0]):
        for c in range(shape[1]):
            bound = bindings(form, ev, {**(fixed or {}), row: r, col: c})
            out[r, c] = sum(term_value(t, values, ev, bound) for t in terms)
    return out
