"""Tier ``exact``: one symbol per input entry, exp of a sum → products of positive symbols, ``cancel`` of the
difference — a proof for that size (docs/design.md, the exact tier); a difference that does not cancel and is nonzero
at a rational point of the inputs (exp and log at 60 digits, interval arithmetic) is a disproof with that point as
the counterexample. For a numeric kernel: the kernel at dyadic-rational inputs (exact in floating point) against
SymPy's exact value."""

from __future__ import annotations

import random
import time
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ... import expr as ex
from ...claims import Claim
from ...evaluate import Evaluator, ExactField, FloatField, NotSymbolic
from ..compare import KERNEL_RTOL, exact_counterexample
from ...sampling import claim_pairs, contains, index_tuples, make_inputs, show_point, size_substitution
from ..verdict import TierResult

METHOD = "SymPy cancel on rational functions (exp → positive symbols)"
DISPROOF = f"{METHOD}; disproof at a rational point of the inputs, exp and log by 60-digit interval arithmetic"


def tier_exact(claim: Claim, seed: int, sizes_list) -> tuple[TierResult, dict | None]:
    """Holds when every entry of every pair cancels at every size; refuted (with the counterexample) when an entry's
    difference is nonzero at an exact rational point of the inputs; else undecided. Each size is tried with one
    symbol per exp argument first (small expressions), and with exp of a sum split into products only when that
    decides nothing."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    proved: list = []
    undecided = ""
    for point in sizes_list:
        try:
            for split in (False, True):
                outcome, found = _at_size(claim, seed, point, rng, split)
                if outcome != "undecided":
                    break
        except NotSymbolic as exc:
            return TierResult("exact", "skipped", "SymPy", [], note=str(exc), seconds=time.perf_counter() - t0), None
        if outcome == "refuted":
            ce, diff, rel = found
            return TierResult("exact", "refuted", DISPROOF, proved + [point], seed, diff, rel,
                              "the difference's interval excludes 0", time.perf_counter() - t0), ce
        if outcome == "holds":
            proved.append(point)
        else:
            undecided = undecided or found
    if undecided:
        return TierResult("exact", "undecided", METHOD, proved, None, seconds=time.perf_counter() - t0,
                          note=undecided), None
    return TierResult("exact", "holds", METHOD + ": a proof at each size", proved, None, 0.0, 0.0, "exact",
                      time.perf_counter() - t0), None


def _at_size(claim: Claim, seed: int, point, rng: random.Random, split: bool) -> tuple[str, Any]:
    """("holds", None), ("refuted", (counterexample, |difference|, relative difference)) or ("undecided", why).
    Without ``split`` the first undecided entry ends the try (the split one looks at every entry again)."""
    field_ = ExactField(claim.positive, split=split)
    sizes = size_substitution(point)
    pairs = claim_pairs(claim, point, index_tuples(claim, sizes, rng, sample=False))
    values = make_inputs([(l, r) for _, l, r in pairs], sizes, field_.symbols)
    ev = Evaluator(field_, values, sizes)
    at = [field_.point(rng)]  # one point of all the inputs for every entry at this size
    why = ""
    for idx, lhs, rhs in pairs:
        a, b = ev(lhs), ev(rhs)
        if a.shape != b.shape:
            why = why or f"shapes differ: {a.shape} vs {b.shape}"
            continue
        for entry in np.ndindex(a.shape):
            zero = field_.is_zero(a[entry] - b[entry], rng, at)
            if zero is False:
                return "refuted", _counterexample(field_, point, seed, idx, entry, a[entry], b[entry], values)
            if zero is None:
                where = f" at {idx}" if idx else ""
                why = why or (f"not an identity of rational functions at {show_point(point)}{where}, and no disproof "
                              f"at a rational point")
                if not split:
                    return "undecided", why
    return ("undecided", why) if why else ("holds", None)


def _counterexample(field_: ExactField, point, seed, idx, entry, x, y, values) -> tuple[dict, float, float]:
    """The disproof's counterexample, its absolute and relative difference (relative to max(|lhs|, |rhs|, 1))."""
    at = field_.witness
    memo: dict = {}
    a, b = (mpmath.mp.make_mpf(field_.interval(e, at, memo).mid._mpi_[0]) for e in (x, y))
    inputs = {k: np.vectorize(lambda s: at[s], otypes=[object])(v) for k, v in values.items()}
    ce = exact_counterexample(point, seed, idx, entry, a, b, inputs)
    diff = float(abs(a - b))
    return ce, diff, diff / max(1.0, float(abs(a)), float(abs(b)))


def tier_exact_kernel(claim: Claim, seed: int, sizes_list, kdtype: str) -> tuple[TierResult, None]:
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
                    vals.append(np.vectorize(lambda e, f=exact: float(sp.N(f.explicit(e), 30)), otypes=[float])(ev_x(side)))
            diff = float(np.abs(vals[0] - vals[1]).max(initial=0.0))
            scale = max(1.0, float(np.abs(vals[1]).max(initial=0.0)))
            worst_abs, worst_rel = max(worst_abs, diff), max(worst_rel, diff / scale)
        done.append(point)
    outcome = "holds" if worst_rel <= rtol else "refuted"
    return TierResult("exact", outcome, "kernel vs SymPy's exact value at dyadic-rational inputs (30 digits)", done,
                      seed, worst_abs, worst_rel, f"rtol={rtol:.0e}", time.perf_counter() - t0), None
