"""PL-type bounds for one attention layer (docs/mathematics.md §3.1), derived by SymPy, not typed.

The closed forms the numbers come from (μ, L, the rate, the step count) are the SymPy results of each derivation;
``attngrad bounds`` evaluates them on an instance next to the same quantities measured by the numeric code.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from attngrad.derive.derivation import (Bound, cited_step, claim_step, name_symbols, pretty, symbol_matrix, vec_rows,
                                        verified_step)

from . import one_layer

N = sp.Symbol("N", positive=True, integer=True)
f, f0, g2, eps = sp.symbols("f f_0 g2 epsilon", positive=True)
lam_min, lam_max = sp.symbols("lambda_min lambda_max", nonnegative=True)
eta, mu, L = sp.symbols("eta mu L", positive=True)
t = sp.Symbol("t", integer=True, nonnegative=True)
smin_F, smax_F, smin_O, smax_O = sp.symbols("sigma_min_F sigma_max_F sigma_min_O sigma_max_O", nonnegative=True)
grad_WQ = sp.Symbol("nabla_WQ_f")

name_symbols({  # how a symbol prints: (Unicode, LaTeX)
    f: ("f", "f"), f0: ("f₀", "f_0"), g2: ("‖∇f‖²", r"\|\nabla f\|^2"), eps: ("ε", r"\varepsilon"),
    lam_min: ("λ_min(JJᵀ)", r"\lambda_{\min}(JJ^\top)"), lam_max: ("λ_max(JJᵀ)", r"\lambda_{\max}(JJ^\top)"),
    eta: ("η", r"\eta"), mu: ("μ", r"\mu"), L: ("L", "L"), t: ("t", "t"), N: ("N", "N"),
    smin_F: ("σ_min(F)", r"\sigma_{\min}(F)"), smax_F: ("σ_max(F)", r"\sigma_{\max}(F)"),
    smin_O: ("σ_min(W_O)", r"\sigma_{\min}(W_O)"), smax_O: ("σ_max(W_O)", r"\sigma_{\max}(W_O)"),
    grad_WQ: ("∇_{W_Q} f", r"\nabla_{W_Q} f"),
})



def _claim_step(text: str, claim_id: str):
    """A step that is one of the one-layer claims, decided by the checker's tiers."""
    claim = next(c for c in one_layer.equal_keys_claims() if c.id == claim_id)
    return claim_step(text, claim)


# the bounds ---------------------------------------------------------------------------------------------------
def _gradient_identity() -> bool:
    """∇_w (1/2N)‖r(w)‖² = Jᵀr/N with J = ∂r/∂w, for generic functions r_k(w) (m = 3 outputs, p = 2 weights)."""
    w = sp.symbols("w0:2", real=True)
    r = sp.Matrix([sp.Function(f"r{k}")(*w) for k in range(3)])
    loss = (r.T * r)[0, 0] / (2 * N)
    grad = sp.Matrix([sp.diff(loss, x) for x in w])
    return sp.simplify(grad - r.jacobian(w).T * r / N) == sp.zeros(2, 1)


def _half_grad_identity() -> bool:
    """½‖Jᵀr/N‖² = rᵀ(JJᵀ)r/(2N²) with one symbol per entry of J (3×2) and r."""
    J, r = symbol_matrix("J", 3, 2), symbol_matrix("r", 3, 1)
    g = J.T * r / N
    return sp.expand((g.T * g)[0, 0] / 2 - (r.T * J * J.T * r)[0, 0] / (2 * N**2)) == 0


@lru_cache(maxsize=None)
def pl_any_subset() -> Bound:
    r2 = sp.Symbol("r2", positive=True)  # ‖r‖²
    half = lam_min * r2 / (2 * N**2)  # the Rayleigh–Ritz lower bound of ½‖∇f‖²
    coefficient = sp.simplify(half.subs(r2, 2 * N * f) / f)  # μ in ½‖∇f‖² ≥ μ f
    b = Bound("pl/any-subset", "PL inequality for any trainable subset of W_Q, W_K, W_V, W_O",
              ["f = (1/2N)‖r‖², r = (F_i − Y_i)_i the stacked residuals (N·n·d_y entries)",
               "J = ∂r/∂w, the Jacobian of the stacked outputs in the trained weights w",
               "J has full row rank (then λ_min(JJᵀ) > 0 and f* = 0); needs p ≥ N·n·d_y trained parameters"],
              sp.Ge(g2 / 2, coefficient * f))
    b.steps = [
        verified_step("∇f = Jᵀr/N (chain rule)", "proved by SymPy for generic r_k(w), m = 3, p = 2", _gradient_identity),
        verified_step("½‖∇f‖² = rᵀ(JJᵀ)r/(2N²)", "proved by SymPy with one symbol per entry (J: 3×2)", _half_grad_identity),
        cited_step("rᵀ(JJᵀ)r ≥ λ_min(JJᵀ)‖r‖²", "Rayleigh–Ritz, JJᵀ symmetric (Horn & Johnson, Thm 4.2.2)"),
        verified_step(f"with ‖r‖² = 2Nf: ½‖∇f‖² ≥ {pretty(coefficient)}·f", "derived by SymPy (substitution)",
               lambda: sp.simplify(coefficient - lam_min / N) == 0),
    ]
    b.formulas = {"mu": coefficient}
    return b


