"""The low-rank factor of exp and its error, derived by SymPy (docs/mathematics.md §1.6, §2).

Alman & Song's almost-linear gradient (Section D, from AS23) replaces exp(S) by P(S) entrywise, P a polynomial
of degree g, and factors P(S) = U₁V₁ᵀ through monomial features. This module holds every formula that path
depends on — the polynomials' relative-error bounds on [−β, β], the rank of the features, the error of the
row-normalised f̃, and the propagation of that error to ∇_X L (the printed D.6 bound and the project's tighter
one) — as SymPy expressions with their derivations. `attngrad codegen` prints the closed forms into
``numeric/generated/lowrank_bounds.py`` (plain Python), so the numeric code evaluates these very expressions.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import sympy as sp

from attngrad.derive.derivation import Bound, cited_step, name_symbols, pretty, verified_step

g = sp.Symbol("g", integer=True, nonnegative=True)  # degree
k = sp.Symbol("k", integer=True, positive=True)  # rank
beta, x, tt, eps, eps_f = sp.symbols("beta x t epsilon epsilon_f", nonnegative=True)
n_, d_ = sp.symbols("n d", integer=True, positive=True)
s_, a1, a2, H, Einf = sp.symbols("s a_1 a_2 H E_inf", nonnegative=True)
dp1, dp2 = sp.symbols("dp_1 dp_2", nonnegative=True)  # ‖p₁ − p̃₁‖_∞, ‖p₂ − p̃₂‖_∞
name_symbols({
    g: ("g", "g"), k: ("k", "k"), beta: ("β", r"\beta"), x: ("x", "x"), tt: ("t", "t"), eps_f: ("ε_f", r"\varepsilon_f"),
    n_: ("n", "n"), d_: ("d", "d"), s_: ("s", "s"), a1: ("‖A₁‖_∞", r"\|A_1\|_\infty"), a2: ("‖A₂‖_∞", r"\|A_2\|_\infty"),
    H: ("‖A₃Y‖_∞", r"\|A_3Y\|_\infty"), Einf: ("‖E‖_∞", r"\|E\|_\infty"),
    dp1: ("‖p₁ − p̃₁‖_∞", r"\|p_1-\tilde p_1\|_\infty"), dp2: ("‖p₂ − p̃₂‖_∞", r"\|p_2-\tilde p_2\|_\infty"),
})


def taylor_poly(degree: int, at: sp.Expr) -> sp.Expr:
    """T_g(at) = Σ_{j≤g} atʲ/j!, the Taylor polynomial of exp at 0."""
    return sp.Add(*[at**j / sp.factorial(j) for j in range(degree + 1)])


def shifted_taylor(degree: int) -> sp.Expr:
    """P(x) = e^{−β} Σ_{j≤g} (x+β)ʲ/j! (docs/mathematics.md §2), the Taylor polynomial of exp at −β."""
    return sp.exp(-beta) * taylor_poly(degree, x + beta)


def _remainder_identity() -> bool:
    """eˣ − P(x) = e^{−β}(eᵗ − T_g(t)) with t = x + β, for g = 0…8."""
    return all(sp.simplify(sp.exp(x) - shifted_taylor(m) - sp.exp(-beta) * (sp.exp(x + beta) - taylor_poly(m, x + beta)))
               == 0 for m in range(9))


def _positive_coefficients() -> bool:
    """Every monomial coefficient of P is e^{−β} times a polynomial in β with positive coefficients (g = 1…10)."""
    for m in range(1, 11):
        poly = sp.Poly(sp.expand(shifted_taylor(m) * sp.exp(beta)), x)
        for c in poly.all_coeffs():
            cb = sp.Poly(c, beta)
            if not all(v > 0 for v in cb.coeffs()) or cb.eval(0) <= 0:
                return False
    return True


@lru_cache(maxsize=None)
def shifted_taylor_bound() -> Bound:
    lagrange = sp.exp(tt) * tt**(g + 1) / sp.factorial(g + 1)  # eᵗ − T_g(t) ≤ this for t ≥ 0
    relative = sp.simplify((sp.exp(-beta) * lagrange / sp.exp(x)).subs(tt, x + beta))
    bound = relative.subs(x, beta)  # increasing in x: the largest at x = β
    b = Bound("lowrank/taylor-shifted", "The shifted Taylor polynomial: relative error on [−β, β] (docs/mathematics.md §2)",
              ["P(x) = e^{−β} Σ_{j≤g} (x+β)ʲ/j!, x ∈ [−β, β], β ≥ 0"],
              sp.Le(sp.Abs(sp.exp(x) - sp.Symbol("P(x)")) / sp.exp(x), bound))
    b.steps = [
        verified_step("eˣ − P(x) = e^{−β}(eᵗ − T_g(t)), t = x + β ∈ [0, 2β]", "proved by SymPy for g = 0…8",
               _remainder_identity),
        cited_step("0 ≤ eᵗ − T_g(t) ≤ eᵗ t^{g+1}/(g+1)! for t ≥ 0", "Taylor's theorem, Lagrange remainder"),
        verified_step(f"so 0 ≤ (eˣ − P(x))/eˣ ≤ {pretty(relative)}", "derived by SymPy (substitution t = x + β)",
               lambda: sp.simplify(relative - (x + beta)**(g + 1) / sp.factorial(g + 1)) == 0),
        verified_step(f"which is largest at x = β: {pretty(bound)}", "derived by SymPy (the power is increasing in x + β ≥ 0)",
               lambda: sp.simplify(sp.diff(relative, x) - (g + 1) * (x + beta)**g / sp.factorial(g + 1)) == 0),
        verified_step("every monomial coefficient of P is positive (features split symmetrically as √a_i)",
               "proved by SymPy for g = 1…10 (coefficients are e^{−β}·polynomials in β with positive coefficients)",
               _positive_coefficients),
    ]
    b.formulas = {"taylor_shifted": bound}
    return b


@lru_cache(maxsize=None)
def taylor_bound() -> Bound:
    # Lagrange: eˣ − T_g(x) = e^ξ x^{g+1}/(g+1)!, ξ between 0 and x; |·|/eˣ ≤ e^{max(0,ξ)−x}|x|^{g+1}/(g+1)!
    bound = sp.exp(beta) * beta**(g + 1) / sp.factorial(g + 1)
    b = Bound("lowrank/taylor", "The Taylor polynomial at 0: relative error on [−β, β]",
              ["T_g(x) = Σ_{j≤g} xʲ/j!, x ∈ [−β, β], β ≥ 0"],
              sp.Le(sp.Abs(sp.exp(x) - sp.Symbol("T_g(x)")) / sp.exp(x), bound))
    b.steps = [
        cited_step("eˣ − T_g(x) = e^ξ x^{g+1}/(g+1)! with ξ between 0 and x", "Taylor's theorem, Lagrange remainder"),
        cited_step("for x ≥ 0: e^ξ/eˣ ≤ 1; for x < 0: e^ξ/eˣ ≤ e^{−x} ≤ e^β", "ξ between 0 and x, |x| ≤ β"),
        verified_step(f"the case x < 0 is the larger: |eˣ − T_g|/eˣ ≤ {pretty(bound)}",
               "derived by SymPy: the difference of the two case bounds is (e^β − 1)β^{g+1}/(g+1)! ≥ 0",
               lambda: sp.simplify(bound - beta**(g + 1) / sp.factorial(g + 1)
                                   - (sp.exp(beta) - 1) * beta**(g + 1) / sp.factorial(g + 1)) == 0),
    ]
    b.formulas = {"taylor": bound}
    return b


@lru_cache(maxsize=None)
def chebyshev_bound() -> Bound:
    absolute = sp.exp(beta) * beta**(g + 1) / (2**g * sp.factorial(g + 1))
    bound = sp.simplify(absolute * sp.exp(beta))  # divided by min eˣ = e^{−β}
    b = Bound("lowrank/chebyshev", "Chebyshev interpolation of exp: relative error on [−β, β]",
              ["C_g interpolates eˣ at the g+1 Chebyshev points of [−β, β]"],
              sp.Le(sp.Abs(sp.exp(x) - sp.Symbol("C_g(x)")) / sp.exp(x), bound))
    b.steps = [
        cited_step("f(x) − C_g(x) = f^{(g+1)}(ξ)/(g+1)!·Π_i(x − x_i), and |Π_i(x − x_i)| ≤ 2(β/2)^{g+1} at the "
              "Chebyshev points of [−β, β]", "the interpolation error formula; the monic Chebyshev polynomial "
              "2^{−g}T_{g+1} scaled to half-width β"),
        verified_step(f"with max|f^(g+1)| = e^β and eˣ ≥ e^{{−β}}: relative error ≤ {pretty(bound)}",
               "derived by SymPy", lambda: sp.simplify(bound - 2 * (beta / 2)**(g + 1) * sp.exp(2 * beta) / sp.factorial(g + 1)) == 0),
    ]
    b.formulas = {"chebyshev": bound}
    return b


def _multi_indices(dim: int, degree: int) -> list[tuple[int, ...]]:
    """The exponents of the numeric feature map (numeric/monomials.py, which numeric/lowrank.py uses), so the proofs
    below are about its features."""
    from attngrad.numeric.monomials import multi_indices

    return [tuple(int(v) for v in row) for row in multi_indices(dim, degree)[0]]


def _multinomial_expansion() -> bool:
    """⟨q,k⟩ⁱ = Σ_{|α|=i} (i!/α!) q^α k^α, d = 3, i ≤ 4 (one symbol per entry)."""
    q, kk = sp.symbols("q0:3", real=True), sp.symbols("k0:3", real=True)
    dot = sum(a * b for a, b in zip(q, kk))
    for i in range(5):
        rhs = sum(sp.factorial(i) / sp.prod([sp.factorial(e) for e in a]) * sp.prod([qq**e * kv**e for qq, kv, e in zip(q, kk, a)])
                  for a in _multi_indices(3, i) if sum(a) == i)
        if sp.expand(dot**i - rhs) != 0:
            return False
    return True


def _rank_count() -> bool:
    """#{α ∈ ℕ^d : |α| ≤ g} = C(d+g, g) for d ≤ 8, g ≤ 8, counted on the numeric feature map's exponents."""
    return all(len(set(_multi_indices(dd, gg))) == sp.binomial(dd + gg, gg) for dd in range(1, 9) for gg in range(9))


