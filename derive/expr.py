"""A small matrix-expression language: the nodes a chain and a claim are written in.

Every node is a matrix with a symbolic shape (rows, cols) in the size symbols ``n`` and ``d``
(vectors are columns, scalars are 1×1). Evaluators (``derive.evaluate``) give each node a meaning —
exact SymPy entries, mpmath or float64 arrays — and the relation finder (``derive.relations``)
rewrites trees node by node. Nodes are immutable; ``with_children`` rebuilds one with new operands.
"""

from __future__ import annotations

from typing import Callable, Iterator, Union

import sympy as sp

from attngrad.errors import InputError


def size(name: str) -> sp.Symbol:
    """A size symbol (positive integer): ``n`` and ``d`` by default; a model may add its own (``N``, ``D``)."""
    return sp.Symbol(name, positive=True, integer=True)


n, d = size("n"), size("d")

Scalar = Union[int, float, sp.Expr]
Dim = sp.Expr


def _dim(x: Scalar) -> Dim:
    return sp.sympify(x)


def _same(a: Dim, b: Dim) -> bool:
    return sp.simplify(a - b) == 0


def _broadcast(op: str, a: "Node", b: "Node") -> tuple[Dim, Dim]:
    out = []
    for x, y in zip(a.shape, b.shape):
        if _same(x, y) or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not match.")
    return out[0], out[1]


def position(x) -> "int | sp.Symbol":
    """A concrete index (an int), or a symbolic one (a SymPy symbol: a claim's index built for all sizes by the
    index tier, which never evaluates it)."""
    if isinstance(x, sp.Symbol):
        return x
    return int(x)


def as_node(x: "Node | Scalar") -> "Node":
    """A scalar becomes a 1×1 constant that broadcasts."""
    return x if isinstance(x, Node) else Fill(x, 1, 1)


class Node:
    """Base class. Subclasses set ``children`` (operand nodes) and ``shape``."""

    children: tuple["Node", ...] = ()
    shape: tuple[Dim, Dim]

    def with_children(self, children: tuple["Node", ...]) -> "Node":
        raise NotImplementedError

    def walk(self) -> Iterator["Node"]:
        """Pre-order traversal (shared subtrees visited once per occurrence)."""
        yield self
        for c in self.children:
            yield from c.walk()

    # operators -----------------------------------------------------------------------------
    def __matmul__(self, other: "Node") -> "Node":
        return MatMul(self, other)

    def __add__(self, other: "Node | Scalar") -> "Node":
        return Add(self, as_node(other))

    def __radd__(self, other: Scalar) -> "Node":
        return Add(as_node(other), self)

    def __sub__(self, other: "Node | Scalar") -> "Node":
        return Add(self, Scale(-1, as_node(other)))

    def __rsub__(self, other: Scalar) -> "Node":
        return Add(as_node(other), Scale(-1, self))

    def __neg__(self) -> "Node":
        return Scale(-1, self)

    def __mul__(self, other: "Node | Scalar") -> "Node":
        return Hadamard(self, other) if isinstance(other, Node) else Scale(other, self)

    def __rmul__(self, other: Scalar) -> "Node":
        return Scale(other, self)

    def __truediv__(self, other: "Node | Scalar") -> "Node":
        if isinstance(other, Node):
            return Hadamard(self, Pow(other, -1))
        if sp.sympify(other) == 1:
            return self
        return Scale(1 / sp.sympify(other), self)

    def __pow__(self, k: Scalar) -> "Node":
        return Pow(self, k)

    def __abs__(self) -> "Node":
        raise InputError(not_smooth("abs", "at 0"))

    @property
    def T(self) -> "Node":
        return Transpose(self)

    def __repr__(self) -> str:
        from .printing import show

        return show(self)


# leaves ---------------------------------------------------------------------------------------
class Matrix(Node):
    """An input matrix with one value per entry (data or a variable)."""

    def __init__(self, name: str, rows: Scalar, cols: Scalar):
        self.name, self.shape = name, (_dim(rows), _dim(cols))

    def with_children(self, children):
        return self


class Fill(Node):
    """A constant matrix with every entry equal to ``value`` (``Fill(1, n, 1)`` is 1_n)."""

    def __init__(self, value: Scalar, rows: Scalar, cols: Scalar):
        self.value, self.shape = sp.sympify(value), (_dim(rows), _dim(cols))

    def with_children(self, children):
        return self


class Identity(Node):
    def __init__(self, size: Scalar):
        self.shape = (_dim(size), _dim(size))

    def with_children(self, children):
        return self


