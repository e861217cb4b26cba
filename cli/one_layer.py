"""`attngrad simulate | landscape | bounds`: one attention layer trained by GD (docs/mathematics.md §3).

Click only: options are parsed here, the work is done by attngrad.numeric (simulations, landscapes) and
attngrad.derive.papers (bounds, and their numbers at an instance in ``pl_instance``); imports stay inside the
commands so that ``attngrad --help`` loads neither.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import click

from attngrad.cli import parse
from attngrad.cli.options import build_settings, given_sizes, instance_options
from attngrad.cli.outputs import check_prefix
from attngrad.cli.plot import check_plot_path
from attngrad.cli.render import Progress, json_default, number, table, write_json, write_rows
from attngrad.errors import InputError
from attngrad.vocabulary import KERNELS, PAPER_KERNELS, TRAINING_MODES

LANDSCAPE_KERNELS = PAPER_KERNELS
LANDSCAPE_TRAIN = ",".join(TRAINING_MODES["wqkv"])
BOUNDS_TRAIN = ",".join(TRAINING_MODES["wv"])


# simulate -------------------------------------------------------------------------------------------------
@click.command()
@click.argument("experiment", required=False, default="paper")
@click.option("--kernel", "kernels", multiple=True, type=click.Choice(KERNELS), help="Kernel (repeat for several).")
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
    check fails, or when a W_V-only run decreases less than the bound 1 − ημ at some step (with η > 1/L that bound
    is not applicable: "n/a", and a note that names the assumption).
    """
    from attngrad.numeric import simulate as sim
    from attngrad.numeric.kernel_support import check_threads

    check_threads(threads)
    if experiment not in sim.EXPERIMENTS:
        raise InputError(f"Unknown experiment '{experiment}'; use one of {', '.join(sim.EXPERIMENTS)}.")
    check_plot_path(plot_path)
    check_prefix(out, "the results (--out)", (".csv", ".json"))
    exp = sim.EXPERIMENTS[experiment]
    sizes = given_sizes(size_N, size_n, size_D, size_d, size_dv, size_dy)
    settings = build_settings(exp["settings"], steps, eta, tol, target, window, divergence, lambda_every, sizes,
                              embedding, targets, init_scales, tie_qk, data_path)
    from attngrad.numeric.one_layer import check_train

    mode_list = [check_train(m) for m in modes] if modes else exp["modes"]
    seed_list = parse.seeds(seeds) or exp["seeds"]
    with Progress("simulate", settings.steps) as progress:
        runs = sim.simulate(list(kernels) or exp["kernels"], mode_list, seed_list, settings, workers=threads,
                            progress=progress, with_rows=bool(out), notice=progress.note)
    summaries = [r.summary(settings.target) for r in runs]
    story = sim.claim_fractions(runs, settings.target)
    report = {"experiment": experiment, "settings": sim.settings_dict(settings), "runs": summaries, "story": story}
    if out:
        write_rows(Path(out + ".csv"), sim.rows(runs))
        write_json(Path(out + ".json"), report)
    if plot_path:
        from attngrad.cli.plot import simulate_plot

        simulate_plot(runs, plot_path)
    bad = [s for s in summaries if sim.broke_a_bound(s)]
    if as_json:
        click.echo(json.dumps(report, indent=1, default=json_default, ensure_ascii=False))
    else:
        show_simulation(summaries, story, settings, bad)
    sys.exit(1 if bad else 0)


