"""Issue 12, "a checker that is never wrong": the stronger exact tier (exp of a sum split into products, roots, logs),
its disproof at a rational point, the float64 tier's counterexample, second-order claims (nested Grad) and the verdict
rule. Every verdict or value is compared with an independent reference: NumPy, mpmath, or SymPy's own functions on
the explicit expression."""

import random

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from attngrad.derive import Claim, Grad, Matrix, check_claim, d, exp, log, n
from attngrad.derive import expr as ex
from attngrad.derive.check import points, rule
from attngrad.derive.check.tiers.exact import tier_exact
from attngrad.derive.check.verdict import TierResult
from attngrad.derive.evaluate import Evaluator, ExactField, FloatField, MpmathField
from attngrad.numeric.fdcheck import fd_gradient

FAST = {"float_sizes": points((6, 2)), "mp_sizes": points((1, 1), (2, 1), (1, 2), (2, 2), (3, 2)),
        "exact_sizes": points((1, 1), (2, 1), (1, 2))}
CE_KEYS = {"n", "d", "seed", "inputs", "entry", "lhs", "rhs", "max_abs_diff", "values"}


def _tier(v, name):
    return next(t for t in v.tiers if t.tier == name)


def _rationals(ce, name):
    return np.array([[sp.Rational(x) for x in row] for row in ce["values"][name]], dtype=object)


# the exact tier: exp of a sum, roots, logs --------------------------------------------------------------------------
def test_exp_of_a_sum_and_of_a_negation_are_proved():
    A, B = Matrix("A", n, 1), Matrix("B", n, 1)
    for lhs, rhs, truth in ((exp(A + B), exp(A) * exp(B), lambda a, b: (np.exp(a + b), np.exp(a) * np.exp(b))),
                            (exp(-A), exp(A) ** -1, lambda a, b: (np.exp(-a), 1 / np.exp(a))),
                            (exp(sp.Rational(1, 2) * A) * exp(sp.Rational(1, 2) * A), exp(A),
                             lambda a, b: (np.exp(a / 2) ** 2, np.exp(a)))):
        v = check_claim(Claim("t/exp", "exp", lhs, rhs, printed=True), **FAST)
        assert _tier(v, "exact").outcome == "holds" and v.verdict == "holds"
        a, b = np.random.default_rng(1).standard_normal((2, 5))
        np.testing.assert_allclose(*truth(a, b), rtol=1e-13)  # the identity is true, independently


@settings(max_examples=25, deadline=None)
@given(coeffs=st.lists(st.tuples(st.integers(-3, 3), st.integers(1, 3)), min_size=4, max_size=4),
       at=st.lists(st.integers(-9, 9), min_size=2, max_size=2))
def test_split_exp_and_its_derivative_match_sympy(coeffs, at):
    """Property: exp(g) in the field is exp(g), and its total derivative is SymPy's diff of the explicit exp(g)."""
    x, y = sp.symbols("x y", real=True)
    g = sum(sp.Rational(p, q) * m for (p, q), m in zip(coeffs, (1, x, x * y, y**2)))
    field = ExactField()
    e = field._exp1(g) * (1 + x)
    point = {x: sp.Rational(at[0], 4), y: sp.Rational(at[1], 4)}
    want = (sp.exp(g) * (1 + x)).xreplace(point)
    assert abs(sp.N(field.explicit(e).xreplace(point) - want, 40)) <= 1e-30 * (1 + abs(sp.N(want, 20)))
    for v in (x, y):
        ours = field.explicit(field.total_diff(e, v)).xreplace(point)
        theirs = sp.diff(sp.exp(g) * (1 + x), v).xreplace(point)
        assert abs(sp.N(ours - theirs, 40)) <= 1e-30 * (1 + abs(sp.N(theirs, 20)))


