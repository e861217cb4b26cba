"""Tier ``float64``: at real sizes, derivatives by Richardson finite differences with their error estimate; a
numeric kernel is compared in its own dtype."""

from __future__ import annotations

import random
import time

import numpy as np

from ... import expr as ex
from ...claims import Claim
from ...evaluate import Evaluator, FloatField
from ..compare import KERNEL_RTOL, compare, counterexample
from ...sampling import claim_pairs, contains, index_tuples, make_inputs, random_normal, size_substitution
from ..verdict import TierResult

FLOAT_RTOL = 1e-7


def tier_float(claim: Claim, seed: int, sizes_list, kdtype: str | None) -> tuple[TierResult, dict | None]:
    """Refuted beyond 10³ times the tolerance (plus the finite-difference error estimate), undecided between; with
    the counterexample (the size and entry of the largest ratio of difference to tolerance) when refuted."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    rtol = KERNEL_RTOL[kdtype] if kdtype else FLOAT_RTOL
    worst_abs, worst_rel, worst_ratio, fd_err, done = 0.0, 0.0, 0.0, 0.0, []
    grads = False
    worst = None  # (point, diff, inputs) of the largest ratio
    for point in sizes_list:
        sizes = size_substitution(point)
        pairs = claim_pairs(claim, point, index_tuples(claim, sizes, rng, sample=True))
        if any(contains(l, ex.Deriv) or contains(r, ex.Deriv) for _, l, r in pairs):
            return TierResult("float64", "skipped", "float64", [],
                              note="entrywise derivatives are checked at 50 digits only"), None
        grads |= any(contains(l, ex.Grad) or contains(r, ex.Grad) for _, l, r in pairs)
        field_ = FloatField(np.float64)
        inputs = make_inputs([(l, r) for _, l, r in pairs], sizes, random_normal(seed, point, claim.positive))
        diff = compare(Evaluator(field_, inputs, sizes), pairs)
        done.append(point)
        fd_err = max(fd_err, field_.fd_error)
        worst_abs, worst_rel = max(worst_abs, diff.max_abs), max(worst_rel, diff.rel)
        ratio = diff.max_abs / (rtol * diff.scale + field_.fd_error)
        if worst is None or ratio > worst_ratio:
            worst_ratio, worst = ratio, (point, diff, inputs)
    outcome = "holds" if worst_ratio <= 1 else ("refuted" if worst_ratio > 1e3 else "undecided")
    method = "float64, gradients by Richardson central differences" if grads else "float64"
    if kdtype:
        method = f"the {kdtype} kernel against the chain in float64"
    tol = f"rtol={rtol:.0e}" + (f" + fd error estimate {fd_err:.1e}" if grads else "")
    ce = counterexample(worst[0], seed, worst[1], worst[2]) if outcome == "refuted" and worst[1].worst else None
    return TierResult("float64", outcome, method, done, seed, worst_abs, worst_rel, tol, time.perf_counter() - t0), ce
