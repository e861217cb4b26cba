"""Why the sweeps' maps look as they do (docs/mathematics.md §3.3): the one-layer facts behind the regimes of
`attngrad sweep run wq-map` and `wq-width`, stated as claims the checker decides.

- **The convex hull.** The rows of a Softmax attention matrix (and of the normalised Gaussian one) are positive and
  sum to one, so every output row S_j V W_O is a convex combination of the rows of V W_O: a target row outside
  their hull cannot be reached by training W_Q alone. The unnormalised Gaussian rows do not sum to one.
- **Zero queries.** With W_Q = 0 every query is zero, so every row of the attention matrix is the same (11ᵀ/n for
  Softmax; ``EQUAL_ROWS`` for the Gaussian kernels). Every output row of a sample is then the
  same, and the loss splits into n‖F̄ − Ȳ‖² plus the targets' spread about their mean row, ‖Y − 1Ȳᵀ‖², which no
  W_V or W_O changes: W_V alone cannot go below (1/2N) Σ_i ‖Y_i − 1Ȳ_iᵀ‖². A small W_Q scale is near this limit,
  which is where the W_V-only runs of wq-map stall.
"""

from __future__ import annotations

from types import SimpleNamespace

import sympy as sp

from attngrad.derive import expr as ex
from attngrad.derive.claims import Claim
from attngrad.derive.expr import RowSum, balanced_sum, half_sq_norm, softmax_rows
from attngrad.derive.papers.one_layer import SIZES, d, n, one_layer
from attngrad.vocabulary import KERNELS

#: the attention matrix at W_Q = 0, by kernel
EQUAL_ROWS = {"softmax": "S = 11ᵀ/n", "gaussian": "S = 1gᵀ, g_j = exp(−‖k_j‖²/(2√d))",
              "gaussian-normalised": "S = 1gᵀ/(gᵀ1), g_j = exp(−‖k_j‖²/(2√d))"}
ZERO_QUERY_TRAIN = ("W_V", "W_O")  # what the zero-query model trains (the regime of the W_V-only runs)


def _zero_query(kernel: str, N: int):
    return one_layer(kernel, N, train=ZERO_QUERY_TRAIN, zero_query=True)


def _mean_row(M: ex.Node) -> ex.Node:
    """(1/n) 1ᵀM, the mean of M's rows (1 × columns)."""
    return ex.ones(n).T @ M / n


def _split_loss(kernel: str):
    """(1/N) Σ_i [n·½‖F̄_i − Ȳ_i‖² + ½‖Y_i − 1Ȳ_iᵀ‖²]: the loss when every row of F_i is its mean row F̄_i."""
    def build(c: SimpleNamespace) -> ex.Node:
        m = _zero_query(kernel, c.N)
        w = m.inputs()
        terms = []
        for i in range(c.N):
            Y = w[f"Y_{i}"]
            F = m[f"R_{i}"] + Y
            terms.append(n * half_sq_norm(_mean_row(F) - _mean_row(Y)) + half_sq_norm(Y - ex.ones(n) @ _mean_row(Y)))
        return balanced_sum(terms) / c.N
    return build


def _equal_rows(kernel: str):
    """The attention matrix at W_Q = 0 written as 1gᵀ (docs/mathematics.md §3.3)."""
    def build(c: SimpleNamespace) -> ex.Node:
        if kernel == "softmax":
            return ex.Fill(sp.Integer(1) / n, n, n)
        K = _zero_query(kernel, c.N).inputs()["K_0"]
        score = -RowSum(K * K).T / (2 * sp.sqrt(d))  # 1 × n: −‖k_j‖²/(2√d)
        return ex.ones(n) @ (ex.exp(score) if kernel == "gaussian" else softmax_rows(score))
    return build


def claims() -> list[Claim]:
    """Rows summing to one (the hull), equal rows at W_Q = 0, and the loss floor W_V cannot pass there."""
    out = []
    for kernel in KERNELS:
        tag = f"[{kernel}]"
        if kernel != "gaussian":
            out.append(Claim(
                f"attngrad/one-layer/rows-sum-to-one{tag}",
                "S1 = 1 with S > 0: every output row of S V W_O is a convex combination of the rows of V W_O "
                "(docs/mathematics.md §3.3)",
                lambda c, _k=kernel: RowSum(one_layer(_k, c.N)["S_0"]), ex.Fill(1, n, 1), sizes=SIZES))
        out.append(Claim(
            f"attngrad/one-layer/zero-query-equal-rows{tag}",
            "W_Q = 0 ⇒ every row of the attention matrix is the same: " + EQUAL_ROWS[kernel] + " (docs/mathematics.md §3.3)",
            lambda c, _k=kernel: _zero_query(_k, c.N)["S_0"], _equal_rows(kernel), sizes=SIZES))
        out.append(Claim(
            f"attngrad/one-layer/zero-query-loss-floor{tag}",
            "W_Q = 0 ⇒ f = (1/N) Σ_i [n·½‖F̄_i − Ȳ_i‖² + ½‖Y_i − 1Ȳ_iᵀ‖²] ≥ (1/2N) Σ_i ‖Y_i − 1Ȳ_iᵀ‖² for every "
            "W_V, W_O (docs/mathematics.md §3.3)",
            lambda c, _k=kernel: _zero_query(_k, c.N).loss, _split_loss(kernel), sizes=SIZES))
    return out
