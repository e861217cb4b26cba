"""One attention layer trained by gradient descent (Song, Han, Zhang, Ding, Hong, NeurIPS 2024): chains and claims.

The model is the project's definition of papers.md §3 (the full text was not available): data (X_i, Y_i),
i < N, X_i ∈ R^{n×D}, Y_i ∈ R^{n×d_y}; per head h the weights W_Q, W_K ∈ R^{D×d}, W_V ∈ R^{D×d_v} and
W_O ∈ R^{d_v×d_y}; Q = X_iW_Q, K = X_iW_K, V = X_iW_V; the attention S_i by kernel:

- ``softmax``: softmax_rows(QKᵀ/√d);
- ``gaussian`` (unnormalised, Skyformer style): exp(−‖q_k − k_j‖²/(2√d));
- ``gaussian-normalised``: softmax_rows(−‖q_k − k_j‖²/(2√d));

F_i = Σ_h S_i^h V_i^h W_O^h and the loss f = (1/2N) Σ_i ‖F_i − Y_i‖²_F. The closed-form gradients (the
roles of the paper's Lemma 1 and Lemma 6) are the project's own claims, checked by every tier.
"""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace

import sympy as sp

from attngrad.errors import InputError

from . import expr as E
from .claims import Claim
from .expr import Diag, Grad, RowSum, half_sq_norm, size, softmax_rows
from .model import Model

KERNELS = ("softmax", "gaussian", "gaussian-normalised")
WEIGHTS = ("W_Q", "W_K", "W_V", "W_O")
D, dv, dy = size("D"), size("dv"), size("dy")
n, d = E.n, E.d


def _weights(suffix: str) -> dict[str, E.Matrix]:
    shapes = {"W_Q": (D, d), "W_K": (D, d), "W_V": (D, dv), "W_O": (dv, dy)}
    return {w: E.Matrix(w + suffix, *shape) for w, shape in shapes.items()}


def _sq_dist(Q: E.Node, K: E.Node) -> E.Node:
    """‖q_k − k_j‖² for all rows k of Q and j of K: (Q∘Q)1 + ((K∘K)1)ᵀ − 2QKᵀ (n×n, by broadcasting)."""
    return RowSum(Q * Q) + RowSum(K * K).T - 2 * (Q @ K.T)


