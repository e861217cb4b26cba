"""The evaluators against independent references: NumPy written out by hand, SymPy's own diff of exp."""

import random

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from attngrad.derive import expr as ex
from attngrad.derive.papers.alman_song import SCALES, alman_song
from attngrad.derive.evaluate import Evaluator, ExactField, FloatField, MpmathField


def _numpy_chain(A1, A2, A3, Em, Y, X, k):
    """The loss and gradients typed directly from docs/mathematics.md §1 (independent of the expression tree)."""
    S = k * A1 @ X @ A2.T
    f = np.exp(S - S.max(axis=1, keepdims=True))
    f /= f.sum(axis=1, keepdims=True)
    c = f @ A3 @ Y - Em
    L = 0.5 * np.sum(c * c)
    q = c @ (A3 @ Y).T
    p = f * q - f * np.sum(f * q, axis=1, keepdims=True)
    return L, k * A1.T @ p @ A2, A3.T @ f.T @ c


def _inputs(n, d, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    names = ["A1", "A2", "A3", "E", "X", "Y"]
    shapes = [(n, d)] * 4 + [(d, d)] * 2
    return {k: scale * rng.standard_normal(s) for k, s in zip(names, shapes)}


@pytest.mark.parametrize("scale", list(SCALES))
@pytest.mark.parametrize("n,d", [(1, 1), (3, 2), (7, 3)])
def test_float_chain_matches_numpy(scale, n, d):
    m = alman_song(scale)
    vals = _inputs(n, d, seed=n * 10 + d)
    ev = Evaluator(FloatField(), vals, {ex.n: n, ex.d: d})
    k = float(sp.N(SCALES[scale].subs(ex.d, d)))
    L, gX, gY = _numpy_chain(vals["A1"], vals["A2"], vals["A3"], vals["E"], vals["Y"], vals["X"], k)
    assert ev(m.loss)[0, 0] == pytest.approx(L, rel=1e-12)
    np.testing.assert_allclose(ev(m["∇X"]), gX, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(ev(m["∇Y"]), gY, rtol=1e-10, atol=1e-13)


def test_mpmath_chain_matches_float_and_has_more_digits():
    n, d = 4, 3
    m = alman_song("1/d")
    vals = _inputs(n, d, seed=5)
    field = MpmathField(50)
    with mpmath.workdps(50):
        mp_vals = {k: field.array(v) for k, v in vals.items()}
        Lmp = Evaluator(field, mp_vals, {ex.n: n, ex.d: d})(m.loss)[0, 0]
    L = _numpy_chain(vals["A1"], vals["A2"], vals["A3"], vals["E"], vals["Y"], vals["X"], 1 / d)[0]
    assert float(Lmp) == pytest.approx(L, rel=1e-13)
    # the loss at 50 digits agrees with an mpmath evaluation written out entry by entry
    with mpmath.workdps(50):
        A1, A2, A3, Em, X, Y = (mpmath.matrix(vals[k].tolist()) for k in ["A1", "A2", "A3", "E", "X", "Y"])
        S = (A1 * X * A2.T) / d
        tot = mpmath.mpf(0)
        H = A3 * Y
        for j in range(n):
            w = [mpmath.exp(S[j, l]) for l in range(n)]
            a = sum(w)
            for i in range(d):
                cji = sum(w[l] / a * H[l, i] for l in range(n)) - Em[j, i]
                tot += cji**2 / 2
        assert abs(tot - Lmp) < mpmath.mpf(10) ** -40


def test_exact_total_diff_matches_sympy_diff_of_exp():
    """The chain rule through exp-symbols gives SymPy's own derivative of the explicit expression."""
    n, d = 2, 2
    m = alman_song("1/d")
    field = ExactField()
    syms = {k: field.symbols(k, s) for k, s in {"A1": (n, d), "A2": (n, d), "A3": (n, d), "E": (n, d),
                                                 "X": (d, d), "Y": (d, d)}.items()}
    ev = Evaluator(field, syms, {ex.n: n, ex.d: d})
    L = ev(m.loss)[0, 0]
    x01 = syms["X"][0, 1]
    ours = field.total_diff(L, x01)
    # explicit SymPy: the same loss with exp written out, differentiated directly
    A1, A2, A3, Em, X, Y = (sp.Matrix(syms[k]) for k in ["A1", "A2", "A3", "E", "X", "Y"])
    S = (A1 * X * A2.T) / d
    U = S.applyfunc(sp.exp)
    F = sp.diag(*[1 / sum(U.row(j)) for j in range(n)]) * U
    C = F * A3 * Y - Em
    Lx = sum(c**2 for c in C) / 2
    theirs = sp.diff(Lx, x01)
    rng = np.random.default_rng(3)
    point = {s: sp.Rational(int(rng.integers(-9, 10)), 7) for s in theirs.free_symbols}
    back = {w: sp.exp(g) for w, (kind, g) in field.opaque.items()}
    a = sp.N(ours.xreplace(back).xreplace(point), 30)
    b = sp.N(theirs.xreplace(point), 30)
    assert abs(a - b) < 1e-25 * max(1, abs(b))


def test_exact_zero_test_proves_and_refutes():
    field = ExactField()
    x, y = sp.symbols("x y", real=True)
    w = field._opaque("exp", x + y)
    rng = random.Random(0)
    assert field.is_zero((w * x + w) / (x + 1) - w, rng) is True
    assert field.is_zero(w / (x**2 + 1) - w, rng) is False


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), d=st.integers(1, 4), scale=st.sampled_from(list(SCALES)), seed=st.integers(0, 10**6),
       entry=st.sampled_from([0.1, 1.0, 3.0]))
def test_chain_gradient_matches_finite_differences(n, d, scale, seed, entry):
    """Property: the chain's closed-form ∇X, ∇Y equal Richardson finite differences of its L."""
    from attngrad.numeric.fdcheck import check_grad

    m = alman_song(scale)
    vals = _inputs(n, d, seed, entry)
    sizes = {ex.n: n, ex.d: d}

    def loss_in(name):
        def fn(v):
            return float(Evaluator(FloatField(), {**vals, name: v}, sizes)(m.loss)[0, 0])
        return fn

    ev = Evaluator(FloatField(), vals, sizes)
    for name, g in (("X", "∇X"), ("Y", "∇Y")):
        res = check_grad(loss_in(name), ev(m[g]), vals[name], name=name)
        assert res.ok, str(res)
