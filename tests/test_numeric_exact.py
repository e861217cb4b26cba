"""The exact O(nd)-memory kernel (printed from the chain) against the reference, long double and mpmath."""

import subprocess
import sys
import textwrap

import mpmath
import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attngrad.numeric import loss_and_grad, random_inputs
from attngrad.numeric.generated import run
from attngrad.numeric.inputs import parse_scale
from attngrad.vocabulary import ALMAN_SONG_MODULE, KERNEL_METHODS

NAMES = ("A1", "A2", "A3", "E", "Y", "X")
SCALES = ["1/d", "1/sqrt(d)", "1", 0.37]
EPS = np.finfo(np.float64).eps
EPS32 = float(np.finfo(np.float32).eps)


def rel_err(actual, expected):
    """max abs error / max abs value (normwise relative error)."""
    return np.max(np.abs(np.asarray(actual, np.float64) - expected)) / max(np.max(np.abs(expected)), 1e-300)


def longdouble_chain(inputs, s):
    """Def 1.2 and its gradient in np.longdouble, with p from Def C.5 row by row (not via p1 − p2)."""
    A1, A2, A3, E, Y, X = (np.asarray(inputs[k], np.longdouble) for k in NAMES)
    S = np.longdouble(s) * (A1 @ X @ A2.T)
    u = np.exp(S - S.max(axis=1, keepdims=True))
    f = u / u.sum(axis=1, keepdims=True)
    h = A3 @ Y
    c = f @ h - E
    q = c @ h.T
    p = np.stack([(np.diag(f[j]) - np.outer(f[j], f[j])) @ q[j] for j in range(len(f))])
    return (c * c).sum() / 2, np.longdouble(s) * (A1.T @ p @ A2), A3.T @ (f.T @ c), f


def rounding_bounds(inputs, s, f, eps=EPS):
    """Size of the rounding error any evaluation with unit roundoff ``eps`` makes, entry by entry.

    Scores carry an absolute error δ_j ≈ (d+2)·eps·max_l (s|A1||X||A2|ᵀ)_jl, which changes f by the factor
    exp(±2δ_j): that is the conditioning of the loss, not a flaw of an algorithm. Add O((n+d)·eps) relative
    error for every sum, and bound each output by its computation done on absolute values.
    """
    A1, A2, A3, E, Y, X = (np.abs(np.asarray(inputs[k], np.float64)) for k in NAMES)
    f = np.asarray(f, np.float64)
    n, d = A1.shape
    delta = (d + 2) * eps * (s * (A1 @ X @ A2.T)).max(axis=1)
    rho = 4 * (n + d + 2) * eps + 4 * delta.max()
    h = A3 @ Y
    c_size = f @ h + E
    q_size = c_size @ h.T
    p_size = f * q_size + f * (f * q_size).sum(axis=1, keepdims=True)
    return rho * (c_size * c_size).sum(), rho * s * (A1.T @ p_size @ A2), rho * (A3.T @ f.T @ c_size)


def assert_within_rounding(result, inputs, s):
    L, gX, gY, f = longdouble_chain(inputs, s)
    bound_L, bound_X, bound_Y = rounding_bounds(inputs, s, f)
    assert np.isfinite(result.loss) and np.isfinite(result.grad_X).all() and np.isfinite(result.grad_Y).all()
    assert abs(result.loss - float(L)) <= bound_L
    assert np.all(np.abs(result.grad_X - gX.astype(np.float64)) <= bound_X)
    assert np.all(np.abs(result.grad_Y - gY.astype(np.float64)) <= bound_Y)


SIZES = [(1, 1), (1, 4), (2, 2), (7, 3), (33, 5), (64, 1), (100, 8), (257, 16)]
KERNELS = pytest.mark.parametrize("method", KERNEL_METHODS)  # the exact kernel, printed from the chain


@KERNELS
@pytest.mark.parametrize(("n", "d"), SIZES)
@pytest.mark.parametrize("scale", SCALES)
def test_kernel_matches_reference_float64(n, d, scale, method):
    inputs = random_inputs(n, d, seed=n * 31 + d)
    got = loss_and_grad(**inputs, scale=scale, method=method)
    ref = loss_and_grad(**inputs, scale=scale, method="reference")
    assert got.grad_X.dtype == got.grad_Y.dtype == np.float64
    assert abs(got.loss - ref.loss) <= 1e-12 * abs(ref.loss)
    if n > 1:  # for n = 1 the softmax is constant and both gradients in X are exactly zero
        assert rel_err(got.grad_X, ref.grad_X) < 1e-12
    else:
        assert not got.grad_X.any() and not ref.grad_X.any()
    assert rel_err(got.grad_Y, ref.grad_Y) < 1e-12


