"""Index notation with symbolic n, d against concrete evaluation."""

import numpy as np
import sympy as sp

from attngrad.derive import RowSum, expr as ex
from attngrad.derive.papers.alman_song import E, alman_song
from attngrad.derive.evaluate import Evaluator, FloatField
from attngrad.derive.index import NotIndexable, entry_expr, equal_for_all_sizes


def test_entry_expressions_evaluate_to_the_concrete_chain():
    """Each index-notation entry, summed out at n=3, d=2 with numbers, equals the float evaluator's entry."""
    m = alman_song("1/d")
    n, d = 3, 2
    rng = np.random.default_rng(0)
    vals = {k: rng.standard_normal(s) for k, s in
            {"A1": (n, d), "A2": (n, d), "A3": (n, d), "E": (n, d), "X": (d, d), "Y": (d, d)}.items()}
    ev = Evaluator(FloatField(), vals, {ex.n: n, ex.d: d})
    vals["f"] = ev(m["f"])  # the opaque definition, by value
    i, j = sp.symbols("i j", integer=True)
    for name in ("S", "c", "q", "r", "p", "∇X"):
        node = m[name]
        e = entry_expr(node, i, j).subs({ex.n: n, ex.d: d}).doit()
        want = ev(node)
        for a in range(want.shape[0]):
            for b in range(want.shape[1]):
                got = e.subs({i: a, j: b}).doit()
                got = got.replace(lambda x: isinstance(x, sp.Indexed),
                                  lambda x: sp.Float(vals[str(x.base)][int(x.indices[0]), int(x.indices[1])], 30))
                assert abs(float(got) - want[a, b]) < 1e-10 * max(1, abs(want[a, b])), (name, a, b)


def test_r_identity_is_proved_for_all_sizes_and_a_wrong_one_is_not():
    m = alman_song("1/d")
    assert equal_for_all_sizes(m["r"], RowSum(m["c"] * (m["c"] + E)))
    assert not equal_for_all_sizes(m["r"], RowSum(m["c"] * (m["c"] - E)))
    # a matrix-product associativity / transpose rule, for all sizes
    A, B = ex.Matrix("A", ex.n, ex.d), ex.Matrix("B", ex.d, ex.n)
    assert equal_for_all_sizes((A @ B).T, B.T @ A.T)
    assert not equal_for_all_sizes((A @ B).T, A @ B)


def test_derivatives_are_not_indexable():
    m = alman_song("1/d")
    try:
        equal_for_all_sizes(ex.Grad(m.loss, ex.Matrix("X", ex.d, ex.d)), m["∇X"])
    except NotIndexable:
        return
    raise AssertionError("Grad should not be indexable")