class Basis(Node):
    """The unit column vector e_i of length ``size`` (0-based i)."""

    def __init__(self, index: int, size: Scalar):
        self.index, self.shape = position(index), (_dim(size), sp.Integer(1))

    def with_children(self, children):
        return self


class Tril(Node):
    """The lower-triangular all-ones mask of size ``size`` (1 where column ≤ row): causal attention."""

    def __init__(self, size: Scalar):
        self.shape = (_dim(size), _dim(size))

    def with_children(self, children):
        return self


# structure ------------------------------------------------------------------------------------
class Named(Node):
    """A named definition of a chain; transparent for evaluation, shown by its name."""

    def __init__(self, name: str, expr: Node, doc: str = ""):
        self.name, self.expr, self.doc = name, expr, doc
        self.children, self.shape = (expr,), expr.shape

    def with_children(self, children):
        return Named(self.name, children[0], self.doc)


class Unary(Node):
    def __init__(self, a: Node):
        self.a = a
        self.children = (a,)
        self.shape = self._shape(a)

    def _shape(self, a: Node) -> tuple[Dim, Dim]:
        return a.shape

    def with_children(self, children):
        return type(self)(children[0])


class Transpose(Unary):
    def _shape(self, a):
        return a.shape[1], a.shape[0]


class Exp(Unary):
    """Entrywise exp."""


class Log(Unary):
    """Entrywise natural log."""


class RowSum(Unary):
    """``a 1``: the column of row sums."""

    def _shape(self, a):
        return a.shape[0], sp.Integer(1)


class ColSum(Unary):
    """``1ᵀ a``: the row of column sums."""

    def _shape(self, a):
        return sp.Integer(1), a.shape[1]


class Total(Unary):
    """Sum of all entries (1×1)."""

    def _shape(self, a):
        return sp.Integer(1), sp.Integer(1)


class Diag(Unary):
    """``diag(v)`` of a column vector v."""

    def _shape(self, a):
        if a.shape[1] != 1:
            raise ValueError(f"diag needs a column vector, got shape {a.shape}.")
        return a.shape[0], a.shape[0]


class Pow(Node):
    """Entrywise power ``a**k`` (k = -1 is the entrywise reciprocal)."""

    def __init__(self, a: Node, k: Scalar):
        self.a, self.k = a, sp.sympify(k)
        self.children, self.shape = (a,), a.shape

    def with_children(self, children):
        return Pow(children[0], self.k)


class Scale(Node):
    """Scalar times matrix; the scalar may involve the sizes (``1/d``)."""

    def __init__(self, k: Scalar, a: Node):
        self.k, self.a = sp.sympify(k), a
        self.children, self.shape = (a,), a.shape

    def with_children(self, children):
        return Scale(self.k, children[0])


class Vec(Node):
    """Stack the entries of ``a`` into a column: ``order='row'`` (row-major) or ``'col'``."""

    def __init__(self, a: Node, order: str = "row"):
        if order not in ("row", "col"):
            raise ValueError("vec order must be 'row' or 'col'.")
        self.a, self.order = a, order
        self.children, self.shape = (a,), (a.shape[0] * a.shape[1], sp.Integer(1))

    def with_children(self, children):
        return Vec(children[0], self.order)


class Row(Node):
    """Row ``j`` of ``a`` as a column vector (the paper's ``f(x)_{j0}``)."""

    def __init__(self, a: Node, j: int):
        self.a, self.j = a, position(j)
        self.children, self.shape = (a,), (a.shape[1], sp.Integer(1))

    def with_children(self, children):
        return Row(children[0], self.j)


class Col(Node):
    """Column ``i`` of ``a`` (the paper's ``A_{j0,i}``, ``h(y)_{i0}``)."""

    def __init__(self, a: Node, i: int):
        self.a, self.i = a, position(i)
        self.children, self.shape = (a,), (a.shape[0], sp.Integer(1))

    def with_children(self, children):
        return Col(children[0], self.i)


class Entry(Node):
    def __init__(self, a: Node, i: int, j: int):
        self.a, self.i, self.j = a, position(i), position(j)
        self.children, self.shape = (a,), (sp.Integer(1), sp.Integer(1))

    def with_children(self, children):
        return Entry(children[0], self.i, self.j)


class Binary(Node):
    def __init__(self, a: Node, b: Node):
        self.a, self.b = a, b
        self.children = (a, b)
        self.shape = self._shape(a, b)

    def with_children(self, children):
        return type(self)(children[0], children[1])


