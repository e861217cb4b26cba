"""Tier ``index``: index notation with symbolic n, d (``derive.index``); a zero normal form is a proof for all
sizes, anything else decides nothing."""

from __future__ import annotations

import time

from ... import expr as ex
from ...claims import Claim
from ...index import NotIndexable, equal_for_all_sizes
from ..verdict import TierResult


def tier_index(claim: Claim) -> TierResult:
    t0 = time.perf_counter()
    method = "index notation with symbolic n, d (canonical multi-sums)"
    if claim.over or not isinstance(claim.lhs, ex.Node) or not isinstance(claim.rhs, ex.Node):
        return TierResult("index", "skipped", method, note="the claim is built per size or per index")
    try:
        proved = equal_for_all_sizes(claim.lhs, claim.rhs)
    except NotIndexable as exc:
        return TierResult("index", "skipped", method, note=f"{exc} is not covered", seconds=time.perf_counter() - t0)
    if proved:
        return TierResult("index", "holds", method + ": a proof for all n, d", [], None, 0.0, 0.0, "exact",
                          time.perf_counter() - t0)
    return TierResult("index", "not decided", method, seconds=time.perf_counter() - t0,
                      note="the normal form is not zero; it may need facts about exp-definitions such as Σ_l f_jl = 1")
