"""A peer for ``attngrad bench proofs``: tensorgrad's proof of ∇_X L (Alman–Song, scale 1/d) for all n, d.

Run as a script by the interpreter that has tensorgrad (``attngrad bench proofs --tensorgrad-python PATH``); never
imported by attngrad (tensorgrad is AGPL and not a dependency). Prints one JSON line: the version, whether the
difference simplifies to Zero, whether a slip (a factor 2) does not, and the timings (first call, then repeats).
"""

import json
import sys
import time


def main(repeats: int) -> None:
    from importlib.metadata import version

    import sympy
    import tensorgrad.functions as F
    from tensorgrad import Delta, Variable, Zero

    def proof(slip: int = 1) -> bool:
        n, d = sympy.symbols("n d")
        A1, A2, A3 = Variable("A1", j=n, a=d), Variable("A2", l=n, b=d), Variable("A3", l=n, e=d)
        X, Y, E = Variable("X", a=d, b=d), Variable("Y", e=d, c=d), Variable("E", j=n, c=d)
        inv_d = F.pow(Delta(d), -1)  # 1/d: a Delta with no edges is d
        f = F.softmax((A1 @ X @ A2) @ inv_d, dim="l")
        h = A3 @ Y
        c = f @ h - E
        grad = (F.frobenius2(c) / 2).grad(X)
        p1 = f * (c @ h)
        p = p1 - F.sum(p1, "l") * f
        rhs = (A1 @ p @ A2) @ inv_d
        return isinstance((grad - slip * rhs).full_simplify(), Zero)

    t0 = time.perf_counter()
    proved = proof()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        proof()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"version": version("tensorgrad"), "proved": proved, "slip_proved": proof(2),
                      "first_s": first, "times_s": times}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
