"""The all-sizes prover: ``lhs = rhs`` for symbolic sizes, gradients included (docs/design.md, the index tier).

``prove(lhs, rhs)`` takes both sides into index notation (``derive.index``), differentiates every ``Grad`` there
(product rule; chain rule through exp, log and powers, so the quotient rule of a normaliser comes out of the power
−1; the derivative of an input entry is a pair of Kronecker deltas, eliminated against the dummies), folds
definitions back where their body reappears (exp⟨S⟩ → u, α⁻¹·u → f), and brings lhs − rhs to the canonical
normal form. While it is not zero, the deepest definitions left in it are unfolded (p → p₁ − p₂ → …) and the
normal form taken again. A zero normal form is a proof for all sizes; anything else decides nothing ("undecided
here"), because the normal form may need facts about the atoms (Σ_l f_jl = 1) that it does not use. Every rule
applied is recorded, in order, as the proof's steps.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import sympy as sp

from . import expr as ex
from .index import (DELTA, IndexForm, NotIndexable, Term, eliminate_deltas, merge, negate, normal_form, rename,
                    show_term, split_axis)

A, B, I, J = "‹a›", "‹b›", "‹i›", "‹j›"  # placeholders of an atom's entry and of the variable's entry
ROW, COL = "«r»", "«c»"  # the free indices of a claim's entry
MAX_TERMS = 4000


@dataclass
class Proof:
    """The outcome: ``proved`` (a zero normal form), the steps, and what is left when it is not zero."""

    proved: bool
    steps: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # a few terms of the nonzero normal form
    reason: str = ""
    seconds: float = 0.0
    lhs_terms: list[Term] = field(default_factory=list)  # the index form of lhs (derivatives taken), for the check
    rhs_terms: list[Term] = field(default_factory=list)
    form: IndexForm | None = None
    vec: bool = False  # both sides were vec(·) of the same order: the terms are the matrices' entries


class Prover:
    def __init__(self) -> None:
        self.form = IndexForm()
        self.form.derivative = self._grad_entry
        self.form.partial = self._partial
        self.rules: Counter = Counter()
        self.folds: Counter = Counter()
        self._dmemo: dict[tuple[str, str], list[Term]] = {}
        self._patterns: dict[str, tuple | None] = {}
        self._depth: dict[str, int] = {}

    # differentiation -----------------------------------------------------------------------------------------------
    def _grad_entry(self, form: IndexForm, a: ex.Node, var: ex.Matrix, i, j) -> list[Term]:
        """Entry (i, j) of Grad(a, var): ∂a/∂var[i, j], folded."""
        vkey = form.atom_of(var)
        return self.fold(self.diff(form.entry(a, 0, 0), vkey, i, j))

    def _partial(self, form: IndexForm, terms: list[Term], var: ex.Matrix, i, j) -> list[Term]:
        """∂(Σ terms)/∂var[i, j], folded (a ``Deriv`` by one entry of vec(var))."""
        return self.fold(self.diff(terms, form.atom_of(var), i, j))

    def diff(self, terms: list[Term], vkey: str, i, j) -> list[Term]:
        """∂(Σ terms)/∂var[i, j] by the product rule over the factors."""
        out = []
        for t in terms:
            for p, (k, idx, e) in enumerate(t.factors):
                if k == DELTA:
                    continue
                dterms = self.d_atom(k, vkey)
                if not dterms:
                    continue
                if e != 1:
                    self.rules["power rule"] += 1
                rest = t.factors[:p] + t.factors[p + 1:] + (((k, idx, e - 1),) if e != 1 else ())
                names = {I: i, J: j, **self.slots(k, idx)}
                for dt in dterms:
                    dt = self.form.fresh(dt)
                    out.append(Term(t.coef * e * dt.coef, t.dummies + dt.dummies, rest + rename(dt.factors, names)))
            if len(t.factors) > 1:
                self.rules["product rule"] += 1
        return out

    def slots(self, key: str, idx: tuple) -> dict:
        """The placeholders of an atom's entry (an input's ‹a›, ‹b›; another atom's slots #0, #1, …) → the indices
        of one of its factors."""
        if self.form.atoms[key].kind == "input":
            return {A: idx[0], B: idx[1]}
        return {f"#{s}": x for s, x in enumerate(idx)}

    def own(self, key: str) -> tuple:
        """The atom's factor at its own slots."""
        return (key, tuple(f"#{s}" for s in range(self.form.slot_count(key))), 1)

    def d_atom(self, key: str, vkey: str) -> list[Term]:
        """∂key[slots]/∂var[‹i›, ‹j›] (memoised; placeholders renamed by the caller)."""
        memo = self._dmemo.get((key, vkey))
        if memo is not None:
            return memo
        atom, var = self.form.atoms[key], self.form.atoms[vkey]
        own = {f"#{s}": r for s, r in enumerate(atom.slot_ranges) if r is not None}
        with self.form.ranged({I: var.node.shape[0], J: var.node.shape[1], **own}):
            out = self._d_atom(key, atom, var, vkey)
        self._dmemo[(key, vkey)] = out
        return out

    def _d_atom(self, key: str, atom, var, vkey: str) -> list[Term]:
        if atom.kind == "input":
            out = [Term(sp.Integer(1), (), ((DELTA, (A, I), 1), (DELTA, (B, J), 1)))] if key == vkey else []
            self.rules["∂x_ab/∂x_ij = δ_ai δ_bj"] += bool(out)
        elif var.node.name not in atom.leaves:
            out = []
        elif atom.kind == "exp":
            self.rules["chain rule through exp"] += 1
            darg = self.diff(self.body(key), vkey, I, J)
            out = [Term(t.coef, t.dummies, (self.own(key),) + t.factors) for t in darg]
        elif atom.kind == "log":
            self.rules["chain rule through log"] += 1
            arg = self.form.keyed("def", self.body(key), None, f"⟨arg of {atom.label}⟩")
            darg = self.diff(self.body(key), vkey, I, J)
            out = [Term(t.coef, t.dummies, ((arg[0], arg[1], -arg[2]),) + t.factors) for t in darg]
        else:
            self.rules[f"chain rule through the definition {atom.label}"] += 1
            out = self.fold(self.diff(self.body(key), vkey, I, J))
        return [t for t in (eliminate_deltas(t, self.form.ranges) for t in out) if t is not None]

    def body(self, key: str) -> list[Term]:
        """A definition's body (an exp's or log's argument) at its slots, with fresh dummies."""
        return [self.form.fresh(t) for t in self.form.atoms[key].arg_terms]

    # folding and unfolding -----------------------------------------------------------------------------------------
    def depth(self, key: str) -> int:
        if key not in self._depth:
            atom = self.form.atoms[key]
            if atom.kind == "input":
                self._depth[key] = 0
            else:
                self._depth[key] = -1  # a guard while the body is visited
                inner = [self.depth(k) for t in atom.arg_terms for k, _, _ in t.factors if k != DELTA]
                self._depth[key] = 1 + max(inner, default=0)
        return self._depth[key]

    def pattern(self, key: str) -> tuple | None:
        """(coef, factors) when the definition's body is one product without sums (f = α⁻¹·exp{S}), which folding
        recognises (its slots are the pattern's variables); None for others."""
        if key not in self._patterns:
            atom, pat = self.form.atoms[key], None
            if atom.kind == "def":
                body = atom.arg_terms
                if len(body) == 1 and not body[0].dummies and body[0].factors:
                    factors = merge(body[0].factors)
                    if factors and all(k != DELTA for k, _, _ in factors):
                        pat = (body[0].coef, factors)
            self._patterns[key] = pat
        return self._patterns[key]

    def fold(self, terms: list[Term]) -> list[Term]:
        """Each definition whose body is one product, recognised in a term, replaced by the definition."""
        keys = sorted((k for k, a in list(self.form.atoms.items()) if a.kind == "def" and self.pattern(k)),
                      key=self.depth)
        if not keys:
            return terms
        out = []
        for t in terms:
            factors, coef = merge(t.factors), t.coef
            for key in keys:
                while True:
                    hit = _match(self.pattern(key)[1], factors)
                    if hit is None:
                        break
                    factors, binding = hit
                    slots = tuple(binding.get(f"#{n}", 0) for n in range(self.form.slot_count(key)))
                    factors = merge(factors + ((key, slots, 1),))
                    coef = coef / self.pattern(key)[0]
                    self.folds[self.form.atoms[key].label] += 1
            out.append(Term(coef, t.dummies, factors))
        return out

    def unfold(self, terms: list[Term], keys: set[str]) -> list[Term]:
        """Each factor of a definition in ``keys`` replaced by its body (a positive power: that many copies, fresh
        dummies each; a negative one: only a body that is one product)."""
        out = []
        for t in terms:
            parts = [Term(t.coef, t.dummies, ())]
            for k, idx, e in t.factors:
                names = self.slots(k, idx) if k in keys else {}
                if k in keys and isinstance(e, int) and e > 0:
                    for _ in range(e):
                        body = self.body(k)
                        parts = [Term(p.coef * b.coef, p.dummies + b.dummies, p.factors + rename(b.factors, names))
                                 for p in parts for b in body]
                elif k in keys and self.pattern(k) and isinstance(e, int):  # (Πf^a)^e = Πf^(ae): integer e only
                    c, pf = self.pattern(k)
                    extra = tuple((fk, fi, fe * e) for fk, fi, fe in rename(pf, names))
                    parts = [Term(p.coef * c**e, p.dummies, p.factors + extra) for p in parts]
                else:
                    parts = [Term(p.coef, p.dummies, p.factors + ((k, idx, e),)) for p in parts]
            out += parts
            if len(out) > MAX_TERMS:
                raise NotIndexable(f"the normal form grew beyond {MAX_TERMS} terms")
        return out

    def sums(self) -> list[tuple[str, str, tuple]]:
        """(N, u, pattern) for each definition N of one slot whose body is a sum of one factor u over one index:
        the pattern is u's indices with N's slot as #0 and the summed one as § (N = u1: u[#0, §])."""
        out = []
        for key, atom in list(self.form.atoms.items()):
            body = atom.arg_terms
            if atom.kind != "def" or len(body) != 1 or len(body[0].dummies) != 1 or body[0].coef != 1 \
                    or len(body[0].factors) != 1:
                continue
            (u, idx, e), (k, _) = body[0].factors[0], body[0].dummies[0]
            if e == 1 and u != DELTA and idx.count(k) == 1 and "#0" in idx and set(idx) - {k, "#0"} <= {0}:
                out.append((key, u, tuple("§" if x == k else x for x in idx), body[0].dummies[0][1]))
        return out

    def normalisers(self, terms: list[Term]) -> list[Term]:
        """Σ_l u[…a…l…] = N[a] where N = u1 (or 1ᵀu) is a definition and the term divides by N[a] (so N·N⁻¹
        cancels): the row sums of a normaliser (f = diag(u1)⁻¹u gives Σ_l f[a, l] = 1 this way). A definition,
        not an assumption."""
        sums = self.sums()
        if not sums:
            return terms
        out = []
        for t in terms:
            t = eliminate_deltas(t, self.form.ranges)
            if t is None:
                continue
            changed = True
            while changed:
                changed = False
                factors, dummies = merge(t.factors), dict(t.dummies)
                for key, u, pattern, size in sums:
                    for n, (k, idx, e) in enumerate(factors):
                        if k != u or e != 1 or len(idx) != len(pattern):
                            continue
                        lone = next(x for x, p in zip(idx, pattern) if p == "§")
                        at = {x for x, p in zip(idx, pattern) if p == "#0"}
                        if lone not in dummies or sp.simplify(dummies[lone] - size) != 0 \
                                or sum(lone in f[1] for f in factors) != 1 or len(at) != 1 \
                                or any(p == 0 and x != 0 for x, p in zip(idx, pattern)):
                            continue
                        slot = (at.pop(),)
                        if not any(f[0] == key and f[1] == slot and f[2] < 0 for f in factors):
                            continue
                        dummies.pop(lone)
                        t = Term(t.coef, tuple(dummies.items()), merge(factors[:n] + factors[n + 1:] + ((key, slot, 1),)))
                        self.rules[f"Σ over a sum's index folded into its definition {self.form.atoms[key].label}"] += 1
                        changed = True
                        break
                    if changed:
                        break
            out.append(t)
        return out

    def unfoldable(self, key: str, e) -> bool:
        atom = self.form.atoms[key]
        return atom.kind == "def" and isinstance(e, int) and (e > 0 or self.pattern(key) is not None)


