"""The almost-linear gradient of Def 1.2 (Alman & Song 2024, Section D; docs/mathematics.md §1.6, §2).

exp(S) is replaced entrywise by a polynomial P of degree g with relative error ≤ ε on [−β, β] (β bounds |S|),
and P(S) = Φ_L Φ_Rᵀ through monomial features of rank k = C(d+g, g). With f̃ = diag(Φ_LΦ_Rᵀ1)⁻¹Φ_LΦ_Rᵀ =: U₁V₁ᵀ
the project's corrected chain (derive/papers/lowrank.py, checked by `attngrad check`) gives, row j of p̃A₂ as

    z_j = (Σ_i c̃_ji R_j[i, :] − r̃_j N_j) / α̃_j,   R_j[i, e] = Σ_l ũ_jl h_li A₂_le,  N_j = Σ_l ũ_jl A₂_l,

with c̃ = f̃h − E, r̃ = (c̃∘(c̃+E))1 (the O(nd) form of (f̃∘q̃)1), and then ∇_X ≈ s·A₁ᵀZ (D.6, corrected factors
U₃ = U₁ ⊘ c̃, V₃ = V₁ ⊘ h, U₄ = diag(r̃)U₁, V₄ = V₁), ∇_Y ≈ (V₁ᵀA₃)ᵀ(U₁ᵀc̃). Two streaming passes over row
blocks: keys (W = Φ_Rᵀ[h⊗A₂ | A₂ | A₃ | 1], k×(d²+2d+1)) and queries (R = Φ_L W). Time O(n·k·d²), extra memory
O(k·d² + block·k): neither U₁, V₁ nor U₁ ⊘ c̃ is ever held whole. The features are Numba loops; the two
contractions per block are BLAS products. The error bounds are the SymPy closed forms of derive/papers/lowrank_bounds.py,
printed into numeric/generated/lowrank_bounds.py.

Both passes split the rows over ``workers`` Python threads (``thread_map``), each running its products on a
single-threaded BLAS (``blas_threads(1)``); there are no Numba threads here (the feature loops are serial).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from numbers import Real
from typing import Any

import numpy as np
from numba import njit

from attngrad.errors import InputError
from attngrad.numeric.generated import lowrank_bounds as LB
from attngrad.numeric.inputs import as_attention_inputs, as_float_array, parse_scale
from attngrad.numeric.kernel_support import blas_threads, resolve_workers, split_range, thread_map
from attngrad.numeric.monomials import multi_indices
from attngrad.vocabulary import AUTO_POLYNOMIAL, DEFAULT_SCALE, POLYNOMIALS

MAX_DEGREE = 60
MIN_EPS = 1e-13  # below this the float64 coefficients and features dominate the error the bound promises
MEMORY_LIMIT = 4 * 2**30  # bytes for the factor tables and one block of features
# one block of features: block·k·8 bytes (larger blocks are no faster: see docs/benchmark-notes.md)
BLOCK_BYTES = 4 * 2**20
MAX_BLOCK = 2048
# Workers: each worker thread takes its own rows and runs its products on a single-threaded BLAS. At these shapes
# (block × k × (d² + 2d + 1)) a multi-threaded OpenBLAS gains nothing over one thread, and after a multi-threaded
# product its idle threads spin for a while on the cores the next call's workers need, so that two workers gain
# nothing over one. Handing work to a thread has a fixed cost, so small work stays on one worker
# (see docs/benchmark-notes.md).
MIN_THREAD_WORK = 2**21  # products n·k·(d² + 2d + 1) per worker below which fewer workers are faster
# OpenBLAS runs a product of fewer than 2¹⁸ multiply-adds on one thread anyway (SMP_THRESHOLD_MIN ·
# GEMM_MULTITHREAD_THRESHOLD). A call whose products all stay below that leaves the BLAS setting alone: changing it
# and back is a noticeable part of the time of such a small call (see docs/benchmark-notes.md).
BLAS_SERIAL_PRODUCT = 2**18


def _single_blas(products: int):
    """blas_threads(1) around products of up to ``products`` multiply-adds; nothing below BLAS_SERIAL_PRODUCT."""
    return blas_threads(1) if products >= BLAS_SERIAL_PRODUCT else nullcontext()


# the polynomial ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Polynomial:
    """P(x) = Σ_i coef[i] xⁱ with |P(x) − eˣ| ≤ bound·eˣ on [−β, β] (the bound of derive/papers/lowrank_bounds.py)."""

    kind: str
    degree: int
    beta: float
    coef: np.ndarray = field(repr=False)
    bound: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.polynomial.polynomial.polyval(x, self.coef)


def error_bound(kind: str, degree: int, beta: float) -> float:
    """The relative-error bound of the ``kind`` polynomial of ``degree`` on [−β, β] (derived by SymPy): in floats,
    or in mpmath numbers when a float would overflow or underflow on the way (large degrees and β)."""
    fn = {"taylor-shifted": LB.taylor_shifted, "taylor": LB.taylor, "chebyshev": LB.chebyshev}[kind]
    try:
        value = float(fn(beta=float(beta), g=int(degree)))
        if math.isfinite(value) and (value > 1e-290 or beta == 0):  # float products overflow to inf silently
            return value
    except OverflowError:
        pass
    import mpmath

    try:
        return float(fn(beta=mpmath.mpf(float(beta)), g=int(degree)))
    except OverflowError:  # math.exp of β beyond 709
        return math.inf


def needed_degree(kind: str, beta: float, eps: float, limit: int = 2000) -> int | None:
    """The smallest degree whose bound on [−β, β] is ≤ eps, searched up to ``limit`` (None beyond)."""
    for degree in range(limit + 1):  # a linear scan: the bound is not monotone while g + 1 < 2β
        if error_bound(kind, degree, beta) <= eps:
            return degree
    return None


def best_polynomial(beta: float, eps: float) -> str:
    """The polynomial that needs the smallest degree for eps on [−β, β] (ties: the order of
    vocabulary.POLYNOMIALS)."""
    need = {kind: needed_degree(kind, beta, eps, MAX_DEGREE) for kind in POLYNOMIALS}
    if all(v is None for v in need.values()):
        return "chebyshev"  # the smallest bound of the three at large degree; its error message names the limit
    return min(POLYNOMIALS, key=lambda kd: (need[kd] is None, need[kd] or 0))


def _check_kind(kind: str, auto: bool = False) -> None:
    if kind not in POLYNOMIALS and not (auto and kind == AUTO_POLYNOMIAL):
        raise InputError(f"poly must be one of {', '.join(POLYNOMIALS + ((AUTO_POLYNOMIAL,) if auto else ()))}, "
                         f"got {kind!r}.")


def _check_eps(eps: Any) -> float:
    if isinstance(eps, (bool, np.bool_)) or not (isinstance(eps, Real) and MIN_EPS <= eps < 1):
        raise InputError(f"eps must be a number in [{MIN_EPS:g}, 1), got {eps!r}.")
    return float(eps)


def choose_degree(kind: str, beta: float, eps: float, d: int | None = None) -> int:
    """The smallest degree whose bound on [−β, β] is ≤ eps; InputError naming the limit when none is ≤ MAX_DEGREE."""
    _check_kind(kind)
    eps = _check_eps(eps)
    found = needed_degree(kind, beta, eps, MAX_DEGREE)
    if found is not None:
        return found
    need = f" and rank C({d}+{MAX_DEGREE}, {MAX_DEGREE}) = {LB.rank(d=d, g=MAX_DEGREE):.3g}" if d else ""
    raise InputError(f"β = {beta:.4g} is too large for relative accuracy eps = {eps:g} with the {kind} polynomial: "
                     f"it would need a degree above {MAX_DEGREE}{need}; scale the inputs down or raise eps.")


def make_polynomial(kind: str, beta: float, *, degree: int | None = None, eps: float | None = None) -> Polynomial:
    """The ``kind`` polynomial for [−β, β], of the given degree or of the smallest degree with bound ≤ eps."""
    _check_kind(kind)
    if not (isinstance(beta, (int, float, np.floating)) and 0 <= beta < math.inf):
        raise InputError(f"beta must be a finite number ≥ 0, got {beta!r}.")
    beta = float(beta)
    if degree is None:
        degree = choose_degree(kind, beta, 1e-6 if eps is None else eps)
    elif isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or not 0 <= degree <= MAX_DEGREE:
        raise InputError(f"degree must be an integer from 0 to {MAX_DEGREE}, got {degree!r}.")
    degree = int(degree)
    coef = _coefficients(kind, degree, None if kind == "taylor" else beta)
    return Polynomial(kind, degree, beta, coef, error_bound(kind, degree, beta))


@lru_cache(maxsize=256)
def _coefficients(kind: str, degree: int, beta: float | None) -> np.ndarray:
    """P's power-basis coefficients a_0…a_g (β is None for the Taylor polynomial at 0, which does not depend on it)."""
    P = np.polynomial.Polynomial
    if kind == "taylor":
        coef = np.array([1.0 / math.factorial(j) for j in range(degree + 1)])
    elif kind == "taylor-shifted":  # e^{−β} Σ_j (x+β)ʲ/j!
        total = P([0.0])
        for j in range(degree + 1):
            total = total + P([beta, 1.0]) ** j / math.factorial(j)
        coef = math.exp(-beta) * total.coef
    else:  # interpolation at the Chebyshev points of [−β, β] (a point interval is widened to 2⁻³⁰)
        half = max(beta, 2.0**-30)
        cheb = np.polynomial.Chebyshev.interpolate(np.exp, degree, domain=[-half, half])
        coef = cheb.convert(kind=P).coef
    coef = np.pad(np.asarray(coef, dtype=np.float64), (0, degree + 1 - len(coef)))
    coef.setflags(write=False)
    return coef