@lru_cache(maxsize=None)
def one_layer(kernel: str = "softmax", N: int = 1, heads: int = 1) -> Model:
    """The one-layer loss for N samples and `heads` heads, with every weight a variable.

    Per sample i and head h the chain defines Q, K, V, the scores, S, then F_i, R_i = F_i − Y_i and the loss;
    the backward closed form defines G_i^h = R_i (W_O^h)ᵀ (V_i^h)ᵀ / N (= ∂f/∂S_i^h), P or M, and the four
    gradients ∇W_Q, ∇W_K, ∇W_V, ∇W_O per head (papers.md §3).
    """
    if kernel not in KERNELS:
        raise InputError(f"Unknown kernel '{kernel}'; use one of {', '.join(KERNELS)}.")
    if N < 1 or heads < 1:
        raise InputError("The number of samples and of heads must be at least 1.")
    m = Model(f"one-layer[{kernel},N={N},H={heads}]", f"one attention layer, {kernel} kernel, {N} samples, {heads} heads")
    root = sp.sqrt(d)
    W = [_weights(f"^{h}" if heads > 1 else "") for h in range(heads)]
    losses, grads = [], {(h, w): [] for h in range(heads) for w in WEIGHTS}
    for i in range(N):
        Xi, Yi = E.Matrix(f"X_{i}", n, D), E.Matrix(f"Y_{i}", n, dy)
        parts = []
        for h, w in enumerate(W):
            t = f"{i}" + (f"^{h}" if heads > 1 else "")
            Q = m.define(f"Q_{t}", Xi @ w["W_Q"])
            K = m.define(f"K_{t}", Xi @ w["W_K"])
            V = m.define(f"V_{t}", Xi @ w["W_V"])
            if kernel == "softmax":
                S = m.define(f"S_{t}", softmax_rows(Q @ K.T / root), "softmax(QKᵀ/√d)")
            else:
                dist = m.define(f"dist_{t}", _sq_dist(Q, K), "‖q_k − k_j‖²")
                score = -dist / (2 * root)
                S = m.define(f"S_{t}", E.exp(score) if kernel == "gaussian" else softmax_rows(score))
            parts.append((h, Q, K, V, S, w))
        F = _sum(S @ V @ w["W_O"] for _, _, _, V, S, w in parts)
        R = m.define(f"R_{i}", F - Yi, "residual F_i − Y_i")
        losses.append(half_sq_norm(R))
        for h, Q, K, V, S, w in parts:
            t = f"{i}" + (f"^{h}" if heads > 1 else "")
            G = m.define(f"G_{t}", (R @ w["W_O"].T @ V.T) / N, "∂f/∂S = R W_Oᵀ Vᵀ / N")
            grads[(h, "W_V")].append(Xi.T @ S.T @ R @ w["W_O"].T / N)
            grads[(h, "W_O")].append((S @ V).T @ R / N)
            if kernel == "gaussian":
                M = m.define(f"M_{t}", S * G, "S∘G")
                dQ = (M @ K - Diag(RowSum(M)) @ Q) / root
                dK = (M.T @ Q - Diag(RowSum(M.T)) @ K) / root
            else:
                P = m.define(f"P_{t}", S * G - Diag(RowSum(S * G)) @ S, "S∘G − diag((S∘G)1)S")
                if kernel == "softmax":
                    dQ, dK = P @ K / root, P.T @ Q / root
                else:  # scores −‖q − k‖²/(2√d); the rows of P sum to zero
                    dQ = P @ K / root
                    dK = (P.T @ Q - Diag(RowSum(P.T)) @ K) / root
            grads[(h, "W_Q")].append(Xi.T @ dQ)
            grads[(h, "W_K")].append(Xi.T @ dK)
    m.loss = m.define("f", _sum(losses) / N, "(1/2N) Σ_i ‖F_i − Y_i‖²")
    for (h, w), terms in grads.items():
        m.define(f"∇{w}" + (f"^{h}" if heads > 1 else ""), _sum(terms))
    return m


def _sum(terms) -> E.Node:
    from .alman_song import _sum as balanced

    return balanced(terms)


SIZES = {
    "mpmath": ({"N": 1, "n": 1, "D": 1, "d": 1, "dv": 1, "dy": 1}, {"N": 1, "n": 2, "D": 2, "d": 1, "dv": 1, "dy": 1},
               {"N": 2, "n": 2, "D": 3, "d": 2, "dv": 2, "dy": 1}, {"N": 2, "n": 3, "D": 3, "d": 2, "dv": 2, "dy": 2}),
    "exact": ({"N": 1, "n": 2, "D": 1, "d": 1, "dv": 1, "dy": 1},),
    "float64": ({"N": 3, "n": 5, "D": 6, "d": 3, "dv": 2, "dy": 2},),
}


def claims() -> list[Claim]:
    """The closed-form gradient of every weight for every kernel (one head), and W_Q with two heads."""
    out = []

    def side(kernel: str, w: str, heads: int, closed: bool):
        def build(c: SimpleNamespace) -> E.Node:
            m = one_layer(kernel, c.N, heads)
            name = f"∇{w}" + ("^0" if heads > 1 else "")
            return m[name] if closed else Grad(m.loss, m.inputs()[w + ("^0" if heads > 1 else "")])
        return build

    for kernel in KERNELS:
        for w in WEIGHTS + ("W_Q@2 heads",):
            heads = 2 if "@" in w else 1
            weight = w.split("@")[0]
            label = f"grad-{weight}" + ("-2-heads" if heads > 1 else "")
            out.append(Claim(f"attngrad/one-layer/{label}[{kernel}]",
                             f"∇_{weight} f in closed form ({kernel} kernel{', 2 heads' if heads > 1 else ''}; papers.md §3)",
                             side(kernel, weight, heads, False), side(kernel, weight, heads, True), sizes=SIZES))
    return out
