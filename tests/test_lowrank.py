"""The low-rank (polynomial-method) gradient: polynomials, features, the streaming algorithm, its bounds, bad input.

References: mpmath at 30 digits (the polynomials' errors), SymPy (coefficients, the bounds' formulas), a dense
NumPy chain with every n×n matrix (the algorithm), the exact NumPy reference (the error bound), and central
finite differences (the self-attention gradients).
"""

from __future__ import annotations

import math

import mpmath
import numba
import numpy as np
import pytest
import sympy as sp
from click.testing import CliRunner

from attngrad.cli.main import main
from attngrad.errors import InputError
from attngrad.numeric import lowrank as LR
from attngrad.numeric.attention import loss_and_grad, random_inputs
from attngrad.numeric.bench_lowrank import fit_alpha, instance
from attngrad.numeric.kernel_support import split_range

CASES = [(kind, g, beta) for kind in LR.POLYNOMIALS for g, beta in ((2, 0.3), (5, 1.0), (9, 2.5), (14, 4.0))]


@pytest.mark.parametrize("kind,g,beta", CASES)
def test_polynomial_within_its_bound_at_30_digits(kind, g, beta):
    poly = LR.make_polynomial(kind, beta, degree=g)
    with mpmath.workdps(30):
        coef = [mpmath.mpf(float(c)) for c in poly.coef]
        xs = [mpmath.mpf(beta) * (2 * mpmath.mpf(i) / 400 - 1) for i in range(401)]
        worst = max(abs(mpmath.polyval(coef[::-1], x) - mpmath.exp(x)) / mpmath.exp(x) for x in xs)
    assert float(worst) <= poly.bound * (1 + 1e-9) + 1e-14
    assert float(worst) > 0


@pytest.mark.parametrize("kind", LR.POLYNOMIALS)
@pytest.mark.parametrize("g,beta", [(0, 0.0), (2, 0.3), (14, 4.0), (85, 0.01), (60, 300.0), (60, 400.0), (400, 2.0),
                                    (3, 800.0)])
def test_error_bound_matches_the_sympy_formula_in_floats_and_beyond_them(kind, g, beta):
    """The float path and the mpmath fallback (near underflow at (85, 0.01); a float product that overflows to inf
    although the bound is representable at (60, 400); beyond float range at (60, 300) and (3, 800); below it at
    (400, 2)) against the SymPy closed form at 40 digits."""
    from attngrad.derive.papers.lowrank_bounds import printed_formulas

    expr = printed_formulas()[kind.replace("-", "_")]
    sym = {str(v): v for v in expr.free_symbols}
    want = sp.N(expr.subs({sym["g"]: g, sym["beta"]: sp.Rational(str(beta))}), 40)
    got = LR.error_bound(kind, g, beta)
    if want > sp.Float("1.7e308"):
        assert got == math.inf
    else:
        assert got == pytest.approx(float(want), rel=1e-12, abs=0.0)  # 0 only where float(want) underflows to 0


@pytest.mark.parametrize("g", [0, 1, 4, 7])
def test_shifted_taylor_coefficients_match_sympy_expansion(g):
    x, b = sp.symbols("x beta")
    beta = 0.7
    expr = sp.exp(-b) * sum((x + b) ** j / sp.factorial(j) for j in range(g + 1))
    want = [float(c) for c in reversed(sp.Poly(sp.expand(expr.subs(b, sp.Rational(7, 10))), x).all_coeffs())]
    got = LR.make_polynomial("taylor-shifted", beta, degree=g).coef
    np.testing.assert_allclose(got, want, rtol=1e-13)


@pytest.mark.parametrize("kind", LR.POLYNOMIALS)
@pytest.mark.parametrize("beta,eps", [(0.25, 1e-6), (1.5, 1e-9), (3.0, 1e-4)])
def test_degree_is_the_smallest_meeting_eps_by_the_derived_formula(kind, beta, eps):
    from attngrad.derive.papers import lowrank_bounds as P

    formula = {"taylor-shifted": P.shifted_taylor_bound, "taylor": P.taylor_bound,
               "chebyshev": P.chebyshev_bound}[kind]().formulas[kind.replace("-", "_")]
    bound = lambda g: float(formula.subs({P.beta: sp.Float(beta, 30), P.g: g}).evalf(30))  # noqa: E731
    g = LR.choose_degree(kind, beta, eps)
    assert bound(g) <= eps
    assert g == 0 or bound(g - 1) > eps