# the features ------------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _feature_rows(x, mult, r0, r1, parent, var, coef, out):  # pragma: no cover - compiled
    """out[i − r0, m] = coef[m]·(mult·x_i)^{α_m} for rows r0 ≤ i < r1, each monomial as its parent's value times
    one variable.

    Serial on purpose: the features are O(block·k) work beside the O(block·k·d²) BLAS products of the same block,
    and a prange region next to OpenBLAS's spinning worker threads is several times slower than this loop
    (see docs/benchmark-notes.md)."""
    k = parent.shape[0]
    for i in range(r0, r1):
        o = out[i - r0]
        o[0] = 1.0
        for m in range(1, k):
            o[m] = o[parent[m]] * (mult * x[i, var[m]])
        for m in range(k):
            o[m] *= coef[m]


@njit(cache=True, nogil=True)
def _key_table(h, A2, A3, l0, l1, G):  # pragma: no cover - compiled
    """G[l − l0] = [h_l ⊗ A2_l | A2_l | A3_l | 1] for l0 ≤ l < l1 (the right factors of W)."""
    d = A2.shape[1]
    dd = d * d
    for l in range(l0, l1):
        g = G[l - l0]
        for i in range(d):
            hi = h[l, i]
            for e in range(d):
                g[i * d + e] = hi * A2[l, e]
        for e in range(d):
            g[dd + e] = A2[l, e]
            g[dd + d + e] = A3[l, e]
        g[dd + 2 * d] = 1.0


