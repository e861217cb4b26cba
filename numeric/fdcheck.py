"""Finite-difference gradient checks for any scalar function `fn(x: ndarray) -> float`.

Central differences with Richardson extrapolation (Ridders' method: the step is halved and a Neville table
removes the h², h⁴, … error terms) give the derivative and an honest error estimate; `check_grad` compares
a claimed gradient with them entry by entry ("full", like torch.autograd.gradcheck) or along random unit
directions ("directions", like jax.test_util.check_grads), with tolerances per dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from attngrad.errors import InputError
from attngrad.numeric.inputs import (as_float_array, function, integer, non_negative_number, one_of,
                                     positive_number, seed as check_seed)

# (atol, rtol) by dtype of the claimed gradient; the finite-difference error estimate is added on top.
DEFAULT_TOLERANCES = {
    np.float64: (1e-7, 1e-6),
    np.float32: (1e-4, 2e-3),
}
MODES = ("full", "directions")

# The default first step is relative to max(1, |x_i|) and a power of two, so that x ± h/2^k are exact (base_step).
# Assumed error of one evaluation of fn, in units of eps·|fn|; enters the rounding part of the estimate.
FN_ULPS = 4.0
_EPS = float(np.finfo(np.float64).eps)


def _value(fn: Callable[[np.ndarray], Any], x: np.ndarray, name: str) -> float:
    """fn(x) as a finite Python float, or InputError."""
    value = np.asarray(fn(x))
    if value.shape != () or value.dtype.kind not in "iuf":
        raise InputError(
            f"The function must return a real scalar, got {value.dtype.name} with shape {value.shape}."
        )
    result = float(value)
    if not math.isfinite(result):
        raise InputError(f"The function returned {result} at a point near {name}; try a smaller step h.")
    return result


def _power_of_two(step: float) -> float:
    return 2.0 ** round(math.log2(step))


def _derivative(phi: Callable[[float], float], x0: float, h: float, levels: int, f0: float,
                eps: float = _EPS, fn_error: float = 0.0) -> tuple[float, float]:
    """Ridders: derivative of phi at x0 from steps h, h/2, …, and its error estimate (fn_error: an absolute error of
    each value of phi beyond its rounding, amplified like the rounding)."""
    prev: list[float] = []
    prev_bound: list[float] = []
    fmax = abs(f0)
    error = math.inf
    for k in range(levels):
        hk = h / 2.0**k
        xp, xm = x0 + hk, x0 - hk
        fp, fm = phi(xp), phi(xm)
        fmax = max(fmax, abs(fp), abs(fm))
        row = [(fp - fm) / (xp - xm)]
        bound = [1.0 / (xp - xm)]  # rounding of fn, per unit of the error of one evaluation
        for m in range(1, k + 1):
            factor = 4.0**m - 1.0
            row.append(row[m - 1] + (row[m - 1] - prev[m - 1]) / factor)
            bound.append(bound[m - 1] + (bound[m - 1] + prev_bound[m - 1]) / factor)
        if k:
            error = max(abs(row[k] - row[k - 1]), abs(row[k] - prev[k - 1]))
        prev, prev_bound = row, bound
    return prev[-1], error + 2.0 * (FN_ULPS * eps * fmax + fn_error) * prev_bound[-1]


def _checked_point(name: str, x: Any, dtype: Any = None) -> np.ndarray:
    arr = as_float_array(name, x, dtype)
    if arr.size == 0:
        raise InputError(f"{name} is empty.")
    return arr


def _check_levels_and_step(levels: Any, h: Any) -> None:
    integer("levels", levels, 2, 10)
    if h is not None:
        positive_number("The step h", h)


def base_step(fn_dtype: Any = np.float64) -> float:
    """The default first step for a function accurate to ``fn_dtype``: eps^(1/7) as a power of two (2⁻⁷ for
    float64, 2⁻³ for float32), where the O(h⁶) error left after extrapolation meets the rounding error."""
    return _power_of_two(float(np.finfo(fn_dtype).eps) ** (1 / 7))


def fd_gradient(
    fn: Callable[[np.ndarray], Any], x: Any, *, h: float | None = None, levels: int = 3, name: str = "x",
    fn_dtype: Any = np.float64, fn_error: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of fn at x by Richardson-extrapolated central differences, with a per-entry error estimate.

    fn is called with float64 arrays of x's shape (x is cast to float64); ``fn_dtype`` is the precision its
    values have (float32 for a function computed in float32). Entry i uses the steps h_i, h_i/2, …,
    h_i/2^(levels−1), where h_i = h, or by default base_step(fn_dtype)·max(1, |x_i|) rounded to a power of two.
    The estimate is Ridders' (the larger change between the last two extrapolation levels) plus the propagated
    rounding error of fn, assumed to be FN_ULPS·eps·|fn| with the eps of fn_dtype, plus ``fn_error``: an absolute
    error of every value of fn beyond rounding (e.g. fn is itself a finite difference, whose error estimate this is),
    propagated the same way. Costs 2·levels·x.size calls.
    """
    function("fn", fn)
    _check_levels_and_step(levels, h)
    fn_error = non_negative_number("fn_error", fn_error)
    eps = float(np.finfo(fn_dtype).eps)
    first = base_step(fn_dtype)
    x64 = _checked_point(name, x, np.float64)
    f0 = _value(fn, x64.copy(), name)
    grad = np.empty_like(x64)
    error = np.empty_like(x64)
    for i in np.ndindex(x64.shape):
        step = h if h is not None else _power_of_two(first * max(1.0, abs(x64[i])))

        def phi(t: float, i: tuple = i) -> float:
            moved = x64.copy()
            moved[i] = t
            return _value(fn, moved, name)

        grad[i], error[i] = _derivative(phi, float(x64[i]), step, levels, f0, eps, fn_error)
    return grad, error


