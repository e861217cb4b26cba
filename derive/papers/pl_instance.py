"""The PL-type bounds of docs/mathematics.md §3.1 at one instance: each closed form (from its SymPy derivation in
``pl_bounds``) evaluated next to the same quantity measured by attngrad.numeric (losses, gradients, exact
Jacobians, a GD run).

This is what ``attngrad bounds`` prints under each bound; the command line only renders the rows. A row is a
dict with ``quantity`` and, where they apply, ``numerical`` (measured), ``theoretical`` (from the bound),
``holds`` (True/False when the bound promises it at this instance, None when it does not) and ``note``. When an
assumption of the bound fails at the instance (a step η > 1/L, μ = 0, no step size at all), the row carries
``not_applicable``: the assumption, with the value that breaks it; ``holds`` is then None, so such a bound is
never reported as broken or as held.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from attngrad.derive.derivation import Bound
from attngrad.errors import InputError
from attngrad.numeric import simulate as sim
from attngrad.numeric.one_layer import (attended_inputs, instance_bytes, jacobian, jacobian_bytes, kernel_bytes,
                                        loss_and_grads)

from .pl_bounds import linear_rate, pl_any_subset, pl_wv

RATE_STEPS = 5000  # most GD steps the rate check runs to compare the rate bound with


def instance_numbers(bounds: list[Bound], kernel: str, train: tuple[str, ...], seed: int, settings,
                     epsilon: float) -> dict[str, list[dict[str, Any]]]:
    """Rows for each of ``bounds`` that has numbers (pl/any-subset, pl/W_V, rate/linear, softmax/equal-keys), by id:
    the bound evaluated at the instance ``settings.instance(seed)`` beside the measured quantities; ``epsilon`` is
    the loss the step count of rate/linear aims at. InputError up front when the instance and its Jacobians would
    not fit the memory limit of numeric/resources."""
    from attngrad.numeric.kernel_support import resolve_workers

    z = settings.sizes
    sim.refuse_parts("The numbers at the instance", [
        (3 * instance_bytes(z), "the instance"),
        (resolve_workers(None) * kernel_bytes(z), "its gradients"),
        (max(jacobian_bytes(z, train), jacobian_bytes(z, ("W_V",))), f"a Jacobian of {z.N * z.n * z.dy:,} outputs"),
    ])
    inst = settings.instance(seed)
    s = inst.sizes
    res = loss_and_grads(kernel, inst.X, inst.Y, inst.weights, train)
    f = res.loss
    g2 = float(sum(np.sum(g * g) for g in res.grads.values()))
    ev = np.linalg.eigvalsh((lambda J: J @ J.T)(jacobian(kernel, inst, train)))
    lmin, lmax = max(float(ev[0]), 0.0), float(ev[-1])
    no_eta = ""
    try:
        eta = settings.eta if settings.eta is not None else sim.auto_eta(lmax, s.N)
    except InputError:  # λ_max = 0: there is no 1/L̂; rate/linear says so, the other bounds do not need η
        eta, no_eta = None, f"0 < η ≤ 1/L (no step size was given, and 1/L̂ does not exist: λ_max(JJᵀ) = {lmax:.3g})"
    out: dict[str, list] = {}
    by_id = {b.id: b for b in bounds}
    mu = pl_any_subset().function("mu")(lambda_min=lmin, N=s.N)
    if "pl/any-subset" in by_id:
        out["pl/any-subset"] = [
            {"quantity": "f", "numerical": f},
            {"quantity": "λ_min(JJᵀ), λ_max(JJᵀ)", "numerical": lmin, "theoretical": lmax,
             "note": f"J is {s.N * s.n * s.dy}×{sum(inst.weights[w].size for w in train)}"},
            {"quantity": "½‖∇f‖² ≥ μ·f, μ = λ_min/N", "numerical": 0.5 * g2, "theoretical": mu * f,
             "holds": bool(0.5 * g2 >= mu * f * (1 - 1e-9))},
        ]
    if "pl/W_V" in by_id:
        out["pl/W_V"] = _wv_rows(kernel, inst)
    if "rate/linear" in by_id:
        out["rate/linear"] = _rate_rows(kernel, train, seed, settings, epsilon, f, mu, eta, lmax, s.N, no_eta)
    if "softmax/equal-keys" in by_id:
        out["softmax/equal-keys"] = _equal_keys_rows(inst)
    return out


def failures(bounds: list[Bound], numbers: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The ids of the bounds whose derivation does not verify, then of those that do not hold at the instance."""
    return [b.id for b in bounds if not b.verified] + [k for k, rows in numbers.items()
                                                       if any(r.get("holds") is False for r in rows)]


