"""Whole arrays: the globals a kernel computes before its row loop and the post nodes after it (docs/design.md).

Each is one NumPy statement on whole (small) arrays, printed by ``_global_<Node>``; ``whole`` and ``cell`` read
a global or input node as an array or entry by entry.
"""

from __future__ import annotations

import sympy as sp

from .. import expr as ex
from ..model import Model
from .printer import identifier
from .schedule import Scheduler


class ArrayPrinter(Scheduler):
    """Names the arrays of a kernel and prints its whole-array statements; the base of KernelPrinter."""

    def __init__(self, model: Model, outputs: dict[str, str], inputs: tuple[str, ...]):
        super().__init__(model, outputs, inputs)
        self.names: dict[int, str] = {}
        self._count = 0
        self.serial = False  # kernel_serial and the batch functions: no threads (matmul_serial)

    # names ------------------------------------------------------------------------------------------------
    def _name(self, node: ex.Node, hint: str = "t") -> str:
        """A fresh name for a computed array (after the definition it is the body of, if any)."""
        if id(node) not in self.names:
            alias = self.alias.get(id(node))
            if alias is not None:
                hint = identifier(alias) + "_"
            self._count += 1
            self.names[id(node)] = f"{hint}{self._count}"
        return self.names[id(node)]

    def size(self, x: sp.Expr) -> str:
        return sp.pycode(x)

    def arr(self, node: ex.Node) -> str:
        """The array name of a global or input node (Named unwrapped)."""
        return self.dispatch("array", ex.bare(node))

    def _array_Matrix(self, node):
        return node.name

    def _array_Node(self, node):
        return self._name(node, "g")

    def _index(self, node: ex.Node, row: str, col: str) -> str:
        """Entry (row, col) of a global or input array (the batch printer offsets a sample's rows)."""
        return f"{self.arr(node)}[{row}, {col}]"

    # one statement per global or post node: _global_<Node> -----------------------------------------------
    def _global_MatMul(self, node):
        mm = "matmul_serial" if self.serial else "matmul"
        return [f"{self.arr(node)} = {mm}({self.whole(node.a)}, {self.whole(node.b)})"]

    def _global_Scale(self, node):
        name, operand = self.arr(node), self.whole(node.a)
        if self._temporary(node.a, node):  # scale in place: nothing else reads the operand
            return [f"{name} = {operand}", f"{name} *= {self.size(node.k)}"]
        return [f"{name} = ({self.size(node.k)}) * {operand}"]

    def _global_Add(self, node, op: str = "+"):
        name, a, b = self.arr(node), self.whole(node.a), self.whole(node.b)
        if node.a.shape != node.b.shape and not (_scalar(node.a) or _scalar(node.b)):
            return [f"{name} = broadcast({a}, {b}, {op == '*'})"]  # parfors cannot broadcast
        return [f"{name} = {a} {op} {b}"]

    def _global_Hadamard(self, node):
        return self._global_Add(node, "*")

    def _global_Exp(self, node):
        return [f"{self.arr(node)} = np.exp({self.whole(node.a)})"]

    def _global_Log(self, node):
        return [f"{self.arr(node)} = np.log({self.whole(node.a)})"]

    def _global_Pow(self, node):
        return [f"{self.arr(node)} = {self.whole(node.a)} ** {float(node.k)!r}"]

    def _global_RowSum(self, node):
        return [f"{self.arr(node)} = {self.whole(node.a)}.sum(axis=1).reshape(-1, 1)"]

    def _global_ColSum(self, node):
        return [f"{self.arr(node)} = {self.whole(node.a)}.sum(axis=0).reshape(1, -1)"]

    def _global_Total(self, node):
        return [f"{self.arr(node)} = np.full((1, 1), {self.whole(node.a)}.sum())"]

    def _global_Fill(self, node):
        return [f"{self.arr(node)} = np.full(({self.size(node.shape[0])}, {self.size(node.shape[1])}), {float(node.value)!r})"]

    def _temporary(self, node: ex.Node, user: ex.Node) -> bool:
        """An array this kernel computed (a reduction or a product, not an input, not an output) that only
        ``user`` reads."""
        s = ex.bare(node)
        if self.kind(node) not in ("reduce", "post", "global") or not self.dispatch("fresh", s):
            return False
        return self.consumers(s) == [user]

    def _fresh_Node(self, node):
        return False

    def _fresh_MatMul(self, node):  # the global forms that make a new array the kernel may scale in place
        return True

    _fresh_Total = _fresh_ColSum = _fresh_Scale = _fresh_Add = _fresh_MatMul

    # reading a whole array: _whole_<Node>, _cell_<Node> ----------------------------------------------------
    def whole(self, node: ex.Node) -> str:
        """A global, input or post node as a whole array (a 1×1 constant as a number, a transpose as ``.T``)."""
        return self.dispatch("whole", ex.bare(node))

    def _whole_Fill(self, node):
        return f"{float(node.value)!r}" if node.shape == (1, 1) else self.arr(node)

    def _whole_Transpose(self, node):
        return f"{self.whole(node.a)}.T"

    def _whole_Node(self, node):
        return self.arr(node)

    def cell(self, node: ex.Node, i: str, j: str) -> str:
        """Entry (i, j) of a global or input node."""
        return self.dispatch("cell", ex.bare(node), i, j)

    def _cell_Fill(self, node, i, j):
        return f"{float(node.value)!r}"

    def _cell_Transpose(self, node, i, j):
        return self.cell(node.a, j, i)

    def _cell_Node(self, node, i, j):
        return self._index(node, i, j)


def _scalar(node: ex.Node) -> bool:
    s = ex.bare(node)
    return isinstance(s, ex.Fill) and s.shape == (1, 1)
