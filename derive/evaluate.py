"""Give expression trees a value: exact SymPy entries, 50-digit mpmath, or float64.

One evaluator (a ``_eval_<Node>`` per node type) works on NumPy 2-D arrays; a *field* says what an
entry is and how exp, log, powers and derivatives are done:

- ``ExactField``: SymPy expressions, one symbol per input entry; exp(Σ c_k·m_k) is Π w_k^{c_k} with positive symbols
  w_k = exp(m_k) (dw = w·dm), a log splits into ℓ symbols (dℓ = dg/g): an identity is decided by ``cancel``
  (docs/design.md, the exact tier), a difference disproved at a rational input point by interval arithmetic.
- ``MpmathField``: mpmath numbers at ``dps`` digits; derivatives by central differences with a step of 10^(−dps/2.5)
  (truncation ~h², rounding ~10^(−dps)/h — both far below the tolerance), nested ones at more digits.
- ``FloatField``: float64 / float32 arrays; gradients by Richardson-extrapolated central differences from
  ``numeric.fdcheck`` with their error estimate (a nested gradient's estimate feeds the outer one).
"""

from __future__ import annotations

import random
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from . import expr as ex


NOT_REAL = ("it takes {what} at the random inputs; draw that input positive with "
            "Claim(..., positive=('name',))")


class NotSymbolic(Exception):
    """A node that has no exact value (a numeric kernel)."""