def _wv_rows(kernel: str, inst) -> list[dict[str, Any]]:
    """pl/W_V: μ and L in closed form from σ(F), σ(W_O) against λ_min, λ_max of the W_V Jacobian's JJᵀ over N."""
    s = inst.sizes
    wv = pl_wv()
    sO = np.linalg.svd(inst.weights["W_O"], compute_uv=False)
    if sO[0] > 0:
        sF = np.linalg.svd(attended_inputs(kernel, inst), compute_uv=False)
        F_note = "F read off the W_V Jacobian" + ("" if s.D >= s.N * s.n else
                                                  f"; D < Nn = {s.N * s.n}: σ_min counts as 0")
    else:  # J = F ⊗ W_Oᵀ = 0 says nothing of F, and with σ(W_O) = 0 the closed forms are 0 whatever F is
        sF, F_note = np.zeros(1), "not measured: W_O = 0, so F cannot be read off the W_V Jacobian (μ = L = 0 anyway)"
    smin_F = float(sF[-1]) if s.D >= s.N * s.n else 0.0
    smin_O = float(sO[-1]) if s.dv >= s.dy else 0.0
    mu_cf = wv.function("mu")(sigma_min_F=smin_F, sigma_min_O=smin_O, N=s.N)
    L_cf = wv.function("L")(sigma_max_F=float(sF[0]), sigma_max_O=float(sO[0]), N=s.N)
    Jv = jacobian(kernel, inst, ("W_V",))
    evv = np.linalg.eigvalsh(Jv @ Jv.T)
    return [
        {"quantity": "σ_min(F), σ_max(F)", "numerical": smin_F if sO[0] > 0 else None,
         "theoretical": float(sF[0]) if sO[0] > 0 else None, "note": F_note},
        {"quantity": "μ: λ_min(JJᵀ)/N vs σ_min(F)²σ_min(W_O)²/N", "numerical": max(float(evv[0]), 0.0) / s.N,
         "theoretical": mu_cf, "holds": bool(np.isclose(max(float(evv[0]), 0.0) / s.N, mu_cf, rtol=1e-6, atol=1e-12 * L_cf))},
        {"quantity": "L: λ_max(JJᵀ)/N vs σ_max(F)²σ_max(W_O)²/N", "numerical": float(evv[-1]) / s.N,
         "theoretical": L_cf, "holds": bool(np.isclose(float(evv[-1]) / s.N, L_cf, rtol=1e-6))},
    ]


def _not_applicable(quantity: str, assumption: str) -> dict[str, Any]:
    return {"quantity": quantity, "holds": None, "not_applicable": assumption, "note": f"not applicable: {assumption}"}


