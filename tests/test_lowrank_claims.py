"""The low-rank claims (derive/papers/lowrank*.py, derive/papers/liang.py): the face-splitting node, measured-bound claims, and a
sample of verdicts, each against an independent reference (explicit loops, NumPy, finite differences)."""

import json
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from click.testing import CliRunner

from attngrad.cli.main import main
from attngrad.derive import BoundClaim, FaceSplit, Matrix, Measurement, Probe, check_claim, show
from attngrad.derive import expr as ex
from attngrad.derive.papers import lowrank as LR
from attngrad.derive.papers import lowrank_measured as LM
from attngrad.derive.check import check_all, points
from attngrad.derive.papers.registry import BUILTIN
from attngrad.derive.claims import select
from attngrad.derive.papers.registry import builtin_claims
from attngrad.derive.evaluate import Evaluator, ExactField, FloatField, MpmathField
from attngrad.errors import InputError

FAST = dict(float_sizes=points((12, 3)), mp_sizes=points((1, 1), (2, 1), (1, 2), (2, 2), (3, 2)))


def _claim(cid):
    return select(builtin_claims(), (cid,))[0]


def _face_split_loop(a, b):
    """(a ⊘ b)[i, l1 + k1·l2] = a[i, l1]·b[i, l2], written as loops."""
    n_, k1 = a.shape
    k2 = b.shape[1]
    out = np.empty((n_, k1 * k2), dtype=np.result_type(a, b))
    for i in range(n_):
        for l1 in range(k1):
            for l2 in range(k2):
                out[i, l1 + k1 * l2] = a[i, l1] * b[i, l2]
    return out


# the node ---------------------------------------------------------------------------------------------------------
def test_face_split_node_matches_loops_in_every_field():
    k1, k2 = ex.size("k1"), ex.size("k2")
    A, B = Matrix("A", ex.n, k1), Matrix("B", ex.n, k2)
    node = FaceSplit(A, B)
    sizes = {ex.n: 3, k1: 2, k2: 4}
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((3, 4))
    got = Evaluator(FloatField(), {"A": a, "B": b}, sizes)(node)
    assert got.shape == (3, 8) and np.array_equal(got, _face_split_loop(a, b))
    mp = MpmathField(50)
    with mpmath.workdps(50):
        got_mp = Evaluator(mp, {"A": mp.array(a), "B": mp.array(b)}, sizes)(node)
        assert np.array_equal(np.asarray(got_mp, dtype=float), _face_split_loop(a, b))
    exact = ExactField()
    sa, sb = exact.symbols("A", (3, 2)), exact.symbols("B", (3, 4))
    got_ex = Evaluator(exact, {"A": sa, "B": sb}, sizes)(node)
    loop = _face_split_loop(sa, sb)
    assert all(sp.expand(x - y) == 0 for x, y in zip(got_ex.reshape(-1), loop.reshape(-1)))
    assert show(node) == "A⊘B" and node.shape == (ex.n, k1 * k2)
    with pytest.raises(ValueError, match="row counts"):
        FaceSplit(A, Matrix("C", ex.d, k2))


def test_face_splitting_identity_holds_and_matches_numpy():
    v = check_claim(_claim("attngrad/lowrank/face-splitting"))
    assert v.verdict == "holds" and {t.tier: t.outcome for t in v.tiers}["exact"] == "holds"
    rng = np.random.default_rng(2)
    u1, v1, u2, v2 = (rng.standard_normal(s) for s in [(5, 3), (4, 3), (5, 2), (4, 2)])
    assert np.allclose((u1 @ v1.T) * (u2 @ v2.T), _face_split_loop(u1, u2) @ _face_split_loop(v1, v2).T)


# the claim kind -----------------------------------------------------------------------------------------------------
def _sqrt_claim(bound_factor, allowance=0.0, printed=False):
    """|√(1+x) − 1 − x/2| ≤ c·x²/8 at x ∈ {0.01, 0.1, 0.5, 1}: true for c ≥ 1 (an alternating series with
    decreasing terms for 0 ≤ x ≤ 1), with ratio → 1 as x → 0; false for c < 1 at small x."""
    def measure(inst, seed):
        x = mpmath.mpf(inst["x"])
        with mpmath.workdps(50):
            return Measurement(abs(mpmath.sqrt(1 + x) - 1 - x / 2), bound_factor * x**2 / 8, allowance)
    inst = tuple({"x": x, "n": 1} for x in (0.01, 0.1, 0.5, 1.0))
    return BoundClaim("test/sqrt", "√(1+x) ≈ 1 + x/2", lhs="|√(1+x) − 1 − x/2|", rhs=f"{bound_factor}·x²/8",
                      printed=printed, probes=(Probe("mpmath-50", "50 digits", inst, measure),))


