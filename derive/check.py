"""Check a claim by the tiers of design.md and return a verdict with its evidence.

Tiers, in the order they run:

1. ``mpmath-50``: both sides at 50 digits at random standard-normal inputs, sizes ascending; the
   first size where they differ by far more than the tolerance is the smallest counterexample.
2. ``index``: index notation with symbolic n, d (``derive.index``); a zero normal form is a proof
   for all sizes, anything else decides nothing.
3. ``exact``: one symbol per input entry, exp → positive symbols, ``cancel`` of the difference —
   a proof for that size (design.md tier 1). Skipped once a claim is refuted. For a numeric kernel:
   the kernel at dyadic-rational inputs (exact in floating point) against SymPy's exact value.
4. ``float64``: at real sizes, derivatives by Richardson finite differences with their error
   estimate; a numeric kernel is compared in its own dtype.

Verdicts: ``holds`` (no tier refutes, the high-precision tier passes), ``refuted`` (a counterexample
with a margin of ≥ 10¹⁵ over the tolerance), ``inconclusive`` (tiers disagree, or the difference is
between the tolerance and the refutation margin).
"""

from __future__ import annotations

import importlib
import itertools
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from attngrad.errors import InputError

from . import expr as ex
from .claims import BoundClaim, Claim, load_claims_file
from .evaluate import Evaluator, ExactField, FloatField, MpmathField, NotSymbolic

Point = dict[str, int]  # a size point: size-symbol name → value, e.g. {"n": 2, "d": 1}


def points(*nd: tuple[int, int]) -> tuple[Point, ...]:
    """Size points of the two default size symbols, from (n, d) pairs."""
    return tuple({"n": n, "d": d} for n, d in nd)


MP_SIZES = points((1, 1), (2, 1), (1, 2), (2, 2), (3, 2), (2, 3), (4, 3), (5, 4))
EXACT_SIZES = points((1, 1), (2, 1), (1, 2), (2, 2))
FLOAT_SIZES = points((24, 4), (64, 8))
EXACT_MAX = {"n": 4, "d": 3, "entries": 9}
MP_TOL = 1e-25  # relative, 50 digits with 1e-20 difference steps
MP_REFUTE = 1e-10  # relative difference that is a refutation at 50 digits
KERNEL_RTOL = {"float64": 1e-10, "float32": 2e-4}
FLOAT_RTOL = 1e-7
MAX_INDEX_SAMPLES = 24


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


# inputs ---------------------------------------------------------------------------------------
def _sizes(point: Point) -> dict[sp.Symbol, int]:
    """The substitution of a size point (symbols as ``expr.size`` makes them)."""
    return {ex.size(k): v for k, v in point.items()}


def _inputs(claim: Claim, pairs, sizes, make) -> dict[str, np.ndarray]:
    leaves: dict[str, ex.Matrix] = {}
    for lhs, rhs in pairs:
        leaves.update(ex.leaves(lhs))
        leaves.update(ex.leaves(rhs))
    out = {}
    for name in sorted(leaves):
        m = leaves[name]
        shape = (int(m.shape[0].subs(sizes)), int(m.shape[1].subs(sizes)))
        out[name] = make(name, shape)
    return out


def random_normal(seed: int, point: Point, positive: tuple[str, ...] = ()):
    """Input maker: standard normal entries from ``default_rng([seed, *point values])`` (for the default
    sizes ``[seed, n, d]``), drawn input after input in name order."""
    rng = np.random.default_rng([seed, *point.values()])

    def make(name: str, shape: tuple[int, int]) -> np.ndarray:
        a = rng.standard_normal(shape)
        return np.abs(a) + 0.5 if name in positive else a

    return make


def _index_tuples(claim: Claim, sizes, rng: random.Random, sample: bool) -> list[dict[str, int]]:
    ranges = claim.index_ranges(sizes)
    names = list(ranges)
    combos = [dict(zip(names, t)) for t in itertools.product(*(range(ranges[k]) for k in names))]
    if sample and len(combos) > MAX_INDEX_SAMPLES:
        combos = rng.sample(combos, MAX_INDEX_SAMPLES)
    return combos