def normwise(actual, expected, what):
    got, want = np.asarray(getattr(actual, what), np.float64), np.asarray(getattr(expected, what), np.float64)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


@KERNELS
@pytest.mark.parametrize(("n", "d"), [(64, 4), (64, 64), (257, 1), (257, 16), (1024, 4), (1024, 64)])
@pytest.mark.parametrize("scale", ["1/d", "1/sqrt(d)", "1"])
def test_float32_meets_flashattentions_rule(n, d, scale, method):
    """FlashAttention's rule: computed in float32, the kernel's error against a float64 evaluation of the chain is
    at most twice that of plain float32 NumPy (the reference run in float32), over seeds (the largest normwise error
    of four seeds each; an error below half an ulp of float32 counts as half an ulp, where luck decides)."""
    ours, plain = {}, {}
    for seed in range(4):
        inputs = random_inputs(n, d, seed=seed, dtype=np.float32)
        got = loss_and_grad(**inputs, scale=scale, method=method)
        assert got.grad_X.dtype == got.grad_Y.dtype == np.float32
        exact = loss_and_grad(**inputs, scale=scale, method="reference", dtype=np.float64)
        ref32 = loss_and_grad(**inputs, scale=scale, method="reference")
        for what in ("loss", "grad_X", "grad_Y"):
            ours[what] = max(ours.get(what, 0.0), normwise(got, exact, what))
            plain[what] = max(plain.get(what, 0.0), normwise(ref32, exact, what))
    for what in ours:
        assert ours[what] <= 2 * max(plain[what], EPS32 / 2), (what, ours[what], plain[what])


@KERNELS
@pytest.mark.parametrize(("n", "d"), SIZES)
def test_float32_is_computed_in_float32(n, d, method):
    """The float32 kernel computes in float32: its result differs from the float64 kernel's rounded to float32
    (which the float64 chain would give) at some size, yet stays within float32's rounding bound."""
    inputs = random_inputs(n, d, seed=n * 31 + d, dtype=np.float32)
    got = loss_and_grad(**inputs, method=method)
    wide = loss_and_grad(**inputs, method=method, dtype=np.float64)
    s = parse_scale("1/d", d)
    f = longdouble_chain(inputs, s)[3]
    _, bound_X, bound_Y = rounding_bounds(inputs, s, f, EPS32)
    assert np.all(np.abs(got.grad_X - wide.grad_X) <= bound_X)
    assert np.all(np.abs(got.grad_Y - wide.grad_Y) <= bound_Y)
    if n * d >= 1000:
        assert not np.array_equal(got.grad_Y, wide.grad_Y.astype(np.float32))


@KERNELS
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [1, 7, 45, 130])
def test_thread_counts_give_the_reference_result_and_are_restored(threads, n, method):
    inputs = random_inputs(n, 4, seed=n)
    ref = loss_and_grad(**inputs, method="reference")
    before = numba.get_num_threads()
    got = loss_and_grad(**inputs, threads=threads, method=method)
    assert numba.get_num_threads() == before
    assert abs(got.loss - ref.loss) <= 1e-12 * abs(ref.loss)
    assert rel_err(got.grad_X, ref.grad_X) < 1e-12 or n == 1
    assert rel_err(got.grad_Y, ref.grad_Y) < 1e-12


def test_threads_are_restored_after_an_error():
    before = numba.get_num_threads()
    arrays = [random_inputs(8, 2)[k] for k in NAMES]
    arrays[5] = arrays[5][None]  # a 3-D X: the kernel's compilation fails inside the thread setting
    with pytest.raises(Exception):
        run(ALMAN_SONG_MODULE, tuple(arrays), (0.5,), threads=1)
    assert numba.get_num_threads() == before


def test_large_entries_overflow_naive_exp_but_not_the_kernel():
    inputs = random_inputs(40, 6, seed=1, entry_scale=30.0)
    s = parse_scale("1/d", 6)
    with np.errstate(over="ignore"):
        assert np.isinf(np.exp(s * inputs["A1"] @ inputs["X"] @ inputs["A2"].T)).any()
    for method in ("generated", "reference"):
        assert_within_rounding(loss_and_grad(**inputs, method=method), inputs, s)


