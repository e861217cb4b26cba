"""Fused exact loss and gradient of Def 1.2 in O(n²d) time and O(nd) memory (never an n×n array).

Row j of the chain needs only row j of S, so rows are independent: for a block of rows the kernel forms
s_jl = T_j·A2_l with T = s·A1X, f_j = softmax(s_j), fh_j = Σ_l f_jl h_l (h = A3Y), c_j = fh_j − E_j,
r_j = c_j·fh_j (= (f∘q)1_n row j, the O(d) identity for r = p1·1_n), p_jl = f_jl(c_j·h_l − r_j) (Def C.5),
z_j = Σ_l p_jl A2_l, and adds f_jl c_j to row l of W = fᵀc. Then ∇_X L = s·A1ᵀZ (Lemma C.7), ∇_Y L = A3ᵀW.
"""

from __future__ import annotations


import numpy as np
from numba import njit, prange

from attngrad.numeric.kernel_support import check_scores, exp_nonpos, matmul, using_threads

# Rows handled together: every n×d operand is streamed once per block instead of once per row, and the
# innermost loops run over the block (contiguous, no reduction), so LLVM vectorises them without fastmath.
BLOCK = 32
TILE = 64


@njit(parallel=True, cache=True, fastmath=False)
def _fused_rows(T, A2, h, E, nchunks, block, tile):
    """Loss, Z = p A2 (n×d) and W = fᵀc (n×d) from T = s·A1X, A2, h = A3Y, E; all arithmetic in float64.

    prange runs over nchunks contiguous row ranges; chunk t writes only the rows of Z it owns, its own loss
    slot and its own partial W_part[t]; the partials are summed afterwards, row by row in parallel.
    """
    n, d = T.shape
    loss_part = np.zeros(nchunks)
    Z = np.empty((n, d))
    W_part = np.zeros((nchunks, n, d))
    F_all = np.empty((nchunks, n, block))  # scores, then f, of the block's rows (column l of S in row l)
    G_all = np.empty((nchunks, tile, block))  # c_j·h_l, then p_jl, for one tile of columns l
    T_all = np.empty((nchunks, d, block))  # T rows of the block, transposed
    CT_all = np.empty((nchunks, d, block))  # c of the block, transposed
    FH_all = np.empty((nchunks, block, d))  # fh = f h, then c
    Z_all = np.empty((nchunks, block, d))  # z = p A2
    V_all = np.empty((nchunks, 3, block))  # row max, α, r
    for t in prange(nchunks):
        F = F_all[t]
        G = G_all[t]
        TT = T_all[t]
        CT = CT_all[t]
        C = FH_all[t]
        Zb = Z_all[t]
        m = V_all[t, 0]
        alpha = V_all[t, 1]
        r = V_all[t, 2]
        W = W_part[t]
        loss = 0.0
        stop = (t + 1) * n // nchunks
        for j0 in range(t * n // nchunks, stop, block):
            B = min(block, stop - j0)
            for k in range(d):
                for b in range(B):
                    TT[k, b] = T[j0 + b, k]
            # scores s_jl = T_j · A2_l, a tile of columns at a time (Def 1.2)
            for l0 in range(0, n, tile):
                l1 = min(l0 + tile, n)
                for l in range(l0, l1):
                    for b in range(B):
                        F[l, b] = 0.0
                for k in range(d):
                    for l in range(l0, l1):
                        a = np.float64(A2[l, k])
                        for b in range(B):
                            F[l, b] += a * TT[k, b]
            # f_j = exp(s_j − max_l s_jl) / α_j (Defs 3.2–3.4)
            for b in range(B):
                m[b] = -np.inf
                alpha[b] = 0.0
            for l in range(n):
                for b in range(B):
                    m[b] = max(m[b], F[l, b])
            for l in range(n):
                for b in range(B):
                    e = exp_nonpos(F[l, b] - m[b])
                    F[l, b] = e
                    alpha[b] += e
            for l in range(n):
                for b in range(B):
                    F[l, b] = F[l, b] / alpha[b]
            # fh_j = Σ_l f_jl h_l; c_j = fh_j − E_j (Def 3.6); loss (Def 3.7); r_j = c_j·fh_j
            C[:B, :] = 0.0
            for l in range(n):
                for b in range(B):
                    fl = F[l, b]
                    for k in range(d):
                        C[b, k] += fl * h[l, k]
            for b in range(B):
                r[b] = 0.0
                for k in range(d):
                    fh = C[b, k]
                    c = fh - np.float64(E[j0 + b, k])
                    C[b, k] = c
                    CT[k, b] = c
                    loss += 0.5 * c * c
                    r[b] += c * fh
            # p_jl = f_jl (c_j·h_l − r_j) (Def C.5); z_j = Σ_l p_jl A2_l; W_l += f_jl c_j
            Zb[:B, :] = 0.0
            for l0 in range(0, n, tile):
                l1 = min(l0 + tile, n)
                for l in range(l0, l1):
                    for b in range(B):
                        G[l - l0, b] = 0.0
                for k in range(d):
                    for l in range(l0, l1):
                        hk = h[l, k]
                        for b in range(B):
                            G[l - l0, b] += hk * CT[k, b]
                for l in range(l0, l1):
                    for b in range(B):
                        G[l - l0, b] = F[l, b] * (G[l - l0, b] - r[b])
                for l in range(l0, l1):
                    for b in range(B):
                        p = G[l - l0, b]
                        for k in range(d):
                            Zb[b, k] += p * A2[l, k]
                for b in range(B):
                    for l in range(l0, l1):
                        fl = F[l, b]
                        for k in range(d):
                            W[l, k] += fl * C[b, k]
            for b in range(B):
                for k in range(d):
                    Z[j0 + b, k] = Zb[b, k]
        loss_part[t] = loss
    for l in prange(n):
        for t in range(1, nchunks):
            for k in range(d):
                W_part[0, l, k] += W_part[t, l, k]
    return loss_part.sum(), Z, W_part[0]


@njit(parallel=True, cache=True, fastmath=False)
def _transpose_times(A, B, scale, nchunks):
    """scale·(Aᵀ B) in float64 for n×d A and n×e B: per-chunk d×e partials over row ranges, summed after."""
    n, d = A.shape
    e = B.shape[1]
    part = np.zeros((nchunks, d, e))
    for t in prange(nchunks):
        P = part[t]
        for j in range(t * n // nchunks, (t + 1) * n // nchunks):
            for a in range(d):
                v = np.float64(A[j, a])
                for k in range(e):
                    P[a, k] += v * B[j, k]
    out = part[0].copy()
    for t in range(1, nchunks):
        out += part[t]
    return scale * out


def fused_loss_and_grad(
    A1: np.ndarray, A2: np.ndarray, A3: np.ndarray, E: np.ndarray, Y: np.ndarray, X: np.ndarray,
    scale: float, threads: int | None = None,
) -> tuple[np.floating, np.ndarray, np.ndarray]:
    """(L, ∇_X L, ∇_Y L) of Def 1.2 without any n×n array, for validated same-dtype C-contiguous inputs.

    All of it runs in Numba, the small O(nd²) products too: calling BLAS in between would leave OpenBLAS's
    worker threads spinning on the cores the kernel needs, so that two threads gain nothing over one
    (see docs/benchmark-notes.md).
    float32 inputs are read as float32, but every product and sum is done in float64 and only the results
    are rounded to float32: float32 then saves memory for the inputs and outputs but is no faster, and its
    results are accurate to the rounding of the inputs.
    Runs on ``threads`` Numba threads (default: Numba's current setting), restoring the setting afterwards.
    """
    dtype = A1.dtype
    with using_threads(threads) as nthreads:
        nchunks = min(nthreads, A1.shape[0])
        T = scale * matmul(A1, X)
        check_scores(T, A2)
        loss, Z, W = _fused_rows(T, A2, matmul(A3, Y), E, nchunks, BLOCK, TILE)
        grad_X = _transpose_times(A1, Z, scale, nchunks)
        grad_Y = _transpose_times(A3, W, 1.0, nchunks)
    return dtype.type(loss), grad_X.astype(dtype, copy=False), grad_Y.astype(dtype, copy=False)