def test_roots_logs_and_positive_symbols_are_decided():
    field = ExactField()
    rng = random.Random(0)
    p, q = sp.symbols("p q", positive=True)
    x, y = sp.symbols("x y", real=True)
    s = x**2 + y**2
    w = field._exp1(x)
    proved = [sp.sqrt(p) ** 2 - p, sp.sqrt(w**2) - w, sp.sqrt(s) * sp.sqrt(s) - s, field._log1(w) - x,
              field._exp1(field._log1(p)) - p, field._log1(p * q) - field._log1(p) - field._log1(q),
              field._exp1(3 * x) / w**3 - 1, field._exp1(x / 2) ** 2 - w]
    for e in proved:
        assert field.is_zero(e, rng) is True, e
    # the same identities at 40 digits, independently
    rng_np = np.random.default_rng(2)
    for _ in range(3):
        xv, yv, pv, qv = (mpmath.mpf(float(t)) for t in rng_np.uniform(0.2, 2.0, 4))
        with mpmath.workdps(40):
            assert abs(mpmath.sqrt(xv**2 + yv**2) ** 2 - (xv**2 + yv**2)) < 1e-35
            assert abs(mpmath.log(pv * qv) - mpmath.log(pv) - mpmath.log(qv)) < 1e-35
            assert abs(mpmath.exp(xv / 2) ** 2 - mpmath.exp(xv)) < 1e-35 * mpmath.exp(xv)


def test_claim_positive_inputs_become_positive_symbols():
    """log(A∘A) = 2 log A holds for positive A only: proved with positive=('A',), undecided (never refuted) without."""
    A = Matrix("A", n, 1)
    pos, _ = tier_exact(Claim("t/log2", "", log(A * A), 2 * log(A), positive=("A",)), 0, FAST["exact_sizes"])
    real, _ = tier_exact(Claim("t/log2", "", log(A * A), 2 * log(A)), 0, FAST["exact_sizes"])
    assert pos.outcome == "holds" and real.outcome == "undecided"
    assert np.isclose(np.log(0.7 * 0.7), 2 * np.log(0.7)) and not np.isnan(np.log((-0.7) ** 2))  # true for A > 0


def test_independent_values_of_exp_symbols_are_no_disproof():
    """exp(x+y) − exp(x)exp(y) is no identity of rational functions in independent symbols, but it is zero at every
    point of x, y: the rational-function test alone must not disprove it."""
    x, y = sp.symbols("x y", real=True)
    field = ExactField(split=False)
    e = field._exp1(x + y) - field._exp1(x) * field._exp1(y)
    assert field.is_zero(e, random.Random(0)) is None and field.witness is None
    split = ExactField()
    assert split.is_zero(split._exp1(x + y) - split._exp1(x) * split._exp1(y), random.Random(0)) is True
    with mpmath.workdps(40):
        assert abs(mpmath.exp(mpmath.mpf(3) / 7 - 2) - mpmath.exp(mpmath.mpf(3) / 7) * mpmath.exp(-2)) < 1e-38


def test_a_nonzero_difference_is_disproved_at_a_consistent_point():
    x = sp.Symbol("x", real=True)
    field = ExactField()
    w = field._exp1(x)
    assert field.is_zero(w / (x**2 + 1) - w, random.Random(0)) is False
    at = field.witness[x]
    assert at != 0 and abs(mpmath.exp(at.p / mpmath.mpf(at.q)) * (1 / (1 + (at.p / mpmath.mpf(at.q)) ** 2) - 1)) > 1e-3


# a rational point where the sides differ is a disproof -------------------------------------------------------------
@settings(max_examples=8, deadline=None)
@given(k=st.sampled_from([2, 3, sp.Rational(1, 2), -1]), m=st.integers(12, 15))
def test_a_tiny_slip_is_refuted_by_the_exact_tier(k, m):
    """lhs = 10⁻ᵐX, rhs = k·10⁻ᵐX: below mpmath-50's refutation margin (relative 1e-10), disproved exactly."""
    X = Matrix("X", n, d)
    s = sp.Rational(1, 10**m)
    v = check_claim(Claim("t/tiny", "tiny", ex.Scale(s, X), ex.Scale(k * s, X), printed=True), **FAST)
    assert v.verdict == "refuted" and _tier(v, "mpmath-50").outcome != "refuted"
    assert _tier(v, "exact").outcome == "refuted"
    ce = v.counterexample
    assert CE_KEYS <= set(ce)
    xv = _rationals(ce, "X")[tuple(ce["entry"])]
    assert float(ce["lhs"]) == pytest.approx(float(s * xv), rel=1e-11)
    assert float(ce["rhs"]) == pytest.approx(float(k * s * xv), rel=1e-11)
    assert ce["max_abs_diff"] == pytest.approx(float(abs((k - 1) * s * xv)), rel=1e-11)


