"""`attngrad simulate | landscape | bounds`: one attention layer trained by GD (papers.md §3).

Click only: options are parsed here, the work is done by attngrad.numeric (simulations, landscapes) and
attngrad.derive (bounds); imports stay inside the commands so that ``attngrad --help`` loads neither.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable

import click

from attngrad.cli.plot import check_plot_path
from attngrad.errors import InputError

KERNEL_NAMES = ("softmax", "gaussian", "gaussian-normalised")
RATE_STEPS = 5000  # most GD steps bounds runs to compare the rate bound with


def _table(rows: list[list[str]], headers: list[str]) -> str:
    from attngrad.cli.main import _table as table

    return table(rows, headers)


def _g(x: Any, fmt: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return format(x, fmt) if isinstance(x, (int, float)) else str(x)


def parse_seeds(text: str | None) -> list[int] | None:
    """'0-7', '0,3,5' or '2' → seeds."""
    if text is None:
        return None
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise InputError(f"--seeds must look like '0-7' or '0,3,5', got '{text}'.") from None
    if not out or min(out) < 0:
        raise InputError(f"--seeds must be non-negative integers, got '{text}'.")
    return out


def parse_scales(items: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    out = []
    for item in items:
        name, _, value = item.partition("=")
        try:
            out.append((name.strip(), float(value)))
        except ValueError:
            raise InputError(f"--init-scale must look like W_Q=0.5, got '{item}'.") from None
    return tuple(out)


def sizes_options(fn: Callable) -> Callable:
    for name, help_ in reversed((("N", "samples"), ("n", "tokens per sample"), ("D", "embedding dimension"),
                                 ("d", "query/key dimension"), ("dv", "value dimension"), ("dy", "output dimension"))):
        fn = click.option(f"--{name}", f"size_{name}", type=int, help=f"{help_} (default: the experiment's).")(fn)
    return fn


def instance_options(fn: Callable) -> Callable:
    opts = [
        click.option("--embedding", type=click.Choice(["orthogonal", "gaussian"]), help="Token embeddings X."),
        click.option("--targets", type=click.Choice(["random", "outside-hull"]), help="Targets Y."),
        click.option("--init-scale", "init_scales", multiple=True, help="Initial entry scale of a weight, e.g. W_Q=0.5."),
        click.option("--tie-qk/--no-tie-qk", default=None, help="Start W_K equal to W_Q."),
        click.option("--data", "data_path", type=click.Path(dir_okay=False),
                     help="An .npz with X (N×n×D) and Y (N×n×d_y), optionally W_Q, W_K, W_V, W_O: your own instance."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return sizes_options(fn)


def build_settings(base, steps=None, eta=None, tol=None, target=None, window=None, divergence=None, lambda_every=None,
                   sizes: dict[str, int | None] | None = None, embedding=None, targets=None, init_scales=(), tie_qk=None,
                   data_path=None):
    """The experiment's settings with every option that was given replacing its value."""
    from dataclasses import replace

    from attngrad.numeric.one_layer import Sizes, load_data

    changes: dict[str, Any] = {k: v for k, v in dict(steps=steps, eta=eta, tol=tol, target=target, window=window,
                                                      divergence=divergence, lambda_every=lambda_every,
                                                      embedding=embedding, targets=targets, tie_qk=tie_qk).items()
                               if v is not None}
    given = {k: v for k, v in (sizes or {}).items() if v is not None}
    if data_path:
        data = load_data(data_path)
        changes["data"] = data
        fixed = data.sizes
        clash = {k: v for k, v in given.items() if k in fixed and fixed[k] != v}
        if clash:
            k, v = next(iter(clash.items()))
            raise InputError(f"--{k} {v} does not match the data in {data_path}, where {k} = {fixed[k]}.")
        given = {**given, **fixed}
    if given:
        changes["sizes"] = Sizes(**{**vars(base.sizes), **given})
    if init_scales:
        changes["scales"] = tuple(dict(base.scales).items()) + parse_scales(init_scales)
    return replace(base, **changes)


