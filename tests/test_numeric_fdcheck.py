"""fd_gradient and check_grad on functions with known gradients, and on deliberately wrong gradients."""

import re

import numpy as np
import pytest

from attngrad.errors import InputError
from attngrad.numeric import GradCheck, check_grad, fd_gradient
from attngrad.numeric.fdcheck import DEFAULT_TOLERANCES

RNG = np.random.default_rng(42)
M = RNG.standard_normal((5, 5))
X0 = RNG.standard_normal((3, 4))

# (function, its gradient, point): closed forms with nonzero derivatives of every order.
CASES = {
    "sum_sin": (lambda x: np.sum(np.sin(x)), lambda x: np.cos(x), X0),
    "quadratic": (lambda x: x @ M @ x, lambda x: (M + M.T) @ x, RNG.standard_normal(5)),
    "exp_product": (lambda x: np.exp(x[0] * x[1]) + x[2] ** 5, lambda x: np.array(
        [x[1] * np.exp(x[0] * x[1]), x[0] * np.exp(x[0] * x[1]), 5 * x[2] ** 4]), np.array([0.7, -1.3, 2.5])),
    "large_entries": (lambda x: np.sum(np.log1p(x * x)), lambda x: 2 * x / (1 + x * x), 300 * X0),
}


@pytest.mark.parametrize("case", CASES)
def test_fd_gradient_is_accurate_and_its_error_estimate_honest(case):
    fn, grad, x = CASES[case]
    fd, err = fd_gradient(fn, x)
    actual = np.abs(fd - grad(x))
    assert fd.shape == x.shape and err.shape == x.shape
    assert np.all(actual <= 4 * err), (actual / err).max()
    assert np.all(err <= 1e-8 * (1 + np.abs(grad(x))))


@pytest.mark.parametrize(("levels", "bound", "actual_bound"), [(2, 1e-1, 1e-5), (3, 1e-5, 1e-9), (5, 1e-10, 1e-11)])
def test_more_levels_shrink_the_error_and_the_estimate_stays_honest(levels, bound, actual_bound):
    x = np.array([0.3, -2.0, 1.1])
    fd, err = fd_gradient(lambda v: np.sum(np.exp(2 * v)), x, levels=levels, h=0.05)
    actual = np.abs(fd - 2 * np.exp(2 * x))
    assert np.all(actual <= 4 * err)
    assert err.max() < bound and actual.max() < actual_bound


def test_fd_gradient_casts_float32_points_to_float64():
    seen = []
    x = X0.astype(np.float32)

    def fn(v):
        seen.append(v.dtype)
        return np.sum(np.sin(v))

    fd, err = fd_gradient(fn, x)
    assert set(seen) == {np.dtype(np.float64)}
    assert np.all(np.abs(fd - np.cos(x.astype(np.float64))) <= 4 * err)


def wrong_gradients(grad):
    one_entry = grad.copy()
    one_entry[1, 2] += 0.05
    return {"doubled": 2 * grad, "transposed": grad.T, "one_entry": one_entry}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["full", "directions"])
def test_check_grad_passes_the_right_gradient_and_prints_tolerances(dtype, mode):
    x = RNG.standard_normal((4, 4)).astype(dtype)
    A = RNG.standard_normal((4, 4))

    def fn(v):  # computed in the dtype under test, like a float32 kernel would be
        v = v.astype(dtype)
        return float(np.sum(np.sin(v @ A.astype(dtype))))

    grad = (np.cos(x @ A.astype(dtype)) @ A.T.astype(dtype)).astype(dtype)
    result = check_grad(fn, grad, x, mode=mode, name="W")
    assert isinstance(result, GradCheck) and result.ok, str(result)
    atol, rtol = DEFAULT_TOLERANCES[dtype]
    assert (result.atol, result.rtol, result.dtype) == (atol, rtol, np.dtype(dtype).name)
    text = str(result)
    assert text.startswith("grad of W matches finite differences") and f"atol={atol:g}, rtol={rtol:g}" in text
    assert check_grad(fn, lambda v: grad, x, mode=mode, name="W").ok  # grad as a callable


def sin_problem(dtype, wrong):
    """f(v) = Σ sin(vA) with its true gradient cos(vA)Aᵀ, and a wrong gradient of the named kind."""
    x = RNG.standard_normal((4, 4)).astype(dtype)
    A = RNG.standard_normal((4, 4))

    def fn(v):
        return float(np.sum(np.sin(v.astype(dtype) @ A.astype(dtype))))

    true = np.cos(x.astype(np.float64) @ A) @ A.T
    return x, fn, true, wrong_gradients(true)[wrong].astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("wrong", ["doubled", "transposed", "one_entry"])