@pytest.mark.parametrize("kind,d,g", [("taylor-shifted", 3, 4), ("chebyshev", 4, 3), ("taylor", 2, 6)])
def test_features_have_rank_binomial_and_factor_the_polynomial(kind, d, g):
    s = 1 / d
    poly = LR.make_polynomial(kind, 1.0, degree=g)
    feat = LR.features(poly, d, scale=s)
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-1, 1, (7, d)) / math.sqrt(d), rng.uniform(-1, 1, (5, d)) / math.sqrt(d)
    L, R = feat.left(x), feat.right(y)
    assert feat.rank == math.comb(d + g, g) == L.shape[1] == R.shape[1] == len({tuple(e) for e in feat.exponents})
    with mpmath.workdps(30):
        coef = [mpmath.mpf(float(c)) for c in poly.coef][::-1]
        want = np.array([[float(mpmath.polyval(coef, mpmath.mpf(s) * sum(mpmath.mpf(float(a)) * mpmath.mpf(float(b))
                                                                      for a, b in zip(xi, yj)))) for yj in y] for xi in x])
    np.testing.assert_allclose(L @ R.T, want, rtol=1e-12, atol=1e-14)


def _dense_chain(A1, A2, A3, E, Y, X, s, poly):
    """The project's corrected Section-D chain with every n×n matrix: f̃ = diag(P(S)1)⁻¹P(S)."""
    S = s * A1 @ X @ A2.T
    u = poly(S)
    f = u / u.sum(axis=1, keepdims=True)
    h = A3 @ Y
    c = f @ h - E
    q = c @ h.T
    p1 = f * q
    p = p1 - p1.sum(axis=1, keepdims=True) * f
    return 0.5 * (c * c).sum(), s * A1.T @ p @ A2, A3.T @ f.T @ c


@pytest.mark.parametrize("kind,g", [("taylor", 2), ("chebyshev", 3), ("taylor-shifted", 5)])
@pytest.mark.parametrize("seed", [0, 1])
def test_streaming_algorithm_equals_the_dense_chain_with_the_same_polynomial(kind, g, seed):
    a = random_inputs(37, 3, seed=seed, entry_scale=0.7)
    res = LR.lowrank_loss_and_grad(**a, poly=kind, degree=g, block=8)
    loss, gX, gY = _dense_chain(*(a[k] for k in ("A1", "A2", "A3", "E", "Y", "X")), 1 / 3, res.poly)
    assert res.loss == pytest.approx(loss, rel=1e-11)
    np.testing.assert_allclose(res.grad_X, gX, rtol=1e-10, atol=1e-12 * np.abs(gX).max())
    np.testing.assert_allclose(res.grad_Y, gY, rtol=1e-10, atol=1e-12 * np.abs(gY).max())


