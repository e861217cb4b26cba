"""Alman & Song's Section D as measured bounds (``BoundClaim``: measured ≤ bound on instances drawn afresh each run):
the ranks of D.3–D.4, the polynomials' relative errors, and the errors of f̃, c̃ and the gradient (D.1, D.2, D.6 and
the project's bounds). The bound values are the closed forms of derive/papers/lowrank_bounds.py as printed into
numeric/generated/lowrank_bounds.py. D.1, D.2 and D.6 are asymptotic (ε/poly(n)); their claims here are concrete
readings, said so in their statements.
"""

from __future__ import annotations

import mpmath
import numpy as np

from attngrad.derive.claims import BoundClaim, Claim, Measurement, Probe
from attngrad.derive.evaluate import Evaluator, FloatField
from attngrad.derive.expr import FaceSplit
from attngrad.vocabulary import POLYNOMIALS

from .alman_song import PAPER, SOURCE, alman_song
from .lowrank import (DPS, U1, V1, alman_song_lowrank, alman_song_polynomial, bounds_module, draw_inputs,
                      exact_coefficients, horner_mp, instance_rng, max_abs, mp_evaluator, mp_numbers, mp_rank,
                      poly_bound, reference_coefficients, relative_error, size_values)


# measured claims ---------------------------------------------------------------------------------------------------
def _bound_claim(cid: str, statement: str, measured: str, bound: str, probes, *, printed: bool = False,
                 source: str = "attngrad", relation: str = "<=", group: str = "") -> BoundClaim:
    return BoundClaim(cid, statement, lhs=measured, rhs=bound, source=source, printed=printed, probes=tuple(probes),
                      relation=relation, group=group)


def draw_factors(inst: dict, seed: int) -> dict[str, np.ndarray]:
    """Def 1.2's inputs and random factors U₁, V₁ (n × k)."""
    vals = draw_inputs(inst, seed)
    rng = instance_rng({**inst, "factors": 1}, seed)
    vals["U1"], vals["V1"] = rng.standard_normal((inst["n"], inst["k"])), rng.standard_normal((inst["n"], inst["k"]))
    return vals


def _rank_of(node_of, inst: dict, seed: int) -> int:
    ev = mp_evaluator(draw_factors(inst, seed), inst["n"], inst["d"], k=inst["k"])
    with mpmath.workdps(DPS):
        return mp_rank(ev(node_of()))


RANK_INSTANCES = ({"n": 10, "d": 2, "k": 3}, {"n": 12, "d": 3, "k": 2}, {"n": 9, "d": 1, "k": 4}, {"n": 14, "d": 2, "k": 5})
RANK_METHOD = "rank at 50 digits (singular values above 10⁻³⁰ of the largest) at N(0,1) inputs and factors"


def rank_claims() -> list[Claim]:
    one_k = alman_song_lowrank("1")
    qD3 = lambda: one_k["h"] @ one_k["c̃"].T  # noqa: E731
    pD4 = lambda: FaceSplit(U1, one_k["h"]) @ FaceSplit(V1, one_k["c̃"]).T  # noqa: E731

    def measure(node_of, bound_of):
        def run(inst, seed):
            return Measurement(_rank_of(node_of, inst, seed), bound_of(inst))
        return run

    k2 = lambda i: max(i["d"], i["k"]) + i["d"]  # noqa: E731
    return [
        _bound_claim(f"{PAPER}/lemma-D.3-rank", "q̃ = hc̃ᵀ has rank at most k₂ = max{d, k} + d (k = k₁, the rank of "
                     "U₁V₁ᵀ; read as an upper bound, its tightness shows how far k₂ is from the true rank)",
                     "rank(hc̃ᵀ)", "max{d, k} + d", [Probe("mpmath-50", RANK_METHOD, RANK_INSTANCES,
                                                           measure(qD3, k2))], printed=True, source=f"{SOURCE}, Lemma D.3"),
        _bound_claim(f"{PAPER}/lemma-D.4-rank", "p̃₁ = U₃V₃ᵀ = (U₁⊘U₂)(V₁⊘V₂)ᵀ has rank at most k₁k₂, k₂ = max{d,k}+d",
                     "rank(U₃V₃ᵀ)", "k·(max{d, k} + d)", [Probe("mpmath-50", RANK_METHOD, RANK_INSTANCES,
                                                                 measure(pD4, lambda i: i["k"] * k2(i)))],
                     printed=True, source=f"{SOURCE}, Lemma D.4"),
        _bound_claim("attngrad/lowrank/rank-q", "q̃ = c̃hᵀ has rank exactly min(n, d) for generic inputs (so U₂ = c̃, "
                     "V₂ = h, k₂ = d)", "rank(c̃hᵀ)", "min(n, d)",
                     [Probe("mpmath-50", RANK_METHOD, RANK_INSTANCES, measure(lambda: one_k["q̃"], lambda i: min(i["n"], i["d"])))],
                     relation="=="),
        _bound_claim("attngrad/lowrank/rank-p1", "p̃₁ = f̃∘q̃ = (U₁⊘c̃)(V₁⊘h)ᵀ has rank exactly min(n, k·d) for generic "
                     "factors (k₁k₂ with k₂ = d)", "rank(f̃∘q̃)", "min(n, k·d)",
                     [Probe("mpmath-50", RANK_METHOD, RANK_INSTANCES,
                            measure(lambda: one_k["p̃₁"], lambda i: min(i["n"], i["k"] * i["d"])))], relation="=="),
    ]


