"""Numba helpers shared by the hand-written and the generated kernels (``numeric/generated``)."""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from numbers import Integral
from typing import Any, Callable, Iterator

import numba
import numpy as np
from numba import njit, prange

from attngrad.errors import InputError

# exp on (−∞, 0] (softmax arguments after the row max is subtracted), written so LLVM can vectorise it:
# exp(x) = 2^k·exp(r) with k = round(x/ln 2), r = x − k·ln 2 (Cody–Waite split, |r| ≤ ln2/2), exp(r) by its
# Taylor polynomial of degree 13 (remainder < 5e-18), 2^k from a table (0 below 2^−1074). Within 1 ulp of
# np.exp; about 4× faster than the libm call, which is the largest single cost of the kernel otherwise.
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm: k·_LN2_HI is exact for |k| < 2^20
_LN2_LO = 1.90821492927058770002e-10
_EXP_FLOOR = -746.0  # exp(x) rounds to 0 below about −745.13
_POW2_NEG = np.array([2.0**-k if k <= 1074 else 0.0 for k in range(1080)])
_INV_FACT = tuple(1.0 / math.factorial(i) for i in range(14))


@njit(inline="always", cache=True, fastmath=False)
def exp_nonpos(x):
    if not x >= _EXP_FLOOR:  # also maps NaN to the floor, so the table index stays in range
        x = _EXP_FLOOR
    x = min(x, 0.0)  # arguments are ≤ 0 by construction; this keeps the table index ≥ 0 regardless
    k = math.floor(x * _LOG2E + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = _INV_FACT[13]
    for i in range(12, -1, -1):
        p = p * r + _INV_FACT[i]
    return p * _POW2_NEG[int(-k)]


@njit(inline="always", cache=True, fastmath=False)
def _matmul_rows(A, B, out, i0, i1):  # pragma: no cover - compiled
    """out[i0:i1] = A[i0:i1] @ B, four rows at a time so that each loaded row of B serves four rows of A."""
    k, m = B.shape
    i = i0
    while i + 4 <= i1:
        for a in range(k):
            v0, v1, v2, v3 = np.float64(A[i, a]), np.float64(A[i + 1, a]), np.float64(A[i + 2, a]), np.float64(A[i + 3, a])
            for c in range(m):
                b = B[a, c]
                out[i, c] += v0 * b
                out[i + 1, c] += v1 * b
                out[i + 2, c] += v2 * b
                out[i + 3, c] += v3 * b
        i += 4
    for r in range(i, i1):
        for a in range(k):
            v = np.float64(A[r, a])
            for c in range(m):
                out[r, c] += v * B[a, c]


@njit(parallel=True, cache=True, fastmath=False)
def matmul(A, B):  # pragma: no cover - compiled
    """A @ B in float64 by loops (no BLAS: its idle threads would spin on the kernel's cores); rows in parallel."""
    out = np.zeros((A.shape[0], B.shape[1]))
    quads = (A.shape[0] + 3) // 4
    for q in prange(quads):
        _matmul_rows(A, B, out, 4 * q, min(4 * q + 4, A.shape[0]))
    return out


@njit(cache=True, fastmath=False)
def matmul_serial(A, B):  # pragma: no cover - compiled
    """A @ B in float64 by loops, one thread: for kernels called from inside another parallel loop."""
    out = np.zeros((A.shape[0], B.shape[1]))
    _matmul_rows(A, B, out, 0, A.shape[0])
    return out


@njit(cache=True, fastmath=False)
def broadcast(A, B, multiply):  # pragma: no cover - compiled
    """A∘B (multiply) or A + B of 2-D arrays where a dimension of 1 broadcasts, as NumPy does."""
    r, c = max(A.shape[0], B.shape[0]), max(A.shape[1], B.shape[1])
    out = np.empty((r, c))
    for i in range(r):
        ia, ib = min(i, A.shape[0] - 1), min(i, B.shape[0] - 1)
        for j in range(c):
            a, b = A[ia, min(j, A.shape[1] - 1)], B[ib, min(j, B.shape[1] - 1)]
            out[i, j] = a * b if multiply else a + b
    return out


@njit(cache=True, fastmath=False)
def sum_parts(parts):  # pragma: no cover - compiled
    """Σ_t parts[t]: the per-thread partial results of a reduction, added in a fixed order (a single part is
    returned as it is: the partials are not used again)."""
    if parts.shape[0] == 1:
        return parts[0]
    out = parts[0].copy()
    for t in range(1, parts.shape[0]):
        out += parts[t]
    return out


@njit(cache=True, fastmath=False)
def sum_parts_t(parts):  # pragma: no cover - compiled
    """(Σ_t parts[t])ᵀ as a C-contiguous array, in one pass: for reductions whose partials are kept transposed."""
    T, Q, P = parts.shape
    out = np.empty((P, Q))
    for p in range(P):
        for q in range(Q):
            acc = parts[0, q, p]
            for t in range(1, T):
                acc += parts[t, q, p]
            out[p, q] = acc
    return out


def check_threads(threads: int | None) -> None:
    """Raise InputError unless threads is None or an integer in [1, NUMBA_NUM_THREADS]."""
    top = numba.config.NUMBA_NUM_THREADS
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, Integral) or not 1 <= threads <= top
    ):
        raise InputError(f"threads must be an integer from 1 to {top}, got {threads!r}.")