def test_streaming_blocks_equal_one_block_to_rounding():
    a = random_inputs(203, 4, seed=5)
    one = LR.lowrank_loss_and_grad(**a, eps=1e-8, block=203)
    for block in (1, 17, 64):
        many = LR.lowrank_loss_and_grad(**a, eps=1e-8, block=block)
        np.testing.assert_allclose(many.grad_X, one.grad_X, rtol=1e-12, atol=1e-15 * np.abs(one.grad_X).max())
        np.testing.assert_allclose(many.grad_Y, one.grad_Y, rtol=1e-12, atol=1e-15 * np.abs(one.grad_Y).max())


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads")
@pytest.mark.parametrize("block", [5, 64])
def test_worker_threads_equal_one_thread_to_rounding(monkeypatch, block):
    a = random_inputs(203, 4, seed=6)
    one = LR.lowrank_loss_and_grad(**a, eps=1e-8, block=block, workers=1)
    monkeypatch.setattr(LR, "MIN_THREAD_WORK", 1)  # small work on two threads too
    two = LR.lowrank_loss_and_grad(**a, eps=1e-8, block=block, workers=2)
    assert (one.workers, two.workers) == (1, 2)
    assert two.loss == pytest.approx(one.loss, rel=1e-13)
    np.testing.assert_allclose(two.grad_X, one.grad_X, rtol=1e-12, atol=1e-15 * np.abs(one.grad_X).max())
    np.testing.assert_allclose(two.grad_Y, one.grad_Y, rtol=1e-12, atol=1e-15 * np.abs(one.grad_Y).max())
    G = np.random.default_rng(1).normal(size=(203, 4))
    W, WV = np.random.default_rng(2).normal(size=(2, 4, 4)) * 0.3
    s1 = LR.self_attention_grads(a["A1"], W, WV, G, eps=1e-8, block=block, workers=1)
    s2 = LR.self_attention_grads(a["A1"], W, WV, G, eps=1e-8, block=block, workers=2)
    for x, y in zip(s1[:2], s2[:2]):
        np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-15 * np.abs(x).max())


@pytest.mark.parametrize("n,parts", [(1, 2), (7, 2), (203, 2), (10, 3), (2, 5)])
def test_row_ranges_partition_the_rows(n, parts):
    ranges = split_range(n, parts)
    assert [i for r0, r1 in ranges for i in range(r0, r1)] == list(range(n))
    assert len(ranges) == min(n, parts) and max(r1 - r0 for r0, r1 in ranges) - min(r1 - r0 for r0, r1 in ranges) <= 1


@pytest.mark.parametrize("bad_row", [None, 0, 3])
def test_score_norms_match_numpy_and_keep_a_nan_row(bad_row):
    T, K = np.random.default_rng(3).normal(size=(2, 5, 3))
    if bad_row is not None:
        T[bad_row, 1] = np.nan
    got = LR.score_norms(T, K)
    want = (np.sqrt((T * T).sum(axis=1).max()), np.sqrt((K * K).sum(axis=1).max()))
    np.testing.assert_allclose(got, want, rtol=1e-15)  # NaN where NumPy gives NaN (assert_allclose: NaN == NaN)
    assert math.isnan(got[0]) == (bad_row is not None)


@pytest.mark.parametrize("k", [-1000, -600, -501, 0, 499, 600, 1000])
def test_score_norms_neither_overflow_nor_underflow_on_the_way(k):
    """Rows scaled by 2ᵏ have norms 2ᵏ·‖R_i‖ exactly; the squares of such entries would over- or underflow."""
    T, K = np.random.default_rng(4).normal(size=(2, 6, 5))
    got = LR.score_norms(T * 2.0**k, K * 2.0**-k)
    want = (np.sqrt((T * T).sum(axis=1).max()) * 2.0**k, np.sqrt((K * K).sum(axis=1).max()) * 2.0**-k)
    np.testing.assert_allclose(got, want, rtol=4e-16 * 5)
    assert got[0] * got[1] == pytest.approx(want[0] * want[1], rel=1e-14)  # β is finite and right


def test_default_workers_follow_the_work_per_thread():
    n, k, d = 5120, 55, 9
    work = n * k * (d * d + 2 * d + 1)
    assert work >= 2 * LR.MIN_THREAD_WORK and LR.default_workers(2, n, k, d) == 2
    assert LR.default_workers(2, 160, 15, 4) == 1 == LR.default_workers(1, n, k, d)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("kind", LR.POLYNOMIALS)