def test_bound_claim_true_bound_holds_with_its_tightness():
    v = check_claim(_sqrt_claim(1.0))
    assert v.verdict == "holds" and v.counterexample is None
    # independently: the largest ratio is at the smallest x, where it tends to 1
    ratios = [abs(math.sqrt(1 + x) - 1 - x / 2) / (x * x / 8) for x in (0.01, 0.1, 0.5, 1.0)]
    assert v.tightness == pytest.approx(max(ratios), rel=1e-9)
    assert v.to_dict()["tightness"] == v.tightness
    assert v.tiers[0].max_abs_err == pytest.approx(abs(math.sqrt(2) - 1.5), rel=1e-12)


def test_bound_claim_false_bound_is_refuted_with_a_counterexample():
    v = check_claim(_sqrt_claim(0.5, printed=True), seed=7)
    assert v.verdict == "refuted"
    ce = v.counterexample
    assert ce["seed"] == 7 and ce["x"] == 0.01 and ce["n"] == 1  # the first instance already violates it
    assert ce["measured"] > ce["bound"] and ce["measured"] == pytest.approx(abs(math.sqrt(1.01) - 1.005), rel=1e-9)
    assert ce["ratio"] == pytest.approx(ce["measured"] / ce["bound"])


def test_bound_claim_inside_the_rounding_allowance_is_inconclusive():
    # c = 0.99 is violated by ~1 % of the bound; an allowance of that size decides nothing
    assert check_claim(_sqrt_claim(0.99, allowance=1e-2)).verdict == "inconclusive"
    assert check_claim(_sqrt_claim(0.99)).verdict == "refuted"


def test_bound_claims_in_worker_processes_and_cli():
    ids = ("attngrad/lowrank/rank-q", "alman-song-2024/lemma-D.3-rank")
    claims = select(builtin_claims(), ids)
    here = [check_claim(c) for c in claims]
    there = check_all(claims, BUILTIN, jobs=2)
    assert [(v.verdict, v.tightness) for v in here] == [(v.verdict, v.tightness) for v in there]
    res = CliRunner().invoke(main, ["check", *ids, "--json", "--jobs", "1"])
    out = json.loads(res.stdout)
    assert res.exit_code == 0 and [c["tightness"] for c in out["claims"]] == [v.tightness for v in here]
    listed = CliRunner().invoke(main, ["check", "--list", "attngrad/lowrank/*"])
    assert "attngrad/lowrank/gradient-error" in listed.output and "attngrad/lowrank/face-splitting" in listed.output


# a sample of verdicts ------------------------------------------------------------------------------------------------
def _inputs(n_, d_, k_=None, seed=0):
    rng = np.random.default_rng(seed)
    out = {k: rng.standard_normal(s) for k, s in [("A1", (n_, d_)), ("A2", (n_, d_)), ("A3", (n_, d_)),
                                                  ("E", (n_, d_)), ("X", (d_, d_)), ("Y", (d_, d_))]}
    if k_:
        out["U1"], out["V1"] = rng.standard_normal((n_, k_)), rng.standard_normal((n_, k_))
    return out


def test_lowrank_chain_matches_a_dense_numpy_gradient():
    """g̃ from the factors (no n×n matrix) equals s·A₁ᵀ(f̃∘q̃ − diag((f̃∘q̃)1)f̃)A₂ typed in NumPy."""
    n_, d_, k_ = 7, 3, 4
    x = _inputs(n_, d_, k_, seed=3)
    m = LR.alman_song_lowrank("1/d")
    ev = Evaluator(FloatField(), x, {ex.n: n_, ex.d: d_, LR.k: k_})
    ft = x["U1"] @ x["V1"].T
    h = x["A3"] @ x["Y"]
    c = ft @ h - x["E"]
    p1 = ft * (c @ h.T)
    want = (x["A1"].T @ (p1 - p1.sum(1, keepdims=True) * ft) @ x["A2"]) / d_
    assert np.allclose(ev(m["∇̃X"]), want, rtol=1e-12, atol=1e-12)
    assert np.allclose(ev(m["r̃"])[:, 0], p1.sum(1))
    assert check_claim(_claim("attngrad/lowrank/chain-gradient")).verdict == "holds"


