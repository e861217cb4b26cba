"""`attngrad bench lowrank` and `attngrad phase`: the polynomial-method gradient against the exact kernels.

bench lowrank: over n × d × β × (ε or degree), the low-rank gradient, the exact generated kernel and the exact
peers that are installed (``numeric/peers.py``; a peer whose n×n temporaries would not fit is skipped at that
point) are timed after a warm-up, each method in a process of its own (median, min–max, repeats, threads recorded; a
call slower than the budget allows runs fewer repeats); the low-rank
result is compared with the exact generated one (max relative ∞-error, relative Frobenius, and MultiLayer's
‖x̃−y‖_F/‖x̃+y‖_F); the scaling exponent α of time ∝ n^α is fitted per (d, β, ε/degree) by least squares on
log–log medians. Exact kernels above ``exact_max_n`` are not run (their rows say so).

phase: for n = 2¹⁰ … 2¹⁶ and B = c·√(ln n) (Def 1.4: ‖A₁X‖_∞ ≤ B, ‖A₂‖_∞ ≤ B, so |S| ≤ B² at scale 1/d), the
degree and rank the bounds need for a fixed ε on [−B², B²], the time of the low-rank path (measured when the
rank fits memory and the predicted time a budget; otherwise predicted from the flop count at the measured GEMM
rate, scaled by the median measured/predicted ratio of the measured cells, and marked so) against the exact
kernel, and the crossover n (measured).

``threads`` is the number of cores each method gets, recorded as "threads": the exact kernels run on that many
Numba threads (their ``threads``), the low-rank path on that many workers (its ``workers``).
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np

from attngrad.errors import InputError
from attngrad.numeric import lowrank as LR
from attngrad.numeric.attention import loss_and_grad, random_inputs
from attngrad.numeric.bench import (
    builders,
    check_call_time,
    check_memory,
    machine_info,
    machine_rates,
    peak_growth_mb,
    predicted_bytes,
    run_in_child,
    time_calls,
)
from attngrad.numeric.inputs import integer, parse_scale, positive_number
from attngrad.numeric.resources import format_bytes, memory_limit
from attngrad.vocabulary import AUTO_POLYNOMIAL, DEFAULT_SCALE, KERNEL_METHODS

EXACT = KERNEL_METHODS
INPUTS = ("bounded", "multilayer")
#: JamesSand/MultiLayer exp_result_table.md: d, n = 10·2^d, their forward speed-up and relative error (%)
MULTILAYER_TABLE = ((4, 160, 1.423, 4.673), (5, 320, 1.730, 2.505), (6, 640, 2.576, 2.846), (7, 1280, 3.897, 1.838),
                    (8, 2560, 9.426, 2.005), (9, 5120, 26.425, 1.620), (10, 10240, 26.713, 1.286),
                    (11, 20480, 40.327, 1.558), (12, 40960, 78.980, 0.773))


def instance(n: int, d: int, beta: float | None, seed: int, inputs: str = "bounded",
             scale: str = DEFAULT_SCALE) -> dict:
    """Inputs of Def 1.2. "bounded": N(0, 1/d) entries with X rescaled so that the Cauchy–Schwarz bound
    s·max‖(A₁X)_j‖·max‖A₂_l‖ equals β. "multilayer": MultiLayer's setting — A₁, A₂, A₃, E ~ N(0, 1/d), X = Y = I
    (so S = A₁A₂ᵀ, no extra scale: use scale "1")."""
    arrays = random_inputs(n, d, seed=seed, entry_scale=1 / math.sqrt(d))
    if inputs == "multilayer":
        arrays["X"], arrays["Y"] = np.eye(d), np.eye(d)
        return arrays
    if beta is not None:
        tn, kn = LR.score_norms(parse_scale(scale, d) * arrays["A1"] @ arrays["X"], arrays["A2"])
        arrays["X"] = arrays["X"] * (beta / (tn * kn))
    return arrays


def _stats(times: list[float]) -> dict[str, Any]:
    return {"median_s": float(np.median(times)), "min_s": min(times), "max_s": max(times), "repeats": len(times)}


SAMPLE_S = 0.02  # a timed sample of a fast call loops it until it lasts about this long (as timeit's autorange)


def _timed(call: Callable[[], Any], warmup: int, repeats: int, budget_s: float) -> dict[str, Any]:
    """Warm-up calls, then ``repeats`` timed samples — fewer when one call would take the run past ``budget_s``.
    A sample of a call faster than SAMPLE_S is the mean of ``number`` back-to-back calls (recorded)."""
    first, _ = time_calls(call, warmup, 0)  # the warm-up calls; the first one's time is reported
    one = min(time_calls(call, 1, 0)[0], first)
    number = max(1, int(SAMPLE_S // max(one, 1e-9)))
    times = []
    for _ in range(max(1, min(repeats, int(budget_s // max(one * number, 1e-9))))):
        t0 = time.perf_counter()
        for _ in range(number):
            call()
        times.append((time.perf_counter() - t0) / number)
    return {**_stats(times), "number": number, "warmup": warmup, "first_s": first}


def fit_alpha(ns: list[int], ts: list[float]) -> float | None:
    """The slope of log t against log n (least squares), or None with fewer than 3 points."""
    if len(ns) < 3:
        return None
    return float(np.polyfit(np.log(ns), np.log(ts), 1)[0])


def run_lowrank(ns: list[int], ds: list[int], betas: list[float | None], *, eps: list[float] | None = None,
                degrees: list[int] | None = None, poly: str = AUTO_POLYNOMIAL, scale: str = DEFAULT_SCALE,
                inputs: str = "bounded",
                exact: tuple[str, ...] | None = None, exact_max_n: int = 16384, repeats: int = 5, warmup: int = 1,
                budget_s: float = 60.0, threads: int | None = None, seed: int = 0, memory: bool = True,
                progress: Callable[[str], None] | None = None, points: list[dict] | None = None) -> dict[str, Any]:
    """The grid n × d × β × (eps or degree), or the given ``points`` ({"n", "d", "beta_target", "eps"|"degree"})."""
    from attngrad.numeric.kernel_support import resolve_threads

    if inputs not in INPUTS:
        raise InputError(f"--inputs must be one of {', '.join(INPUTS)}, got {inputs!r}.")
    if exact is None:  # ours and every installed peer
        exact = EXACT + tuple(m for m in builders()[0] if m not in EXACT + ("reference",))
    builders(tuple(exact))  # each one ours, the reference or an installed peer (InputError otherwise)
    integer("--repeats", repeats, 1)
    integer("--warmup", warmup, 1)
    positive_number("budget_s", budget_s)
    threads = resolve_threads(threads)
    settings = [("eps", e) for e in (eps or [])] + [("degree", g) for g in (degrees or [])] or [("eps", 1e-6)]
    if points is None:
        points = [{"n": n, "d": d, "beta_target": beta, key: value}
                  for d in ds for beta in betas for key, value in settings for n in sorted(ns)]
    sizes = sorted({(p["n"], p["d"]) for p in points})
    exact_sizes = [(n, d) for n, d in sizes if n <= exact_max_n] if exact else []
    check_memory("bench lowrank", ["lowrank"], sizes, 8, threads)  # the inputs (the low-rank tables: LR.MEMORY_LIMIT)
    check_memory("bench lowrank", list(exact), exact_sizes, 8, threads)
    out: dict[str, Any] = {"machine": machine_info(threads), "rows": [], "fits": [], "memory": []}
    out["machine"].update(repeats=repeats, warmup=warmup, rates={"float64": machine_rates("float64", threads)})
    check_call_time("bench lowrank", exact, exact_sizes, out["machine"]["rates"]["float64"], budget_s)
    # each method in a process of its own (as bench exact): no library's idle worker threads — Numba's OpenMP
    # pool after the exact kernels, OpenBLAS's after the low-rank products — spin on the cores another one is timed on
    args = [points, scale, poly, inputs, list(exact), exact_max_n, repeats, warmup, budget_s, threads, seed]
    parts = []
    for method in ("lowrank",) + tuple(exact):
        if progress:
            progress(f"timing {method}")
        parts.append(run_in_child("_grid_child", [method, *args], "attngrad.numeric.bench_lowrank"))
    for i, point in enumerate(points):
        row: dict[str, Any] = {**point, "threads": threads}
        for part in parts:
            row.update(part[i])
        timed = [m for m in exact if "median_s" in row.get(m, {})]
        if "lowrank" in row and timed:
            ours = [m for m in timed if m in EXACT] or timed
            fastest = min(ours, key=lambda m: row[m]["median_s"])
            row["fastest_exact"] = fastest
            row["speedup"] = row[fastest]["median_s"] / row["lowrank"]["median_s"]
            peers = [m for m in timed if m not in EXACT + ("reference",)]
            if peers:
                row["fastest_peer"] = min(peers, key=lambda m: row[m]["median_s"])
                row["speedup_vs_peer"] = row[row["fastest_peer"]]["median_s"] / row["lowrank"]["median_s"]
            if "errors" in row:
                row["grad_bound_holds"] = row["errors"]["abs_inf"] <= row["grad_bound"]
        elif "lowrank" in row:
            row["exact_skipped"] = f"n > --exact-max-n {exact_max_n}" if exact else "no exact kernel asked"
        out["rows"].append(row)
    groups: dict[tuple, list[dict]] = {}  # the scaling fit per (d, β, eps or degree)
    for r in out["rows"]:
        if "lowrank" in r:
            key = "eps" if "eps" in r else "degree"
            groups.setdefault((r["d"], r["beta_target"], key, r[key]), []).append(r)
    for (d, beta, key, value), timed in groups.items():
        alpha = fit_alpha([r["n"] for r in timed], [r["lowrank"]["median_s"] for r in timed])
        if alpha is not None:
            out["fits"].append({"d": d, "beta_target": beta, key: value, "degrees": sorted({r["degree"] for r in timed}),
                                "alpha": alpha, "n_min": min(r["n"] for r in timed), "n_max": max(r["n"] for r in timed)})
    if out["rows"] and all("skipped" in r for r in out["rows"]):
        raise InputError(out["rows"][0]["skipped"])
    if memory and out["rows"]:
        big = max((r for r in out["rows"] if "lowrank" in r), key=lambda r: r["n"], default=None)
        if big is not None:
            key = "eps" if "eps" in big else "degree"
            out["memory"].append({"n": big["n"], "d": big["d"], "degree": big["degree"], "rank": big["rank"],
                                  **run_in_child("_peak_child", [big["n"], big["d"], big["beta_target"], seed, inputs, scale,
                                                           poly, key, big[key], threads], "attngrad.numeric.bench_lowrank")})
    return out


def _grid_child(method: str, points: list[dict], scale: str, poly: str, inputs: str, exact: list[str],
                exact_max_n: int, repeats: int, warmup: int, budget_s: float, threads: int, seed: int) -> list[dict]:
    """In a fresh process, ``method`` ("lowrank" or an exact kernel) timed at every grid point. Low-rank entries carry
    the result's report (degree, rank, bounds); the first exact kernel's entries the low-rank gradient's errors."""
    small = instance(64, points[0]["d"], None, seed, inputs, scale)  # compile (or load) before anything is timed
    if method == "lowrank":
        LR.lowrank_loss_and_grad(**small, scale=scale, degree=2, workers=threads)
    else:
        build = builders((method,))[0][method]
        build(small, scale, threads)()
    limit = float(memory_limit() or 1e300)
    out = []
    for p in points:
        key = "eps" if "eps" in p else "degree"
        arrays = instance(p["n"], p["d"], p["beta_target"], seed, inputs, scale)
        kw = {"scale": scale, "poly": poly, "workers": threads, key: p[key]}
        try:
            res = LR.lowrank_loss_and_grad(**arrays, **kw)
        except InputError as exc:
            out.append({"skipped": str(exc)})
            continue
        if method == "lowrank":
            out.append({**res.report(), "lowrank": _timed(lambda: LR.lowrank_loss_and_grad(**arrays, **kw), warmup,
                                                          repeats, budget_s)})
        elif p["n"] > exact_max_n:
            out.append({})
        elif predicted_bytes(method, p["n"], p["d"], 8, threads) > limit:
            need = format_bytes(predicted_bytes(method, p["n"], p["d"], 8, threads))
            out.append({method: {"skipped": f"needs about {need} with its n×n temporaries, beyond the limit"}})
        else:
            call = build(arrays, scale, threads)
            entry: dict[str, Any] = {method: _timed(call, warmup, repeats, budget_s)}
            if method == exact[0]:
                _, grad_X, grad_Y = call()
                entry.update(errors=LR.errors(res.grad_X, grad_X), errors_Y=LR.errors(res.grad_Y, grad_Y))
            out.append(entry)
    return out