def _pairs(claim: Claim, point: Point, indices: list[dict[str, int]]):
    out = []
    for idx in indices:
        lhs, rhs = claim.sides(point, idx)
        out.append((idx, lhs, rhs))
    return out


def _has(node: ex.Node, kind: type) -> bool:
    return any(isinstance(x, kind) for x in node.walk())


def _kernel_dtype(pairs) -> str | None:
    for _, lhs, rhs in pairs:
        for side in (lhs, rhs):
            for x in side.walk():
                if isinstance(x, ex.Kernel):
                    return x.dtype
    return None


# comparison -----------------------------------------------------------------------------------
@dataclass
class _Diff:
    max_abs: float
    scale: float
    worst: tuple | None = None  # (index dict, entry, lhs, rhs)
    shape_mismatch: str | None = None

    @property
    def rel(self) -> float:
        return self.max_abs / self.scale


def _compare(ev: Evaluator, pairs) -> _Diff:
    worst_abs, scale, worst = 0.0, 0.0, None
    for idx, lhs, rhs in pairs:
        a, b = ev(lhs), ev(rhs)
        if a.shape != b.shape:
            return _Diff(float("inf"), 1.0, (idx, None, None, None), f"shapes differ: {a.shape} vs {b.shape}")
        fa = np.abs(np.asarray(a, dtype=np.float64))
        diff = np.abs(np.asarray(a - b, dtype=np.float64))
        scale = max(scale, float(fa.max(initial=0.0)), float(np.abs(np.asarray(b, dtype=np.float64)).max(initial=0.0)))
        k = int(np.argmax(diff)) if diff.size else 0
        if diff.size and diff.flat[k] > worst_abs:
            worst_abs = float(diff.flat[k])
            entry = np.unravel_index(k, diff.shape)
            worst = (idx, tuple(int(e) for e in entry), a[entry], b[entry])
    return _Diff(worst_abs, max(scale, 1.0), worst)


def _fmt(x: Any) -> str:
    try:
        return mpmath.nstr(mpmath.mpf(x), 12) if not isinstance(x, float) else f"{x:.12g}"
    except (TypeError, ValueError):
        return str(x)


def _counterexample(claim, point: Point, seed, diff: _Diff, inputs: dict[str, np.ndarray]) -> dict:
    idx, entry, a, b = diff.worst
    ce: dict[str, Any] = {**point, "seed": seed, "inputs": f"N(0,1) entries from numpy default_rng([seed, "
                          f"{', '.join(point)}]), one input after another in name order"}
    if idx:
        ce["index"] = idx
    if diff.shape_mismatch:
        ce["shapes"] = diff.shape_mismatch
        return ce
    ce.update(entry=list(entry), lhs=_fmt(a), rhs=_fmt(b), max_abs_diff=float(diff.max_abs))
    if all(v.size <= 4 for v in inputs.values()):
        ce["values"] = {k: [[round(float(x), 6) for x in row] for row in v] for k, v in inputs.items()}
    return ce


