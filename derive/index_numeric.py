"""The second route of an all-sizes proof: the index form the prover derived, summed out at concrete sizes.

The prover (``derive.index_proof``) differentiates in index notation by its own rules; a bug there must not prove a
false claim silently. So the derived index form of each side is evaluated at small concrete sizes — every term an
``einsum`` over its dummies, each atom by the ordinary evaluator at 50 digits — and compared with the side's value
from the evaluator (whose gradients are central differences at 50 digits). A disagreement is an internal error.
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from .evaluate import Evaluator
from .index import DELTA, IndexForm, Term, eliminate_deltas


def atom_values(form: IndexForm, ev: Evaluator, keys: set[str]) -> dict[str, np.ndarray]:
    """Each input's entries as float64 (every other atom is summed out from its body, ``atom_array``)."""
    return {k: np.asarray(ev(form.atoms[k].node), dtype=np.float64) for k in keys if form.atoms[k].kind == "input"}


def atoms_used(form: IndexForm, terms) -> set[str]:
    """The atoms of ``terms``, and those inside the arguments of their exp atoms."""
    keys: set[str] = set()
    stack = list(terms)
    while stack:
        t = stack.pop()
        for k, _, _ in t.factors:
            if k != DELTA and k not in keys:
                keys.add(k)
                stack.extend(form.atoms[k].arg_terms)
    return keys


def bindings(form: IndexForm, ev: Evaluator, values: dict[str, int]) -> dict[str, int]:
    """Free index names → values, with the parts of each split name (major = v // K_minor, minor = v % K_minor)."""
    out = dict(values)
    for name, v in values.items():
        if name in form.splits:
            minor = ev.dim(form.splits[name][1])
            out[f"{name}⁰"], out[f"{name}¹"] = v // minor, v % minor
    return out


def atom_array(form: IndexForm, key: str, idx: tuple, values: dict, ev: Evaluator, bound: dict, ranges: dict,
               cache: dict) -> tuple[np.ndarray, list]:
    """A definition's, exp's or log's entries over the unbound indices of ``idx`` (its body or argument summed out
    at each), and those indices in order."""
    atom = form.atoms[key]
    free = [x for x in dict.fromkeys(idx) if not isinstance(bound.get(x, x), int)]
    out = np.empty([ranges[x] for x in free])
    for combo in itertools.product(*(range(ranges[x]) for x in free)):
        at = {**bound, **dict(zip(free, combo))}
        slots = tuple(at.get(x, x) for x in idx)
        hit = cache.get((key, slots))
        if hit is None:
            inner = {f"#{s}": v for s, v in enumerate(slots)}
            total = sum(term_value(form, a, values, ev, inner, cache) for a in atom.arg_terms)
            hit = float({"exp": np.exp, "log": np.log}.get(atom.kind, float)(total))
            cache[(key, slots)] = hit
        out[combo] = hit
    return out, free


def term_value(form: IndexForm, t: Term, values: dict[str, np.ndarray], ev: Evaluator, bound: dict[str, int],
               cache: dict) -> float:
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
        if form.atoms[k].kind != "input":
            arr, free = atom_array(form, k, idx, values, ev, bound, ranges, cache)
            operands.append(arr ** float(e) if e != 1 else arr)
            subs.append("".join(names[x] for x in free))
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
    values = atom_values(form, ev, atoms_used(form, terms))
    fixed = {form.name_of(k): v for k, v in (at or {}).items()}
    out = np.zeros(shape)
    cache: dict = {}
    for r in range(shape[0]):
        for c in range(shape[1]):
            bound = bindings(form, ev, {**fixed, row: r, col: c})
            out[r, c] = sum(term_value(form, t, values, ev, bound, cache) for t in terms)
    return out
