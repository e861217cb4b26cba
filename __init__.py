"""attngrad: a symbolic-plus-numeric derivation checker for the theory of training attention.

The names below load lazily (``import attngrad`` stays cheap)::

    attngrad.loss_and_grad(A1, A2, A3, E, Y, X)    # L, ∇_X L, ∇_Y L of Alman–Song Def 1.2
    attngrad.check_grad(fn, grad, x)               # finite-difference check of any gradient
    attngrad.check_claim(claim)                    # a claim's verdict with its evidence
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "loss_and_grad": "attngrad.numeric.attention",
    "random_inputs": "attngrad.numeric.attention",
    "check_grad": "attngrad.numeric.fdcheck",
    "fd_gradient": "attngrad.numeric.fdcheck",
    "check_claim": "attngrad.derive.check",
    "Claim": "attngrad.derive.claims",
    "InputError": "attngrad.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'attngrad' has no attribute {name!r}")