def resolve_threads(threads: int | None) -> int:
    """``threads`` checked, or Numba's current thread count when None."""
    check_threads(threads)
    return numba.get_num_threads() if threads is None else int(threads)


_POOL: list[ThreadPoolExecutor] = []  # one pool of NUMBA_NUM_THREADS − 1 threads, made on first use
_WORKER = threading.local()
os.register_at_fork(after_in_child=_POOL.clear)  # a forked child inherits the pool but not its threads


def thread_map(fn: Callable[[Any], Any], items: list, threads: int | None) -> list:
    """[fn(x) for x in items] on ``threads`` threads (all by default): for coarse tasks that call Numba
    functions compiled with ``nogil=True`` (or NumPy's BLAS products, which release the GIL too), which then run
    side by side. A ``prange`` around the generated kernels would do the same, but each such loop costs tens of
    seconds of LLVM work when first compiled.

    The calling thread and ``threads − 1`` pool threads take the items one at a time, in order, until none is
    left. The pool persists: starting threads costs about 0.1 ms a call, and each hand-over to a waiting thread
    still costs about 45 µs on these machines. A call from inside a task runs serially, so nested maps neither
    wait on each other nor oversubscribe the cores. The first failing item's exception (by position) is raised;
    after a failure, or an interrupt of the caller, no further items are started."""
    workers = min(len(items), resolve_threads(threads))
    if workers <= 1 or getattr(_WORKER, "inside", False):
        return [fn(x) for x in items]
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=max(1, numba.config.NUMBA_NUM_THREADS - 1),
                                        thread_name_prefix="attngrad"))
    pool = _POOL[0]
    results: list[Any] = [None] * len(items)
    failed: list[tuple[int, BaseException]] = []
    order = iter(range(len(items)))
    lock = threading.Lock()

    def drain() -> None:
        _WORKER.inside = True
        try:
            while not failed:
                with lock:
                    i = next(order, None)
                if i is None:
                    return
                try:
                    results[i] = fn(items[i])
                except BaseException as exc:  # noqa: BLE001 - re-raised in the caller below
                    failed.append((i, exc))
        finally:
            _WORKER.inside = False

    helpers = [pool.submit(drain) for _ in range(workers - 1)]
    try:
        drain()
        for h in helpers:
            h.result()
    except BaseException as exc:  # KeyboardInterrupt while waiting: the helpers start no further items
        failed.append((len(items), exc))
        raise
    if failed:
        raise min(failed, key=lambda f: f[0])[1]
    return results


_BLAS_SYMBOLS = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                 ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                 ("openblas_get_num_threads", "openblas_set_num_threads"))


@lru_cache(maxsize=1)
def _openblas():
    """NumPy's bundled OpenBLAS as a ctypes library with (get, set) thread functions, or None."""
    import ctypes
    from pathlib import Path

    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for path in sorted(libs.glob("*openblas*")):
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:
            continue
        for get, set_ in _BLAS_SYMBOLS:
            if hasattr(lib, get) and hasattr(lib, set_):
                return getattr(lib, get), getattr(lib, set_)
    return None


@contextmanager
def blas_threads(count: int = 1) -> Iterator[None]:
    """NumPy's OpenBLAS on ``count`` threads meanwhile, restored afterwards. Found by ctypes, as threadpoolctl
    does; does nothing when NumPy links another BLAS. With ``count`` 1: between calls
    OpenBLAS's idle worker threads spin on the cores the Numba code runs on (the GD simulation took 2× as long)."""
    found = _openblas()
    if found is None:
        yield
        return
    get, set_ = found
    previous = int(get())
    set_(int(count))
    try:
        yield
    finally:
        set_(previous)


@contextmanager
def using_threads(threads: int | None) -> Iterator[int]:
    """Run with `threads` Numba threads (None: the current setting), restoring the setting afterwards."""
    check_threads(threads)
    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(threads)
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(previous)


def check_scores(T: np.ndarray, A2: np.ndarray) -> None:
    """Reject inputs whose scores s_jl = T_j·A2_l (T = s·A1X) may overflow float64: kernels assume them finite."""
    with np.errstate(over="ignore"):
        bound = np.abs(T).sum(axis=1).max() * np.abs(A2).max()
    if not bound < 1e300:
        raise InputError("The scores s·A1·X·A2ᵀ may overflow float64; scale the inputs down.")
