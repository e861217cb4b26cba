"""Alman & Song's almost-linear gradient (Section D; docs/mathematics.md §1.6, §2): the low-rank chain and its claims.

Chains:

- ``alman_song_lowrank(scale)``: the project's corrected Section D with the factors of f̃ = U₁V₁ᵀ (n×k) as inputs,
  or (``factors="exact"``) U₁ = f = softmax(S), V₁ = I_n: c̃ = U₁(V₁ᵀh) − E, q̃ = c̃hᵀ (U₂ = c̃, V₂ = h: rank d),
  U₃ = U₁ ⊘ c̃, V₃ = V₁ ⊘ h, r̃ = (c̃∘(c̃+E))1 (O(nd)), U₄ = diag(r̃)U₁, V₄ = V₁ and
  g̃ = s·[(A₁ᵀU₃)(V₃ᵀA₂) − (A₁ᵀU₄)(V₄ᵀA₂)].
- ``alman_song_polynomial(scale, coefs)``: f̃ = diag(P(S)1)⁻¹P(S) with P(t) = Σ a_i tⁱ entrywise, and the backward
  closed form with f̃ in place of f — in exact arithmetic, what the Numba low-rank kernel computes.

Claims: equalities (the tiers of ``derive.check``), Section D's printed steps transcribed literally (Sections 3–D
drop the scale: s = 1), and measured bounds (``BoundClaim``: measured ≤ bound on instances drawn afresh each run;
the bound values are the closed forms of derive/polynomial.py as printed into numeric/generated/lowrank_bounds.py).
The paper's D.1, D.2 and D.6 error statements are asymptotic (ε/poly(n)); their claims here are concrete readings,
said so in their statements.
"""

from __future__ import annotations

from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp

from attngrad.derive import expr as ex
from . import lowrank_bounds
from .alman_song import A1, A2, A3, PAPER, SCALES, SOURCE, E, X, Y, alman_song, def12_chain
from attngrad.derive.claims import BoundClaim, Claim, Measurement, Probe
from attngrad.derive.evaluate import Evaluator, FloatField, MpmathField
from attngrad.derive.expr import Diag, FaceSplit, Grad, RowSum, d, n, size
from attngrad.derive.model import Model

k = size("k")  # the rank of the factors U₁, V₁ of f̃
U1, V1 = ex.Matrix("U1", n, k), ex.Matrix("V1", n, k)
DPS = 50
KINDS = lowrank_bounds.POLYNOMIALS  # taylor-shifted, taylor, chebyshev

#: size points of the chains with factors U₁, V₁ (n × k) as inputs
SIZES_K = {
    "mpmath": ({"n": 1, "d": 1, "k": 1}, {"n": 2, "d": 1, "k": 2}, {"n": 2, "d": 2, "k": 1}, {"n": 3, "d": 2, "k": 2},
               {"n": 4, "d": 3, "k": 2}, {"n": 5, "d": 2, "k": 3}),
    "exact": ({"n": 2, "d": 1, "k": 2}, {"n": 2, "d": 2, "k": 1}, {"n": 1, "d": 2, "k": 2}),
    "float64": ({"n": 24, "d": 4, "k": 5}, {"n": 64, "d": 8, "k": 6}),
}
#: the exact tier below n = d = 2 for the heaviest gradient claims (n = d = 2 takes seconds each; the 50-digit tier
#: covers sizes up to 5×4)
SMALL_EXACT = ({"n": 1, "d": 1}, {"n": 2, "d": 1}, {"n": 1, "d": 2})


