"""One attention layer trained by gradient descent (Song, Han, Zhang, Ding, Hong, NeurIPS 2024): chains and claims.

The model is the project's definition of docs/mathematics.md §3 (the full text was not available): data (X_i, Y_i),
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

import numpy as np
import sympy as sp

from attngrad.derive import expr as ex
from attngrad.derive.claims import Claim
from attngrad.derive.expr import Diag, Grad, RowSum, balanced_sum, half_sq_norm, size, softmax_rows
from attngrad.derive.model import Model
from attngrad.errors import InputError
from attngrad.vocabulary import KERNELS, ONE_LAYER_MODULES, TRAINING_MODES, WEIGHTS

D, dv, dy = size("D"), size("dv"), size("dy")
n, d = ex.n, ex.d


def _weights(suffix: str) -> dict[str, ex.Matrix]:
    shapes = {"W_Q": (D, d), "W_K": (D, d), "W_V": (D, dv), "W_O": (dv, dy)}
    return {w: ex.Matrix(w + suffix, *shape) for w, shape in shapes.items()}


def _sq_dist(Q: ex.Node, K: ex.Node) -> ex.Node:
    """‖q_k − k_j‖² for all rows k of Q and j of K: (Q∘Q)1 + ((K∘K)1)ᵀ − 2QKᵀ (n×n, by broadcasting)."""
    return RowSum(Q * Q) + RowSum(K * K).T - 2 * (Q @ K.T)


@lru_cache(maxsize=None)
def one_layer(kernel: str = "softmax", N: int = 1, heads: int = 1, equal_keys: bool = False,
              train: tuple[str, ...] = WEIGHTS, zero_query: bool = False) -> Model:
    """The one-layer loss for N samples and `heads` heads, and its gradient in the trained weights (docs/mathematics.md §3).

    Per sample i and head h the chain defines Q, K, V, the scores, S, VO = V W_O, then F_i = Σ_h S VO,
    R_i = F_i − Y_i and the loss f = (1/2N) Σ_i ‖R_i‖². The backward closed form (the roles of the paper's
    Lemma 1 and Lemma 6) defines G = R VOᵀ / N (= ∂f/∂S), then P = S∘G − diag((S∘G)1)S (softmax,
    gaussian-normalised) or M = S∘G (gaussian), and ∇W for every weight in ``train``. Products that contract
    over the token index (SᵀR, PᵀQ) are definitions of their own, so a kernel streams them as sums over rows.

    A weight that is not trained is constant during training, so the products built from it alone are inputs
    of the chain (Q = XW_Q, K = XW_K, V = XW_V, VO = XW_VW_O, computed once per run): a kernel for a training
    mode does only that mode's work. ``equal_keys``: every key is the same vector k (K_i = 1kᵀ, no W_K), the
    Softmax degenerate case of docs/mathematics.md §3.1. ``zero_query``: W_Q = 0, so every query is zero (no W_Q),
    the limit of a small W_Q scale (docs/mathematics.md §3.3).
    """
    if kernel not in KERNELS:
        raise InputError(f"Unknown kernel '{kernel}'; use one of {', '.join(KERNELS)}.")
    if N < 1 or heads < 1:
        raise InputError("The number of samples and of heads must be at least 1.")
    bad = [w for w in train if w not in WEIGHTS] + (["W_K"] if equal_keys and "W_K" in train else []) + (
        ["W_Q"] if zero_query and "W_Q" in train else [])
    if bad or not train:
        why = (" (no W_K with equal keys)" if equal_keys else "") + (" (no W_Q with zero queries)" if zero_query else "")
        raise InputError(f"Cannot train {', '.join(bad) or 'nothing'}; train a non-empty subset of {', '.join(WEIGHTS)}"
                         f"{why}.")
    tags = ([] if set(train) == set(WEIGHTS) else ["train " + ",".join(train)]) + (["equal keys"] if equal_keys else []) + (
        ["zero queries"] if zero_query else [])
    m = Model(f"one-layer[{kernel},N={N},H={heads}{''.join(',' + t for t in tags)}]",
              f"one attention layer, {kernel} kernel, {N} samples, {heads} heads" + "".join(", " + t for t in tags))
    root = sp.sqrt(d)
    W = [_weights(_head(h, heads)) for h in range(heads)]
    k_vec = ex.Matrix("k", d, 1)
    losses, grads = [], {(h, w): [] for h in range(heads) for w in train}
    for i in range(N):
        Xi, Yi = ex.Matrix(f"X_{i}", n, D), ex.Matrix(f"Y_{i}", n, dy)
        parts = []
        for h, w in enumerate(W):
            t = f"{i}{_head(h, heads)}"

            def product(name: str, weights: tuple[str, ...], cols, expr, frozen, doc: str = "") -> ex.Node:
                if any(x in train for x in weights):
                    return m.define(f"{name}_{t}", expr(), doc)
                m.frozen[f"{name}_{t}"] = frozen  # constant while training: an input of the chain
                return ex.Matrix(f"{name}_{t}", n, cols)

            if zero_query:
                Q = m.define(f"Q_{t}", ex.Fill(0, n, d), "every query zero (W_Q = 0)")
            else:
                Q = product("Q", ("W_Q",), d, lambda: Xi @ w["W_Q"], Xi @ w["W_Q"])
            if equal_keys:
                K = m.define(f"K_{t}", ex.ones(n) @ k_vec.T, "every key equal to k")
            else:
                K = product("K", ("W_K",), d, lambda: Xi @ w["W_K"], Xi @ w["W_K"])
            V = product("V", ("W_V", "W_O"), dv, lambda: Xi @ w["W_V"], Xi @ w["W_V"]) if {"W_V", "W_O"} & set(train) else None
            VO = product("VO", ("W_V", "W_O"), dy, lambda: V @ w["W_O"], Xi @ w["W_V"] @ w["W_O"], "V W_O")
            if kernel == "softmax":
                S = m.define(f"S_{t}", softmax_rows(Q @ K.T / root), "softmax(QKᵀ/√d)")
            else:
                dist = m.define(f"dist_{t}", _sq_dist(Q, K), "‖q_k − k_j‖²")
                score = -dist / (2 * root)
                S = m.define(f"S_{t}", ex.exp(score) if kernel == "gaussian" else softmax_rows(score),
                             "exp(−‖q_k − k_j‖²/(2√d))" + ("" if kernel == "gaussian" else ", rows normalised"))
            parts.append((h, t, Q, K, V, VO, S, w))
        F = balanced_sum(S @ VO for *_, VO, S, _ in parts)
        R = m.define(f"R_{i}", F - Yi, "residual F_i − Y_i")
        losses.append(half_sq_norm(R))
        for h, t, Q, K, V, VO, S, w in parts:
            if {"W_V", "W_O"} & set(train):
                SR = m.define(f"SᵀR_{t}", S.T @ R, "a sum over tokens")
            if "W_V" in train:
                grads[(h, "W_V")].append(Xi.T @ SR @ w["W_O"].T / N)
            if "W_O" in train:
                grads[(h, "W_O")].append(V.T @ SR / N)
            if not {"W_Q", "W_K"} & set(train):
                continue
            G = m.define(f"G_{t}", (R @ VO.T) / N, "∂f/∂S = R (V W_O)ᵀ / N")
            if kernel == "gaussian":
                M = m.define(f"M_{t}", S * G, "S∘G")
                dQ = M @ K - Diag(RowSum(M)) @ Q
                if "W_K" in train:
                    dK = m.define(f"MᵀQ_{t}", M.T @ Q, "a sum over tokens") - K * ex.ColSum(M).T
            else:
                P = m.define(f"P_{t}", S * G - Diag(RowSum(S * G)) @ S, "S∘G − diag((S∘G)1)S")
                dQ = P @ K  # gaussian-normalised: −diag(P1)Q vanishes, the rows of P sum to zero
                if "W_K" in train:
                    PQ = m.define(f"PᵀQ_{t}", P.T @ Q, "a sum over tokens")
                    dK = PQ if kernel == "softmax" else PQ - K * ex.ColSum(P).T
            if "W_Q" in train:
                grads[(h, "W_Q")].append(Xi.T @ dQ / root)
            if "W_K" in train:
                grads[(h, "W_K")].append(Xi.T @ dK / root)
    m.loss = m.define("f", balanced_sum(losses) / N, "(1/2N) Σ_i ‖F_i − Y_i‖²")
    for (h, w), terms in grads.items():
        m.define(f"∇{w}{_head(h, heads)}", balanced_sum(terms))
    order = [f"{x}_{i}" for i in range(N) for x in "XY"] + [w + _head(h, heads) for h in range(heads) for w in WEIGHTS]
    order += [f"{p}_{i}{_head(h, heads)}" for i in range(N) for h in range(heads) for p in ("Q", "K", "V", "VO")] + ["k"]
    used = m.inputs()
    m.input_order = tuple(x for x in order if x in used)
    m.frozen = {k: v for k, v in m.frozen.items() if k in used}
    if N == 1:  # one sample per chain: a generated module averages it over a batch of samples
        m.batch_inputs = tuple(x for x in m.input_order if x.split("^")[0].endswith("_0"))
    return m


def _head(h: int, heads: int) -> str:
    return f"^{h}" if heads > 1 else ""


SIZES = {
    "mpmath": ({"N": 1, "n": 1, "D": 1, "d": 1, "dv": 1, "dy": 1}, {"N": 1, "n": 2, "D": 2, "d": 1, "dv": 1, "dy": 1},
               {"N": 2, "n": 2, "D": 3, "d": 2, "dv": 2, "dy": 1}, {"N": 2, "n": 3, "D": 3, "d": 2, "dv": 2, "dy": 2}),
    "exact": ({"N": 1, "n": 2, "D": 1, "d": 1, "dv": 1, "dy": 1},),
    "float64": ({"N": 3, "n": 5, "D": 6, "d": 3, "dv": 2, "dy": 2},),
}


def claims() -> list[Claim]:
    """The closed-form gradient of every weight for every kernel (one head), and W_Q with two heads; the
    Softmax equal-keys facts behind the degenerate case (docs/mathematics.md §3.1); the generated kernel of every
    kernel and training mode against the true gradient."""
    out = []

    def side(kernel: str, w: str, heads: int, closed: bool):
        def build(c: SimpleNamespace) -> ex.Node:
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
                             f"∇_{weight} f in closed form ({kernel} kernel{', 2 heads' if heads > 1 else ''}; docs/mathematics.md §3)",
                             side(kernel, weight, heads, False), side(kernel, weight, heads, True), sizes=SIZES))
    out += equal_keys_claims() + kernel_claims()
    return out


EQUAL_KEYS = ("W_Q", "W_V", "W_O")  # trained in the equal-keys model (it has no W_K)


def equal_keys_claims() -> list[Claim]:
    """Softmax with every key equal (K_i = 1kᵀ): S = 11ᵀ/n, P1 = 0, ∇_{W_Q} f = 0 and f independent of W_Q."""
    def eq(c: SimpleNamespace) -> Model:
        return one_layer("softmax", c.N, equal_keys=True, train=EQUAL_KEYS)

    def mean_loss(c: SimpleNamespace) -> ex.Node:
        m = eq(c)
        w = m.inputs()
        terms = []
        for i in range(c.N):
            X, Y = w[f"X_{i}"], w[f"Y_{i}"]
            uniform = ex.Fill(sp.Integer(1) / n, n, n)
            terms.append(half_sq_norm(uniform @ X @ w["W_V"] @ w["W_O"] - Y))
        return balanced_sum(terms) / c.N

    tag = "[softmax]"
    return [
        Claim(f"attngrad/one-layer/equal-keys-uniform{tag}", "K = 1kᵀ ⇒ S = softmax(QKᵀ/√d) = 11ᵀ/n (docs/mathematics.md §3.1)",
              lambda c: eq(c)["S_0"], ex.Fill(sp.Integer(1) / n, n, n), sizes=SIZES),
        Claim(f"attngrad/one-layer/rows-of-P-sum-to-zero{tag}", "P = S∘G − diag((S∘G)1)S has P1 = 0 for any keys",
              lambda c: RowSum(one_layer("softmax", c.N)["P_0"]), ex.Fill(0, n, 1), sizes=SIZES),
        Claim(f"attngrad/one-layer/equal-keys-stationary{tag}", "K_i = 1kᵀ ⇒ ∇_{W_Q} f = 0 for every W_Q (docs/mathematics.md §3.1)",
              lambda c: Grad(eq(c).loss, eq(c).inputs()["W_Q"]), ex.Fill(0, D, d), sizes=SIZES),
        Claim(f"attngrad/one-layer/equal-keys-loss{tag}", "K_i = 1kᵀ ⇒ f = (1/2N) Σ_i ‖(1/n)11ᵀV_iW_O − Y_i‖², free of W_Q",
              lambda c: eq(c).loss, mean_loss, sizes=SIZES),
    ]


def kernel_claims() -> list[Claim]:
    """The generated kernel of each kernel and training mode (numeric/generated/one_layer_*) against the closed
    form of the chain of every weight, which the grad-… claims prove equal to the true gradient (SymPy exactly at
    dyadic-rational inputs, 50 digits at random inputs, float64 at real sizes)."""
    out = []
    for kernel in KERNELS:
        for mode, train in TRAINING_MODES.items():
            for weight in train:
                def fn(*arrays, _k=kernel, _t=train, _w=weight):
                    from attngrad.numeric.one_layer import loss_and_grads

                    N = (len(arrays) - 4) // 2
                    X, Y = np.stack(arrays[:N]), np.stack(arrays[N:2 * N])
                    return loss_and_grads(_k, X, Y, dict(zip(WEIGHTS, arrays[2 * N:])), _t, workers=1).grads[_w]

                def lhs(c: SimpleNamespace, _fn=fn, _w=weight, _k=kernel) -> ex.Node:
                    m = one_layer(_k, c.N)
                    ins = m.inputs()
                    order = [ins[f"X_{i}"] for i in range(c.N)] + [ins[f"Y_{i}"] for i in range(c.N)] + [ins[w] for w in WEIGHTS]
                    return ex.Kernel(f"generated one-layer {_k}/{mode}: ∇{_w}", _fn, tuple(order), *ins[_w].shape)

                def rhs(c: SimpleNamespace, _w=weight, _k=kernel) -> ex.Node:
                    return one_layer(_k, c.N)[f"∇{_w}"]  # the closed form the grad-… claims prove

                out.append(Claim(f"attngrad/one-layer/generated-{mode}-grad-{weight}[{kernel}]",
                                 f"the generated kernel for training {','.join(train)} ({kernel}) gives ∇_{weight} f in closed form",
                                 lhs, rhs, sizes=SIZES, group=ONE_LAYER_MODULES[(kernel, mode)]))
    return out