def _kron_jacobian() -> bool:
    """∂vec(F W_V W_O)/∂vec(W_V) = F ⊗ W_Oᵀ (row-major vec), F: 2×3, W_V: 3×2, W_O: 2×2."""
    F, WV, WO = symbol_matrix("F", 2, 3), symbol_matrix("V", 3, 2), symbol_matrix("O", 2, 2)
    J = vec_rows(F * WV * WO).jacobian(vec_rows(WV))
    return sp.expand(J - sp.kronecker_product(F, WO.T)) == sp.zeros(*J.shape)


def _kron_gram() -> bool:
    F, WO = symbol_matrix("F", 2, 3), symbol_matrix("O", 2, 2)
    J = sp.kronecker_product(F, WO.T)
    return sp.expand(J * J.T - sp.kronecker_product(F * F.T, WO.T * WO)) == sp.zeros(*(J * J.T).shape)


def _quadratic_hessian() -> bool:
    """f(W_V) = (1/2N)‖F W_V W_O − Y‖² has the constant Hessian JᵀJ/N (F: 2×3, W_V: 3×2, W_O: 2×1)."""
    F, WV, WO, Y = symbol_matrix("F", 2, 3), symbol_matrix("V", 3, 2), symbol_matrix("O", 2, 1), symbol_matrix("Y", 2, 1)
    R = F * WV * WO - Y
    loss = (R.T * R)[0, 0] / (2 * N)
    w = list(vec_rows(WV))
    J = sp.kronecker_product(F, WO.T)
    return sp.expand(sp.hessian(loss, w) - J.T * J / N) == sp.zeros(len(w), len(w))


@lru_cache(maxsize=None)
def pl_wv() -> Bound:
    mu_expr = pl_any_subset().formulas["mu"].subs(lam_min, smin_F**2 * smin_O**2)
    L_expr = (lam_max / N).subs(lam_max, smax_F**2 * smax_O**2)
    b = Bound("pl/W_V", "W_V alone: the PL constant μ and the smoothness L in closed form",
              ["only W_V is trained (W_Q, W_K, W_O fixed)",
               "F = [S_1X_1; …; S_NX_N] ∈ R^{Nn×D} (it does not depend on W_V)",
               "D ≥ Nn and d_v ≥ d_y (large embedding: F and W_Oᵀ can have full row rank)"],
              sp.And(sp.Eq(mu, mu_expr), sp.Eq(L, L_expr)))
    b.steps = [
        verified_step("J = ∂vec(F W_V W_O)/∂vec(W_V) = F ⊗ W_Oᵀ (row-major vec)",
               "proved by SymPy with one symbol per entry (F: 2×3, W_V: 3×2, W_O: 2×2)", _kron_jacobian),
        verified_step("JJᵀ = (FFᵀ) ⊗ (W_OᵀW_O)", "proved by SymPy (mixed-product rule at the same sizes)", _kron_gram),
        cited_step("the eigenvalues of A ⊗ B are the products of those of A and B, so for symmetric positive "
              "semidefinite A, B: λ_min(A⊗B) = λ_min(A)λ_min(B), λ_max(A⊗B) = λ_max(A)λ_max(B)",
              "Horn & Johnson, Topics in Matrix Analysis, Thm 4.2.12"),
        cited_step("λ_min(FFᵀ) = σ_min(F)² when D ≥ Nn, λ_min(W_OᵀW_O) = σ_min(W_O)² when d_v ≥ d_y; λ_max = σ_max²",
              "singular value decomposition"),
        verified_step(f"μ = λ_min(JJᵀ)/N = {pretty(mu_expr)}", "derived by SymPy from pl/any-subset's μ",
               lambda: sp.simplify(mu_expr - smin_F**2 * smin_O**2 / N) == 0),
        verified_step("f is quadratic in W_V with the constant Hessian JᵀJ/N",
               "proved by SymPy (F: 2×3, W_V: 3×2, W_O: 2×1)", _quadratic_hessian),
        verified_step(f"L = λ_max(JᵀJ)/N = {pretty(L_expr)}, the smoothness on all of R^{{D×d_v}}",
               "derived by SymPy", lambda: sp.simplify(L_expr - smax_F**2 * smax_O**2 / N) == 0),
    ]
    b.formulas = {"mu": mu_expr, "L": L_expr}
    return b


