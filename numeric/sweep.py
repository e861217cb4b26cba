"""Running a sweep (numeric/sweep_spec.py): each run is `attngrad simulate`'s GD run with its stop rules, in local
worker processes or on a Dask distributed cluster, its outcome written to the store (numeric/store.py) the moment
it finishes.

Only the calling process writes the store, one transaction per run; workers return outcomes. A run that raises is
recorded as failed with its reason. A worker process that dies takes the runs it held with it: they go back in
the queue once, and a run whose worker died twice is recorded as failed. Runs already in the store are skipped,
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

from attngrad.errors import InputError
from attngrad.numeric.store import Store, now, run_key
from attngrad.numeric.sweep_spec import SweepSpec, Task, settings_of

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
                   seconds=time.perf_counter() - t0, worker=worker, finished_at=now())
    return RunResult(run_key(task.params), task.record_params(), outcome, curve, first)


def outcome_of(run: Any, target: float, start: Any) -> dict[str, Any]:
    """A finished run's row (numeric/store.COLUMNS): its outcome, the quantities at initialisation and those
    measured along the path. ``start`` is the run's instance before the first step."""
    s = run.summary(target)
    mus = run.mu()
    moved = [np.asarray(run.instance.weights[w], float) - np.asarray(start.weights[w], float) for w in run.train]
    first = run.checkpoints[0] if run.checkpoints else None
    return {
        "status": run.outcome(target), "stop": run.status, "steps": s["steps"], "steps_to_target": s["steps_to_target"],
        "eta": s["eta"], "f0": s["f0"], "final_loss": s["final_loss"], "fitted_rate": s["fitted_rate"],
        "pl_ratio_first": s["pl_ratio_first"], "pl_ratio_last": s["pl_ratio_last"],
        "mu0": first["lambda_min"] / run.sizes_N if first else None,
        "lambda_max0": first["lambda_max"] / run.sizes_N if first else None,
        "mu_path_min": min(m for _, m in mus) if mus else None,
        "distance": float(math.sqrt(sum(float(np.sum(d * d)) for d in moved))),
    }


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
    equal to its own (None: the store's)."""
    stored = store.get_meta("spec")
    if stored is None or not store.count():
        if spec is None:
            raise InputError(f"The store {store.path} holds no sweep to resume; give a spec.")
        store.set_meta("spec", spec.to_dict())
        return spec
    if not resume:
        raise InputError(f"The store {store.path} already holds {store.count():,} runs of a sweep; pass --resume to "
                         "continue it, or give another --store.")
    from attngrad.numeric.sweep_spec import spec_from_dict

    mine = spec_from_dict(stored, f"the spec stored in {store.path}")
    if spec is not None and spec.to_dict() != mine.to_dict():
        raise InputError(f"The spec differs from the one the store {store.path} was started with; resume without a "
                         "spec (the stored one is used), or give another --store.")
    return mine


def run_sweep(spec: SweepSpec, store: Store, *, workers: int | None = None, scheduler: str | None = None,
              progress: Callable[[int, int, int], None] | None = None, retry_failed: bool = False) -> SweepSummary:
    """Run every task of ``spec`` not yet in ``store`` (``retry_failed``: failed ones again) and record each as it
    finishes. ``workers``: local processes (default: all cores); ``scheduler``: the address of a Dask distributed
    scheduler, which runs the tasks instead. ``progress(done, total, failed)`` after each run (``done`` counts the
    runs that were already in the store)."""
    from attngrad.numeric.kernel_support import resolve_workers
    from attngrad.numeric.simulate import memory_parts, refuse_parts

    if retry_failed:
        store.retry_failed()
    done = store.done_keys()
    tasks = [t for t in spec.tasks() if run_key(t.params) not in done]
    summary = SweepSummary(total=spec.n_runs, skipped=spec.n_runs - len(tasks))
    if not tasks:
        return summary
    count = resolve_workers(workers) if scheduler is None else 1
    for coords in spec.points():  # every local worker may hold the largest run at once
        settings = spec.settings(coords)
        refuse_parts("The sweep", [(b * count, what) for b, what in memory_parts(1, 1, list(spec.modes), settings, 1)])
    t0 = time.perf_counter()

    def record(result: RunResult) -> None:
        store.record(result.key, result.params, result.outcome, result.curve)
        summary.ran += 1
        summary.failed += result.outcome["status"] == "failed"
        if result.outcome["status"] != "failed":
            (summary.first_runs if result.first else summary.later_runs).append(result.outcome["seconds"])
        if progress:
            progress(summary.skipped + summary.ran, summary.total, summary.failed)

    if scheduler is None:
        summary.workers = count
        _run_local(tasks, count, record)
    else:
        summary.workers = _run_dask(tasks, scheduler, record)
    summary.seconds = time.perf_counter() - t0
    return summary


def _failed(task: Task, why: str) -> RunResult:
    outcome = {"status": "failed", "error": why, "kernel": task.kernel, "train": ",".join(task.train),
               "seed": task.seed, "point": task.point, "finished_at": now()}
    return RunResult(run_key(task.params), task.record_params(), outcome)


def _ignore_sigint() -> None:
    """Worker processes leave Ctrl-C to the sweep's process, which stops them."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_local(tasks: list[Task], workers: int, record: Callable[[RunResult], None]) -> None:
    """``workers`` spawned processes, at most two runs each queued at once."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    queue = list(reversed(tasks))
    deaths: dict[int, int] = {}

    def again(task: Task) -> None:
        """Back in the queue, or failed when its worker died more than RETRIES times."""
        deaths[id(task)] = deaths.get(id(task), 0) + 1
        if deaths[id(task)] > RETRIES:
            record(_failed(task, f"its worker process died {deaths[id(task)]} times while running it"))
        else:
            queue.append(task)

    ctx = multiprocessing.get_context("spawn")
    while queue:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_ignore_sigint)
        running: dict[Any, Task] = {}
        try:
            while queue or running:
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
                        again(task)
                    elif exc is not None:  # the task or its result could not cross the process boundary
                        record(_failed(task, f"{type(exc).__name__}: {exc}"))
                    else:
                        record(fut.result())
                if broken:  # every run the pool held died with it
                    for task in running.values():
                        again(task)
                    running.clear()
                    break
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(tasks: list[Task], scheduler: str, record: Callable[[RunResult], None]) -> int:
    """The tasks on the Dask cluster at ``scheduler``, a few per worker thread in flight; the number of workers."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise InputError("--scheduler needs Dask distributed: pip install 'attngrad[cluster]'.") from None
    try:
        client = Client(scheduler, timeout=15)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"Cannot reach the Dask scheduler at {scheduler}: {str(exc).splitlines()[0]}") from None
    try:
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
                record(fut.result())
            except Exception as exc:  # noqa: BLE001 - a worker that died (KilledWorker) or a lost connection
                record(_failed(task, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no reason given'}"))
            fut.release()
            if queue:
                submit()
        return len(client.nthreads())
    finally:
        client.close()


__all__ = ["RunResult", "SweepSummary", "outcome_of", "prepare", "run_sweep", "run_task"]
