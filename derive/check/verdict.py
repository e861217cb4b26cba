"""The checker's results: one tier's evidence (``TierResult``) and a claim's verdict with all of it (``Verdict``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..sampling import Point


@dataclass
class TierResult:
    """Evidence from one tier."""

    tier: str
    outcome: str  # holds | refuted | undecided (contradicts another tier) | not decided | skipped
    method: str
    sizes: list[Point] = field(default_factory=list)
    seed: int | None = None
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    tolerance: str = ""
    seconds: float = 0.0
    note: str = ""


@dataclass
class Verdict:
    """A claim's verdict with the evidence of every tier."""

    id: str
    source: str
    printed: bool
    statement: str
    verdict: str  # holds | refuted | inconclusive
    tiers: list[TierResult]
    counterexample: dict | None = None
    relation: str | None = None
    seconds: float = 0.0
    tightness: float | None = None  # a bound claim's max(measured/bound) over its instances

    @property
    def fails_run(self) -> bool:
        """A project claim (not a paper's printed one) that does not hold: ``attngrad check`` exits 1."""
        return not self.printed and self.verdict != "holds"

    @property
    def method(self) -> str:
        return " + ".join(t.tier for t in self.tiers if t.outcome in ("holds", "refuted"))

    @property
    def max_error(self) -> float | None:
        errs = [t.max_rel_err for t in self.tiers if t.max_rel_err is not None and t.outcome != "skipped"]
        return max(errs) if errs else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["method"] = self.method
        out["max_rel_err"] = self.max_error
        return out