@lru_cache(maxsize=None)
def rank_bound() -> Bound:
    rank = sp.binomial(d_ + g, g)
    printed = sp.binomial(2 * (g + d_), 2 * g)
    b = Bound("lowrank/rank", "The rank of the monomial features of P(⟨q,k⟩) (docs/mathematics.md §2)",
              ["P(t) = Σ_{i≤g} a_i tⁱ, q, k ∈ R^d"], sp.Eq(k, rank))
    b.steps = [
        verified_step("⟨q,k⟩ⁱ = Σ_{|α|=i} (i!/α!) q^α k^α, so P(⟨q,k⟩) = φ_L(q)·φ_R(k), φ_α = √(|a_i| i!/α!)·q^α",
               "proved by SymPy with one symbol per entry (d = 3, i ≤ 4)", _multinomial_expansion),
        verified_step(f"the number of multi-indices with |α| ≤ g is {pretty(rank)}", "counted for d, g ≤ 8", _rank_count),
        verified_step(f"AS23's bound {pretty(printed)} is larger (d = 4, g = 6: 210 against 125,970)", "evaluated by SymPy",
               lambda: rank.subs({d_: 4, g: 6}) == 210 and printed.subs({d_: 4, g: 6}) == 125970),
    ]
    b.formulas = {"rank": rank, "rank_as23": printed}
    return b


