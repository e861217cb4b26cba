"""Alman & Song (NeurIPS 2024, arXiv 2402.04497): the loss of Def 1.2 as a chain, and its claims.

Printed claims (docs/mathematics.md §1.3–§1.6) are transcribed literally, in the paper's own notation: Sections
3–D drop the 1/d of Def 1.2 ("only a rescaling"), use x = vec(X) row-major, A = A₁ ⊗ A₂ with blocks
A_{j0} = A₁[j0,:] ⊗ A₂, and row-objects f(x)_{j0}, h(y)_{i0} as columns. The project's own claims
are about the chain ``alman_song(scale)`` that the kernels implement.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from types import SimpleNamespace

import sympy as sp

from attngrad import vocabulary
from attngrad.derive import expr as ex
from attngrad.derive.claims import Claim
from attngrad.derive.expr import Col, Deriv, Diag, Grad, Kron, Row, RowSum, Vec, d, exp, inner, n, ones, sum_over
from attngrad.derive.model import Model
from attngrad.errors import InputError

PAPER = "alman-song-2024"
SOURCE = "Alman & Song 2024"

A1, A2, A3 = ex.Matrix("A1", n, d), ex.Matrix("A2", n, d), ex.Matrix("A3", n, d)
E = ex.Matrix("E", n, d)
X, Y = ex.Matrix("X", d, d), ex.Matrix("Y", d, d)

#: each scale of the vocabulary as a SymPy expression in d
SCALES: dict[str, sp.Expr] = dict(zip(vocabulary.SCALES, (1 / d, 1 / sp.sqrt(d), sp.Integer(1))))
#: the scale as a parameter of the generated kernel (one kernel serves every scale)
SCALE_PARAMETER = sp.Symbol("s", positive=True)


@lru_cache(maxsize=None)
def alman_song(scale: str = "1/d") -> Model:
    """The loss of Def 1.2, L(X) = ½‖D⁻¹exp(s·A₁XA₂ᵀ)A₃Y − E‖², and its backward closed form.

    Forward: S, u, α, f, h, c, L (Defs 3.2–3.7 in matrix form). Backward (the project's derivation,
    checked by the ``attngrad/…`` claims): q = c hᵀ (Def C.3), p₁ = f∘q (D.4), r = p₁1,
    p₂ = diag(r) f, p = p₁ − p₂ (Def C.5), ∇_X L = s·A₁ᵀpA₂ (Lemma C.7 with the scale), ∇_Y L = A₃ᵀfᵀc.
    """
    if scale not in SCALES and scale != "s":
        raise InputError(f"Unknown scale '{scale}'; use one of {', '.join(SCALES)}, or 's' for a parameter.")
    k = SCALES.get(scale, SCALE_PARAMETER)
    m = Model(f"alman-song[{scale}]", f"Alman–Song attention loss (Def 1.2) with scale {scale}", ("X", "Y"),
              input_order=vocabulary.ATTENTION_INPUTS)
    S = m.define("S", k * (A1 @ X @ A2.T), "scores s·A₁XA₂ᵀ (Def 1.2)")
    u = m.define("u", exp(S), "exp(S) (Def 3.2, matrix form)")
    return def12_chain(m, k, u, EXACT_NOTES)


#: the descriptions of the exact chain's nodes (with the paper's references), by base name
EXACT_NOTES = {
    "α": "row sums exp(S)1_n (Def 3.3)", "f": "row softmax D⁻¹exp(S) (Def 3.4)", "h": "values A₃Y (Def 3.5)",
    "c": "residual fh − E (Def 3.6)", "L": "½‖c‖²_F (Def 1.2, Lemma 3.10)", "q": "c hᵀ (Def C.3)",
    "p₁": "f∘q (Lemma D.4)", "r": "p₁1_n", "p₂": "diag(r) f: row j0 is f_{j0}f_{j0}ᵀq_{j0}",
    "p": "p₁ − p₂ (Def C.5, matrix form)", "∇X": "gradient in X (Lemma C.7 with the scale)", "∇Y": "gradient in Y",
}


def def12_chain(m: Model, k: sp.Expr, u: ex.Node, notes: dict[str, str], mark: str = "") -> Model:
    """Def 1.2's loss and the project's backward chain from u (exp(S), or a stand-in for it), into ``m``:
    α = u1, f = diag(α)⁻¹u, h = A₃Y, c = fh − E, L = ½‖c‖², q = chᵀ, p₁ = f∘q, r = p₁1, p₂ = diag(r)f,
    p = p₁ − p₂, ∇X = k·A₁ᵀpA₂, ∇Y = A₃ᵀfᵀc. ``mark`` (a combining tilde) is put on every name but h's (f̃, c̃, …);
    ``notes`` describes each node by its base name."""
    def name(base: str) -> str:
        return base if base == "h" or not mark else unicodedata.normalize("NFC", base[0] + mark + base[1:])

    def define(base: str, node: ex.Node) -> ex.Node:
        return m.define(name(base), node, notes[base])

    alpha = define("α", RowSum(u))
    f = define("f", Diag(alpha**-1) @ u)
    h = define("h", A3 @ Y)
    c = define("c", f @ h - E)
    m.loss = define("L", ex.half_sq_norm(c))
    q = define("q", c @ h.T)
    p1 = define("p₁", f * q)
    p2 = define("p₂", Diag(define("r", RowSum(p1))) @ f)
    p = define("p", p1 - p2)
    define("∇X", k * (A1.T @ p @ A2))
    define("∇Y", A3.T @ f.T @ c)
    return m


# Section 3 objects, literally (scale 1) --------------------------------------------------------
def _x() -> ex.Node:
    return Vec(X, "row")


def _A_block(j0: int) -> ex.Node:
    """A_{j0} = A₁[j0,:] ⊗ A₂ ∈ R^{n×d²} (Section 3)."""
    return Kron(Row(A1, j0).T, A2)


def _A_col(j0: int, i: int) -> ex.Node:
    """A_{j0,i}: column i of A_{j0} (Lemma B.1)."""
    return Col(_A_block(j0), i)


def _u(j0: int) -> ex.Node:
    return exp(_A_block(j0) @ _x())  # Def 3.2


def _alpha(j0: int) -> ex.Node:
    return inner(_u(j0), ones(n))  # Def 3.3


def _f(j0: int) -> ex.Node:
    return _u(j0) * ex.Pow(_alpha(j0), -1)  # Def 3.4


def _h(i0: int) -> ex.Node:
    return A3 @ Col(Y, i0)  # Def 3.5: h(y)_{i0} = A₃ Y_{*,i0}


def _c(j0: int, i0: int) -> ex.Node:
    return inner(_f(j0), _h(i0)) - ex.Entry(E, j0, i0)  # Def 3.6


def _L(j0: int, i0: int) -> ex.Node:
    return ex.Scale(sp.Rational(1, 2), _c(j0, i0) * _c(j0, i0))  # Def 3.7


def _vec_grad(m: Model) -> ex.Node:
    return Vec(Grad(m.loss, X), "row")


def claims() -> list[Claim]:
    """The printed claims of docs/mathematics.md §1.3–§1.6 and the project's own, in report order."""
    one = alman_song("1")
    idx_ji = {"j0": n, "i": d**2}
    idx_jii = {"j0": n, "i0": d, "i": d**2}
    out: list[Claim] = []

    def printed(label: str, statement: str, lhs, rhs, over=None, note: str = "") -> None:
        kind, rest = label.split("/")[0].split("@")[0].split("-", 1)
        ref = f"{kind.capitalize()} {rest.replace('-', ' ')}"
        out.append(Claim(f"{PAPER}/{label}", statement, lhs, rhs, f"{SOURCE}, {ref}", True, one, over or {}, note=note))

    # tensor trick
    for order in ("row", "col"):
        printed(f"fact-3.8/{order}-major", f"vec(A₁XA₂ᵀ) = (A₁⊗A₂)vec(X), with {order}-major vec",
                Vec(A1 @ X @ A2.T, order), Kron(A1, A2) @ Vec(X, order))
        printed(f"fact-3.9/{order}-major", f"(A₁XA₂ᵀ)_{{j0,*}} = A_{{j0}}vec(X), A_{{j0}} = A₁[j0,:]⊗A₂, {order}-major vec",
                lambda c: Row(A1 @ X @ A2.T, c.j0), lambda c, o=order: _A_block(c.j0) @ Vec(X, o), {"j0": n})
    printed("lemma-3.10", "L(x) = Σ_{j0,i0} L(x)_{j0,i0} = ½‖D⁻¹exp(A₁XA₂ᵀ)A₃Y − E‖² (Section 3: scale dropped)",
            one.loss, sum_over("j0", n, lambda j0: sum_over("i0", d, lambda i0: _L(j0, i0))))
    # Lemma B.1
    printed("lemma-B.1-part-1", "dx/dx_i = e_i", lambda c: Deriv(_x(), X, c.i), lambda c: ex.Basis(c.i, d**2), {"i": d**2})
    printed("lemma-B.1-part-2", "d(A_{j0}x)/dx_i = A_{j0,i}", lambda c: Deriv(_A_block(c.j0) @ _x(), X, c.i),
            lambda c: _A_col(c.j0, c.i), idx_ji)
    printed("lemma-B.1-part-3", "du(x)_{j0}/dx_i = A_{j0,i} ∘ u(x)_{j0}", lambda c: Deriv(_u(c.j0), X, c.i),
            lambda c: _A_col(c.j0, c.i) * _u(c.j0), idx_ji)
    printed("lemma-B.1-part-4", "dα(x)_{j0}/dx_i = ⟨A_{j0,i}, u(x)_{j0}⟩", lambda c: Deriv(_alpha(c.j0), X, c.i),
            lambda c: inner(_A_col(c.j0, c.i), _u(c.j0)), idx_ji)
    printed("lemma-B.1-part-5", "df(x)_{j0}/dx_i = A_{j0,i}∘f(x)_{j0} − ⟨A_{j0,i}, f(x)_{j0}⟩ f(x)_{j0}",
            lambda c: Deriv(_f(c.j0), X, c.i),
            lambda c: _A_col(c.j0, c.i) * _f(c.j0) - _f(c.j0) * inner(_A_col(c.j0, c.i), _f(c.j0)), idx_ji)

    def part6(c: SimpleNamespace) -> ex.Node:
        a, fj, hi = _A_col(c.j0, c.i), _f(c.j0), _h(c.i0)
        return inner(hi, a * fj) - inner(hi, fj) * inner(a, fj)

    printed("lemma-B.1-part-6", "d⟨f(x)_{j0}, h(y)_{i0}⟩/dx_i = ⟨h_{i0}, A_{j0,i}∘f_{j0}⟩ − ⟨h_{i0}, f_{j0}⟩⟨A_{j0,i}, f_{j0}⟩",
            lambda c: Deriv(inner(_f(c.j0), _h(c.i0)), X, c.i), part6, idx_jii)
    printed("lemma-B.1-part-7", "dc(x)_{j0,i0}/dx_i = the expression of part 6",
            lambda c: Deriv(_c(c.j0, c.i0), X, c.i), part6, idx_jii)
    printed("lemma-B.1-part-8", "dL(x)_{j0,i0}/dx_i = c(x)_{j0,i0}(⟨h_{i0}, A_{j0,i}∘f_{j0}⟩ − ⟨f_{j0}, A_{j0,i}⟩⟨h_{i0}, f_{j0}⟩)",
            lambda c: Deriv(_L(c.j0, c.i0), X, c.i), lambda c: _c(c.j0, c.i0) * part6(c), idx_jii)
    printed("lemma-B.1-eq-4", "dL(x)_{j0,i0}/dx_i = c(x)_{j0,i0} A_{j0,i}ᵀ(diag(f_{j0}) − f_{j0}f_{j0}ᵀ)h_{i0}",
            lambda c: Deriv(_L(c.j0, c.i0), X, c.i),
            lambda c: _c(c.j0, c.i0) * (_A_col(c.j0, c.i).T @ (Diag(_f(c.j0)) - _f(c.j0) @ _f(c.j0).T) @ _h(c.i0)),
            idx_jii)

    # Section C: q (Def C.3), p (Def C.5), Lemma C.7 — sums over j0 and i0 as the paper writes them
    def q_row(j0) -> ex.Node:
        # Def C.3: q(x)_{j0} = Σ_{i0} c(x)_{j0,i0} h(y)_{i0}
        return sum_over("i0", d, lambda i0: _h(i0) * _c(j0, i0))

    def p_row(j0) -> ex.Node:
        # Def C.5: p(x)_{j0} = (diag(f_{j0}) − f_{j0}f_{j0}ᵀ) q(x)_{j0}
        return (Diag(_f(j0)) - _f(j0) @ _f(j0).T) @ q_row(j0)

    printed("lemma-C.7", "dL(x)/dx = Σ_{j0} A_{j0}ᵀ p(x)_{j0}, with q (Def C.3) and p (Def C.5)",
            _vec_grad(one), sum_over("j0", n, lambda j0: _A_block(j0).T @ p_row(j0)))
    dflt = alman_song("1/d")
    printed("lemma-C.7@def-1.2", "Lemma C.7's dL/dx = vec(A₁ᵀpA₂) applied to the loss of Def 1.2, whose exponent carries 1/d",
            _vec_grad(dflt), Vec(A1.T @ dflt["p"] @ A2, "row"),
            note="Sections 3–C drop the 1/d of Def 1.2 'since it is only a rescaling'; this reads C.7 on Def 1.2 itself.")
    printed("lemma-C.7-matrix-form", "dL(x)/dx = vec(A₁ᵀ p(x) A₂), p(x) with rows p(x)_{j0}ᵀ",
            _vec_grad(one), Vec(A1.T @ sum_over("j0", n, lambda j0: ex.Basis(j0, n) @ p_row(j0).T) @ A2, "row"))

    # Section D
    f, c_, h, p1 = one["f"], one["c"], one["h"], one["p₁"]
    qD3 = ex.Named("q_D3", h @ c_.T, "Lemma D.3: q(x) := h(y)c(x)ᵀ")
    pD3 = f * qD3 - Diag(RowSum(f * qD3)) @ f
    printed("lemma-D.3", "q(x) := h(y)c(x)ᵀ is the q of Lemma C.7: dL/dx = vec(A₁ᵀpA₂), p_{j0} = (diag f_{j0} − f_{j0}f_{j0}ᵀ)q_{j0}",
            _vec_grad(one), Vec(A1.T @ pD3 @ A2, "row"))

    # "j0-th column p₂(x)_{j0} = f(x)_{j0} f(x)_{j0}ᵀ q(x)_{j0}"
    p2_columns = ex.Named("p₂_D5", sum_over("j0", n, lambda j0: (Row(f, j0) @ (Row(f, j0).T @ Row(one["q"], j0)))
                                            @ ex.Basis(j0, n).T))

    printed("lemma-D.5-columns", "the j0-th column of p₂(x) is f(x)_{j0}f(x)_{j0}ᵀq(x)_{j0}, and dL/dx = vec(A₁ᵀ(p₁ − p₂)A₂)",
            _vec_grad(one), Vec(A1.T @ (p1 - p2_columns) @ A2, "row"))
    rD5 = ex.Named("r̃", RowSum(f * one["q"]), "r̃_{j0} = ⟨f̃_{j0}, q̃_{j0}⟩")
    printed("lemma-D.5-factors", "p̃₂ = f̃ diag(r̃) (U₄ = U₁, V₄ = diag(r̃)V₁), and dL/dx = vec(A₁ᵀ(p₁ − p̃₂)A₂) for exact f̃",
            _vec_grad(one), Vec(A1.T @ (p1 - f @ Diag(rD5)) @ A2, "row"))

    # the project's own claims ------------------------------------------------------------------
    def own(label: str, statement: str, lhs, rhs, model: Model, over=None) -> None:
        out.append(Claim(f"attngrad/{label}", statement, lhs, rhs, "attngrad", False, model, over or {}))

    for scale in SCALES:
        m = alman_song(scale)
        own(f"grad-X[{scale}]", f"∇_X L = s·A₁ᵀpA₂ (s = {scale}), p = f∘q − diag(r)f, q = chᵀ, r = (f∘q)1",
            Grad(m.loss, X), m["∇X"], m)
        own(f"grad-Y[{scale}]", f"∇_Y L = A₃ᵀfᵀc (s = {scale})", Grad(m.loss, Y), m["∇Y"], m)
    m = alman_song("1/d")
    own("r-from-c", "r = (f∘q)1_n = (c∘(c + E))1_n: r in O(nd) from c and E alone", m["r"],
        RowSum(m["c"] * (m["c"] + E)), m)
    own("lemma-D.5-corrected", "row j0 of p₂ = diag(r)f is (f_{j0}f_{j0}ᵀq_{j0})ᵀ (D.5 with rows, not columns)",
        m["p₂"], sum_over("j0", n, lambda j: ex.Basis(j, n) @ (Row(m["f"], j) @ (Row(m["f"], j).T @ Row(m["q"], j))).T), m)
    out.extend(kernel_claims())
    return out


def kernel_claims() -> list[Claim]:
    """The Numba kernel printed from the chain against the chain's closed form: ∇_X for every scale and dtype, L and
    ∇_Y at the default scale for each dtype."""
    outputs = {"loss": "L", "grad_X": "∇X", "grad_Y": "∇Y"}
    out = []
    for method in vocabulary.KERNEL_METHODS:
        for scale in SCALES:
            m = alman_song(scale)
            for dtype in ("float64", "float32"):
                for what, name in outputs.items():
                    if what != "grad_X" and scale != "1/d":
                        continue

                    def fn(*arrays, _s=scale, _w=what, _m=method):
                        from attngrad.numeric.attention import loss_and_grad

                        return getattr(loss_and_grad(*arrays, scale=_s, method=_m), _w)

                    node = m[name]
                    kern = ex.Kernel(f"{method}.{what}", fn, (A1, A2, A3, E, Y, X), node.shape[0], node.shape[1], dtype)
                    out.append(Claim(f"attngrad/{method}-{what}[{scale},{dtype}]",
                                     f"the {method} Numba kernel's {what} in {dtype} equals the chain's {name} (s = {scale})",
                                     kern, node, "attngrad", False, m, group=method))
    return out
