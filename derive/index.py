"""Index notation with symbolic sizes n, d (docs/design.md, the index tier).

An entry ``node[i, j]`` becomes a sum of terms ``coef · Σ_{dummies} Π factors``. The factors are the
entries of input matrices and of *opaque* definitions: a named definition whose own body applies exp,
log or a power (``u``, ``f``) is kept as one indexed symbol. Every other definition is unfolded. Products
of sums are merged into one multi-sum, Kronecker deltas are eliminated against dummies, and each term
is renamed canonically. Two sides whose normal forms cancel are equal for **all** n and d. A nonzero
normal form decides nothing, because it may need facts about the opaque symbols (such as Σ_l f_jl = 1).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp

from . import expr as ex


class NotIndexable(Exception):
    """A node that index notation with symbolic sizes does not cover (derivatives, vec, Kronecker…)."""


@dataclass(frozen=True)
class Term:
    coef: sp.Expr
    dummies: tuple[tuple[sp.Symbol, sp.Expr], ...]  # (symbol, range length)
    factors: tuple[sp.Expr, ...]


class IndexForm:
    """Entries of nodes as lists of ``Term``; fresh dummies per expansion."""

    def __init__(self) -> None:
        self._count = 0

    def dummy(self, size: sp.Expr) -> tuple[sp.Symbol, sp.Expr]:
        self._count += 1
        return sp.Symbol(f"k{self._count}", integer=True), size

    def entry(self, node: ex.Node, i: sp.Expr, j: sp.Expr) -> list[Term]:
        i = sp.Integer(0) if node.shape[0] == 1 else i
        j = sp.Integer(0) if node.shape[1] == 1 else j
        method = ex.method_for(self, "_e_", node)
        if method is None:
            raise NotIndexable(type(node).__name__)
        return method(node, i, j)

    @staticmethod
    def _leaf(name: str, i, j) -> list[Term]:
        return [Term(sp.Integer(1), (), (sp.IndexedBase(name)[i, j],))]

    def _e_Matrix(self, node, i, j):
        return self._leaf(node.name, i, j)

    def _e_Named(self, node, i, j):
        if _opaque(node):
            return self._leaf(node.name, i, j)
        return self.entry(node.expr, i, j)

    def _e_Fill(self, node, i, j):
        return [Term(node.value, (), ())]

    def _e_Identity(self, node, i, j):
        return [Term(sp.Integer(1), (), (sp.KroneckerDelta(i, j),))]

    def _e_Transpose(self, node, i, j):
        return self.entry(node.a, j, i)

    def _e_Scale(self, node, i, j):
        return [Term(node.k * t.coef, t.dummies, t.factors) for t in self.entry(node.a, i, j)]

    def _e_Add(self, node, i, j):
        return self.entry(node.a, i, j) + self.entry(node.b, i, j)

    def _e_Hadamard(self, node, i, j):
        return _product(self.entry(node.a, i, j), self.entry(node.b, i, j))

    def _e_Diag(self, node, i, j):
        return _product([Term(sp.Integer(1), (), (sp.KroneckerDelta(i, j),))], self.entry(node.a, i, 0))

    def _e_MatMul(self, node, i, j):
        k = self.dummy(node.a.shape[1])
        return _bind(k, _product(self.entry(node.a, i, k[0]), self.entry(node.b, k[0], j)))

    def _e_RowSum(self, node, i, j):
        k = self.dummy(node.a.shape[1])
        return _bind(k, self.entry(node.a, i, k[0]))

    def _e_ColSum(self, node, i, j):
        k = self.dummy(node.a.shape[0])
        return _bind(k, self.entry(node.a, k[0], j))

    def _e_Total(self, node, i, j):
        k1, k2 = self.dummy(node.a.shape[0]), self.dummy(node.a.shape[1])
        return _bind(k1, _bind(k2, self.entry(node.a, k1[0], k2[0])))


def _opaque(node: ex.Named) -> bool:
    """A definition whose own body (not counting nested definitions) applies exp, log or a power."""
    stack = [node.expr]
    while stack:
        x = stack.pop()
        if isinstance(x, (ex.Exp, ex.Log, ex.Pow)):
            return True
        if not isinstance(x, ex.Named):
            stack.extend(x.children)
    return False


def _product(a: list[Term], b: list[Term]) -> list[Term]:
    return [Term(s.coef * t.coef, s.dummies + t.dummies, s.factors + t.factors) for s in a for t in b]


def _bind(k: tuple[sp.Symbol, sp.Expr], terms: list[Term]) -> list[Term]:
    return [Term(t.coef, t.dummies + (k,), t.factors) for t in terms]


def _eliminate_deltas(t: Term) -> Term | None:
    """Use δ(a, x) with a dummy a to substitute a := x (the range is assumed to contain x)."""
    dummies = dict(t.dummies)
    factors = list(t.factors)
    changed = True
    while changed:
        changed = False
        for k, f in enumerate(factors):
            if isinstance(f, sp.KroneckerDelta):
                a, b = f.args
                var = a if a in dummies else (b if b in dummies else None)
                if var is None:
                    if (a - b).is_nonzero:
                        return None
                    continue
                other = b if var is a else a
                factors = [g.xreplace({var: other}) for m, g in enumerate(factors) if m != k]
                dummies.pop(var)
                changed = True
                break
    return Term(t.coef, tuple(dummies.items()), tuple(factors))


def _canonical(t: Term) -> tuple[str, sp.Expr]:
    """(key, coef): the key names the dummies canonically (minimum over renamings)."""
    syms = [s for s, _ in t.dummies]
    ranges = dict(t.dummies)
    best = None
    for perm in itertools.permutations(range(len(syms))):
        names = {s: sp.Symbol(f"_m{perm[k]}", integer=True) for k, s in enumerate(syms)}
        facs = sorted(sp.sstr(f.xreplace(names)) for f in t.factors)
        rng = sorted(f"{names[s]}<{sp.sstr(ranges[s])}" for s in syms)
        key = "*".join(facs) + " | " + ",".join(rng)
        if best is None or key < best:
            best = key
    return best or "", t.coef


def normal_form(terms: list[Term]) -> dict[str, sp.Expr]:
    """Canonical multi-sum normal form: key → coefficient (zero coefficients dropped)."""
    out: dict[str, sp.Expr] = {}
    for t in terms:
        t2 = _eliminate_deltas(t)
        if t2 is None:
            continue
        if len(t2.dummies) > 6:
            raise NotIndexable("too many summation indices")
        key, coef = _canonical(t2)
        out[key] = out.get(key, sp.Integer(0)) + coef
    return {k: v for k, v in out.items() if sp.simplify(v) != 0}


def equal_for_all_sizes(lhs: ex.Node, rhs: ex.Node) -> bool:
    """True when lhs[i, j] − rhs[i, j] has a zero normal form with symbolic n, d (a proof for all sizes)."""
    if not all(sp.simplify(a - b) == 0 for a, b in zip(lhs.shape, rhs.shape)):
        return False
    i, j = sp.symbols("i j", integer=True)
    form = IndexForm()
    minus = [Term(-t.coef, t.dummies, t.factors) for t in form.entry(rhs, i, j)]
    return not normal_form(form.entry(lhs, i, j) + minus)


def entry_expr(node: ex.Node, i: sp.Expr, j: sp.Expr) -> sp.Expr:
    """The entry ``node[i, j]`` as a SymPy expression with ``Sum`` over 0-based dummies."""
    out = sp.Integer(0)
    for t in filter(None, map(_eliminate_deltas, IndexForm().entry(node, i, j))):
        body = t.coef * sp.Mul(*t.factors)
        for s, size in t.dummies:
            body = sp.Sum(body, (s, 0, size - 1))
        out += body
    return out
