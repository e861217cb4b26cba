"""Claims: statements ``lhs = rhs`` about a model, printed (a paper's, transcribed literally) or own.

A side is a node, or a function of a context ``ctx`` (the concrete sizes ``ctx.n``, ``ctx.d`` and
the claim's indices, e.g. ``ctx.j0``) returning a node: that is how per-row statements such as
Lemma B.1's ``d f(x)_{j0}/dx_i`` and sums over ``j0`` are written.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Callable, Union

import sympy as sp

from attngrad.errors import InputError

from . import expr as ex
from .model import Model

Side = Union[ex.Node, Callable[[SimpleNamespace], ex.Node]]


@dataclass
class Claim:
    """A statement to check.

    id: ``paper-key/label`` (``alman-song-2024/lemma-C.7``); the project's own use ``attngrad/…``.
    statement: the statement in words, as printed for a paper's claim.
    lhs, rhs: the two sides (nodes or functions of the context).
    over: indices the statement quantifies over, name → range length (``{"j0": n, "i": d**2}``).
    printed: True for a paper's statement (reported, never fails the run); False for the project's
        own (a failure makes ``attngrad check`` exit 1).
    positive: inputs that must be drawn positive (e.g. under a log).
    sizes: size points per tier, overriding the defaults over (n, d): ``{"mpmath": ({"N": 2, "n": 3, …}, …),
        "exact": (…), "float64": (…)}``, for models with size symbols of their own.
    group: claims that compile the same Numba kernel; ``attngrad check`` runs a group in one worker process.
    """

    id: str
    statement: str
    lhs: Side
    rhs: Side
    source: str = "attngrad"
    printed: bool = False
    model: Model | None = None
    over: dict[str, sp.Expr] = field(default_factory=dict)
    positive: tuple[str, ...] = ()
    note: str = ""
    sizes: dict[str, tuple[dict[str, int], ...]] = field(default_factory=dict)
    group: str = ""  # claims of one group are checked one after another in one process (they share a JIT kernel)

    @property
    def paper(self) -> str:
        return self.id.split("/", 1)[0]

    def sides(self, sizes: dict[str, int], index: dict[str, int] | None = None) -> tuple[ex.Node, ex.Node]:
        """The two sides at concrete sizes and index values."""
        ctx = SimpleNamespace(**sizes, **(index or {}))
        try:
            lhs = self.lhs if isinstance(self.lhs, ex.Node) else self.lhs(ctx)
            rhs = self.rhs if isinstance(self.rhs, ex.Node) else self.rhs(ctx)
        except Exception as exc:  # a user's builder may raise anything
            where = ", ".join(f"{k}={v}" for k, v in vars(ctx).items())
            raise InputError(f"Claim {self.id} could not be built at {where}: {exc}") from None
        for side in (lhs, rhs):
            if not isinstance(side, ex.Node):
                raise InputError(f"Claim {self.id} has a side that is not an expression (got {type(side).__name__}).")
        return lhs, rhs

    def index_ranges(self, sizes: dict[sp.Symbol, int]) -> dict[str, int]:
        return {k: int(sp.sympify(v).subs(sizes)) for k, v in self.over.items()}


@dataclass
class Measurement:
    """One measured instance of a bound claim: the measured value, the bound it must not exceed, and the
    measurement's own rounding (``allowance``: a value in (bound, bound + allowance] decides nothing)."""

    measured: float
    bound: float
    allowance: float = 0.0
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Probe:
    """A set of instances measured one way: ``tier`` names the arithmetic (``mpmath-50``, ``float64``), ``method``
    says what is measured how, and ``measure(instance, seed)`` returns a ``Measurement``."""

    tier: str
    method: str
    instances: tuple[dict, ...]
    measure: Callable[[dict, int], Measurement]


@dataclass
class BoundClaim(Claim):
    """A measured inequality ``measured ≤ bound`` (``relation='<='``) or an equality of integers such as a rank
    (``relation='=='``), checked on every instance of every probe each run (``derive.check.check_bound``).

    lhs, rhs: the measured quantity and the bound, in words. Holds when every instance satisfies the relation;
    refuted with the first instance that does not (its seed, sizes, measured value and bound); the verdict reports
    the tightness max(measured/bound).
    """

    lhs: str = ""
    rhs: str = ""
    probes: tuple[Probe, ...] = ()
    relation: str = "<="

    def sides(self, sizes, index=None):
        raise InputError(f"Claim {self.id} is a measured bound; it has no expression sides.")


def import_user_file(path: str | Path) -> ModuleType:
    """Import a user's Python file (claims, models) as a fresh module; any failure is one sentence."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"The file {p} does not exist.")
    name = f"attngrad_user_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise InputError(f"The file {p} is not a Python file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:
        raise InputError(f"The file {p} called sys.exit({exc.code!r}) while it was imported.") from None
    except Exception as exc:  # a user's file may raise anything
        first = (str(exc).strip().splitlines() or [""])[0]
        raise InputError(f"The file {p} could not be imported: {type(exc).__name__}: {first}") from None
    finally:
        sys.modules.pop(name, None)
    return module


def defined(module: ModuleType, kind: type) -> list:
    """Module-level objects of ``kind``, alone or inside lists and tuples, each once, in order."""
    found = []
    for value in vars(module).values():
        items = value if isinstance(value, (list, tuple)) else [value]
        found.extend(v for v in items if isinstance(v, kind))
    return list({id(v): v for v in found}.values())


def load_claims_file(path: str | Path) -> list[Claim]:
    """The claims a user's Python file defines (module-level ``Claim`` objects or lists of them)."""
    claims = defined(import_user_file(path), Claim)
    if not claims:
        raise InputError(f"The file {Path(path)} defines no claim (no module-level Claim objects).")
    return unique_ids(claims, str(Path(path)))


def unique_ids(claims: list[Claim], where: str) -> list[Claim]:
    """``claims`` when no two of them share an id (a claim is selected, and its verdict found, by its id);
    else InputError naming the id and ``where`` the claims come from."""
    seen: set[str] = set()
    for c in claims:
        if c.id in seen:
            raise InputError(f"Two claims in {where} have the id '{c.id}'; give each claim an id of its own.")
        seen.add(c.id)
    return claims


def select(claims: list[Claim], ids: tuple[str, ...] = (), paper: str | None = None) -> list[Claim]:
    """Claims by id (exact, or a prefix ending in '/' or '*') and paper key; unknown ids are an error."""
    out = claims
    if paper:
        out = [c for c in out if c.paper == paper]
        if not out:
            papers = sorted({c.paper for c in claims})
            raise InputError(f"No claim comes from paper '{paper}'; known papers: {', '.join(papers)}.")
    if ids:
        chosen: list[Claim] = []
        for i in ids:
            match = [c for c in out if c.id == i or (i.endswith(("*", "/")) and c.id.startswith(i.rstrip("*")))]
            if not match:
                raise InputError(f"Unknown claim id '{i}'; `attngrad check --list` shows the known ones.")
            chosen.extend(m for m in match if m not in chosen)
        out = chosen
    return out
