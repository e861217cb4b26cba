"""Gradient descent on one attention layer (docs/mathematics.md §3): many instances side by side, with the numbers
the PL analysis needs.

A run is one (kernel, training mode, seed). Its steps are taken by the generated ``descend_serial`` of the
kernel's module (numeric/generated/one_layer_*), ``lambda_every`` steps at a time; the runs of a chunk go side
by side on ``workers`` worker threads (``thread_map``: the generated functions are serial and release the GIL),
with BLAS on one thread. Between chunks the exact Jacobian J of
every running instance gives λ_min(JJᵀ) and λ_max(JJᵀ), so at those steps the PL inequality
½‖∇f‖² ≥ (λ_min(JJᵀ)/N)·f is checked and μ_t = λ_min/N is known. Each step records f_t and ‖∇f_t‖².
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from numbers import Integral, Real
from typing import Any, Callable

import numpy as np

from attngrad import vocabulary
from attngrad.errors import InputError
from attngrad.numeric.inputs import sequence
from attngrad.numeric.one_layer import (
    Instance,
    Sizes,
    TrainingKernel,
    check_kernel,
    check_train,
    compiles_first,
    instance_bytes,
    jacobian,
    jacobian_bytes,
    kernel_bytes,
    make_instance,
    score_problem,
    training_kernel,
    with_data,
)
from attngrad.vocabulary import DESCENT_STATUS, KERNELS, TRAINING_MODES, WEIGHTS

#: a run's status at the end (``finished``: ran every step)
STATUS = (*DESCENT_STATUS[1:], "finished")
PL_SLACK = 1e-9  # relative slack of the numerical PL check (rounding of f and ‖∇f‖²)
COMPILING = "compiling the generated kernels (first run; cached afterwards)…"  # simulate's notice


@dataclass(frozen=True)
class Settings:
    """Everything a simulation needs besides kernels, modes and seeds.

    eta None: the step size is 1/L̂ with L̂ = λ_max(J₀J₀ᵀ)/N, the Gauss–Newton curvature at the start — for W_V
    alone f is quadratic and L̂ is exactly its smoothness L, so η = 1/L there.
    """

    sizes: Sizes = Sizes()
    steps: int = 2000
    eta: float | None = None
    tol: float = 1e-12  # stop when f falls below
    target: float = 1e-8  # report the first step with f below
    window: int = 200  # plateau: f fell by at most plateau_rtol (relative) over this many steps
    plateau_rtol: float = 1e-10
    divergence: float = 1e6  # stop when f exceeds divergence · f₀ (or is not finite)
    lambda_every: int = 250
    embedding: str = "orthogonal"
    targets: str = "random"
    scales: tuple[tuple[str, float], ...] = ()
    tie_qk: bool = True
    data: Any = None  # a user's one_layer.Data: its X, Y and weights replace the drawn ones

    def __post_init__(self) -> None:
        if not isinstance(self.sizes, Sizes):
            raise InputError(f"sizes must be a one_layer.Sizes, got {type(self.sizes).__name__} {self.sizes!r}.")
        ints = {"steps": self.steps, "window": self.window, "lambda_every": self.lambda_every}
        for name, value in ints.items():
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}.")
        if self.eta is not None and not (isinstance(self.eta, Real) and 0 < self.eta < math.inf):
            raise InputError(f"The step size must be a positive finite number, got {self.eta!r}.")
        for name in ("tol", "target", "plateau_rtol", "divergence"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < math.inf:
                raise InputError(f"{name} must be a finite number ≥ 0, got {value!r}.")

    def instance(self, seed: int) -> Instance:
        inst = make_instance(self.sizes, seed, embedding=self.embedding, targets=self.targets,
                             scales=dict(self.scales), tie_qk=self.tie_qk)
        return inst if self.data is None else with_data(inst, self.data)


@dataclass
class Run:
    """One instance's trajectory and what it says about the bounds."""

    kernel: str
    train: tuple[str, ...]
    seed: int
    eta: float = math.nan
    status: str = "running"
    last: int = -1  # last recorded step
    losses: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gsq: np.ndarray = field(default_factory=lambda: np.zeros(0))
    checkpoints: list[dict[str, float]] = field(default_factory=list)  # step, lambda_min, lambda_max
    notes: list[str] = field(default_factory=list)
    sizes_N: int = 1  # samples: μ = λ_min(JJᵀ)/N
    instance: Instance | None = None  # the data and the weights where the run stopped

    @property
    def mode(self) -> str:
        return ",".join(self.train)

    def steps_to(self, level: float) -> int | None:
        below = np.flatnonzero(self.losses[: self.last + 1] < level)
        return int(below[0]) if below.size else None

    def pl_ratio(self) -> np.ndarray:
        """½‖∇f_t‖²/f_t at every recorded step."""
        f = self.losses[: self.last + 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            return 0.5 * self.gsq[: self.last + 1] / f

    def mu(self) -> list[tuple[int, float]]:
        """(step, μ_t = λ_min(J_tJ_tᵀ)/N) at the checkpoints with a recorded loss."""
        N = self.sizes_N
        return [(int(c["step"]), c["lambda_min"] / N) for c in self.checkpoints if c["step"] <= self.last]

    def pl_checks(self) -> list[dict[str, float]]:
        """At each checkpoint: ½‖∇f‖², the bound μ_t·f and whether ½‖∇f‖² ≥ μ_t·f holds (up to rounding); not at a
        step whose f or ‖∇f‖² is not a finite number (the step a run diverged at), where there is nothing to check."""
        out = []
        for t, mu in self.mu():
            half = 0.5 * float(self.gsq[t])
            bound = mu * float(self.losses[t])
            if not (math.isfinite(half) and math.isfinite(bound)):
                continue
            out.append({"step": t, "half_grad_sq": half, "mu": mu, "mu_f": bound,
                        "holds": bool(half >= bound - PL_SLACK * max(abs(half), abs(bound)))})
        return out

    def rate_checks(self) -> dict[str, Any]:
        """Observed f_{t+1}/f_t against the predicted 1 − ημ.

        For W_V alone f is quadratic with constant Hessian JᵀJ/N, μ = λ_min(JJᵀ)/N and L = λ_max/N hold everywhere,
        so with η ≤ 1/L the bound must hold at every step. For other modes μ_t is known only at checkpoints and L
        nowhere, so the ratio is compared at the checkpoints where η ≤ 1/L̂_t (L̂_t = λ_max(J_tJ_tᵀ)/N) and
        reported, not asserted. When the bound's assumption η ≤ 1/L (or 1/L̂) fails, nothing is checked and
        ``not_applicable`` names the assumption. A step whose f⁺ is NaN (the step a run diverged at without a
        loss) is not checked; one whose f⁺ overflowed is, and fails.
        """
        f = self.losses[: self.last + 1]
        if len(f) < 2 or not self.mu():
            return {"checked": 0, "held": 0, "exact": False}
        N = self.sizes_N
        if self.train == ("W_V",):
            mu = self.mu()[0][1]
            eta_L = self.eta * self.checkpoints[0]["lambda_max"] / N
            pred = 1 - self.eta * mu
            out = {"exact": True, "predicted": pred, "eta_L": eta_L}
            if not eta_L <= 1 + PL_SLACK:
                return {"checked": 0, "held": 0, **out, "not_applicable": f"η ≤ 1/L (here η·L = {eta_L:.3g})"}
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                ratios = f[1:] / f[:-1]
            ratios = ratios[~np.isnan(ratios)]
            ok = ratios <= pred * (1 + PL_SLACK)
            return {"checked": int(ratios.size), "held": int(ok.sum()), **out,
                    "worst_ratio": float(ratios.max()) if ratios.size else None}
        held, checked, worst, steep = 0, 0, 0.0, []
        for c in self.checkpoints:
            t = int(c["step"])
            if t + 1 > self.last or not np.isfinite(f[t]):
                continue
            eta_L = self.eta * c["lambda_max"] / N
            if not eta_L <= 1 + PL_SLACK:
                steep.append(eta_L)
                continue
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                ratio = f[t + 1] / f[t]
            if np.isnan(ratio):
                continue
            checked += 1
            held += int(ratio <= (1 - self.eta * c["lambda_min"] / N) * (1 + PL_SLACK))
            worst = max(worst, float(ratio))
        out = {"checked": checked, "held": held, "exact": False, "worst_ratio": worst}
        if steep and not checked:
            out["not_applicable"] = f"η ≤ 1/L̂ (here η·L̂ = {min(steep):.3g}, L̂ = λ_max(JJᵀ)/N)"
        return out

    def predicted_rate(self) -> float | None:
        """1 − η·min_t μ_t over the checkpoints (None when the rate bound is not applicable: see rate_checks)."""
        mus = [m for _, m in self.mu()]
        return 1 - self.eta * min(mus) if mus and not self.rate_checks().get("not_applicable") else None

    def fitted_rate(self) -> float | None:
        """exp of the least-squares slope of log f_t over the second half of the recorded steps."""
        f = self.losses[: self.last + 1]
        lo = len(f) // 2
        tail = f[lo:]
        if tail.size < 3 or not ((tail > 0) & np.isfinite(tail)).all():
            return None
        t = np.arange(lo, len(f))
        slope = np.polyfit(t, np.log(tail), 1)[0]
        return float(math.exp(slope))

    def outcome(self, target: float) -> str:
        """converged (f fell below ``target``), diverged, stalled (missed the target and hit a plateau, or its PL
        ratio fell below STALL times its first) or unfinished (missed the target, still descending at the last
        step)."""
        if self.steps_to(target) is not None:
            return "converged"
        if self.status == "diverged":
            return "diverged"
        ratio = self.pl_ratio()
        if self.status == "plateau" or (ratio.size and ratio[-1] < STALL * ratio[0]):
            return "stalled"
        return "unfinished"

    def summary(self, target: float) -> dict[str, Any]:
        mus = [m for _, m in self.mu()]
        pl = self.pl_checks()
        ratio = self.pl_ratio()
        fit = self.fitted_rate()
        return {
            "kernel": self.kernel, "train": self.mode, "seed": self.seed, "eta": self.eta, "status": self.status,
            "steps": self.last + 1, "f0": float(self.losses[0]) if self.last >= 0 else None,
            "final_loss": float(self.losses[self.last]) if self.last >= 0 else None,
            "steps_to_target": self.steps_to(target),
            "pl_ratio_first": float(ratio[0]) if ratio.size else None,
            "pl_ratio_last": float(ratio[-1]) if ratio.size else None,
            "mu_min": min(mus) if mus else None,
            "predicted_rate": self.predicted_rate(),
            "fitted_rate": fit,
            "increases": int(np.sum(np.diff(self.losses[: self.last + 1]) > 0)),
            "pl_checks": len(pl), "pl_holds": sum(c["holds"] for c in pl),
            "rate": self.rate_checks(), "notes": self.notes,
        }


def broke_a_bound(summary: dict[str, Any]) -> bool:
    """Whether a run (its ``Run.summary``) broke a bound it is subject to: a PL check that failed, or an exact rate
    check (η ≤ 1/L on the whole space, W_V alone) with f⁺ > (1−ημ)f. A bound whose assumption fails
    (``not_applicable``, e.g. η > 1/L) checks nothing, so it cannot be broken. ``attngrad simulate`` exits 1 on such
    a run."""
    rate = summary["rate"]
    return summary["pl_holds"] < summary["pl_checks"] or bool(rate.get("exact") and rate["held"] < rate["checked"])


def auto_eta(lambda_max: float, N: int, of: str = "") -> float:
    """The default step 1/L̂, L̂ = λ_max(JJᵀ)/N: the smoothness L of pl/W_V for W_V alone, a Gauss–Newton estimate
    of the curvature otherwise. InputError when there is none: λ_max = 0 (the outputs do not move with the
    trained weights at the start, e.g. W_O = 0 or X ≈ 0) or so small that N/λ_max overflows (``of`` names the
    run in the sentence)."""
    with np.errstate(over="ignore", divide="ignore"):
        eta = N / lambda_max if lambda_max > 0 else math.inf
    if not math.isfinite(eta):
        raise InputError(f"The automatic step size 1/L̂{' of ' + of if of else ''} needs λ_max(J₀J₀ᵀ) > 0, but it "
                         f"is {lambda_max:.3g} (the "
                         "outputs do not move with the trained weights at the start); give a step size.")
    return float(eta)


def _check_seeds(seeds: list[int]) -> list[int]:
    if not seeds:
        raise InputError("Give at least one seed.")
    bad = next((s for s in seeds if isinstance(s, bool) or not isinstance(s, Integral) or s < 0), None)
    if bad is not None:
        raise InputError(f"Seeds must be non-negative integers, got {bad!r}.")
    return list(seeds)


def _spectrum(run: Run, inst: Instance) -> tuple[float, float] | str:
    """(λ_min, λ_max) of JJᵀ at the current weights, or why float64 cannot give them there."""
    if score_problem(run.kernel, inst.X, inst.weights):
        return "the attention scores overflow float64"
    J = jacobian(run.kernel, inst, run.train, workers=1)
    with np.errstate(over="ignore", invalid="ignore"):
        G = J @ J.T
    if not (np.isfinite(J).all() and np.isfinite(G).all()):
        return "the Jacobian overflows float64"
    ev = np.linalg.eigvalsh(G)
    return float(max(ev[0], 0.0)), float(ev[-1])


def _checkpoint(run: Run, inst: Instance, step: int) -> str | None:
    """Record λ_min and λ_max of JJᵀ at the current weights (those of ``step``); None, or why float64 cannot."""
    got = _spectrum(run, inst)
    if isinstance(got, str):
        return got
    run.checkpoints.append({"step": step, "lambda_min": got[0], "lambda_max": got[1]})
    return None


def _diverge(run: Run, step: int, why: str) -> None:
    """The run diverged at ``step``, which recorded no loss (the steps before it are kept)."""
    run.status, run.last = "diverged", step
    run.notes.append(f"diverged at step {step}: {why}")


# bytes of one ``rows`` row (a dict of ten fields with its float objects) and of one checkpoint, in CPython
ROW_BYTES = 450
CHECKPOINT_BYTES = 300


def memory_parts(runs: int, seeds: int, modes: list[tuple[str, ...]], settings: Settings, workers: int,
                 with_rows: bool = False) -> list[tuple[float, str]]:
    """What ``simulate`` holds at its peak, as (bytes, what for): ``runs`` runs over ``seeds`` instances, the
    Jacobians of ``workers`` runs at once, and with ``with_rows`` the one row per step that ``rows`` builds."""
    s = settings.sizes
    at_once = max(1, min(workers, runs))
    tokens = s.N * s.n
    frozen = 8.0 * tokens * (2 * s.d + s.dv + s.dy)  # the products a training mode keeps fixed (K, VO, …)
    parts = [
        (16.0 * runs * settings.steps, f"the loss curves of {runs:,} runs × {settings.steps:,} steps"),
        (instance_bytes(s) * (seeds + runs) + frozen * runs, f"the data and weights of {runs:,} runs"),
        (24.0 * s.D * tokens if settings.embedding == "orthogonal" and s.D >= tokens else 0.0,
         f"drawing {s.D:,}-dimensional orthogonal embeddings"),
        (float(CHECKPOINT_BYTES) * runs * (settings.steps // settings.lambda_every + 2), "the checkpoints"),
        (at_once * (max(jacobian_bytes(s, m) for m in modes) + kernel_bytes(s)),
         f"the Jacobians of {at_once} run{'s' if at_once > 1 else ''} at once "
         f"({s.N * s.n * s.dy:,} outputs each)"),
    ]
    if with_rows:
        parts.append((float(ROW_BYTES) * runs * settings.steps, f"one row per step of {runs:,} runs"))
    return parts


def refuse_parts(what: str, parts: list[tuple[float, str]]) -> None:
    """numeric/resources.refuse_if_too_big with the total of ``parts``, naming those that make up most of it."""
    from attngrad.numeric.resources import refuse_if_too_big as refuse

    total = sum(b for b, _ in parts)
    main = [p for b, p in sorted(parts, key=lambda x: -x[0]) if b >= 0.2 * total]
    refuse(what, total, " and ".join(main))


def simulate(kernels: list[str], modes: list[tuple[str, ...]], seeds: list[int], settings: Settings = Settings(), *,
             workers: int | None = None, progress: Callable[[int, int], None] | None = None,
             with_rows: bool = False, notice: Callable[[str], None] | None = None) -> list[Run]:
    """Run GD for every kernel × mode × seed; see the module docstring. The same seed gives the same data and
    initial weights for every kernel and mode. A run that diverges is kept, with the step it diverged at: a loss
    that is not finite or exceeds the divergence limit, or weights where the attention scores or the Jacobian
    overflow float64 (that step records no loss).
    ``workers``: the runs, and their Jacobians, go side by side on this many worker threads (default: Numba's
    thread count), with BLAS on one thread. Before anything is drawn, the memory the runs need (``memory_parts``;
    with ``with_rows``, also the rows the caller will build) is checked against numeric/resources' limit.
    ``progress(step, steps)`` after each chunk of steps; ``notice(COMPILING)`` first when the generated kernels
    will be compiled (the first run with a cold Numba cache, which takes minutes)."""
    from attngrad.numeric.kernel_support import blas_threads

    with blas_threads(1):
        return _simulate(kernels, modes, seeds, settings, workers, progress, with_rows, notice)


def _simulate(kernels, modes, seeds, settings: Settings, workers, progress, with_rows=False, notice=None) -> list[Run]:
    from attngrad.numeric.kernel_support import resolve_workers, thread_map

    kernels = [check_kernel(k) for k in sequence("kernels", kernels, "kernels")]
    modes = [check_train(m) for m in sequence("modes", modes, "training modes")]
    if not isinstance(seeds, range):  # a range is counted without being listed (it may be huge)
        seeds = sequence("seeds", seeds, "seeds")
    if not kernels or not modes:
        raise InputError("Give at least one kernel and one training mode.")
    runs = len(kernels) * len(modes) * len(seeds)
    refuse_parts("The simulation", memory_parts(runs, len(seeds), modes, settings, resolve_workers(workers),
                                                     with_rows))
    seeds = _check_seeds(list(seeds))
    if notice and any(compiles_first(training_kernel(k, m).module) for k in kernels for m in modes):
        notice(COMPILING)
    base = {s: settings.instance(s) for s in seeds}
    jobs = []
    for kernel in kernels:
        for mode in modes:
            for seed in seeds:
                inst = base[seed].copy()
                tk = training_kernel(kernel, mode)
                run = Run(kernel, mode, seed, sizes_N=settings.sizes.N, losses=np.full(settings.steps, np.nan),
                          gsq=np.full(settings.steps, np.nan), notes=list(inst.notes))
                jobs.append(_Job(run, inst, tk, tk.arrays(inst)))

    def start(job: _Job) -> None:
        run = job.run
        f0 = float(job.training.module.batch_serial(*job.arrays, job.training.module.BLOCK)[0][0, 0])
        if not math.isfinite(f0):
            raise InputError(f"The initial loss of {run.kernel}/{run.mode}/seed {run.seed} overflows float64; "
                             "scale the weights down.")
        job.limit = settings.divergence * max(f0, settings.tol, 1e-300)
        why = _checkpoint(run, job.inst, 0)
        if why:
            raise InputError(f"At the start of {run.kernel}/{run.mode}/seed {run.seed}, {why}; scale the data or the "
                             "weights down.")
        run.eta = settings.eta if settings.eta is not None else auto_eta(
            run.checkpoints[0]["lambda_max"], settings.sizes.N, f"{run.kernel}/{run.mode}/seed {run.seed}")

    thread_map(start, jobs, workers)
    for lo in range(0, settings.steps, settings.lambda_every):
        hi = min(lo + settings.lambda_every, settings.steps)

        def chunk(job: _Job) -> None:
            run, tk = job.run, job.training
            try:
                status, last = tk.module.descend_serial(
                    *job.arrays, tk.mask, run.eta, lo, hi, settings.tol, settings.window, settings.plateau_rtol,
                    job.limit, run.losses, run.gsq, tk.module.BLOCK)
            except ZeroDivisionError:
                # The generated kernels divide only by the row sums of exp(scores − row max), which are ≥ 1 unless
                # a row of scores is not finite: a step took the weights where the scores overflow. That step
                # recorded nothing; the steps before it did (losses start as NaN).
                _diverge(run, lo + int(np.argmax(np.isnan(run.losses[lo:hi]))), "the attention scores overflow float64")
                return
            run.last = int(last)
            run.status = DESCENT_STATUS[status] if status else ("running" if hi < settings.steps else "finished")
            if run.status == "diverged" and score_problem(run.kernel, job.inst.X, job.inst.weights):
                # the weights of that step (not updated) put a row of scores beyond float64: its loss is no value
                run.losses[run.last] = math.nan
                _diverge(run, run.last, "the attention scores overflow float64")
            elif run.status == "diverged":
                run.notes.append(f"diverged at step {run.last} (f = {run.losses[run.last]:.3g})")
            elif run.status == "running":
                why = _checkpoint(run, job.inst, hi)
                if why:
                    _diverge(run, hi, why)
            elif run.status in ("converged", "plateau") and run.last > run.checkpoints[-1]["step"]:
                why = _checkpoint(run, job.inst, run.last)
                if why:
                    run.notes.append(f"no λ_min(JJᵀ) at step {run.last}: {why}")

        thread_map(chunk, [j for j in jobs if j.run.status == "running"], workers)
        if progress:
            progress(hi, settings.steps)
    for j in jobs:
        j.run.instance = j.inst
    return [j.run for j in jobs]


@dataclass
class _Job:
    run: Run
    inst: Instance  # its weights are the arrays the generated descent updates in place
    training: TrainingKernel
    arrays: list[np.ndarray]
    limit: float = math.inf


# the default experiment ---------------------------------------------------------------------------------
PAPER_MODES = tuple(TRAINING_MODES[m] for m in vocabulary.PAPER_MODES)
EXPERIMENTS = {
    "paper": dict(kernels=list(vocabulary.PAPER_KERNELS), modes=list(PAPER_MODES), seeds=list(range(8)), settings=Settings()),
    "outside-hull": dict(kernels=list(vocabulary.PAPER_KERNELS), modes=[("W_Q",)], seeds=list(range(8)),
                         settings=Settings(targets="outside-hull")),
}
STALL = 1e-3  # a run stalls when it misses the target and hits a plateau or its PL ratio falls below STALL × its first


def claim_fractions(runs: list[Run], target: float) -> dict[str, Any]:
    """The paper's three claims as measured fractions over seeds, by mode and kernel (docs/mathematics.md §3;
    ``attngrad simulate --json`` reports it as "story"):
    (a) W_V only: linear convergence and the per-step bound; (b) W_Q only: reaching the target vs stalling;
    (c) W_Q, W_K, W_V: steps to the target."""
    out: dict[str, Any] = {}
    by = {}
    for r in runs:
        by.setdefault((r.mode, r.kernel), []).append(r)
    for (mode, kernel), rs in by.items():
        n = len(rs)
        reach = [r.steps_to(target) for r in rs]
        hit = [s for s in reach if s is not None]
        stalled = [r for r in rs if r.outcome(target) == "stalled"]
        rate = [r.rate_checks() for r in rs]
        fits = [r.fitted_rate() for r in rs]
        entry = {
            "runs": n, "reached_target": len(hit) / n, "stalled": len(stalled) / n,
            "diverged": sum(r.status == "diverged" for r in rs) / n,
            "steps_to_target_median": float(np.median(hit)) if hit else None,
            "steps_to_target_range": [min(hit), max(hit)] if hit else None,
            "linear": sum(f is not None and f < 1 for f in fits) / n,
            "fitted_rate_median": float(np.median([f for f in fits if f is not None])) if any(f is not None for f in fits) else None,
            "predicted_rate_median": float(np.median([p for p in map(Run.predicted_rate, rs) if p is not None]
                                                     or [np.nan])),
            "bound_steps_checked": sum(x["checked"] for x in rate),
            "bound_not_applicable": sum(bool(x.get("not_applicable")) for x in rate),
            "bound_steps_held": sum(x["held"] for x in rate),
            "pl_checks": sum(len(r.pl_checks()) for r in rs),
            "pl_holds": sum(sum(c["holds"] for c in r.pl_checks()) for r in rs),
        }
        out.setdefault(mode, {})[kernel] = entry
    return out


def rows(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per recorded step of every run (λ and the PL check filled in at checkpoints)."""
    out = []
    for r in runs:
        checks = {c["step"]: c for c in r.pl_checks()}
        lam = {int(c["step"]): c for c in r.checkpoints}
        ratio = r.pl_ratio()
        for t in range(r.last + 1):
            c = checks.get(t)
            out.append({"kernel": r.kernel, "train": r.mode, "seed": r.seed, "step": t, "loss": float(r.losses[t]),
                        "grad_norm": float(math.sqrt(r.gsq[t])) if r.gsq[t] >= 0 else float("nan"),
                        "pl_ratio": float(ratio[t]),
                        "lambda_min": lam[t]["lambda_min"] if t in lam else None,
                        "mu_f": c["mu_f"] if c else None, "pl_holds": c["holds"] if c else None})
    return out


def settings_dict(settings: Settings) -> dict[str, Any]:
    out = asdict(replace(settings, data=None))
    out["scales"] = dict(settings.scales)
    out["data"] = None if settings.data is None else {"from file": True, **settings.data.sizes}
    return out


__all__ = ["EXPERIMENTS", "KERNELS", "PAPER_MODES", "Run", "STATUS", "Settings", "WEIGHTS", "claim_fractions",
           "replace", "rows", "settings_dict", "simulate"]
