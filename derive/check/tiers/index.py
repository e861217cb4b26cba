"""Tier ``index``: a proof for all sizes (``derive.index_proof``), checked by a second route.

The claim is built with symbolic sizes (a side written per size is built with the sizes as symbols; when it needs
a concrete count, such as the number of samples N, at each value of it the other tiers use, and the proof then
says so). A zero normal form of lhs − rhs is a proof; the index form the prover derived for each side is then
summed out at two small sizes and compared with the evaluator at 50 digits (``derive.index_numeric``): a
disagreement is an internal error, reported as the tier's outcome ``error``, never as a proof. A nonzero normal
form decides nothing ("not decided"): the numeric tiers refute.
"""

from __future__ import annotations

import random
import time

import mpmath
import numpy as np
import sympy as sp

from attngrad.errors import InputError

from ... import expr as ex
from ...claims import Claim
from ...evaluate import Evaluator, MpmathField
from ...index import NotIndexable
from ...index_numeric import evaluate_terms
from ...index_proof import COL, ROW, Proof, prove, strip_vec
from ...sampling import MP_SIZES, Point, index_tuples, make_inputs, random_normal, show_point, size_substitution
from ..verdict import TierResult

METHOD = "index notation with symbolic sizes: product and chain rules, deltas eliminated, canonical multi-sums"
SECOND_ROUTE_RTOL = 1e-9  # the derived index form summed out in float64 against the 50-digit evaluator


def index_symbols(claim: Claim) -> dict:
    """The claim's own indices (``over``) as symbols: a per-row statement built for every row at once."""
    return {k: ex.index_symbol(k) for k in claim.over}


def symbolic_builds(claim: Claim) -> tuple[list[tuple[Point, ex.Node, ex.Node]], str]:
    """The claim's sides with symbolic sizes (and symbolic indices, for a claim over indices): [({}, lhs, rhs)] when
    they are nodes or build with every size a symbol, else one build per value of the one size that must be
    concrete (the values of the mpmath tier's points). Returns (builds, what the builds cover)."""
    if isinstance(claim.lhs, ex.Node) and isinstance(claim.rhs, ex.Node):
        return [({}, claim.lhs, claim.rhs)], "all sizes"
    points = claim.sizes.get("mpmath", MP_SIZES)
    keys = list(points[0])
    symbols = {k: ex.size(k) for k in keys}
    index = index_symbols(claim)
    rows = f" and every {', '.join(claim.over)}" if claim.over else ""
    try:
        lhs, rhs = claim.sides(symbols, index)
        return [({}, lhs, rhs)], "all sizes" + rows
    except (InputError, NotIndexable, TypeError, ValueError):
        pass
    for k in keys:
        values = sorted({p[k] for p in points})
        builds = []
        try:
            for v in values:
                lhs, rhs = claim.sides({**symbols, k: v}, index)
                builds.append(({k: v}, lhs, rhs))
        except (InputError, NotIndexable, TypeError, ValueError):
            continue
        others = ", ".join(x for x in keys if x != k)
        return builds, f"all {others} at {k} = {', '.join(map(str, values))}{rows}"
    raise NotIndexable("a side built per size (from concrete rows, blocks or indices)")


def _over(claim: Claim, fixed: Point) -> dict:
    """The ranges of the claim's own indices, in symbolic sizes (a concrete count substituted)."""
    at = {ex.size(k): v for k, v in fixed.items()}
    return {k: sp.sympify(v).subs(at) for k, v in claim.over.items()}