def show_simulation(summaries, story, settings, bad) -> None:
    """One row per run, then one per training mode and kernel (the story), then the notes."""
    rows = []
    for s in summaries:
        rate = s["rate"]
        bound = "n/a" if rate.get("not_applicable") else \
            f"{rate['held']}/{rate['checked']}" + ("" if rate.get("exact") else " (at λ steps)")
        status = s["status"] + (f" @{s['steps'] - 1}" if s["status"] in ("converged", "plateau", "diverged") else "")
        rows.append([s["kernel"], s["train"], str(s["seed"]), status, number(s["f0"]), number(s["final_loss"]),
                     number(s["steps_to_target"]),
                     f"{number(s['pl_ratio_first'], '.2g')} → {number(s['pl_ratio_last'], '.2g')}",
                     number(s["mu_min"], ".2g"), number(s["eta"]), number(s["predicted_rate"], ".4g"),
                     number(s["fitted_rate"], ".4g"), f"{s['pl_holds']}/{s['pl_checks']}", bound])
    click.echo(table(rows, ["kernel", "train", "seed", "status", "f0", "final f", f"steps to {settings.target:g}",
                            "PL ratio", "μ_min", "η", "1 − ημ", "fitted rate", "PL checks", "f⁺ ≤ (1−ημ)f"]))
    click.echo("")
    rows = []
    for mode, by_kernel in story.items():
        for kernel, e in by_kernel.items():
            hit = "—" if e["steps_to_target_median"] is None else \
                f"{e['steps_to_target_median']:g} ({e['steps_to_target_range'][0]}–{e['steps_to_target_range'][1]})"
            rows.append([mode, kernel, str(e["runs"]), f"{e['reached_target']:.0%}", f"{e['stalled']:.0%}",
                         f"{e['diverged']:.0%}", hit, number(e["fitted_rate_median"], ".4g"),
                         number(e["predicted_rate_median"], ".4g"),
                         "n/a" if e["bound_not_applicable"] == e["runs"] else
                         f"{e['bound_steps_held']}/{e['bound_steps_checked']}", f"{e['pl_holds']}/{e['pl_checks']}"])
    click.echo(table(rows, ["train", "kernel", "runs", f"reach {settings.target:g}", "stall", "diverge",
                            "steps to target: median (range)", "fitted rate", "1 − ημ_min", "bound held", "PL held"]))
    for s in summaries:
        for note in s["notes"]:
            click.echo(f"note: {s['kernel']}/{s['train']}/seed {s['seed']}: {note}")
        if s["rate"].get("not_applicable"):
            click.echo(f"note: {s['kernel']}/{s['train']}/seed {s['seed']}: f⁺ ≤ (1−ημ)f not applicable: "
                       f"{s['rate']['not_applicable']}")
    if bad:
        click.echo(f"{len(bad)} run(s) broke a bound they are subject to; see the PL checks and f⁺ ≤ (1−ημ)f columns.")


# landscape -------------------------------------------------------------------------------------------------
@click.command()
@click.option("--kernel", "kernels", multiple=True, type=click.Choice(KERNELS),
              help=f"Kernel (repeat for several; default {' and '.join(LANDSCAPE_KERNELS)}).")