def test_check_grad_full_names_the_worst_entry(dtype, wrong):
    x, fn, true, bad = sin_problem(dtype, wrong)
    result = check_grad(fn, bad, x, mode="full", name="W")
    assert not result.ok
    atol, rtol = DEFAULT_TOLERANCES[dtype]
    expected_worst = np.unravel_index(np.argmax(np.abs(bad - true) / (atol + rtol * np.abs(true))), true.shape)
    assert result.worst_index == tuple(int(i) for i in expected_worst)
    i, j = result.worst_index
    assert result.claimed == pytest.approx(float(bad[i, j]))
    assert result.finite_difference == pytest.approx(true[i, j], rel=1e-3)
    text = str(result)
    assert text.startswith(f"grad mismatch for W at entry ({i}, {j}): claimed ")
    assert f"atol={atol:g}, rtol={rtol:g}" in text and "\n" not in text


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("wrong", ["doubled", "transposed", "one_entry"])
def test_check_grad_directions_flags_wrong_gradients(dtype, wrong):
    x, fn, true, bad = sin_problem(dtype, wrong)
    result = check_grad(fn, bad, x, mode="directions", n_directions=6, seed=3, name="W")
    assert not result.ok and result.n_checked == 6
    rng = np.random.default_rng(3)
    directions = [v / np.linalg.norm(v) for v in (rng.standard_normal(x.shape) for _ in range(6))]
    k = result.worst_index[0]
    atol, rtol = DEFAULT_TOLERANCES[dtype]
    assert abs(np.sum((bad - true) * directions[k])) > atol + rtol * abs(np.sum(true * directions[k]))
    assert result.claimed == pytest.approx(float(np.sum(bad.astype(np.float64) * directions[k])))
    assert str(result).startswith(f"grad mismatch for W at random direction {k}: claimed directional derivative")


def test_check_grad_reports_errors_relative_to_the_gradient():
    fn, grad, x = CASES["sum_sin"]
    result = check_grad(fn, 1.5 * grad(x), x)
    true = np.cos(x)
    assert result.max_abs_err == pytest.approx(np.max(np.abs(0.5 * true)), rel=1e-9)
    assert result.max_rel_err == pytest.approx(np.max(np.abs(0.5 * true)) / np.max(np.abs(true)), rel=1e-9)


def test_explicit_tolerances_are_used():
    fn, grad, x = CASES["sum_sin"]
    slightly_off = grad(x) * (1 + 1e-5)
    assert not check_grad(fn, slightly_off, x).ok
    assert check_grad(fn, slightly_off, x, rtol=1e-4).ok


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: fd_gradient(lambda v: v, X0), "real scalar"),
        (lambda: fd_gradient(lambda v: "a", X0), "real scalar"),
        (lambda: fd_gradient(lambda v: 1 / v[0] if v[0] > 0 else np.inf, np.array([1e-3, 1.0])), "returned inf"),
        (lambda: fd_gradient(np.sum, np.array([1.0, np.nan])), "x contains NaN or Inf"),
        (lambda: fd_gradient(np.sum, np.zeros(0)), "x is empty"),
        (lambda: fd_gradient(np.sum, X0, levels=1), "levels"),
        (lambda: fd_gradient(np.sum, X0, h=-1.0), "step h"),
        (lambda: check_grad(np.sum, np.ones((4, 3)), X0, name="W"), "of W has shape (4, 3) but W has shape (3, 4)"),
        (lambda: check_grad(np.sum, np.full(X0.shape, np.inf), X0), "gradient of x contains NaN or Inf"),
        (lambda: check_grad(np.sum, np.ones(X0.shape), X0, mode="sideways"), "mode"),
        (lambda: check_grad(np.sum, np.ones(X0.shape), X0, mode="directions", n_directions=0), "n_directions"),
        (lambda: check_grad(np.sum, np.ones(X0.shape), X0, atol=-1.0), "atol"),
    ],
)
def test_bad_input_raises_one_sentence(call, fragment):
    with pytest.raises(InputError) as info:
        call()
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert fragment in message
    assert message.endswith(".") and "\n" not in message and not re.search(r"\. [A-Z]", message)


def test_float32_gradient_of_a_float32_loss_passes_and_a_slip_fails():
    """A float32 gradient comes with a float32 function: the check uses float32 steps and rounding estimate."""
    import attngrad

    arrays = attngrad.random_inputs(128, 8, seed=1, dtype=np.float32)
    X = arrays.pop("X")

    def loss(X_):
        return attngrad.loss_and_grad(**arrays, X=X_.astype(np.float32)).loss

    grad = attngrad.loss_and_grad(**arrays, X=X).grad_X
    assert grad.dtype == np.float32
    for mode in ("full", "directions"):
        assert check_grad(loss, grad, X, mode=mode).ok
        assert not check_grad(loss, grad.T, X, mode=mode).ok