class _Progress:
    """A progress bar on stderr (when it is a terminal) fed with (done, total)."""

    def __init__(self, label: str, length: int):
        from attngrad.cli.main import progressbar

        self.bar = progressbar(length, label)
        self.done = 0

    def __enter__(self) -> "_Progress":
        self.bar.__enter__()
        return self

    def __call__(self, done: int, total: int) -> None:
        self.bar.update(done - self.done)
        self.done = done

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)


def _write(path: Path, write: Callable[[Any], None]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            write(fh)
    except OSError as exc:
        raise InputError(f"Cannot write {path}: {exc.strerror or exc}.") from None


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    def write(fh) -> None:
        if not rows:
            return
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    _write(path, write)


def write_json(path: Path, obj: Any) -> None:
    _write(path, lambda fh: json.dump(obj, fh, indent=1, default=_json_default, ensure_ascii=False))


def _json_default(x: Any) -> Any:
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


# simulate -------------------------------------------------------------------------------------------------
@click.command()
@click.argument("experiment", required=False, default="paper")
@click.option("--kernel", "kernels", multiple=True, type=click.Choice(KERNEL_NAMES), help="Kernel (repeat for several).")
@click.option("--train", "modes", multiple=True, help="Trained weights, e.g. W_V or W_Q,W_K,W_V (repeat for several modes).")
@click.option("--seeds", help="Seeds, e.g. '0-7' or '0,3'.")
@click.option("--steps", type=int, help="GD steps per run.")
@click.option("--eta", type=float, help="Step size (default: 1/L̂, L̂ = λ_max(J₀J₀ᵀ)/N; exactly 1/L for W_V alone).")
@click.option("--tol", type=float, help="Stop a run when the loss falls below this.")
@click.option("--target", type=float, help="Report the first step with loss below this.")
@click.option("--window", type=int, help="Plateau: stop when the loss fell by at most --plateau-rtol over this many steps.")
@click.option("--divergence", type=float, help="Stop a run when the loss exceeds this many times its start.")
@click.option("--lambda-every", type=int, help="Steps between exact Jacobians (λ_min(JJᵀ), the PL check).")
@instance_options
@click.option("--threads", type=int, help="Runs side by side (default: all cores).")
@click.option("--out", help="Write PREFIX.csv (every step of every run) and PREFIX.json (settings, runs, the story).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Loss and PL-ratio curves to this PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
def simulate(experiment: str, kernels: tuple[str, ...], modes: tuple[str, ...], seeds: str | None, steps, eta, tol,
             target, window, divergence, lambda_every, size_N, size_n, size_D, size_d, size_dv, size_dy, embedding,
             targets, init_scales, tie_qk, data_path, threads, out, plot_path, as_json) -> None:
    """Run an experiment (paper, outside-hull) or a custom grid: GD on one attention layer.

    Every run records the loss, the gradient norm and the PL ratio ½‖∇f‖²/f at each step, and λ_min(JJᵀ) of
    the exact Jacobian every --lambda-every steps, where ½‖∇f‖² ≥ (λ_min/N)·f is checked. Exit 1 when that
    check fails, or when a W_V-only run decreases less than the bound 1 − ημ at some step.
    """
    from attngrad.numeric import simulate as sim
    from attngrad.numeric.kernel_support import check_threads

    check_threads(threads)
    if experiment not in sim.EXPERIMENTS:
        raise InputError(f"Unknown experiment '{experiment}'; use one of {', '.join(sim.EXPERIMENTS)}.")
    check_plot_path(plot_path)
    exp = sim.EXPERIMENTS[experiment]
    sizes = dict(N=size_N, n=size_n, D=size_D, d=size_d, dv=size_dv, dy=size_dy)
    settings = build_settings(exp["settings"], steps, eta, tol, target, window, divergence, lambda_every, sizes,
                              embedding, targets, init_scales, tie_qk, data_path)
    from attngrad.numeric.one_layer import check_train

    mode_list = [check_train(m) for m in modes] if modes else exp["modes"]
    seed_list = parse_seeds(seeds) or exp["seeds"]
    with _Progress("simulate", settings.steps) as progress:
        runs = sim.simulate(list(kernels) or exp["kernels"], mode_list, seed_list, settings, threads=threads,
                            progress=progress)
    summaries = [r.summary(settings.target) for r in runs]
    story = sim.story(runs, settings.target)
    report = {"experiment": experiment, "settings": sim.settings_dict(settings), "runs": summaries, "story": story}
    if out:
        write_rows(Path(out + ".csv"), sim.rows(runs))
        write_json(Path(out + ".json"), report)
    if plot_path:
        from attngrad.cli.plot import simulate_plot

        simulate_plot(runs, plot_path)
    bad = [s for s in summaries if s["pl_holds"] < s["pl_checks"]
           or (s["rate"].get("exact") and s["rate"]["held"] < s["rate"]["checked"])]
    if as_json:
        click.echo(json.dumps(report, indent=1, default=_json_default, ensure_ascii=False))
    else:
        _print_simulation(summaries, story, settings, bad)
    sys.exit(1 if bad else 0)


def _print_simulation(summaries, story, settings, bad) -> None:
    rows = []
    for s in summaries:
        rate = s["rate"]
        bound = f"{rate['held']}/{rate['checked']}" + ("" if rate.get("exact") else " (at λ steps)")
        status = s["status"] + (f" @{s['steps'] - 1}" if s["status"] in ("converged", "plateau", "diverged") else "")
        rows.append([s["kernel"], s["train"], str(s["seed"]), status, _g(s["f0"]), _g(s["final_loss"]),
                     _g(s["steps_to_target"]), f"{_g(s['pl_ratio_first'], '.2g')} → {_g(s['pl_ratio_last'], '.2g')}",
                     _g(s["mu_min"], ".2g"), _g(s["eta"]), _g(s["predicted_rate"], ".4g"), _g(s["fitted_rate"], ".4g"),
                     f"{s['pl_holds']}/{s['pl_checks']}", bound])
    click.echo(_table(rows, ["kernel", "train", "seed", "status", "f0", "final f", f"steps to {settings.target:g}",
                             "PL ratio", "μ_min", "η", "1 − ημ", "fitted rate", "PL checks", "f⁺ ≤ (1−ημ)f"]))
    click.echo("")
    rows = []
    for mode, by_kernel in story.items():
        for kernel, e in by_kernel.items():
            hit = "—" if e["steps_to_target_median"] is None else \
                f"{e['steps_to_target_median']:g} ({e['steps_to_target_range'][0]}–{e['steps_to_target_range'][1]})"
            rows.append([mode, kernel, str(e["runs"]), f"{e['reached_target']:.0%}", f"{e['stalled']:.0%}",
                         f"{e['diverged']:.0%}", hit, _g(e["fitted_rate_median"], ".4g"),
                         _g(e["predicted_rate_median"], ".4g"), f"{e['bound_steps_held']}/{e['bound_steps_checked']}",
                         f"{e['pl_holds']}/{e['pl_checks']}"])
    click.echo(_table(rows, ["train", "kernel", "runs", f"reach {settings.target:g}", "stall", "diverge",
                             "steps to target: median (range)", "fitted rate", "1 − ημ_min", "bound held", "PL held"]))
    for s in summaries:
        for note in s["notes"]:
            click.echo(f"note: {s['kernel']}/{s['train']}/seed {s['seed']}: {note}")
    if bad:
        click.echo(f"{len(bad)} run(s) broke a bound they are subject to; see the PL checks and f⁺ ≤ (1−ημ)f columns.")


# landscape -------------------------------------------------------------------------------------------------
@click.command()
@click.option("--kernel", "kernels", multiple=True, type=click.Choice(KERNEL_NAMES),
              help="Kernel (repeat for several; default softmax and gaussian).")
@click.option("--train", "mode", default="W_Q,W_K,W_V", show_default=True, help="Trained weights (the slice moves these).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--steps", default=2000, show_default=True, type=int, help="GD steps to the trained point.")
@click.option("--points", default=41, show_default=True, type=int, help="Grid points per side.")
@click.option("--span", default=1.0, show_default=True, type=float, help="The grid covers [−span, span]² (filter-normalised).")
@instance_options
@click.option("--threads", type=int)
@click.option("--out", help="Write PREFIX.json (grids, minima) and PREFIX-KERNEL.csv (α, β, f).")
@click.option("--plot", "plot_prefix", help="Write PLOT-KERNEL.png: contour and surface, one file per kernel.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
def landscape(kernels, mode, seed, steps, points, span, size_N, size_n, size_D, size_d, size_dv, size_dy, embedding,
              targets, init_scales, tie_qk, data_path, threads, out, plot_prefix, as_json) -> None:
    """Train, then slice f along two filter-normalised random directions and count the grid's local minima."""
    from attngrad.numeric import simulate as sim
    from attngrad.numeric.kernel_support import check_threads
    from attngrad.numeric.landscape import landscape as slice_
    from attngrad.numeric.one_layer import check_train

    check_threads(threads)
    if seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {seed}.")
    train = check_train(mode)
    if plot_prefix:
        check_plot_path(plot_prefix + "-x.png")
    sizes = dict(N=size_N, n=size_n, D=size_D, d=size_d, dv=size_dv, dy=size_dy)
    settings = build_settings(sim.Settings(), steps=steps, sizes=sizes, embedding=embedding, targets=targets,
                              init_scales=init_scales, tie_qk=tie_qk, data_path=data_path)
    kernels = list(kernels) or ["softmax", "gaussian"]
    with _Progress("train", settings.steps) as progress:
        runs = sim.simulate(kernels, [train], [seed], settings, threads=threads, progress=progress)
    slices = []
    for run in runs:
        if run.status == "diverged":
            raise InputError(f"Training {run.kernel} diverged at step {run.last}; give a smaller --eta or fewer --steps.")
        slices.append(slice_(run.kernel, train, run.instance, span=span, points=points, seed=seed, threads=threads))
    report = {"train": ",".join(train), "seed": seed, "steps": steps, "span": span, "points": points,
              "slices": [dict(s.to_dict(), trained_loss=float(r.losses[r.last]), status=r.status)
                         for s, r in zip(slices, runs)]}
    if out:
        write_json(Path(out + ".json"), report)
        for s in slices:
            write_rows(Path(f"{out}-{s.kernel}.csv"), [{"alpha": float(a), "beta": float(b), "loss": float(s.losses[i, j])}
                                                    for i, a in enumerate(s.alphas) for j, b in enumerate(s.betas)])
    if plot_prefix:
        from attngrad.cli.plot import landscape_plot

        for s in slices:
            landscape_plot(s, f"{plot_prefix}-{s.kernel}.png")
    if as_json:
        click.echo(json.dumps(report, indent=1, default=_json_default))
        return
    rows = [[s.kernel, ",".join(train), r.status, _g(float(r.losses[r.last])), _g(float(s.losses.min())),
             _g(float(s.losses.max())), str(len(s.local_minima()))] for s, r in zip(slices, runs)]
    click.echo(_table(rows, ["kernel", "train", "training", "f at centre", "min on grid", "max on grid",
                             f"local minima ({points}×{points})"]))


# bounds ------------------------------------------------------------------------------------------------------
@click.command()
@click.argument("ids", nargs=-1)
@click.option("--kernel", default="softmax", show_default=True, type=click.Choice(KERNEL_NAMES))
@click.option("--train", "mode", default="W_V", show_default=True, help="Trained weights of the instance.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--eta", type=float, help="Step size (default 1/L̂ as in simulate).")
@click.option("--epsilon", default=1e-8, show_default=True, type=float, help="Loss to reach, for the step count.")
@instance_options
@click.option("--no-numbers", is_flag=True, help="Only the bounds and their derivations, no instance.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
def bounds(ids, kernel, mode, seed, eta, epsilon, size_N, size_n, size_D, size_d, size_dv, size_dy, embedding,
           targets, init_scales, tie_qk, data_path, no_numbers, as_json) -> None:
    """PL-type bounds with their assumptions and SymPy derivations; the numbers at an instance beside them.

    Exit 1 when a derivation step fails to verify or a bound does not hold at the instance.
    """
    from attngrad.derive.derivation import latex, pretty
    from attngrad.derive.papers.registry import bounds as all_bounds

    chosen = all_bounds(tuple(ids))
    if seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {seed}.")
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise InputError(f"--epsilon must be a positive number, got {epsilon}.")
    numbers: dict[str, list[dict[str, Any]]] = {}
    if not no_numbers:
        from attngrad.numeric import simulate as sim
        from attngrad.numeric.one_layer import check_train

        sizes = dict(N=size_N, n=size_n, D=size_D, d=size_d, dv=size_dv, dy=size_dy)
        settings = build_settings(sim.Settings(), eta=eta, sizes=sizes, embedding=embedding, targets=targets,
                                  init_scales=init_scales, tie_qk=tie_qk, data_path=data_path)
        numbers = instance_numbers(chosen, kernel, check_train(mode), seed, settings, epsilon)
    failed = [b.id for b in chosen if not b.verified] + [k for k, rows in numbers.items()
                                                         if any(r.get("holds") is False for r in rows)]
    if as_json:
        click.echo(json.dumps({"bounds": [dict(b.to_dict(), numbers=numbers.get(b.id, [])) for b in chosen],
                               "instance": None if no_numbers else {"kernel": kernel, "train": mode, "seed": seed},
                               "ok": not failed}, indent=1, default=_json_default, ensure_ascii=False))
        sys.exit(1 if failed else 0)
    for b in chosen:
        click.echo(f"[{b.id}] {b.title}")
        for a in b.assumptions:
            click.echo(f"  assume: {a}")
        click.echo(f"  bound:  {pretty(b.statement)}")
        click.echo(f"  LaTeX:  {latex(b.statement)}")
        for k, s in enumerate(b.steps, 1):
            mark = {True: "✓", False: "✗", None: "·"}[s.verified]
            click.echo(f"  {mark} {k}. {s.text}  [{s.how}]")
        if b.id in numbers:
            click.echo(f"  at {kernel}, train {mode}, seed {seed}:")
            rows = [[r["quantity"], _g(r.get("numerical"), ".6g"), _g(r.get("theoretical"), ".6g"),
                     {True: "yes", False: "NO", None: ""}[r.get("holds")], r.get("note", "")] for r in numbers[b.id]]
            click.echo("    " + _table(rows, ["quantity", "numerical", "theoretical", "holds", "note"]).replace("\n", "\n    "))
        click.echo("")
    if failed:
        click.echo(f"not verified or not holding: {', '.join(failed)}")
    sys.exit(1 if failed else 0)


def instance_numbers(chosen, kernel: str, train: tuple[str, ...], seed: int, settings, epsilon: float) -> dict[str, list]:
    """Each bound evaluated at the instance (its closed forms from SymPy) next to the measured quantities."""
    import numpy as np

    from attngrad.numeric import simulate as sim
    from attngrad.numeric.one_layer import attended_inputs, jacobian, loss_and_grads

    inst = settings.instance(seed)
    s = inst.sizes
    res = loss_and_grads(kernel, inst.X, inst.Y, inst.weights, train)
    f = res.loss
    g2 = float(sum(np.sum(g * g) for g in res.grads.values()))
    ev = np.linalg.eigvalsh((lambda J: J @ J.T)(jacobian(kernel, inst, train)))
    lmin, lmax = max(float(ev[0]), 0.0), float(ev[-1])
    eta = settings.eta if settings.eta is not None else sim.auto_eta(lmax, s.N)
    out: dict[str, list] = {}
    by_id = {b.id: b for b in chosen}
    from attngrad.derive.papers.pl_bounds import linear_rate, pl_any_subset, pl_wv

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
        wv = pl_wv()
        F = attended_inputs(kernel, inst)
        sF = np.linalg.svd(F, compute_uv=False)
        sO = np.linalg.svd(inst.weights["W_O"], compute_uv=False)
        smin_F = float(sF[-1]) if s.D >= s.N * s.n else 0.0
        smin_O = float(sO[-1]) if s.dv >= s.dy else 0.0
        mu_cf = wv.function("mu")(sigma_min_F=smin_F, sigma_min_O=smin_O, N=s.N)
        L_cf = wv.function("L")(sigma_max_F=float(sF[0]), sigma_max_O=float(sO[0]), N=s.N)
        Jv = jacobian(kernel, inst, ("W_V",))
        evv = np.linalg.eigvalsh(Jv @ Jv.T)
        out["pl/W_V"] = [
            {"quantity": "σ_min(F), σ_max(F)", "numerical": smin_F, "theoretical": float(sF[0]),
             "note": "F read off the W_V Jacobian" + ("" if s.D >= s.N * s.n else f"; D < Nn = {s.N * s.n}: σ_min counts as 0")},
            {"quantity": "μ: λ_min(JJᵀ)/N vs σ_min(F)²σ_min(W_O)²/N", "numerical": max(float(evv[0]), 0.0) / s.N,
             "theoretical": mu_cf, "holds": bool(np.isclose(max(float(evv[0]), 0.0) / s.N, mu_cf, rtol=1e-6, atol=1e-12 * L_cf))},
            {"quantity": "L: λ_max(JJᵀ)/N vs σ_max(F)²σ_max(W_O)²/N", "numerical": float(evv[-1]) / s.N,
             "theoretical": L_cf, "holds": bool(np.isclose(float(evv[-1]) / s.N, L_cf, rtol=1e-6))},
        ]
    if "rate/linear" in by_id:
        lr = linear_rate()
        rate = lr.function("rate")(eta=eta, mu=mu)
        rows = [{"quantity": "η, η·L̂", "numerical": eta, "theoretical": eta * lmax / s.N,
                 "note": "L̂ = λ_max(JJᵀ)/N: exact L for W_V alone, a Gauss–Newton estimate otherwise"},
                {"quantity": "rate 1 − ημ", "numerical": None, "theoretical": rate}]
        if 0 < rate < 1:
            T = int(lr.function("steps")(eta=eta, mu=mu, f_0=f, epsilon=epsilon))
            S = min(max(T, 1), RATE_STEPS)
            run = sim.simulate([kernel], [train], [seed], sim.replace(settings, steps=S + 1, eta=eta, tol=0.0,
                                                                      window=S + 2, lambda_every=10**6))[0]
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
        else:
            rows.append({"quantity": "steps to ε", "note": "μ = 0 at the start: no linear rate is predicted"})
        out["rate/linear"] = rows
    if "softmax/equal-keys" in by_id:
        flat = dict(inst.weights, W_K=np.zeros_like(inst.weights["W_K"]))
        rows = []
        for k in ("softmax", "gaussian"):
            r = loss_and_grads(k, inst.X, inst.Y, flat, ("W_Q",))
            norm = float(np.linalg.norm(r.grads["W_Q"]))
            rows.append({"quantity": f"‖∇_W_Q f‖ at W_K = 0, {k}", "numerical": norm, "theoretical": 0.0 if k == "softmax" else None,
                         "holds": bool(norm <= 1e-12 * max(1.0, r.loss)) if k == "softmax" else None,
                         "note": f"f = {r.loss:.4g}" + ("" if k == "softmax" else " (no such identity for the Gaussian kernel)")})
        out["softmax/equal-keys"] = rows
    return out
