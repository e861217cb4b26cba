"""Terms of index notation (``derive.index``): ``coef · Σ_{dummies} Π factors``, and their canonical normal form.

A factor is an atom's entry to a power, ``(key, indices, exponent)``, or a Kronecker delta ``(DELTA, (a, b), 1)``.
A δ is eliminated against a dummy only when the other index runs over the same range; a sum of a term without its
dummy is the range times the term only when the range cannot be negative; the normal form names the dummies
canonically (the least text over the renamings that respect each dummy's signature) and adds equal terms up.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp

Factor = tuple  # (key, indices, exponent)
DELTA = "δ"


class NotIndexable(Exception):
    """A node that index notation with symbolic sizes does not cover (vec inside a tree, Kronecker, a per-size
    index, a numeric kernel…)."""


@dataclass(frozen=True)
class Term:
    coef: sp.Expr
    dummies: tuple[tuple[str, sp.Expr], ...]  # (name, range length)
    factors: tuple[Factor, ...]


def rename(factors: tuple, names: dict) -> tuple:
    return tuple((k, tuple(names.get(x, x) for x in idx), e) for k, idx, e in factors)


def merge(factors) -> tuple:
    """Equal atom entries multiplied: exponents added, a zero exponent dropped (x·x⁻¹ = 1: the term divided by x
    already, so x ≠ 0 wherever it is defined)."""
    out: dict = {}
    for k, idx, e in factors:
        out[(k, idx)] = out.get((k, idx), 0) + e
    return tuple((k, idx, e) for (k, idx), e in out.items() if e != 0)


def product(a: list[Term], b: list[Term]) -> list[Term]:
    return [Term(s.coef * t.coef, s.dummies + t.dummies, s.factors + t.factors) for s in a for t in b]


def bind(k: tuple[str, sp.Expr], terms: list[Term]) -> list[Term]:
    return [Term(t.coef, t.dummies + (k,), t.factors) for t in terms]


def eliminate_deltas(t: Term, ranges: dict | None = None) -> Term | None:
    """δ(a, x) with a dummy a substitutes a := x when x runs over the same range as a (a dummy of the term, or a free
    index whose range ``ranges`` gives, or the constant 0); otherwise the δ stays. δ of two different constants is a
    zero term (None)."""
    dummies = dict(t.dummies)
    known = {**(ranges or {}), **dummies}
    factors = list(t.factors)
    k = 0
    while k < len(factors):
        if factors[k][0] != DELTA:
            k += 1
            continue
        a, b = factors[k][1]
        if a == b:
            factors.pop(k)
            continue
        if isinstance(a, int) and isinstance(b, int):
            return None
        var = next((v for v, o in ((a, b), (b, a)) if v in dummies and _within(o, dummies[v], known)), None)
        if var is None:
            k += 1
            continue
        other = b if var == a else a
        factors = list(rename(tuple(factors[:k] + factors[k + 1:]), {var: other}))
        dummies.pop(var)
        known = {**(ranges or {}), **dummies}
        k = 0
    return Term(t.coef, tuple(dummies.items()), tuple(factors))


def _within(x, size: sp.Expr, known: dict) -> bool:
    """Whether the index x runs over exactly 0 ≤ x < size (so Σ over a dummy of that range, times δ, is the term
    at x)."""
    if isinstance(x, int):
        return x == 0 and sp.sympify(size).is_positive is True  # 0 is in a range only when it cannot be empty
    r = known.get(x)
    return r is not None and sp.simplify(sp.sympify(r) - size) == 0


def drop_trivial_sums(t: Term) -> Term:
    """Σ_{k<K} of a term without k is K times it; a sum over a range of length 1 is the term at k = 0."""
    used = {x for _, idx, _ in t.factors for x in idx}
    coef, dummies, names = t.coef, [], {}
    for s, r in t.dummies:
        if r == 1:
            names[s] = 0
        elif s not in used and sp.sympify(r).is_nonnegative is True:  # Σ_{k<K} 1 = K only for K ≥ 0
            coef = coef * r
        else:
            dummies.append((s, r))
    return Term(coef, tuple(dummies), rename(t.factors, names) if names else t.factors)


def _factor_text(f: Factor, names: dict, hide: frozenset = frozenset()) -> str:
    """A factor as unambiguous text (names quoted, so no name can imitate another factor or index)."""
    k, idx, e = f
    idx = tuple("#" if x in hide else names.get(x, x) for x in idx)
    if k == DELTA:
        idx = tuple(sorted(idx, key=str))
    return f"{k!r}[{','.join(map(repr, idx))}]^{e}"


def canonical(t: Term, hide: frozenset = frozenset()) -> tuple[str, tuple, list]:
    """(key, factors, order): the term's text with its dummies named canonically (the least text over the renamings
    that respect each dummy's signature: its range and the slots it fills), so that equal terms get equal keys;
    ``order``: its free indices in the order they appear. With ``hide``, those free indices are written ``#`` while
    the least text is sought (a key up to renaming them)."""
    factors = merge(t.factors)
    syms = [s for s, _ in t.dummies]
    ranges = dict(t.dummies)

    def signature(s: str) -> str:
        slots = sorted(f"{k!r}:{p}:{e}" for k, idx, e in factors for p, x in enumerate(idx) if x == s)
        return sp.sstr(ranges[s]) + "|" + ",".join(slots)

    groups: dict[str, list[str]] = {}
    for s in syms:
        groups.setdefault(signature(s), []).append(s)
    ordered = [groups[g] for g in sorted(groups)]
    options = 1
    for g in ordered:
        options *= _factorial(len(g))
    best = None
    perms = [itertools.permutations(g) for g in ordered] if options <= 720 else [[tuple(g)] for g in ordered]
    for choice in itertools.product(*perms):
        names = {s: f"_{n}" for n, s in enumerate(x for g in choice for x in g)}
        text = "*".join(sorted(_factor_text(f, names, hide) for f in factors))
        if best is None or text < best[0]:
            best = (text, names)
    text, names = best if best else ("", {})
    ranked = sorted(factors, key=lambda f: (_factor_text(f, names, hide), _factor_text(f, names)))
    order: list = []
    for _, idx, _ in ranked:
        order += [x for x in idx if isinstance(x, str) and x not in ranges and x not in order]
    rng = ",".join(f"{names[s]}<{sp.sstr(ranges[s])}" for s in sorted(syms, key=lambda s: names[s]))
    return f"{text} | {rng}", factors, order


def _factorial(k: int) -> int:
    out = 1
    for x in range(2, k + 1):
        out *= x
    return out


def normal_form(terms: list[Term], ranges: dict | None = None, max_dummies: int = 10) -> dict[str, Term]:
    """Canonical multi-sum normal form: key → term with the summed coefficient (zero coefficients dropped).
    ``ranges``: the ranges of the free indices (what a δ may be eliminated against)."""
    out: dict[str, Term] = {}
    for t in terms:
        t2 = eliminate_deltas(t, ranges)
        if t2 is None or t2.coef == 0:
            continue
        t2 = drop_trivial_sums(t2)
        if len(t2.dummies) > max_dummies:
            raise NotIndexable(f"a term with more than {max_dummies} summation indices")
        key, factors, _ = canonical(t2)
        old = out.get(key)
        out[key] = Term(t2.coef if old is None else old.coef + t2.coef, t2.dummies, factors)
    return {k: t for k, t in out.items() if not _zero(t.coef)}


def _zero(c: sp.Expr) -> bool:
    c = sp.expand(c)
    return c == 0 or sp.simplify(c) == 0


def negate(terms: list[Term]) -> list[Term]:
    return [Term(-t.coef, t.dummies, t.factors) for t in terms]


def show_term(t: Term, form=None) -> str:
    """A term as text: ``coef·Σ_{k<n} u[i,k]·f[k,j]⁻¹``."""
    def label(k: str) -> str:
        return form.atoms[k].label if form is not None and k in form.atoms else k

    parts = []
    for k, idx, e in t.factors:
        power = "" if e == 1 else f"^{e}"
        parts.append(f"{label(k)}[{','.join(map(str, idx))}]{power}")
    sums = "".join(f"Σ_{s}<{sp.sstr(r)} " for s, r in t.dummies)
    return f"{sp.sstr(t.coef)}·{sums}{'·'.join(parts) or '1'}"