def second_route(claim: Claim, proof: Proof, lhs: ex.Node, rhs: ex.Node, fixed: Point, seed: int) -> str:
    """'' when the derived index forms agree with the evaluator at two small sizes (and, for a claim over indices,
    at a few index tuples there), else what disagreed."""
    points = [p for p in claim.sizes.get("mpmath", MP_SIZES) if all(p.get(k) == v for k, v in fixed.items())]
    points = sorted(points, key=lambda p: int(np.prod(list(p.values()))))
    big = [p for p in points if min(p.values()) >= 2] or points
    chosen = big[:2]
    for key in (points[0] if points else {}):  # each size at 3 or more somewhere: a range assumed equal shows there
        if not any(p[key] >= 3 for p in chosen):
            chosen += [p for p in big if p[key] >= 3][:1]
    field = MpmathField(50)
    rng = random.Random(seed)
    symbols = index_symbols(claim)
    for point in chosen:
        sizes = size_substitution(point)
        tuples = [{}]
        if claim.over:
            ranges = claim.index_ranges(sizes)
            extremes = [dict.fromkeys(ranges, 0), {k: r - 1 for k, r in ranges.items()}]
            tuples = extremes + [t for t in index_tuples(claim, sizes, rng, sample=True)[:3] if t not in extremes]
        for idx in tuples:
            at = {symbols[k]: v for k, v in idx.items()}
            con_l, con_r = claim.sides(point, idx) if claim.over else (lhs, rhs)
            if proof.vec:
                con_l, con_r, _ = strip_vec(con_l, con_r)
            floats = make_inputs([(con_l, con_r)], sizes, random_normal(seed, point, claim.positive))
            ev = Evaluator(field, {k: field.array(v) for k, v in floats.items()}, sizes)
            with mpmath.workdps(field.dps):
                for name, side, terms in (("lhs", con_l, proof.lhs_terms), ("rhs", con_r, proof.rhs_terms)):
                    shape = (ev.dim(side.shape[0]), ev.dim(side.shape[1]))
                    want = np.asarray(ev(side), dtype=np.float64).reshape(shape)
                    got = evaluate_terms(terms, proof.form, ev, shape, ROW, COL, at)
                    err = float(np.abs(got - want).max(initial=0.0))
                    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
                    if not err <= SECOND_ROUTE_RTOL * scale:
                        where = f" at {idx}" if idx else ""
                        return (f"at {show_point(point)}{where} the derived index form of the {name} differs from its "
                                f"value at 50 digits by {err:.3g} (relative {err / scale:.3g})")
    return ""


def tier_index(claim: Claim, seed: int = 0) -> TierResult:
    t0 = time.perf_counter()

    def result(outcome: str, note: str = "", steps=None) -> TierResult:
        out = TierResult("index", outcome, METHOD, [], None, None, None, "exact" if outcome == "holds" else "",
                         time.perf_counter() - t0, note)
        if steps is not None and hasattr(out, "steps"):
            out.steps = list(steps)
        return out

    try:
        builds, covers = symbolic_builds(claim)
        proofs = [(fixed, lhs, rhs, prove(lhs, rhs, index_ranges=_over(claim, fixed))) for fixed, lhs, rhs in builds]
    except NotIndexable as exc:
        return result("skipped", f"not covered by index notation with symbolic sizes: {exc}")
    steps: list[str] = []
    for fixed, lhs, rhs, proof in proofs:
        head = f"at {show_point(fixed)}: " if fixed else ""
        steps += [head + s for s in proof.steps]
        if not proof.proved:
            left = "; ".join(proof.left)
            return result("not decided", f"{head}{proof.reason}. Left: {left}", steps)
    for fixed, lhs, rhs, proof in proofs:
        try:
            why = second_route(claim, proof, lhs, rhs, fixed, seed)
        except (ArithmeticError, ValueError, TypeError, IndexError, InputError) as exc:
            return result("not decided", f"a zero normal form, but its second route could not be evaluated "
                                         f"({type(exc).__name__}: {exc}), so it is not taken as a proof", steps)
        if why:
            return result("error", f"internal error: the all-sizes proof's second route failed: {why}", steps)
    steps.append("second route: the derived index forms, summed out at two sizes, agree with the 50-digit evaluator")
    out = result("holds", f"a proof for {covers}", steps)
    out.sizes = [fixed for fixed, *_ in proofs if fixed]  # a proof at each concrete count (else: every size)
    return out
