"""The vectorised exp of the kernels (numeric/vexp.py) against exp at 50 digits and against np.exp, every float32."""

import math

import mpmath
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attngrad.numeric.vexp import _bits, _float32_of, _float64_of, exp_nonpos, exp_nonpos64, exp_nonpos_array

_EXPONENT = np.int64(-(1 << 52))  # the sign and exponent bits of a float64: 2^⌊log₂ e⌋ for e > 0
EDGES64 = [0.0, -0.0, -5e-324, -1e-300, -1e-17, -0.5 * math.log(2), -0.5 * math.log(2) - 1e-16, -1.0, -math.log(2),
           -708.3964185322641, -708.4, -709.0, -744.4, -745.1332191019411, -745.14, -746.0, -1e4, -1e300, -math.inf]


def ulps64(ours: float, x: float) -> float:
    """|ours − exp(x)| in units of the last place of exp(x) (50 digits); below the normal range, of 2⁻¹⁰⁷⁴."""
    with mpmath.workdps(50):
        exact = mpmath.exp(mpmath.mpf(x))
        ulp = mpmath.mpf(2) ** max(int(mpmath.floor(mpmath.log(exact, 2))) - 52, -1074) if exact else mpmath.mpf(2) ** -1074
        return float(abs(mpmath.mpf(ours) - exact) / ulp)


@pytest.mark.parametrize("x", EDGES64)
def test_float64_edges_within_one_ulp_at_50_digits(x):
    assert ulps64(exp_nonpos(x), x) <= 1.0


@settings(max_examples=300, deadline=None)
@given(st.floats(-760.0, 0.0, allow_nan=False))
def test_float64_within_one_ulp_at_50_digits_anywhere(x):
    assert ulps64(exp_nonpos(x), x) <= 1.0


def test_float64_dense_sweep_within_one_ulp_of_np_exp():
    """2²⁰ arguments spread over every binade of [−746, −2⁻⁶⁰] and uniformly over [−746, 0]; np.exp (within half
    an ulp here, which the 50-digit tests above confirm at their points) as the reference."""
    rng = np.random.default_rng(0)
    x = -np.concatenate([np.exp2(rng.uniform(-60, math.log2(746), 1 << 19)), rng.uniform(0, 746, 1 << 19)])
    ours = exp_nonpos_array(x, np.empty_like(x))
    exact = np.exp(x)
    assert np.all(np.abs(ours - exact) <= np.spacing(exact))


def test_every_float32_argument_within_two_ulps():
    """Every float32 in [−104, 0] (about 1.1·10⁹ of them, by their bit patterns), computed in float32, against
    exp in float64 (whose own error is 2⁻²⁹ of a float32 ulp): within two float32 ulps of exp(x), the bound the
    module states (float32's Horner steps each round; the claim attngrad/vexp-accuracy[float32] reports the
    largest error found)."""
    worst = _float32_sweep()
    assert worst <= 2.0, worst


@numba.njit(cache=True)
def _worst_in(start, stop):  # pragma: no cover - compiled
    """The largest error in float32 ulps of exp_nonpos over the float32 bit patterns [start, stop), against the
    float64 exp_nonpos (within one float64 ulp at 50 digits, the tests above: 2⁻²⁹ of a float32 ulp)."""
    w = 0.0
    buf = np.empty(4096)
    for b0 in range(start, stop, 4096):
        m = min(4096, stop - b0)
        for i in range(m):  # vectorised: no reduction inside
            x = _float32_of(np.int32(b0 + i))
            e = exp_nonpos64(np.float64(x))
            ulp = max(_float64_of(_bits(e) & _EXPONENT) * 2.0**-23, 2.0**-149)  # float32's ulp at e  # float32's ulp at e (subnormal below 2⁻¹²⁶)
            buf[i] = abs(np.float64(exp_nonpos(x)) - e) / ulp
        for i in range(m):
            w = max(w, buf[i])
    return w


@numba.njit(parallel=True, cache=True)
def _float32_worst(lo_bits, hi_bits):  # pragma: no cover - compiled
    chunks = 256
    worst = np.zeros(chunks)
    for c in numba.prange(chunks):
        worst[c] = _worst_in(lo_bits + (hi_bits - lo_bits) * c // chunks, lo_bits + (hi_bits - lo_bits) * (c + 1) // chunks)
    return worst.max()


def _float32_sweep() -> float:
    neg_zero = int(np.float32(-0.0).view(np.uint32))
    floor = int(np.float32(-104.0).view(np.uint32))
    return float(_float32_worst(neg_zero, floor + 1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_special_values(dtype):
    x = np.array([0.0, -np.inf, np.nan, 3.0, -1e30], dtype)
    out = exp_nonpos_array(x, np.empty_like(x))
    assert out.dtype == dtype
    assert out[0] == 1.0 and out[1] == 0.0 and np.isnan(out[2]) and out[3] == 1.0 and out[4] == 0.0


def test_float32_is_computed_in_float32():
    """The float32 path is not the float64 one rounded: some arguments round differently."""
    x = -np.random.default_rng(1).uniform(0, 80, 1 << 16).astype(np.float32)
    ours = exp_nonpos_array(x, np.empty_like(x))
    wide = exp_nonpos_array(x.astype(np.float64), np.empty(x.size)).astype(np.float32)
    assert ours.dtype == np.float32 and (ours != wide).any()
