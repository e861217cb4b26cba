"""The verdict rule: run the tiers on one claim and combine their outcomes (``derive.check`` gives the rule)."""

from __future__ import annotations

import time

from attngrad.errors import InputError

from ..claims import BoundClaim, Claim
from ..relations import explain
from .bounds import check_bound
from ..sampling import EXACT_SIZES, FLOAT_SIZES, MP_SIZES, check_exact_sizes, claim_pairs, kernel_dtype
from .tiers.exact import tier_exact, tier_exact_kernel
from .tiers.float64 import tier_float
from .tiers.index import tier_index
from .tiers.mpmath50 import tier_mpmath
from .verdict import TierResult, Verdict


def check_claim(claim: Claim, *, seed: int = 0, exact_sizes=EXACT_SIZES, mp_sizes=MP_SIZES,
                float_sizes=FLOAT_SIZES, exact: bool = True) -> Verdict:
    """Check one claim; see the docstring of ``derive.check`` for the tiers and the verdict rule."""
    if isinstance(claim, BoundClaim):
        return check_bound(claim, seed=seed)
    mp_sizes = claim.sizes.get("mpmath", mp_sizes)
    float_sizes = claim.sizes.get("float64", float_sizes)
    if "exact" in claim.sizes and (tuple(exact_sizes) == EXACT_SIZES or
                                   {k for p in exact_sizes for k in p} != {k for p in claim.sizes["exact"] for k in p}):
        exact_sizes = claim.sizes["exact"]  # sizes over (n, d) do not fit a claim with size symbols of its own
    try:
        return _check(claim, seed, exact_sizes, mp_sizes, float_sizes, exact)
    except (ValueError, ZeroDivisionError) as exc:
        if isinstance(exc, InputError):
            raise
        reason = str(exc).strip().rstrip(".")
        raise InputError(f"Claim {claim.id} could not be evaluated: {reason}.") from None


def _check(claim: Claim, seed: int, exact_sizes, mp_sizes, float_sizes, exact: bool) -> Verdict:
    check_exact_sizes(tuple(exact_sizes))
    t0 = time.perf_counter()
    kdtype = kernel_dtype(claim_pairs(claim, mp_sizes[0], [dict.fromkeys(claim.over, 0)]))
    tiers: list[TierResult] = []
    mp, ce = tier_mpmath(claim, seed, mp_sizes, kdtype)
    tiers.append(mp)
    relation = None
    if mp.outcome == "refuted":
        tiers.append(TierResult("exact", "skipped", "SymPy", note="refuted at 50 digits"))
        relation = explain(claim, ce, seed, mp_sizes)
        verdict = "refuted"
    else:
        if not exact:
            exact_tier = TierResult("exact", "skipped", "SymPy", note="not requested")
        elif kdtype:
            exact_tier = tier_exact_kernel(claim, seed, exact_sizes, kdtype)
        else:
            exact_tier = tier_exact(claim, seed, exact_sizes)
        fl = tier_float(claim, seed, float_sizes, kdtype)
        tiers += [tier_index(claim), exact_tier, fl]
        outcomes = {t.outcome for t in tiers}
        if "refuted" in outcomes:
            verdict = "refuted" if "undecided" not in outcomes else "inconclusive"
        elif mp.outcome == "holds" and "undecided" not in outcomes:
            verdict = "holds"
        else:
            verdict = "inconclusive"
    return Verdict(claim.id, claim.source, claim.printed, claim.statement, verdict, tiers, ce, relation,
                   time.perf_counter() - t0)
