"""Numba helpers shared by the generated kernels (``numeric/generated``), and the three
kinds of threads of numeric/ (see the package docstring): ``threads`` (Numba threads of one kernel call,
``using_threads``), ``workers`` (Python threads of ``thread_map``) and BLAS threads (``blas_threads``)."""

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
import numba.extending
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401 - the BLAS Numba's np.dot calls: loaded now, so blas_threads sees it
from numba import njit, prange

from attngrad.errors import InputError

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


def in_dtype(a, dt):
    """``a`` itself when it already has the dtype ``dt``, else a copy in ``dt``: inside a Numba kernel the choice
    is made when the kernel is compiled (the overload below), so an input already in the kernel's dtype is not
    copied for its BLAS calls."""
    return a if a.dtype == dt else a.astype(dt)


@numba.extending.overload(in_dtype)
def _in_dtype(a, dt):
    if a.dtype == getattr(dt, "dtype", dt):
        return lambda a, dt: a
    return lambda a, dt: a.astype(dt)


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


def _check_count(value: int | None, name: str) -> None:
    top = numba.config.NUMBA_NUM_THREADS
    if value is not None and (isinstance(value, bool) or not isinstance(value, Integral) or not 1 <= value <= top):
        raise InputError(f"{name} must be an integer from 1 to {top}, got {value!r}.")


def check_threads(threads: int | None) -> None:
    """Raise InputError unless ``threads`` (Numba threads of one kernel call) is None or an integer in
    [1, NUMBA_NUM_THREADS]."""
    _check_count(threads, "threads")


def resolve_threads(threads: int | None) -> int:
    """``threads`` checked, or Numba's current thread count when None."""
    check_threads(threads)
    return numba.get_num_threads() if threads is None else int(threads)


def check_workers(workers: int | None) -> None:
    """Raise InputError unless ``workers`` (Python threads of ``thread_map``) is None or an integer in
    [1, NUMBA_NUM_THREADS] (the pool has NUMBA_NUM_THREADS − 1 threads besides the caller)."""
    _check_count(workers, "workers")


def resolve_workers(workers: int | None) -> int:
    """``workers`` checked, or Numba's current thread count when None (one worker per core Numba may use)."""
    check_workers(workers)
    return numba.get_num_threads() if workers is None else int(workers)


