"""`attngrad bench exact`: L + ∇_X L + ∇_Y L timed side by side, against a lower bound of this machine.

Every method is first checked against the NumPy reference (at n ≤ 1024, same d, dtype and seed), then called
``warmup`` times (the first call, JIT compilation included, is reported on its own) and ``repeats`` times;
the median, min and max are reported with the thread count. The methods are timed in ``rounds``: each round
times every method once more (in the reverse order of the round before), and a point's figures are over the calls
of every round, so that a slow spell of a shared machine does not fall on one method alone. The bound is measured
in the same run, on the same threads, before every round: ``8·n²·d / GEMM rate + n² / exp rate``
(``bound_seconds``: a large NumPy matmul, and the fastest of np.exp, the kernels' own exp and torch.exp, all in the
same dtype), each rate the best measured, so that the bound is a lower one.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from attngrad.errors import InputError
from attngrad.numeric.attention import loss_and_grad, random_inputs
from attngrad.numeric.inputs import integer, positive_number
from attngrad.numeric.resources import format_bytes, memory_limit, refuse_if_too_big
from attngrad.vocabulary import ALMAN_SONG_MODULE, ATTENTION_INPUTS, DEFAULT_SCALE, KERNEL_METHODS

NAMES = ATTENTION_INPUTS
OURS = KERNEL_METHODS
VERIFY_N = 1024
VERIFY_RTOL = {"float64": 1e-9, "float32": 2e-3}
# bytes of n×n temporaries per method and entry (reference: S, exp, f, q, p1, p2, p and products)
NN_ARRAYS = {"reference": 9, "torch-autograd": 7, "torch-sdpa": 7, "jax-jit-grad": 7}
# n×d float64 arrays a call holds at its peak: the copies of the inputs its BLAS calls read (3), the score check's A₁X and its
# scaled copies (4), the kernels' n×d arrays (A₁X, A₃Y, −E) and outputs; rounded up
ND_ARRAYS = 12
DEFAULT_BUDGET_S = 3600.0  # seconds a grid may be predicted to take (at least) and still be started
Call = Callable[[], tuple[float, np.ndarray, np.ndarray]]


@dataclass
class Timing:
    method: str
    n: int
    d: int
    dtype: str
    threads: int
    first_call_s: float | None = None  # the method's first call in its process: JIT compilation or cache load
    median_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    repeats: int = 0
    times_s: list[float] = field(default_factory=list)  # every timed call, of every round
    bound_s: float | None = None
    ratio_to_bound: float | None = None
    verified_rel_err: float | None = None  # max rel error against the reference at n = min(n, 1024)
    skipped: str | None = None
    fastest_peer: str | None = None  # ours only: the fastest peer timed at this point (not the NumPy reference)
    vs_fastest_peer: float | None = None  # ours only: that peer's median / ours (> 1: ours is faster)


@dataclass
class BenchResult:
    machine: dict[str, Any]
    timings: list[Timing] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"machine": self.machine, "timings": [asdict(t) for t in self.timings], "memory": self.memory,
                "notes": self.notes}


def _ours(method: str) -> Callable[..., Call]:
    def build(arrays: dict[str, np.ndarray], scale: str, threads: int) -> Call:
        args = [arrays[k] for k in NAMES]
        return lambda: tuple(loss_and_grad(*args, scale=scale, method=method, threads=threads))
    return build


def builders(names: tuple[str, ...] | None = None) -> tuple[dict[str, Callable[..., Call]], list[str]]:
    """Method name → builder(arrays, scale, threads) → call; notes on peers that are missing."""
    from attngrad.numeric import peers

    out = {m: _ours(m) for m in (*OURS, "reference")}
    found, notes = peers.available()
    out.update(found)
    if names is None:
        return out, notes
    known = set(out) | {"torch-autograd", "torch-sdpa", "jax-jit-grad"}
    for name in names:
        if name not in known:
            raise InputError(f"Unknown method '{name}'; choose from {', '.join(sorted(known))}.")
    missing = [n for n in names if n not in out]
    if missing:
        raise InputError(f"The peer {missing[0]} is not installed; {peers.INSTALL}.")
    return {k: out[k] for k in names}, []


def _best_rate(fn: Callable[[], None], work: float, repeats: int = 5) -> float:
    """``work`` per second of the fastest of ``repeats`` calls (after one more): the rate the machine reaches."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return work / min(times)


