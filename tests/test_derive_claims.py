"""Claims and verdicts: each verdict the checker computes is compared with an independent NumPy check."""

import numpy as np
import pytest

from attngrad.derive import Claim, Grad, Kron, Matrix, Vec, check_claim, d, exp, half_sq_norm, log, n
from attngrad.derive.papers.alman_song import SCALES, alman_song, claims
from attngrad.derive.check import EXACT_MAX, points, random_normal
from attngrad.derive.claims import load_claims_file, select
from attngrad.errors import InputError

FAST = dict(float_sizes=points((12, 3)), mp_sizes=points((1, 1), (2, 1), (1, 2), (2, 2), (3, 2), (4, 3)))


def _by_id(cid):
    return select(claims(), (cid,))[0]


def _numpy_inputs(n_, d_, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in [(n_, d_)] * 4 + [(d_, d_)] * 2]


def test_tensor_trick_verdicts_match_numpy():
    A1, A2, _, _, X, _ = _numpy_inputs(4, 3)
    lhs = A1 @ X @ A2.T
    for order, np_order in (("row", "C"), ("col", "F")):
        truth = np.allclose(lhs.reshape(-1, order=np_order), np.kron(A1, A2) @ X.reshape(-1, order=np_order))
        v = check_claim(_by_id(f"alman-song-2024/fact-3.8/{order}-major"), **FAST)
        assert v.verdict == ("holds" if truth else "refuted")
    # the explanation the checker gives for column-major vec is itself true
    assert np.allclose(lhs.reshape(-1, order="F"), np.kron(A2, A1) @ X.reshape(-1, order="F"))
    assert "Kronecker factors swapped" in check_claim(_by_id("alman-song-2024/fact-3.8/col-major"), **FAST).relation


def _numpy_grad(A1, A2, A3, Em, Y, X, k, h=1e-6):
    def L(X_):
        S = k * A1 @ X_ @ A2.T
        f = np.exp(S - S.max(1, keepdims=True))
        f /= f.sum(1, keepdims=True)
        return 0.5 * np.sum((f @ A3 @ Y - Em) ** 2)

    g = np.zeros_like(X)
    for idx in np.ndindex(*X.shape):
        e = np.zeros_like(X)
        e[idx] = h
        g[idx] = (L(X + e) - L(X - e)) / (2 * h)
    return g, L


def test_printed_D3_and_D5_are_refuted_as_numpy_confirms():
    """q = h cᵀ (D.3) and p̃₂ = f diag(r) (D.5) give a wrong gradient; the transposed / row forms are right."""
    A1, A2, A3, Em, X, Y = _numpy_inputs(3, 2, seed=1)
    g, _ = _numpy_grad(A1, A2, A3, Em, Y, X, 1.0)
    S = A1 @ X @ A2.T
    f = np.exp(S) / np.exp(S).sum(1, keepdims=True)
    h = A3 @ Y
    c = f @ h - Em

    def grad_with(q, right=False):
        r = (f * q).sum(1)
        p2 = f * r[None, :] if right else f * r[:, None]
        return A1.T @ (f * q - p2) @ A2

    assert np.allclose(grad_with(c @ h.T), g, atol=1e-7)
    assert not np.allclose(grad_with(h @ c.T), g, atol=1e-3)
    assert not np.allclose(grad_with(c @ h.T, right=True), g, atol=1e-3)
    v3 = check_claim(_by_id("alman-song-2024/lemma-D.3"), **FAST)
    v5 = check_claim(_by_id("alman-song-2024/lemma-D.5-factors"), **FAST)
    assert (v3.verdict, v5.verdict) == ("refuted", "refuted")
    assert "q_D3ᵀ in place of q_D3" in v3.relation
    assert "rows scaled" in v5.relation
    # the smallest counterexample: at n = 1 both forms coincide (1×1 q, f = 1), so n = 2 is minimal
    assert v3.counterexample["n"] == 2 and v3.counterexample["d"] == 1
    A1, A2, A3, Em, X, Y = _numpy_inputs(1, 1, seed=2)
    f1 = np.ones((1, 1))
    c1 = f1 @ A3 @ Y - Em
    assert np.allclose(c1 @ (A3 @ Y).T, (A3 @ Y) @ c1.T)


