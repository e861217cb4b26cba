"""Index notation with symbolic sizes (docs/design.md, the index tier): the entries of a node as multi-sums.

An entry ``node[i, j]`` is a list of ``Term``: ``coef · Σ_{dummies} Π factors``. A factor is an *atom* entry
raised to an exponent, ``(key, (row, col), e)``, or a Kronecker delta ``("δ", (a, b), 1)``. Atoms are:

- ``input``: an input matrix (keyed by name and shape);
- ``def``: a named definition of a chain, or an unnamed subexpression under a power (``(u1)⁻¹``), kept as one
  indexed symbol until the prover unfolds it (``derive.index_proof``). A definition is identified by what it is —
  the canonical form of its body, its inner definitions kept as atoms — never by its name: two definitions with
  one body are one atom, two that share a name but not a body are two; a body that is one factor is that factor;
- ``exp`` / ``log``: exp or log of an entry, keyed by the canonical form of its argument with every definition
  unfolded.

An atom's indices are the free indices of its body or argument (its slots #0, #1, … in canonical order), so an
atom of a per-row object (exp(A_{j0}x)) carries the row j0 as an index.

Indices are ``str`` (a free index or a dummy) or ``int`` (0 for the one entry of a vector's size-1 axis); every
free index carries its range (``IndexForm.ranges``). Products of sums become one multi-sum, and ``normal_form``
(``derive.index_terms``) eliminates deltas, names the dummies canonically and adds up equal terms: two sides whose
difference has a zero normal form are equal for all sizes. The arithmetic is plain Python; only the coefficients
(in the sizes and scales) are SymPy.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Union

import sympy as sp

from . import expr as ex
from .index_terms import (  # noqa: F401  (the terms' vocabulary, used by the prover through this module)
    DELTA, Factor, NotIndexable, Term, bind, canonical, eliminate_deltas, merge, negate, normal_form, product, rename,
    show_term,
)

Index = Union[str, int]
A_, B_ = "‹a›", "‹b›"  # the placeholders of a definition's entry while its body is keyed


WHY = {  # why a node is outside index notation with symbolic sizes (the index tier's note names it)
    **dict.fromkeys(("Row", "Col", "Entry", "Basis"), "a row, column or entry at a concrete index (a claim written "
                    "per size)"),
    "Kron": "a Kronecker product (its indices are pairs of a concrete split)",
    "Vec": "vec inside an expression (only vec(X) = vec(Y) at the top is compared as X = Y)",
    "Kernel": "a numeric kernel (it has no symbolic entries)",
    "Tril": "the causal mask (an entry that depends on the order of two indices)",
    "Deriv": "a derivative by one entry of vec(X) (a concrete index)",
}


@dataclass
class Atom:
    key: str
    kind: str  # input | def | exp | log
    label: str  # what a proof step prints
    node: ex.Node | None = None  # input: the Matrix; def: the body
    leaves: frozenset = frozenset()  # names of the inputs the atom depends on
    arg_terms: tuple = ()  # its body (exp, log: argument), free indices named #0, #1, … (its slots)
    slot_ranges: tuple = ()  # the range of each slot (None: unknown)


class IndexForm:
    """Entries of nodes as lists of ``Term`` (fresh dummies per expansion), and the table of atoms they use."""

    def __init__(self) -> None:
        self.atoms: dict[str, Atom] = {}
        self._count = 0
        self.derivative = None  # set by derive.index_proof: (form, node, var, i, j) → terms of a Grad entry
        self.partial = None  # set by derive.index_proof: (form, terms, var, i, j) → ∂terms/∂var[i, j]
        self.splits: dict[str, tuple] = {}  # index name → (K_major, K_minor): a flat index split as a pair
        self._templates: dict[tuple, tuple] = {}  # (id(node), its indices' ranges) → (node, its factor at ‹a›, ‹b›)
        self.ranges: dict[str, sp.Expr] = {}  # free index name → its range (what a δ is eliminated against)
        self._by_text: dict[str, str] = {}  # an atom's canonical text → its key

    @contextmanager
    def ranged(self, ranges: dict) -> Iterator[None]:
        """The ranges of some free indices, for the duration of a computation (restored after)."""
        saved = {k: self.ranges.get(k) for k in ranges}
        self.ranges.update(ranges)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    self.ranges.pop(k, None)
                else:
                    self.ranges[k] = v

    # dummies and atoms -----------------------------------------------------------------------------------------
    def dummy(self, size: sp.Expr) -> tuple[str, sp.Expr]:
        self._count += 1
        return f"k{self._count}", size

    def fresh(self, t: Term) -> Term:
        """``t`` with new names for its dummies (so two copies of one derivative never share a dummy)."""
        if not t.dummies:
            return t
        names = {}
        for s, _ in t.dummies:
            self._count += 1
            names[s] = f"k{self._count}"
        return Term(t.coef, tuple((names[s], r) for s, r in t.dummies), rename(t.factors, names))

    def atom_of(self, node: ex.Matrix) -> str:
        """The key of an input matrix (by name and shape)."""
        key = f"in:{node.name}"
        have = self.atoms.get(key)
        if have is None:
            self.atoms[key] = Atom(key, "input", node.name, node, frozenset((node.name,)))
        elif have.node.shape != node.shape:
            raise NotIndexable(f"two inputs named {node.name} with different shapes")
        return key

    def factor_of(self, node: ex.Node, i: Index, j: Index) -> Factor | None:
        """The factor that stands for ``node[i, j]``: an input's entry; an exp or log keyed by its argument's
        canonical form (definitions unfolded); any other node as a definition keyed by its body's canonical form
        (inner definitions kept), so two definitions are one atom exactly when their bodies are the same — a body
        that is one factor is that factor (u = exp(S) is exp{S}). None for a body that is 0."""
        if isinstance(node, ex.Matrix):
            return (self.atom_of(node), (i, j), 1)
        free = positions(node)  # the claim's or a sum's indices inside: the template holds for their ranges only
        cache = (id(node), tuple((x, sp.sstr(self.ranges.get(self.name_of(x))), sp.sstr(self.splits.get(self.name_of(x))))
                                 for x in free))
        hit = self._templates.get(cache)
        if hit is None:
            with self.ranged({A_: node.shape[0], B_: node.shape[1]}):
                template = self._template(node)
            hit = self._templates[cache] = (node, template)
        template = hit[1]
        if template is None:
            return None
        key, idx, e = template
        return (key, tuple({A_: i, B_: j}.get(x, x) for x in idx), e)

    def _template(self, node: ex.Node) -> Factor | None:
        if isinstance(node, (ex.Exp, ex.Log)):
            kind = "exp" if isinstance(node, ex.Exp) else "log"
            return self.keyed(kind, self.unfold_all(self.entry(node.a, A_, B_)), node, kind)
        from .printing import show

        label = node.name if isinstance(node, ex.Named) else f"⟨{show(node)}⟩"
        return self.keyed("def", self.entry(node.expr if isinstance(node, ex.Named) else node, A_, B_), node, label)

    def keyed(self, kind: str, terms: list[Term], node: ex.Node | None, label: str) -> Factor | None:
        """(key, free indices, exponent) for an atom of ``kind`` whose body (def) or argument (exp, log) is
        ``terms``: keyed by their canonical text with the free indices as slots #0, #1, … in canonical order."""
        nf = normal_form(terms, self.ranges)
        if kind == "def":
            if not nf:
                return None
            only = next(iter(nf.values()))
            if len(nf) == 1 and only.coef == 1 and not only.dummies and len(only.factors) == 1 \
                    and only.factors[0][2] == 1:
                return only.factors[0]  # an alias of one factor: that factor
        free_names = frozenset(x for t in nf.values() for _, idx, _ in t.factors for x in idx
                               if isinstance(x, str) and x not in dict(t.dummies))
        ranked = sorted((canonical(t, free_names) + (t,) for t in nf.values()),
                        key=lambda c: c[0] + "|" + sp.sstr(c[3].coef))
        free: list[str] = []
        for _, _, order, _ in ranked:
            free += [x for x in order if x not in free]
        slots = {x: f"#{n}" for n, x in enumerate(free)}
        arg = tuple(Term(t.coef, t.dummies, rename(t.factors, slots)) for t in nf.values())
        texts = sorted(sp.sstr(t.coef) + "·" + canonical(t)[0] for t in arg)
        ranges = tuple(self.ranges.get(x) for x in free)
        text = kind + "{" + " + ".join(texts) + "} over " + ",".join(map(sp.sstr, ranges))
        key = self._by_text.get(text)
        if key is None:
            key, n = f"{kind}:{label}" if kind == "def" else f"{kind}:{len(self._by_text)}", 1
            while key in self.atoms:  # a name is never enough to tell two bodies apart
                key, n = f"{kind}:{label}#{n}", n + 1
            self._by_text[text] = key
            leaves = frozenset(ex.leaves(node)) if node is not None else frozenset(
                x for t in arg for k, _, _ in t.factors if k != DELTA for x in self.atoms[k].leaves)
            self.atoms[key] = Atom(key, kind, label if kind == "def" else f"{kind}{{{label}}}", node, leaves, arg,
                                   ranges)
        return (key, tuple(free), 1)

    def slot_count(self, key: str) -> int:
        return len({x for t in self.atoms[key].arg_terms for _, idx, _ in t.factors for x in idx
                    if isinstance(x, str) and x.startswith("#")})

    # split indices -------------------------------------------------------------------------------------------
    def split(self, idx: Index, sizes: tuple) -> tuple:
        """``idx`` as a pair (major, minor) over ``sizes`` = (K_major, K_minor): the flat index major·K_minor + minor
        of a Kronecker, face-splitting or vec axis. A name is split the same way everywhere (``splits``)."""
        if isinstance(idx, tuple):
            return idx
        if isinstance(idx, int) or idx.startswith("‹"):
            raise NotIndexable("a concrete index, or a definition's own, into a Kronecker, face-splitting or vec axis")
        have = self.splits.setdefault(idx, sizes)
        if not all(sp.simplify(a - b) == 0 for a, b in zip(have, sizes)):
            raise NotIndexable("an index split two different ways")
        self.ranges.setdefault(f"{idx}⁰", sizes[0])
        self.ranges.setdefault(f"{idx}¹", sizes[1])
        return (f"{idx}⁰", f"{idx}¹")

    def is_split(self, idx: Index) -> bool:
        return isinstance(idx, tuple) or (isinstance(idx, str) and idx in self.splits)

    def bind(self, k: tuple[str, sp.Expr], terms: list[Term]) -> list[Term]:
        """Sum the dummy ``k`` over its range (a split dummy: both of its parts)."""
        name = k[0]
        if name in self.splits:
            major, minor = self.splits[name]
            return bind((f"{name}¹", minor), bind((f"{name}⁰", major), terms))
        return bind(k, terms)

    def summed(self, size: sp.Expr, split: tuple | None) -> tuple[str, sp.Expr]:
        """A fresh dummy over ``size``, registered as split when the axis it runs over is one."""
        k = self.dummy(size)
        if split:
            self.split(k[0], split)
        return k

    # entries ---------------------------------------------------------------------------------------------------
    def entry(self, node: ex.Node, i: Index, j: Index) -> list[Term]:
        i = 0 if node.shape[0] == 1 and not self.is_split(i) else i
        j = 0 if node.shape[1] == 1 and not self.is_split(j) else j
        method = ex.method_for(self, "_e_", node)
        if method is None:
            raise NotIndexable(WHY.get(type(node).__name__, type(node).__name__))
        return method(node, i, j)

    def _atom_entry(self, node, i, j, k=1) -> list[Term]:
        if self.is_split(i) or self.is_split(j):
            raise NotIndexable(f"a Kronecker, face-splitting or vec index into {type(node).__name__}")
        f = self.factor_of(node, i, j)
        if f is not None and f[0] == DELTA and k != 1:  # a power of a δ: δ for k > 0, 1 for k = 0, undefined below
            if k == 0:
                return [Term(sp.Integer(1), (), ())]
            if k < 0 or not sp.sympify(k).is_integer:
                raise NotIndexable("a negative or fractional power of an identity or basis entry")
            k = 1
        if f is None:
            if k > 0:
                return []
            raise NotIndexable("a negative power of a definition that is 0")
        return [Term(sp.Integer(1), (), ((f[0], f[1], f[2] * k),))]

    def _e_Matrix(self, node, i, j):
        return self._atom_entry(node, i, j)

    def _e_Named(self, node, i, j):
        if self.is_split(i) or self.is_split(j) or split_axis(node, 0) or split_axis(node, 1):
            return self.entry(node.expr, i, j)  # a split axis: see through (its parts are summed where it is used)
        return self._atom_entry(node, i, j)

    def _e_Exp(self, node, i, j):
        """exp of an entry, keyed by its argument's canonical form with every definition unfolded (so exp(S)[j0, r]
        and exp(A_{j0}x)[r] are one atom when S = A₁XA₂ᵀ); its indices are the argument's free indices."""
        return self._atom_entry(node, i, j)

    def unfold_all(self, terms: list[Term], depth: int = 0) -> list[Term]:
        """``terms`` with every definition (a positive integer power of it) replaced by its body, recursively."""
        if depth > 50:
            raise NotIndexable("definitions nested too deeply")
        out, again = [], False
        for t in terms:
            parts = [Term(t.coef, t.dummies, ())]
            for k, idx, e in t.factors:
                atom = self.atoms.get(k)
                if atom is not None and atom.kind == "def" and isinstance(e, int) and e > 0:
                    again = True
                    for _ in range(e):
                        body = [self.fresh(b) for b in atom.arg_terms]
                        names = {f"#{s}": x for s, x in enumerate(idx)}
                        parts = [Term(p.coef * b.coef, p.dummies + b.dummies, p.factors + rename(b.factors, names))
                                 for p in parts for b in body]
                else:
                    parts = [Term(p.coef, p.dummies, p.factors + ((k, idx, e),)) for p in parts]
            out += parts
        return self.unfold_all(out, depth + 1) if again else out

    def _e_Log(self, node, i, j):
        return self._atom_entry(node, i, j)

    def _e_Pow(self, node, i, j):
        k = node.k
        if not k.is_Rational:
            raise NotIndexable(f"a power {k}")
        return self._atom_entry(node.a, i, j, int(k) if k.is_Integer else k)

    def _e_Fill(self, node, i, j):
        return [Term(no_index(node.value, "a constant"), (), ())] if node.value != 0 else []

    def _delta(self, i, j) -> list[Term]:
        """δ(i, j); of split indices, δ of both parts (the other index split the same way)."""
        if self.is_split(i) or self.is_split(j):
            sizes = self.splits.get(i if isinstance(i, str) and i in self.splits else j)
            if sizes is None:
                raise NotIndexable("a delta of two pairs of unknown split")
            a, b = self.split(i, sizes), self.split(j, sizes)
            return [Term(sp.Integer(1), (), ((DELTA, (a[0], b[0]), 1), (DELTA, (a[1], b[1]), 1)))]
        return [Term(sp.Integer(1), (), ((DELTA, (i, j), 1),))]

    def _e_Identity(self, node, i, j):
        return self._delta(i, j)

    def _e_Basis(self, node, i, j):
        return self._delta(i, self.name_of(node.index))

    def _e_Transpose(self, node, i, j):
        return self.entry(node.a, j, i)

    def _e_Scale(self, node, i, j):
        k = no_index(node.k, "a coefficient")
        return [Term(k * t.coef, t.dummies, t.factors) for t in self.entry(node.a, i, j)]

    def _e_Add(self, node, i, j):
        return self.entry(node.a, i, j) + self.entry(node.b, i, j)

    def _e_Hadamard(self, node, i, j):
        return product(self.entry(node.a, i, j), self.entry(node.b, i, j))

    def _e_Diag(self, node, i, j):
        return product(self._delta(i, j), self.entry(node.a, i, 0))

    def _e_MatMul(self, node, i, j):
        split_a, split_b = split_axis(node.a, 1), split_axis(node.b, 0)
        if split_a and split_b and not all(sp.simplify(x - y) == 0 for x, y in zip(split_a, split_b)):
            raise NotIndexable("a product of two Kronecker or face-splitting axes split differently")
        k = self.summed(node.a.shape[1], split_a or split_b)
        return self.bind(k, product(self.entry(node.a, i, k[0]), self.entry(node.b, k[0], j)))

    def _e_FaceSplit(self, node, i, j):
        """(a ⊘ b)[i, l₁ + k₁·l₂] = a[i, l₁]·b[i, l₂]: the column is the pair (l₂, l₁)."""
        major, minor = self.split(j, split_axis(node, 1))
        return product(self.entry(node.a, i, minor), self.entry(node.b, i, major))

    def _e_Kron(self, node, i, j):
        """(a ⊗ b)[(i₀, i₁), (j₀, j₁)] = a[i₀, j₀]·b[i₁, j₁]."""
        r, c = self._kron_index(node, 0, i), self._kron_index(node, 1, j)
        return product(self.entry(node.a, r[0], c[0]), self.entry(node.b, r[1], c[1]))

    def _kron_index(self, node, axis: int, idx: Index) -> tuple:
        if node.a.shape[axis] == 1:
            return (0, idx)
        if node.b.shape[axis] == 1:
            return (idx, 0)
        return self.split(idx, split_axis(node, axis))

    def _e_Vec(self, node, i, j):
        """vec(a)[(major, minor)]: a[major, minor] row-major, a[minor, major] column-major."""
        major, minor = self.split(i, split_axis(node, 0))
        return self.entry(node.a, major, minor) if node.order == "row" else self.entry(node.a, minor, major)

    def name_of(self, x) -> Index:
        """A node's index as an index here: an int, or the name of a claim's symbolic index (``@j0``)."""
        return f"@{str(x)!r}" if isinstance(x, sp.Symbol) else int(x)

    def _e_Row(self, node, i, j):
        return self.entry(node.a, self.name_of(node.j), i)

    def _e_Col(self, node, i, j):
        return self.entry(node.a, i, self.name_of(node.i))

    def _e_Entry(self, node, i, j):
        return self.entry(node.a, self.name_of(node.i), self.name_of(node.j))

    def _e_SumOver(self, node, i, j):
        """Σ_{j0 < K} body: the body's entry with its index a fresh dummy (split like the index, if it is)."""
        name = self.name_of(node.index)
        k = self.summed(no_index(node.size, "the range of a sum"), None)
        with self.ranged({name: node.size}):
            terms = self.entry(node.body, i, j)
        names = {name: k[0]}
        if name in self.splits:
            sizes = self.splits.pop(name)
            if sp.simplify(sizes[0] * sizes[1] - node.size) != 0:
                raise NotIndexable("a sum over a flat pair index whose range is not the pair's")
            self.split(k[0], sizes)
            names = {f"{name}⁰": f"{k[0]}⁰", f"{name}¹": f"{k[0]}¹"}
        terms = [Term(t.coef, t.dummies, rename(t.factors, names)) for t in terms]
        return self.bind(k, terms)

    def _e_RowSum(self, node, i, j):
        k = self.summed(node.a.shape[1], split_axis(node.a, 1))
        return self.bind(k, self.entry(node.a, i, k[0]))

    def _e_ColSum(self, node, i, j):
        k = self.summed(node.a.shape[0], split_axis(node.a, 0))
        return self.bind(k, self.entry(node.a, k[0], j))

    def _e_Total(self, node, i, j):
        k1 = self.summed(node.a.shape[0], split_axis(node.a, 0))
        k2 = self.summed(node.a.shape[1], split_axis(node.a, 1))
        return self.bind(k1, self.bind(k2, self.entry(node.a, k1[0], k2[0])))

    def _e_Grad(self, node, i, j):
        if self.derivative is None:
            raise NotIndexable("a derivative (without the index prover)")
        return self.derivative(self, node.a, node.var, i, j)

    def _e_Deriv(self, node, i, j):
        """∂a[i, j]/∂vec(var)_k, vec row-major: k split as (row, col) of var."""
        if self.partial is None:
            raise NotIndexable("a derivative (without the index prover)")
        at = self.split(self.name_of(node.index), (node.var.shape[0], node.var.shape[1]))
        return self.partial(self, self.entry(node.a, i, j), node.var, at[0], at[1])