def _exp_rates(dtype: str, threads: int, peers: bool) -> dict[str, float]:
    """Values per second of every exp this machine offers on ``threads`` threads, over 4M arguments ≤ 0: np.exp
    (one share per Python thread, it releases the GIL), the kernels' own (numeric/vexp.py, on Numba threads) and,
    with ``peers``, torch.exp when PyTorch is installed."""
    from concurrent.futures import ThreadPoolExecutor
    from importlib.util import find_spec

    from attngrad.numeric.kernel_support import using_threads
    from attngrad.numeric.vexp import exp_nonpos_array

    x = -np.abs(np.random.default_rng(0).standard_normal(1 << 22)).astype(dtype)
    out = np.empty_like(x)
    shares = list(zip(np.array_split(x, threads), np.array_split(out, threads)))
    rates: dict[str, float] = {}
    with ThreadPoolExecutor(threads) as pool:
        rates["np.exp"] = _best_rate(lambda: list(pool.map(lambda s: np.exp(s[0], out=s[1]), shares)), x.size)
    with using_threads(threads):
        rates["vexp"] = _best_rate(lambda: exp_nonpos_array(x, out), x.size)
    if peers and find_spec("torch") is not None:
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            tx, tout = torch.from_numpy(x), torch.from_numpy(out)
            rates["torch.exp"] = _best_rate(lambda: torch.exp(tx, out=tout), x.size)
        finally:
            torch.set_num_threads(previous)
    return rates


def machine_rates(dtype: str, threads: int = 1, peers: bool = False) -> dict[str, Any]:
    """This machine's rates in ``dtype`` on ``threads`` threads: GEMM (flop/s, a 1536³ matmul) and the fastest exp
    it offers (values/s; ``exp_rates`` has each one measured, ``exp`` names the fastest)."""
    from attngrad.numeric.kernel_support import blas_threads

    a = np.random.default_rng(0).standard_normal((1536, 1536)).astype(dtype)
    with blas_threads(threads):
        gemm = _best_rate(lambda: a @ a, 2 * 1536**3)
    exps = _exp_rates(dtype, threads, peers)
    fastest = max(exps, key=exps.__getitem__)
    return {"gemm_flops": gemm, "exp_per_s": exps[fastest], "exp": fastest, "exp_rates": exps}


def measured_rates(dtypes: list[str], threads: int) -> dict[str, dict[str, Any]]:
    """``machine_rates`` per dtype, with the peers' exp, in a process of its own (no PyTorch or BLAS pool left
    behind in this one while the methods are timed)."""
    return {dt: run_in_child("machine_rates", [dt, threads, True]) for dt in dtypes}


