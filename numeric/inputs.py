"""Validation and conversion of user input for every public numeric function.

Each failure raises :class:`attngrad.errors.InputError` with one plain sentence that names the offending
argument, so the CLI can print it as is.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np

from attngrad import vocabulary
from attngrad.errors import InputError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# The value at head size d of each named scale of Def 1.2 (vocabulary.SCALES; the paper uses 1/d); a positive
# number is accepted as well.
SCALES = dict(zip(vocabulary.SCALES, (lambda d: 1.0 / d, lambda d: 1.0 / math.sqrt(d), lambda d: 1.0)))

ATTENTION_NAMES = vocabulary.ATTENTION_INPUTS


# scalar options ---------------------------------------------------------------------------------------------
# One helper per kind of option, each raising one sentence that names the option (``label``: an argument's name,
# or a command-line option such as "--budget"); the command line calls the same helpers.


def _is_real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def _finite(value: Any) -> bool:
    """A real number that is not NaN or ±inf (an integer of any size is finite, though not a float)."""
    return _is_real(value) and (isinstance(value, Integral) or math.isfinite(value))


def positive_number(label: str, value: Any) -> float:
    """``value`` as a float when it is a finite number > 0 (not a bool, NaN or ±inf); else InputError."""
    if not (_finite(value) and value > 0):
        raise InputError(f"{label} must be a positive finite number, got {value!r}.")
    return float(value)


def non_negative_number(label: str, value: Any) -> float:
    """``value`` as a float when it is a finite number ≥ 0; else InputError."""
    if not (_finite(value) and value >= 0):
        raise InputError(f"{label} must be a finite number ≥ 0, got {value!r}.")
    return float(value)


def integer(label: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int when it is an integer (not a bool, not a float) in [low, high]; else InputError."""
    if _is_int(value) and (low is None or value >= low) and (high is None or value <= high):
        return int(value)
    if high is not None:
        want = f"an integer from {low} to {high}"
    else:
        want = {0: "a non-negative integer", 1: "a positive integer"}.get(low, "an integer" if low is None
                                                                          else f"an integer ≥ {low}")
    raise InputError(f"{label} must be {want}, got {value!r}.")


def seed(label: str, value: Any) -> int:
    """A seed of NumPy's generators: a non-negative integer."""
    return integer(label, value, 0)


def one_of(label: str, value: Any, choices: tuple[str, ...] | list[str]) -> str:
    """``value`` when it is one of the strings ``choices``; else InputError listing them."""
    if not (isinstance(value, str) and value in choices):
        raise InputError(f"{label} must be one of {', '.join(choices)}, got {value!r}.")
    return value


def sequence(label: str, value: Any, what: str = "values") -> list:
    """``value`` as a list when it is a list, tuple or other iterable that is not a string (a bare string would be
    read letter by letter, a number not at all); else InputError."""
    if isinstance(value, str):
        raise InputError(f"{label} must be a list of {what}, not the string {value!r} (write [{value!r}]).")
    if isinstance(value, (bytes, dict)) or not hasattr(value, "__iter__"):
        raise InputError(f"{label} must be a list of {what}, got {value!r}.")
    return list(value)


def names(label: str, value: Any, choices: tuple[str, ...] | list[str]) -> list[str]:
    """A list of strings, each one of ``choices`` (a bare string is refused, see ``sequence``)."""
    items = sequence(label, value, "names")
    for v in items:
        if not (isinstance(v, str) and v in choices):
            raise InputError(f"{label} may contain only {', '.join(choices)}, got {v!r}.")
    return items


def function(label: str, value: Any) -> Any:
    """``value`` when it is callable; else InputError."""
    if not callable(value):
        raise InputError(f"{label} must be a function, got {type(value).__name__} {value!r}.")
    return value


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
        return np.ascontiguousarray(arr).reshape(arr.shape)  # a 0-d array stays 0-d (ascontiguousarray gives 1-d)
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(arr, dtype=dt).reshape(arr.shape)
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
