"""Tier ``exact``: one symbol per input entry, exp → positive symbols, ``cancel`` of the difference — a proof for
that size (docs/design.md, the exact tier). For a numeric kernel: the kernel at dyadic-rational inputs (exact in floating
point) against SymPy's exact value."""

from __future__ import annotations

import random
import time

import numpy as np
import sympy as sp

from ... import expr as ex
from ...claims import Claim
from ...evaluate import Evaluator, ExactField, FloatField, NotSymbolic
from ..compare import KERNEL_RTOL
from ...sampling import claim_pairs, contains, index_tuples, make_inputs, show_point, size_substitution
from ..verdict import TierResult


def tier_exact(claim: Claim, seed: int, sizes_list) -> TierResult:
    """Holds when every entry of every pair cancels at every size; a difference that does not decides nothing."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    proved = []
    for point in sizes_list:
        field_ = ExactField()
        sizes = size_substitution(point)
        pairs = claim_pairs(claim, point, index_tuples(claim, sizes, rng, sample=False))
        values = make_inputs([(l, r) for _, l, r in pairs], sizes, field_.symbols)
        ev = Evaluator(field_, values, sizes)
        try:
            for idx, lhs, rhs in pairs:
                a, b = ev(lhs), ev(rhs)
                if a.shape != b.shape:
                    return TierResult("exact", "undecided", "SymPy cancel", proved + [point], None,
                                      note=f"shapes differ: {a.shape} vs {b.shape}", seconds=time.perf_counter() - t0)
                for x, y in zip(a.reshape(-1), b.reshape(-1)):
                    if not field_.is_zero(x - y, rng):
                        where = f" at {idx}" if idx else ""
                        return TierResult("exact", "undecided", "SymPy cancel on rational functions (exp → positive symbols)",
                                          proved, None, seconds=time.perf_counter() - t0,
                                          note=f"not an identity of rational functions at {show_point(point)}{where}")
        except NotSymbolic as exc:
            return TierResult("exact", "skipped", "SymPy", [], note=str(exc), seconds=time.perf_counter() - t0)
        proved.append(point)
    return TierResult("exact", "holds", "SymPy cancel on rational functions (exp → positive symbols): a proof at each size",
                      proved, None, 0.0, 0.0, "exact", time.perf_counter() - t0)


def tier_exact_kernel(claim: Claim, seed: int, sizes_list, kdtype: str) -> TierResult:
    """A numeric kernel at dyadic-rational inputs (exact in floating point) against the exact SymPy value."""
    t0 = time.perf_counter()
    rtol = KERNEL_RTOL[kdtype]
    worst_abs, worst_rel, done = 0.0, 0.0, []
    for point in sizes_list:
        sizes = size_substitution(point)
        rng = np.random.default_rng([seed, *point.values(), 7])
        pairs = claim_pairs(claim, point, index_tuples(claim, sizes, random.Random(seed), sample=True))
        floats = make_inputs([(l, r) for _, l, r in pairs], sizes,
                             lambda name, shape: rng.integers(-8, 9, size=shape) / 4.0)
        exact = ExactField()
        rational = {k: np.vectorize(sp.Rational, otypes=[object])(v) for k, v in floats.items()}
        ev_f, ev_x = Evaluator(FloatField(), floats, sizes), Evaluator(exact, rational, sizes)
        for _, lhs, rhs in pairs:
            vals = []
            for side in (lhs, rhs):
                if contains(side, ex.Kernel):
                    vals.append(np.asarray(ev_f(side), dtype=np.float64))
                else:
                    back = {w: (sp.exp(g) if kind == "exp" else sp.log(g)) for w, (kind, g) in exact.opaque.items()}
                    vals.append(np.vectorize(lambda e: float(sp.N(sp.sympify(e).xreplace(back), 30)),
                                             otypes=[float])(ev_x(side)))
            diff = float(np.abs(vals[0] - vals[1]).max(initial=0.0))
            scale = max(1.0, float(np.abs(vals[1]).max(initial=0.0)))
            worst_abs, worst_rel = max(worst_abs, diff), max(worst_rel, diff / scale)
        done.append(point)
    outcome = "holds" if worst_rel <= rtol else "refuted"
    return TierResult("exact", outcome, "kernel vs SymPy's exact value at dyadic-rational inputs (30 digits)", done,
                      seed, worst_abs, worst_rel, f"rtol={rtol:.0e}", time.perf_counter() - t0)
