"""Check a claim by the tiers of docs/design.md and return a verdict with its evidence.

Tiers, in the order they run:

1. ``mpmath-50``: both sides at 50 digits at random standard-normal inputs, sizes ascending; the
   first size where they differ by far more than the tolerance is the smallest counterexample.
2. ``index``: index notation with symbolic n, d (``derive.index``); a zero normal form is a proof
   for all sizes, anything else decides nothing.
3. ``exact``: one symbol per input entry, exp → positive symbols, ``cancel`` of the difference —
   a proof for that size (docs/design.md, the exact tier). Skipped once a claim is refuted. For a numeric kernel:
   the kernel at dyadic-rational inputs (exact in floating point) against SymPy's exact value.
4. ``float64``: at real sizes, derivatives by Richardson finite differences with their error
   estimate; a numeric kernel is compared in its own dtype.

Verdicts: ``holds`` (no tier refutes, the high-precision tier passes), ``refuted`` (a counterexample
with a margin of ≥ 10¹⁵ over the tolerance), ``inconclusive`` (tiers disagree, or the difference is
between the tolerance and the refutation margin).

Modules: ``verdict`` (TierResult, Verdict), ``compare`` (differences, counterexamples), ``tiers`` (one module per tier), ``rule`` (``check_claim``: the verdict
rule), ``bounds`` (measured bound claims), ``runner`` (claim sources, worker processes); the size points, inputs and a claim's pairs come from
``derive.sampling``, which the relation finder shares.
"""

from .bounds import check_bound
from .compare import KERNEL_RTOL
from .rule import check_claim
from .runner import check_all, claims_of, load_claims
from ..sampling import (
    EXACT_MAX, EXACT_SIZES, FLOAT_SIZES, MAX_INDEX_SAMPLES, MP_SIZES, Point, check_exact_sizes, points, random_normal,
    show_point,
)
from .tiers import FLOAT_RTOL, MP_REFUTE, MP_TOL
from .verdict import TierResult, Verdict

__all__ = [
    "EXACT_MAX", "EXACT_SIZES", "FLOAT_RTOL", "FLOAT_SIZES", "KERNEL_RTOL", "MAX_INDEX_SAMPLES", "MP_REFUTE", "MP_SIZES",
    "MP_TOL", "Point", "TierResult", "Verdict", "check_all", "check_bound", "check_claim", "check_exact_sizes",
    "claims_of", "load_claims", "points", "random_normal", "show_point",
]
