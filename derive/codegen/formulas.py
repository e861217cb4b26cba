"""Closed forms (SymPy expressions) printed as plain Python functions for the numeric code (docs/design.md)."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter


@dataclass
class Formulas:
    """Closed forms (SymPy) that the numeric code evaluates, printed as keyword-only Python functions."""

    name: str
    source: str  # where the derivations live, for the header
    exprs: dict[str, sp.Expr]


class _FormulaPrinter(PythonCodePrinter):
    def _print_binomial(self, expr):  # exact integers, not Γ-function ratios
        return f"math.comb({self._print(expr.args[0])}, {self._print(expr.args[1])})"


def render_formulas(target: Formulas, command: str = "attngrad codegen") -> str:
    """The module of ``target``'s functions, one keyword-only argument per free symbol."""
    printer = _FormulaPrinter({"fully_qualified_modules": True})
    lines = [f'"""{target.name}: closed forms printed by `{command}` from {target.source}. Do not edit."""', "",
             "import math", ""]
    for name, expr in target.exprs.items():
        args = sorted(str(a) for a in expr.free_symbols)
        lines += ["", f"def {name}(*, {', '.join(args)}):", f"    return {printer.doprint(expr)}", ""]
    return "\n".join(lines)