@njit(cache=True, nogil=True)
def _combine(R, target, upstream, j0, Z, CA):  # pragma: no cover - compiled
    """From R = Φ_L W of a block of queries (rows j0…): α̃ = R[:, −1], f̃h, c̃ = f̃h − E (or the upstream
    gradient G when ``upstream``), r̃ = Σ_i c̃_i(f̃h)_i, and row j of p̃A₂, z_j = (Σ_i c̃_ji R_j[i, :] − r̃_j N_j)/α̃_j,
    into Z; c̃/α̃ into CA (for U₁ᵀc̃). Returns ½Σc̃², or NaN when some α̃ ≤ 0."""
    nb, m = R.shape
    d = Z.shape[1]
    dd = d * d
    loss = 0.0
    for b in range(nb):
        row = R[b]
        alpha = row[m - 1]
        if not alpha > 0.0:
            return np.nan
        r = 0.0
        for i in range(d):
            fh = row[dd + d + i] / alpha
            c = target[j0 + b, i] if upstream else fh - target[j0 + b, i]
            CA[b, i] = c
            loss += 0.5 * c * c
            r += c * fh
        for e in range(d):
            z = -r * row[dd + e]
            for i in range(d):
                z += CA[b, i] * row[i * d + e]
            Z[j0 + b, e] = z / alpha
        for i in range(d):
            CA[b, i] /= alpha
    return loss