# chains -----------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def alman_song_lowrank(scale: str = "1/d", factors: str = "inputs") -> Model:
    """Section D as the project corrects it: g̃ from the factors of f̃ without any n×n matrix (see the module doc).

    ``factors="inputs"``: U₁, V₁ ∈ R^{n×k} are inputs (any f̃ = U₁V₁ᵀ). ``factors="exact"``: U₁ = f (the softmax of
    ``alman_song(scale)``), V₁ = I_n, so f̃ = f and g̃ must be ∇_X L. ``f̃``, ``q̃`` and ``p̃`` are defined for the
    claims only; the algorithm never forms them.
    """
    s = SCALES[scale]
    m = Model(f"alman-song-lowrank[{scale}{', exact factors' if factors == 'exact' else ''}]",
              f"Alman–Song Section D, corrected, with scale {scale}", ("X", "Y"),
              input_order=("A1", "A2", "A3", "E", "Y", "X") + (("U1", "V1") if factors == "inputs" else ()))
    if factors == "exact":
        u1 = m.define("U₁", alman_song(scale)["f"], "f = softmax(S): exact factors")
        v1 = m.define("V₁", ex.Identity(n), "I_n")
    elif factors == "inputs":
        u1, v1 = U1, V1
    else:
        raise ValueError(f"factors must be 'inputs' or 'exact', got {factors!r}")
    h = m.define("h", A3 @ Y, "values A₃Y")
    ft = m.define("f̃", u1 @ v1.T, "U₁V₁ᵀ (for the claims; never formed)")
    ct = m.define("c̃", u1 @ (v1.T @ h) - E, "U₁(V₁ᵀh) − E: O(nkd) (D.2)")
    qt = m.define("q̃", ct @ h.T, "U₂V₂ᵀ with U₂ = c̃, V₂ = h: rank d (D.3 corrected; for the claims)")
    U3 = m.define("U₃", FaceSplit(u1, ct), "U₁ ⊘ U₂ = U₁ ⊘ c̃ (n × kd)")
    V3 = m.define("V₃", FaceSplit(v1, h), "V₁ ⊘ V₂ = V₁ ⊘ h (n × kd)")
    rt = m.define("r̃", RowSum(ct * (ct + E)), "(c̃∘(c̃+E))1 = (f̃∘q̃)1: O(nd)")
    U4 = m.define("U₄", Diag(rt) @ u1, "diag(r̃)U₁ (D.5 corrected: rows)")
    V4 = m.define("V₄", v1, "V₁")
    p1 = m.define("p̃₁", ft * qt, "f̃∘q̃ (for the claims)")
    m.define("p̃", p1 - Diag(RowSum(p1)) @ ft, "f̃∘q̃ − diag((f̃∘q̃)1)f̃ (for the claims)")
    m.define("∇̃X", s * ((A1.T @ U3) @ (V3.T @ A2) - (A1.T @ U4) @ (V4.T @ A2)),
             "s·[(A₁ᵀU₃)(V₃ᵀA₂) − (A₁ᵀU₄)(V₄ᵀA₂)] (D.6 corrected)")
    m.define("∇̃Y", (v1.T @ A3).T @ (u1.T @ ct), "(V₁ᵀA₃)ᵀ(U₁ᵀc̃)")
    return m


def horner(coefs: tuple, t: ex.Node) -> ex.Node:
    """P(t) = Σ_i a_i tⁱ entrywise (Horner's scheme; a_i SymPy numbers)."""
    acc: ex.Node = ex.Fill(coefs[-1], *t.shape)
    for a in reversed(coefs[:-1]):
        acc = acc * t + a
    return acc


@lru_cache(maxsize=None)
def alman_song_polynomial(scale: str, coefs: tuple) -> Model:
    """The loss of Def 1.2 with exp replaced by P(t) = Σ_i coefs[i] tⁱ entrywise, and its backward closed form with
    f̃ = diag(P(S)1)⁻¹P(S) in place of f: g̃ = s·A₁ᵀ(f̃∘q̃ − diag((f̃∘q̃)1)f̃)A₂, q̃ = c̃hᵀ, c̃ = f̃h − E."""
    s = SCALES[scale]
    m = Model(f"alman-song-polynomial[{scale}, degree {len(coefs) - 1}]",
              "Def 1.2 with a polynomial in place of exp", ("X", "Y"), input_order=("A1", "A2", "A3", "E", "Y", "X"))
    S = m.define("S", s * (A1 @ X @ A2.T), "scores s·A₁XA₂ᵀ")
    ut = m.define("ũ", horner(coefs, S), "P(S) entrywise")
    return def12_chain(m, s, ut, POLYNOMIAL_NOTES, mark="\u0303")