# the polynomials' relative errors ------------------------------------------------------------------------------------
POLY_INSTANCES = {
    "taylor-shifted": ({"g": 1, "beta": 0.125}, {"g": 2, "beta": 0.25}, {"g": 4, "beta": 0.5}, {"g": 6, "beta": 1.0},
                       {"g": 10, "beta": 2.0}, {"g": 16, "beta": 3.0}, {"g": 24, "beta": 0.5}),
    "taylor": ({"g": 1, "beta": 0.125}, {"g": 3, "beta": 0.25}, {"g": 5, "beta": 1.0}, {"g": 10, "beta": 2.0},
               {"g": 20, "beta": 4.0}),
    "chebyshev": ({"g": 1, "beta": 0.125}, {"g": 2, "beta": 0.25}, {"g": 4, "beta": 1.0}, {"g": 8, "beta": 2.0},
                  {"g": 12, "beta": 4.0}, {"g": 16, "beta": 1.0}),
}
#: the numeric code's polynomials (numeric.lowrank.make_polynomial): by degree, and by eps (degree chosen by the code)
NUMERIC_POLY_INSTANCES = ({"g": 2, "beta": 0.25}, {"g": 6, "beta": 1.0}, {"g": 10, "beta": 2.0},
                          {"eps": 1e-6, "beta": 0.5}, {"eps": 1e-10, "beta": 1.0}, {"eps": 1e-4, "beta": 3.0})
U64 = 2.0**-53


def _poly_measure(kind: str):
    def run(inst, seed):
        a = mp_numbers(reference_coefficients(kind, inst["g"], inst["beta"]))
        err, at = relative_error(a, inst["beta"])
        bound = poly_bound(kind, inst["beta"], inst["g"])
        return Measurement(err, bound, 1e-13 * bound, {"worst_x": float(at)})
    return run


def _numeric_poly_measure(kind: str):
    def run(inst, seed):
        from attngrad.numeric.lowrank import make_polynomial

        pol = make_polynomial(kind, inst["beta"], degree=inst.get("g"), eps=inst.get("eps"))
        a = [mpmath.mpf(float(c)) for c in pol.coef]
        err, at = relative_error(a, inst["beta"])
        bound = min(inst["eps"], pol.bound) if "eps" in inst else pol.bound
        formula = poly_bound(kind, inst["beta"], pol.degree)
        if "g" in inst and pol.degree != inst["g"]:
            raise ValueError(f"make_polynomial gave degree {pol.degree} for degree {inst['g']}")
        # the float64 coefficients' own rounding: a few ulps of Σ|a_i||x|ⁱ/eˣ at the worst point
        with mpmath.workdps(DPS):
            b = mpmath.mpf(inst["beta"])
            spread = max(horner_mp([abs(c) for c in a], b) / mpmath.exp(-b), mpmath.mpf(1))
        return Measurement(err, bound, 64 * U64 * float(spread),
                           {"degree": pol.degree, "kernel_bound": pol.bound, "formula_bound": formula,
                            "bound_matches_formula": abs(pol.bound - formula) <= 1e-12 * formula, "worst_x": float(at)})
    return run


