"""Alman & Song's almost-linear gradient (Section D; docs/mathematics.md §1.6, §2): the low-rank chains, the
polynomials from their definitions, and the instances the claims draw.

Chains:

- ``alman_song_lowrank(scale)``: the project's corrected Section D with the factors of f̃ = U₁V₁ᵀ (n×k) as inputs,
  or (``factors="exact"``) U₁ = f = softmax(S), V₁ = I_n: c̃ = U₁(V₁ᵀh) − E, q̃ = c̃hᵀ (U₂ = c̃, V₂ = h: rank d),
  U₃ = U₁ ⊘ c̃, V₃ = V₁ ⊘ h, r̃ = (c̃∘(c̃+E))1 (O(nd)), U₄ = diag(r̃)U₁, V₄ = V₁ and
  g̃ = s·[(A₁ᵀU₃)(V₃ᵀA₂) − (A₁ᵀU₄)(V₄ᵀA₂)].
- ``alman_song_polynomial(scale, coefs)``: f̃ = diag(P(S)1)⁻¹P(S) with P(t) = Σ a_i tⁱ entrywise, and the backward
  closed form with f̃ in place of f — in exact arithmetic, what the Numba low-rank kernel computes.

The claims about them are in ``lowrank_claims`` (equalities, Section D as printed, the kernels) and
``lowrank_measured`` (measured bounds).
"""

from __future__ import annotations

from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp

from attngrad.derive import expr as ex
from attngrad.derive.evaluate import Evaluator, MpmathField
from attngrad.derive.expr import Diag, FaceSplit, RowSum, n, size
from attngrad.derive.model import Model
from attngrad.vocabulary import ATTENTION_INPUTS

from . import lowrank_bounds
from .alman_song import A1, A2, A3, SCALES, E, X, Y, alman_song, def12_chain

k = size("k")  # the rank of the factors U₁, V₁ of f̃
U1, V1 = ex.Matrix("U1", n, k), ex.Matrix("V1", n, k)
DPS = 50
#: the degree of the Taylor polynomial the kernel claims use: even, so P(S)1 > 0 at any inputs
KERNEL_DEGREE = 4

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
              input_order=ATTENTION_INPUTS + (("U1", "V1") if factors == "inputs" else ()))
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
              "Def 1.2 with a polynomial in place of exp", ("X", "Y"), input_order=ATTENTION_INPUTS)
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
    e^{−β}Σ_j (t+β)ʲ/j! (derive/papers/lowrank_bounds.py, expanded exactly by SymPy); Chebyshev: the interpolant of eᵗ at the
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


def mp_numbers(values) -> list:
    """50-digit mpmath numbers (SymPy numbers evaluated at 65 digits first)."""
    with mpmath.workdps(DPS):
        return [mpmath.mpf(sp.N(v, DPS + 15)) if isinstance(v, sp.Basic) else mpmath.mpf(v) for v in values]


def horner_mp(a: list, t):
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
            e = abs(horner_mp(a, x) - mpmath.exp(x)) / mpmath.exp(x)
            if e > worst:
                worst, at = e, x
        return worst, at


def bounds_module():
    from attngrad.numeric.generated import lowrank_bounds

    return lowrank_bounds


def poly_bound(kind: str, beta_value, degree: int) -> float:
    """The relative-error bound of derive/papers/lowrank_bounds.py, as the kernel evaluates it (numeric/lowrank.py)."""
    from attngrad.numeric.lowrank import error_bound

    return error_bound(kind, degree, float(beta_value))


# drawing instances -------------------------------------------------------------------------------------------------
def instance_rng(inst: dict, seed: int) -> np.random.Generator:
    key = [seed] + [int(round(v * 10**6)) if isinstance(v, float) else v for v in inst.values()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return np.random.default_rng(key)


def draw_inputs(inst: dict, seed: int) -> dict[str, np.ndarray]:
    """Def 1.2's inputs at sizes inst['n'], inst['d']: N(0,1) entries (``default_rng([seed, *instance numbers])``,
    inputs in name order), X scaled so that max|S| = inst['beta']·(1 − 10⁻⁹) for S = s·A₁XA₂ᵀ, s = 1/d."""
    nn, dd = inst["n"], inst["d"]
    rng = instance_rng(inst, seed)
    shapes = {"A1": (nn, dd), "A2": (nn, dd), "A3": (nn, dd), "E": (nn, dd), "X": (dd, dd), "Y": (dd, dd)}
    vals = {name: rng.standard_normal(shape) for name, shape in sorted(shapes.items())}
    if "beta" in inst:
        top = float(np.abs(vals["A1"] @ vals["X"] @ vals["A2"].T).max()) / dd
        vals["X"] *= inst["beta"] * (1 - 1e-9) / top
    return vals


def size_values(**kw) -> dict:
    return {ex.size(name): v for name, v in kw.items()}


def mp_evaluator(vals: dict[str, np.ndarray], nn: int, dd: int, **extra) -> Evaluator:
    field_ = MpmathField(DPS)
    return Evaluator(field_, {k_: field_.array(v) for k_, v in vals.items()}, size_values(n=nn, d=dd, **extra))


def max_abs(a) -> mpmath.mpf:
    return max((abs(x) for x in np.asarray(a).reshape(-1)), default=mpmath.mpf(0))


def mp_rank(a: np.ndarray) -> int:
    """The rank of a matrix of 50-digit numbers: singular values above 10⁻³⁰ of the largest."""
    with mpmath.workdps(DPS):
        sv = mpmath.svd_r(mpmath.matrix(a.tolist()), compute_uv=False)
        top = max(abs(x) for x in sv)
        return sum(1 for x in sv if abs(x) > top * mpmath.mpf(10) ** -30) if top > 0 else 0