def split_range(n: int, parts: int) -> list[tuple[int, int]]:
    """[0, n) as min(n, parts) contiguous, non-empty ranges whose lengths differ by at most one (none for n = 0;
    ``parts`` below 1 counts as 1): the rows or samples each ``thread_map`` worker takes."""
    parts = max(1, min(int(parts), n))
    cuts = [n * i // parts for i in range(parts + 1)]
    return [(cuts[i], cuts[i + 1]) for i in range(parts) if cuts[i + 1] > cuts[i]]


_POOL: list[ThreadPoolExecutor] = []  # one pool of NUMBA_NUM_THREADS − 1 threads, made on first use
_WORKER = threading.local()
os.register_at_fork(after_in_child=_POOL.clear)  # a forked child inherits the pool but not its threads


def thread_map(fn: Callable[[Any], Any], items: list, workers: int | None) -> list:
    """[fn(x) for x in items] on ``workers`` Python threads (default: Numba's thread count): for coarse tasks
    that call Numba functions compiled with ``nogil=True`` (or NumPy's BLAS products, which release the GIL too),
    which then run side by side. Each task should itself be serial (a generated ``*_serial`` function, or BLAS
    products under ``blas_threads(1)``), so that ``workers`` threads keep ``workers`` cores busy. A ``prange``
    around the generated kernels would do the same, but each such loop adds a long LLVM compilation the first
    time it is compiled (see docs/benchmark-notes.md).

    The calling thread and ``workers − 1`` pool threads take the items one at a time, in order, until none is
    left. The pool persists, because starting threads on every call would cost more than many of the tasks it
    runs; even handing an item to a waiting thread has a cost, which is why small work stays on one worker (see
    docs/benchmark-notes.md). A call from inside a
    task runs serially, so nested maps neither wait on each other nor oversubscribe the cores. The first failing
    item's exception (by position) is raised; after a failure, or an interrupt of the caller, no further items
    are started."""
    count = min(len(items), resolve_workers(workers))
    if count <= 1 or getattr(_WORKER, "inside", False):
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

    helpers = [pool.submit(drain) for _ in range(count - 1)]
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


@lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's controller of the BLAS libraries loaded in this process (NumPy's OpenBLAS and SciPy's, which
    Numba's np.dot calls), made once: building a controller scans every loaded library, which costs far more than
    a limit (see docs/benchmark-notes.md). Both are loaded when this module is imported, before the first call."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


_BLAS_LOCK = threading.Lock()
_BLAS_HELD: list = []  # [the limiter in force, how many blas_threads contexts are open] while any is open


def _reset_blas_state() -> None:
    """In a forked child: a fresh lock (the parent's may have been held by a thread the child does not have)."""
    global _BLAS_LOCK
    _BLAS_LOCK = threading.Lock()
    _BLAS_HELD.clear()


os.register_at_fork(after_in_child=_reset_blas_state)


def _as_controller(action: Callable[[], Any]) -> Any:
    """Run a threadpoolctl limit or restore as whichever thread calls it: threadpoolctl lets only one Python thread
    control OpenBLAS's process-wide setting and silently ignores the others, so every change here (made under
    ``_BLAS_LOCK``) clears that claim before and after, leaving no thread in control (threadpoolctl limits that
    other code opens keep working)."""
    clears = [c for lib in _blas_controller().lib_controllers
              if (c := getattr(type(lib), "clear_controlling_thread", None)) is not None]
    for clear in clears:
        clear(force=True)
    try:
        return action()
    finally:
        for clear in clears:
            clear(force=True)


@contextmanager
def blas_threads(count: int = 1) -> Iterator[None]:
    """The BLAS libraries NumPy calls (OpenBLAS) on ``count`` threads meanwhile, restored afterwards, through
    threadpoolctl (which also knows MKL, BLIS and FlexiBLAS). With ``count`` 1: products run on the calling thread
    only, so ``thread_map`` workers can each run their own, and OpenBLAS's idle worker threads do not spin
    between calls on the cores the Numba code needs (see docs/benchmark-notes.md). The setting is process-wide:
    contexts opened meanwhile (nested, or from other threads) share the first one's setting, and the last one to
    close restores what was there before the first."""
    with _BLAS_LOCK:
        if _BLAS_HELD:
            _BLAS_HELD[1] += 1
        else:
            _BLAS_HELD[:] = [_as_controller(lambda: _blas_controller().limit(limits=count)), 1]
    try:
        yield
    finally:
        with _BLAS_LOCK:
            if _BLAS_HELD:  # empty in a forked child (fresh state): nothing of the parent's to restore there
                _BLAS_HELD[1] -= 1
                if _BLAS_HELD[1] == 0:
                    limiter = _BLAS_HELD[0]
                    _BLAS_HELD.clear()
                    _as_controller(limiter.restore_original_limits)


@contextmanager
def using_threads(threads: int | None) -> Iterator[int]:
    """Run with ``threads`` Numba threads (None: the current setting), restoring the setting afterwards; yields the
    count in effect (a kernel's ``nchunks`` is at most this)."""
    check_threads(threads)
    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(threads)
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(previous)


def check_scores(T: np.ndarray, A2: np.ndarray) -> float:
    """Reject inputs whose scores s_jl = T_j·A2_l (T = s·A1X) may overflow float64: kernels assume them finite.
    Returns the bound on |s_jl| (0 when T or A2 is zero), which a caller compares with a narrower dtype's range.

    The bound |s_jl| ≤ max|T|·max|A2|·max_j Σ_k |T_jk|/max|T| is formed so that it overflows only when the
    scores can: the two largest entries are multiplied first (a huge T with a tiny A2 gives moderate scores),
    and the row sums are taken of T scaled to entries ≤ 1."""
    t_max, a_max = float(np.abs(T).max(initial=0.0)), float(np.abs(A2).max(initial=0.0))
    if t_max == 0.0 or a_max == 0.0:
        if not (math.isfinite(t_max) and math.isfinite(a_max)):
            raise InputError("The scores s·A1·X·A2ᵀ may overflow float64; scale the inputs down.")
        return 0.0
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        bound = t_max * a_max * float((np.abs(T) / t_max).sum(axis=1).max())
    if not bound < 1e300:
        raise InputError("The scores s·A1·X·A2ᵀ may overflow float64; scale the inputs down.")
    return bound
