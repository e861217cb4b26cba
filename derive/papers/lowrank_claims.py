"""Alman & Song's Section D (docs/mathematics.md §1.6, §2): the equalities about the low-rank chain, Section D's printed
steps transcribed literally (Sections 3–D drop the scale: s = 1), and the Numba low-rank code against the chains.

The chains are in ``lowrank``; the measured bounds (ranks, polynomial and gradient errors) in ``lowrank_measured``.
"""

from __future__ import annotations

import numpy as np

from attngrad.derive import expr as ex
from attngrad.derive.claims import Claim
from attngrad.derive.expr import Diag, FaceSplit, Grad, RowSum, d, n, size

from . import lowrank_bounds, lowrank_measured
from .alman_song import A1, A2, A3, PAPER, SCALES, SOURCE, E, X, Y, alman_song
from .lowrank import (KERNEL_DEGREE, SIZES_K, SMALL_EXACT, U1, V1, alman_song_lowrank, alman_song_polynomial,
                      exact_coefficients, horner, reference_coefficients)


# claims -------------------------------------------------------------------------------------------------------------
def claims() -> list[Claim]:
    """Section D printed (literally), the project's low-rank chain, the measured bounds and the kernels."""
    return (face_splitting_claims() + chain_claims() + printed_claims() + lowrank_measured.rank_claims()
            + lowrank_measured.polynomial_claims() + lowrank_measured.error_claims() + kernel_claims())


def _own(label: str, statement: str, lhs, rhs, model=None, **kw) -> Claim:
    return Claim(f"attngrad/lowrank/{label}", statement, lhs, rhs, "attngrad", False, model, **kw)


def face_splitting_claims() -> list[Claim]:
    m_, k1, k2 = size("m"), size("k1"), size("k2")
    P1, Q1 = ex.Matrix("U1", n, k1), ex.Matrix("V1", m_, k1)
    P2, Q2 = ex.Matrix("U2", n, k2), ex.Matrix("V2", m_, k2)
    sizes = {
        "mpmath": ({"n": 1, "m": 1, "k1": 1, "k2": 1}, {"n": 2, "m": 3, "k1": 2, "k2": 1},
                   {"n": 3, "m": 2, "k1": 2, "k2": 3}, {"n": 4, "m": 5, "k1": 3, "k2": 2}),
        "exact": ({"n": 2, "m": 2, "k1": 1, "k2": 2}, {"n": 1, "m": 2, "k1": 2, "k2": 2}),
        "float64": ({"n": 24, "m": 20, "k1": 4, "k2": 3}, {"n": 64, "m": 48, "k1": 6, "k2": 5}),
    }
    return [_own("face-splitting", "(U₁V₁ᵀ)∘(U₂V₂ᵀ) = (U₁ ⊘ U₂)(V₁ ⊘ V₂)ᵀ for U_i ∈ R^{n×k_i}, V_i ∈ R^{m×k_i} "
                 "(row-wise Kronecker product, docs/mathematics.md)",
                 (P1 @ Q1.T) * (P2 @ Q2.T), FaceSplit(P1, P2) @ FaceSplit(Q1, Q2).T, sizes=sizes)]