def _match(pattern: tuple, factors: tuple, binding: dict | None = None):
    """Match the pattern's factors (placeholders ‹a›, ‹b›) into ``factors``: (remaining factors, binding) or None.
    A factor matches one of the same atom whose exponent has the same sign and at least the pattern's size."""
    binding = binding or {}
    if not pattern:
        return factors, binding
    (pk, pidx, pe), rest = pattern[0], pattern[1:]
    for n, (k, idx, e) in enumerate(factors):
        if k != pk or e * pe <= 0 or abs(e) < abs(pe):
            continue
        b = dict(binding)
        if not all(_unify(p, x, b) for p, x in zip(pidx, idx)):
            continue
        left = factors[:n] + (((k, idx, e - pe),) if e != pe else ()) + factors[n + 1:]
        hit = _match(rest, left, b)
        if hit is not None:
            return hit
    return None


def _unify(p, x, b: dict) -> bool:
    if isinstance(p, str) and p.startswith("#"):
        if p in b:
            return b[p] == x
        b[p] = x
        return True
    return p == x


def strip_vec(lhs: ex.Node, rhs: ex.Node) -> tuple[ex.Node, ex.Node, bool]:
    """vec(X) = vec(Y) ⟺ X = Y for the same order and shape."""
    a, b = ex.bare(lhs), ex.bare(rhs)
    if isinstance(a, ex.Vec) and isinstance(b, ex.Vec) and a.order == b.order and _same_shape(a.a, b.a):
        return a.a, b.a, True
    return lhs, rhs, False