def test_a_slip_of_one_part_in_1e15_through_exp_is_refuted_with_its_point():
    A, B = Matrix("A", n, 1), Matrix("B", n, 1)
    c = Claim("t/eps", "", ex.Scale(1 + sp.Rational(1, 10**15), exp(A + B)), exp(A) * exp(B), printed=True)
    v = check_claim(c, **FAST)
    assert v.verdict == "refuted" and _tier(v, "exact").outcome == "refuted"
    ce = v.counterexample
    i = ce["entry"][0]
    a, b = (_rationals(ce, k)[i, 0] for k in "AB")
    with mpmath.workdps(40):
        lhs = (1 + mpmath.mpf(10) ** -15) * mpmath.exp(mpmath.mpf(a.p) / a.q + mpmath.mpf(b.p) / b.q)
        rhs = mpmath.exp(mpmath.mpf(a.p) / a.q) * mpmath.exp(mpmath.mpf(b.p) / b.q)
    assert abs(mpmath.mpf(ce["lhs"]) - lhs) < 1e-11 * abs(lhs) and abs(mpmath.mpf(ce["rhs"]) - rhs) < 1e-11 * rhs


def test_a_true_claim_the_exact_tier_cannot_prove_stays_inconclusive():
    """log(eᴬ + eᴮ) − A = log(1 + e^(B−A)) is true, but neither a rational-function identity nor disprovable."""
    A, B = Matrix("A", n, 1), Matrix("B", n, 1)
    v = check_claim(Claim("t/lse", "", log(exp(A) + exp(B)) - A, log(1 + exp(B - A)), printed=True), **FAST)
    assert _tier(v, "mpmath-50").outcome == "holds" and _tier(v, "exact").outcome == "undecided"
    assert v.verdict == "inconclusive" and v.counterexample is None
    a, b = np.random.default_rng(3).standard_normal((2, 4))
    np.testing.assert_allclose(np.log(np.exp(a) + np.exp(b)) - a, np.log1p(np.exp(b - a)), rtol=1e-13)


# second-order claims ------------------------------------------------------------------------------------------------
A_, X_, V_ = Matrix("A", n, d), Matrix("X", d, d), Matrix("V", d, d)
HVP_EXP = Grad(ex.Total(Grad(ex.Total(exp(A_ @ X_)), X_) * V_), X_)
CLOSED_EXP = A_.T @ ((A_ @ V_) * exp(A_ @ X_))  # ∇ = Aᵀexp(AX), its derivative along V: Aᵀ((AV)∘exp(AX))


def _np_hvp_exp(A, X, V, h=1e-5):
    """Central differences of the NumPy gradient Aᵀexp(AX) along V: an independent reference."""
    return (A.T @ np.exp(A @ (X + h * V)) - A.T @ np.exp(A @ (X - h * V))) / (2 * h)


def test_hessian_vector_product_of_exp_chain_is_proved_and_slips_are_refuted():
    rng = np.random.default_rng(4)
    A, X, V = rng.standard_normal((4, 3)), rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    np.testing.assert_allclose(_np_hvp_exp(A, X, V), A.T @ ((A @ V) * np.exp(A @ X)), rtol=1e-7)  # truth
    v = check_claim(Claim("t/hvp", "hvp", HVP_EXP, CLOSED_EXP, printed=True), **FAST)
    assert v.verdict == "holds" and _tier(v, "exact").outcome == "holds"
    assert _tier(v, "mpmath-50").max_rel_err < 1e-25 and "fd error estimate" in _tier(v, "mpmath-50").tolerance
    for kind, slip in (("factor", 2 * CLOSED_EXP), ("transpose", CLOSED_EXP.T)):
        bad = Claim("t/hvp-slip", "slip", HVP_EXP, slip, printed=True)
        assert check_claim(bad, **FAST).verdict == "refuted"
        tr, ce = tier_exact(bad, 0, FAST["exact_sizes"])  # the exact tier alone disproves it too
        assert tr.outcome == "refuted" and CE_KEYS <= set(ce)
        A, X, V = (np.vectorize(float)(_rationals(ce, k)) for k in "AXV")
        truth = A.T @ ((A @ V) * np.exp(A @ X))
        wrong = 2 * truth if kind == "factor" else truth.T
        np.testing.assert_allclose([float(ce["lhs"]), float(ce["rhs"])],
                                   [truth[tuple(ce["entry"])], wrong[tuple(ce["entry"])]], rtol=1e-10)