def polynomial_claims() -> list[Claim]:
    out: list[Claim] = []
    names = {"taylor-shifted": "e^{−β}Σ_{j≤g}(x+β)ʲ/j!", "taylor": "Σ_{j≤g}xʲ/j!",
             "chebyshev": "the interpolant of eˣ at the g+1 Chebyshev points of [−β, β]"}
    for kind in POLYNOMIALS:
        fn = kind.replace("-", "_")
        out.append(_bound_claim(
            f"attngrad/lowrank/{kind}-error",
            f"the {kind} polynomial P = {names[kind]} has max_{{x∈[−β,β]}} |P(x) − eˣ|/eˣ ≤ the bound {fn}(β, g) of "
            "derive/papers/lowrank_bounds.py (measured on 601 equispaced points with both endpoints); the numeric "
            "make_polynomial's float64 polynomial (given g, or chosen for eps) keeps its stated bound",
            "max |P(x) − eˣ|/eˣ on a grid of [−β, β]", f"lowrank_bounds.{fn}(beta, g)",
            [Probe("mpmath-50", "P built from its definition (SymPy / 70-digit interpolation), evaluated at 50 digits",
                   POLY_INSTANCES[kind], _poly_measure(kind)),
             Probe("float64", "numeric.lowrank.make_polynomial's float64 coefficients evaluated at 50 digits, against "
                   "its .bound (and eps when the degree was chosen for eps)", NUMERIC_POLY_INSTANCES,
                   _numeric_poly_measure(kind))], group="lowrank"))
    return out


# softmax, c̃ and gradient errors ---------------------------------------------------------------------------------------
SOFTMAX_INSTANCES = (
    {"n": 6, "d": 2, "beta": 0.5, "g": 2, "draw": 0}, {"n": 8, "d": 3, "beta": 1.0, "g": 4, "draw": 1},
    {"n": 12, "d": 2, "beta": 2.0, "g": 8, "draw": 2}, {"n": 16, "d": 4, "beta": 0.25, "g": 1, "draw": 3},
    # adversarial: ũ = u∘(1 + εσ), σ = +1 at one entry per row and −1 elsewhere (the lemma for any ũ, not only P(S))
    {"n": 16, "d": 2, "beta": 3.0, "eps": 0.01, "draw": 4}, {"n": 2, "d": 2, "beta": 0.01, "eps": 0.1, "draw": 5},
    {"n": 24, "d": 3, "beta": 2.0, "eps": 0.3, "draw": 6},
)


def _softmax_pair(inst: dict, seed: int, absolute: bool):
    """(u, ũ, f, f̃, ε) at 50 digits: ũ = P(S) with the shifted-Taylor polynomial of degree g on [−β, β] (its
    definition), or the adversarial ũ = u∘(1 + εσ) with σ = +1 at the worst entry of each row for the bound at hand
    (the smallest f for the relative bound, the f nearest ½ for the absolute one) and −1 elsewhere."""
    vals = draw_inputs(inst, seed)
    ev = mp_evaluator(vals, inst["n"], inst["d"])
    base = alman_song("1/d")
    with mpmath.workdps(DPS):
        u, f = ev(base["u"]), ev(base["f"])
        if "g" in inst:
            pm = alman_song_polynomial("1/d", reference_coefficients("taylor-shifted", inst["g"], inst["beta"]))
            ut, ft = ev(pm["ũ"]), ev(pm["f̃"])
        else:
            eps = mpmath.mpf(inst["eps"])
            sign = np.full(u.shape, -1, dtype=object)
            for j in range(u.shape[0]):
                key = [abs(float(x) - 0.5) if absolute else float(x) for x in f[j]]
                sign[j, int(np.argmin(key))] = 1
            ut = u * (1 + eps * sign)
            ft = ut / ut.sum(axis=1, keepdims=True)
        eps_m = max_abs(ut / u - 1)
    return u, ut, f, ft, eps_m