def positions(node: ex.Node) -> list:
    """The symbolic indices (rows, columns, entries, basis vectors, vec entries) a node uses outside every sum that
    binds them (an index is bound only inside its own ``SumOver``)."""
    def free(x: ex.Node) -> set:
        if isinstance(x, ex.SumOver):
            return free(x.body) - {x.index}
        here = {v for v in (getattr(x, a, None) for a in ("i", "j", "index")) if isinstance(v, sp.Symbol)}
        for c in x.children:
            here |= free(c)
        return here

    return sorted(free(node), key=str)


def no_index(value: sp.Expr, where: str) -> sp.Expr:
    """``value`` when it holds no index symbol (an index in a coefficient or a range would be treated as a
    constant outside the sum that binds it): else NotIndexable."""
    if any(s.is_nonnegative and not s.is_positive for s in sp.sympify(value).free_symbols):
        raise NotIndexable(f"an index in {where}")
    return value


def split_axis(node: ex.Node, axis: int) -> tuple | None:
    """(K_major, K_minor) when ``node``'s ``axis`` is a flat pair axis — of a Kronecker product (either axis), a
    face-splitting product (its columns: (k₂, k₁)) or a vec (its rows) — seen through definitions, transposes,
    products, sums and scalings; else None."""
    if isinstance(node, ex.FaceSplit):
        return (node.b.shape[1], node.a.shape[1]) if axis == 1 else None
    if isinstance(node, ex.Kron):  # a factor of length 1 along the axis leaves it whole
        sizes = (node.a.shape[axis], node.b.shape[axis])
        return None if 1 in sizes else sizes
    if isinstance(node, ex.Vec):
        rows, cols = node.a.shape
        return None if axis == 1 else ((rows, cols) if node.order == "row" else (cols, rows))
    if isinstance(node, ex.Named):
        return split_axis(node.expr, axis)
    if isinstance(node, ex.Transpose):
        return split_axis(node.a, 1 - axis)
    if isinstance(node, ex.MatMul):
        return split_axis(node.a, 0) if axis == 0 else split_axis(node.b, 1)
    if isinstance(node, ex.Scale):
        return split_axis(node.a, axis)
    if isinstance(node, (ex.Add, ex.Hadamard)):
        return split_axis(node.a, axis) or split_axis(node.b, axis)
    if isinstance(node, ex.Col):
        return split_axis(node.a, 0) if axis == 0 else None
    if isinstance(node, ex.Row):
        return split_axis(node.a, 1) if axis == 0 else None
    return None