@dataclass(frozen=True)
class Features:
    """P(s⟨x, y⟩) = left(x)·right(y) with monomial features of rank C(d+g, g) (s absorbed as √s on each side)."""

    poly: Polynomial
    d: int
    scale: float
    exponents: np.ndarray = field(repr=False)
    parent: np.ndarray = field(repr=False)
    var: np.ndarray = field(repr=False)
    left_coef: np.ndarray = field(repr=False)
    right_coef: np.ndarray = field(repr=False)

    @property
    def rank(self) -> int:
        return len(self.parent)

    def _map(self, rows: np.ndarray, coef: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.d:
            raise InputError(f"feature rows must have shape (m, {self.d}), got {rows.shape}.")
        out = np.empty((rows.shape[0], self.rank)) if out is None else out[: rows.shape[0]]
        _feature_rows(rows, math.sqrt(self.scale), 0, rows.shape[0], self.parent, self.var, coef, out)
        return out

    def left(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return self._map(rows, self.left_coef, out)

    def right(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return self._map(rows, self.right_coef, out)


def features(poly: Polynomial, d: int, scale: float = 1.0) -> Features:
    """Monomial features: φ_α = ±√(|a_|α|| |α|!/α!)·(√s·x)^α (the sign of a negative coefficient on the left)."""
    return _features(poly.kind, poly.degree, poly.beta, poly.coef.tobytes(), poly.bound, int(d), float(scale))


@lru_cache(maxsize=32)
def _features(kind: str, degree: int, beta: float, coef_bytes: bytes, bound: float, d: int, scale: float) -> Features:
    poly = Polynomial(kind, degree, beta, np.frombuffer(coef_bytes), bound)
    exps, parent, var = multi_indices(int(d), poly.degree)
    total = exps.sum(axis=1)
    lgamma = np.vectorize(math.lgamma)
    log_mult = lgamma(total + 1.0) - lgamma(exps + 1.0).sum(axis=1)  # log(|α|!/α!)
    a = poly.coef[total]
    mag = np.sqrt(np.abs(a) * np.exp(log_mult))
    return Features(poly, int(d), float(scale), exps, parent, var, np.sign(a) * mag, mag)


# the gradient ------------------------------------------------------------------------------------------------
@dataclass
class LowRankResult:
    """The low-rank loss and gradients with what they rest on; unpacks as (loss, grad_X, grad_Y)."""

    loss: float
    grad_X: np.ndarray
    grad_Y: np.ndarray
    poly: Polynomial
    rank: int
    beta: float  # the Cauchy–Schwarz bound s·max‖(A₁X)_j‖·max‖A₂_l‖ ≥ max|S| the polynomial is built for
    exp_bound: float  # ε: |P(S) − exp(S)| ≤ ε·exp(S) (≥ 1 for a given degree too low for β: no guarantee)
    softmax_bound: float  # ε_f: |f̃ − f| ≤ ε_f·f (inf when ε ≥ 1)
    grad_bound: float  # the project's bound on ‖g̃ − ∇_X L‖_∞ (derive/papers/lowrank_bounds.py, lowrank/gradient-error)
    block: int
    workers: int  # the worker threads the passes ran on (at most the ``workers`` asked for)
    measured: dict[str, float] | None = None

    @property
    def degree(self) -> int:
        return self.poly.degree

    def __iter__(self):
        return iter((self.loss, self.grad_X, self.grad_Y))

    def report(self) -> dict[str, Any]:
        return {"poly": self.poly.kind, "degree": self.degree, "rank": self.rank, "beta": self.beta,
                "exp_bound": self.exp_bound, "softmax_bound": self.softmax_bound, "grad_bound": self.grad_bound,
                "block": self.block, "workers": self.workers, **({"measured": self.measured} if self.measured else {})}


@njit(cache=True, nogil=True)
def _max_row_norm(M):  # pragma: no cover - compiled
    """max_i ‖M_i‖₂. A row whose largest |entry| m is outside [2⁻⁵⁰⁰, 2⁵⁰⁰] is summed as m·‖M_i/m‖₂, so that its
    squares neither overflow nor underflow: the result is inf only when a norm itself exceeds float64 (rows
    in range are summed directly, to the same rounding as NumPy). NaN for a row holding a NaN."""
    top = 0.0
    for i in range(M.shape[0]):
        m = 0.0
        for j in range(M.shape[1]):
            a = abs(M[i, j])
            if a != a:
                return np.nan  # a NaN row (inf − inf in a product): the caller's finiteness check reports it
            m = max(m, a)
        if m == 0.0:
            continue
        if m == np.inf:
            return np.inf
        acc = 0.0
        if 2.0**-500 <= m <= 2.0**500:
            for j in range(M.shape[1]):
                acc += M[i, j] * M[i, j]
            top = max(top, math.sqrt(acc))
        else:
            for j in range(M.shape[1]):
                r = M[i, j] / m
                acc += r * r
            top = max(top, m * math.sqrt(acc))
    return top


def score_norms(T: np.ndarray, K: np.ndarray) -> tuple[float, float]:
    """(max_j‖T_j‖, max_l‖K_l‖): their product β ≥ max_jl |T_j·K_l| (Cauchy–Schwarz), in O(nd), finite whenever
    the norms are (each is computed without overflow on the way, see ``_max_row_norm``)."""
    return float(_max_row_norm(np.asarray(T, dtype=np.float64))), float(_max_row_norm(np.asarray(K, dtype=np.float64)))


def table_bytes(rank: int, d: int, block: int, workers: int = 1) -> int:
    """Memory of the factor table W (k × (d² + 2d + 1)), one partial W per worker, and each worker's block
    buffers (block × k features, block × (d² + 2d + 1) key rows or products)."""
    cols = d * d + 2 * d + 1
    return 8 * ((workers + 1) * rank * cols + workers * block * (rank + cols))


def default_block(rank: int, n: int) -> int:
    return int(max(64, min(n, MAX_BLOCK, BLOCK_BYTES // (8 * rank))))


def default_workers(workers: int, n: int, rank: int, d: int) -> int:
    """Workers for the passes: ``workers``, fewer when each would get under MIN_THREAD_WORK products."""
    work = n * rank * (d * d + 2 * d + 1)
    return int(max(1, min(workers, work // MIN_THREAD_WORK)))


def _check_memory(rank: int, d: int, degree: int, block: int, workers: int) -> None:
    need = table_bytes(rank, d, block, workers)
    if need > MEMORY_LIMIT:
        raise InputError(f"Degree {degree} needs rank C({d}+{degree}, {degree}) = {rank:,}, whose factor tables "
                         f"take {need / 2**30:.1f} GiB, beyond the limit of {MEMORY_LIMIT / 2**30:.0f} GiB; "
                         f"lower the degree, raise eps or scale the inputs down.")


def _key_pass(feat: Features, K: np.ndarray, gamma: float, h: np.ndarray, A3: np.ndarray, block: int,
              workers: int) -> np.ndarray:
    """W = Σ_l φ_R(γK_l) [h_l ⊗ K_l | K_l | A3_l | 1], k × (d² + 2d + 1), one block of keys at a time; each
    worker sums its own rows into its own partial W."""
    n, d = K.shape
    cols = d * d + 2 * d + 1

    def part(rows: tuple[int, int]) -> np.ndarray:
        r0, r1 = rows
        W = np.zeros((feat.rank, cols))
        P = np.empty((min(block, r1 - r0), feat.rank))
        G = np.empty((min(block, r1 - r0), cols))
        for l0 in range(r0, r1, block):
            l1 = min(l0 + block, r1)
            _feature_rows(K, gamma, l0, l1, feat.parent, feat.var, feat.right_coef, P)
            _key_table(h, K, A3, l0, l1, G)
            W += P[: l1 - l0].T @ G[: l1 - l0]
        return W

    parts = thread_map(part, split_range(n, workers), workers)
    for p in parts[1:]:  # in place: no stacked copy of the partials
        parts[0] += p
    return parts[0]


def _query_pass(feat: Features, T: np.ndarray, gamma: float, W: np.ndarray, target: np.ndarray, upstream: bool,
                block: int, workers: int):
    """½‖c̃‖², Z = p̃A₂ (n×d) and U₁ᵀc̃ (k×d), one block of queries at a time; c̃ = f̃h − target, or the upstream
    gradient ``target`` itself when ``upstream`` (a layer inside a model). Each worker writes its own rows of Z and
    sums its own partial loss and U₁ᵀc̃."""
    n, d = T.shape
    Z = np.empty((n, d))

    def part(rows: tuple[int, int]) -> tuple[float, np.ndarray]:
        r0, r1 = rows
        b = min(block, r1 - r0)
        UC = np.zeros((feat.rank, d))
        P, R, CA = np.empty((b, feat.rank)), np.empty((b, W.shape[1])), np.empty((b, d))
        loss = 0.0
        for j0 in range(r0, r1, block):
            j1 = min(j0 + block, r1)
            b = j1 - j0
            _feature_rows(T, 1.0 / gamma, j0, j1, feat.parent, feat.var, feat.left_coef, P)
            np.matmul(P[:b], W, out=R[:b])
            loss += _combine(R[:b], target, upstream, j0, Z, CA)
            UC += P[:b].T @ CA[:b]
        return loss, UC

    parts = thread_map(part, split_range(n, workers), workers)
    loss = sum(p[0] for p in parts)
    if not loss == loss:
        raise InputError("The polynomial's row sums P(S)1 are not all positive, so f̃ is undefined; raise the degree "
                         "(an even degree of the Taylor polynomials is positive everywhere) or scale the inputs down.")
    UC = parts[0][1]
    for p in parts[1:]:
        UC += p[1]
    return loss, Z, UC


@dataclass(frozen=True)
class _PassSettings:
    """What the two streaming passes of one call run with: chosen once from the inputs and the options."""

    poly: Polynomial
    feat: Features
    beta: float
    block: int
    gamma: float
    max_workers: int  # the workers asked for (resolved)
    workers: int  # the workers the passes run on (fewer than ``max_workers`` for small work)
    products: int  # multiply-adds of the call's largest BLAS product (a block's, or A₁ᵀZ's n·d²)


def _pass_settings(T: np.ndarray, K: np.ndarray, poly: str, degree: int | None, eps: float, block: int | None,
                   workers: int | None) -> _PassSettings:
    """The polynomial for β = max‖T_j‖·max‖K_l‖, its features, the block, the workers, and γ with
    γ² = max‖T_j‖/max‖K_l‖ (T_j·K_l = (T_j/γ)·(γK_l): both sides of similar size, so neither side's monomials
    overflow)."""
    _check_kind(poly, auto=True)
    eps = _check_eps(eps)
    max_workers = resolve_workers(workers)
    n, d = T.shape
    tn, kn = score_norms(T, K)
    beta = tn * kn
    if not math.isfinite(beta):
        raise InputError("The scores s·A1·X·A2ᵀ overflow float64; scale the inputs down.")
    if poly == AUTO_POLYNOMIAL:
        poly = best_polynomial(beta, eps) if degree is None else "chebyshev"
    if degree is None:
        degree = choose_degree(poly, beta, eps, d)
    pol = make_polynomial(poly, beta, degree=degree)  # a given degree may have a bound ≥ 1: no guarantee
    rank = int(LB.rank(d=d, g=pol.degree))
    if block is not None and (isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1):
        raise InputError(f"block must be a positive integer, got {block!r}.")
    block = default_block(rank, n) if block is None else int(block)
    workers = default_workers(max_workers, n, rank, d)
    _check_memory(rank, d, pol.degree, block, workers)
    gamma = math.sqrt(tn) / math.sqrt(kn) if tn > 0 and kn > 0 else 1.0  # tn/kn itself may under- or overflow
    products = max(min(block, n) * rank * (d * d + 2 * d + 1), n * d * d)
    return _PassSettings(pol, features(pol, d), beta, block, gamma, max_workers, workers, products)


def _run(passes: _PassSettings, T: np.ndarray, K: np.ndarray, A3: np.ndarray, Y: np.ndarray, h: np.ndarray,
         target: np.ndarray, upstream: bool):
    """(½‖c̃‖², Z = p̃K, V₁ᵀA₃, U₁ᵀc̃): the key pass, then the query pass, each on ``passes.workers`` workers."""
    d = K.shape[1]
    dd = d * d
    W = _key_pass(passes.feat, K, passes.gamma, h, A3, passes.block, passes.workers)
    VA3 = W[:, dd + d: dd + 2 * d].copy()
    W[:, dd + d: dd + 2 * d] = VA3 @ Y  # V₁ᵀh = (V₁ᵀA₃)Y
    loss, Z, UC = _query_pass(passes.feat, T, passes.gamma, W, target, upstream, passes.block, passes.workers)
    return loss, Z, VA3, UC


def lowrank_loss_and_grad(
    A1: Any, A2: Any, A3: Any, E: Any, Y: Any, X: Any, *, scale: str | float = DEFAULT_SCALE,
    degree: int | None = None, eps: float = 1e-6, poly: str = AUTO_POLYNOMIAL, block: int | None = None,
    workers: int | None = None, measure: bool = False, dtype: Any = None,
) -> LowRankResult:
    """L̃, g̃ ≈ ∇_X L and ∇_Y L of Def 1.2 by the polynomial method (Section D) in O(n·k·d²) time.

    β = s·max‖(A₁X)_j‖·max‖A₂_l‖ bounds |S|; the ``poly`` polynomial ("taylor-shifted", "taylor",
    "chebyshev"; "auto": the one needing the smallest degree for ``eps``, Chebyshev when a degree is given) has
    the given degree, or the smallest whose relative-error bound on [−β, β] is ≤ ``eps``.
    The result reports the degree, the rank C(d+g, g), the bounds ε (exp), ε_f (softmax) and the project's bound
    on ‖g̃ − ∇_X L‖_∞; with ``measure`` also the errors against the exact generated kernel. Computes in float64
    (float32 inputs give float32 results). ``workers``: at most this many Python threads share the rows of each
    pass, each with a single-threaded BLAS (default: Numba's thread count; fewer for small work, see
    ``default_workers``); ``measure``'s exact kernel then runs on as many Numba threads.
    """
    arrays = as_attention_inputs(A1, A2, A3, E, Y, X, dtype=dtype)
    dt = arrays[0].dtype
    a1, a2, a3, e, y, x = (a.astype(np.float64, copy=False) for a in arrays)
    n, d = a1.shape
    s = parse_scale(scale, d)
    with _single_blas(n * d * d):  # see the note on workers at MIN_THREAD_WORK
        T = s * (a1 @ x)
        h = a3 @ y
    passes = _pass_settings(T, a2, poly, degree, eps, block, workers)
    with _single_blas(passes.products):
        loss, Z, VA3, UC = _run(passes, T, a2, a3, y, h, e, False)
        grad_X = s * (a1.T @ Z)
        grad_Y = VA3.T @ UC
    pol = passes.poly
    if not (math.isfinite(loss) and np.isfinite(grad_X).all() and np.isfinite(grad_Y).all()):
        raise InputError("The low-rank loss or gradient overflows float64; scale the inputs down.")
    eps_f = float(LB.softmax_error(epsilon=pol.bound)) if pol.bound < 1 else math.inf
    bound = math.inf if eps_f == math.inf else float(LB.gradient_error(
        E_inf=float(np.abs(e).max()), H=float(np.abs(h).max()), a_1=float(np.abs(a1).max()), a_2=float(np.abs(a2).max()),
        d=d, epsilon_f=eps_f, n=n, s=s))
    result = LowRankResult(float(dt.type(loss)), grad_X.astype(dt), grad_Y.astype(dt), pol, passes.feat.rank,
                           passes.beta, pol.bound, eps_f, bound, passes.block, passes.workers)
    if measure:
        from attngrad.numeric.attention import loss_and_grad

        exact = loss_and_grad(*arrays, scale=s, threads=passes.max_workers)
        result.measured = errors(result.grad_X, exact.grad_X)
        result.measured["grad_bound_holds"] = bool(result.measured["abs_inf"] <= bound)
        result.measured.update({f"{k}_Y": v for k, v in errors(result.grad_Y, exact.grad_Y).items()})
        result.measured["loss_rel"] = abs(result.loss - exact.loss) / max(abs(exact.loss), 1e-300)
    return result


def errors(approx: np.ndarray, exact: np.ndarray) -> dict[str, float]:
    """abs_inf ‖x̃ − x‖_∞; rel_inf ‖x̃ − x‖_∞/‖x‖_∞ (entrywise max); rel_fro; and MultiLayer's ‖x̃ − x‖_F/‖x̃ + x‖_F."""
    a, b = np.asarray(approx, dtype=np.float64), np.asarray(exact, dtype=np.float64)
    diff = np.abs(a - b)
    tiny = 1e-300
    return {"abs_inf": float(diff.max()), "rel_inf": float(diff.max() / max(np.abs(b).max(), tiny)),
            "rel_fro": float(np.linalg.norm(a - b) / max(np.linalg.norm(b), tiny)),
            "multilayer": float(np.linalg.norm(a - b) / max(np.linalg.norm(a + b), tiny))}


def self_attention_grads(
    Xt: Any, W: Any, WV: Any, G: Any, *, scale: str | float = DEFAULT_SCALE, degree: int | None = None,
    eps: float = 1e-6, poly: str = AUTO_POLYNOMIAL, block: int | None = None, workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray, Polynomial]:
    """Paper 4's one layer (docs/mathematics.md §4): Attn = softmax(s·XWXᵀ)XW_V, W = W_QW_Kᵀ, upstream
    G = dL/dAttn.

    With h = XW_V, q = Ghᵀ, p = f∘q − diag((f∘q)1)f: ∇_W L = s·XᵀpX and ∇_{W_V} L = Xᵀfᵀ G (the project's
    corrected forms of Lemmas F.4 and G.3), by the same two streaming passes with c̃ := G, on at most ``workers``
    workers (as in ``lowrank_loss_and_grad``). Returns (∇_W, ∇_{W_V}, the polynomial).
    """
    Xt = as_float_array("X", Xt)
    if Xt.ndim != 2:
        raise InputError(f"X must be a 2-D array, got shape {Xt.shape}.")
    n, d = Xt.shape
    W, WV, G = (as_float_array(nm, a) for nm, a in (("W", W), ("W_V", WV), ("G", G)))
    for nm, a, shape in (("W", W, (d, d)), ("W_V", WV, (d, d)), ("G", G, (n, d))):
        if a.shape != shape:
            raise InputError(f"{nm} has shape {a.shape} but must be {shape} (n and d are read from X).")
    x, w, wv, g = (a.astype(np.float64) for a in (Xt, W, WV, G))
    s = parse_scale(scale, d)
    with _single_blas(n * d * d):  # see the note on workers at MIN_THREAD_WORK
        T = s * (x @ w)
        h = x @ wv
    passes = _pass_settings(T, x, poly, degree, eps, block, workers)
    with _single_blas(passes.products):
        _, Z, VA3, UC = _run(passes, T, x, x, wv, h, g, True)
        return s * (x.T @ Z), VA3.T @ UC, passes.poly