def _softmax_measure(absolute: bool):
    def run(inst, seed):
        _, _, f, ft, eps_m = _softmax_pair(inst, seed, absolute)
        LB = bounds_module()
        with mpmath.workdps(DPS):
            if absolute:
                measured, bound = max_abs(ft - f), eps_m / (2 * (1 - eps_m))
            else:
                measured, bound = max_abs(ft / f - 1), LB.softmax_error(epsilon=eps_m)
        return Measurement(measured, bound, bound * mpmath.mpf(10) ** -40, {"epsilon": eps_m})
    return run


def _poly_instance_chain(inst: dict, seed: int):
    """Inputs, the 50-digit evaluator, the exact chain and the polynomial chain of an instance (shifted Taylor of
    degree g on [−β, β], or inst['poly'])."""
    vals = draw_inputs(inst, seed)
    ev = mp_evaluator(vals, inst["n"], inst["d"])
    kind = inst.get("poly", "taylor-shifted")
    pm = alman_song_polynomial("1/d", reference_coefficients(kind, inst["g"], inst["beta"]))
    return vals, ev, alman_song("1/d"), pm, poly_bound(kind, inst["beta"], inst["g"])


GRAD_INSTANCES = (
    {"n": 6, "d": 2, "beta": 0.5, "g": 3, "draw": 0}, {"n": 8, "d": 3, "beta": 1.0, "g": 6, "draw": 1},
    {"n": 12, "d": 2, "beta": 2.0, "g": 12, "draw": 2}, {"n": 16, "d": 4, "beta": 0.25, "g": 2, "draw": 3},
    {"n": 10, "d": 2, "beta": 1.5, "g": 5, "poly": "chebyshev", "draw": 4},
    {"n": 10, "d": 3, "beta": 0.5, "g": 4, "poly": "taylor", "draw": 5},
)
#: the Numba low-rank kernel at real sizes; the kernel picks its polynomial and degree for eps
KERNEL_GRAD_INSTANCES = (
    {"n": 64, "d": 4, "beta": 0.5, "eps": 1e-6, "draw": 0},
    {"n": 256, "d": 4, "beta": 1.0, "eps": 1e-4, "poly": "taylor-shifted", "draw": 1},
    {"n": 128, "d": 8, "beta": 0.25, "eps": 1e-6, "draw": 2}, {"n": 256, "d": 2, "beta": 2.0, "eps": 1e-8, "draw": 3},
    {"n": 200, "d": 3, "beta": 0.75, "eps": 1e-5, "poly": "taylor", "draw": 4},
)


def _norms(vals: dict[str, np.ndarray]) -> dict[str, float]:
    return {"E_inf": float(np.abs(vals["E"]).max()), "H": float(np.abs(vals["A3"] @ vals["Y"]).max()),
            "a_1": float(np.abs(vals["A1"]).max()), "a_2": float(np.abs(vals["A2"]).max())}


def _c_error(printed: bool):
    def run(inst, seed):
        vals, ev, base, pm, eps = _poly_instance_chain(inst, seed)
        with mpmath.workdps(DPS):
            dc = max_abs(ev(pm["c̃"]) - ev(base["c"]))
            H = max_abs(ev(base["h"]))
            if printed:
                df = max_abs(ev(pm["f̃"]) - ev(base["f"]))
                return Measurement(dc, inst["n"] * H * df, mpmath.mpf(10) ** -40, {"f_error": df})
            eps_f = bounds_module().softmax_error(epsilon=mpmath.mpf(eps))
            return Measurement(dc, eps_f * H, mpmath.mpf(10) ** -40, {"epsilon": eps})
    return run


def _f_error(inst, seed):
    vals, ev, base, pm, eps = _poly_instance_chain(inst, seed)
    with mpmath.workdps(DPS):
        return Measurement(max_abs(ev(pm["f̃"]) - ev(base["f"])), eps, eps * 1e-13, {"epsilon": eps})


def _grad_error_mp(printed: bool):
    def run(inst, seed):
        vals, ev, base, pm, eps = _poly_instance_chain(inst, seed)
        nn, dd = inst["n"], inst["d"]
        LB = bounds_module()
        with mpmath.workdps(DPS):
            err = max_abs(ev(pm["∇̃X"]) - ev(base["∇X"]))
            if printed:
                dp1, dp2 = max_abs(ev(pm["p̃₁"]) - ev(base["p₁"])), max_abs(ev(pm["p̃₂"]) - ev(base["p₂"]))
                nr = _norms(vals)
                bound = LB.gradient_error_d6(a_1=nr["a_1"], a_2=nr["a_2"], dp_1=dp1, dp_2=dp2, n=nn)
                return Measurement(err, bound, bound * 1e-13, {"dp_1": dp1, "dp_2": dp2})
            eps_f = LB.softmax_error(epsilon=mpmath.mpf(eps))
            bound = LB.gradient_error(**_norms(vals), d=dd, epsilon_f=eps_f, n=nn, s=mpmath.mpf(1) / dd)
            return Measurement(err, bound, bound * 1e-13, {"epsilon": eps, "epsilon_f": eps_f})
    return run