def test_lemma_C7_on_def_1_2_is_off_by_1_over_d():
    A1, A2, A3, Em, X, Y = _numpy_inputs(3, 2, seed=4)
    g, _ = _numpy_grad(A1, A2, A3, Em, Y, X, 1 / 2)
    S = A1 @ X @ A2.T / 2
    f = np.exp(S) / np.exp(S).sum(1, keepdims=True)
    q = (f @ A3 @ Y - Em) @ (A3 @ Y).T
    printed = A1.T @ (f * q - f * (f * q).sum(1, keepdims=True)) @ A2
    assert np.allclose(g, printed / 2, atol=1e-7) and not np.allclose(g, printed, atol=1e-3)
    v = check_claim(_by_id("alman-song-2024/lemma-C.7@def-1.2"), **FAST)
    assert v.verdict == "refuted" and "(1/d)" in v.relation
    assert v.counterexample["d"] == 2  # at d = 1 the factor 1/d is 1


@pytest.mark.parametrize("scale", list(SCALES))
def test_project_gradient_claims_hold_and_agree_with_numpy(scale):
    for which in ("X", "Y"):
        v = check_claim(_by_id(f"attngrad/grad-{which}[{scale}]"), exact_sizes=points((1, 1), (2, 1), (1, 2)), **FAST)
        assert v.verdict == "holds", v
        exact = [t for t in v.tiers if t.tier == "exact"][0]
        assert exact.outcome == "holds" and exact.sizes == list(points((1, 1), (2, 1), (1, 2)))
    # the chain's ∇X equals numpy finite differences of the loss, independently of the checker
    m = alman_song(scale)
    from attngrad.derive.evaluate import Evaluator, FloatField
    from attngrad.derive.expr import d as dd, n as nn
    A1, A2, A3, Em, X, Y = _numpy_inputs(5, 3, seed=7)
    k = {"1/d": 1 / 3, "1/sqrt(d)": 3**-0.5, "1": 1.0}[scale]
    g, _ = _numpy_grad(A1, A2, A3, Em, Y, X, k)
    ev = Evaluator(FloatField(), dict(A1=A1, A2=A2, A3=A3, E=Em, X=X, Y=Y), {nn: 5, dd: 3})
    np.testing.assert_allclose(ev(m["∇X"]), g, atol=1e-7)


def test_relation_finder_on_constructed_slips():
    """Slips made on purpose are found with the relation that was made."""
    A1, A2 = Matrix("A1", n, d), Matrix("A2", n, d)
    X = Matrix("X", d, d)
    m = alman_song("1/d")
    cases = {
        "factor": (Grad(m.loss, X), m["∇X"] * d, "(1/d)"),
        "transpose": (Grad(m.loss, X), m["∇X"].T, "transpose"),
        "kron": (Vec(A1 @ X @ A2.T, "row"), Kron(A2, A1) @ Vec(X, "row"), "Kronecker"),
        "vec": (Vec(A1 @ X @ A2.T, "row"), Kron(A1, A2) @ Vec(X, "col"), "row-major"),
    }
    for name, (lhs, rhs, expect) in cases.items():
        v = check_claim(Claim(f"t/{name}", name, lhs, rhs, printed=True), exact=False, **FAST)
        assert v.verdict == "refuted", name
        assert v.relation and expect in v.relation, (name, v.relation)


def test_inconclusive_is_reported_not_hidden():
    """A true claim that no tier can prove — log(eᴬ + eᴮ) − A = log(1 + e^(B−A)) needs log(xy) = log x + log y of a
    sum — is inconclusive: mpmath-50 holds, the exact and index tiers decide nothing, and the verdict says so."""
    A = Matrix("A", n, 1)
    B = Matrix("B", n, 1)
    c = Claim("t/log-sum", "log(exp(A)+exp(B)) − A = log(1 + exp(B − A))", log(exp(A) + exp(B)) - A,
              log(1 + exp(B - A)), printed=True)
    v = check_claim(c, **FAST)
    by = {t.tier: t.outcome for t in v.tiers}
    assert by["mpmath-50"] == "holds" and by["exact"] == "undecided" and by["index"] == "not decided"
    assert v.verdict == "inconclusive"
    # and numerically the identity is true, independently
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(3), rng.standard_normal(3)
    assert np.allclose(np.log(np.exp(a) + np.exp(b)) - a, np.log(1 + np.exp(b - a)))