# tiers ----------------------------------------------------------------------------------------
def _tier_mpmath(claim: Claim, seed: int, sizes_list, kdtype: str | None):
    field_ = MpmathField(50)
    t0 = time.perf_counter()
    rng = random.Random(seed)
    rtol = KERNEL_RTOL[kdtype] if kdtype else MP_TOL
    refute = KERNEL_RTOL[kdtype] if kdtype else MP_REFUTE
    worst_rel, worst_abs, done = 0.0, 0.0, []
    sampled = False
    for point in sizes_list:
        sizes = _sizes(point)
        indices = _index_tuples(claim, sizes, rng, sample=True)
        sampled |= len(indices) < int(np.prod(list(claim.index_ranges(sizes).values()) or [1]))
        pairs = _pairs(claim, point, indices)
        make = random_normal(seed, point, claim.positive)
        inputs = _inputs(claim, [(l, r) for _, l, r in pairs], sizes, make)
        values = {k: field_.array(v) for k, v in inputs.items()}
        with mpmath.workdps(field_.dps):
            diff = _compare(Evaluator(field_, values, sizes), pairs)
        done.append(point)
        worst_abs, worst_rel = max(worst_abs, diff.max_abs), max(worst_rel, diff.rel)
        if diff.shape_mismatch or diff.rel > refute:
            tr = TierResult("mpmath-50", "refuted", "both sides at 50 digits, derivatives by central differences (h=1e-20)",
                            done, seed, diff.max_abs, diff.rel, f"rtol={refute:.0e}", time.perf_counter() - t0)
            return tr, _counterexample(claim, point, seed, diff, inputs)
    outcome = "holds" if worst_rel <= rtol else "undecided"
    note = "indices sampled at the larger sizes" if sampled else ""
    return TierResult("mpmath-50", outcome, "both sides at 50 digits, derivatives by central differences (h=1e-20)",
                      done, seed, worst_abs, worst_rel, f"rtol={rtol:.0e}", time.perf_counter() - t0, note), None


def _tier_exact(claim: Claim, seed: int, sizes_list):
    t0 = time.perf_counter()
    rng = random.Random(seed)
    proved = []
    for point in sizes_list:
        field_ = ExactField()
        sizes = _sizes(point)
        pairs = _pairs(claim, point, _index_tuples(claim, sizes, rng, sample=False))
        values = _inputs(claim, [(l, r) for _, l, r in pairs], sizes, field_.symbols)
        ev = Evaluator(field_, values, sizes)
        try:
            for idx, lhs, rhs in pairs:
                a, b = ev(lhs), ev(rhs)
                if a.shape != b.shape:
                    return TierResult("exact", "undecided", "SymPy cancel", proved + [point], None,
                                      note=f"shapes differ: {a.shape} vs {b.shape}", seconds=time.perf_counter() - t0)
                for x, y in zip(a.reshape(-1), b.reshape(-1)):
                    if not field_.is_zero(x - y, rng):
                        where = f" at {idx}" if idx else ""
                        return TierResult("exact", "undecided", "SymPy cancel on rational functions (exp → positive symbols)",
                                          proved, None, seconds=time.perf_counter() - t0,
                                          note=f"not an identity of rational functions at {show_point(point)}{where}")
        except NotSymbolic as exc:
            return TierResult("exact", "skipped", "SymPy", [], note=str(exc), seconds=time.perf_counter() - t0)
        proved.append(point)
    return TierResult("exact", "holds", "SymPy cancel on rational functions (exp → positive symbols): a proof at each size",
                      proved, None, 0.0, 0.0, "exact", time.perf_counter() - t0)