def _same_shape(a: ex.Node, b: ex.Node) -> bool:
    return all(sp.simplify(x - y) == 0 for x, y in zip(a.shape, b.shape))


def prove(lhs: ex.Node, rhs: ex.Node, max_rounds: int = 12, index_ranges: dict | None = None) -> Proof:
    """Whether lhs[i, j] − rhs[i, j] has a zero normal form for symbolic sizes (see the module docstring).
    ``index_ranges``: the range of each of the claim's own indices (``{"j0": n}``) the sides use as symbols."""
    t0 = time.perf_counter()
    lhs, rhs, vec = strip_vec(lhs, rhs)
    steps = ["vec(X) = vec(Y) ⟺ X = Y: compare the matrices"] if vec else []
    if not _same_shape(lhs, rhs):
        return Proof(False, steps, reason=f"the shapes differ for some sizes: {lhs.shape} vs {rhs.shape}")
    pr = Prover()
    pr.form.ranges.update({ROW: lhs.shape[0], COL: lhs.shape[1]})
    pr.form.ranges.update({pr.form.name_of(ex.index_symbol(k)): v for k, v in (index_ranges or {}).items()})
    for name, axis in ((ROW, 0), (COL, 1)):  # a flat pair axis of either side splits the free index
        split = split_axis(lhs, axis) or split_axis(rhs, axis)
        if split:
            pr.form.split(name, split)
    left = pr.form.entry(lhs, ROW, COL)
    right = pr.form.entry(rhs, ROW, COL)
    whole = {x for t in left + right for _, idx, _ in t.factors for x in idx if isinstance(x, str)}
    if whole & set(pr.form.splits):
        raise NotIndexable("an index used both whole and split into a pair")
    steps.append(f"index form of lhs[i,j] and rhs[i,j]: {len(left)} and {len(right)} terms")
    if pr.rules:
        steps.append("differentiated: " + ", ".join(f"{r} ×{c}" for r, c in sorted(pr.rules.items())))
    if pr.folds:
        steps.append("folded back: " + ", ".join(f"{r} ×{c}" for r, c in sorted(pr.folds.items())))
    nf = normal_form(pr.normalisers(left + negate(right)), pr.form.ranges)
    steps.append(f"normal form of lhs − rhs (deltas eliminated, dummies named canonically): {len(nf)} terms")
    for _ in range(max_rounds):
        if not nf:
            break
        candidates = {k for t in nf.values() for k, _, e in t.factors if k != DELTA and pr.unfoldable(k, e)}
        if not candidates:
            break
        top = max(pr.depth(k) for k in candidates)
        chosen = {k for k in candidates if pr.depth(k) == top}
        nf = normal_form(pr.normalisers(pr.unfold(list(nf.values()), chosen)), pr.form.ranges)
        names = ", ".join(sorted(pr.form.atoms[k].label for k in chosen))
        steps.append(f"unfolded {names}: {len(nf)} terms")
    proof = Proof(not nf, steps, [show_term(t, pr.form) for t in list(nf.values())[:3]], seconds=0.0,
                  lhs_terms=left, rhs_terms=right, form=pr.form, vec=vec)
    used = {r: c for r, c in pr.rules.items() if r.startswith("Σ over")}
    if used:
        steps.append("used: " + ", ".join(f"{r} ×{c}" for r, c in sorted(used.items())))
    if nf:
        proof.reason = (f"the normal form of lhs − rhs has {len(nf)} terms after unfolding every definition it can; "
                        "it may need facts about the atoms (such as Σ_l f_jl = 1) that it does not use")
    else:
        steps.append("normal form 0: lhs = rhs for all sizes")
    proof.seconds = time.perf_counter() - t0
    return proof


def equal_for_all_sizes(lhs: ex.Node, rhs: ex.Node) -> bool:
    """True when lhs − rhs has a zero normal form with symbolic sizes (a proof for all sizes)."""
    return prove(lhs, rhs).proved
