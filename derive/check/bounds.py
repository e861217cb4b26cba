"""Measured bound claims (``claims.BoundClaim``): each probe measures its instances against the claimed bound."""

from __future__ import annotations

import time
from typing import Any

import mpmath
import numpy as np

from attngrad.errors import InputError

from ..claims import BoundClaim
from .verdict import TierResult, Verdict


def _plain(x: Any) -> Any:
    """A JSON-friendly copy of a measured value (mpmath numbers as floats)."""
    if isinstance(x, (mpmath.mpf, np.floating)):
        return float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def check_bound(claim: BoundClaim, *, seed: int = 0) -> Verdict:
    """A bound claim's verdict: each probe measures its instances afresh (inputs from ``seed``). An instance
    with measured > bound + its rounding allowance refutes the claim (the first one is the counterexample, later
    probes are skipped); one inside the allowance decides nothing (inconclusive). Tightness: max(measured/bound)."""
    t0 = time.perf_counter()
    tiers: list[TierResult] = []
    ce: dict | None = None
    tightness: float | None = None
    sign = "≤" if claim.relation == "<=" else "="
    for probe in claim.probes:
        if ce is not None:
            tiers.append(TierResult(probe.tier, "skipped", probe.method, note="refuted by an earlier tier"))
            continue
        tp = time.perf_counter()
        outcome, done, top, tight, at, allowance = "holds", [], 0.0, 0.0, None, 0.0
        try:
            for inst in probe.instances:
                m = probe.measure(dict(inst), seed)
                done.append(dict(inst))
                meas, bound = m.measured, m.bound
                ratio = float(meas / bound) if bound != 0 else (0.0 if meas == 0 else float("inf"))
                top, allowance = max(top, float(meas)), max(allowance, float(m.allowance))
                if ratio >= tight:
                    tight, at = ratio, inst
                ok = meas <= bound if claim.relation == "<=" else meas == bound
                if ok:
                    continue
                if claim.relation == "<=" and meas <= bound + m.allowance:
                    outcome = "undecided"
                    continue
                outcome = "refuted"
                ce = {**inst, "seed": seed, "measured": _plain(meas), "bound": _plain(bound), "ratio": ratio,
                      **{k: _plain(v) for k, v in m.detail.items()}}
                break
        except InputError:
            raise
        except (ValueError, ArithmeticError) as exc:
            raise InputError(f"Claim {claim.id} could not be measured: {str(exc).strip().rstrip('.')}.") from None
        tightness = tight if tightness is None else max(tightness, tight)
        where = ", ".join(f"{k}={v}" for k, v in (at or {}).items())
        tol = f"measured {sign} bound" + (f" (rounding allowance up to {allowance:.1e})" if allowance else "")
        tiers.append(TierResult(probe.tier, outcome, probe.method, done, seed, top, None, tol, time.perf_counter() - tp,
                                f"tightness max(measured/bound) = {tight:.3g} at {where}"))
    outcomes = {t.outcome for t in tiers}
    verdict = "refuted" if "refuted" in outcomes else ("holds" if outcomes <= {"holds"} else "inconclusive")
    return Verdict(claim.id, claim.source, claim.printed, claim.statement, verdict, tiers, ce, None,
                   time.perf_counter() - t0, tightness)
