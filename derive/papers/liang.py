"""Liang, Sha, Shi, Song, Zhou (arXiv 2408.13233; docs/mathematics.md §4): one self-attention layer, its printed gradient
lemmas and the project's corrected forms.

Attn(X) = softmax(s·XW_QW_KᵀXᵀ)XW_V with s = 1/d as docs/mathematics.md defines it; "any differentiable loss" is the loss
L = ⟨G, Attn⟩ with G an input, so dL/dAttn = G exactly. With h = XW_V, q = Ghᵀ, p₁ = f∘q, p₂ = diag(p₁1)f
("j₀-th row"), p = p₁ − p₂. Lemma F.4 takes the merged W = W_QW_Kᵀ as the variable and drops the scale as §1
does, so it is checked on the loss as defined (s = 1/d) and on the scale-free reading (s = 1), like Lemma C.7.
"""

from __future__ import annotations

from functools import lru_cache

from attngrad.derive import expr as ex
from attngrad.derive.claims import Claim
from attngrad.derive.expr import Diag, Grad, RowSum, d, exp, n
from attngrad.derive.model import Model

from .alman_song import SCALES
from .lowrank import KERNEL_DEGREE, horner, reference_coefficients

PAPER = "liang-2024"
SOURCE = "Liang, Sha, Shi, Song, Zhou 2024"

Xs, G = ex.Matrix("X", n, d), ex.Matrix("G", n, d)
W, WQ, WK, WV = ex.Matrix("W", d, d), ex.Matrix("W_Q", d, d), ex.Matrix("W_K", d, d), ex.Matrix("W_V", d, d)


@lru_cache(maxsize=None)
def self_attention(scale: str = "1/d", merged: bool = True, coefs: tuple | None = None) -> Model:
    """L = ⟨G, softmax(s·XWXᵀ)XW_V⟩ (``merged``: W = W_QW_Kᵀ is one variable; else W_Q, W_K separately) and its
    backward closed form. ``coefs``: exp replaced by the polynomial Σ coefs[i]tⁱ entrywise (what the low-rank
    kernel computes exactly), f̃ = diag(P(S)1)⁻¹P(S)."""
    k = SCALES[scale]
    tag = "" if coefs is None else f", degree-{len(coefs) - 1} polynomial"
    m = Model(f"liang-self-attention[{scale}{'' if merged else ', W_Q, W_K'}{tag}]",
              f"one self-attention layer with upstream gradient G (docs/mathematics.md §4), scale {scale}{tag}",
              ("W", "W_V") if merged else ("W_Q", "W_K", "W_V"))
    S = m.define("S", k * (Xs @ W @ Xs.T) if merged else k * (Xs @ WQ @ WK.T @ Xs.T), "s·XWXᵀ, W = W_QW_Kᵀ")
    if coefs is None:
        u = m.define("u", exp(S), "exp(S)")
    else:
        u = m.define("u", horner(coefs, S), "P(S) entrywise")
    f = m.define("f", Diag(RowSum(u) ** -1) @ u, "row softmax")
    h = m.define("h", Xs @ WV, "values XW_V")
    attn = m.define("Attn", f @ h, "f h")
    m.loss = m.define("L", ex.Total(G * attn), "⟨G, Attn⟩: dL/dAttn = G")
    q = m.define("q", G @ h.T, "G hᵀ")
    p1 = m.define("p₁", f * q, "f∘q")
    p2 = m.define("p₂", Diag(RowSum(p1)) @ f, "diag(p₁1)f: row j0 is f_{j0}f_{j0}ᵀq_{j0}")
    p = m.define("p", p1 - p2, "p₁ − p₂")
    if merged:
        m.define("∇W", k * (Xs.T @ p @ Xs), "s·XᵀpX")
    else:
        m.define("∇W_Q", k * (Xs.T @ p @ Xs @ WK), "s·XᵀpXW_K")
        m.define("∇W_K", k * (Xs.T @ p.T @ Xs @ WQ), "s·XᵀpᵀXW_Q")
    m.define("∇W_V", Xs.T @ f.T @ G, "Xᵀfᵀ G")
    return m