@pytest.mark.parametrize("entry", [3e19, 1e25])  # scores about 1e39 and 1e50
def test_float32_scores_beyond_float32_do_not_overflow(entry):
    """Scores the float32 range cannot hold (|s_jl| up to ~1e40 here) are computed in float64: the float32 result
    is the float64 chain's, rounded; plain float32 scores overflow to inf instead."""
    inputs = random_inputs(12, 3, seed=2, dtype=np.float32)
    inputs["A1"], inputs["A2"] = inputs["A1"] * np.float32(entry), inputs["A2"] * np.float32(entry)
    got = loss_and_grad(**inputs, scale="1", method="generated")
    wide = loss_and_grad(**inputs, scale="1", method="reference", dtype=np.float64)
    assert np.isfinite(got.grad_X).all()
    assert rel_err(got.grad_Y, wide.grad_Y) < 1e-6
    with np.errstate(all="ignore"):
        plain = inputs["A1"] @ inputs["X"] @ inputs["A2"].T
    assert not np.isfinite(plain - plain.max(axis=1, keepdims=True)).all()


# shapes, entry scales (up to where a naive exp overflows), seeds and scales drawn by Hypothesis
ANY_ENTRIES = dict(n=st.integers(1, 40), d=st.integers(1, 6), entry_scale=st.floats(0.05, 30.0),
                   seed=st.integers(0, 2**32 - 1), scale=st.sampled_from(["1/d", "1/sqrt(d)", "1"]))


@KERNELS
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**ANY_ENTRIES)
def test_kernel_within_rounding_of_long_double_for_any_entries(n, d, entry_scale, seed, scale, method):
    inputs = random_inputs(n, d, seed=seed, entry_scale=entry_scale)
    got = loss_and_grad(**inputs, scale=scale, method=method)
    assert_within_rounding(got, inputs, parse_scale(scale, d))


@KERNELS
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**ANY_ENTRIES)
def test_float32_within_float32_rounding_of_long_double(n, d, entry_scale, seed, scale, method):
    """float32 inputs (exactly representable in long double), computed in float32: within the rounding bound of an
    evaluation with float32's unit roundoff, plus half a float32 ulp for the final rounding."""
    inputs = {k: v.astype(np.float32) for k, v in random_inputs(n, d, seed=seed, entry_scale=entry_scale).items()}
    out = loss_and_grad(**inputs, scale=scale, method=method)
    assert out.grad_X.dtype == np.float32 and out.grad_Y.dtype == np.float32
    s = parse_scale(scale, d)
    L, gX, gY, f = longdouble_chain(inputs, s)
    bound_L, bound_X, bound_Y = rounding_bounds(inputs, s, f, EPS32)
    half = EPS32 / 2
    assert abs(out.loss - float(L)) <= bound_L + half * abs(float(L)) * 1.0001
    assert np.all(np.abs(out.grad_X - gX.astype(np.float64)) <= bound_X + half * np.abs(gX.astype(np.float64)) * 1.0001)
    assert np.all(np.abs(out.grad_Y - gY.astype(np.float64)) <= bound_Y + half * np.abs(gY.astype(np.float64)) * 1.0001)


def mp_loss(inputs, s):
    """Def 1.2 verbatim in mpmath (no shift: mpmath's exponent range is unbounded)."""
    A1, A2, A3, E, Y, X = (mpmath.matrix(inputs[k].tolist()) for k in NAMES)
    S, h = (A1 * X * A2.T) * s, A3 * Y
    loss = mpmath.mpf(0)
    for j in range(A1.rows):
        u = [mpmath.exp(S[j, l]) for l in range(A1.rows)]
        for i in range(A1.cols):
            c = mpmath.fsum(u[l] * h[l, i] for l in range(A1.rows)) / mpmath.fsum(u) - E[j, i]
            loss += c * c / 2
    return loss


@KERNELS
@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 4), d=st.integers(1, 2), entry_scale=st.floats(0.05, 30.0),
    seed=st.integers(0, 2**32 - 1), scale=st.sampled_from(["1/d", "1/sqrt(d)", "1"]),
)
def test_kernel_within_rounding_of_mpmath_on_tiny_cases(n, d, entry_scale, seed, scale, method):
    inputs = random_inputs(n, d, seed=seed, entry_scale=entry_scale)
    s = parse_scale(scale, d)
    got = loss_and_grad(**inputs, scale=scale, method=method)
    with mpmath.workdps(80):
        exact = {k: np.vectorize(mpmath.mpf, otypes=[object])(v) for k, v in inputs.items()}
        L = mp_loss(exact, mpmath.mpf(s))
        step = mpmath.mpf("1e-30")
        grads = {}
        for name in ("X", "Y"):
            grads[name] = np.empty((d, d))
            for idx in np.ndindex(d, d):
                plus, minus = dict(exact), dict(exact)
                plus[name], minus[name] = exact[name].copy(), exact[name].copy()
                plus[name][idx] += step
                minus[name][idx] -= step
                grads[name][idx] = float((mp_loss(plus, mpmath.mpf(s)) - mp_loss(minus, mpmath.mpf(s))) / (2 * step))
    f = longdouble_chain(inputs, s)[3]
    bound_L, bound_X, bound_Y = rounding_bounds(inputs, s, f)
    assert abs(got.loss - float(L)) <= bound_L
    assert np.all(np.abs(got.grad_X - grads["X"]) <= bound_X)
    assert np.all(np.abs(got.grad_Y - grads["Y"]) <= bound_Y)