def _rate_rows(kernel: str, train: tuple[str, ...], seed: int, settings, epsilon: float, f: float, mu: float,
               eta: float | None, lmax: float, N: int, no_eta: str = "") -> list[dict[str, Any]]:
    """rate/linear: the rate 1 − ημ and the step count to ε, against a GD run on the instance (a guarantee for W_V
    alone, where μ and L are global; only compared otherwise). Its assumptions are checked first: a step size η
    (``no_eta`` says why there is none), η ≤ 1/L (L̂ = λ_max(JJᵀ)/N: exactly L for W_V alone, an estimate
    otherwise) and μ > 0; when one fails, the step count is "not applicable" and no GD run is made. For ε ≥ f₀ no
    step is needed (the closed form, log(ε/f₀)/log(1 − ημ), would be negative)."""
    lr = linear_rate()
    goal = f"steps to f ≤ {epsilon:g}"
    if eta is None:
        return [_not_applicable(goal, no_eta)]
    L_name = "L" if train == ("W_V",) else "L̂"
    rows = [{"quantity": "η, η·L̂", "numerical": eta, "theoretical": eta * lmax / N,
             "note": "L̂ = λ_max(JJᵀ)/N: exact L for W_V alone, a Gauss–Newton estimate otherwise"}]
    if not eta * lmax / N <= 1 + 1e-9:
        return rows + [_not_applicable(goal, f"η ≤ 1/{L_name} (here η·{L_name} = {eta * lmax / N:.3g})")]
    if not mu > 0:
        return rows + [_not_applicable(goal, "μ > 0 (here λ_min(JJᵀ) = 0 at the start: no linear rate)")]
    rate = lr.function("rate")(eta=eta, mu=mu)
    rows.append({"quantity": "rate 1 − ημ", "numerical": None, "theoretical": rate})
    if epsilon >= f:
        T = 0  # f₀ ≤ ε already
    elif rate <= 0:
        T = 1  # ημ = 1 (μ = L, η = 1/L): f₁ ≤ 0
    elif rate >= 1:  # ημ > 0 is lost in 1 − ημ: more steps than float64 can count
        rows.append({"quantity": goal, "numerical": None, "theoretical": None,
                     "note": f"not run: ημ = {eta * mu:.3g} is below float64's resolution, so the bound needs more "
                             f"than {RATE_STEPS} steps"})
        return rows
    else:
        T = int(lr.function("steps")(eta=eta, mu=mu, f_0=f, epsilon=epsilon))
    S = min(max(T, 1), RATE_STEPS)
    run = sim.simulate([kernel], [train], [seed], replace(settings, steps=S + 1, eta=eta, tol=0.0, window=S + 2,
                                                          lambda_every=10**6))[0]
    exact = train == ("W_V",)
    local = "" if exact else "; μ and L are only local here, so this is not a guarantee"
    if run.last >= S:
        f_S = float(run.losses[S])
        rows.append({"quantity": f"f after {S} GD steps ≤ f₀(1 − ημ)^{S}", "numerical": f_S,
                     "theoretical": f * rate**S, "holds": bool(f_S <= f * rate**S * (1 + 1e-9)) if exact else None,
                     "note": "GD run on this instance" + local})
    hit = run.steps_to(epsilon)
    rows.append({"quantity": f"steps to f ≤ {epsilon:g}", "numerical": hit, "theoretical": T,
                 "holds": bool(hit is not None and hit <= T) if exact and T <= RATE_STEPS else None,
                 "note": (f"not run: the bound needs more than {RATE_STEPS} steps" if T > RATE_STEPS
                          else "GD run on this instance") + local})
    return rows


def _equal_keys_rows(inst) -> list[dict[str, Any]]:
    """softmax/equal-keys: ‖∇_{W_Q} f‖ at W_K = 0 is zero for softmax; the Gaussian kernel shown for contrast."""
    flat = dict(inst.weights, W_K=np.zeros_like(inst.weights["W_K"]))
    rows = []
    for k in ("softmax", "gaussian"):
        r = loss_and_grads(k, inst.X, inst.Y, flat, ("W_Q",))
        norm = float(np.linalg.norm(r.grads["W_Q"]))
        rows.append({"quantity": f"‖∇_W_Q f‖ at W_K = 0, {k}", "numerical": norm, "theoretical": 0.0 if k == "softmax" else None,
                     "holds": bool(norm <= 1e-12 * max(1.0, r.loss)) if k == "softmax" else None,
                     "note": f"f = {r.loss:.4g}" + ("" if k == "softmax" else " (no such identity for the Gaussian kernel)")})
    return rows
