"""SymPy derivations: models as chains of named definitions, claims about them, and verdicts.

A user's claims file (``attngrad check --file my_claims.py``) imports from here::

    from attngrad.derive import Claim, Grad, Matrix, Model, d, exp, half_sq_norm, n

A size symbol besides ``n`` and ``d`` comes from ``size``; a claim that uses one names its value at each tier's
size points::

    from attngrad.derive import size
    N = size("N")
    A = Matrix("A", N, d)
    Claim(..., sizes={"mpmath": ({"N": 2, "n": 1, "d": 1}, …), "exact": (…), "float64": (…)})

Besides the nodes: ``trace(a)`` of a square matrix, ``softmax(v)`` of a column vector, ``softmax_rows(s)`` of each
row of a matrix. ``relu``, ``maximum`` and ``abs`` are refused with a sentence: the tiers differentiate and compare at
random points, so only smooth functions are in the language. ``sum_over("j0", n, lambda j0: …)`` is the paper's
Σ_{j0}: the term receives the index as a symbol (``Row(f, j0)``, ``Entry(E, j0, i0)``), so the index tier proves
the sum for all sizes.
"""

from .check import TierResult, Verdict, check_claim
from .claims import BoundClaim, Claim, Measurement, Probe, load_claims_file, select
from .expr import (
    Basis, Col, ColSum, Deriv, Diag, Entry, FaceSplit, Fill, Grad, Hadamard, Identity, Kernel, Kron, Log, MatMul,
    Matrix, Named, Node, Pow, Row, RowSum, Scale, Total, Transpose, Tril, Vec, d, exp, half_sq_norm, inner, log,
    SumOver, maximum, n, ones, relu, size, softmax, softmax_rows, sum_over, trace,
)
from .model import Model
from .printing import show


def __getattr__(name: str):
    """``builtin_claims`` is paper content (``derive.papers.registry``): loaded on first use, not with the engine."""
    if name == "builtin_claims":
        from .papers.registry import builtin_claims

        return builtin_claims
    raise AttributeError(f"module 'attngrad.derive' has no attribute {name!r}")

__all__ = [
    "Basis", "BoundClaim", "Claim", "Col", "ColSum", "Deriv", "Diag", "Entry", "FaceSplit", "Fill", "Grad",
    "Hadamard", "Identity", "Kernel", "Kron", "Log", "MatMul", "Matrix", "Measurement", "Model", "Named", "Node",
    "Pow", "Probe", "Row", "RowSum", "Scale", "SumOver", "TierResult", "Total", "Transpose", "Tril", "Vec", "Verdict",
    "builtin_claims", "check_claim", "d", "exp", "half_sq_norm", "inner", "load_claims_file", "log", "maximum", "n",
    "ones", "relu", "select", "show", "size", "softmax", "softmax_rows", "sum_over", "trace",
]