def test_error_within_the_claimed_bound_on_random_instances(seed, kind):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(20, 120)), int(rng.integers(1, 5))
    a = random_inputs(n, d, seed=seed, entry_scale=float(rng.uniform(0.2, 0.7)))
    eps = float(10.0 ** rng.uniform(-8, -2))
    res = LR.lowrank_loss_and_grad(**a, poly=kind, eps=eps)
    exact = loss_and_grad(**a, method="reference")
    err = np.abs(res.grad_X - exact.grad_X).max()
    assert res.exp_bound <= eps
    assert err <= res.grad_bound  # a violated bound fails the test
    # the softmax bound: |f̃ − f| ≤ ε_f f entrywise, measured on the dense matrices
    S = (1 / d) * a["A1"] @ a["X"] @ a["A2"].T
    assert np.abs(S).max() <= res.beta * (1 + 1e-12)
    f = np.exp(S - S.max(axis=1, keepdims=True))
    f /= f.sum(axis=1, keepdims=True)
    u = res.poly(S)
    ft = u / u.sum(axis=1, keepdims=True)
    assert (np.abs(ft - f) <= res.softmax_bound * f * (1 + 1e-9) + 1e-300).all()


def test_measure_reports_errors_against_the_exact_kernel():
    a = random_inputs(300, 4, seed=2, entry_scale=0.5)
    res = LR.lowrank_loss_and_grad(**a, eps=1e-7, measure=True)
    exact = loss_and_grad(**a, method="reference")
    diff = res.grad_X - exact.grad_X
    m = res.measured
    assert m["abs_inf"] == pytest.approx(np.abs(diff).max(), rel=1e-6)
    assert m["rel_fro"] == pytest.approx(np.linalg.norm(diff) / np.linalg.norm(exact.grad_X), rel=1e-6)
    assert m["multilayer"] == pytest.approx(np.linalg.norm(diff) / np.linalg.norm(res.grad_X + exact.grad_X), rel=1e-6)
    assert m["grad_bound_holds"] is True and m["rel_inf"] < 1e-6


def test_float32_inputs_give_float32_results_close_to_float64():
    a = random_inputs(64, 4, seed=1)
    r64 = LR.lowrank_loss_and_grad(**a, eps=1e-8)
    r32 = LR.lowrank_loss_and_grad(**{k: v.astype(np.float32) for k, v in a.items()}, eps=1e-8)
    assert r32.grad_X.dtype == np.float32
    np.testing.assert_allclose(r32.grad_X, r64.grad_X, rtol=0, atol=2e-6 * np.abs(r64.grad_X).max() + 1e-7)


def _attn_loss(Xt, W, WV, G, s):
    S = s * Xt @ W @ Xt.T
    f = np.exp(S - S.max(axis=1, keepdims=True))
    f /= f.sum(axis=1, keepdims=True)
    return float((G * (f @ Xt @ WV)).sum())


def test_self_attention_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    n, d = 9, 3
    Xt, W, WV, G = rng.standard_normal((n, d)), 0.5 * rng.standard_normal((d, d)), rng.standard_normal((d, d)), \
        rng.standard_normal((n, d))
    gW, gWV, poly = LR.self_attention_grads(Xt, W, WV, G, eps=1e-12)
    s, h = 1 / d, 1e-5
    for M, grad in ((W, gW), (WV, gWV)):
        fd = np.zeros_like(M)
        for i in range(d):
            for j in range(d):
                Mp, Mm = M.copy(), M.copy()
                Mp[i, j] += h
                Mm[i, j] -= h
                args = lambda m: (Xt, m, WV, G) if M is W else (Xt, W, m, G)  # noqa: E731
                fd[i, j] = (_attn_loss(*args(Mp), s) - _attn_loss(*args(Mm), s)) / (2 * h)
        np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-8)


def test_fit_alpha_recovers_a_power_law():
    ns = [2**k for k in range(10, 15)]
    assert fit_alpha(ns, [3e-9 * n**1.5 for n in ns]) == pytest.approx(1.5, abs=1e-12)
    assert fit_alpha(ns[:2], [1.0, 2.0]) is None


def test_bench_instance_has_the_requested_beta():
    a = instance(100, 4, 0.25, 0)
    assert LR._pass_settings((1 / 4) * a["A1"] @ a["X"], a["A2"], "taylor", 2, 1e-6, None, None).beta == pytest.approx(0.25)


# bad input -------------------------------------------------------------------------------------------------------
def test_beta_too_large_names_the_limit_and_rank():
    a = random_inputs(50, 8, seed=0, entry_scale=3.0)
    with pytest.raises(InputError, match=r"too large for relative accuracy .* degree above 60 and rank C\(8\+60, 60\)"):
        LR.lowrank_loss_and_grad(**a, eps=1e-6)