class MatMul(Binary):
    def _shape(self, a, b):
        if not _same(a.shape[1], b.shape[0]):
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not match.")
        return a.shape[0], b.shape[1]


class Add(Binary):
    def _shape(self, a, b):
        return _broadcast("add", a, b)


class Hadamard(Binary):
    """Entrywise product ``a ∘ b`` (a column or row broadcasts, like NumPy)."""

    def _shape(self, a, b):
        return _broadcast("hadamard", a, b)


class Kron(Binary):
    """Kronecker product ``a ⊗ b``: entry ((i0, i1), (j0, j1)) = a[i0, j0] b[i1, j1]."""

    def _shape(self, a, b):
        return a.shape[0] * b.shape[0], a.shape[1] * b.shape[1]


class FaceSplit(Binary):
    """Row-wise Kronecker (face-splitting) product ``a ⊘ b`` of ``a`` (n×k₁) and ``b`` (n×k₂):
    entry (i, l₁ + k₁·l₂) = a[i, l₁]·b[i, l₂] (0-based), so (U₁V₁ᵀ)∘(U₂V₂ᵀ) = (U₁⊘U₂)(V₁⊘V₂)ᵀ (docs/mathematics.md, notation)."""

    def _shape(self, a, b):
        if not _same(a.shape[0], b.shape[0]):
            raise ValueError(f"face-splitting: shapes {a.shape} and {b.shape} have different row counts.")
        return a.shape[0], a.shape[1] * b.shape[1]


# calculus -------------------------------------------------------------------------------------
class Deriv(Node):
    """``∂a/∂v_i`` with v = vec(var) row-major, ``var`` an input matrix (Lemma B.1's d/dx_i)."""

    def __init__(self, a: Node, var: Matrix, index: int):
        self.a, self.var, self.index = a, var, position(index)
        self.children, self.shape = (a,), a.shape

    def with_children(self, children):
        return Deriv(children[0], self.var, self.index)


class Grad(Node):
    """The gradient of a scalar (1×1) ``a`` with respect to the input matrix ``var``."""

    def __init__(self, a: Node, var: Matrix):
        if a.shape != (1, 1):
            raise ValueError(f"grad needs a scalar, got shape {a.shape}.")
        self.a, self.var = a, var
        self.children, self.shape = (a,), var.shape

    def with_children(self, children):
        return Grad(children[0], self.var)


class SumOver(Node):
    """Σ_{index < size} body: a sum over a symbolic index that the body's rows, columns, entries or basis vectors use
    (the paper's Σ_{j0}); ``sum_over`` builds one from a function of the index."""

    def __init__(self, index: sp.Symbol, size: Scalar, body: Node):
        if not isinstance(index, sp.Symbol):
            raise ValueError("a sum's index must be a SymPy symbol (sum_over makes one).")
        self.index, self.size, self.body = index, _dim(size), body
        self.children, self.shape = (body,), body.shape

    def with_children(self, children):
        return SumOver(self.index, self.size, children[0])


def sum_over(name: str, size: Scalar, term: Callable[[sp.Symbol], Node]) -> Node:
    """Σ_{name < size} term(name): ``term`` receives the index as a symbol (``Row(f, j0)``, ``Entry(E, j0, i0)``)."""
    return SumOver(index_symbol(name), size, term(index_symbol(name)))


def index_symbol(name: str) -> sp.Symbol:
    """A claim's index as a symbol: a nonnegative integer."""
    return sp.Symbol(name, integer=True, nonnegative=True)


def with_positions(node: Node, at: dict, memo: dict | None = None) -> Node:
    """``node`` with each symbolic index replaced by its value in ``at`` (symbol → int): what the evaluators
    compute for one term of a ``SumOver`` or one row of a claim built with symbolic indices."""
    if not at:
        return node
    memo = {} if memo is None else memo
    hit = memo.get(id(node))
    if hit is not None:
        return hit[1]
    kids = tuple(with_positions(c, at, memo) for c in node.children)
    if isinstance(node, Row):
        out: Node = Row(kids[0], at.get(node.j, node.j))
    elif isinstance(node, Col):
        out = Col(kids[0], at.get(node.i, node.i))
    elif isinstance(node, Entry):
        out = Entry(kids[0], at.get(node.i, node.i), at.get(node.j, node.j))
    elif isinstance(node, Basis):
        out = Basis(at.get(node.index, node.index), node.shape[0])
    elif isinstance(node, Deriv):
        out = Deriv(kids[0], node.var, at.get(node.index, node.index))
    elif isinstance(node, Named):
        out = node if kids[0] is node.expr else Named(node.name, kids[0], node.doc)
    else:
        out = node.with_children(kids) if kids and any(k is not c for k, c in zip(kids, node.children)) else node
    memo[id(node)] = (node, out)
    return out


