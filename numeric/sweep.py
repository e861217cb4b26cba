"""Running a sweep (numeric/sweep_spec.py): each run is `attngrad simulate`'s GD run with its stop rules, in local
worker processes or on a Dask distributed cluster, its outcome written to the store (numeric/store.py) the moment
it finishes.

Only the calling process writes the store, one transaction per run; workers return outcomes. A run that raises is
recorded as failed with its reason. A worker process that dies takes the runs it held with it: they run again, one
at a time, and a run whose worker died twice is recorded as failed. Runs already in the store are skipped,
so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import math
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from attngrad import __version__
from attngrad.errors import InputError
from attngrad.numeric.store import Store, run_key
from attngrad.numeric.sweep_spec import SweepSpec, Task, settings_of, spec_from_dict

#: a worker's first run loads (or compiles) the Numba kernels; ``RunResult.first`` marks it
_STARTED: dict[str, float] = {}
#: how many times a run goes back in the queue after its worker process died
RETRIES = 1


@dataclass
class RunResult:
    key: str
    params: dict[str, Any]
    outcome: dict[str, Any]
    curve: np.ndarray | None = None
    first: bool = False  # the first run of its worker process (it loaded the kernels)


def run_task(task: Task) -> RunResult:
    """One run of a sweep, never raising: a run that raises comes back with status ``failed`` and its reason."""
    from attngrad.numeric.kernel_support import blas_threads
    from attngrad.numeric.simulate import simulate

    first = not _STARTED
    _STARTED.setdefault("at", time.perf_counter())
    worker = f"{socket.gethostname()}:{os.getpid()}"
    t0 = time.perf_counter()
    curve = None
    try:
        with blas_threads(1):  # every product on this process's thread: no BLAS thread left spinning beside it
            settings = settings_of(task.params)
            start = settings.instance(task.seed)
            run = simulate([task.kernel], [task.train], [task.seed], settings, workers=1)[0]
            outcome = outcome_of(run, settings.target, start)
        if task.curves:
            curve = run.losses[: run.last + 1].copy()
    except InputError as exc:
        outcome = {"status": "failed", "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a run's failure is data: recorded, the sweep goes on
        outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    outcome.update(kernel=task.kernel, train=",".join(task.train), seed=task.seed, point=task.point,
                   seconds=time.perf_counter() - t0, worker=worker, finished_at=time.time())
    return RunResult(run_key(task.params), task.record_params(), outcome, curve, first)


def outcome_of(run: Any, target: float, start: Any) -> dict[str, Any]:
    """A finished run's row (numeric/store.COLUMNS): its outcome, the certificate's quantities at initialisation
    and those measured along the path. ``start`` is the run's instance before the first step."""
    s = run.summary(target)
    moved = [np.asarray(run.instance.weights[w], float) - np.asarray(start.weights[w], float) for w in run.train]
    out = {
        "status": run.outcome(target), "stop": run.status, "steps_run": s["steps"], "steps_to_target": s["steps_to_target"],
        "eta": s["eta"], "f0": s["f0"], "final_loss": s["final_loss"], "fitted_rate": s["fitted_rate"],
        "pl_ratio_first": s["pl_ratio_first"], "pl_ratio_last": s["pl_ratio_last"],
        "distance": float(math.sqrt(sum(float(np.sum(d * d)) for d in moved))),
    }
    out.update(certificate(run, target))
    return out


#: the certificate's margin: the PL* constant it assumes on the ball is this fraction of μ₀
CERTIFICATE_MARGIN = 0.5