def _softmax_hvp():
    A, B, C, E = (Matrix(k, n, d) for k in "ABCE")
    F = ex.softmax_rows(A @ X_ @ B.T)
    L = ex.half_sq_norm(F @ C - E)
    hvp = Grad(ex.Total(Grad(L, X_) * V_), X_)
    Q = (F @ C - E) @ C.T
    dF = F * (A @ V_ @ B.T - ex.RowSum(F * (A @ V_ @ B.T)))
    dQ = dF @ C @ C.T
    closed = A.T @ (dF * (Q - ex.RowSum(F * Q)) + F * (dQ - ex.RowSum(dF * Q + F * dQ))) @ B
    return hvp, closed


def _np_softmax_grad(A, B, C, E, X):
    S = A @ X @ B.T
    F = np.exp(S - S.max(axis=1, keepdims=True))
    F /= F.sum(axis=1, keepdims=True)
    Q = (F @ C - E) @ C.T
    return A.T @ (F * (Q - np.sum(F * Q, axis=1, keepdims=True))) @ B


def test_hessian_vector_product_of_softmax_chain():
    hvp, closed = _softmax_hvp()
    rng = np.random.default_rng(5)
    A, B, C, E = (rng.standard_normal((4, 2)) for _ in range(4))
    X, V = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    h = 1e-5
    ref = (_np_softmax_grad(A, B, C, E, X + h * V) - _np_softmax_grad(A, B, C, E, X - h * V)) / (2 * h)
    vals = {"A": A, "B": B, "C": C, "E": E, "X": X, "V": V}
    np.testing.assert_allclose(Evaluator(FloatField(), vals, {n: 4, d: 2})(closed), ref, rtol=1e-6, atol=1e-9)
    kw = {**FAST, "exact_sizes": points((1, 1), (2, 1))}
    v = check_claim(Claim("t/hvp-softmax", "", hvp, closed, printed=True), **kw)
    assert v.verdict == "holds" and _tier(v, "exact").outcome == "holds" and _tier(v, "mpmath-50").max_rel_err < 1e-25
    assert check_claim(Claim("t/hvp-softmax-T", "", hvp, closed.T, printed=True), **kw).verdict == "refuted"


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10**6), nn=st.integers(1, 4), dd=st.integers(1, 3))
def test_nested_derivatives_at_50_digits_stay_accurate(seed, nn, dd):
    """The 50-digit field's Hessian–vector product against the closed form at 50 digits: far below 1e-25."""
    rng = np.random.default_rng(seed)
    vals = {"A": rng.standard_normal((nn, dd)), "X": rng.standard_normal((dd, dd)), "V": rng.standard_normal((dd, dd))}
    field = MpmathField(50)
    with mpmath.workdps(50):
        ev = Evaluator(field, {k: field.array(x) for k, x in vals.items()}, {n: nn, d: dd})
        got, want = ev(HVP_EXP), ev(CLOSED_EXP)
        err = max(abs(a - b) for a, b in zip(got.reshape(-1), want.reshape(-1)))
        scale = max(1, max(abs(b) for b in want.reshape(-1)))
    assert err / scale < 1e-25 and field.fd_error < 1e-25
    np.testing.assert_allclose(np.vectorize(float)(want), _np_hvp_exp(vals["A"], vals["X"], vals["V"]), rtol=1e-6,
                               atol=1e-9)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10**6), nn=st.integers(1, 5), dd=st.integers(1, 3))
def test_nested_richardson_error_estimate_covers_the_error(seed, nn, dd):
    rng = np.random.default_rng(seed)
    vals = {"A": rng.standard_normal((nn, dd)), "X": rng.standard_normal((dd, dd)), "V": rng.standard_normal((dd, dd))}
    field = FloatField()
    got = Evaluator(field, vals, {n: nn, d: dd})(HVP_EXP)
    A, X, V = vals["A"], vals["X"], vals["V"]
    want = A.T @ ((A @ V) * np.exp(A @ X))
    assert np.abs(got - want).max() <= field.fd_error


@settings(max_examples=30, deadline=None)
@given(x=st.lists(st.floats(-3, 3), min_size=1, max_size=4), delta=st.floats(1e-12, 1e-6))
def test_fd_gradient_propagates_the_error_of_each_value(x, delta):
    """fn = Σ sin x plus noise of size ≤ δ (a stand-in for an inner finite difference): with fn_error=δ the estimate
    covers the distance to the true gradient cos x."""
    def fn(v):
        noise = np.sin(1e4 * np.sum(np.arange(1, v.size + 1) * v)) * np.cos(3e3 * v.sum() + 1)
        return float(np.sum(np.sin(v)) + delta * noise)

    x0 = np.array(x)
    grad, err = fd_gradient(fn, x0, fn_error=delta)
    assert np.all(np.abs(grad - np.cos(x0)) <= err)
    _, err0 = fd_gradient(fn, x0)
    assert np.all(err >= err0)