@lru_cache(maxsize=None)
def softmax_error() -> Bound:
    lo, hi = (1 - eps) / (1 + eps), (1 + eps) / (1 - eps)
    ef = sp.simplify(hi - 1)
    b = Bound("lowrank/softmax-error", "From exp to the row-normalised f̃ (docs/mathematics.md §2)",
              ["ũ = P(S) with |ũ − exp(S)| ≤ ε·exp(S) entrywise, 0 ≤ ε < 1", "f̃ = diag(ũ1)⁻¹ũ, f = softmax(S)"],
              sp.Le(sp.Symbol("|f̃ − f|/f"), ef))
    b.steps = [
        cited_step("f̃_jl/f_jl = (ũ_jl/u_jl)/(Σ_m f_jm ũ_jm/u_jm), a ratio of numbers in [1−ε, 1+ε] (Σ_m f_jm = 1)",
              "the definitions of f and f̃"),
        verified_step(f"so f̃/f ∈ [{pretty(lo)}, {pretty(hi)}] and |f̃/f − 1| ≤ {pretty(ef)}",
               "derived by SymPy: 1 − lo ≤ hi − 1 since their difference is 4ε²/(1−ε²) ≥ 0",
               lambda: sp.simplify((hi - 1) - (1 - lo) - 4 * eps**2 / (1 - eps**2)) == 0),
    ]
    b.formulas = {"softmax_error": ef}
    return b