def test_printed_D4_uses_the_transposed_q_and_the_exchange_fixes_it():
    x = _inputs(3, 2, seed=4)
    S = x["A1"] @ x["X"] @ x["A2"].T
    f = np.exp(S) / np.exp(S).sum(1, keepdims=True)
    h = x["A3"] @ x["Y"]
    c = f @ h - x["E"]
    I = np.eye(3)
    printed = _face_split_loop(f, h) @ _face_split_loop(I, c).T
    assert np.allclose(printed, f * (h @ c.T)) and not np.allclose(printed, f * (c @ h.T))
    assert np.allclose(_face_split_loop(f, c) @ _face_split_loop(I, h).T, f * (c @ h.T))
    v = check_claim(_claim("alman-song-2024/lemma-D.4/gradient"), **FAST)
    assert v.verdict == "refuted" and "second factors exchanged" in v.relation
    assert check_claim(_claim("alman-song-2024/lemma-D.4/hadamard"), **FAST).verdict == "holds"


def _attention_grads(Xs, W, WV, G, s, h=1e-6):
    def loss(W_, WV_):
        S = s * Xs @ W_ @ Xs.T
        f = np.exp(S - S.max(1, keepdims=True))
        f /= f.sum(1, keepdims=True)
        return np.sum(G * (f @ Xs @ WV_))

    def fd(which):
        base = W if which == 0 else WV
        g = np.zeros_like(base)
        for idx in np.ndindex(*base.shape):
            e = np.zeros_like(base)
            e[idx] = h
            args_p, args_m = [W, WV], [W, WV]
            args_p[which], args_m[which] = base + e, base - e
            g[idx] = (loss(*args_p) - loss(*args_m)) / (2 * h)
        return g
    return fd(0), fd(1)


def test_liang_lemmas_against_finite_differences():
    rng = np.random.default_rng(5)
    n_, d_ = 4, 3
    Xs, W, WV, G = (rng.standard_normal(s) for s in [(n_, d_), (d_, d_), (d_, d_), (n_, d_)])
    S = Xs @ W @ Xs.T / d_
    f = np.exp(S) / np.exp(S).sum(1, keepdims=True)
    q = G @ (Xs @ WV).T
    p = f * q - (f * q).sum(1, keepdims=True) * f
    gW, gWV = _attention_grads(Xs, W, WV, G, 1 / d_)
    assert np.allclose(gW, Xs.T @ p @ Xs / d_, atol=1e-7) and not np.allclose(gW, Xs.T @ p @ Xs, atol=1e-3)
    assert np.allclose(gWV, Xs.T @ f.T @ G, atol=1e-7) and not np.allclose(gWV, Xs.T @ f @ G, atol=1e-3)
    # the default 50-digit sizes reach d = 4, so a factor 1/d is told apart from 1/2
    f4, g3 = (check_claim(_claim(i)) for i in ("liang-2024/lemma-F.4", "liang-2024/lemma-G.3"))
    assert (f4.verdict, g3.verdict) == ("refuted", "refuted")
    assert "1/d" in f4.relation and "fᵀ in place of f" in g3.relation
    for cid in ("liang-2024/lemma-F.4@scale-free", "attngrad/liang/grad-W[1/d]", "attngrad/liang/grad-W_V[1/d]"):
        assert check_claim(_claim(cid), **FAST).verdict == "holds", cid


