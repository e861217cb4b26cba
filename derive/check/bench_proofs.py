"""``attngrad bench proofs``: how long the all-sizes proofs take (speed lives in benchmarks, not in tests).

For each claim: the proof alone (``index_proof.prove`` on each symbolic build) and the whole index tier (the proof
and its second route), the first call in this process (SymPy's caches cold) and then ``repeats`` calls (median,
min–max). tensorgrad (symbolic tensor networks; AGPL, never a dependency) is timed side by side on ∇_X of the
Alman–Song loss when it is installed.
"""

from __future__ import annotations

import platform
import statistics
import time
from typing import Any, Callable

import sympy as sp

from attngrad.errors import InputError

from ..claims import select
from ..index import NotIndexable
from ..index_proof import prove
from .runner import claims_of
from .tiers.index import symbolic_builds, tier_index

TARGET = "attngrad/grad-X[1/d]"  # issue 12's target: ≤ 1 s, against tensorgrad's 3.4 s on the same identity


def _seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _stats(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def tensorgrad_version() -> str | None:
    try:
        import tensorgrad  # noqa: F401
    except ImportError:
        return None
    from importlib.metadata import version

    return version("tensorgrad")


def bench_proofs(source: str, ids: tuple[str, ...] = (), repeats: int = 3,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Timings of the all-sizes proofs of the claims ``ids`` of ``source`` (default: every claim the index tier
    proves or attempts)."""
    if repeats < 1:
        raise InputError("--repeats must be at least 1.")
    claims = select(claims_of(source), ids)
    rows = []
    for claim in claims:
        if progress:
            progress(claim.id)
        try:
            builds, covers = symbolic_builds(claim) if not claim.over else ([], "")
        except NotIndexable as exc:
            builds, covers = [], str(exc)
        if not builds:
            if ids:
                rows.append({"id": claim.id, "outcome": "skipped", "note": covers or "per-size indices"})
            continue
        first_tier, tier = _seconds(lambda: tier_index(claim))
        if tier.outcome == "skipped":
            if ids:
                rows.append({"id": claim.id, "outcome": "skipped", "note": tier.note})
            continue
        prove_all = lambda: [prove(lhs, rhs) for _, lhs, rhs in builds]  # noqa: E731
        first_proof, proofs = _seconds(prove_all)
        proof_times = [_seconds(prove_all)[0] for _ in range(repeats)]
        tier_times = [_seconds(lambda: tier_index(claim))[0] for _ in range(repeats)]
        rows.append({"id": claim.id, "outcome": tier.outcome, "covers": covers, "note": tier.note,
                     "steps": sum(len(p.steps) for p in proofs), "first_proof_s": first_proof,
                     "proof_s": _stats(proof_times), "first_tier_s": first_tier, "tier_s": _stats(tier_times)})
    notes = []
    version = tensorgrad_version()
    if version is None:
        notes.append("tensorgrad is not installed: no side-by-side row (issue 12 quotes 3.4 s for its proof of ∇_X L, "
                     "scale 1/d, on the 2-core test machine; `pip install tensorgrad` to time it here — AGPL, "
                     "kept out of attngrad's dependencies)")
    else:
        notes.append(f"tensorgrad {version} is installed but its proof is not scripted by this version of attngrad")
    return {"machine": {"python": platform.python_version(), "sympy": sp.__version__, "cpu": _cpu()},
            "repeats": repeats, "target": TARGET, "rows": rows, "notes": notes}


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), platform.processor())
    except OSError:
        return platform.processor()