def claims() -> list[Claim]:
    out: list[Claim] = []
    dflt, free = self_attention("1/d"), self_attention("1")

    def printed(label: str, statement: str, lhs, rhs, lemma: str, model: Model, note: str = "") -> None:
        out.append(Claim(f"{PAPER}/{label}", statement, lhs, rhs, f"{SOURCE}, Lemma {lemma}", True, model, note=note))

    printed("lemma-F.4", "dL/dW = Xᵀ p X, W = W_QW_Kᵀ, on Attn = softmax(XWXᵀ/d)XW_V as docs/mathematics.md §4 defines it",
            Grad(dflt.loss, W), Xs.T @ dflt["p"] @ Xs, "F.4",
            dflt, note="the paper drops the 1/d as §1 does; lemma-F.4@scale-free reads it on the loss without it")
    printed("lemma-F.4@scale-free", "dL/dW = Xᵀ p X, W = W_QW_Kᵀ, on the scale-free Attn = softmax(XWXᵀ)XW_V",
            Grad(free.loss, W), Xs.T @ free["p"] @ Xs, "F.4", free)
    printed("lemma-G.3", "dL/dW_V = Xᵀ f(X) G", Grad(dflt.loss, WV), Xs.T @ dflt["f"] @ G, "G.3", dflt)

    def own(label: str, statement: str, lhs, rhs, model: Model, **kw) -> None:
        out.append(Claim(f"attngrad/liang/{label}", statement, lhs, rhs, "attngrad", False, model, **kw))

    # (at s = 1 the project's form is lemma-F.4@scale-free itself)
    own("grad-W[1/d]", "dL/dW = s·XᵀpX (s = 1/d): Lemma F.4 with the scale", Grad(dflt.loss, W), dflt["∇W"], dflt)
    own("grad-W_V[1/d]", "dL/dW_V = Xᵀfᵀ G (Lemma G.3 with fᵀ)", Grad(dflt.loss, WV), dflt["∇W_V"], dflt)
    sep = self_attention("1/d", merged=False)
    small = {"exact": ({"n": 1, "d": 1}, {"n": 2, "d": 1}, {"n": 1, "d": 2})}  # n = d = 2 costs seconds each
    own("grad-W_Q[1/d]", "dL/dW_Q = s·XᵀpXW_K (W_Q, W_K separate)", Grad(sep.loss, WQ), sep["∇W_Q"], sep, sizes=small)
    own("grad-W_K[1/d]", "dL/dW_K = s·XᵀpᵀXW_Q (W_Q, W_K separate)", Grad(sep.loss, WK), sep["∇W_K"], sep, sizes=small)
    out.extend(kernel_claims())
    return out


def kernel_claims() -> list[Claim]:
    """numeric.lowrank.self_attention_grads against the polynomial chain (Taylor coefficients 1/i!, degree 4)."""
    taylor = reference_coefficients("taylor", KERNEL_DEGREE, 0)
    pm = self_attention("1/d", coefs=taylor)
    out = []
    for which, name in ((0, "∇W"), (1, "∇W_V")):
        def fn(*arrays, _w=which):
            from attngrad.numeric.lowrank import self_attention_grads

            return self_attention_grads(*arrays, scale="1/d", degree=KERNEL_DEGREE, poly="taylor", workers=1)[_w]

        node = pm[name]
        kern = ex.Kernel(f"lowrank.self_attention.{name}", fn, (Xs, W, WV, G), node.shape[0], node.shape[1])
        out.append(Claim(f"attngrad/liang/kernel-{name[1:]}[taylor-{KERNEL_DEGREE},1/d]",
                         f"the Numba low-rank self-attention {name} (Taylor, degree {KERNEL_DEGREE}) equals the chain "
                         f"with f̃ = diag(P(S)1)⁻¹P(S) in place of softmax", kern, node, "attngrad", False, pm,
                         group="lowrank"))
    return out