def test_polynomial_error_claim_measures_what_numpy_measures():
    """The shifted-Taylor error on [−β, β] by the claim's 50-digit grid equals a float64 NumPy evaluation of
    e^{−β}Σ(x+β)ʲ/j! on the same grid, and the bound is (2β)^{g+1}/(g+1)!."""
    g, beta = 4, 0.5
    a = LR.mp_numbers(LR.reference_coefficients("taylor-shifted", g, beta))
    err, at = LR.relative_error(a, beta)
    xs = np.linspace(-beta, beta, 601)
    P = np.exp(-beta) * sum((xs + beta) ** j / math.factorial(j) for j in range(g + 1))
    rel = np.abs(P - np.exp(xs)) / np.exp(xs)
    assert float(err) == pytest.approx(rel.max(), rel=1e-9) and float(at) == pytest.approx(xs[rel.argmax()])
    assert LR.poly_bound("taylor-shifted", beta, g) == pytest.approx((2 * beta) ** (g + 1) / math.factorial(g + 1))
    v = check_claim(_claim("attngrad/lowrank/taylor-shifted-error"))
    assert v.verdict == "holds" and 0 < v.tightness <= 1


def test_chebyshev_reference_interpolates_exp_at_the_chebyshev_points():
    g, beta = 5, 1.5
    a = [float(c) for c in LR.mp_numbers(LR.reference_coefficients("chebyshev", g, beta))]
    pts = beta * np.cos((2 * np.arange(g + 1) + 1) * np.pi / (2 * g + 2))
    assert np.allclose(np.polynomial.polynomial.polyval(pts, a), np.exp(pts), rtol=1e-13)
    assert np.allclose(a, np.polynomial.Chebyshev.interpolate(np.exp, g, domain=[-beta, beta]).convert(
        kind=np.polynomial.Polynomial).coef, rtol=1e-10, atol=1e-14)


def test_softmax_absolute_bound_is_tight_at_one_half():
    """|f̃ − f| ≤ ε/(2(1−ε)): at f = (½, ½) with ũ = u∘(1+ε, 1−ε) the error is ε/2, the bound's limit."""
    eps = 1e-3
    u = np.array([1.0, 1.0])
    ut = u * np.array([1 + eps, 1 - eps])
    err = np.abs(ut / ut.sum() - 0.5).max()
    assert err == pytest.approx(eps / 2) and err <= eps / (2 * (1 - eps))
    v = check_claim(_claim("attngrad/lowrank/softmax-abs-error"))
    assert v.verdict == "holds" and v.tightness > 0.8


def test_rank_claims_match_numpy_ranks():
    for inst in LM.RANK_INSTANCES:
        x = LM.draw_factors(inst, 0)
        ft = x["U1"] @ x["V1"].T
        h = x["A3"] @ x["Y"]
        c = ft @ h - x["E"]
        assert np.linalg.matrix_rank(c @ h.T) == min(inst["n"], inst["d"])
        assert np.linalg.matrix_rank(ft * (c @ h.T)) == min(inst["n"], inst["k"] * inst["d"])
    verdicts = {c: check_claim(_claim(c)) for c in ("attngrad/lowrank/rank-q", "alman-song-2024/lemma-D.3-rank")}
    assert all(v.verdict == "holds" for v in verdicts.values())
    # D.3's k₂ = max{d, k} + d against the true rank d: the tightness is d/(max{d,k}+d) at most ½
    assert verdicts["alman-song-2024/lemma-D.3-rank"].tightness == max(
        min(i["n"], i["d"]) / (max(i["d"], i["k"]) + i["d"]) for i in LM.RANK_INSTANCES)


def test_gradient_error_claims_hold_and_the_kernel_reports_the_same_bound():
    from attngrad.numeric.lowrank import lowrank_loss_and_grad

    inst = LM.KERNEL_GRAD_INSTANCES[0]
    m = LM.grad_error_kernel(False)(inst, 0)
    assert float(m.bound) == pytest.approx(m.detail["kernel_grad_bound"], rel=1e-12)
    x = LR.draw_inputs(inst, 0)
    res = lowrank_loss_and_grad(*(x[k] for k in ("A1", "A2", "A3", "E", "Y", "X")), eps=inst["eps"], measure=True)
    assert float(m.measured) == pytest.approx(res.measured["abs_inf"], rel=1e-6)
    for cid in ("attngrad/lowrank/gradient-error", "alman-song-2024/lemma-D.6-error"):
        v = check_claim(_claim(cid))
        assert v.verdict == "holds" and [t.tier for t in v.tiers] == ["mpmath-50", "float64"], cid


def test_bound_claim_has_no_expression_sides():
    with pytest.raises(InputError, match="measured bound"):
        _claim("attngrad/lowrank/rank-q").sides({"n": 1, "d": 1})