@lru_cache(maxsize=None)
def linear_rate() -> Bound:
    decrease = eta - L * eta**2 / 2  # descent lemma: f⁺ ≤ f − (η − Lη²/2)‖∇f‖²
    after = f - (eta / 2) * g2  # for η ≤ 1/L
    rho = sp.simplify(after.subs(g2, 2 * mu * f) / f)  # PL: ‖∇f‖² ≥ 2μf
    a = sp.Function("a")
    seq = sp.rsolve(a(t + 1) - rho * a(t), a(t), {a(0): f0})
    T = sp.solve(sp.Eq(rho**t * f0, eps), t)
    steps_expr = sp.ceiling(T[0]) if T else sp.nan
    b = Bound("rate/linear", "Linear convergence of GD and the steps to reach a loss ε",
              ["f is L-smooth on a region that holds the iterates and PL with constant μ, f* = 0",
               "constant step 0 < η ≤ 1/L (for W_V alone: everywhere, with μ, L of pl/W_V)"],
              sp.Le(sp.Function("f")(t), seq))
    b.steps = [
        cited_step("f(w − η∇f) ≤ f − (η − Lη²/2)‖∇f‖² for L-smooth f", "descent lemma (Nesterov 2004, Lemma 1.2.3)"),
        verified_step("for 0 < η ≤ 1/L: η − Lη²/2 ≥ η/2", "derived by SymPy: the difference factors as η(1 − Lη)/2",
               lambda: sp.factor(decrease - eta / 2) == sp.factor(eta * (1 - L * eta) / 2)),
        verified_step(f"with PL (‖∇f‖² ≥ 2μf): f_(t+1) ≤ ({pretty(rho)})·f_t", "derived by SymPy (substitution)",
               lambda: sp.simplify(rho - (1 - eta * mu)) == 0),
        verified_step(f"unrolled: f_t ≤ {pretty(seq)}", "derived by SymPy (rsolve of the recurrence)",
               lambda: sp.simplify(seq - (1 - eta * mu)**t * f0) == 0),
        verified_step(f"f_t ≤ ε once t ≥ {pretty(T[0]) if T else '—'}", "derived by SymPy (solve for t)",
               lambda: bool(T) and sp.simplify((rho**T[0] * f0).subs({eta: sp.Rational(1, 3), mu: sp.Rational(1, 5),
                                                                      f0: 7}) - eps) == 0),
    ]
    b.formulas = {"rate": rho, "steps": steps_expr}
    return b


@lru_cache(maxsize=None)
def softmax_degenerate() -> Bound:
    b = Bound("softmax/equal-keys", "Softmax with equal keys: a stationary point with positive loss",
              ["Softmax kernel; within each sample every key is the same: K_i = 1kᵀ (e.g. W_K = 0)",
               "any W_Q; W_V, W_O fixed or not"],
              sp.Eq(grad_WQ, 0))
    b.steps = [
        _claim_step("QKᵀ = (Qk)1ᵀ has constant rows, so S_i = 11ᵀ/n", "attngrad/one-layer/equal-keys-uniform[softmax]"),
        _claim_step("the rows of P = S∘G − diag((S∘G)1)S sum to zero (the rows of S sum to one)",
                    "attngrad/one-layer/rows-of-P-sum-to-zero[softmax]"),
        _claim_step("∇_{W_Q} f = Σ_i X_iᵀP_iK_i/√d = Σ_i X_iᵀ(P_i1)kᵀ/√d = 0",
                    "attngrad/one-layer/equal-keys-stationary[softmax]"),
        _claim_step("f = (1/2N) Σ_i ‖(1/n)11ᵀV_iW_O − Y_i‖², which does not depend on W_Q and is positive unless "
                    "every Y_i has all rows equal to the mean row of V_iW_O", "attngrad/one-layer/equal-keys-loss[softmax]"),
    ]
    return b

#: the bounds of the one-layer model, by id
BOUNDS = {"pl/any-subset": pl_any_subset, "pl/W_V": pl_wv, "rate/linear": linear_rate,
          "softmax/equal-keys": softmax_degenerate}