def test_rank_beyond_memory_names_the_rank():
    a = random_inputs(50, 16, seed=0)
    with pytest.raises(InputError, match=r"Degree 40 needs rank C\(16\+40, 40\) = [\d,]+, .* beyond the limit"):
        LR.lowrank_loss_and_grad(**a, degree=40)


@pytest.mark.parametrize("kwargs,match", [({"poly": "pade"}, "poly must be one of"), ({"eps": 0.0}, "eps must be"),
                                          ({"eps": "1e-6"}, "eps must be"), ({"poly": ["taylor"]}, "poly must be one of"),
                                          ({"degree": -1}, "degree must be"), ({"block": 0}, "block must be"),
                                          ({"workers": 0}, "workers must be")])
def test_bad_options(kwargs, match):
    with pytest.raises(InputError, match=match):
        LR.lowrank_loss_and_grad(**random_inputs(10, 2), **kwargs)


def test_nan_input_is_one_sentence():
    a = random_inputs(10, 2)
    a["A2"][3, 1] = np.nan
    with pytest.raises(ValueError, match="A2 contains NaN or Inf values."):
        LR.lowrank_loss_and_grad(**a)


@pytest.mark.parametrize("args,match", [
    (["bench", "lowrank", "--n", "200", "--d", "8", "--beta", "50", "--repeats", "1", "--no-memory"], "too large"),
    (["phase", "--eps", "2"], "--eps must be"),
    (["bench", "lowrank", "--eps", "1e-6", "--degree", "3"], "not both"),
])
def test_cli_bad_input_exits_2_with_one_line(args, match):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    assert match in res.output and "Traceback" not in res.output


def test_bench_lowrank_cli_rows_match_a_recomputation():
    import json

    res = CliRunner().invoke(main, ["bench", "lowrank", "--n", "64,128,256", "--d", "2", "--beta", "0.5", "--degree", "2",
                                    "--poly", "taylor", "--repeats", "1", "--no-memory", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [r["n"] for r in out["rows"]] == [64, 128, 256] and len(out["fits"]) == 1
    for r in out["rows"]:
        a = instance(r["n"], 2, 0.5, 0)
        approx = LR.lowrank_loss_and_grad(**a, degree=2, poly="taylor").grad_X
        exact = loss_and_grad(**a, method="reference").grad_X
        assert r["errors"]["rel_inf"] == pytest.approx(np.abs(approx - exact).max() / np.abs(exact).max(), rel=1e-6)
        assert r["speedup"] == pytest.approx(r["generated"]["median_s"] / r["lowrank"]["median_s"])
        peers = [m for m in ("torch-autograd", "torch-sdpa", "jax-jit-grad") if "median_s" in r.get(m, {})]
        if peers:  # the peers extra installed: the speed-up against the fastest of them too
            fastest = min(r[m]["median_s"] for m in peers)
            assert r["speedup_vs_peer"] == pytest.approx(fastest / r["lowrank"]["median_s"])
        assert r["rank"] == math.comb(2 + 2, 2)


def test_phase_cli_degrees_follow_the_bound_and_small_c_is_measured():
    import json

    res = CliRunner().invoke(main, ["phase", "--n", "64,512", "--c", "0.25,2", "--d", "2", "--repeats", "1", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for r in out["rows"]:
        assert r["beta"] == pytest.approx((r["c"] * math.sqrt(math.log(r["n"]))) ** 2)
        g = r["degree"]
        assert LR.error_bound(r["poly"], g, r["beta"]) <= 1e-6 < LR.error_bound(r["poly"], g - 1, r["beta"])
        assert r["rank"] == math.comb(2 + g, g)
    beyond = [r for r in out["rows"] if r["degree"] > LR.MAX_DEGREE]
    assert beyond and all(r["status"].startswith("degree beyond") and r.get("lowrank_s") is None for r in beyond)
    small = [r for r in out["rows"] if r["c"] == 0.25]
    assert all(r["status"] == "measured" and r["lowrank_s"] > 0 for r in small)