def chain_claims() -> list[Claim]:
    """The corrected chain for any factors U₁, V₁, and with exact factors against the true gradient."""
    m = alman_song_lowrank("1/d")
    s = SCALES["1/d"]
    ft, qt = m["f̃"], m["q̃"]
    out = [
        _own("chain-gradient", "g̃ = s·[(A₁ᵀU₃)(V₃ᵀA₂) − (A₁ᵀU₄)(V₄ᵀA₂)] = s·A₁ᵀ(f̃∘q̃ − diag((f̃∘q̃)1)f̃)A₂ for any "
             "U₁, V₁ ∈ R^{n×k}, with f̃ = U₁V₁ᵀ, c̃ = U₁(V₁ᵀh) − E, q̃ = c̃hᵀ, U₃ = U₁⊘c̃, V₃ = V₁⊘h, "
             "r̃ = (c̃∘(c̃+E))1, U₄ = diag(r̃)U₁, V₄ = V₁ (s = 1/d)",
             s * (A1.T @ (ft * qt - Diag(RowSum(ft * qt)) @ ft) @ A2), m["∇̃X"], m, sizes=SIZES_K),
        _own("r-from-c", "r̃ = (c̃∘(c̃+E))1 equals (f̃∘q̃)1 for any U₁, V₁: r̃ in O(nd) from c̃ and E",
             RowSum(ft * qt), m["r̃"], m, sizes=SIZES_K),
        _own("hadamard-factors", "U₃V₃ᵀ = (U₁⊘c̃)(V₁⊘h)ᵀ = f̃∘q̃, q̃ = c̃hᵀ (D.4 with U₂ = c̃, V₂ = h)",
             ft * qt, m["U₃"] @ m["V₃"].T, m, sizes=SIZES_K),
        _own("p2-factors", "U₄V₄ᵀ = diag(r̃)U₁V₁ᵀ = diag((f̃∘q̃)1)f̃ (D.5 with rows)",
             Diag(RowSum(ft * qt)) @ ft, m["U₄"] @ m["V₄"].T, m, sizes=SIZES_K),
        _own("chain-grad-Y", "(V₁ᵀA₃)ᵀ(U₁ᵀc̃) = A₃ᵀf̃ᵀc̃ for any U₁, V₁", A3.T @ ft.T @ m["c̃"], m["∇̃Y"], m, sizes=SIZES_K),
    ]
    exact = alman_song_lowrank("1/d", "exact")
    out.append(_own("exact-factors-grad-X[1/d]", "with exact factors U₁ = f = softmax(S), V₁ = I_n (k = n) the low-rank "
                    "chain's g̃ is ∇_X L of Def 1.2 (s = 1/d)", Grad(alman_song("1/d").loss, X), exact["∇̃X"], exact,
                    sizes={"exact": SMALL_EXACT}))
    out.append(_own("exact-factors-grad-Y[1/d]", "with exact factors U₁ = f, V₁ = I_n the low-rank chain's "
                    "(V₁ᵀA₃)ᵀ(U₁ᵀc̃) is ∇_Y L (s = 1/d)", Grad(alman_song("1/d").loss, Y), exact["∇̃Y"], exact))
    return out


def _printed(label: str, statement: str, lhs, rhs, lemma: str, model=None, **kw) -> Claim:
    return Claim(f"{PAPER}/{label}", statement, lhs, rhs, f"{SOURCE}, Lemma {lemma}", True, model, **kw)


def printed_claims() -> list[Claim]:
    """D.4 and D.6 as printed: D.3's q̃ = hc̃ᵀ gives U₂ = h, V₂ = c̃; D.5's U₄ = U₁, V₄ = diag(r̃)V₁."""
    one = alman_song("1")
    m = alman_song_lowrank("1")  # Section D: scale dropped
    ft, ct, h = m["f̃"], m["c̃"], m["h"]
    qD3 = ex.Named("q̃_D3", h @ ct.T, "D.3: q̃ = h c̃ᵀ")
    out = [
        _printed("lemma-D.4/hadamard", "p̃₁ = U₃V₃ᵀ with U₃ = U₁⊘U₂, V₃ = V₁⊘V₂ and D.3's q̃ = U₂V₂ᵀ = hc̃ᵀ "
                 "(U₂ = h, V₂ = c̃): U₃V₃ᵀ = f̃∘q̃ for any U₁, V₁ ∈ R^{n×k}",
                 ft * qD3, FaceSplit(U1, h) @ FaceSplit(V1, ct).T, "D.4", m, sizes=SIZES_K),
    ]
    f, c = one["f"], one["c"]
    I = ex.Identity(n)
    U3, V3 = ex.Named("U₃", FaceSplit(f, one["h"])), ex.Named("V₃", FaceSplit(I, c))
    out.append(_printed("lemma-D.4/gradient", "p̃₁ = U₃V₃ᵀ (U₃ = U₁⊘h, V₃ = V₁⊘c̃, from D.3's q̃ = hc̃ᵀ) is the "
                        "p₁ = f∘q of Lemma C.7's gradient (q = chᵀ, Def C.3), with exact factors U₁ = f, V₁ = I_n",
                        one["p₁"], U3 @ V3.T, "D.4", one))
    rt = ex.Named("r̃", RowSum(f * ex.Named("q̃_D3", one["h"] @ c.T)), "r̃_{j0} = ⟨f̃_{j0}, q̃_{j0}⟩, D.3's q̃")
    U4, V4 = ex.Named("U₄", f), ex.Named("V₄", Diag(rt) @ I)
    out.append(_printed("lemma-D.6", "g̃ = A₁ᵀ(U₃V₃ᵀ − U₄V₄ᵀ)A₂ with the printed factors (D.4: U₃ = U₁⊘h, "
                        "V₃ = V₁⊘c̃; D.5: U₄ = U₁, V₄ = diag(r̃)V₁, r̃ = (f̃∘q̃)1, q̃ = hc̃ᵀ) is dL/dX, with exact "
                        "factors U₁ = f, V₁ = I_n",
                        Grad(one.loss, X), A1.T @ (U3 @ V3.T - U4 @ V4.T) @ A2, "D.6", one))
    return out