@lru_cache(maxsize=None)
def gradient_error() -> Bound:
    """‖g̃ − g‖_∞ from ε_f, with every step's constant; g = s·A₁ᵀpA₂ (Lemma C.7 with the scale)."""
    C = H + Einf  # |c| = |fh − E| ≤ ‖h‖_∞ + ‖E‖_∞ (rows of f sum to 1)
    dc = eps_f * H  # |Δc_ji| ≤ Σ_l |Δf_jl||h_li| ≤ ε_f Σ_l f_jl H
    dq = d_ * dc * H  # q = c hᵀ
    qt = d_ * (C + dc) * H  # |q̃| ≤ d‖c̃‖‖h‖
    dr = eps_f * qt + dq  # Δr_j = Σ_l (Δf q̃ + f Δq)
    per_row = eps_f * (qt + (1 + eps_f) * qt) + dq + dr  # Σ_l |Δp_jl| with Δp = Δf(q̃ − r̃) + f(Δq − Δr)
    bound = sp.expand(s_ * n_ * a1 * a2 * per_row)
    printed = n_**2 * a1 * a2 * (dp1 + dp2)
    b = Bound("lowrank/gradient-error", "From ‖f̃ − f‖ to ‖g̃ − ∇_X L‖_∞: D.6 as printed, and the project's bound",
              ["|f̃ − f| ≤ ε_f·f entrywise (lowrank/softmax-error), f row-stochastic",
               "c̃ = f̃h − E, q̃ = c̃hᵀ, r̃ = (f̃∘q̃)1, p̃ = f̃∘q̃ − diag(r̃)f̃, g̃ = s·A₁ᵀp̃A₂; h = A₃Y",
               "a_1 = ‖A₁‖_∞, a_2 = ‖A₂‖_∞ (entrywise maxima)"],
              sp.Le(sp.Symbol("‖g̃ − g‖_∞"), bound))
    b.steps = [
        cited_step("|c| ≤ ‖h‖_∞ + ‖E‖_∞ and |c̃ − c| ≤ ε_f‖h‖_∞ entrywise", "c = fh − E with rows of f summing to 1"),
        cited_step("|q̃ − q| ≤ d ε_f ‖h‖²_∞, |q̃| ≤ d(|c| + ε_f‖h‖_∞)‖h‖_∞", "q = chᵀ has inner dimension d"),
        cited_step("|r̃ − r| ≤ ε_f max|q̃| + max|q̃ − q|, and Σ_l |p̃_jl − p_jl| ≤ ε_f(2 + ε_f)max|q̃| + max|Δq| + max|Δr|",
              "triangle inequality; Σ_l f_jl = 1, Σ_l f̃_jl ≤ 1 + ε_f"),
        verified_step(f"‖g̃ − g‖_∞ ≤ s‖A₁‖_∞‖A₂‖_∞ Σ_j Σ_l |Δp_jl| = {pretty(bound)}",
               "derived by SymPy (the steps above substituted; n from the sum over j, not n² as in D.6)",
               lambda: sp.simplify(bound.coeff(eps_f, 1) - s_ * n_ * a1 * a2 * d_ * H * (3 * (H + Einf) + 2 * H)) == 0),
        cited_step(f"printed (D.6): ‖g̃ − g‖_∞ ≤ {pretty(printed)}",
              "Alman & Song 2024, Lemma D.6 (Section D drops the scale: s = 1); checked against measured errors by "
              "attngrad check"),
    ]
    b.formulas = {"gradient_error": bound, "gradient_error_d6": printed}
    return b


LOWRANK_BOUNDS: dict[str, Callable[[], Bound]] = {
    "lowrank/taylor-shifted": shifted_taylor_bound, "lowrank/taylor": taylor_bound, "lowrank/chebyshev": chebyshev_bound,
    "lowrank/rank": rank_bound, "lowrank/softmax-error": softmax_error, "lowrank/gradient-error": gradient_error,
}


def printed_formulas() -> dict[str, sp.Expr]:
    """Every closed form the numeric low-rank path evaluates, by function name (printed by `attngrad codegen`)."""
    out: dict[str, sp.Expr] = {}
    for make in LOWRANK_BOUNDS.values():
        out.update(make().formulas)
    return out