def certificate(run: Any, target: float) -> dict[str, Any]:
    """The PL* ball certificate (derive/papers/pl_certificate.py, Liu, Zhu & Belkin 2022, Thm 6) of a run.

    At initialisation: μ₀ = λ_min(J₀J₀ᵀ)/N, L̂₀ = λ_max(J₀J₀ᵀ)/N and the radius R₀ = 2√(2L̂₀f₀)/μ₀. Along the path:
    the smallest μ_t at the checkpoints, the path length η·Σ_t‖∇f_t‖ (every recorded step) and the verdict
    ``consistent`` when, at every checkpoint, μ_t ≥ CERTIFICATE_MARGIN·μ₀ and η·L̂_t ≤ 1, and the path stayed
    within the radius for μ = CERTIFICATE_MARGIN·μ₀ and L = max L̂_t; then ``certified_steps`` is the step by
    which the certificate's rate 1 − η·CERTIFICATE_MARGIN·μ₀ brings f₀ below ``target`` (rate/linear). Else
    ``violated: …`` naming the first failure, or ``none: …`` when there is no certificate at initialisation (μ₀ = 0, or η > 1/L̂₀). The theorem
    needs its hypotheses on the whole ball, which no finite sample shows: ``consistent`` is evidence, not proof."""
    from attngrad.numeric.generated.pl_certificate import radius, steps_to

    N = run.sizes_N
    if not run.checkpoints:
        return {"certificate": "none: no λ at initialisation"}
    mus = [m for _, m in run.mu()]  # μ_t = λ_min(J_tJ_tᵀ)/N at the checkpoints, the first at step 0
    mu0, L0 = mus[0], run.checkpoints[0]["lambda_max"] / N
    f0 = float(run.losses[0])
    g = run.gsq[: run.last + 1]
    path = float(run.eta * np.sum(np.sqrt(g[np.isfinite(g)])))
    out = {"mu0": mu0, "lambda_max0": L0, "mu_path_min": min(mus) if mus else None, "path_length": path,
           "radius": radius(L=L0, f_0=f0, mu=mu0) if mu0 > 0 else None}
    if not mu0 > 0:
        return {**out, "certificate": "none: μ₀ = 0"}
    if run.eta * L0 > 1 + 1e-9:
        return {**out, "certificate": f"none: η·L̂₀ = {run.eta * L0:.3g} > 1"}
    mu_c = CERTIFICATE_MARGIN * mu0
    for c in run.checkpoints:
        if c["step"] > run.last:
            continue
        if c["lambda_min"] / N < mu_c:
            return {**out, "certificate": f"violated: μ fell below {CERTIFICATE_MARGIN:g}·μ₀ by step {c['step']}"}
        if run.eta * c["lambda_max"] / N > 1 + 1e-9:
            return {**out, "certificate": f"violated: η·L̂ > 1 at step {c['step']}"}
    L_max = max(c["lambda_max"] for c in run.checkpoints if c["step"] <= run.last) / N
    if not path <= radius(L=L_max, f_0=f0, mu=mu_c):
        return {**out, "certificate": "violated: the path left the ball"}
    steps = steps_to(epsilon=target, eta=run.eta, f_0=f0, mu=mu_c) if f0 > target else 0
    return {**out, "certificate": "consistent", "certified_steps": steps}


@dataclass
class SweepSummary:
    """What one call of ``run_sweep`` did."""

    total: int  # runs in the sweep
    skipped: int  # already in the store
    ran: int = 0
    failed: int = 0
    seconds: float = 0.0
    workers: int = 0
    first_runs: list[float] = field(default_factory=list)  # seconds of each worker's first run (loads the kernels)
    later_runs: list[float] = field(default_factory=list)


def prepare(spec: SweepSpec, store: Store, resume: bool) -> SweepSpec:
    """The spec a sweep runs: a new store records ``spec``; a store that holds runs needs ``resume`` and a spec
    equal to its own (None: the store's). A store whose sweep was started but has no finished run yet takes a new
    spec, or resumes its own."""
    stored = store.get_meta("spec")
    if stored is None or not store.count():
        if spec is None and stored is None:
            raise InputError(f"The store {store.path} holds no sweep to resume; give a spec.")
        spec = spec if spec is not None else spec_from_dict(stored, f"the spec stored in {store.path}")
        store.set_meta("spec", spec.to_dict())
        store.set_meta("version", __version__)
        return spec
    if not resume:
        raise InputError(f"The store {store.path} already holds {store.count():,} runs of a sweep; pass --resume to "
                         "continue it, or give another --store.")
    version = store.get_meta("version")
    if version != __version__:
        raise InputError(f"The store {store.path} was written by attngrad {version}, and this is {__version__}: its "
                         "runs would not count as done; give another --store.")
    mine = spec_from_dict(stored, f"the spec stored in {store.path}")
    if spec is not None and spec.to_dict() != mine.to_dict():
        raise InputError(f"The spec differs from the one the store {store.path} was started with; resume without a "
                         "spec (the stored one is used), or give another --store.")
    return mine


class LocalWorkers:
    """``count`` spawned worker processes on this machine (``_run_local``)."""

    def __init__(self, workers: int | None = None) -> None:
        from attngrad.numeric.kernel_support import resolve_workers

        self.count = resolve_workers(workers)
        self.local = True

    def run(self, tasks: list[Task], record: Callable[[RunResult], None]) -> None:
        _run_local(tasks, self.count, record)

    def close(self) -> None:
        pass