def best_rates(measured: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per dtype, the best GEMM and exp rates of several ``measured_rates`` (the fastest exp named)."""
    out = {}
    for dt in measured[0]:
        runs = [m[dt] for m in measured]
        exps = {k: max(r["exp_rates"].get(k, 0.0) for r in runs) for k in runs[0]["exp_rates"]}
        fastest = max(exps, key=exps.__getitem__)
        out[dt] = {"gemm_flops": max(r["gemm_flops"] for r in runs), "exp_per_s": exps[fastest], "exp": fastest,
                   "exp_rates": exps}
    return out


def bound_seconds(n: int, d: int, rates: dict[str, Any]) -> float:
    """A lower bound on one call (L, ∇_X L, ∇_Y L) at n, d: the four n×n×d products a call cannot do without (the
    scores A₁X·A₂ᵀ, f·A₃, c·hᵀ and p·A₂; f·h = (f·A₃)·Y and ∇_Y L = (f·A₃)ᵀc are then n×d×d, and the printed kernel
    forms them so) at the GEMM rate, and n² exps at the fastest exp's rate, as if nothing else cost anything."""
    return 8 * n * n * d / rates["gemm_flops"] + n * n / rates["exp_per_s"]


def cpu_name() -> str:
    """The processor's model name (Linux /proc/cpuinfo), else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo") as fh:
            return next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), platform.processor())
    except OSError:
        return platform.processor()


def machine_info(threads: int) -> dict[str, Any]:
    import numba

    versions = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__}
    for mod in ("torch", "jax"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": threads, "versions": versions,
            "blas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS", "default")}


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - b).max() / max(np.abs(b).max(), 1e-300))


def time_calls(call: Call, warmup: int, repeats: int) -> tuple[float, list[float]]:
    """The first call's time (it compiles or loads what it needs), then ``warmup`` − 1 untimed calls and the times
    of ``repeats`` more."""
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    for _ in range(warmup - 1):
        call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return first, times


def thread_bytes(method: str, n: int, d: int, threads: int, dtype: str = "float64") -> int:
    """Bytes of the buffers the threads of one call of ``method`` hold side by side: the generated kernel's row
    buffers (``ROW_BUFFERS`` of its module, each columns × block per thread, the block of the dtype and d); none
    for the others."""
    chunks = max(1, min(int(threads), n))  # the kernels run on min(threads, n) chunks of rows
    if method == "generated":
        from attngrad.numeric.generated import row_buffer_bytes

        return row_buffer_bytes(ALMAN_SONG_MODULE, {"n": n, "d": d}, chunks, dtype)
    return 0


def predicted_bytes(method: str, n: int, d: int, itemsize: int, threads: int = 1, square: bool = True) -> int:
    """The memory of one timed call at n × d: the inputs in their dtype, ND_ARRAYS n×d float64 arrays (the inputs
    widened, the kernels' n×d arrays and temporaries), the threads' buffers (``thread_bytes``) and, with
    ``square``, the n×n temporaries the method is known to form."""
    buffers = max(thread_bytes(method, n, d, threads, dt) for dt in ("float64", "float32"))  # either dtype's blocks
    out = 4 * n * d * itemsize + ND_ARRAYS * n * d * 8 + buffers
    return out + (NN_ARRAYS.get(method, 0) * n * n * itemsize if square else 0)


def check_grid(ns: list[int], ds: list[int], dtypes: list[str], repeats: int, warmup: int,
               budget_s: float = DEFAULT_BUDGET_S) -> None:
    for label, values in (("--n", ns), ("--d", ds)):
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
            raise InputError(f"{label} must be a list of positive integers.")
    integer("--repeats", repeats, 1)
    integer("--warmup", warmup, 1)
    positive_number("--budget", budget_s)
    for dt in dtypes:
        if dt not in ("float64", "float32"):
            raise InputError(f"--dtype must be float64 or float32, got {dt!r}.")


def check_memory(command: str, methods: list[str], points: list[tuple[int, int]], itemsize: int, threads: int) -> None:
    """Refuse a run before it starts when a method could not run its largest (n, d) point even without n×n
    temporaries: inputs, n×d arrays and the threads' buffers (a point whose n×n temporaries alone do not fit is
    skipped instead, see ``_time_child``)."""
    for name in methods if points else ():
        need, n, d = max((predicted_bytes(name, n, d, itemsize, threads, square=False), n, d) for n, d in points)
        chunks = min(threads, n)
        buffers = f" and the buffers of {chunks} thread{'s' if chunks > 1 else ''}" if thread_bytes(
            name, n, d, threads) else ""
        refuse_if_too_big(command, need, f"method {name} at n = {n:,}, d = {d} (its inputs, n×d arrays{buffers})")


def check_call_time(command: str, methods: tuple[str, ...] | list[str], points: list[tuple[int, int]],
                    rates: dict[str, float], budget_s: float, limit: str = "--exact-max-n") -> None:
    """Refuse a run before it starts when one call of an exact kernel would outlast ``budget_s`` even at this
    machine's lower bound (``bound_seconds``) at the largest of ``points``."""
    if not methods or not points:
        return
    n, d = max(points, key=lambda p: bound_seconds(p[0], p[1], rates))
    need = bound_seconds(n, d, rates)
    if need > budget_s:
        raise InputError(f"{command} would take at least {duration(need)} for one call of the exact {methods[0]} kernel "
                         f"at n = {n:,}, d = {d} (this machine's lower bound), beyond the --budget of "
                         f"{duration(budget_s)}; lower {limit} or raise --budget.")


def calls_per_point(repeats: int, warmup: int) -> int:
    """Calls of a method at one grid point: ``warmup`` (the first one included) and ``repeats`` timed ones."""
    return warmup + repeats


def predicted_seconds(methods: list[str], ns: list[int], ds: list[int], dtypes: list[str], repeats: int, warmup: int,
                      rates: dict[str, dict[str, float]], threads: int, memory: bool) -> float:
    """A lower bound on the time of the grid: every call that will run (points skipped for their n×n temporaries
    do not) at this machine's lower bound ``bound_seconds``, and with ``memory`` one more call per method and
    dtype at the largest n and d."""
    limit = memory_limit() or math.inf
    total = 0.0
    for name in methods:
        for dt in dtypes:
            itemsize = np.dtype(dt).itemsize
            for d in ds:
                for n in ns:
                    if predicted_bytes(name, n, d, itemsize, threads) <= limit:
                        total += calls_per_point(repeats, warmup) * bound_seconds(n, d, rates[dt])
            if memory and predicted_bytes(name, max(ns), max(ds), itemsize, threads) <= limit:
                total += bound_seconds(max(ns), max(ds), rates[dt])
    return total


def duration(seconds: float) -> str:
    """42 → '42 s', 5000 → '1.4 h', 9e5 → '10.4 days'."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def check_time(seconds: float, budget_s: float, command: str = "bench exact") -> None:
    """Refuse a run predicted (at least) ``seconds`` long when that exceeds ``budget_s``."""
    if seconds > budget_s:
        raise InputError(f"{command} would take at least {duration(seconds)} (every call at this machine's lower bound "
                         f"8n²d/GEMM rate + n²/exp rate), beyond the --budget of {duration(budget_s)}; give smaller "
                         f"--n, --d or --repeats, or a larger --budget.")


def run_exact(ns: list[int], ds: list[int], dtypes: list[str], methods: tuple[str, ...] | None = None, *,
              scale: str = DEFAULT_SCALE, repeats: int = 5, warmup: int = 1, threads: int | None = None, seed: int = 0,
              memory: bool = True, budget_s: float = DEFAULT_BUDGET_S, rounds: int = 2,
              progress: Callable[[str], None] | None = None) -> BenchResult:
    """Time every method over the grid n × d × dtype; see the module docstring.

    Before anything is timed the grid is refused (InputError, naming the figure and the limit) when a method's
    largest point would need more memory than ``resources.memory_limit`` allows, or when the grid would take
    longer than ``budget_s`` seconds even at this machine's lower bound. Each method runs in a process of its
    own, so that no library's idle worker threads (OpenBLAS, PyTorch's OpenMP pool, XLA) spin on the cores while
    another one is timed.
    """
    from attngrad.numeric.kernel_support import resolve_threads

    check_grid(ns, ds, dtypes, repeats, warmup, budget_s)
    integer("rounds", rounds, 1)
    threads = resolve_threads(threads)
    build, notes = builders(methods)
    check_memory("bench exact", list(build), [(n, d) for n in ns for d in ds],
                 max(np.dtype(dt).itemsize for dt in dtypes), threads)
    result = BenchResult(machine_info(threads), notes=notes)
    result.machine.update(repeats=repeats, warmup=warmup, rounds=rounds)
    measured = [measured_rates(dtypes, threads)]
    check_time(rounds * predicted_seconds(list(build), ns, ds, dtypes, repeats, warmup, measured[0], threads, memory),
               budget_s)
    budget = float(memory_limit() or 1e300)
    timings: dict[tuple, Timing] = {}
    order = list(build)
    for r in range(rounds):
        if r:
            measured.append(measured_rates(dtypes, threads))
        for name in order if r % 2 == 0 else reversed(order):
            if progress:
                progress(f"timing {name}" + (f", round {r + 1} of {rounds}" if rounds > 1 else ""))
            for row in run_in_child("_time_child", [name, ns, ds, dtypes, scale, repeats, warmup, threads, seed, budget]):
                t = Timing(**row)
                key = (t.method, t.n, t.d, t.dtype)
                if key not in timings:
                    timings[key] = t
                else:
                    timings[key].times_s += t.times_s
    rates = best_rates(measured)
    result.machine["rates"] = rates
    result.machine["rates_per_round"] = measured
    for t in timings.values():
        if t.times_s:
            t.repeats = len(t.times_s)
            t.median_s, t.min_s, t.max_s = float(np.median(t.times_s)), min(t.times_s), max(t.times_s)
        t.bound_s = bound_seconds(t.n, t.d, rates[t.dtype])
        t.ratio_to_bound = None if t.median_s is None else t.median_s / t.bound_s
        result.timings.append(t)
    result.timings.sort(key=lambda t: (dtypes.index(t.dtype), t.d, t.n, list(build).index(t.method)))
    compare_with_peers(result.timings)
    if memory:
        n_max = max(ns)
        for name in build:
            for dt in dtypes:
                if progress:
                    progress(f"peak memory {name} n={n_max} {dt}")
                result.memory.append(peak_memory(name, n_max, max(ds), dt, scale, threads, seed, budget))
    return result


def compare_with_peers(timings: list[Timing]) -> None:
    """Set each of our timings' ``fastest_peer`` and ``vs_fastest_peer`` from the peers timed at the same point
    (the NumPy reference is not a peer); left None where no peer ran there."""
    timed = [t for t in timings if t.median_s is not None]
    for t in timed:
        if t.method not in OURS:
            continue
        peers = [p for p in timed if p.method not in (*OURS, "reference") and (p.n, p.d, p.dtype) == (t.n, t.d, t.dtype)]
        if peers:
            fastest = min(peers, key=lambda p: p.median_s)
            t.fastest_peer, t.vs_fastest_peer = fastest.method, fastest.median_s / t.median_s


def run_in_child(func: str, args: list, module: str = "attngrad.numeric.bench") -> Any:
    """Run ``func(*args)`` of ``module`` in a fresh Python process and return its JSON result.

    A Ctrl-C is this process's to handle: the child ignores SIGINT (which a terminal sends to every process of its
    group) from its first statement on, and its output is captured, so it never prints a traceback; when this
    process is interrupted (KeyboardInterrupt, or any error while waiting), it kills the child and re-raises."""
    script = ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
              f"import json, sys\nfrom {module} import {func}\nprint(json.dumps({func}(*json.loads(sys.argv[1]))))")
    with subprocess.Popen([sys.executable, "-c", script, json.dumps(args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as child:
        try:
            stdout, stderr = child.communicate(timeout=7200)
        except subprocess.TimeoutExpired:
            child.kill()
            raise InputError(f"The benchmark process for {args[0]} took more than 2 hours; give fewer or smaller "
                             "sizes.") from None
        except BaseException:
            child.kill()
            raise
    if child.returncode != 0:
        raise InputError(f"The benchmark process for {args[0]} failed: {(stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(stdout.strip().splitlines()[-1])


def _time_child(name: str, ns: list[int], ds: list[int], dtypes: list[str], scale: str, repeats: int, warmup: int,
                threads: int, seed: int, budget: float) -> list[dict[str, Any]]:
    build, _ = builders((name,))
    rows = []
    compile_s = None
    for dt in dtypes:
        for d in ds:
            small = random_inputs(min(min(ns), VERIFY_N), d, seed=seed, dtype=dt)
            ref = loss_and_grad(**small, scale=scale, method="reference", dtype=np.float64)
            t0 = time.perf_counter()
            got = build[name](small, scale, threads)()
            first = time.perf_counter() - t0
            compile_s = first if compile_s is None else compile_s
            err = max(_rel_err(got[1], ref.grad_X), _rel_err(got[2], ref.grad_Y), abs(got[0] - ref.loss) / abs(ref.loss))
            for n in sorted(ns):
                row = Timing(name, n, d, dt, threads, first_call_s=compile_s, verified_rel_err=err)
                rows.append(row)
                itemsize = np.dtype(dt).itemsize
                if not err <= VERIFY_RTOL[dt]:
                    row.skipped = f"disagrees with the reference (max rel err {err:.1e} > {VERIFY_RTOL[dt]:.0e}); not timed"
                elif predicted_bytes(name, n, d, itemsize, threads) > budget:
                    row.skipped = (f"needs about {format_bytes(predicted_bytes(name, n, d, itemsize, threads))} with its "
                                   f"n×n temporaries, beyond the limit of {format_bytes(budget)}")
                else:
                    _, times = time_calls(build[name](random_inputs(n, d, seed=seed, dtype=dt), scale, threads), warmup, repeats)
                    row.repeats, row.times_s = repeats, list(times)
                    row.median_s, row.min_s, row.max_s = float(np.median(times)), min(times), max(times)
    return [asdict(r) for r in rows]


def peak_memory(method: str, n: int, d: int, dtype: str, scale: str, threads: int, seed: int,
                budget: float) -> dict[str, Any]:
    """Peak RSS growth of one call, measured in a fresh process (Linux VmHWM, reset before the call)."""
    out = {"method": method, "n": n, "d": d, "dtype": dtype}
    if predicted_bytes(method, n, d, np.dtype(dtype).itemsize, threads) > budget:
        out["skipped"] = "predicted to exceed the memory budget"
        return out
    if not os.path.exists("/proc/self/clear_refs"):
        out["skipped"] = "needs Linux /proc to measure"
        return out
    try:
        out.update(run_in_child("_peak_child", [method, n, d, dtype, scale, threads, seed]))
    except InputError as exc:
        out["skipped"] = str(exc)
    return out


def peak_growth_mb(call: Callable[[], Any]) -> dict[str, float]:
    """Peak RSS growth of ``call()`` in MB (Linux: VmHWM reset through clear_refs before the call)."""
    def kb(field_name: str) -> int:
        with open("/proc/self/status") as fh:
            return next(int(ln.split()[1]) for ln in fh if ln.startswith(field_name + ":"))

    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before = kb("VmRSS")
    call()
    return {"peak_mb": (kb("VmHWM") - before) / 1024}


def _peak_child(method: str, n: int, d: int, dtype: str, scale: str, threads: int, seed: int) -> dict[str, float]:
    build, _ = builders((method,))
    build[method](random_inputs(min(n, 64), d, seed=seed, dtype=dtype), scale, threads)()  # compile / load first
    return peak_growth_mb(build[method](random_inputs(n, d, seed=seed, dtype=dtype), scale, threads))