# the float64 tier's counterexample and the verdict rule ------------------------------------------------------------
def test_a_refutation_by_the_float64_tier_alone_has_a_counterexample(monkeypatch):
    """A claim true up to n = 9 and false beyond (2X for X): only the float64 tier sees it; the exact tier's proofs
    at small sizes do not contradict a counterexample at another size."""
    monkeypatch.setattr(rule, "tier_index", lambda claim: TierResult("index", "skipped", "built per size"))
    X = Matrix("X", n, d)
    c = Claim("t/large", "", X, lambda ctx: X if ctx.n < 10 else 2 * X, printed=True)
    v = check_claim(c, **{**FAST, "float_sizes": points((12, 3))})
    assert _tier(v, "mpmath-50").outcome == "holds" and _tier(v, "exact").outcome == "holds"
    assert _tier(v, "float64").outcome == "refuted" and v.verdict == "refuted"
    ce = v.counterexample
    assert (ce["n"], ce["d"]) == (12, 3) and {"seed", "entry", "lhs", "rhs", "max_abs_diff"} <= set(ce)
    xv = np.random.default_rng([0, 12, 3]).standard_normal((12, 3))  # the tier's inputs, drawn again
    assert float(ce["lhs"]) == pytest.approx(xv[tuple(ce["entry"])], rel=1e-10)
    assert float(ce["rhs"]) == pytest.approx(2 * xv[tuple(ce["entry"])], rel=1e-10)
    assert abs(xv[tuple(ce["entry"])]) == pytest.approx(np.abs(xv).max())


def test_an_index_proof_against_a_counterexample_is_an_internal_error(monkeypatch):
    X = Matrix("X", n, d)
    monkeypatch.setattr(rule, "tier_index", lambda claim: TierResult("index", "holds", "a broken prover"))
    v = check_claim(Claim("t/x2", "", 2 * X, X, printed=True), **FAST)
    assert v.verdict == "inconclusive"
    assert "internal error: the index tier's proof contradicts mpmath-50's counterexample" in _tier(v, "index").note
    assert not np.allclose(2 * np.ones(3), np.ones(3))  # the claim is false, independently
    # an index proof at some sizes only ({"n": 1}: every d at n = 1) covers a counterexample at those sizes only
    large = Claim("t/large", "", X, lambda ctx: X if ctx.n < 10 else 2 * X, printed=True)
    for proved, verdict in (([{"n": 1}, {"n": 2}], "refuted"), ([{"n": 12}], "inconclusive")):
        monkeypatch.setattr(rule, "tier_index", lambda claim, p=proved: TierResult("index", "holds", "per n", p))
        assert check_claim(large, **{**FAST, "float_sizes": points((12, 3))}).verdict == verdict


def test_an_exact_proof_against_a_counterexample_at_its_size_is_a_contradiction(monkeypatch):
    X = Matrix("X", n, d)
    fake = TierResult("float64", "refuted", "a broken float tier", [{"n": 1, "d": 1}], 0, 1.0, 1.0)
    monkeypatch.setattr(rule, "tier_float", lambda *a: (fake, {"n": 1, "d": 1, "seed": 0}))
    monkeypatch.setattr(rule, "tier_index", lambda claim: TierResult("index", "not decided", "off"))
    v = check_claim(Claim("t/same", "", X + X, 2 * X, printed=True), **FAST)
    assert _tier(v, "exact").outcome == "holds" and v.verdict == "inconclusive"
    assert "tiers contradict: the exact tier's proof at 1x1 contradicts float64's counterexample" in _tier(v, "exact").note
    far = TierResult("float64", "refuted", "a float tier", [{"n": 24, "d": 4}], 0, 1.0, 1.0)
    monkeypatch.setattr(rule, "tier_float", lambda *a: (far, {"n": 24, "d": 4, "seed": 0}))
    assert check_claim(Claim("t/same", "", X + X, 2 * X, printed=True), **FAST).verdict == "refuted"
