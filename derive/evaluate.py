"""Give expression trees a value: exact SymPy entries, 50-digit mpmath, or float64.

One evaluator (a ``_eval_<Node>`` per node type) works on NumPy 2-D arrays; a *field* says what an
entry is and how exp, log, powers and derivatives are done:

- ``ExactField``: SymPy expressions with one symbol per input entry. Each ``exp(g)`` (``log(g)``)
  becomes a fresh positive symbol ``w`` with ``dw = w·dg`` (``dℓ = dg/g``), so every value is a
  rational function and an identity is decided by ``cancel`` (docs/design.md, the exact tier).
- ``MpmathField``: mpmath numbers at ``dps`` digits; derivatives by central differences with a
  step of 10^(−dps/2.5) (truncation ~h², rounding ~10^(−dps)/h — both far below the tolerance).
- ``FloatField``: float64 / float32 arrays; gradients by Richardson-extrapolated central differences
  from ``numeric.fdcheck`` with their error estimate.
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

    def _eval_Grad(self, node):
        return self.field.deriv(self, node.a, node.var, None)


# exact ---------------------------------------------------------------------------------------
class ExactField(Field):
    """SymPy entries; exp/log of an entry become positive symbols with a recorded argument."""

    name = "exact"

    def __init__(self) -> None:
        self.opaque: dict[sp.Symbol, tuple[str, sp.Expr]] = {}
        self._by_arg: dict[tuple[str, sp.Expr], sp.Symbol] = {}
        self._dmemo: dict[tuple[sp.Expr, sp.Symbol], sp.Expr] = {}

    def scalar(self, k):
        return sp.nsimplify(k) if isinstance(k, sp.Float) else sp.sympify(k)

    def _opaque(self, kind: str, g: sp.Expr) -> sp.Expr:
        g = sp.expand(g)
        if g.is_number:
            return sp.exp(g) if kind == "exp" else sp.log(g)
        key = (kind, g)
        if key not in self._by_arg:
            sym = sp.Symbol(f"{'w' if kind == 'exp' else 'l'}{len(self.opaque)}", positive=True)
            self._by_arg[key] = sym
            self.opaque[sym] = key
        return self._by_arg[key]

    def exp(self, a):
        return np.vectorize(lambda g: self._opaque("exp", g), otypes=[object])(a)

    def log(self, a):
        return np.vectorize(lambda g: self._opaque("log", g), otypes=[object])(a)

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
        a = ev(node)
        syms = ev(var).reshape(-1)
        if index is None:
            grad = np.array([self.total_diff(a[0, 0], s) for s in syms], dtype=object)
            return grad.reshape(ev(var).shape)
        s = syms[index]
        return np.vectorize(lambda e: self.total_diff(e, s), otypes=[object])(a)

    def is_zero(self, e: sp.Expr, rng: random.Random) -> bool | None:
        """True: proved zero (cancel). False: nonzero at an exact random point. None: undecided."""
        e = sp.sympify(e)
        if e == 0:
            return True
        syms = sorted(e.free_symbols, key=str)
        point = {s: sp.Rational(rng.randint(1, 97), rng.randint(1, 13)) * (1 if s in self.opaque or rng.random() < 0.5 else -1) for s in syms}
        value = e.xreplace(point)
        if value.is_finite and value != 0:  # a pole at the point decides nothing: fall through to cancel
            return False
        return sp.cancel(sp.together(e)) == 0

    def symbols(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        out = np.empty(shape, dtype=object)
        for i in range(shape[0]):
            for j in range(shape[1]):
                out[i, j] = sp.Symbol(f"{name}[{i},{j}]", real=True)
        return out


# numeric -------------------------------------------------------------------------------------
def _central(ev: Evaluator, node: ex.Node, var: ex.Matrix, flat: int, h: Any) -> np.ndarray:
    base = ev.values[var.name]
    plus, minus = base.copy(), base.copy()
    plus.reshape(-1)[flat] = plus.reshape(-1)[flat] + h
    minus.reshape(-1)[flat] = minus.reshape(-1)[flat] - h
    fp = ev.with_values({**ev.values, var.name: plus})(node)
    fm = ev.with_values({**ev.values, var.name: minus})(node)
    return (fp - fm) / (2 * h)


class MpmathField(Field):
    """mpmath numbers at ``dps`` digits; derivatives by central differences."""

    def __init__(self, dps: int = 50):
        self.dps = dps
        self.name = f"mpmath-{dps}"
        self._exp = np.frompyfunc(mpmath.mp.exp, 1, 1)
        self._log = np.frompyfunc(mpmath.mp.log, 1, 1)

    def scalar(self, k):
        return mpmath.mpf(sp.N(k, self.dps + 10)) if not sp.sympify(k).is_Integer else mpmath.mpf(int(k))

    def exp(self, a):
        with mpmath.workdps(self.dps):
            return self._exp(a).astype(object)

    def log(self, a):
        if any(x <= 0 for x in np.asarray(a).reshape(-1)):
            raise ValueError(NOT_REAL.format(what="a log of a number ≤ 0"))
        with mpmath.workdps(self.dps):
            return self._log(a).astype(object)

    def power(self, a, k):
        if not sp.sympify(k).is_Integer and any(x < 0 for x in np.asarray(a).reshape(-1)):
            raise ValueError(NOT_REAL.format(what=f"a power {k} of a negative number"))
        return super().power(a, k)

    def step(self) -> Any:
        return mpmath.mpf(10) ** (-int(self.dps / 2.5))

    def deriv(self, ev, node, var, index):
        with mpmath.workdps(self.dps):
            h = self.step()
            if index is not None:
                return _central(ev, node, var, index, h)
            shape = ev(var).shape
            vals = [_central(ev, node, var, k, h)[0, 0] for k in range(shape[0] * shape[1])]
            return np.array(vals, dtype=object).reshape(shape)

    def array(self, a: np.ndarray) -> np.ndarray:
        return np.frompyfunc(mpmath.mpf, 1, 1)(np.asarray(a, dtype=np.float64)).astype(object)


class FloatField(Field):
    """float64 (or float32) arrays; gradients by Richardson-extrapolated central differences."""

    def __init__(self, dtype: Any = np.float64):
        self.dtype = np.dtype(dtype)
        self.name = self.dtype.name
        self.fd_error = 0.0

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
        x0 = ev.values[var.name]

        def fn(x: np.ndarray) -> float:
            return float(ev.with_values({**ev.values, var.name: x.astype(self.dtype)})(node)[0, 0])

        grad, err = fd_gradient(fn, x0.astype(np.float64))
        self.fd_error = max(self.fd_error, float(np.max(err)))
        return grad.astype(self.dtype)


def evaluate(node: ex.Node, field: Field, values: dict[str, np.ndarray], sizes: dict) -> np.ndarray:
    """Value of ``node`` as a 2-D array in ``field``."""
    return Evaluator(field, values, sizes)(node)