def _tier_exact_kernel(claim: Claim, seed: int, sizes_list, kdtype: str) -> TierResult:
    """A numeric kernel at dyadic-rational inputs (exact in floating point) against the exact SymPy value."""
    t0 = time.perf_counter()
    rtol = KERNEL_RTOL[kdtype]
    worst_abs, worst_rel, done = 0.0, 0.0, []
    for point in sizes_list:
        sizes = _sizes(point)
        rng = np.random.default_rng([seed, *point.values(), 7])
        pairs = _pairs(claim, point, _index_tuples(claim, sizes, random.Random(seed), sample=True))
        floats = _inputs(claim, [(l, r) for _, l, r in pairs], sizes,
                         lambda name, shape: rng.integers(-8, 9, size=shape) / 4.0)
        exact = ExactField()
        rational = {k: np.vectorize(sp.Rational, otypes=[object])(v) for k, v in floats.items()}
        ev_f, ev_x = Evaluator(FloatField(), floats, sizes), Evaluator(exact, rational, sizes)
        for _, lhs, rhs in pairs:
            vals = []
            for side in (lhs, rhs):
                if _has(side, ex.Kernel):
                    vals.append(np.asarray(ev_f(side), dtype=np.float64))
                else:
                    back = {w: (sp.exp(g) if kind == "exp" else sp.log(g)) for w, (kind, g) in exact.opaque.items()}
                    vals.append(np.vectorize(lambda e: float(sp.N(sp.sympify(e).xreplace(back), 30)),
                                             otypes=[float])(ev_x(side)))
            diff = float(np.abs(vals[0] - vals[1]).max(initial=0.0))
            scale = max(1.0, float(np.abs(vals[1]).max(initial=0.0)))
            worst_abs, worst_rel = max(worst_abs, diff), max(worst_rel, diff / scale)
        done.append(point)
    outcome = "holds" if worst_rel <= rtol else "refuted"
    return TierResult("exact", outcome, "kernel vs SymPy's exact value at dyadic-rational inputs (30 digits)", done,
                      seed, worst_abs, worst_rel, f"rtol={rtol:.0e}", time.perf_counter() - t0)


def _tier_index(claim: Claim) -> TierResult:
    from .index import NotIndexable, equal_for_all_sizes

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


def _tier_float(claim: Claim, seed: int, sizes_list, kdtype: str | None):
    t0 = time.perf_counter()
    rng = random.Random(seed)
    rtol = KERNEL_RTOL[kdtype] if kdtype else FLOAT_RTOL
    worst_abs, worst_rel, worst_ratio, fd_err, done = 0.0, 0.0, 0.0, 0.0, []
    grads = False
    for point in sizes_list:
        sizes = _sizes(point)
        pairs = _pairs(claim, point, _index_tuples(claim, sizes, rng, sample=True))
        if any(_has(l, ex.Deriv) or _has(r, ex.Deriv) for _, l, r in pairs):
            return TierResult("float64", "skipped", "float64", [], note="entrywise derivatives are checked at 50 digits only")
        grads |= any(_has(l, ex.Grad) or _has(r, ex.Grad) for _, l, r in pairs)
        field_ = FloatField(np.float64)
        inputs = _inputs(claim, [(l, r) for _, l, r in pairs], sizes, random_normal(seed, point, claim.positive))
        diff = _compare(Evaluator(field_, inputs, sizes), pairs)
        done.append(point)
        fd_err = max(fd_err, field_.fd_error)
        worst_abs, worst_rel = max(worst_abs, diff.max_abs), max(worst_rel, diff.rel)
        worst_ratio = max(worst_ratio, diff.max_abs / (rtol * diff.scale + field_.fd_error))
    outcome = "holds" if worst_ratio <= 1 else ("refuted" if worst_ratio > 1e3 else "undecided")
    method = "float64, gradients by Richardson central differences" if grads else "float64"
    if kdtype:
        method = f"the {kdtype} kernel against the chain in float64"
    tol = f"rtol={rtol:.0e}" + (f" + fd error estimate {fd_err:.1e}" if grads else "")
    return TierResult("float64", outcome, method, done, seed, worst_abs, worst_rel, tol, time.perf_counter() - t0)


# the verdict ------------------------------------------------------------------------------------
def show_point(point: Point) -> str:
    """``2x1`` for the default sizes (n, d), else ``N=2, n=3, d=1``."""
    if list(point) == ["n", "d"]:
        return f"{point['n']}x{point['d']}"
    return ", ".join(f"{k}={v}" for k, v in point.items())


def check_exact_sizes(sizes: tuple[Point, ...]) -> None:
    for point in sizes:
        if min(point.values()) < 1:
            raise InputError(f"Size {show_point(point)} is not positive.")
        n, d = point.get("n", 1), point.get("d", 1)
        total = int(np.prod(list(point.values())))
        if n > EXACT_MAX["n"] or d > EXACT_MAX["d"] or total > EXACT_MAX["entries"]:
            raise InputError(
                f"Size {show_point(point)} is too large for the exact symbolic tier "
                f"(at most n ≤ {EXACT_MAX['n']}, d ≤ {EXACT_MAX['d']}, product of the sizes ≤ {EXACT_MAX['entries']})."
            )


