"""The checker's results: one tier's evidence (``TierResult``) and a claim's verdict with all of it (``Verdict``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..sampling import Point

#: the verdicts, in the order a run's counts list them (``tally``)
VERDICTS = ("holds", "refuted", "inconclusive", "error")


@dataclass
class TierResult:
    """Evidence from one tier. ``steps``: what the tier did, in order (the all-sizes proof's rules), if it says."""

    tier: str
    outcome: str  # holds | refuted | undecided (contradicts another tier) | not decided | skipped | error (internal)
    method: str
    sizes: list[Point] = field(default_factory=list)
    seed: int | None = None
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    tolerance: str = ""
    seconds: float = 0.0
    note: str = ""
    steps: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    """A claim's verdict with the evidence of every tier. ``error``: the claim could not be built or evaluated;
    ``reason`` says why in one sentence and ``defined_at`` (file:line) where the claim was defined."""

    id: str
    source: str
    printed: bool
    statement: str
    verdict: str  # holds | refuted | inconclusive | error
    tiers: list[TierResult]
    counterexample: dict | None = None
    relation: str | None = None
    seconds: float = 0.0
    tightness: float | None = None  # a bound claim's max(measured/bound) over its instances
    reason: str | None = None  # why a claim has the verdict error
    defined_at: str | None = None  # file:line of the claim's definition (given with an error)

    @property
    def fails_run(self) -> bool:
        """A project claim (not a paper's printed one) that does not hold: ``attngrad check`` exits 1."""
        return not self.printed and self.verdict != "holds"

    @property
    def method(self) -> str:
        """The tiers that decided the verdict: those that hold (holds) or refute (refuted); for inconclusive, the
        tiers that disagree (``disagree: mpmath-50 holds, exact undecided``) or ``none decided``; empty for error."""
        if self.verdict in ("holds", "refuted"):
            return " + ".join(t.tier for t in self.tiers if t.outcome == self.verdict)
        if self.verdict != "inconclusive":
            return ""
        said = [t for t in self.tiers if t.outcome in ("holds", "refuted", "undecided", "error")]
        if not any(t.outcome in ("holds", "refuted") for t in said):
            return "none decided"
        return "disagree: " + ", ".join(f"{t.tier} {t.outcome}" for t in said)

    @property
    def max_error(self) -> float | None:
        errs = [t.max_rel_err for t in self.tiers if t.max_rel_err is not None and t.outcome != "skipped"]
        return max(errs) if errs else None

    @property
    def refuted_by(self) -> str | None:
        """The first tier that refutes the claim (the one whose counterexample ``counterexample`` is), or None."""
        return next((t.tier for t in self.tiers if t.outcome == "refuted"), None)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["method"] = self.method
        out["max_rel_err"] = self.max_error
        return out


def tally(verdicts: list[Verdict]) -> dict[str, dict[str, int]]:
    """How many project and printed claims have each verdict: ``{"project": {"holds": 101, "refuted": 0, …},
    "printed": {…}}`` (every verdict of ``VERDICTS`` counted, zeros included)."""
    out = {kind: dict.fromkeys(VERDICTS, 0) for kind in ("project", "printed")}
    for v in verdicts:
        counts = out["printed" if v.printed else "project"]
        counts[v.verdict] = counts.get(v.verdict, 0) + 1
    return out