POLYNOMIAL_NOTES = {
    "α": "row sums P(S)1", "f": "diag(P(S)1)⁻¹P(S)", "h": "values A₃Y", "c": "f̃h − E", "L": "½‖c̃‖²",
    "q": "c̃hᵀ", "p₁": "f̃∘q̃", "r": "p̃₁1", "p₂": "diag(r̃)f̃", "p": "p̃₁ − p̃₂", "∇X": "s·A₁ᵀp̃A₂", "∇Y": "A₃ᵀf̃ᵀc̃",
}


def exact_coefficients(values) -> tuple:
    """Float coefficients as exact SymPy rationals (their binary values)."""
    return tuple(sp.Rational(float(v)) for v in values)


# the polynomials from their definitions (independent of numeric/) ------------------------------------------------
def reference_coefficients(kind: str, degree: int, beta_value: float) -> tuple:
    """a_0 … a_g of the ``kind`` polynomial on [−β, β] from its definition: Taylor Σ tⁱ/i!; shifted Taylor
    e^{−β}Σ_j (t+β)ʲ/j! (derive/polynomial.py, expanded exactly by SymPy); Chebyshev: the interpolant of eᵗ at the
    g+1 points β·cos((2i+1)π/(2g+2)), its Vandermonde system solved at 70 digits."""
    b = sp.Rational(str(beta_value))
    if kind == "taylor":
        return tuple(sp.Integer(1) / sp.factorial(i) for i in range(degree + 1))
    if kind == "taylor-shifted":
        poly = sp.Poly(sp.expand(lowrank_bounds.shifted_taylor(degree).subs(lowrank_bounds.beta, b)), lowrank_bounds.x)
        coeffs = poly.all_coeffs()[::-1]
        return tuple(coeffs) + (sp.Integer(0),) * (degree + 1 - len(coeffs))
    if kind == "chebyshev":
        with mpmath.workdps(70):
            half = mpmath.mpf(b.p) / b.q
            pts = [half * mpmath.cos((2 * i + 1) * mpmath.pi / (2 * degree + 2)) for i in range(degree + 1)]
            V = mpmath.matrix([[t**j for j in range(degree + 1)] for t in pts])
            a = mpmath.lu_solve(V, mpmath.matrix([mpmath.exp(t) for t in pts]))
            return tuple(sp.Float(mpmath.nstr(a[i], 65), 65) for i in range(degree + 1))
    raise ValueError(f"unknown polynomial kind {kind!r}")


def _mp(values) -> list:
    """50-digit mpmath numbers (SymPy numbers evaluated at 65 digits first)."""
    with mpmath.workdps(DPS):
        return [mpmath.mpf(sp.N(v, DPS + 15)) if isinstance(v, sp.Basic) else mpmath.mpf(v) for v in values]


def _horner_mp(a: list, t):
    acc = a[-1]
    for c in reversed(a[:-1]):
        acc = acc * t + c
    return acc


def relative_error(a: list, beta_value: float, points: int = 600):
    """max |P(x) − eˣ|/eˣ over x = −β + 2βt/T, t = 0 … T (both endpoints), at 50 digits; and where."""
    with mpmath.workdps(DPS):
        b = mpmath.mpf(beta_value)
        worst, at = mpmath.mpf(0), -b
        for t in range(points + 1):
            x = -b + 2 * b * t / points
            e = abs(_horner_mp(a, x) - mpmath.exp(x)) / mpmath.exp(x)
            if e > worst:
                worst, at = e, x
        return worst, at


def _bounds_module():
    from attngrad.numeric.generated import lowrank_bounds

    return lowrank_bounds


def poly_bound(kind: str, beta_value, degree: int) -> float:
    """The relative-error bound of derive/polynomial.py, as the kernel evaluates it (numeric/lowrank.py)."""
    from attngrad.numeric.lowrank import error_bound

    return error_bound(kind, degree, float(beta_value))


