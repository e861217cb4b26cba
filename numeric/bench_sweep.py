"""`attngrad bench sweep`: the wall time of one fixed sweep on 1, 2, … workers, on a Dask ``LocalCluster`` and on
the local worker processes, and the speed-up over one worker (issue 14's target: 2 Dask workers ≥ 1.8× one).

Each timed sweep writes a fresh store in a temporary folder. The Dask workers are processes with one thread each,
started and warmed (each has run one run of every kernel and training mode, so its Numba modules are loaded)
before the clock starts, as an existing cluster would be. The local workers are started by the sweep itself, as
`attngrad sweep run` does, so their start and first loading count. The outcomes of every timed sweep must agree
run for run.
"""

from __future__ import annotations

import logging
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from attngrad.errors import InputError
from attngrad.numeric.bench_sim import _stats
from attngrad.numeric.store import open_store
from attngrad.numeric.sweep import DaskWorkers, prepare, run_sweep, run_task
from attngrad.numeric.sweep_spec import SweepSpec, spec_from_dict

#: the sweep timed when none is given: 2 kernels × 2 trained weights × 2 W_V scales × 16 seeds, default sizes
DEFAULT_SWEEP = {"name": "bench", "kernels": ["softmax", "gaussian"], "modes": ["W_V", "W_Q"], "seeds": 16,
                 "grid": {"scale.W_V": [1, 4]}}
BACKENDS = ("dask", "local")
#: what must agree between timed sweeps, run for run
AGREE = ("status", "steps_run", "final_loss")


def default_spec() -> SweepSpec:
    return spec_from_dict(DEFAULT_SWEEP, "the default benchmark sweep")


def _timed(spec: SweepSpec, folder: Path, label: str, **pool: Any) -> tuple[float, dict[str, tuple]]:
    """One sweep of ``spec`` into a fresh store: its wall seconds and each run's ``AGREE`` fields, by (point,
    kernel, train, seed)."""
    path = folder / f"{label}.sqlite"
    with open_store(path) as store:
        prepare(spec, store, resume=False)
        t0 = time.perf_counter()
        summary = run_sweep(spec, store, **pool)
        seconds = time.perf_counter() - t0
        if summary.failed:
            raise InputError(f"{summary.failed} runs of the benchmark sweep failed ({label}); "
                             "`attngrad sweep run` with the same spec shows why.")
        outcomes = {(r["point"], r["kernel"], r["train"], r["seed"]): tuple(r[k] for k in AGREE) for r in store.rows()}
    path.unlink()
    return seconds, outcomes


def check_backends(backends: list[str]) -> None:
    """InputError for an unknown backend, or for dask without Dask distributed (before any work)."""
    for b in backends:
        if b not in BACKENDS:
            raise InputError(f"Unknown backend {b!r}: choose from {', '.join(BACKENDS)}.")
    if "dask" in backends:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise InputError("The dask backend needs Dask distributed: pip install 'attngrad[cluster]' (or time "
                             "--backend local only).") from None


def run_sweep_bench(spec: SweepSpec, workers: list[int], backends: list[str], repeats: int = 3,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Time ``spec`` ``repeats`` times per backend and worker count (alternating the worker counts in each
    repeat). Returns the rows (seconds median/min/max, runs per second), the speed-up of each count over the
    smallest, and whether every timed sweep gave the same outcomes."""
    from attngrad.numeric.bench import machine_info

    check_backends(backends)
    logging.getLogger("distributed").setLevel(logging.ERROR)  # the LocalCluster's scheduler lives in this process
    if repeats < 1 or not workers or min(workers) < 1:
        raise InputError("--repeats and every --workers count must be at least 1.")
    times: dict[tuple[str, int], list[float]] = {(b, w): [] for b in backends for w in workers}
    first: dict[tuple[str, int], float] = {}
    reference: dict[str, tuple] | None = None
    agree = True
    with tempfile.TemporaryDirectory(prefix="attngrad-bench-sweep-") as tmp:
        folder = Path(tmp)
        for backend in backends:
            for r in range(repeats):
                for w in workers:
                    if progress:
                        progress(f"{backend}, {w} worker{'s' if w > 1 else ''}, repeat {r + 1}/{repeats}")
                    if backend == "dask":
                        with _warm_cluster(w, spec) as (pool, warm_s):
                            seconds, outcomes = _timed(spec, folder, f"dask-{w}-{r}", pool=pool)
                        first[(backend, w)] = max(first.get((backend, w), 0.0), warm_s)
                    else:
                        seconds, outcomes = _timed(spec, folder, f"local-{w}-{r}", workers=w)
                    times[(backend, w)].append(seconds)
                    reference = outcomes if reference is None else reference
                    agree = agree and outcomes == reference
    rows = []
    for (backend, w), xs in times.items():
        st = _stats(xs)
        rows.append({"backend": backend, "workers": w, "seconds": st, "times_s": xs, "runs": spec.n_runs,
                     "runs_per_s": spec.n_runs / st["median"], "first_run_s": first.get((backend, w))})
    base = min(workers)
    speedups = {b: {w: float(np.median(times[(b, base)]) / np.median(times[(b, w)])) for w in workers if w != base}
                for b in backends}
    return {"machine": machine_info(max(workers)), "spec": spec.to_dict(), "runs": spec.n_runs, "repeats": repeats,
            "base_workers": base, "rows": rows, "speedups": speedups, "outcomes_agree": agree}


@contextmanager
def _warm_cluster(workers: int, spec: SweepSpec) -> Iterator[tuple[DaskWorkers, float]]:
    """A LocalCluster of ``workers`` one-thread processes, each warmed by one run of each kernel and training mode
    of the sweep (its Numba modules loaded); yields
    the sweep's pool on it and the warm-up's seconds. One cluster at a time: a second cluster beside the first
    slowed the first one's runs several times over."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        warm = {}
        for task in spec.tasks():  # one run of each kernel and training mode: every module the sweep loads
            warm.setdefault((task.kernel, task.train), task)
        t0 = time.perf_counter()
        client.gather([client.submit(run_task, task, pure=False, workers=[name])
                       for name in client.scheduler_info()["workers"] for task in warm.values()])
        warm_s = time.perf_counter() - t0
        pool = DaskWorkers(cluster.scheduler_address)
        try:
            yield pool, warm_s
        finally:
            pool.close()


__all__ = ["BACKENDS", "DEFAULT_SWEEP", "check_backends", "default_spec", "run_sweep_bench"]
