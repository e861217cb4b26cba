"""The verdict rule: run the tiers on one claim and combine their outcomes (``derive.check`` gives the rule).

A verdict says only what some tier's evidence shows:

- **refuted**: a tier refutes — mpmath-50 beyond its margin, the exact tier's disproof at a rational point, float64
  beyond 10³ times its tolerance, a kernel beyond its dtype's tolerance — and no tier proves the claim where the
  refutation is; the counterexample is the first refuting tier's (in that order).
- **holds**: mpmath-50 holds, no tier refutes, and none is undecided.
- **inconclusive**: anything else; in particular a proof (the index tier's for all sizes, the exact tier's at its
  sizes) against a counterexample, which is an internal contradiction: both tiers' notes say so.
"""

from __future__ import annotations

import time

from attngrad.errors import InputError

from ..claims import BoundClaim, Claim
from ..relations import explain
from .bounds import check_bound
from ..sampling import (EXACT_SIZES, FLOAT_SIZES, MP_SIZES, Point, check_exact_sizes, claim_pairs, kernel_dtype,
                        show_point)
from .tiers.exact import tier_exact, tier_exact_kernel
from .tiers.float64 import tier_float
from .tiers.index import tier_index
from .tiers.mpmath50 import tier_mpmath
from .verdict import TierResult, Verdict


def check_claim(claim: Claim, *, seed: int = 0, exact_sizes=EXACT_SIZES, mp_sizes=MP_SIZES,
                float_sizes=FLOAT_SIZES, exact: bool = True) -> Verdict:
    """Check one claim; see the docstring of ``derive.check`` for the tiers and of this module for the rule."""
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


def _index(claim: Claim) -> TierResult:
    """The index tier; an exception inside it is its error, reported, never a verdict."""
    try:
        return tier_index(claim)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 -- a bug in the prover must not decide (nor hide) anything
        return TierResult("index", "error", "index notation with symbolic n, d", note=f"{type(exc).__name__}: {exc}")


def _check(claim: Claim, seed: int, exact_sizes, mp_sizes, float_sizes, exact: bool) -> Verdict:
    check_exact_sizes(tuple(exact_sizes))
    t0 = time.perf_counter()
    kdtype = kernel_dtype(claim_pairs(claim, mp_sizes[0], [dict.fromkeys(claim.over, 0)]))
    mp, mp_ce = tier_mpmath(claim, seed, mp_sizes, kdtype)
    index = _index(claim)
    found = [(mp, mp_ce), (index, None)]  # (tier, its counterexample), in the order of the rule
    symbolic = exact and not kdtype and mp.outcome != "refuted"  # an exact "holds" is then a proof
    if mp.outcome == "refuted":
        if index.outcome not in ("holds", "error"):  # shown when it proves (a contradiction) or fails, as before
            found.pop()
        found.append((TierResult("exact", "skipped", "SymPy", note="refuted at 50 digits"), None))
    else:
        if not exact:
            found.append((TierResult("exact", "skipped", "SymPy", note="not requested"), None))
        else:
            found.append(tier_exact_kernel(claim, seed, exact_sizes, kdtype) if kdtype else
                         tier_exact(claim, seed, exact_sizes))
        found.append(tier_float(claim, seed, float_sizes, kdtype))
    tiers = [t for t, _ in found]
    refuting = [(t, ce) for t, ce in found if t.outcome == "refuted"]
    proofs = [t for t in tiers if t.outcome == "holds" and (t.tier == "index" or (t.tier == "exact" and symbolic))]
    clashes = [(p, t, _covered(p, _where(t, c))) for t, c in refuting for p in proofs]
    clashes = [(p, t, at) for p, t, at in clashes if at]
    ce, relation = None, None
    if clashes:
        verdict = "inconclusive"
        for proof, refuter, at in clashes:
            if proof.tier == "index":
                say = f"internal error: the index tier's proof contradicts {refuter.tier}'s counterexample"
            else:
                say = (f"tiers contradict: the exact tier's proof at {', '.join(show_point(p) for p in at)} "
                       f"contradicts {refuter.tier}'s counterexample")
            for t in (proof, refuter):
                t.note = f"{say}; {t.note}" if t.note else say
    elif refuting:
        verdict = "refuted"
        ce = next((c for _, c in refuting if c is not None), None)
        if ce is not None and refuting[0][0].tier in ("mpmath-50", "exact"):
            relation = explain(claim, ce, seed, mp_sizes)
    elif mp.outcome == "holds" and all(t.outcome not in ("undecided", "error") for t in tiers):  # an internal error of a tier never leaves "holds"
        verdict = "holds"
    else:
        verdict = "inconclusive"
    return Verdict(claim.id, claim.source, claim.printed, claim.statement, verdict, tiers, ce, relation,
                   time.perf_counter() - t0)


def _where(t: TierResult, ce: dict | None) -> list[Point]:
    """The size points a refutation is at: its counterexample's, else every size the tier ran."""
    if ce is not None and t.sizes and all(k in ce for k in t.sizes[-1]):
        return [{k: ce[k] for k in t.sizes[-1]}]
    return list(t.sizes)


def _covered(proof: TierResult, points: list[Point]) -> list[Point]:
    """The points a proof covers: all of them for an index proof without sizes (a proof for all sizes); else those
    that agree with one of its size points on every size it names (``{"n": 1}`` is a proof for every d at n = 1)."""
    if proof.tier == "index" and not proof.sizes:
        return list(points)
    return [q for q in points if any(all(q.get(k) == v for k, v in p.items()) for p in proof.sizes)]
