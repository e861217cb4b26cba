"""``attngrad bench proofs``: how long the all-sizes proofs take (speed lives in benchmarks, not in tests).

For each claim: the proof alone (``index_proof.prove`` on each symbolic build) and the whole index tier (the proof
and its second route), the first call in this process (SymPy's caches cold) and then ``repeats`` calls (median,
min–max). tensorgrad (symbolic tensor networks; AGPL, never a dependency) is timed side by side on ∇_X of the
Alman–Song loss when it is installed.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import sympy as sp

from attngrad.errors import InputError
from attngrad.numeric.bench import cpu_name

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


PEER_SCRIPT = Path(__file__).with_name("peers") / "tensorgrad_gradx.py"


def tensorgrad_peer(python: str | None, repeats: int) -> tuple[dict | None, str]:
    """tensorgrad's proof of the target identity, timed by ``python`` (an interpreter that has tensorgrad; default:
    this one when it has it): (its record, '') or (None, why there is none)."""
    if python is None:
        if importlib.util.find_spec("tensorgrad") is None:
            return None, ("tensorgrad is not installed here: no side-by-side row (it is AGPL and kept out of "
                          "attngrad's dependencies; install it in another environment and pass "
                          "--tensorgrad-python PATH to time it in this run)")
        python = sys.executable
    if not Path(python).is_file():
        raise InputError(f"--tensorgrad-python {python} is not a file.")
    try:
        done = subprocess.run([python, str(PEER_SCRIPT), str(repeats)], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return None, "tensorgrad's proof did not finish within 15 minutes"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return None, f"tensorgrad's proof failed under {python}: {last}"
    return json.loads(done.stdout.strip().splitlines()[-1]), ""


def bench_proofs(source: str, ids: tuple[str, ...] = (), repeats: int = 3,
                 progress: Callable[[str], None] | None = None, tensorgrad_python: str | None = None) -> dict[str, Any]:
    """Timings of the all-sizes proofs of the claims ``ids`` of ``source`` (default: every claim the index tier
    proves or attempts)."""
    if repeats < 1:
        raise InputError("--repeats must be at least 1.")
    if tensorgrad_python is not None and not Path(tensorgrad_python).is_file():
        raise InputError(f"--tensorgrad-python {tensorgrad_python} is not a file.")
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
    if progress:
        progress("tensorgrad")
    peer, why = tensorgrad_peer(tensorgrad_python, repeats)
    if peer is not None:
        peer["s"] = _stats(peer["times_s"])
        ours = next((r for r in rows if r["id"] == TARGET and "proof_s" in r), None)
        if ours is not None:
            peer["ratio_to_our_proof"] = peer["s"]["median"] / ours["proof_s"]["median"]
            peer["ratio_to_our_tier"] = peer["s"]["median"] / ours["tier_s"]["median"]
    else:
        notes.append(why)
    return {"machine": {"python": platform.python_version(), "sympy": sp.__version__, "cpu": cpu_name()},
            "repeats": repeats, "target": TARGET, "rows": rows, "tensorgrad": peer, "notes": notes}
