"""Validation and conversion of user input for every public numeric function.

Each failure raises :class:`attngrad.errors.InputError` with one plain sentence that names the offending
argument, so the CLI can print it as is.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

from attngrad import vocabulary
from attngrad.errors import InputError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# The value at head size d of each named scale of Def 1.2 (vocabulary.SCALES; the paper uses 1/d); a positive
# number is accepted as well.
SCALES = dict(zip(vocabulary.SCALES, (lambda d: 1.0 / d, lambda d: 1.0 / math.sqrt(d), lambda d: 1.0)))

ATTENTION_NAMES = ("A1", "A2", "A3", "E", "Y", "X")


def parse_scale(scale: str | float, d: int) -> float:
    """The scale s in S = s·A1 X A2ᵀ: "1/d" (Def 1.2), "1/sqrt(d)", "1", or a positive finite number
    (also given as a decimal string, as from a command line)."""
    if isinstance(scale, str):
        if scale in SCALES:
            return SCALES[scale](d)
        try:
            value = float(scale)
        except ValueError:
            raise InputError(
                f"scale must be one of {', '.join(SCALES)} or a positive number, got {scale!r}."
            ) from None
    elif isinstance(scale, Real) and not isinstance(scale, (bool, np.bool_)):
        value = float(scale)
    else:
        raise InputError(f"scale must be one of {', '.join(SCALES)} or a positive number, got {scale!r}.")
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"scale must be a positive finite number, got {scale!r}.")
    return value


def float_dtype(dtype: Any) -> np.dtype:
    """Normalise a requested dtype; only float32 and float64 are supported."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise InputError(f"dtype must be float32 or float64, got {dtype!r}.") from None
    if dt not in FLOAT_DTYPES:
        raise InputError(f"dtype must be float32 or float64, got {dt.name}.")
    return dt


def _as_real_array(name: str, a: Any) -> np.ndarray:
    """np.asarray with the kind checked: real integers and floats only."""
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError):
        raise InputError(f"{name} is not a rectangular array of numbers.") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise InputError(f"{name} has complex dtype {arr.dtype.name}, but only real numbers are accepted.")
    if kind == "b":
        raise InputError(f"{name} has boolean dtype, but only real numbers are accepted.")
    if kind not in "iuf":
        raise InputError(f"{name} has non-numeric dtype {arr.dtype}, but only real numbers are accepted.")
    return arr


def _default_dtype(arrays: list[np.ndarray]) -> np.dtype:
    """float32 only if every input is float32; otherwise float64 (ints, float16, float64, longdouble)."""
    if all(arr.dtype == np.float32 for arr in arrays):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _convert(name: str, arr: np.ndarray, dt: np.dtype) -> np.ndarray:
    if arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or Inf values.")
    if arr.dtype == dt:
        return np.ascontiguousarray(arr)
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(arr, dtype=dt)
    if out.size and not np.isfinite(out).all():  # a narrowing conversion that overflowed
        raise InputError(f"{name} has values too large for {dt.name}.")
    return out


def as_float_array(name: str, a: Any, dtype: Any = None) -> np.ndarray:
    """A finite, C-contiguous float32/float64 copy (or view) of `a`, of any shape.

    dtype None keeps float32 and turns everything else into float64.
    """
    arr = _as_real_array(name, a)
    dt = _default_dtype([arr]) if dtype is None else float_dtype(dtype)
    return _convert(name, arr, dt)


def as_attention_inputs(A1: Any, A2: Any, A3: Any, E: Any, Y: Any, X: Any, dtype: Any = None) -> tuple[np.ndarray, ...]:
    """Validate the inputs of Def 1.2 (A1, A2, A3, E: n×d; Y, X: d×d) and return them as C-contiguous arrays
    of one float dtype: `dtype` if given, else float32 if every input is float32, else float64."""
    dt = None if dtype is None else float_dtype(dtype)
    arrays = [_as_real_array(name, a) for name, a in zip(ATTENTION_NAMES, (A1, A2, A3, E, Y, X))]
    for name, arr in zip(ATTENTION_NAMES, arrays):
        if arr.ndim != 2:
            raise InputError(f"{name} must be a 2-D array, got {arr.ndim}-D with shape {arr.shape}.")
    n, d = arrays[0].shape
    if n == 0 or d == 0:
        raise InputError(f"A1 has shape {(n, d)}, but n and d must both be at least 1.")
    expected = {"A1": ("(n, d)", (n, d)), "A2": ("(n, d)", (n, d)), "A3": ("(n, d)", (n, d)),
                "E": ("(n, d)", (n, d)), "Y": ("(d, d)", (d, d)), "X": ("(d, d)", (d, d))}
    for name, arr in zip(ATTENTION_NAMES, arrays):
        label, shape = expected[name]
        if arr.shape != shape:
            raise InputError(f"{name} has shape {arr.shape} but must be {label} = {shape} (n and d are read from A1).")
    if dt is None:
        dt = _default_dtype(arrays)
    return tuple(_convert(name, arr, dt) for name, arr in zip(ATTENTION_NAMES, arrays))