class DaskWorkers:
    """The workers of the Dask distributed cluster whose scheduler is at ``address``, connected at once (an
    unreachable scheduler is one sentence before any work)."""

    def __init__(self, address: str, timeout: float = 15.0) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise InputError("--scheduler needs Dask distributed: pip install 'attngrad[cluster]'.") from None
        try:
            self.client = Client(address, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"Cannot reach the Dask scheduler at {address}: {str(exc).splitlines()[0]}") from None
        self.count = len(self.client.nthreads())
        self.local = False

    def run(self, tasks: list[Task], record: Callable[[RunResult], None]) -> None:
        _run_dask(tasks, self.client, record)

    def close(self) -> None:
        self.client.close()


def connect(workers: int | None = None, scheduler: str | None = None) -> LocalWorkers | DaskWorkers:
    """Where a sweep's runs go: local processes (default: one per core), or the Dask cluster at ``scheduler``."""
    return LocalWorkers(workers) if scheduler is None else DaskWorkers(scheduler)


def run_sweep(spec: SweepSpec, store: Store, *, workers: int | None = None, scheduler: str | None = None,
              pool: LocalWorkers | DaskWorkers | None = None, progress: Callable[[int, int, int], None] | None = None,
              retry_failed: bool = False, budget_s: float | None = None) -> SweepSummary:
    """Run every task of ``spec`` not yet in ``store`` (``retry_failed``: failed ones again) and record each as it
    finishes, on ``pool`` (``connect``; default ``connect(workers, scheduler)``, closed at the end).
    ``progress(done, total, failed)`` after each run (``done`` counts the runs that were already in the store).
    Before anything runs, the sweep is refused (InputError) when its local workers would need more memory than
    numeric/resources allows. With ``budget_s``, the sweep is refused when its remaining runs are predicted to take
    longer (``predicted_seconds``): a store that holds finished runs predicts from their times; a new one first
    runs a sample of the tasks (``budget_sample``), recorded like every other run, so a refused sweep loses
    nothing and ``--resume`` continues it."""
    from attngrad.numeric.simulate import memory_parts, refuse_parts

    own = pool is None
    pool = connect(workers, scheduler) if own else pool
    try:
        if retry_failed:
            store.retry_failed()
        done = store.done_keys()
        tasks = [t for t in spec.tasks() if run_key(t.params) not in done]
        summary = SweepSummary(total=spec.n_runs, skipped=spec.n_runs - len(tasks), workers=pool.count)
        if not tasks:
            return summary
        if pool.local:
            for coords in spec.points():  # every local worker may hold the largest run at once
                parts = memory_parts(1, 1, list(spec.modes), spec.settings(coords), 1)
                refuse_parts("The sweep", [(b * pool.count, what) for b, what in parts])
        t0 = time.perf_counter()

        def record(result: RunResult) -> None:
            store.record(result.key, result.params, result.outcome, result.curve)
            summary.ran += 1
            summary.failed += result.outcome["status"] == "failed"
            if result.outcome["status"] != "failed":
                (summary.first_runs if result.first else summary.later_runs).append(result.outcome["seconds"])
            if progress:
                progress(summary.skipped + summary.ran, summary.total, summary.failed)

        if budget_s is not None:
            tasks = _within_budget(tasks, store, pool, record, summary, budget_s)
        pool.run(tasks, record)
        summary.seconds = time.perf_counter() - t0
        return summary
    finally:
        if own:
            pool.close()


def _within_budget(tasks: list[Task], store: Store, pool: LocalWorkers | DaskWorkers,
                   record: Callable[[RunResult], None], summary: SweepSummary, budget_s: float) -> list[Task]:
    """The tasks still to run once the sweep is known to fit ``budget_s`` (else InputError, ``run_sweep``): too few
    finished runs in the store to predict from, and a sample (``budget_sample``) runs and is recorded first; its
    workers' first runs, which load the kernels, are left out of the mean when others are there."""
    known = [r["seconds"] for r in store.rows() if r["status"] != "failed" and r["seconds"] is not None]
    if len(known) < 2 * pool.count:
        sample = budget_sample(tasks, pool.count)
        pool.run(sample, record)
        chosen = {id(t) for t in sample}
        tasks = [t for t in tasks if id(t) not in chosen]
        known = summary.later_runs or summary.first_runs
    predicted = predicted_seconds(known, len(tasks), pool.count)
    if predicted > budget_s:
        from attngrad.numeric.bench import duration

        raise InputError(f"The sweep's {len(tasks):,} remaining runs are predicted to take {duration(predicted)} "
                         f"on {pool.count} worker{'s' if pool.count > 1 else ''} (the mean of {len(known):,} "
                         f"timed runs; every finished run is kept in {store.path}), over the budget of "
                         f"{duration(budget_s)}; raise --budget, or continue it later with --resume.")
    return tasks


