"""The NumPy reference against an mpmath evaluation of Def 1.2 and against finite differences."""

import mpmath
import numpy as np
import pytest

from attngrad.numeric import check_grad, fd_gradient, loss_and_grad, random_inputs
from attngrad.numeric.inputs import parse_scale
from attngrad.numeric.reference import reference_loss_and_grad

SCALES = ["1/d", "1/sqrt(d)", "1", 0.37]


def mp_loss(inputs, s):
    """L of Def 1.2 straight from the definition, in mpmath (exact inputs, no shift in the softmax)."""
    A1, A2, A3, E, Y, X = (mpmath.matrix(inputs[k].tolist()) for k in ("A1", "A2", "A3", "E", "Y", "X"))
    S = (A1 * X * A2.T) * s
    n, d = A1.rows, A1.cols
    h = A3 * Y
    loss = mpmath.mpf(0)
    for j in range(n):
        u = [mpmath.exp(S[j, l]) for l in range(n)]
        alpha = mpmath.fsum(u)
        for i in range(d):
            c = mpmath.fsum(u[l] * h[l, i] for l in range(n)) / alpha - E[j, i]
            loss += c * c / 2
    return loss


def mp_gradient(inputs, s, name, step=mpmath.mpf("1e-15")):
    """∂L/∂name by central differences in 40-digit arithmetic (error ~ step² ≈ 1e-30)."""
    grad = np.empty(inputs[name].shape)
    for idx in np.ndindex(grad.shape):
        values = []
        for sign in (1, -1):
            moved = {k: np.vectorize(mpmath.mpf, otypes=[object])(v) for k, v in inputs.items()}
            moved[name][idx] += sign * step
            values.append(mp_loss(moved, s))
        grad[idx] = float((values[0] - values[1]) / (2 * step))
    return grad


def rel_err(actual, expected):
    return np.max(np.abs(np.asarray(actual, np.float64) - expected)) / np.max(np.abs(expected))


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("seed", [0, 1])
def test_reference_matches_mpmath_40_digits(scale, seed):
    inputs = random_inputs(3, 2, seed=seed, entry_scale=1.5)
    s = parse_scale(scale, 2)
    with mpmath.workdps(40):
        loss = mp_loss(inputs, mpmath.mpf(s))
        grad_X = mp_gradient(inputs, mpmath.mpf(s), "X")
        grad_Y = mp_gradient(inputs, mpmath.mpf(s), "Y")
    L, gX, gY = reference_loss_and_grad(*inputs.values(), s)
    assert abs(L - float(loss)) <= 1e-14 * abs(float(loss))
    assert rel_err(gX, grad_X) < 1e-12
    assert rel_err(gY, grad_Y) < 1e-12


@pytest.mark.parametrize("method", ["reference", "generated"])
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("variable", ["X", "Y"])
def test_gradient_matches_finite_differences(method, scale, variable):
    inputs = random_inputs(6, 3, seed=5)
    result = loss_and_grad(**inputs, scale=scale, method=method)
    claimed = result.grad_X if variable == "X" else result.grad_Y

    def loss(v):
        return loss_and_grad(**{**inputs, variable: v}, scale=scale, method="reference").loss

    fd, fd_err = fd_gradient(loss, inputs[variable])
    assert np.all(np.abs(claimed - fd) <= 1e-9 * np.max(np.abs(fd)) + fd_err)
    assert fd_err.max() < 1e-8 * np.max(np.abs(fd))
    for mode in ("full", "directions"):
        assert check_grad(loss, claimed, inputs[variable], mode=mode, name=variable).ok


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reference_computes_in_input_dtype(dtype):
    inputs = random_inputs(7, 3, seed=2, dtype=dtype)
    L, gX, gY = reference_loss_and_grad(*inputs.values(), 1 / 3)
    assert np.asarray(L).dtype == gX.dtype == gY.dtype == np.dtype(dtype)
    exact = reference_loss_and_grad(*(v.astype(np.float64) for v in inputs.values()), 1 / 3)
    tol = 1e-5 if dtype == np.float32 else 1e-14
    assert abs(L - exact[0]) <= tol * abs(exact[0])
    assert rel_err(gX, exact[1]) < tol and rel_err(gY, exact[2]) < tol