class Field:
    """What a matrix entry is. Subclasses implement the entry-level operations."""

    dtype: Any = object
    name = "field"

    def scalar(self, k: sp.Expr) -> Any:
        raise NotImplementedError

    def exp(self, a: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def log(self, a: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def power(self, a: np.ndarray, k: sp.Expr) -> np.ndarray:
        kk = int(k) if k.is_Integer else self.scalar(k)
        return np.vectorize(lambda x: x**kk, otypes=[self.dtype])(a) if self.dtype is object else a**kk

    def deriv(self, ev: "Evaluator", node: ex.Node, var: ex.Matrix, index: int | None) -> np.ndarray:
        """∂node/∂vec(var)_index (index None: gradient of a 1×1 node, shaped like var)."""
        raise NotImplementedError


class Evaluator:
    """Evaluate nodes at given input values and sizes; memoised per node within one evaluator."""

    def __init__(self, field: Field, values: dict[str, np.ndarray], sizes: dict[sp.Symbol, int]):
        self.field, self.values, self.sizes = field, values, sizes
        self._memo: dict[int, tuple[ex.Node, np.ndarray]] = {}

    def dim(self, x: sp.Expr) -> int:
        return int(sp.sympify(x).subs(self.sizes))

    def scalar(self, k: sp.Expr) -> Any:
        return self.field.scalar(sp.sympify(k).subs(self.sizes))

    def __call__(self, node: ex.Node) -> np.ndarray:
        hit = self._memo.get(id(node))
        if hit is not None:
            return hit[1]
        method = ex.method_for(self, "_eval_", node)
        if method is None:
            raise ValueError(f"{type(node).__name__} has no value in the {self.field.name} evaluator.")
        out = method(node)
        self._memo[id(node)] = (node, out)
        return out

    def with_values(self, values: dict[str, np.ndarray]) -> "Evaluator":
        return Evaluator(self.field, values, self.sizes)

    def _filled(self, shape, value) -> np.ndarray:
        out = np.empty(shape, dtype=self.field.dtype)
        out.fill(value)
        return out

    # leaves
    def _eval_Matrix(self, node):
        try:
            v = self.values[node.name]
        except KeyError:
            raise ValueError(f"No value was given for the input matrix {node.name}.") from None
        want = (self.dim(node.shape[0]), self.dim(node.shape[1]))
        if v.shape != want:
            raise ValueError(f"Input {node.name} has shape {v.shape} but must be {want}.")
        return v

    def _eval_Fill(self, node):
        shape = (self.dim(node.shape[0]), self.dim(node.shape[1]))
        return self._filled(shape, self.scalar(node.value))

    def _eval_Identity(self, node):
        k = self.dim(node.shape[0])
        out = self._filled((k, k), self.field.scalar(sp.Integer(0)))
        for i in range(k):
            out[i, i] = self.field.scalar(sp.Integer(1))
        return out

    def _eval_Basis(self, node):
        k = self.dim(node.shape[0])
        if not 0 <= node.index < k:
            raise ValueError(f"e_{node.index} does not exist in dimension {k}.")
        out = self._filled((k, 1), self.field.scalar(sp.Integer(0)))
        out[node.index, 0] = self.field.scalar(sp.Integer(1))
        return out

    def _eval_Tril(self, node):
        k = self.dim(node.shape[0])
        out = self._filled((k, k), self.field.scalar(sp.Integer(0)))
        for i in range(k):
            out[i, : i + 1] = self.field.scalar(sp.Integer(1))
        return out

    # structure
    def _eval_Named(self, node):
        return self(node.expr)

    def _eval_Transpose(self, node):
        return self(node.a).T

    def _eval_Exp(self, node):
        return self.field.exp(self(node.a))

    def _eval_Log(self, node):
        return self.field.log(self(node.a))

    def _eval_RowSum(self, node):
        return self(node.a).sum(axis=1, keepdims=True)

    def _eval_ColSum(self, node):
        return self(node.a).sum(axis=0, keepdims=True)

    def _eval_Total(self, node):
        return self(node.a).sum(keepdims=True).reshape(1, 1)

    def _eval_Diag(self, node):
        v = self(node.a)[:, 0]
        out = self._filled((v.size, v.size), self.field.scalar(sp.Integer(0)))
        for i in range(v.size):
            out[i, i] = v[i]
        return out

    def _eval_Pow(self, node):
        return self.field.power(self(node.a), node.k)

    def _eval_Scale(self, node):
        k = self.scalar(node.k)
        a = self(node.a)
        return np.vectorize(lambda x: k * x, otypes=[object])(a) if a.dtype == object else k * a

    def _eval_Vec(self, node):
        a = self(node.a)
        return a.reshape(-1, 1, order="C" if node.order == "row" else "F").copy()

    def _eval_Row(self, node):
        return self(node.a)[node.j, :].reshape(-1, 1)

    def _eval_Col(self, node):
        return self(node.a)[:, node.i].reshape(-1, 1)

    def _eval_Entry(self, node):
        return self(node.a)[node.i : node.i + 1, node.j : node.j + 1]

    def _eval_MatMul(self, node):
        return self(node.a) @ self(node.b)

    def _eval_Add(self, node):
        return self(node.a) + self(node.b)

    def _eval_Hadamard(self, node):
        return self(node.a) * self(node.b)

    def _eval_Kron(self, node):
        return np.kron(self(node.a), self(node.b))

    def _eval_FaceSplit(self, node):
        a, b = self(node.a), self(node.b)
        # [i, l₂, l₁] flattened row-major over (l₂, l₁): column l₁ + k₁·l₂
        return (a[:, None, :] * b[:, :, None]).reshape(a.shape[0], a.shape[1] * b.shape[1])

    def _eval_Kernel(self, node):
        if isinstance(self.field, ExactField):
            raise NotSymbolic(f"{node.label} is a numeric kernel")
        args = [np.asarray(self(m), dtype=np.float64).astype(node.dtype) for m in node.inputs]
        out = np.asarray(node.fn(*args), dtype=np.float64).reshape(self.dim(node.shape[0]), self.dim(node.shape[1]))
        return self.field.array(out) if isinstance(self.field, MpmathField) else out.astype(self.field.dtype)

    def _eval_Deriv(self, node):
        return self.field.deriv(self, node.a, node.var, node.index)

    def _eval_SumOver(self, node):
        """Σ_j of the body with its symbolic index at each value j (``expr.with_positions``)."""
        terms = [self(ex.with_positions(node.body, {node.index: j})) for j in range(self.dim(node.size))]
        if not terms:
            return self._filled((self.dim(node.shape[0]), self.dim(node.shape[1])), self.field.scalar(sp.Integer(0)))
        out = terms[0]
        for t in terms[1:]:
            out = out + t
        return out

    def _eval_Grad(self, node):
        return self.field.deriv(self, node.a, node.var, None)


# exact ---------------------------------------------------------------------------------------
class ExactField(Field):
    """SymPy entries. With ``split``, exp(Σ c_k·m_k) (c_k rational, m_k monomials) is Π w_k^{c_k}·exp(const), one
    positive w_k = exp(m_k) per monomial, and a log splits over positive factors (log w_k = m_k), the rest a real ℓ;
    without, each exp(g), log(g) is one symbol (faster ``cancel``). ``opaque``: symbol → (kind, argument)."""

    name = "exact"
    DIGITS = 60  # interval arithmetic at a point of the inputs (``is_zero``'s disproof)

    def __init__(self, positive: tuple[str, ...] = (), split: bool = True) -> None:
        self.positive, self.split = tuple(positive), split  # positive: inputs whose entries are positive symbols
        self.opaque: dict[sp.Symbol, tuple[str, sp.Expr]] = {}
        self.inputs: list[sp.Symbol] = []  # every input entry's symbol, in the order ``symbols`` made them
        self.witness: dict[sp.Symbol, sp.Rational] | None = None  # the input point of ``is_zero``'s last disproof
        self.domain: dict[sp.Expr, None] = {}  # what must be > 0 for a real value: log arguments, bases of roots
        self._memo: tuple[dict | None, dict] = (None, {})  # (point, its intervals)
        self._by_arg: dict[tuple[str, sp.Expr], sp.Symbol] = {}
        self._dmemo: dict[tuple[sp.Expr, sp.Symbol], sp.Expr] = {}

    def scalar(self, k):
        return sp.nsimplify(k) if isinstance(k, sp.Float) else sp.sympify(k)

    def _atom(self, kind: str, g: sp.Expr) -> sp.Symbol:
        key = (kind, g)
        if key not in self._by_arg:
            name = f"{'w' if kind == 'exp' else 'l'}{len(self.opaque)}"
            sym = sp.Symbol(name, positive=True) if kind == "exp" else sp.Symbol(name, real=True)
            self._by_arg[key] = sym
            self.opaque[sym] = key
        return self._by_arg[key]

    def _opaque(self, kind: str, g: sp.Expr) -> sp.Expr:
        """exp(g) or log(g) in the field (see the class docstring)."""
        return self._exp1(g) if kind == "exp" else self._log1(g)

    def _exp1(self, g: sp.Expr) -> sp.Expr:
        g = sp.expand(g)
        if g.is_number or not self.split:
            return sp.exp(g) if g.is_number else self._atom("exp", g)
        out, const = sp.Integer(1), sp.Integer(0)
        for term in sp.Add.make_args(g):
            c, m = term.as_coeff_Mul(rational=True)
            if m.is_number:
                const += term
            elif m in self.opaque and self.opaque[m][0] == "log":
                out *= self.opaque[m][1] ** c  # exp(c·log r) = r^c, r > 0 wherever the log is real
            else:
                out *= self._atom("exp", m) ** c
        return out * sp.exp(const)

    def _log1(self, g: sp.Expr) -> sp.Expr:
        g = sp.sympify(g)
        self.domain.setdefault(g)
        if g.is_number or not self.split:
            return sp.log(g) if g.is_number else self._atom("log", sp.expand(g))
        out, rest = sp.Integer(0), sp.Integer(1)
        for f in sp.Mul.make_args(sp.factor_terms(g) if g.is_Add else g):
            b, k = f.as_base_exp()
            if b in self.opaque and self.opaque[b][0] == "exp":
                out += k * self.opaque[b][1]  # log(w^k) = k·m
            elif k.is_Rational and b.is_positive:  # log(b^k) = k·log b for b > 0
                out += k * (sp.log(b) if b.is_number else self._atom("log", sp.expand(b)))
            else:
                rest *= f  # > 0 wherever g is, since the factors split off are positive
        if rest != 1:
            out += sp.log(rest) if rest.is_number else self._atom("log", sp.expand(rest))
        return out

    def exp(self, a):
        return np.vectorize(self._exp1, otypes=[object])(a)

    def power(self, a, k):
        if not sp.sympify(k).is_Integer:
            self.domain.update(dict.fromkeys(sp.sympify(x) for x in np.asarray(a).reshape(-1)))
        return super().power(a, k)

    def log(self, a):
        return np.vectorize(self._log1, otypes=[object])(a)

    def total_diff(self, e: sp.Expr, v: sp.Symbol) -> sp.Expr:
        """de/dv through every opaque symbol (the chain rule at exp and log)."""
        e = sp.sympify(e)
        out = sp.diff(e, v)
        for w in e.free_symbols & self.opaque.keys():
            kind, g = self.opaque[w]
            key = (w, v)
            if key not in self._dmemo:
                dg = self.total_diff(g, v)
                self._dmemo[key] = w * dg if kind == "exp" else dg / g
            dw = self._dmemo[key]
            if dw != 0:
                out += sp.diff(e, w) * dw
        return out

    def deriv(self, ev, node, var, index):
        a = ev(node)  # a node with derivatives inside (a Hessian-vector product) is differentiated once more here
        syms = ev(var).reshape(-1)
        if index is None:
            grad = np.array([self.total_diff(a[0, 0], s) for s in syms], dtype=object)
            return grad.reshape(ev(var).shape)
        s = syms[index]
        return np.vectorize(lambda e: self.total_diff(e, s), otypes=[object])(a)

    def _rational(self, e: sp.Expr) -> sp.Expr:
        """``e`` with each w that has fractional powers w^(p/q) written u^L (L the lcm of the q, u > 0): a rational
        function of the input and opaque symbols, for ``cancel``."""
        lcm: dict[sp.Symbol, int] = {}
        for p in e.atoms(sp.Pow):
            if p.base in self.opaque and p.exp.is_Rational and p.exp.q != 1:
                lcm[p.base] = int(sp.ilcm(lcm.get(p.base, 1), p.exp.q))
        return e.xreplace({w: sp.Symbol(f"{w.name}_{q}", positive=True) ** q for w, q in lcm.items()}) if lcm else e

    def is_zero(self, e: sp.Expr, rng: random.Random, points: list[dict] | None = None) -> bool | None:
        """True: proved zero (``cancel``). False: nonzero at a point of the inputs (``points``, else drawn), every w
        at exp(m) there, by ``interval`` (``witness`` is that point). None: undecided."""
        e = sp.sympify(e)
        self.witness = None
        if e == 0:
            return True
        r = self._rational(e)
        guess = {s: _draw(rng, bool(s.is_positive)) for s in sorted(r.free_symbols, key=str)}  # w's independent
        value = r.xreplace(guess)
        if not (value.is_Rational and value != 0) and sp.cancel(sp.together(r)) == 0:
            return True  # (a nonzero rational value at an independent point: no identity of rational functions)
        for point in points or [self.point(rng, e, *self.domain)]:
            if nonzero(self.interval(e, point)):
                self.witness = point
                return False
        return None

    def point(self, rng: random.Random, *exprs: sp.Expr) -> dict[sp.Symbol, sp.Rational]:
        """A random rational point of the inputs (``symbols``'s and those ``exprs`` depend on): p/q, 1 ≤ p ≤ 24,
        1 ≤ q ≤ 8, positive for a positive symbol, else of random sign."""
        syms = set(self.inputs).union(*(self.explicit(e).free_symbols for e in exprs))
        return {s: _draw(rng, bool(s.is_positive)) for s in sorted(syms, key=str)}

    def interval(self, e: sp.Expr, point: dict, memo: dict | None = None):
        """``e`` at an input point as a ``DIGITS``-digit interval, w = exp(m) and ℓ = log(r) at their arguments' values;
        None where it has no real value, or the claim has none (a ``domain`` entry that may be ≤ 0)."""
        prec = mpmath.iv.prec
        mpmath.iv.dps = self.DIGITS
        if memo is None:  # one memo per point: the entries of a size share their subexpressions
            if self._memo[0] is not point:
                self._memo = (point, {})
            memo = self._memo[1]
        try:
            for g in list(self.domain)[memo.get(_DOMAIN, 0):]:
                _positive(self._iv(g, point, memo))
                memo[_DOMAIN] = memo.get(_DOMAIN, 0) + 1
            return self._iv(sp.sympify(e), point, memo)
        except (ArithmeticError, ValueError, TypeError):  # no real value: a log or root of a number ≤ 0, a pole
            return None
        finally:
            mpmath.iv.prec = prec

    def _iv(self, e: sp.Expr, point: dict, memo: dict):
        hit = memo.get(e)
        if hit is not None:
            return hit
        iv = mpmath.iv
        if e in point:
            out = iv.mpf(point[e].p) / point[e].q
        elif e in self.opaque:
            kind, g = self.opaque[e]
            out = iv.exp(self._iv(g, point, memo)) if kind == "exp" else iv.log(_positive(self._iv(g, point, memo)))
        elif e.is_Rational:
            out = iv.mpf(e.p) / e.q
        elif e is sp.E or e is sp.pi:
            out = iv.e if e is sp.E else iv.pi
        elif e.is_Float:
            out = iv.mpf(mpmath.mpf(e))
        elif e.is_Add or e.is_Mul:
            vals = [self._iv(a, point, memo) for a in e.args]
            out = vals[0]
            for x in vals[1:]:
                out = out + x if e.is_Add else out * x
        elif e.is_Pow:
            b = self._iv(e.base, point, memo)
            out = b ** int(e.exp) if e.exp.is_Integer else iv.exp(iv.log(_positive(b)) * self._iv(e.exp, point, memo))
        elif isinstance(e, sp.exp):
            out = iv.exp(self._iv(e.args[0], point, memo))
        elif isinstance(e, sp.log):
            out = iv.log(_positive(self._iv(e.args[0], point, memo)))
        elif isinstance(e, sp.Abs):
            out = abs(self._iv(e.args[0], point, memo))
        else:
            raise ValueError(f"no interval value for {e.func}")
        memo[e] = out
        return out

    def symbols(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        kind = {"positive": True} if name in self.positive else {"real": True}
        made = [sp.Symbol(f"{name}[{i},{j}]", **kind) for i in range(shape[0]) for j in range(shape[1])]
        self.inputs += made
        return np.array(made, dtype=object).reshape(shape)

    def explicit(self, e: sp.Expr) -> sp.Expr:
        """``e`` with every opaque symbol written out (exp(m), log(r)), recursively."""
        back: dict[sp.Symbol, sp.Expr] = {}
        for w in sorted(self.opaque, key=lambda s: int(s.name[1:])):  # an argument uses only older symbols
            kind, g = self.opaque[w]
            back[w] = (sp.exp if kind == "exp" else sp.log)(g.xreplace(back))
        return sp.sympify(e).xreplace(back)


_DOMAIN = object()  # a memo's key: how many ``domain`` entries are known > 0 at its point


def _draw(rng: random.Random, positive: bool) -> sp.Rational:
    return sp.Rational(rng.randint(1, 24), rng.randint(1, 8)) * (1 if positive or rng.random() < 0.5 else -1)


def _positive(x):
    if not x.a > 0:
        raise ValueError("a log or a root of a number that may be ≤ 0")
    return x


def nonzero(x) -> bool:
    """Whether an interval (``ExactField.interval``) excludes 0 and knows its value to 10 digits or better."""
    if x is None:
        return False  # no value
    lo, hi = (mpmath.mp.make_mpf(v) for v in x._mpi_)
    return bool((lo > 0 or hi < 0) and hi - lo < 1e-10 * min(abs(lo), abs(hi)))


# numeric -------------------------------------------------------------------------------------
def nested(node: ex.Node, memo: dict[int, tuple[ex.Node, int]]) -> int:
    """How many derivatives (Deriv, Grad) are nested along the deepest path of ``node`` (memoised by node id)."""
    hit = memo.get(id(node))
    if hit is None:
        depth = max((nested(c, memo) for c in node.children), default=0) + isinstance(node, (ex.Deriv, ex.Grad))
        hit = memo[id(node)] = (node, depth)
    return hit[1]


def _central(ev: Evaluator, node: ex.Node, var: ex.Matrix, flat: int, h: Any) -> np.ndarray:
    base = ev.values[var.name]
    plus, minus = base.copy(), base.copy()
    plus.reshape(-1)[flat] = plus.reshape(-1)[flat] + h
    minus.reshape(-1)[flat] = minus.reshape(-1)[flat] - h
    fp = ev.with_values({**ev.values, var.name: plus})(node)
    fm = ev.with_values({**ev.values, var.name: minus})(node)
    return (fp - fm) / (2 * h)


class MpmathField(Field):
    """mpmath numbers at ``dps`` digits; derivatives by central differences with h = 10^(−s), s = ⌊dps/2.5⌋. One with
    k derivatives nested in it works at dps + s·k digits, so its rounding error stays 10^(s−dps) relative at any depth
    (each level divides by h; truncation ~h²): ``fd_error``, that estimate, is the tolerance's addend."""

    def __init__(self, dps: int = 50):
        self.dps = dps
        self.name = f"mpmath-{dps}"
        self.fd_error, self.nesting, self._depth = 0.0, 0, {}  # nesting: the deepest nested derivative seen
        self._exp = np.frompyfunc(mpmath.mp.exp, 1, 1)
        self._log = np.frompyfunc(mpmath.mp.log, 1, 1)

    def _digits(self) -> int:
        return max(self.dps, mpmath.mp.dps)  # inside a nested derivative the precision is raised, never lowered

    def scalar(self, k):
        return mpmath.mpf(sp.N(k, self._digits() + 10)) if not sp.sympify(k).is_Integer else mpmath.mpf(int(k))

    def exp(self, a):
        with mpmath.workdps(self._digits()):
            return self._exp(a).astype(object)

    def log(self, a):
        if any(x <= 0 for x in np.asarray(a).reshape(-1)):
            raise ValueError(NOT_REAL.format(what="a log of a number ≤ 0"))
        with mpmath.workdps(self._digits()):
            return self._log(a).astype(object)

    def power(self, a, k):
        if not sp.sympify(k).is_Integer and any(x < 0 for x in np.asarray(a).reshape(-1)):
            raise ValueError(NOT_REAL.format(what=f"a power {k} of a negative number"))
        return super().power(a, k)

    def step(self) -> Any:
        return mpmath.mpf(10) ** (-int(self.dps / 2.5))

    def deriv(self, ev, node, var, index):
        k, s = nested(node, self._depth), int(self.dps / 2.5)
        dps = max(mpmath.mp.dps, self.dps + s * k)
        self.fd_error = max(self.fd_error, 10.0 ** (s * (k + 1) - dps) + 10.0 ** (-2 * s))
        self.nesting = max(self.nesting, k)
        with mpmath.workdps(dps):
            h = self.step()
            if index is not None:
                return _central(ev, node, var, index, h)
            shape = ev(var).shape
            vals = [_central(ev, node, var, i, h)[0, 0] for i in range(shape[0] * shape[1])]
            return np.array(vals, dtype=object).reshape(shape)

    def array(self, a: np.ndarray) -> np.ndarray:
        return np.frompyfunc(mpmath.mpf, 1, 1)(np.asarray(a, dtype=np.float64)).astype(object)


class FloatField(Field):
    """float64 (or float32) arrays; gradients by Richardson-extrapolated central differences; ``fd_error``: the largest
    error estimate. A gradient of a node with gradients inside propagates theirs: a value of the node is off by
    Σ_k |node(G, entry k moved by its estimate) − node(G)|, which ``fd_gradient`` amplifies like a rounding error."""

    def __init__(self, dtype: Any = np.float64):
        self.dtype = np.dtype(dtype)
        self.name = self.dtype.name
        self.fd_error, self._depth = 0.0, {}
        self._fixed: dict[tuple[int, str], np.ndarray] = {}  # inner gradients held at given values
        self._record: list | None = None  # where the gradients of one evaluation report themselves

    def scalar(self, k):
        return self.dtype.type(float(sp.N(k)))

    def exp(self, a):
        return np.exp(a)

    def log(self, a):
        return np.log(a)

    def deriv(self, ev, node, var, index):
        from attngrad.numeric.fdcheck import fd_gradient

        if index is not None:
            raise NotImplementedError("float tier evaluates gradients of scalars only")
        key = (id(node), var.name)
        if key in self._fixed:
            return self._fixed[key]
        record, self._record = self._record, None
        x0 = ev.values[var.name]

        def fn(x: np.ndarray) -> float:
            return float(ev.with_values({**ev.values, var.name: x.astype(self.dtype)})(node)[0, 0])

        try:
            inner = self._inner_error(ev, node) if nested(node, self._depth) else 0.0
            grad, err = fd_gradient(fn, x0.astype(np.float64), fn_error=inner)
        finally:
            self._record = record
        self.fd_error = max(self.fd_error, float(np.max(err)))
        if record is not None:
            record.append((key, grad.astype(self.dtype), err))
        return grad.astype(self.dtype)

    def _inner_error(self, ev, node) -> float:
        """The error of one value of ``node`` due to the gradients inside it (0 when it has none)."""
        found: list = []
        self._record = found
        value = lambda: float(ev.with_values(dict(ev.values))(node)[0, 0])  # noqa: E731
        base, self._record, saved, total = value(), None, dict(self._fixed), 0.0
        self._fixed.update({key: g for key, g, _ in found})
        try:
            for key, g, err in found:
                for i in np.ndindex(g.shape):
                    self._fixed[key] = g.copy()
                    self._fixed[key][i] += err[i]
                    total += abs(value() - base)
                self._fixed[key] = g
        finally:
            self._fixed = saved
        return total


def evaluate(node: ex.Node, field: Field, values: dict[str, np.ndarray], sizes: dict) -> np.ndarray:
    """Value of ``node`` as a 2-D array in ``field``."""
    return Evaluator(field, values, sizes)(node)

