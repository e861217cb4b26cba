"""Readable one-line text of an expression tree (one ``_print_<Node>`` per node type)."""

from __future__ import annotations

import sympy as sp

from . import expr as ex

_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


class TextPrinter:
    """Infix text; named definitions print as their name (``expand=True`` prints the top one's body)."""

    def doprint(self, node: ex.Node, expand: bool = False) -> str:
        if expand and isinstance(node, ex.Named):
            return self.doprint(node.expr)
        method = ex.method_for(self, "_print_", node)
        if method is None:
            raise TypeError(f"{type(node).__name__} is not supported by the text printer.")
        return method(node)

    def _atom(self, node: ex.Node) -> str:
        s = self.doprint(node)
        simple = isinstance(node, (ex.Matrix, ex.Named, ex.Fill, ex.Identity, ex.Basis, ex.Tril, ex.Row,
                                   ex.Col, ex.Entry, ex.Transpose, ex.Exp, ex.Log, ex.Diag, ex.Vec,
                                   ex.RowSum, ex.ColSum, ex.Total, ex.Deriv, ex.Grad))
        return s if simple else f"({s})"

    def _print_Matrix(self, node):
        return node.name

    def _print_Named(self, node):
        return node.name

    def _print_Fill(self, node):
        if node.shape == (1, 1):
            return str(node.value)
        if node.value == 1 and node.shape[1] == 1:
            return f"1_{node.shape[0]}"
        return f"{node.value}·1_{node.shape[0]}×{node.shape[1]}"

    def _print_Identity(self, node):
        return f"I_{node.shape[0]}"

    def _print_Basis(self, node):
        return f"e_{node.index}"

    def _print_Tril(self, node):
        return f"tril(1_{node.shape[0]}×{node.shape[0]})"

    def _print_Transpose(self, node):
        return f"{self._atom(node.a)}ᵀ"

    def _print_Exp(self, node):
        return f"exp({self.doprint(node.a)})"

    def _print_Log(self, node):
        return f"log({self.doprint(node.a)})"

    def _print_RowSum(self, node):
        return f"{self._atom(node.a)}·1"

    def _print_ColSum(self, node):
        return f"1ᵀ·{self._atom(node.a)}"

    def _print_Total(self, node):
        return f"Σ{self._atom(node.a)}"

    def _print_Diag(self, node):
        return f"diag({self.doprint(node.a)})"

    def _print_Pow(self, node):
        k = str(node.k).translate(_SUP) if node.k.is_Integer else f"^({node.k})"
        return f"{self._atom(node.a)}{k}"

    def _print_Scale(self, node):
        if node.k == -1:
            return f"−{self._atom(node.a)}"
        k = sp.sstr(node.k)
        return f"({k})·{self._atom(node.a)}" if not node.k.is_Atom else f"{k}·{self._atom(node.a)}"

    def _print_Vec(self, node):
        return f"vec_{node.order}({self.doprint(node.a)})"

    def _print_Row(self, node):
        return f"{self._atom(node.a)}[{node.j},:]"

    def _print_Col(self, node):
        return f"{self._atom(node.a)}[:,{node.i}]"

    def _print_Entry(self, node):
        return f"{self._atom(node.a)}[{node.i},{node.j}]"

    def _print_MatMul(self, node):
        return f"{self._atom(node.a)}·{self._atom(node.b)}"

    def _print_Add(self, node):
        b = self.doprint(node.b)
        if isinstance(node.b, ex.Scale) and node.b.k == -1:
            return f"{self.doprint(node.a)} − {self._atom(node.b.a)}"
        return f"{self.doprint(node.a)} + {b}"

    def _print_Hadamard(self, node):
        return f"{self._atom(node.a)}∘{self._atom(node.b)}"

    def _print_Kron(self, node):
        return f"{self._atom(node.a)}⊗{self._atom(node.b)}"

    def _print_FaceSplit(self, node):
        return f"{self._atom(node.a)}⊘{self._atom(node.b)}"

    def _print_Deriv(self, node):
        return f"∂{self._atom(node.a)}/∂vec({node.var.name})_{node.index}"

    def _print_Kernel(self, node):
        return f"{node.label}[{node.dtype}]"

    def _print_SumOver(self, node):
        return f"Σ_{{{node.index}<{node.size}}} {self._atom(node.body)}"

    def _print_Grad(self, node):
        return f"∇_{node.var.name} {self._atom(node.a)}"


def show(node: ex.Node, expand: bool = False) -> str:
    """One-line text of ``node``."""
    return TextPrinter().doprint(node, expand)
