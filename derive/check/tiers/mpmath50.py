"""Tier ``mpmath-50``: both sides at 50 digits at random standard-normal inputs, sizes ascending; the first size
where they differ by far more than the tolerance is the smallest counterexample."""

from __future__ import annotations

import random
import time

import mpmath
import numpy as np

from ...claims import Claim
from ...evaluate import Evaluator, MpmathField
from ..compare import KERNEL_RTOL, compare, counterexample
from ...sampling import claim_pairs, index_tuples, make_inputs, random_normal, size_substitution
from ..verdict import TierResult

MP_TOL = 1e-25  # relative, 50 digits with 1e-20 difference steps
MP_REFUTE = 1e-10  # relative difference that is a refutation at 50 digits
METHOD = "both sides at 50 digits, derivatives by central differences (h=1e-20)"


def tier_mpmath(claim: Claim, seed: int, sizes_list, kdtype: str | None) -> tuple[TierResult, dict | None]:
    """The tier's result and, when it refutes, the counterexample (else None)."""
    field_ = MpmathField(50)
    t0 = time.perf_counter()
    rng = random.Random(seed)
    rtol = KERNEL_RTOL[kdtype] if kdtype else MP_TOL
    refute = KERNEL_RTOL[kdtype] if kdtype else MP_REFUTE
    worst_rel, worst_abs, done = 0.0, 0.0, []
    sampled = False
    for point in sizes_list:
        sizes = size_substitution(point)
        indices = index_tuples(claim, sizes, rng, sample=True)
        sampled |= len(indices) < int(np.prod(list(claim.index_ranges(sizes).values()) or [1]))
        pairs = claim_pairs(claim, point, indices)
        make = random_normal(seed, point, claim.positive)
        inputs = make_inputs([(l, r) for _, l, r in pairs], sizes, make)
        values = {k: field_.array(v) for k, v in inputs.items()}
        with mpmath.workdps(field_.dps):
            diff = compare(Evaluator(field_, values, sizes), pairs)
        done.append(point)
        worst_abs, worst_rel = max(worst_abs, diff.max_abs), max(worst_rel, diff.rel)
        # the finite-difference error estimate (relative) widens both thresholds; ~1e-30 at any nesting depth
        if diff.shape_mismatch or diff.rel > refute + 1e3 * field_.fd_error:
            tr = TierResult("mpmath-50", "refuted", _method(field_), done, seed, diff.max_abs, diff.rel,
                            f"rtol={refute:.0e}" + _fd(field_), time.perf_counter() - t0)
            return tr, counterexample(point, seed, diff, inputs)
    outcome = "holds" if worst_rel <= rtol + field_.fd_error else "undecided"
    note = "indices sampled at the larger sizes" if sampled else ""
    return TierResult("mpmath-50", outcome, _method(field_), done, seed, worst_abs, worst_rel,
                      f"rtol={rtol:.0e}" + _fd(field_), time.perf_counter() - t0, note), None


def _method(field_: MpmathField) -> str:
    return METHOD + ("; nested derivatives at more digits" if field_.nesting else "")


def _fd(field_: MpmathField) -> str:
    """The nested finite-difference error estimate, shown when there is a nested derivative (else it is ~1e-30)."""
    return f" + fd error estimate {field_.fd_error:.0e}" if field_.nesting else ""