# conveniences used in chains and claims ---------------------------------------------------------
def exp(a: Node) -> Node:
    return Exp(a)


def log(a: Node) -> Node:
    return Log(a)


def ones(size: Scalar) -> Node:
    return Fill(1, size, 1)


def inner(a: Node, b: Node) -> Node:
    """⟨a, b⟩ = aᵀb for columns of equal length."""
    return MatMul(Transpose(a), b)


def half_sq_norm(a: Node) -> Node:
    """½‖a‖_F²."""
    return Scale(sp.Rational(1, 2), Total(Hadamard(a, a)))


def softmax_rows(s: Node) -> Node:
    """Row-wise softmax D⁻¹exp(s), D = diag(exp(s)1)."""
    u = Exp(s)
    return MatMul(Diag(Pow(RowSum(u), -1)), u)


def trace(a: Node) -> Node:
    """tr(a) = Σ_i a_ii of a square matrix (1×1): Σ(a ∘ I)."""
    if not _same(a.shape[0], a.shape[1]):
        raise ValueError(f"trace needs a square matrix, got shape {a.shape}.")
    return Total(Hadamard(a, Identity(a.shape[0])))


def softmax(v: Node) -> Node:
    """The softmax exp(v)/Σexp(v) of a column vector v (for the rows of a matrix, ``softmax_rows``)."""
    if v.shape[1] != 1:
        raise ValueError(f"softmax takes a column vector, got shape {v.shape}; for the softmax of each row of a "
                         f"matrix write softmax_rows(s), for a row vector r write softmax(r.T).")
    u = Exp(v)
    return Hadamard(u, Pow(Total(u), -1))


def not_smooth(name: str, where: str) -> str:
    """The sentence that refuses a non-smooth function."""
    return (f"{name} is not smooth {where}; attngrad's tiers differentiate and compare at random points, so "
            f"non-smooth functions are not in the language (write the claim on the smooth pieces).")


def relu(a: Node) -> Node:
    """Refused: relu is not smooth at 0 (InputError)."""
    raise InputError(not_smooth("relu", "at 0"))


def maximum(a: Node, b: Node) -> Node:
    """Refused: max(a, b) is not smooth where a = b (InputError)."""
    raise InputError(not_smooth("maximum", "where its arguments are equal"))


def method_for(owner: object, prefix: str, node: object) -> Callable | None:
    """``owner``'s method ``<prefix><C>`` for the first class C along ``type(node).__mro__`` that has one, or None:
    the one dispatch of every printer and evaluator (SymPy's ``Printer._print``), so a method for a base class
    serves every subclass without one of its own."""
    for cls in type(node).__mro__:
        method = getattr(owner, prefix + cls.__name__, None)
        if method is not None:
            return method
    return None


def bare(node: Node) -> Node:
    """The node under any named definitions (``Named`` wrappers removed)."""
    while isinstance(node, Named):
        node = node.expr
    return node


def balanced_sum(terms) -> Node:
    """Σ terms as a balanced tree (depth log₂ of the count), so long sums stay shallow for the evaluators."""
    terms = list(terms)
    while len(terms) > 1:
        terms = [terms[k] + terms[k + 1] if k + 1 < len(terms) else terms[k] for k in range(0, len(terms), 2)]
    return terms[0]


def leaves(node: Node) -> dict[str, Matrix]:
    """The input matrices a tree depends on, by name (including a Deriv/Grad variable)."""
    out: dict[str, Matrix] = {}
    for x in node.walk():
        if isinstance(x, Matrix):
            out[x.name] = x
        if isinstance(x, (Deriv, Grad)):
            out[x.var.name] = x.var
        if isinstance(x, Kernel):
            out.update((m.name, m) for m in x.inputs)
    return out


class Kernel(Node):
    """The output of a numeric kernel ``fn(*input arrays)`` in a given dtype.

    Lets a claim compare a NumPy/Numba kernel with the chain's closed form: it has no symbolic
    value (the exact tier skips it) and is compared with a tolerance of its dtype.
    """

    def __init__(self, label: str, fn: Callable, inputs: tuple[Matrix, ...], rows: Scalar,
                 cols: Scalar, dtype: str = "float64"):
        self.label, self.fn, self.inputs, self.dtype = label, fn, tuple(inputs), dtype
        self.shape = (_dim(rows), _dim(cols))

    def with_children(self, children):
        return self