def _peak_child(n: int, d: int, beta: float | None, seed: int, inputs: str, scale: str, poly: str, key: str,
                value: float, threads: int) -> dict[str, float]:
    """Peak RSS growth of one low-rank call, inputs excluded."""
    arrays = instance(n, d, beta, seed, inputs, scale)
    kw = {"scale": scale, "poly": poly, "workers": threads, key: value}
    LR.lowrank_loss_and_grad(**instance(64, d, beta, seed, inputs, scale), **kw)
    return peak_growth_mb(lambda: LR.lowrank_loss_and_grad(**arrays, **kw))


def run_multilayer(repeats: int = 5, warmup: int = 1, threads: int | None = None, seed: int = 0,
                   budget_s: float = 60.0, rows: tuple = MULTILAYER_TABLE,
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """MultiLayer's rows (degree-2 features, N(0, 1/d) inputs, no extra scale): our low-rank *gradient* against
    our exact gradient, with their forward speed-up beside it."""
    if progress:
        progress("MultiLayer's rows")
    res = run_lowrank([], [], [], poly="taylor", scale="1", inputs="multilayer", exact_max_n=max(n for _, n, _, _ in rows),
                      repeats=repeats, warmup=warmup, budget_s=budget_s, threads=threads, seed=seed, memory=False,
                      progress=progress, points=[{"n": n, "d": d, "beta_target": None, "degree": 2} for d, n, _, _ in rows])
    out = []
    for (d, n, their_speedup, their_err), row in zip(rows, res["rows"]):
        out.append({"d": d, "n": n, "their_forward_speedup": their_speedup, "their_rel_err_pct": their_err, **row,
                    "beats_their_factor": row.get("speedup", 0) >= their_speedup})
    return {"machine": res["machine"], "rows": out}


def run_phase(ns: list[int], cs: list[float], d: int = 8, *, eps: float = 1e-6, poly: str = AUTO_POLYNOMIAL,
              repeats: int = 3, warmup: int = 1, budget_s: float = 30.0, exact_max_n: int = 65536,
              threads: int | None = None, seed: int = 0,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    from attngrad.numeric.kernel_support import resolve_threads

    positive_number("budget_s", budget_s)
    threads = resolve_threads(threads)
    exact_ns = [n for n in sorted(ns) if n <= exact_max_n]
    check_memory("phase", ["lowrank"], [(n, d) for n in ns], 8, threads)
    check_memory("phase", ["generated"], [(n, d) for n in exact_ns], 8, threads)
    rates = machine_rates("float64", threads)
    check_call_time("phase", ("generated",), [(n, d) for n in exact_ns], rates, budget_s)
    rate = rates["gemm_flops"]
    out: dict[str, Any] = {"machine": machine_info(threads), "d": d, "eps": eps, "rows": [], "crossover": {},
                           "exact": {}}
    out["machine"].update(repeats=repeats, warmup=warmup, gemm_flops=rate)
    LR.lowrank_loss_and_grad(**instance(64, d, 0.5, seed), degree=2, workers=threads)
    if progress:
        progress("exact kernel")
    # the exact kernel's time does not depend on B; it runs in a process of its own, as in bench lowrank
    timed = run_in_child("_exact_child", [exact_ns, d, seed, warmup, repeats, budget_s, threads], "attngrad.numeric.bench_lowrank")
    out["exact"] = {n: t for n, t in zip(exact_ns, timed)}
    for c in cs:
        cross = None
        for n in sorted(ns):
            B = c * math.sqrt(math.log(n))
            beta = B * B  # |S| ≤ B² for ‖A₁X‖_∞, ‖A₂‖_∞ ≤ B at scale 1/d (Def 1.4)
            kind = LR.best_polynomial(beta, eps) if poly == AUTO_POLYNOMIAL else poly
            g = LR.needed_degree(kind, beta, eps)
            row: dict[str, Any] = {"c": c, "n": n, "B": B, "beta": beta, "poly": kind, "degree": g,
                                   "rank": None if g is None else int(LR.LB.rank(d=d, g=g))}
            exact_s = out["exact"].get(n, {}).get("median_s")
            row["exact_s"] = exact_s
            if g is None:
                row["status"] = "no degree ≤ 2000 reaches eps"
            else:
                k = row["rank"]
                flops = 4 * n * k * (d * d + 3 * d + 1)  # two passes of one n×k by k×(d²+2d+1) product, plus U₁ᵀc̃
                row["predicted_s"] = flops / rate
                mem = LR.table_bytes(k, d, LR.default_block(k, n), LR.default_workers(threads, n, k, d))
                row["memory_gb"] = mem / 1e9
                if mem > LR.MEMORY_LIMIT:
                    row["status"] = f"rank beyond memory ({mem / 2**30:.1f} GiB)"
                elif g > LR.MAX_DEGREE:
                    row["status"] = f"degree beyond the kernel's limit ({LR.MAX_DEGREE})"
                elif row["predicted_s"] > budget_s or (exact_s is not None and row["predicted_s"] > 3 * exact_s):
                    row["status"] = "predicted (slower than the budget or 3× the exact kernel)"
                else:
                    if progress:
                        progress(f"low-rank c={c} n={n} degree {g}")
                    arrays = _bounded(n, d, B, seed)
                    call = lambda: LR.lowrank_loss_and_grad(**arrays, poly=kind, degree=g, workers=threads)  # noqa: E731
                    row["lowrank"] = _timed(call, warmup, repeats, budget_s)
                    row["status"] = "measured"
                    if exact_s is not None and row["lowrank"]["median_s"] < exact_s and cross is None:
                        cross = n
            row["lowrank_s"] = row.get("lowrank", {}).get("median_s")
            out["rows"].append(row)
        out["crossover"][str(c)] = cross
    # the flop count alone is optimistic (features, the d² combination step, BLAS efficiency at this shape):
    # scale the unmeasured predictions by the median measured/predicted ratio of the measured rows
    ratios = [r["lowrank_s"] / r["predicted_s"] for r in out["rows"] if r.get("lowrank_s")]
    out["calibration"] = float(np.median(ratios)) if ratios else None
    for r in out["rows"]:
        if not r.get("lowrank_s") and r.get("predicted_s") is not None and out["calibration"]:
            r["predicted_s"] *= out["calibration"]
    return out


def _exact_child(ns: list[int], d: int, seed: int, warmup: int, repeats: int, budget_s: float,
                 threads: int) -> list[dict]:
    """In a fresh process: the exact generated kernel timed at each n (phase)."""
    loss_and_grad(**instance(64, d, 0.5, seed), threads=threads)  # compile or load first
    out = []
    for n in ns:
        arrays = instance(n, d, 1.0, seed)
        out.append(_timed(lambda: loss_and_grad(**arrays, threads=threads), warmup, repeats, budget_s))
    return out


def _bounded(n: int, d: int, B: float, seed: int) -> dict[str, np.ndarray]:
    """Def 1.4's bounded inputs: A₁, A₂ uniform in [−B, B], X = I (so ‖A₁X‖_∞ ≤ B), A₃, E ~ N(0, 1/d), Y = I."""
    rng = np.random.default_rng(seed)
    return {"A1": rng.uniform(-B, B, (n, d)), "A2": rng.uniform(-B, B, (n, d)),
            "A3": rng.standard_normal((n, d)) / math.sqrt(d), "E": rng.standard_normal((n, d)) / math.sqrt(d),
            "Y": np.eye(d), "X": np.eye(d)}