def grad_error_kernel(printed: bool):
    def run(inst, seed):
        from attngrad.numeric.lowrank import lowrank_loss_and_grad

        vals = draw_inputs(inst, seed)
        nn, dd = inst["n"], inst["d"]
        res = lowrank_loss_and_grad(vals["A1"], vals["A2"], vals["A3"], vals["E"], vals["Y"], vals["X"], scale="1/d",
                                    eps=inst["eps"], poly=inst.get("poly", "auto"), workers=1)
        ev = Evaluator(FloatField(), vals, size_values(n=nn, d=dd))
        base = alman_song("1/d")
        g = ev(base["∇X"])
        err = float(np.abs(res.grad_X - g).max())
        LB = bounds_module()
        nr = _norms(vals)
        # float64 rounding of both gradients: a generous n·d·u envelope of the largest product in s·A₁ᵀpA₂
        scale = float(np.abs(ev(base["p"])).max()) * nn * nr["a_1"] * nr["a_2"] / dd
        allowance = 64 * nn * dd * U64 * scale
        detail = {"poly": res.poly.kind, "degree": res.degree, "rank": res.rank, "kernel_beta": res.beta,
                  "max_abs_S": float(np.abs(ev(base["S"])).max())}
        if printed:
            pm = alman_song_polynomial("1/d", exact_coefficients(res.poly.coef))
            dp1 = float(np.abs(ev(pm["p̃₁"]) - ev(base["p₁"])).max())
            dp2 = float(np.abs(ev(pm["p̃₂"]) - ev(base["p₂"])).max())
            bound = LB.gradient_error_d6(a_1=nr["a_1"], a_2=nr["a_2"], dp_1=dp1, dp_2=dp2, n=nn)
            return Measurement(err, bound, allowance, {**detail, "dp_1": dp1, "dp_2": dp2})
        eps = poly_bound(res.poly.kind, res.beta, res.degree)
        eps_f = LB.softmax_error(epsilon=eps)
        bound = LB.gradient_error(**nr, d=dd, epsilon_f=eps_f, n=nn, s=1 / dd)
        return Measurement(err, bound, allowance, {**detail, "epsilon": eps, "kernel_grad_bound": res.grad_bound})
    return run