@click.option("--train", "mode", default=LANDSCAPE_TRAIN, show_default=True, help="Trained weights (the slice moves these).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the instance, the initial weights and the two directions.")
@click.option("--steps", default=2000, show_default=True, type=int, help="GD steps to the trained point.")
@click.option("--points", default=41, show_default=True, type=int, help="Grid points per side.")
@click.option("--span", default=1.0, show_default=True, type=float, help="The grid covers [−span, span]² (filter-normalised).")
@instance_options
@click.option("--threads", type=int, help="Kernels trained side by side, then grid rows evaluated side by side (default: all cores).")
@click.option("--out", help="Write PREFIX.json (grids, minima) and PREFIX-KERNEL.csv (α, β, f).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Contour and surface of f to this PNG, one row per kernel.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
def landscape(kernels, mode, seed, steps, points, span, size_N, size_n, size_D, size_d, size_dv, size_dy, embedding,
              targets, init_scales, tie_qk, data_path, threads, out, plot_path, as_json) -> None:
    """Train, then slice f along two filter-normalised random directions and count the grid's local minima."""
    from attngrad.numeric import simulate as sim
    from attngrad.numeric.kernel_support import check_threads
    from attngrad.numeric.landscape import check_grid, landscape_report, trained_slices
    from attngrad.numeric.one_layer import check_train

    check_threads(threads)
    parse.non_negative_seed(seed)
    train = check_train(mode)
    kernels = list(kernels) or list(LANDSCAPE_KERNELS)
    check_plot_path(plot_path)
    check_prefix(out, "the results (--out)", (".json", *(f"-{k}.csv" for k in kernels)))
    sizes = given_sizes(size_N, size_n, size_D, size_d, size_dv, size_dy)
    settings = build_settings(sim.Settings(), steps=steps, sizes=sizes, embedding=embedding, targets=targets,
                              init_scales=init_scales, tie_qk=tie_qk, data_path=data_path)
    check_grid(points, span)
    with Progress("train", settings.steps) as progress:
        runs, slices = trained_slices(kernels, train, seed, settings, span=span, points=points, workers=threads,
                                      progress=progress, notice=progress.note)
    report = landscape_report(train, seed, steps, span, points, runs, slices)
    if out:
        write_json(Path(out + ".json"), report)
        for s in slices:
            write_rows(Path(f"{out}-{s.kernel}.csv"), s.grid_rows())
    if plot_path:
        from attngrad.cli.plot import landscape_plot

        landscape_plot(slices, plot_path)
    if as_json:
        click.echo(json.dumps(report, indent=1, default=json_default))
        return
    rows = [[s.kernel, ",".join(train), r.status, number(float(r.losses[r.last])), number(float(s.losses.min())),
             number(float(s.losses.max())), str(len(s.local_minima()))] for s, r in zip(slices, runs)]
    click.echo(table(rows, ["kernel", "train", "training", "f at centre", "min on grid", "max on grid",
                            f"local minima ({points}×{points})"]))


# bounds ------------------------------------------------------------------------------------------------------
@click.command()
@click.argument("ids", nargs=-1)
@click.option("--kernel", default=KERNELS[0], show_default=True, type=click.Choice(KERNELS), help="Kernel of the instance.")
@click.option("--train", "mode", default=BOUNDS_TRAIN, show_default=True, help="Trained weights of the instance.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the instance and its initial weights.")
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
    from attngrad.derive.papers.pl_instance import failures, instance_numbers
    from attngrad.derive.papers.registry import bounds as all_bounds

    chosen = all_bounds(tuple(ids))
    parse.non_negative_seed(seed)
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise InputError(f"--epsilon must be a positive number, got {epsilon}.")
    numbers: dict[str, list[dict[str, Any]]] = {}
    if not no_numbers:
        from attngrad.numeric import simulate as sim
        from attngrad.numeric.one_layer import check_train

        sizes = given_sizes(size_N, size_n, size_D, size_d, size_dv, size_dy)
        settings = build_settings(sim.Settings(), eta=eta, sizes=sizes, embedding=embedding, targets=targets,
                                  init_scales=init_scales, tie_qk=tie_qk, data_path=data_path)
        numbers = instance_numbers(chosen, kernel, check_train(mode), seed, settings, epsilon)
    failed = failures(chosen, numbers)
    if as_json:
        click.echo(json.dumps({"bounds": [dict(b.to_dict(), numbers=numbers.get(b.id, [])) for b in chosen],
                               "instance": None if no_numbers else {"kernel": kernel, "train": mode, "seed": seed},
                               "ok": not failed}, indent=1, default=json_default, ensure_ascii=False))
        sys.exit(1 if failed else 0)
    show_bounds(chosen, numbers, f"{kernel}, train {mode}, seed {seed}")
    if failed:
        click.echo(f"not verified or not holding: {', '.join(failed)}")
    sys.exit(1 if failed else 0)


def show_bounds(chosen, numbers: dict[str, list[dict[str, Any]]], instance: str) -> None:
    """Each bound with its assumptions, statement, LaTeX and steps; its numbers at ``instance`` as a table."""
    from attngrad.derive.derivation import latex, pretty

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
            click.echo(f"  at {instance}:")
            rows = [[r["quantity"], number(r.get("numerical"), ".6g"), number(r.get("theoretical"), ".6g"),
                     "n/a" if r.get("not_applicable") else {True: "yes", False: "NO", None: ""}[r.get("holds")],
                     r.get("note", "")] for r in numbers[b.id]]
            click.echo("    " + table(rows, ["quantity", "numerical", "theoretical", "holds", "note"]).replace("\n", "\n    "))
        click.echo("")
