"""Readable NumPy reference for the loss of Def 1.2 and its gradient (Lemma C.7 with p = p1 − p2, Sec. D).

Materialises n×n matrices, so it is meant for checking, not for large n.
"""

from __future__ import annotations

import numpy as np


def reference_loss_and_grad(
    A1: np.ndarray, A2: np.ndarray, A3: np.ndarray, E: np.ndarray, Y: np.ndarray, X: np.ndarray, scale: float
) -> tuple[np.floating, np.ndarray, np.ndarray]:
    """L = ½‖softmax(s·A1XA2ᵀ)A3Y − E‖_F² with ∇_X L and ∇_Y L, step by step along the chain.

    Computes in the dtype of the (validated, same-dtype) inputs; the softmax subtracts the row max.
    """
    S = scale * (A1 @ X @ A2.T)  # n×n scores (Def 1.2; Defs 3.2–3.4 drop the scale)
    u = np.exp(S - S.max(axis=1, keepdims=True))  # exp, shifted so the row max is exp(0) = 1
    alpha = u.sum(axis=1, keepdims=True)  # α (Def 3.3), up to the same shift
    f = u / alpha  # f = D⁻¹ exp(S) (Def 3.4)
    h = A3 @ Y  # h (Def 3.5)
    c = f @ h - E  # c (Def 3.6)
    L = 0.5 * np.sum(c * c)  # L (Def 3.7, Lemma 3.10)
    q = c @ h.T  # q = c hᵀ (Def C.3)
    p1 = f * q  # p1 = f ∘ q (Lemma D.4)
    r = p1.sum(axis=1)  # r = p1 1_n
    p2 = r[:, None] * f  # p2 = diag(r) f
    p = p1 - p2  # rows p_j = (diag(f_j) − f_j f_jᵀ) q_j (Def C.5)
    grad_X = scale * (A1.T @ p @ A2)  # Lemma C.7, with the scale of Def 1.2
    grad_Y = A3.T @ (f.T @ c)  # c = f A3 Y − E is linear in Y
    return L, grad_X, grad_Y
