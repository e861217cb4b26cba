"""The printers' one dispatch mechanism, in the style of SymPy's ``Printer._print`` (docs/design.md).

A printer decides what to do with a node by its type only through ``dispatch(family, node)``: it walks
``type(node).__mro__`` and calls the first method ``_<family>_<ClassName>`` it has (``_print_MatMul``,
``_kind_Exp``, ``_global_Scale``), so a method for a base class (``_kind_Unary``, ``_at_Node``) serves every
subclass without one of its own. A node that no class of its MRO has a method for raises CodegenError
naming the node type and the printer's ``target``.
"""

from __future__ import annotations

from attngrad.errors import InputError

from .. import expr as ex


class CodegenError(InputError):
    """A chain the code generator cannot print (one plain sentence)."""


class Printer:
    """Base of the code printers; ``target`` names the printer in the error for an unsupported node."""

    target = "code"

    def dispatch(self, family: str, node: object, *args):
        """``self._<family>_<C>(node, *args)`` for the first class C in ``type(node).__mro__`` that has one."""
        method = ex.method_for(self, f"_{family}_", node)
        if method is not None:
            return method(node, *args)
        raise CodegenError(f"{type(node).__name__} is not supported by the {self.target} printer.")


_LETTERS = {"α": "alpha", "∇": "grad_", "₁": "1", "₂": "2", "₃": "3", "̃": "t"}


def identifier(name: str) -> str:
    """A Python identifier for a chain name (``∇W_Q`` → ``grad_W_Q``, ``α`` → ``alpha``)."""
    out = "".join(_LETTERS.get(ch, ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_") for ch in name)
    return out if out and out[0].isalpha() else f"v_{out}"
