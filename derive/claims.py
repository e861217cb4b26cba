"""Claims: statements ``lhs = rhs`` about a model, printed (a paper's, transcribed literally) or own.

A side is a node, or a function of a context ``ctx`` (the concrete sizes ``ctx.n``, ``ctx.d`` and
the claim's indices, e.g. ``ctx.j0``) returning a node: that is how per-row statements such as
Lemma B.1's ``d f(x)_{j0}/dx_i`` and sums over ``j0`` are written.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
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
    defined_at: ``file:line`` of the ``Claim(...)`` call that made the claim (recorded here, not given), so that a
        claim that cannot be built or evaluated is reported with the line that defined it.
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
    defined_at: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.defined_at = caller_line()

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
        out = {}
        for k, v in self.over.items():
            value = sp.sympify(v).subs(sizes)
            if value.free_symbols:
                raise InputError(missing_sizes(self.id, value.free_symbols))
            out[k] = int(value)
        return out


def missing_sizes(claim_id: str, symbols) -> str:
    """The sentence for a claim that uses size symbols with no value at a tier's size point."""
    names = sorted(str(s) for s in symbols)
    if len(names) == 1:
        return (f"Claim {claim_id} uses the size symbol {names[0]}, which has no value: give Claim(..., sizes={{...}}) "
                f"with a value of {names[0]} for each tier.")
    listed = ", ".join(names[:-1]) + " and " + names[-1]
    return (f"Claim {claim_id} uses the size symbols {', '.join(names)}, which have no value: give "
            f"Claim(..., sizes={{...}}) with a value of {listed} for each tier.")


_PACKAGE = Path(__file__).resolve().parents[1]  # the folder of the package attngrad
_SKIPPED = (str(Path(__file__)), __file__)


def caller_line() -> str:
    """``file:line`` of the code that called a claim's constructor: the first frame outside this module and the
    constructors dataclasses generate (a module of the package is shown as ``attngrad/…``, a user's file by the
    path it was imported by); "" when none."""
    frame = sys._getframe(1)
    while frame is not None and (frame.f_code.co_filename in _SKIPPED
                                 or (frame.f_code.co_filename.startswith("<") and frame.f_code.co_name == "__init__")):
        frame = frame.f_back
    if frame is None:
        return ""
    name = frame.f_code.co_filename
    if str(frame.f_globals.get("__name__", "")).startswith("attngrad."):  # the package's own claims
        try:
            name = f"attngrad/{Path(name).resolve().relative_to(_PACKAGE).as_posix()}"
        except (ValueError, OSError):
            pass
    return f"{name}:{frame.f_lineno}"


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
        line = line_in_file(exc, p)
        at = f" (line {line})" if line else ""
        raise InputError(f"The file {p} could not be imported{at}: {type(exc).__name__}: {first}") from None
    finally:
        sys.modules.pop(name, None)
    return module


def line_in_file(exc: BaseException, path: Path) -> int | None:
    """The line of ``path`` where ``exc`` arose: its last frame in that file (a syntax error's own line), or None."""
    try:
        target = path.resolve()
        if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() == target:
            return exc.lineno
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == target]
    except OSError:
        return None
    return frames[-1].lineno if frames else None


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
