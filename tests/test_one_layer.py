"""The one-layer model (docs/mathematics.md §3): closed-form gradients vs NumPy finite differences, slips refuted."""

import numpy as np
import pytest
import sympy as sp

from attngrad.derive import Claim, Grad, check_claim
from attngrad.derive import expr as ex
from attngrad.derive.evaluate import Evaluator, FloatField
from attngrad.derive.papers.one_layer import KERNELS, SIZES, WEIGHTS, one_layer
from attngrad.numeric import check_grad


def numpy_loss(kernel, Xs, Ys, W):
    """f = (1/2N) Σ ‖S_i V_i W_O − Y_i‖², typed from docs/mathematics.md §3 independently of the chain."""
    d = W["W_Q"].shape[1]
    total = 0.0
    for X, Y in zip(Xs, Ys):
        Q, K, V = X @ W["W_Q"], X @ W["W_K"], X @ W["W_V"]
        if kernel == "softmax":
            s = Q @ K.T / np.sqrt(d)
        else:
            s = -((Q[:, None, :] - K[None, :, :]) ** 2).sum(-1) / (2 * np.sqrt(d))
        if kernel == "gaussian":
            S = np.exp(s)
        else:
            S = np.exp(s - s.max(1, keepdims=True))
            S /= S.sum(1, keepdims=True)
        total += 0.5 * np.sum((S @ V @ W["W_O"] - Y) ** 2)
    return total / len(Xs)


@pytest.mark.parametrize("kernel", KERNELS)
def test_closed_forms_match_numpy_finite_differences(kernel):
    N, n, D, d, dv, dy = 3, 5, 4, 3, 2, 2
    rng = np.random.default_rng(1)
    Xs = [0.7 * rng.standard_normal((n, D)) for _ in range(N)]
    Ys = [rng.standard_normal((n, dy)) for _ in range(N)]
    W = {"W_Q": rng.standard_normal((D, d)), "W_K": rng.standard_normal((D, d)),
         "W_V": rng.standard_normal((D, dv)), "W_O": rng.standard_normal((dv, dy))}
    m = one_layer(kernel, N)
    values = {**W, **{f"X_{i}": x for i, x in enumerate(Xs)}, **{f"Y_{i}": y for i, y in enumerate(Ys)}}
    ev = Evaluator(FloatField(), values, {ex.n: n, ex.d: d, ex.size("D"): D, ex.size("dv"): dv, ex.size("dy"): dy})
    assert ev(m.loss)[0, 0] == pytest.approx(numpy_loss(kernel, Xs, Ys, W), rel=1e-12)
    for w in WEIGHTS:
        res = check_grad(lambda v, w=w: numpy_loss(kernel, Xs, Ys, {**W, w: v}), ev(m[f"∇{w}"]), W[w], name=w)
        assert res.ok, str(res)


def test_slips_are_refuted():
    """Gaussian ∇W_Q without its diag(M1)Q term, and softmax ∇W_K with P in place of Pᵀ."""
    root = sp.sqrt(ex.d)

    def build(kernel, weight, slip):
        def lhs(c):
            m = one_layer(kernel, c.N)
            return Grad(m.loss, m.inputs()[weight])

        def rhs(c):
            m = one_layer(kernel, c.N)
            X = [m.inputs()[f"X_{i}"] for i in range(c.N)]
            return _sum([x.T @ slip(m, i) / root for i, x in enumerate(X)])

        return Claim(f"t/{kernel}-{weight}", "a slip", lhs, rhs, printed=True, sizes=SIZES)

    no_diag = build("gaussian", "W_Q", lambda m, i: m[f"M_{i}"] @ m[f"K_{i}"])
    untransposed = build("softmax", "W_K", lambda m, i: m[f"P_{i}"] @ m[f"Q_{i}"])
    right = build("softmax", "W_K", lambda m, i: m[f"P_{i}"].T @ m[f"Q_{i}"])
    assert check_claim(no_diag, exact=False).verdict == "refuted"
    v = check_claim(untransposed, exact=False)
    assert v.verdict == "refuted" and v.counterexample["n"] == 2  # at n = 1, P is 1×1 and equals Pᵀ
    assert check_claim(right).verdict == "holds"


def _sum(terms):
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


@pytest.mark.parametrize("kernel", ["softmax", "gaussian", "gaussian-normalised"])
def test_w_v_alone_at_zero_queries_stops_at_the_targets_spread(kernel):
    """docs/mathematics.md §3.3 (zero-query-loss-floor): with W_Q = 0, GD on W_V alone ends on the floor
    (1/2N) Σ_i ‖Y_i − 1Ȳ_iᵀ‖², computed here from the targets by NumPy, and not below it."""
    from attngrad.numeric.simulate import simulate
    from attngrad.numeric.sweep_spec import resolve, settings_of

    settings = settings_of(resolve({"scale.W_Q": 0.0, "steps": 3000}))
    Y = np.asarray(settings.instance(0).Y, float)
    floor = sum(float(np.sum((y - y.mean(axis=0)) ** 2)) for y in Y) / (2 * len(Y))
    run = simulate([kernel], [("W_V",)], [0], settings, workers=1)[0]
    final = run.losses[run.last]
    assert floor > 1.0 and run.outcome(settings.target) == "stalled"
    assert final >= floor * (1 - 1e-12) and final == pytest.approx(floor, rel=1e-9)


def test_the_regime_claims_hold_and_their_tempting_slips_are_refuted():
    """docs/mathematics.md §3.3: the hull, equal-rows and loss-floor claims hold in every tier; the same statements
    with a slip (uniform rows for the normalised Gaussian kernel, the unnormalised Gaussian rows summing to one) are
    refuted with a counterexample."""
    from attngrad.derive.expr import RowSum
    from attngrad.derive.papers import one_layer_regimes as reg

    for claim in reg.claims():
        assert check_claim(claim).verdict == "holds", claim.id
    n = ex.n
    slips = [
        Claim("slip/uniform-normalised", "", lambda c: reg._zero_query("gaussian-normalised", c.N)["S_0"],
              ex.Fill(sp.Integer(1) / n, n, n), sizes=SIZES),
        Claim("slip/gaussian-rows-sum-to-one", "", lambda c: RowSum(one_layer("gaussian", c.N)["S_0"]),
              ex.Fill(1, n, 1), sizes=SIZES),
    ]
    for slip in slips:
        v = check_claim(slip, exact=False)
        assert v.verdict == "refuted" and v.counterexample, slip.id
