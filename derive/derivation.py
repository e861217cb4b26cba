"""Derivations: a bound as a statement, its assumptions and steps, each step verified by SymPy or cited.

A step is verified here — an identity proved at concrete sizes with one symbol per entry, a symbolic manipulation
whose result is the next formula, or a claim decided by ``attngrad check``'s tiers — or it cites a standard fact by
name. The closed forms (a bound's ``formulas``) are the SymPy results of the derivation; ``Bound.function`` turns
one into a float function, and ``attngrad codegen`` can print them as plain Python (the PEPit model: a numerical
and a theoretical bound side by side). The papers' bounds live in ``derive/papers``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import sympy as sp

from .check import check_claim
from .claims import Claim

#: how a symbol prints: symbol → (Unicode, LaTeX); a paper's module names its own symbols with ``name_symbols``
NAMES: dict[sp.Symbol, tuple[str, str]] = {}


def name_symbols(names: dict[sp.Symbol, tuple[str, str]]) -> None:
    """Register how symbols print in ``pretty`` (Unicode) and ``latex``."""
    NAMES.update(names)


_REL = {sp.Eq: "=", sp.Ge: "≥", sp.Le: "≤", sp.Gt: ">", sp.Lt: "<"}


def pretty(expr: sp.Basic) -> str:
    """One-line Unicode text with the registered names (constants first: 1 − η·μ)."""
    if isinstance(expr, sp.And):
        return "; ".join(pretty(a) for a in sorted(expr.args, key=str, reverse=True))
    if type(expr) in _REL:
        return f"{pretty(expr.lhs)} {_REL[type(expr)]} {pretty(expr.rhs)}"
    names = {s: sp.Symbol(u) for s, (u, _) in NAMES.items()}
    text = sp.sstr(expr.xreplace(names), order="rev-lex")
    return text.replace("**", "^").replace("*", "·").replace(" - ", " − ")


def latex(expr: sp.Basic) -> str:
    return sp.latex(expr, symbol_names={s: x for s, (_, x) in NAMES.items()}, order="rev-lex")


@dataclass
class Step:
    """One step of a derivation: what it says and how it is known (``verified`` None: a cited fact)."""

    text: str
    how: str
    verified: bool | None
    seconds: float = 0.0


@dataclass
class Bound:
    id: str
    title: str
    assumptions: list[str]
    statement: sp.Basic
    steps: list[Step] = field(default_factory=list)
    formulas: dict[str, sp.Expr] = field(default_factory=dict)  # closed forms, by name

    @property
    def verified(self) -> bool:
        return all(s.verified is not False for s in self.steps)

    def function(self, name: str) -> Callable[..., float]:
        """The closed form ``name`` as a float function of its free symbols, by their names (``mu``, ``eta``…)."""
        expr = self.formulas[name]
        args = sorted(expr.free_symbols, key=str)
        fn = sp.lambdify(args, expr, "math")
        keys = [str(a) for a in args]
        return lambda **kw: float(fn(*(kw[k] for k in keys)))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "assumptions": self.assumptions,
                "statement": pretty(self.statement), "latex": latex(self.statement), "verified": self.verified,
                "steps": [vars(s) for s in self.steps],
                "formulas": {k: {"text": pretty(v), "latex": latex(v)} for k, v in self.formulas.items()}}


# steps ----------------------------------------------------------------------------------------------------------
def verified_step(text: str, how: str, check: Callable[[], bool]) -> Step:
    """A step that ``check()`` verifies now (SymPy), timed."""
    t0 = time.perf_counter()
    ok = bool(check())
    return Step(text, how, ok, time.perf_counter() - t0)


def cited_step(text: str, source: str) -> Step:
    """A step that cites a standard fact (not verified here)."""
    return Step(text, f"fact: {source}", None)


def claim_step(text: str, claim: Claim) -> Step:
    """A step that is a claim of ``attngrad check``: verified by its tiers (50 digits, exact SymPy)."""
    t0 = time.perf_counter()
    v = check_claim(claim, seed=0)
    return Step(text, f"claim {claim.id}: {v.verdict} ({v.method})", v.verdict == "holds", time.perf_counter() - t0)


def symbol_matrix(name: str, rows: int, cols: int) -> sp.Matrix:
    """A rows×cols matrix of real symbols ``name{i}{j}``, one per entry."""
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}{i}{j}", real=True))


def vec_rows(M: sp.Matrix) -> sp.Matrix:
    """Row-major vec as a column."""
    return sp.Matrix(list(M))