# drawing instances -------------------------------------------------------------------------------------------------
def _rng(inst: dict, seed: int) -> np.random.Generator:
    key = [seed] + [int(round(v * 10**6)) if isinstance(v, float) else v for v in inst.values()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return np.random.default_rng(key)


def draw_inputs(inst: dict, seed: int) -> dict[str, np.ndarray]:
    """Def 1.2's inputs at sizes inst['n'], inst['d']: N(0,1) entries (``default_rng([seed, *instance numbers])``,
    inputs in name order), X scaled so that max|S| = inst['beta']·(1 − 10⁻⁹) for S = s·A₁XA₂ᵀ, s = 1/d."""
    nn, dd = inst["n"], inst["d"]
    rng = _rng(inst, seed)
    shapes = {"A1": (nn, dd), "A2": (nn, dd), "A3": (nn, dd), "E": (nn, dd), "X": (dd, dd), "Y": (dd, dd)}
    vals = {name: rng.standard_normal(shape) for name, shape in sorted(shapes.items())}
    if "beta" in inst:
        top = float(np.abs(vals["A1"] @ vals["X"] @ vals["A2"].T).max()) / dd
        vals["X"] *= inst["beta"] * (1 - 1e-9) / top
    return vals


def _sizes(**kw) -> dict:
    return {ex.size(name): v for name, v in kw.items()}


def _mp_eval(vals: dict[str, np.ndarray], nn: int, dd: int, **extra) -> Evaluator:
    field_ = MpmathField(DPS)
    return Evaluator(field_, {k_: field_.array(v) for k_, v in vals.items()}, _sizes(n=nn, d=dd, **extra))


def _maxabs(a) -> mpmath.mpf:
    return max((abs(x) for x in np.asarray(a).reshape(-1)), default=mpmath.mpf(0))


def _mp_rank(a: np.ndarray) -> int:
    """The rank of a matrix of 50-digit numbers: singular values above 10⁻³⁰ of the largest."""
    with mpmath.workdps(DPS):
        sv = mpmath.svd_r(mpmath.matrix(a.tolist()), compute_uv=False)
        top = max(abs(x) for x in sv)
        return sum(1 for x in sv if abs(x) > top * mpmath.mpf(10) ** -30) if top > 0 else 0


# claims -------------------------------------------------------------------------------------------------------------
def claims() -> list[Claim]:
    """Section D printed (literally), the project's low-rank chain, the measured bounds and the kernels."""
    return (face_splitting_claims() + chain_claims() + printed_claims() + rank_claims() + polynomial_claims()
            + error_claims() + kernel_claims())


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
    ex = alman_song_lowrank("1/d", "exact")
    out.append(_own("exact-factors-grad-X[1/d]", "with exact factors U₁ = f = softmax(S), V₁ = I_n (k = n) the low-rank "
                    "chain's g̃ is ∇_X L of Def 1.2 (s = 1/d)", Grad(alman_song("1/d").loss, X), ex["∇̃X"], ex,
                    sizes={"exact": SMALL_EXACT}))
    out.append(_own("exact-factors-grad-Y[1/d]", "with exact factors U₁ = f, V₁ = I_n the low-rank chain's "
                    "(V₁ᵀA₃)ᵀ(U₁ᵀc̃) is ∇_Y L (s = 1/d)", Grad(alman_song("1/d").loss, Y), ex["∇̃Y"], ex))
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


# measured claims ---------------------------------------------------------------------------------------------------
def _bound_claim(cid: str, statement: str, measured: str, bound: str, probes, *, printed: bool = False,
                 source: str = "attngrad", relation: str = "<=", group: str = "") -> BoundClaim:
    return BoundClaim(cid, statement, lhs=measured, rhs=bound, source=source, printed=printed, probes=tuple(probes),
                      relation=relation, group=group)


def _factors(inst: dict, seed: int) -> dict[str, np.ndarray]:
    """Def 1.2's inputs and random factors U₁, V₁ (n × k)."""
    vals = draw_inputs(inst, seed)
    rng = _rng({**inst, "factors": 1}, seed)
    vals["U1"], vals["V1"] = rng.standard_normal((inst["n"], inst["k"])), rng.standard_normal((inst["n"], inst["k"]))
    return vals


def _rank_of(node_of, inst: dict, seed: int) -> int:
    ev = _mp_eval(_factors(inst, seed), inst["n"], inst["d"], k=inst["k"])
    with mpmath.workdps(DPS):
        return _mp_rank(ev(node_of()))


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
        a = _mp(reference_coefficients(kind, inst["g"], inst["beta"]))
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
            spread = max(_horner_mp([abs(c) for c in a], b) / mpmath.exp(-b), mpmath.mpf(1))
        return Measurement(err, bound, 64 * U64 * float(spread),
                           {"degree": pol.degree, "kernel_bound": pol.bound, "formula_bound": formula,
                            "bound_matches_formula": abs(pol.bound - formula) <= 1e-12 * formula, "worst_x": float(at)})
    return run


def polynomial_claims() -> list[Claim]:
    out: list[Claim] = []
    names = {"taylor-shifted": "e^{−β}Σ_{j≤g}(x+β)ʲ/j!", "taylor": "Σ_{j≤g}xʲ/j!",
             "chebyshev": "the interpolant of eˣ at the g+1 Chebyshev points of [−β, β]"}
    for kind in KINDS:
        fn = kind.replace("-", "_")
        out.append(_bound_claim(
            f"attngrad/lowrank/{kind}-error",
            f"the {kind} polynomial P = {names[kind]} has max_{{x∈[−β,β]}} |P(x) − eˣ|/eˣ ≤ the bound {fn}(β, g) of "
            "derive/polynomial.py (measured on 601 equispaced points with both endpoints); the numeric "
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
    ev = _mp_eval(vals, inst["n"], inst["d"])
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
        eps_m = _maxabs(ut / u - 1)
    return u, ut, f, ft, eps_m


def _softmax_measure(absolute: bool):
    def run(inst, seed):
        _, _, f, ft, eps_m = _softmax_pair(inst, seed, absolute)
        LB = _bounds_module()
        with mpmath.workdps(DPS):
            if absolute:
                measured, bound = _maxabs(ft - f), eps_m / (2 * (1 - eps_m))
            else:
                measured, bound = _maxabs(ft / f - 1), LB.softmax_error(epsilon=eps_m)
        return Measurement(measured, bound, bound * mpmath.mpf(10) ** -40, {"epsilon": eps_m})
    return run


def _poly_instance_chain(inst: dict, seed: int):
    """Inputs, the 50-digit evaluator, the exact chain and the polynomial chain of an instance (shifted Taylor of
    degree g on [−β, β], or inst['poly'])."""
    vals = draw_inputs(inst, seed)
    ev = _mp_eval(vals, inst["n"], inst["d"])
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
            dc = _maxabs(ev(pm["c̃"]) - ev(base["c"]))
            H = _maxabs(ev(base["h"]))
            if printed:
                df = _maxabs(ev(pm["f̃"]) - ev(base["f"]))
                return Measurement(dc, inst["n"] * H * df, mpmath.mpf(10) ** -40, {"f_error": df})
            eps_f = _bounds_module().softmax_error(epsilon=mpmath.mpf(eps))
            return Measurement(dc, eps_f * H, mpmath.mpf(10) ** -40, {"epsilon": eps})
    return run


def _f_error(inst, seed):
    vals, ev, base, pm, eps = _poly_instance_chain(inst, seed)
    with mpmath.workdps(DPS):
        return Measurement(_maxabs(ev(pm["f̃"]) - ev(base["f"])), eps, eps * 1e-13, {"epsilon": eps})


def _grad_error_mp(printed: bool):
    def run(inst, seed):
        vals, ev, base, pm, eps = _poly_instance_chain(inst, seed)
        nn, dd = inst["n"], inst["d"]
        LB = _bounds_module()
        with mpmath.workdps(DPS):
            err = _maxabs(ev(pm["∇̃X"]) - ev(base["∇X"]))
            if printed:
                dp1, dp2 = _maxabs(ev(pm["p̃₁"]) - ev(base["p₁"])), _maxabs(ev(pm["p̃₂"]) - ev(base["p₂"]))
                nr = _norms(vals)
                bound = LB.gradient_error_d6(a_1=nr["a_1"], a_2=nr["a_2"], dp_1=dp1, dp_2=dp2, n=nn)
                return Measurement(err, bound, bound * 1e-13, {"dp_1": dp1, "dp_2": dp2})
            eps_f = LB.softmax_error(epsilon=mpmath.mpf(eps))
            bound = LB.gradient_error(**_norms(vals), d=dd, epsilon_f=eps_f, n=nn, s=mpmath.mpf(1) / dd)
            return Measurement(err, bound, bound * 1e-13, {"epsilon": eps, "epsilon_f": eps_f})
    return run


def _grad_error_kernel(printed: bool):
    def run(inst, seed):
        from attngrad.numeric.lowrank import lowrank_loss_and_grad

        vals = draw_inputs(inst, seed)
        nn, dd = inst["n"], inst["d"]
        res = lowrank_loss_and_grad(vals["A1"], vals["A2"], vals["A3"], vals["E"], vals["Y"], vals["X"], scale="1/d",
                                    eps=inst["eps"], poly=inst.get("poly", "auto"), threads=1)
        ev = Evaluator(FloatField(), vals, _sizes(n=nn, d=dd))
        base = alman_song("1/d")
        g = ev(base["∇X"])
        err = float(np.abs(res.grad_X - g).max())
        LB = _bounds_module()
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
                      Probe("float64", kernel, KERNEL_GRAD_INSTANCES, _grad_error_kernel(False))], group="lowrank"),
        _bound_claim(f"{PAPER}/lemma-D.6-error", "(concrete: the printed bound with measured ‖p₁ − p̃₁‖_∞, "
                     "‖p₂ − p̃₂‖_∞, on the loss of Def 1.2 with s = 1/d and the project's p̃₁ = f̃∘q̃, "
                     "p̃₂ = diag(r̃)f̃) ‖g̃ − g‖_∞ ≤ n²‖A₁‖_∞‖A₂‖_∞(‖p₁ − p̃₁‖_∞ + ‖p₂ − p̃₂‖_∞)",
                     "‖g̃ − ∇_X L‖_∞", "n²‖A₁‖_∞‖A₂‖_∞(‖Δp₁‖_∞ + ‖Δp₂‖_∞)",
                     [Probe("mpmath-50", mp_chain, GRAD_INSTANCES, _grad_error_mp(True)),
                      Probe("float64", kernel + "; p̃ from the chain with the kernel's coefficients",
                            KERNEL_GRAD_INSTANCES, _grad_error_kernel(True))],
                     printed=True, source=d6, group="lowrank"),
    ]