@dataclass(frozen=True)
class GradCheck:
    """Outcome of `check_grad`; str() is a one-paragraph report with the tolerances used."""

    ok: bool
    mode: str
    name: str
    max_abs_err: float
    max_rel_err: float  # max_abs_err / max |finite differences|
    worst_index: tuple[int, ...]  # entry (full) or (direction,) (directions) closest to failing or failing most
    claimed: float  # claimed value at worst_index
    finite_difference: float  # finite-difference value at worst_index
    fd_error: float  # its error estimate
    fd_error_estimate: float  # the largest error estimate over all entries or directions
    atol: float
    rtol: float
    dtype: str
    n_checked: int

    def __str__(self) -> str:
        if self.mode == "full":
            where, items, what = f"entry ({', '.join(map(str, self.worst_index))})", "entries", "claimed"
        else:
            where, items = f"random direction {self.worst_index[0]}", "directions"
            what = "claimed directional derivative"
        errors = (
            f"max abs err {self.max_abs_err:.3g}, max rel err {self.max_rel_err:.3g} over {self.n_checked} {items} "
            f"(mode {self.mode}, {self.dtype})"
        )
        tolerance = f"atol={self.atol:g}, rtol={self.rtol:g} plus the finite-difference error estimate"
        if self.ok:
            return f"grad of {self.name} matches finite differences: {errors}; tolerance {tolerance}."
        return (
            f"grad mismatch for {self.name} at {where}: {what} {self.claimed:.6g}, finite differences "
            f"{self.finite_difference:.6g} ± {self.fd_error:.1g}; {errors}; tolerance {tolerance}."
        )


def _tolerance(value: Any, default: float, label: str) -> float:
    return default if value is None else non_negative_number(label, value)


def check_grad(
    fn: Callable[[np.ndarray], Any], grad: Any, x: Any, *, mode: str = "full", n_directions: int = 4,
    seed: int = 0, atol: float | None = None, rtol: float | None = None, name: str = "x",
) -> GradCheck:
    """Compare a claimed gradient of fn at x (an array, or a callable taking x) with finite differences.

    Passes where |claimed − fd| ≤ atol + rtol·|fd| + (fd error estimate), entrywise ("full", 2·3·x.size
    calls of fn) or for ⟨claimed, v⟩ against the derivative of t ↦ fn(x + t·v) for `n_directions` random
    unit v drawn with `seed` ("directions", 6·n_directions calls). atol and rtol default to
    DEFAULT_TOLERANCES for the dtype of the claimed gradient, and fn is taken to be as accurate as that dtype
    (a float32 gradient comes with a float32 function: larger steps, a larger rounding estimate).
    """
    function("fn", fn)
    one_of("mode", mode, MODES)
    seed = check_seed("seed", seed)
    if mode == "directions":
        integer("n_directions", n_directions, 1)
    x_arr = _checked_point(name, x)
    claimed = as_float_array(f"The claimed gradient of {name}", grad(x_arr) if callable(grad) else grad)
    if claimed.shape != x_arr.shape:
        raise InputError(
            f"The claimed gradient of {name} has shape {claimed.shape} but {name} has shape {x_arr.shape}."
        )
    default_atol, default_rtol = DEFAULT_TOLERANCES[claimed.dtype.type]
    atol_, rtol_ = _tolerance(atol, default_atol, "atol"), _tolerance(rtol, default_rtol, "rtol")
    x64 = x_arr.astype(np.float64)
    precision = claimed.dtype
    if mode == "full":
        fd, fd_err = fd_gradient(fn, x64, name=name, fn_dtype=precision)
        value = claimed.astype(np.float64)
    else:
        rng = np.random.default_rng(seed)
        step = _power_of_two(base_step(precision) * max(1.0, float(np.sqrt(np.mean(x64 * x64)))))
        value, fd, fd_err = (np.empty(n_directions) for _ in range(3))
        for k in range(n_directions):
            v = rng.standard_normal(x64.shape)
            v /= np.linalg.norm(v)
            value[k] = np.sum(claimed * v)
            line_grad, line_err = fd_gradient(lambda t, v=v: fn(x64 + t[0] * v), np.zeros(1), h=step, name=name,
                                              fn_dtype=precision)
            fd[k], fd_err[k] = line_grad[0], line_err[0]
    diff = np.abs(value - fd)
    allowed = atol_ + rtol_ * np.abs(fd) + fd_err
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diff > 0, diff / allowed, 0.0)
    worst = np.unravel_index(int(np.argmax(ratio)), diff.shape)
    max_abs, scale = float(diff.max()), float(np.abs(fd).max())
    return GradCheck(
        ok=bool(np.all(diff <= allowed)),
        mode=mode,
        name=name,
        max_abs_err=max_abs,
        max_rel_err=max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf),
        worst_index=tuple(int(i) for i in worst),
        claimed=float(value[worst]),
        finite_difference=float(fd[worst]),
        fd_error=float(fd_err[worst]),
        fd_error_estimate=float(fd_err.max()),
        atol=atol_,
        rtol=rtol_,
        dtype=claimed.dtype.name,
        n_checked=int(diff.size),
    )
