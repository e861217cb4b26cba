"""`attngrad bench simulate`: the GD simulation of docs/mathematics.md §3 timed, against the same GD loop in PyTorch.

Measured in the same run, each part in a process of its own (no library's idle threads spin on the cores
while another part is timed):

- ours, an experiment (``paper`` by default) as configured, with its stop rules; with every step taken (stop
  rules off); and with every step but the exact Jacobians (λ_min(JJᵀ) every ``lambda_every`` steps) left out,
  which is GD alone, the work the PyTorch loop does: the first call (JIT compilation or cache load) is reported
  apart, then ``repeats`` timed runs; the time per instance-step is the wall time over the instance-steps taken;
- ours, one instance on one thread, per kernel and training mode: time per GD step;
- torch-autograd (``peers`` extra): the same GD loop written in PyTorch (samples batched, float64, autograd),
  on the same instance with the same step size, first checked against our loss sequence, then timed per step
  with every thread and with one.

``run_simulate`` returns records: each per-step row carries its PyTorch timings as a list ``torch`` of
``{"threads", "step_s", "verified_rel_err"}``. ``as_json`` writes them as the JSON of ``attngrad bench simulate
--json``, where each timing is a field ``torch_<threads>_threads_s`` (named by ``torch_key``, here only).
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any, Callable

import numpy as np

from attngrad.errors import InputError
from attngrad.numeric.bench import machine_info, run_in_child

VERIFY_STEPS = 20
VERIFY_RTOL = 1e-9


def _instance_and_eta(experiment: str, kernel: str, mode: tuple[str, ...], seed: int = 0):
    from attngrad.numeric import simulate as sim

    settings = sim.EXPERIMENTS[experiment]["settings"]
    run = sim.simulate([kernel], [mode], [seed], sim.replace(settings, steps=1))[0]
    return settings.instance(seed), run.eta


def _experiment_child(experiment: str, every_step: bool, repeats: int, threads: int, jacobians: bool = True) -> dict[str, Any]:
    from attngrad.numeric import simulate as sim

    exp = sim.EXPERIMENTS[experiment]
    settings = exp["settings"]
    if every_step:
        settings = sim.replace(settings, tol=0.0, window=settings.steps + 1, divergence=1e300)
    if not jacobians:  # GD alone: the exact Jacobian only at the start (for the step size)
        settings = sim.replace(settings, lambda_every=settings.steps)

    def call(s=settings):
        t0 = time.perf_counter()
        runs = sim.simulate(exp["kernels"], exp["modes"], exp["seeds"], s, workers=threads)
        return time.perf_counter() - t0, sum(r.last + 1 for r in runs)

    first, _ = call(sim.replace(settings, steps=2))
    times, steps = [], 0
    for _ in range(repeats):
        seconds, steps = call()
        times.append(seconds)
    return {"first_call_s": first, "times_s": times, "instance_steps": steps,
            "runs": len(exp["kernels"]) * len(exp["modes"]) * len(exp["seeds"]), "steps": settings.steps}


def _ours_step_child(experiment: str, kernel: str, mode: list[str], steps: int, repeats: int) -> dict[str, Any]:
    from attngrad.numeric.one_layer import training_kernel

    inst, eta = _instance_and_eta(experiment, kernel, tuple(mode))
    mb = training_kernel(kernel, tuple(mode))
    losses, gsq = np.zeros(steps), np.zeros(steps)

    def call() -> None:
        arrays = mb.arrays(inst.copy())
        mb.module.descend_serial(*arrays, mb.mask, eta, 0, steps, 0.0, steps + 1, -1.0, 1e300, losses, gsq,
                                 mb.module.BLOCK)

    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) / steps)
    return {"first_call_s": first, "step_s": times, "losses": losses[:VERIFY_STEPS].tolist()}


def _torch_step_child(experiment: str, kernel: str, mode: list[str], steps: int, repeats: int,
                      threads: int) -> dict[str, Any]:
    from attngrad.numeric.peers import torch_gd

    inst, eta = _instance_and_eta(experiment, kernel, tuple(mode))
    build = lambda: torch_gd(kernel, tuple(mode), inst.X, inst.Y, inst.weights, eta, threads)  # noqa: E731
    t0 = time.perf_counter()
    check = build()(VERIFY_STEPS)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        run = build()
        t0 = time.perf_counter()
        run(steps)
        times.append((time.perf_counter() - t0) / steps)
    return {"first_call_s": first, "step_s": times, "losses": check.tolist()}


def _stats(xs: list[float]) -> dict[str, float]:
    return {"median": float(np.median(xs)), "min": float(min(xs)), "max": float(max(xs))}


def run_simulate(experiment: str = "paper", *, repeats: int = 3, steps: int = 200, threads: int | None = None,
                 peers: bool = True, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """See the module docstring. ``steps``: GD steps per timed call of the per-step measurements."""
    from attngrad.numeric import simulate as sim
    from attngrad.numeric.kernel_support import resolve_threads
    from attngrad.numeric.peers import INSTALL

    threads = resolve_threads(threads)
    if experiment not in sim.EXPERIMENTS:
        raise InputError(f"Unknown experiment '{experiment}'; use one of {', '.join(sim.EXPERIMENTS)}.")
    for name, value in (("--repeats", repeats), ("--steps", steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}.")
    exp = sim.EXPERIMENTS[experiment]
    out: dict[str, Any] = {"machine": machine_info(threads), "experiment": experiment, "threads": threads,
                           "repeats": repeats, "steps_per_call": steps, "experiment_runs": [], "per_step": [],
                           "notes": []}
    for every, jac in ((False, True), (True, True), (True, False)):
        if progress:
            progress(f"{experiment}{', every step' if every else ''}{'' if jac else ', GD alone'}")
        r = run_in_child("_experiment_child", [experiment, every, repeats, threads, jac], module="attngrad.numeric.bench_sim")
        r.update(every_step=every, jacobians=jac, seconds=_stats(r["times_s"]),
                 per_instance_step_s=float(np.median(r["times_s"])) / r["instance_steps"])
        out["experiment_runs"].append(r)
    have_torch = peers and importlib.util.find_spec("torch") is not None
    out["torch_threads"] = sorted({threads, 1}, reverse=True) if have_torch else []
    torch_threads = out["torch_threads"]
    if peers and not have_torch:
        out["notes"].append(f"PyTorch is not installed, so the PyTorch GD loop was not measured; {INSTALL}.")
    for kernel in exp["kernels"]:
        for mode in exp["modes"]:
            label = f"{kernel} {','.join(mode)}"
            if progress:
                progress(f"per step: {label}")
            ours = run_in_child("_ours_step_child", [experiment, kernel, list(mode), steps, repeats],
                          module="attngrad.numeric.bench_sim")
            row = {"kernel": kernel, "train": ",".join(mode), "ours_1_thread_s": _stats(ours["step_s"]),
                   "ours_first_call_s": ours["first_call_s"], "torch": []}
            if have_torch:
                for t in torch_threads:
                    peer = run_in_child("_torch_step_child", [experiment, kernel, list(mode), steps, repeats, t],
                                  module="attngrad.numeric.bench_sim")
                    a, b = np.array(peer["losses"]), np.array(ours["losses"])
                    row["torch"].append({"threads": t, "step_s": _stats(peer["step_s"]),
                                         "verified_rel_err": float(np.max(np.abs(a - b) / np.abs(b)))})
                row["torch_verified_rel_err"] = row["torch"][-1]["verified_rel_err"]  # the last setting's (1 thread)
            out["per_step"].append(row)
    full, bare = (out["experiment_runs"][k]["per_instance_step_s"] for k in (1, 2))
    if have_torch:
        torch_best = [min(x["step_s"]["median"] for x in r["torch"]) for r in out["per_step"]]
        torch_1 = [next(x["step_s"]["median"] for x in r["torch"] if x["threads"] == 1) for r in out["per_step"]]
        ours_1 = [r["ours_1_thread_s"]["median"] for r in out["per_step"]]
        out["ratios"] = {
            "torch_step_over_ours_instance_step": float(np.mean(torch_best)) / full,
            "torch_step_over_ours_gd_instance_step": float(np.mean(torch_best)) / bare,
            "torch_1_thread_over_ours_1_thread": float(np.mean(torch_1)) / float(np.mean(ours_1)),
            "verified": all(r["torch_verified_rel_err"] <= VERIFY_RTOL for r in out["per_step"]),
        }
    return out


def torch_key(threads: int) -> str:
    """The JSON field of a PyTorch per-step timing with ``threads`` threads."""
    return f"torch_{threads}_threads_s"


def as_json(out: dict[str, Any]) -> dict[str, Any]:
    """``run_simulate``'s result as ``attngrad bench simulate --json`` prints it: each per-step row's ``torch``
    records become fields ``torch_<threads>_threads_s`` (the step-time statistics), and the thread list goes."""
    rows = []
    for r in out["per_step"]:
        row = {k: v for k, v in r.items() if k != "torch"}
        row.update((torch_key(x["threads"]), x["step_s"]) for x in r["torch"])
        if "torch_verified_rel_err" in row:
            row["torch_verified_rel_err"] = row.pop("torch_verified_rel_err")  # after the timings
        rows.append(row)
    return {**{k: v for k, v in out.items() if k != "torch_threads"}, "per_step": rows}