# the Numba code against the chains --------------------------------------------------------------------------------
FEATURE_CASES = (("taylor-shifted", 1.0, 2), ("taylor-shifted", 0.5, 4), ("taylor", 1.0, 3), ("chebyshev", 1.0, 4),
                 ("chebyshev", 2.0, 5))
FEATURE_MP_SIZES = ({"n": 1, "d": 1}, {"n": 2, "d": 1}, {"n": 2, "d": 2}, {"n": 3, "d": 2}, {"n": 4, "d": 3})
Qm, Km = ex.Matrix("Q", n, d), ex.Matrix("K", n, d)
KERNEL_DEGREE = 4  # even: the Taylor polynomial is positive everywhere, so P(S)1 > 0 at any inputs


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
             "(derive/polynomial.py's rank formula)",
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

                res = lowrank_loss_and_grad(*arrays, scale="1/d", degree=KERNEL_DEGREE, poly="taylor", threads=1)
                return getattr(res, _w)

            node = pm[name]
            kern = ex.Kernel(f"lowrank.{what}", fn, (A1, A2, A3, E, Y, X), node.shape[0], node.shape[1], dtype)
            out.append(_own(f"kernel-{what}[taylor-{KERNEL_DEGREE},1/d,{dtype}]",
                            f"the Numba low-rank kernel's {what} in {dtype} (Taylor polynomial of degree {KERNEL_DEGREE}) "
                            f"equals the polynomial chain's {name}: f̃ = diag(P(S)1)⁻¹P(S), P(S) = Σ S^∘i/i!",
                            kern, node, pm, group="lowrank"))
    return out