# the Numba code against the chains --------------------------------------------------------------------------------
FEATURE_CASES = (("taylor-shifted", 1.0, 2), ("taylor-shifted", 0.5, 4), ("taylor", 1.0, 3), ("chebyshev", 1.0, 4),
                 ("chebyshev", 2.0, 5))
FEATURE_MP_SIZES = ({"n": 1, "d": 1}, {"n": 2, "d": 1}, {"n": 2, "d": 2}, {"n": 3, "d": 2}, {"n": 4, "d": 3})
Qm, Km = ex.Matrix("Q", n, d), ex.Matrix("K", n, d)


def kernel_claims() -> list[Claim]:
    """numeric.lowrank against the chains: the features give P(s⟨q,k⟩) with rank C(d+g, g); the low-rank gradients
    are the polynomial chain's (Taylor coefficients 1/i!, which do not depend on the kernel's β)."""
    rank_formula = lowrank_bounds.rank_bound().formulas["rank"]
    s = SCALES["1/d"]

    def make(case):
        from attngrad.numeric.lowrank import make_polynomial

        kind, beta_value, g = case
        return make_polynomial(kind, beta_value, degree=g)

    def features_fn(*arrays, _i=0):
        from attngrad.numeric.lowrank import features

        Q, K = arrays
        feat = features(make(FEATURE_CASES[_i]), Q.shape[1], scale=1.0 / Q.shape[1])
        return feat.left(Q) @ feat.right(K).T

    def rank_fn(*arrays, _i=0):
        from attngrad.numeric.lowrank import features

        (Q,) = arrays
        feat = features(make(FEATURE_CASES[_i]), Q.shape[1], scale=1.0 / Q.shape[1])
        return np.array([[feat.left(Q).shape[1], feat.right(Q).shape[1], feat.rank]], dtype=np.float64)

    cases = {"i": len(FEATURE_CASES)}
    out = [
        _own("features", "φ_L(q)·φ_R(k) = P(s⟨q,k⟩) for the numeric monomial features (numeric.lowrank.features, "
             "s = 1/d) of the cases " + ", ".join(f"{c[0]} β={c[1]} g={c[2]}" for c in FEATURE_CASES) +
             ", P with the numeric polynomial's coefficients",
             lambda c: ex.Kernel(f"features{FEATURE_CASES[c.i]}", lambda *a, _i=c.i: features_fn(*a, _i=_i), (Qm, Km), n, n),
             lambda c: horner(exact_coefficients(make(FEATURE_CASES[c.i]).coef), s * (Qm @ Km.T)),
             over=cases, group="lowrank", sizes={"mpmath": FEATURE_MP_SIZES}),
        _own("feature-rank", "the numeric feature matrices φ_L(Q), φ_R(K) have C(d+g, g) columns and .rank = C(d+g, g) "
             "(derive/papers/lowrank_bounds.py's rank formula)",
             lambda c: ex.Kernel(f"feature-rank{FEATURE_CASES[c.i]}", lambda *a, _i=c.i: rank_fn(*a, _i=_i), (Qm,), 1, 3),
             lambda c: ex.Fill(rank_formula.subs({lowrank_bounds.d_: d, lowrank_bounds.g: FEATURE_CASES[c.i][2]}), 1, 3),
             over=cases, group="lowrank"),
    ]
    taylor = reference_coefficients("taylor", KERNEL_DEGREE, 0)
    pm = alman_song_polynomial("1/d", taylor)
    for what, name in (("grad_X", "∇̃X"), ("grad_Y", "∇̃Y"), ("loss", "L̃")):
        for dtype in ("float64",) + (("float32",) if what == "grad_X" else ()):
            def fn(*arrays, _w=what):
                from attngrad.numeric.lowrank import lowrank_loss_and_grad

                res = lowrank_loss_and_grad(*arrays, scale="1/d", degree=KERNEL_DEGREE, poly="taylor", workers=1)
                return getattr(res, _w)

            node = pm[name]
            kern = ex.Kernel(f"lowrank.{what}", fn, (A1, A2, A3, E, Y, X), node.shape[0], node.shape[1], dtype)
            out.append(_own(f"kernel-{what}[taylor-{KERNEL_DEGREE},1/d,{dtype}]",
                            f"the Numba low-rank kernel's {what} in {dtype} (Taylor polynomial of degree {KERNEL_DEGREE}) "
                            f"equals the polynomial chain's {name}: f̃ = diag(P(S)1)⁻¹P(S), P(S) = Σ S^∘i/i!",
                            kern, node, pm, group="lowrank"))
    return out