def error_claims() -> list[Claim]:
    mp_chain = ("the chain with P(S) in place of exp(S) (P from its definition, degree g, on [−β, β] with "
                "β = max|S|) against the exact chain, at 50 digits")
    kernel = ("numeric.lowrank.lowrank_loss_and_grad (float64; the polynomial given or chosen by the kernel, the "
              "degree chosen for eps) against the chain's ∇_X L in float64; the bound at the kernel's own β and degree")
    d6 = f"{SOURCE}, Lemma D.6"
    softmax_probe = "ũ = P(S) (shifted Taylor) or u∘(1 ± ε), at 50 digits"
    return [
        _bound_claim("attngrad/lowrank/softmax-error", "if |ũ − u| ≤ ε·u entrywise (u = exp(S), 0 ≤ ε < 1), the "
                     "row-normalised f̃ = diag(ũ1)⁻¹ũ has |f̃ − f| ≤ 2ε/(1−ε)·f (docs/mathematics.md §2; ε measured on the "
                     "instance, ũ = P(S) or an adversarial ũ = u∘(1 ± ε))",
                     "max |f̃/f − 1|", "softmax_error(ε) = 2ε/(1−ε)",
                     [Probe("mpmath-50", softmax_probe, SOFTMAX_INSTANCES, _softmax_measure(False))]),
        _bound_claim("attngrad/lowrank/softmax-abs-error", "under the same hypothesis, ‖f̃ − f‖_∞ ≤ ε/(2(1−ε)): "
                     "|f̃_jl − f_jl| ≤ 2f_jl(1−f_jl)ε/(1−ε) since f̃_jl − f_jl = f_jl(e_l − ē)/(1 + ē) with "
                     "|e_l − ē| ≤ 2(1−f_jl)ε (the project's; 4× below ε_f at f = ½ and tight there)",
                     "max |f̃ − f|", "ε/(2(1−ε))",
                     [Probe("mpmath-50", softmax_probe, SOFTMAX_INSTANCES, _softmax_measure(True))]),
        _bound_claim(f"{PAPER}/lemma-D.1", "(concrete reading of the asymptotic statement) U₁V₁ᵀ = f̃ = "
                     "diag(P(S)1)⁻¹P(S) through the features of a polynomial P with relative error ε on [−β, β], "
                     "β = ‖S‖_∞, satisfies ‖U₁V₁ᵀ − f‖_∞ ≤ ε: the error target of D.1 is the polynomial's accuracy",
                     "‖f̃ − f‖_∞", "ε (the polynomial's relative-error bound)",
                     [Probe("mpmath-50", mp_chain, GRAD_INSTANCES, _f_error)], printed=True,
                     source=f"{SOURCE}, Lemma D.1"),
        _bound_claim(f"{PAPER}/lemma-D.2", "(concrete reading of the asymptotic statement: D.1's error times the "
                     "poly(n) factor n‖h‖_∞ of c = fh − E) c̃ = U₁V₁ᵀh − E has ‖c̃ − c‖_∞ ≤ n‖h‖_∞‖U₁V₁ᵀ − f‖_∞",
                     "‖c̃ − c‖_∞", "n·‖h‖_∞·‖f̃ − f‖_∞", [Probe("mpmath-50", mp_chain, GRAD_INSTANCES, _c_error(True))],
                     printed=True, source=f"{SOURCE}, Lemma D.2"),
        _bound_claim("attngrad/lowrank/c-error", "‖c̃ − c‖_∞ ≤ ε_f‖h‖_∞ with ε_f = 2ε/(1−ε) (the first step of "
                     "lowrank/gradient-error: Σ_l |f̃_jl − f_jl| ≤ ε_f)", "‖c̃ − c‖_∞", "ε_f·‖h‖_∞",
                     [Probe("mpmath-50", mp_chain, GRAD_INSTANCES, _c_error(False))]),
        _bound_claim("attngrad/lowrank/gradient-error", "the project's bound lowrank_bounds.gradient_error(‖E‖_∞, "
                     "‖A₃Y‖_∞, ‖A₁‖_∞, ‖A₂‖_∞, d, ε_f, n, s) on ‖g̃ − ∇_X L‖_∞ (s = 1/d), ε_f = 2ε/(1−ε), ε the "
                     "polynomial's bound on [−β, β]",
                     "‖g̃ − ∇_X L‖_∞", "gradient_error(…)",
                     [Probe("mpmath-50", mp_chain, GRAD_INSTANCES, _grad_error_mp(False)),
                      Probe("float64", kernel, KERNEL_GRAD_INSTANCES, grad_error_kernel(False))], group="lowrank"),
        _bound_claim(f"{PAPER}/lemma-D.6-error", "(concrete: the printed bound with measured ‖p₁ − p̃₁‖_∞, "
                     "‖p₂ − p̃₂‖_∞, on the loss of Def 1.2 with s = 1/d and the project's p̃₁ = f̃∘q̃, "
                     "p̃₂ = diag(r̃)f̃) ‖g̃ − g‖_∞ ≤ n²‖A₁‖_∞‖A₂‖_∞(‖p₁ − p̃₁‖_∞ + ‖p₂ − p̃₂‖_∞)",
                     "‖g̃ − ∇_X L‖_∞", "n²‖A₁‖_∞‖A₂‖_∞(‖Δp₁‖_∞ + ‖Δp₂‖_∞)",
                     [Probe("mpmath-50", mp_chain, GRAD_INSTANCES, _grad_error_mp(True)),
                      Probe("float64", kernel + "; p̃ from the chain with the kernel's coefficients",
                            KERNEL_GRAD_INSTANCES, grad_error_kernel(True))],
                     printed=True, source=d6, group="lowrank"),
    ]