def check_claim(claim: Claim, *, seed: int = 0, exact_sizes=EXACT_SIZES, mp_sizes=MP_SIZES,
                float_sizes=FLOAT_SIZES, exact: bool = True) -> Verdict:
    """Check one claim; see the module docstring for the tiers and the verdict rule."""
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
    from .relations import explain

    check_exact_sizes(tuple(exact_sizes))
    t0 = time.perf_counter()
    kdtype = _kernel_dtype(_pairs(claim, mp_sizes[0], [dict.fromkeys(claim.over, 0)]))
    tiers: list[TierResult] = []
    mp, ce = _tier_mpmath(claim, seed, mp_sizes, kdtype)
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
            exact_tier = _tier_exact_kernel(claim, seed, exact_sizes, kdtype)
        else:
            exact_tier = _tier_exact(claim, seed, exact_sizes)
        fl = _tier_float(claim, seed, float_sizes, kdtype)
        tiers += [_tier_index(claim), exact_tier, fl]
        outcomes = {t.outcome for t in tiers}
        if "refuted" in outcomes:
            verdict = "refuted" if "undecided" not in outcomes else "inconclusive"
        elif mp.outcome == "holds" and "undecided" not in outcomes:
            verdict = "holds"
        else:
            verdict = "inconclusive"
    return Verdict(claim.id, claim.source, claim.printed, claim.statement, verdict, tiers, ce, relation,
                   time.perf_counter() - t0)


# measured bounds --------------------------------------------------------------------------------------------
def _plain(x: Any) -> Any:
    """A JSON-friendly copy of a measured value (mpmath numbers as floats)."""
    if isinstance(x, (mpmath.mpf, np.floating)):
        return float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def check_bound(claim: BoundClaim, *, seed: int = 0) -> Verdict:
    """A bound claim's verdict: each probe measures its instances afresh (inputs from ``seed``). An instance
    with measured > bound + its rounding allowance refutes the claim (the first one is the counterexample, later
    probes are skipped); one inside the allowance decides nothing (inconclusive). Tightness: max(measured/bound)."""
    t0 = time.perf_counter()
    tiers: list[TierResult] = []
    ce: dict | None = None
    tightness: float | None = None
    sign = "≤" if claim.relation == "<=" else "="
    for probe in claim.probes:
        if ce is not None:
            tiers.append(TierResult(probe.tier, "skipped", probe.method, note="refuted by an earlier tier"))
            continue
        tp = time.perf_counter()
        outcome, done, top, tight, at, allowance = "holds", [], 0.0, 0.0, None, 0.0
        try:
            for inst in probe.instances:
                m = probe.measure(dict(inst), seed)
                done.append(dict(inst))
                meas, bound = m.measured, m.bound
                ratio = float(meas / bound) if bound != 0 else (0.0 if meas == 0 else float("inf"))
                top, allowance = max(top, float(meas)), max(allowance, float(m.allowance))
                if ratio >= tight:
                    tight, at = ratio, inst
                ok = meas <= bound if claim.relation == "<=" else meas == bound
                if ok:
                    continue
                if claim.relation == "<=" and meas <= bound + m.allowance:
                    outcome = "undecided"
                    continue
                outcome = "refuted"
                ce = {**inst, "seed": seed, "measured": _plain(meas), "bound": _plain(bound), "ratio": ratio,
                      **{k: _plain(v) for k, v in m.detail.items()}}
                break
        except InputError:
            raise
        except (ValueError, ArithmeticError) as exc:
            raise InputError(f"Claim {claim.id} could not be measured: {str(exc).strip().rstrip('.')}.") from None
        tightness = tight if tightness is None else max(tightness, tight)
        where = ", ".join(f"{k}={v}" for k, v in (at or {}).items())
        tol = f"measured {sign} bound" + (f" (rounding allowance up to {allowance:.1e})" if allowance else "")
        tiers.append(TierResult(probe.tier, outcome, probe.method, done, seed, top, None, tol, time.perf_counter() - tp,
                                f"tightness max(measured/bound) = {tight:.3g} at {where}"))
    outcomes = {t.outcome for t in tiers}
    verdict = "refuted" if "refuted" in outcomes else ("holds" if outcomes <= {"holds"} else "inconclusive")
    return Verdict(claim.id, claim.source, claim.printed, claim.statement, verdict, tiers, ce, None,
                   time.perf_counter() - t0, tightness)


