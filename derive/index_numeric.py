"""The second route of an all-sizes proof: the index form the prover derived, summed out at concrete sizes.

The prover (``derive.index_proof``) differentiates in index notation by its own rules; a bug there must not prove a
false claim silently. So the derived index form of each side is evaluated at small concrete sizes — every term an
``einsum`` over its dummies, each atom by the ordinary evaluator at 50 digits — and compared with the side's value
from the evaluator (whose gradients are central differences at 50 digits). A disagreement is an internal error.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from .evaluate import Evaluator
from .index import DELTA, IndexForm, Term, eliminate_deltas


def atom_values(form: IndexForm, ev: Evaluator, keys: set[str]) -> dict[str, np.ndarray]:
    """Each atom's entries as float64 (inputs as given, definitions by ``ev``, exp/log of their argument)."""
    out: dict[str, np.ndarray] = {}

    def value(key: str) -> np.ndarray:
        if key not in out:
            atom = form.atoms[key]
            if atom.kind in ("exp", "log"):
                arg = value(atom.arg)
                out[key] = np.exp(arg) if atom.kind == "exp" else np.log(arg)
            else:
                out[key] = np.asarray(ev(atom.node), dtype=np.float64)
        return out[key]

    for k in keys:
        value(k)
    return out


def evaluate_terms(terms: list[Term], form: IndexForm, ev: Evaluator, shape: tuple[int, int]) -> np.ndarray:
    """Σ terms at every entry (i, j) of ``shape``, at the sizes and inputs of ``ev``."""
    terms = [t for t in map(eliminate_deltas, terms) if t is not None]
    keys = {k for t in terms for k, _, _ in t.factors if k != DELTA}
    values = atom_values(form, ev, keys)
    out = np.zeros(shape)
    for t in terms:
        letters = iter("abcdefghlmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        names: dict[str, str] = {"i": next(letters), "j": next(letters)}
        ranges = {"i": shape[0], "j": shape[1]}
        ranges.update({s: ev.dim(r) for s, r in t.dummies})
        operands, subs = [], []
        for k, idx, e in t.factors:
            if k == DELTA:
                a = np.eye(ranges[idx[0]] if isinstance(idx[0], str) else 1, ranges[idx[1]] if isinstance(idx[1], str) else 1)
                arr = a
            else:
                arr = values[k] ** float(e) if e != 1 else values[k]
            sel = tuple(slice(None) if isinstance(x, str) else slice(x, x + 1) for x in idx)
            arr = arr[sel]
            letters_here = ""
            for x in idx:
                if isinstance(x, str):
                    if x not in names:
                        names[x] = next(letters)
                    letters_here += names[x]
                else:
                    letters_here += names.setdefault(f"#const{len(names)}", next(letters))
            operands.append(arr)
            subs.append(letters_here)
        coef = float(sp.sympify(t.coef).subs(ev.sizes))
        present = "".join(subs)
        extra = [(np.ones(ranges[s]), names.setdefault(s, next(letters))) for s, _ in t.dummies if names.get(s, "") not in present]
        for v in ("i", "j"):
            if names[v] not in present:
                extra.append((np.ones(ranges[v]), names[v]))
        operands += [a for a, _ in extra]
        subs += [s for _, s in extra]
        spec = ",".join(subs) + "->" + names["i"] + names["j"]
        out += coef * np.einsum(spec, *operands) if operands else coef
    return out
