"""Scheduling: the phase each node of a chain is computed in, and the order within each phase (docs/design.md).

- **global**: depends on inputs only and is not n×n (``A₁X``, ``h = A₃Y``); computed once, before the
  row loop, as an array.
- **row**: has n rows and is n×n or depends on another row node (``S``, ``f``, ``c``, ``q``, ``p``); computed
  for a block of rows at a time, so no n×n array is ever formed.
- **reduce**: a sum over rows of row nodes: ``Xᵀ Y = Σ_j x_jᵀ y_j`` (a product chain is re-associated so
  that both factors stream by rows), ``Σ`` of all entries, column sums.
- **post**: small operations on reductions after the loop (the scale of ``∇X``, sums).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .. import expr as ex
from ..model import Model
from ..printing import show
from .printer import CodegenError, Printer


def is_n(x: sp.Expr) -> bool:
    """The size is the streamed one, n."""
    return x == ex.n


@dataclass
class Schedule:
    """Which phase each node is computed in, and the order within each phase."""

    kinds: dict[int, str] = field(default_factory=dict)
    glob: list[ex.Node] = field(default_factory=list)
    rows: list[ex.Node] = field(default_factory=list)
    reduces: list[tuple[ex.Node, tuple]] = field(default_factory=list)  # (node, the operands it sums)
    post: list[ex.Node] = field(default_factory=list)
    users: dict[int, list[ex.Node]] = field(default_factory=dict)
    keep: list[ex.Node] = field(default_factory=list)  # classified and rewritten nodes, kept alive (ids stay unique)


class Scheduler(Printer):
    """Places the nodes of a model's outputs into phases; the kernel printers print what it places."""

    def __init__(self, model: Model, outputs: dict[str, str], inputs: tuple[str, ...]):
        self.model, self.outputs, self.input_names = model, outputs, inputs
        self.inputs = model.inputs()
        missing = [k for k in inputs if k not in self.inputs]
        if missing:
            raise CodegenError(f"Model {model.name} has no input named {missing[0]}.")
        self.sched = Schedule()
        self.alias: dict[int, str] = {}  # node -> the name of the definition it is the body of
        self.shift: dict[int, tuple[ex.Node, ex.Node | None]] = {}  # exp node -> (argument, mask): softmax.py
        self.inline: set[int] = set()  # entrywise row nodes printed inside their one consumer

    # phases: _kind_<Node> ---------------------------------------------------------------------------
    def kind(self, node: ex.Node) -> str:
        """The phase of ``node``: input, global, row, reduce or post."""
        key = id(node)
        if key not in self.sched.kinds:
            self.sched.kinds[key] = self.dispatch("kind", node)
            self.sched.keep.append(node)  # a temporary factor's id is never reused for another node
        return self.sched.kinds[key]

    def _kind_Matrix(self, node):
        return "input"

    def _unstreamable(self, node):
        raise CodegenError(f"The chain uses {type(node).__name__} ({show(node)}), which a kernel cannot stream by rows.")

    _kind_Grad = _kind_Deriv = _kind_Kernel = _kind_Vec = _kind_Kron = _kind_Row = _kind_Col = _kind_Entry = \
        _kind_Basis = _unstreamable

    def _kind_Fill(self, node):
        return "row" if is_n(node.shape[0]) and is_n(node.shape[1]) else "global"

    _kind_Identity = _kind_Tril = _kind_Fill

    def _kind_Named(self, node):
        return self.kind(node.expr)

    def _kind_MatMul(self, node):
        for c in node.children:
            self.kind(c)
        factors = _flatten(node)
        kids = [self.kind(f) for f in factors]
        if "row" in kids and _contracts_rows(factors[0]):  # Sᵀ R: a sum over the streamed rows
            return "reduce"
        return self._phase(node, kids)

    def _operand_kind(self, node):
        return self._phase(node, [self.kind(c) for c in node.children])

    _kind_Unary = _kind_Pow = _kind_Scale = _kind_Add = _kind_Hadamard = _operand_kind

    @staticmethod
    def _phase(node: ex.Node, kids: list[str]) -> str:
        """The phase of a node from those of its operands (or factors)."""
        if "row" in kids or is_n(node.shape[0]) and is_n(node.shape[1]):
            return "row" if is_n(node.shape[0]) else "reduce"
        if "reduce" in kids or "post" in kids:
            return "post"
        return "global"

    # the order within each phase -----------------------------------------------------------------
    def schedule(self) -> Schedule:
        """Visit the outputs' trees: every node once, operands first, into its phase's list."""
        seen: set[int] = set()

        def visit(node: ex.Node, parent: ex.Node | None) -> None:
            if parent is not None:
                self.sched.users.setdefault(id(node), []).append(parent)
            if id(node) in seen:
                return
            seen.add(id(node))
            if isinstance(node, ex.Named):
                self.alias.setdefault(id(ex.bare(node)), node.name)
            kind = self.kind(node)
            if kind == "reduce" and not isinstance(node, ex.Named):
                ops = self.dispatch("reduce", node)
                for op in ops:
                    visit(op, node)
                self.sched.reduces.append((node, ops))
                return
            for c in node.children:
                visit(c, node)
            if kind == "global" and not isinstance(node, (ex.Named, ex.Matrix, ex.Transpose)):
                self.sched.glob.append(node)
            elif kind == "row" and not isinstance(node, ex.Named):
                self.sched.rows.append(node)
            elif kind == "post" and not isinstance(node, (ex.Named, ex.Transpose)):
                self.sched.post.append(node)

        for name in self.outputs:
            visit(self.model[name], None)
        # diag(v) is formed only inside products, which scale rows or columns directly
        self.sched.rows = [r for r in self.sched.rows if not (
            isinstance(r, ex.Diag) and all(isinstance(u, ex.MatMul) for u in self.sched.users.get(id(r), [])))]
        return self.sched

    # reductions: _reduce_<Node> gives the operands a reduction streams -----------------------------------
    def _reduce_Total(self, node):
        return (node.a,)

    _reduce_ColSum = _reduce_Total

    def _reduce_MatMul(self, node):
        """Σ_j x_jᵀ y_j: the product split into (x, y) where both factors stream by rows."""
        factors = _flatten(node)
        for k in range(1, len(factors)):
            left = _product([_transpose(f) for f in reversed(factors[:k])])
            right = _product(factors[k:])
            if self.streams(left) and self.streams(right):
                self.sched.keep += [left, right]
                return left, right
        return self._reduce_Node(node)

    def _reduce_Node(self, node):
        raise CodegenError(f"The chain's {show(node)} sums over rows in a way the kernel printer cannot stream.")

    def streams(self, node: ex.Node) -> bool:
        """A product whose first factor has n rows and whose other factors are global."""
        factors = _flatten(node) if isinstance(node, ex.MatMul) else [node]
        first = factors[0]
        if not is_n(first.shape[0]) or isinstance(ex.bare(first), ex.Transpose) and self.kind(ex.bare(first).a) == "row":
            return False
        try:
            return all(self.kind(f) in ("global", "input") for f in factors[1:]) and self.kind(first) != "reduce"
        except CodegenError:
            return False

    # who reads what ----------------------------------------------------------------------------------
    def operands(self, node: ex.Node) -> tuple[ex.Node, ...]:
        """The nodes read when ``node`` is printed: its children (a kernel printer may print a product another way)."""
        return node.children

    def consumers(self, node: ex.Node) -> list[ex.Node] | None:
        """The nodes that read ``node`` (through definitions); None if a definition is an output."""
        out, stack = [], list(self.sched.users.get(id(node), []))
        while stack:
            p = stack.pop()
            if isinstance(p, ex.Named):
                if p.name in self.outputs:
                    return None
                stack.extend(self.sched.users.get(id(p), []))
            else:
                out.append(p)
        return out

    def entrywise(self, node: ex.Node) -> bool:
        """Entry (j, l) needs only entries (j, l) of the operands (and row j of a column vector)."""
        return self.dispatch("entrywise", node)

    def _entrywise_Node(self, node):
        return False

    def _entrywise_Add(self, node):
        return True

    _entrywise_Hadamard = _entrywise_Scale = _entrywise_Pow = _entrywise_Log = _entrywise_Exp = _entrywise_Add

    def _entrywise_MatMul(self, node):
        return isinstance(ex.bare(node.a), ex.Diag)  # diag(v)·M scales row j by v_j

    def implicit(self, node: ex.Node) -> bool:
        """A row node whose entries are known without a buffer (a mask or a constant)."""
        return self.dispatch("implicit", node)

    def _implicit_Node(self, node):
        return False

    def _implicit_Tril(self, node):
        return True

    _implicit_Identity = _implicit_Fill = _implicit_Tril

    def inlinable(self, node: ex.Node) -> bool:
        """An entrywise row node read once per entry by one entrywise consumer: printed inside it."""
        if not self.entrywise(node) or id(node) in self.shift:
            return False
        users = self.consumers(node)
        if users is None or len(users) != 1:
            return False
        u = users[0]
        if any(u is red for red, ops in self.sched.reduces if len(ops) == 1):  # Σ or column sums of u
            return True
        return (self.entrywise(u) or isinstance(u, ex.RowSum)) and self.kind(u) == "row"


def _flatten(node: ex.Node) -> list[ex.Node]:
    """The factors of a product chain (named definitions stay whole), transposes pushed onto factors."""
    if isinstance(node, ex.MatMul):
        return _flatten(node.a) + _flatten(node.b)
    if isinstance(node, ex.Transpose):
        if isinstance(node.a, ex.MatMul):
            return [_transpose(f) for f in reversed(_flatten(node.a))]
        if isinstance(node.a, ex.Transpose):
            return _flatten(node.a.a)
    return [node]


def _contracts_rows(first: ex.Node) -> bool:
    """The first factor of a product is the transpose of an n-row quantity: the product sums over rows."""
    s = ex.bare(first)
    return isinstance(s, ex.Transpose) and is_n(s.a.shape[0])


def _transpose(node: ex.Node) -> ex.Node:
    s = ex.bare(node)
    return s.a if isinstance(s, ex.Transpose) else ex.Transpose(node)


def _product(factors: list[ex.Node]) -> ex.Node:
    out = factors[0]
    for f in factors[1:]:
        out = ex.MatMul(out, f)
    return out