# many claims, in worker processes ----------------------------------------------------------------------------
def _tasks(claims: list[Claim]) -> list[list[int]]:
    """Claim indices in tasks: a group's claims together (they compile one kernel), every other claim alone."""
    tasks: list[list[int]] = []
    where: dict[str, list[int]] = {}
    for i, c in enumerate(claims):
        if c.group and c.group in where:
            where[c.group].append(i)
        else:
            tasks.append([i])
            if c.group:
                where[c.group] = tasks[-1]
    return tasks


_LOADED: dict[str, list[Claim]] = {}


def claims_of(source: str, reload: bool = False) -> list[Claim]:
    """The claims of a source, built once per process (again with ``reload``: a user's file may have changed since).

    ``source`` is a Python file that defines claims (a user's ``--file``) or ``package.module:function``, a function
    returning a list of claims (the built-in ones: ``attngrad.derive.papers.registry:builtin_claims``). The engine
    knows no paper: whoever calls it names the source."""
    if reload or source not in _LOADED:
        _LOADED[source] = load_claims(source)
    return _LOADED[source]


def load_claims(source: str) -> list[Claim]:
    """The claims of ``source`` (see ``claims_of``), built afresh."""
    if source.endswith(".py") or ":" not in source:
        return load_claims_file(source)
    module, _, function = source.partition(":")
    return list(getattr(importlib.import_module(module), function)())


def _run_task(source: str, ids: list[str], indices: list[int], kwargs: dict) -> list[tuple[int, Verdict]]:
    claims = claims_of(source)
    out = []
    for i, claim_id in zip(indices, ids):
        claim = claims[i]
        if claim.id != claim_id:  # the worker built the claims differently: never check the wrong one
            raise InputError(f"Claim {claim_id} could not be rebuilt in a worker process (found {claim.id}).")
        out.append((i, check_claim(claim, **kwargs)))
    return out


def check_all(claims: list[Claim], source: str, *, jobs: int = 1, progress=None, **kwargs) -> list[Verdict]:
    """Verdicts of ``claims`` in order. ``source`` says where they come from (a user's
    file; see ``claims_of``), so that with ``jobs`` > 1 worker processes can rebuild them by position; each task (a group of claims
    that share a kernel, or one claim) runs in one worker, largest groups first. ``progress()`` after each claim.
    Claims that cannot be found again by id in the source (or repeat an id) are checked here, one by one."""
    known = [c.id for c in claims_of(source)] if jobs > 1 else []
    index = {cid: i for i, cid in enumerate(known)}
    if jobs <= 1 or len(claims) < 2 or len(index) != len(known) or any(c.id not in index for c in claims):
        out = []
        for c in claims:
            out.append(check_claim(c, **kwargs))
            if progress:
                progress()
        return out
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    tasks = sorted(_tasks(claims), key=len, reverse=True)
    verdicts: dict[int, Verdict] = {}
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_run_task, source, [claims[k].id for k in t], [index[claims[k].id] for k in t], kwargs)
                   for t in tasks]
        for fut in as_completed(futures):
            for i, v in fut.result():
                verdicts[i] = v
                if progress:
                    progress()
    return [verdicts[index[c.id]] for c in claims]
