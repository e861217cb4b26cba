"""The kernels' own arithmetic as measured claims: the vectorised exp of numeric/vexp.py, the one every printed kernel
calls for the softmax exp (arguments ≤ 0 once the row maximum is subtracted), against exp at 50 digits.

The error is counted in units of the last place of exp(x) in the claim's precision (below the normal range, of the
smallest subnormal: the spacing there). float64 is measured at its rounding edges and at random arguments over every
binade of (−∞, 0]; float32 also over every one of its arguments in [−104, −0] (about 1.1·10⁹: below −104 exp
rounds to 0 in float32), against the float64 exp, whose own error (the float64 claim) is 2⁻²⁸ of a float32 ulp.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

from attngrad.derive.claims import BoundClaim, Claim, Measurement, Probe

SOURCE = "attngrad, numeric/vexp.py"
DPS = 50
LN2 = math.log(2)


def _format(dtype: str) -> tuple[int, int, float]:
    """(significand bits after the point, exponent of the smallest subnormal, the argument below which exp rounds
    to 0: ln of half the smallest subnormal, rounded down), read off NumPy's finfo."""
    info = np.finfo(dtype)
    sub = int(np.log2(info.smallest_subnormal))
    return int(info.nmant), sub, float(math.floor((sub - 1) * LN2))


#: per precision: (significand bits after the point, smallest subnormal's exponent, underflow floor of the argument)
FORMATS = {dt: _format(dt) for dt in ("float64", "float32")}
#: the bound each precision's exp states (module docstring of numeric/vexp.py)
ULP_BOUND = {"float64": 2.0, "float32": 2.0}


def _edges(dtype: str) -> np.ndarray:
    """Arguments where exp is hardest to get right: 0 and the tiniest negatives, the range-reduction boundaries
    (k ± ½)·ln 2 and their neighbours, the last normal and last subnormal results, the rounding-to-0 threshold."""
    _, sub, floor = FORMATS[dtype]
    dt = np.dtype(dtype)
    tiny = np.finfo(dt).smallest_subnormal
    base = [0.0, -0.0, -float(tiny), -1e-30, -1e-7, -1.0, -LN2, -10.0, (sub + 0.5) * LN2, sub * LN2,
            (np.finfo(dt).minexp) * LN2, floor, 2 * floor, -1e30, -math.inf]
    base += [-(k + 0.5) * LN2 for k in (0, 1, 2, 7, 50, 100, 500, 1000) if (k + 0.5) * LN2 < -floor]
    x = np.array(base, dt)
    return np.concatenate([x, np.nextafter(x, dt.type(0)), np.nextafter(x, dt.type(-np.inf))])


def _draw(dtype: str, points: str, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, count, len(points), FORMATS[dtype][0]])
    floor = -FORMATS[dtype][2]
    if points == "edges":
        return _edges(dtype)
    if points == "binades":  # −2^u, u uniform: every binade from 2⁻⁶⁰ to the floor equally often
        return (-np.exp2(rng.uniform(-60.0, math.log2(floor), count))).astype(dtype)
    if points == "uniform":
        return (-rng.uniform(0.0, floor, count)).astype(dtype)
    if points == "reduction":  # next to the boundaries (k + ½)·ln 2 of the shifter's rounding
        k = rng.integers(0, int(floor / LN2), count)
        return (-(k + 0.5) * LN2 * (1 + rng.uniform(-1e-12, 1e-12, count))).astype(dtype)
    raise ValueError(f"no argument set '{points}'")


def ulps(ours: float, x: float, dtype: str) -> mpmath.mpf:
    """|ours − exp(x)| in units of the last place of exp(x) in ``dtype``, exp at 50 digits."""
    bits, sub, _ = FORMATS[dtype]
    with mpmath.workdps(DPS):
        exact = mpmath.exp(mpmath.mpf(float(x))) if math.isfinite(x) else mpmath.mpf(0)
        e = int(mpmath.floor(mpmath.log(exact, 2))) - bits if exact else sub
        return abs(mpmath.mpf(float(ours)) - exact) / mpmath.mpf(2) ** max(e, sub)


def _mp_measure(dtype: str):
    def run(inst: dict, seed: int) -> Measurement:
        from attngrad.numeric.vexp import exp_nonpos_array

        x = _draw(dtype, inst["points"], inst.get("count", 0), seed)
        ours = exp_nonpos_array(x, np.empty_like(x))
        errs = [ulps(o, a, dtype) for o, a in zip(ours.tolist(), x.tolist())]
        k = int(np.argmax(errs))
        return Measurement(float(errs[k]), ULP_BOUND[dtype], 1e-30,
                           {"worst_x": float(x[k]), "arguments": int(x.size)})
    return run


def _every_float32(inst: dict, seed: int) -> Measurement:
    from attngrad.numeric.vexp import float32_worst_ulps

    worst, at = float32_worst_ulps(inst["lo"], -0.0)
    # the reference's own error: two float64 ulps of exp(x), 2⁻²⁸ of its float32 ulp
    return Measurement(worst, ULP_BOUND["float32"], 2.0**-28, {"worst_x": at})


def _mp_instances(count: int) -> tuple[dict, ...]:
    return ({"points": "edges"}, {"points": "binades", "count": count}, {"points": "uniform", "count": count},
            {"points": "reduction", "count": count // 4})


def claims() -> list[Claim]:
    method = "max error in ulps of exp(x) (below the normal range, of the smallest subnormal), exp at 50 digits"
    out = []
    for dtype in ("float64", "float32"):
        probes = [Probe("mpmath-50", f"{method}, at the rounding edges and at random arguments of every binade "
                        f"(drawn afresh each run)", _mp_instances(1200), _mp_measure(dtype))]
        if dtype == "float32":
            floor = FORMATS[dtype][2]
            probes.append(Probe("float64", f"every float32 in [{floor:g}, −0] by bit pattern (~1.1·10⁹), against the "
                                "float64 exp (within 2⁻²⁸ of a float32 ulp)", ({"lo": floor},), _every_float32))
        out.append(BoundClaim(
            f"attngrad/vexp-accuracy[{dtype}]",
            f"the kernels' exp on (−∞, 0] (numeric/vexp.py, {dtype}: range reduction by ln 2, a Taylor polynomial, "
            f"2ᵏ on the exponent bits) is within {ULP_BOUND[dtype]:g} ulp of exp"
            + (" for every float32 argument" if dtype == "float32" else " at every argument measured"),
            lhs="max |exp_nonpos(x) − exp(x)| / ulp(exp(x))", rhs=f"{ULP_BOUND[dtype]:g}", source=SOURCE,
            probes=tuple(probes), group="vexp"))
    return out
