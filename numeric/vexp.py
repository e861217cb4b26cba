"""exp on (−∞, 0], written so that LLVM vectorises it inside a kernel's loops (float64 and float32).

Softmax takes exp of scores after the row maximum is subtracted, so every argument is ≤ 0. ``math.exp`` in a
Numba loop is a libm call per entry and never vectorises; this one is a few multiply-adds and integer ops:

- range reduction: k = round(x/ln 2) by the shifter trick (t = x·log₂e + 1.5·2^p rounds to an integer in the
  low bits of t, p = 52 or 23), r = (x − k·ln2_hi) − k·ln2_lo (Cody–Waite: k·ln2_hi is exact), |r| ≤ ln2/2;
- exp(r) by its Taylor polynomial (degree 13 in float64, 7 in float32; truncation below 0.05 ulp), Horner;
- the scaling by 2^k on the exponent bits, in two factors 2^⌊k/2⌋·2^(k−⌊k/2⌋), each a normal number, so that
  a result in the subnormal range is rounded once, by the last multiplication.

Arguments below the underflow threshold give 0, 0 gives 1, a positive argument is treated as 0 and NaN stays NaN.
Accuracy: within 2 ulps in both precisions (Horner's roundings and that of r add up; the largest errors found
are 1.18 ulp in float64 over 6.7·10⁷ random arguments and 1.22 ulp in float32 over all of them). The claims
``attngrad/vexp-accuracy[...]`` (derive/papers/kernels.py) measure them against exp at 50 digits, float32 at
every argument.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from attngrad.errors import InputError

# float64: shifter 1.5·2^52; fdlibm's ln 2 split (k·LN2_HI exact for |k| < 2^20); below −746 exp rounds to 0
_SHIFT64 = 6755399441055744.0
_LOG2E64 = 1.4426950408889634
_LN2_HI64 = 6.93147180369123816490e-01
_LN2_LO64 = 1.90821492927058770002e-10
_FLOOR64 = -746.0
_BIAS64 = 1023
_COEF64 = tuple(1.0 / math.factorial(i) for i in range(14))  # Taylor coefficients of exp, degree 13

# float32: shifter 1.5·2^23; Cephes' ln 2 split (ln2_hi has 9 bits, k has at most 8); below −104 exp rounds to 0
_SHIFT32 = np.float32(12582912.0)
_LOG2E32 = np.float32(1.44269504088896341)
_LN2_HI32 = np.float32(0.693359375)
_LN2_LO32 = np.float32(-2.12194440e-4)
_FLOOR32 = np.float32(-104.0)
_BIAS32 = 127
_C32 = tuple(np.float32(1.0 / math.factorial(i)) for i in range(8))  # degree 7
_ZERO32 = np.float32(0.0)

DEGREES = {"float64": len(_COEF64) - 1, "float32": len(_C32) - 1}


@intrinsic
def _bits(typingctx, x):
    """The IEEE bits of a float as a signed integer of the same width (a no-op for LLVM)."""
    width = {types.float64: types.int64, types.float32: types.int32}.get(x)
    if width is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(width.bitwidth))

    return width(x), codegen


@intrinsic
def _float64_of(typingctx, bits):
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _float32_of(typingctx, bits):
    if bits != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@njit(inline="always", cache=True, fastmath=False)
def exp_nonpos64(x):  # pragma: no cover - compiled
    """exp(min(x, 0)) in float64 (see the module docstring)."""
    x = _FLOOR64 if x < _FLOOR64 else x
    x = 0.0 if x > 0.0 else x
    t = x * _LOG2E64 + _SHIFT64
    kf = t - _SHIFT64
    r = (x - kf * _LN2_HI64) - kf * _LN2_LO64
    p = _COEF64[13]
    for i in range(12, -1, -1):
        p = p * r + _COEF64[i]
    k = _bits(t) - _bits(_SHIFT64)
    k1 = k >> 1
    return p * _float64_of((k1 + _BIAS64) << 52) * _float64_of((k - k1 + _BIAS64) << 52)


@njit(inline="always", cache=True, fastmath=False)
def exp_nonpos32(x):  # pragma: no cover - compiled
    """exp(min(x, 0)) computed in float32 (see the module docstring)."""
    x = _FLOOR32 if x < _FLOOR32 else x
    x = _ZERO32 if x > _ZERO32 else x
    t = x * _LOG2E32 + _SHIFT32
    kf = t - _SHIFT32
    r = (x - kf * _LN2_HI32) - kf * _LN2_LO32
    p = _C32[7]
    for i in range(6, -1, -1):
        p = p * r + _C32[i]
    k = np.int64(_bits(t)) - np.int64(_bits(_SHIFT32))
    k1 = k >> 1
    s1 = _float32_of(np.int32((k1 + _BIAS32) << 23))
    s2 = _float32_of(np.int32((k - k1 + _BIAS32) << 23))
    return p * s1 * s2


@njit(inline="always", cache=True, fastmath=False)
def exp_nonpos(x):  # pragma: no cover - compiled
    """exp(min(x, 0)) in the precision of x: float32 in float32, anything else in float64."""
    if isinstance(x, np.float32):  # resolved at compile time: each precision compiles its own branch only
        return exp_nonpos32(x)
    return exp_nonpos64(np.float64(x))


@njit(parallel=True, cache=True, fastmath=False)
def exp_nonpos_array(x, out):  # pragma: no cover - compiled
    """out[i] = exp_nonpos(x[i]) for 1-D arrays, on the Numba threads in force (the benchmarks' rate of it)."""
    for i in prange(x.shape[0]):
        out[i] = exp_nonpos(x[i])
    return out


_EXPONENT64 = np.int64(-(1 << 52))  # the sign and exponent bits of a float64: 2^⌊log₂ e⌋ for e > 0


@njit(cache=True)
def _float32_worst_in(start, stop):  # pragma: no cover - compiled
    """The largest error in float32 ulps of exp_nonpos over the float32 bit patterns [start, stop), against the
    float64 exp_nonpos64 (itself within two float64 ulps, 2⁻²⁸ of a float32 ulp), and the argument where it is."""
    worst, at = 0.0, np.float32(0.0)
    buf = np.empty(4096)
    for b0 in range(start, stop, 4096):
        m = min(4096, stop - b0)
        for i in range(m):  # vectorised: no reduction inside
            x = _float32_of(np.int32(b0 + i))
            e = exp_nonpos64(np.float64(x))
            ulp = max(_float64_of(_bits(e) & _EXPONENT64) * 2.0**-23, 2.0**-149)  # float32's ulp at e (subnormal floor)
            buf[i] = abs(np.float64(exp_nonpos32(x)) - e) / ulp
        for i in range(m):
            if buf[i] > worst:
                worst, at = buf[i], _float32_of(np.int32(b0 + i))
    return worst, at


@njit(parallel=True, cache=True)
def _float32_worst(lo_bits, hi_bits, chunks):  # pragma: no cover - compiled
    worst = np.zeros(chunks)
    at = np.zeros(chunks, np.float32)
    for c in prange(chunks):
        worst[c], at[c] = _float32_worst_in(lo_bits + (hi_bits - lo_bits) * c // chunks,
                                            lo_bits + (hi_bits - lo_bits) * (c + 1) // chunks)
    k = np.argmax(worst)
    return worst[k], at[k]


def float32_worst_ulps(lo: float = -104.0, hi: float = -0.0) -> tuple[float, float]:
    """(largest error in float32 ulps, its argument) of the float32 exp over every float32 in [lo, hi] ≤ 0, by bit
    pattern (every one of the ~1.1·10⁹ in [−104, −0] by default: below −104 exp rounds to 0 in float32). The
    reference is exp_nonpos64, within two float64 ulps of exp (the float64 claim): 2⁻²⁸ of a float32 ulp."""
    if not (lo <= hi <= 0.0):
        raise InputError(f"The sweep needs lo ≤ hi ≤ 0, got [{lo}, {hi}].")
    # negative floats: the bit pattern grows as the value falls, from −0 (0x80000000)
    first = int(np.array(hi if hi != 0.0 else -0.0, np.float32).view(np.uint32))
    last = int(np.array(lo, np.float32).view(np.uint32))
    worst, at = _float32_worst(first, last + 1, 256)
    return float(worst), float(at)
