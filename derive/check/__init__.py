"""Check a claim by the tiers of docs/design.md and return a verdict with its evidence.

Tiers, in the order they run:

1. ``mpmath-50``: both sides at 50 digits at random standard-normal inputs, sizes ascending; the first size where
   they differ by far more than the tolerance is the smallest counterexample. Nested derivatives work at more digits
   (50 + 20 per level), and the finite-difference error estimate is added to the tolerance.
2. ``index``: a proof for all sizes (``derive.index_proof``): both sides in index notation with symbolic sizes,
   ``Grad``/``Deriv`` differentiated there, a zero normal form of lhs − rhs; checked by a second route (the derived
   index form summed out against the 50-digit evaluator). A nonzero normal form decides nothing.
3. ``exact``: one symbol per input entry, exp of a sum split into a product of positive symbols (so exp(a+b) =
   eᵃeᵇ), logs and roots of positive quantities handled, ``cancel`` of the difference — a proof at that size; a
   rational point of the inputs where the sides differ (exp and log evaluated there by interval arithmetic) is a
   disproof. For a numeric kernel: the kernel at dyadic inputs against SymPy's exact value.
4. ``float64``: at real sizes, derivatives by Richardson finite differences with their error estimate (nested
   ones carry the inner estimate); a numeric kernel is compared in its own dtype.

Verdicts (``rule``): ``holds`` (mpmath-50 holds, no tier refutes and none is undecided), ``refuted`` (a tier's
counterexample: mpmath-50 beyond its margin, the exact tier's rational point, float64 beyond 10³ times its
tolerance; the first refuting tier's counterexample is reported), ``inconclusive`` (anything else — and a proof
against a counterexample, which is an internal contradiction the tiers' notes name), ``error`` (the claim could
not be built or evaluated: ``runner.check_one``).

Modules: ``verdict`` (TierResult, Verdict), ``compare`` (differences, counterexamples), ``tiers`` (one module per
tier), ``rule`` (``check_claim``: the verdict rule), ``bounds`` (measured bound claims), ``runner`` (claim sources,
worker processes), ``bench_proofs`` (``attngrad bench proofs``); the size points, inputs and a claim's pairs come
from ``derive.sampling``, which the relation finder shares.
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
