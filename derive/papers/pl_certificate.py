"""A local convergence certificate in the style of the PL* ball theorems (docs/mathematics.md §3.2), derived by
SymPy and printed for the sweeps (numeric/generated/pl_certificate.py).

The theorem used (Liu, Zhu & Belkin 2022, *Loss landscapes and optimization in over-parameterized non-linear
systems and neural networks*, Thm 6, for f = (1/2N)‖F(w) − y‖²): if f is L-smooth and μ-PL* (½‖∇f‖² ≥ μf) on the
ball B(w₀, R), R = 2√(2Lf₀)/μ, then GD with 0 < η ≤ 1/L never leaves B and f_t ≤ (1 − ημ)^t f₀. The steps below
derive the radius from the descent lemma and the linear rate (rate/linear); a sweep evaluates R at initialisation
(μ₀ = λ_min(J₀J₀ᵀ)/N, L̂₀ = λ_max(J₀J₀ᵀ)/N, f₀) and measures along each path what has no closed form.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from attngrad.derive.derivation import Bound, cited_step, name_symbols, pretty, verified_step

from .pl_bounds import L, eta, f0, linear_rate, mu, t

q, p, x = sp.symbols("q p x", positive=True)
dist = sp.Symbol("d_T", nonnegative=True)
name_symbols({q: ("q", "q"), dist: ("Σ‖w_(t+1) − w_t‖", r"\sum_t \|w_{t+1} - w_t\|")})

RADIUS = 2 * sp.sqrt(2 * L * f0) / mu  # the ball's radius (Thm 6)
PATH = eta * sp.sqrt(2 * L * f0) / (1 - sp.sqrt(1 - eta * mu))  # the bound on the path length it comes from


def _gradient_by_loss() -> bool:
    """Descent lemma at η = 1/L: f − ‖∇f‖²/(2L) ≥ f* ≥ 0, i.e. ‖∇f‖² ≤ 2Lf."""
    return sp.simplify((eta - L * eta**2 / 2).subs(eta, 1 / L) - 1 / (2 * L)) == 0


def _step_length() -> bool:
    """η√(2L f_t) with f_t ≤ q^(2t) f₀ (q = √(1 − ημ)) is η√(2Lf₀)·q^t."""
    return sp.simplify(eta * sp.sqrt(2 * L * q ** (2 * t) * f0) - eta * sp.sqrt(2 * L * f0) * q**t) == 0


def _geometric_sum() -> bool:
    """Σ_{t≥0} q^t = 1/(1 − q) for 0 < q < 1 (q = 1/(1 + p), p > 0)."""
    s = sp.summation((1 / (1 + p)) ** t, (t, 0, sp.oo))
    return sp.simplify(s - 1 / (1 - 1 / (1 + p))) == 0


def _square_root_bound() -> bool:
    """1 − √(1 − x) ≥ x/2 on [0, 1]: (1 − x/2)² − (1 − x) = x²/4 ≥ 0 and 1 − x/2 ≥ 0."""
    return sp.expand((1 - x / 2) ** 2 - (1 - x)) == x**2 / 4


@lru_cache(maxsize=None)
def pl_ball() -> Bound:
    b = Bound("certificate/pl-ball", "A certificate at initialisation: PL* on a ball around w₀ gives linear "
              "convergence inside it",
              ["f = (1/2N)‖F(w) − y‖² ≥ 0 is L-smooth on B(w₀, R) and μ-PL* there: ½‖∇f‖² ≥ μ·f",
               "R = 2√(2Lf₀)/μ (Liu, Zhu & Belkin 2022, Thm 6)", "constant step 0 < η ≤ 1/L"],
              sp.And(sp.Le(dist, RADIUS), sp.Le(sp.Function("f")(t), (1 - eta * mu) ** t * f0)))
    rate = linear_rate()
    b.steps = [
        cited_step("f(w − η∇f) ≤ f − (η − Lη²/2)‖∇f‖² for L-smooth f", "descent lemma (Nesterov 2004, Lemma 1.2.3)"),
        verified_step("at η = 1/L: 0 ≤ f − ‖∇f‖²/(2L), so ‖∇f‖ ≤ √(2Lf)", "derived by SymPy (substitution)",
                      _gradient_by_loss),
        verified_step(f"while the iterates are in B: f_t ≤ (1 − ημ)^t f₀ (rate/linear, {len(rate.steps)} steps)",
                      "the derivation rate/linear, verified", lambda: rate.verified),
        verified_step("‖w_(t+1) − w_t‖ = η‖∇f_t‖ ≤ η√(2Lf₀)·q^t with q = √(1 − ημ)", "derived by SymPy",
                      _step_length),
        verified_step("Σ_t q^t = 1/(1 − q) for 0 < q < 1", "derived by SymPy (summation)", _geometric_sum),
        verified_step("1 − √(1 − ημ) ≥ ημ/2 (0 < ημ ≤ 1)", "derived by SymPy: the squares differ by (ημ)²/4",
                      _square_root_bound),
        verified_step(f"path length ≤ {pretty(PATH)} ≤ {pretty(RADIUS)} = R", "derived by SymPy",
                      lambda: sp.simplify(eta * sp.sqrt(2 * L * f0) * 2 / (eta * mu) - RADIUS) == 0),
        cited_step("by induction every iterate stays in B, where the hypotheses hold, so every step above applies",
                   "Liu, Zhu & Belkin 2022, Thm 6"),
    ]
    b.formulas = {"radius": RADIUS, "path_bound": PATH, "steps_to": rate.formulas["steps"]}
    return b


def printed_formulas() -> dict[str, sp.Expr]:
    """What numeric/generated/pl_certificate.py holds: the radius, the path bound, the steps to a loss ε."""
    return dict(pl_ball().formulas)


#: the certificate, by id
CERTIFICATE_BOUNDS = {"certificate/pl-ball": pl_ball}