@KERNELS
def test_kernel_matches_reference_at_n_2048(method):
    inputs = random_inputs(2048, 32, seed=7)
    got = loss_and_grad(**inputs, method=method)
    ref = loss_and_grad(**inputs, method="reference")
    assert abs(got.loss - ref.loss) <= 1e-12 * abs(ref.loss)
    assert rel_err(got.grad_X, ref.grad_X) < 1e-12
    assert rel_err(got.grad_Y, ref.grad_Y) < 1e-12


# ru_maxrss is no use here: Linux keeps it across fork and exec, so the child starts with pytest's own peak.
# The per-process high-water mark VmHWM is fresh after exec and can be reset (clear_refs 5) before the call.
MEMORY_SCRIPT = textwrap.dedent(
    """
    import sys

    from attngrad.numeric import loss_and_grad, random_inputs

    def status_kb(field):
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))

    method, dtype = sys.argv[1], sys.argv[2]
    loss_and_grad(**random_inputs(64, 32, dtype=dtype), method=method)  # compile or load the cached kernel first
    big = random_inputs(16384, 32, seed=1, dtype=dtype)
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset VmHWM to the current RSS
    rss_before, peak_before = status_kb("VmRSS"), status_kb("VmHWM")
    loss_and_grad(**big, method=method)
    print(rss_before, peak_before, status_kb("VmHWM"))
    """
)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@KERNELS
def test_memory_stays_o_nd_at_n_16384(method, dtype):
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, method, dtype], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rss_before, peak_before, peak_after = map(int, out.stdout.split())
    assert peak_before - rss_before < 1024  # the reset worked, so peak_after is the peak of this call
    # an n×n float64 array alone would be 2 GiB; inputs are allocated before the measurement
    assert peak_after - rss_before < 50 * 1024, (rss_before, peak_after)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads")
def test_thread_map_keeps_order_runs_side_by_side_and_runs_nested_maps_serially():
    import threading

    from attngrad.numeric import kernel_support as ks

    meet = threading.Barrier(2, timeout=10)  # broken unless two items run at the same time

    def inner(x):
        return (x * x, threading.current_thread().name)

    def outer(x):
        if x < 2:
            meet.wait()
        return ks.thread_map(inner, [x, x + 1], 2)  # inside a task: serial, on the task's own thread

    out = ks.thread_map(outer, list(range(8)), 2)
    assert [[v for v, _ in pair] for pair in out] == [[x * x, (x + 1) ** 2] for x in range(8)]
    assert all(pair[0][1] == pair[1][1] for pair in out)
    assert len({pair[0][1] for pair in out[:2]}) == 2  # items 0 and 1 met at the barrier on two threads
    pool = ks._POOL[0]  # the pool persists
    ks.thread_map(inner, [1, 2], 2)
    assert ks._POOL == [pool]


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads")
def test_thread_map_raises_the_first_failing_items_exception():
    from attngrad.numeric import kernel_support as ks

    import threading

    later = threading.Event()

    def fn(x):
        if x == 3:  # fails after item 5 has failed: the first failure by position, not by time, is raised
            later.wait(timeout=10)
            raise ValueError("item 3")
        if x == 5:
            later.set()
            raise ValueError("item 5")
        return x

    with pytest.raises(ValueError, match="item 3"):
        ks.thread_map(fn, list(range(8)), 2)
    assert later.is_set()
    assert ks.thread_map(fn, [0, 1, 2], 2) == [0, 1, 2]


def _squares_on_two_threads(n):
    from attngrad.numeric import kernel_support as ks

    return ks.thread_map(lambda x: x * x, list(range(n)), 2)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads")
def test_thread_map_works_in_a_forked_child_after_use_in_the_parent():
    import multiprocessing

    assert _squares_on_two_threads(5) == [0, 1, 4, 9, 16]  # the parent's pool now exists
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_squares_on_two_threads, (6,)).get(timeout=60) == [0, 1, 4, 9, 16, 25]