def test_exact_tier_size_limit_is_a_clear_error():
    with pytest.raises(InputError, match="too large for the exact symbolic tier"):
        check_claim(_by_id("attngrad/r-from-c"), exact_sizes=points((EXACT_MAX["n"] + 1, 2)))


def test_unknown_claim_id_and_paper():
    with pytest.raises(InputError, match="Unknown claim id 'nope'"):
        select(claims(), ("nope",))
    with pytest.raises(InputError, match="No claim comes from paper"):
        select(claims(), (), "nobody-1999")
    # a prefix selects a family
    fam = select(claims(), ("alman-song-2024/lemma-B.1*",))
    assert len(fam) == 9 and all(c.id.startswith("alman-song-2024/lemma-B.1") for c in fam)


def test_claims_file_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_claims_file(tmp_path / "missing.py")
    bad = tmp_path / "bad.py"
    bad.write_text("import not_a_module_anywhere\n")
    with pytest.raises(InputError, match=r"could not be imported \(line 1\): ModuleNotFoundError"):
        load_claims_file(bad)
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(InputError, match="defines no claim"):
        load_claims_file(empty)


def test_user_claim_that_cannot_be_built_is_a_clear_error():
    X = Matrix("X", d, d)
    bad = Claim("t/bad", "shapes do not fit", lambda c: X @ Matrix("A", n, d), X)
    with pytest.raises(InputError, match="could not be built"):
        check_claim(bad, **FAST)


def test_example_claims_file_verdicts(tmp_path):
    """The README's example: causal and sigmoid gradients hold; the σ'-less slip is refuted."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "causal_claims.py"
    found = {c.id: c for c in load_claims_file(path)}
    v = {k: check_claim(c, exact_sizes=points((1, 1), (2, 1)), **FAST).verdict for k, c in found.items()}
    assert v == {"user/causal-grad-X": "holds", "user/sigmoid-grad-X": "holds", "user/sigmoid-grad-X-slip": "refuted"}


def test_random_inputs_are_reproducible_and_in_name_order():
    a = random_normal(3, {"n": 2, "d": 2})("A", (2, 2))
    b = random_normal(3, {"n": 2, "d": 2})("A", (2, 2))
    assert np.array_equal(a, b)
    assert np.array_equal(a, np.random.default_rng([3, 2, 2]).standard_normal((2, 2)))


def test_claims_with_size_symbols_of_their_own():
    """A model with a size D besides n, d: the claim names its size points; verdicts match NumPy."""
    from attngrad.derive.expr import size

    D = size("D")
    A, B = Matrix("A", n, D), Matrix("B", D, d)
    loss = half_sq_norm(A @ B)
    sizes = {"mpmath": ({"n": 1, "D": 1, "d": 1}, {"n": 2, "D": 3, "d": 1}, {"n": 3, "D": 2, "d": 2}),
             "exact": ({"n": 2, "D": 2, "d": 1},), "float64": ({"n": 9, "D": 5, "d": 3},)}
    good = check_claim(Claim("t/D-grad", "∇_B ½‖AB‖² = Aᵀ(AB)", Grad(loss, B), A.T @ (A @ B), sizes=sizes))
    assert good.verdict == "holds"
    assert [t.sizes for t in good.tiers if t.tier == "exact"][0] == [{"n": 2, "D": 2, "d": 1}]
    bad = check_claim(Claim("t/D-grad-slip", "∇_B ½‖AB‖² = 2Aᵀ(AB)", Grad(loss, B), 2 * (A.T @ (A @ B)),
                            printed=True, sizes=sizes))
    assert bad.verdict == "refuted" and "1/2" in bad.relation
    assert {k: bad.counterexample[k] for k in ("n", "D", "d")} == {"n": 1, "D": 1, "d": 1}
    # independently: the gradient of ½‖AB‖² in B is Aᵀ(AB), not twice it
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((2, 2))
    e = np.zeros_like(b)
    e[0, 1] = 1e-6
    fd = (0.5 * np.sum((a @ (b + e)) ** 2) - 0.5 * np.sum((a @ (b - e)) ** 2)) / 2e-6
    assert abs(fd - (a.T @ a @ b)[0, 1]) < 1e-6