def budget_sample(tasks: list[Task], workers: int) -> list[Task]:
    """The runs timed to predict a new sweep's time: 4 per worker, spread evenly over the task list (so over the
    grid's points, kernels and modes), each recorded like any other."""
    k = min(len(tasks), 4 * workers)
    return [tasks[i * len(tasks) // k] for i in range(k)]


def predicted_seconds(run_seconds: list[float], remaining: int, workers: int) -> float:
    """The wall time of ``remaining`` runs on ``workers``: their mean time per run × remaining / workers."""
    if not run_seconds or not remaining:
        return 0.0
    return float(np.mean(run_seconds)) * remaining / workers


def _failed(task: Task, why: str) -> RunResult:
    outcome = {"status": "failed", "error": why, "kernel": task.kernel, "train": ",".join(task.train),
               "seed": task.seed, "point": task.point, "finished_at": time.time()}
    return RunResult(run_key(task.params), task.record_params(), outcome)


def _ignore_sigint() -> None:
    """Worker processes leave Ctrl-C to the sweep's process, which stops them."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_local(tasks: list[Task], workers: int, record: Callable[[RunResult], None]) -> None:
    """``workers`` spawned processes, at most two runs each queued at once. When a worker dies, every run the pool
    held is a suspect: the suspects run again one at a time in a fresh pool, so a run that kills its worker is
    found (and recorded as failed once it has killed one more than RETRIES times) and the others finish."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    queue = list(reversed(tasks))
    suspects: list[Task] = []
    deaths: dict[int, int] = {}

    def suspect(task: Task) -> None:
        deaths[id(task)] = deaths.get(id(task), 0) + 1
        if deaths[id(task)] > RETRIES:
            record(_failed(task, f"its worker process died {deaths[id(task)]} times while running it"))
        else:
            suspects.append(task)

    ctx = multiprocessing.get_context("spawn")
    while queue or suspects:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_ignore_sigint)
        running: dict[Any, Task] = {}
        try:
            while queue or suspects or running:
                if suspects:  # alone, one after the other
                    if not running:
                        task = suspects.pop()
                        running[pool.submit(run_task, task)] = task
                else:
                    while queue and len(running) < 2 * workers:
                        task = queue.pop()
                        running[pool.submit(run_task, task)] = task
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                broken = False
                for fut in finished:
                    task = running.pop(fut)
                    exc = fut.exception()
                    if isinstance(exc, BrokenProcessPool):
                        broken = True
                        suspect(task)
                    elif exc is not None:  # the task or its result could not cross the process boundary
                        record(_failed(task, f"{type(exc).__name__}: {exc}"))
                    else:
                        record(fut.result())
                if broken:  # every run the pool held died with it
                    for task in running.values():
                        suspect(task)
                    running.clear()
                    break
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(tasks: list[Task], client: Any, record: Callable[[RunResult], None]) -> None:
    """The tasks on a Dask cluster (``client``), four per worker thread in flight; a task whose worker died
    (Dask retries it on another first) or that could not run is recorded as failed with the reason."""
    from distributed import as_completed

    threads = max(1, sum(client.nthreads().values()))
    queue = list(reversed(tasks))
    pending = as_completed()
    owner: dict[str, Task] = {}

    def submit() -> None:
        task = queue.pop()
        fut = client.submit(run_task, task, pure=False)
        owner[fut.key] = task
        pending.add(fut)

    for _ in range(min(len(queue), 4 * threads)):
        submit()
    for fut in pending:
        task = owner.pop(fut.key)
        try:
            result = fut.result()
        except Exception as exc:  # noqa: BLE001 - a worker that died (KilledWorker) or a lost connection
            result = _failed(task, f"{type(exc).__name__}: {(str(exc).splitlines() or ['no reason given'])[0]}")
        record(result)
        fut.release()
        if queue:
            submit()


__all__ = ["CERTIFICATE_MARGIN", "DaskWorkers", "LocalWorkers", "RunResult", "SweepSummary", "budget_sample",
           "certificate", "connect", "outcome_of", "predicted_seconds", "prepare", "run_sweep", "run_task"]
