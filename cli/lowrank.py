"""`attngrad bench lowrank | phase`: the almost-linear gradient (docs/mathematics.md §1.6, §2) against the exact kernels.

Click only: the work is done by attngrad.numeric.bench_lowrank; imports stay inside the commands.
"""

from __future__ import annotations

import json
import math

import click

from attngrad.cli import parse
from attngrad.cli.plot import check_plot_path
from attngrad.cli.render import labelled, progressbar, table
from attngrad.errors import InputError
from attngrad.vocabulary import AUTO_POLYNOMIAL, DEFAULT_SCALE, POLYNOMIALS, SCALES

POLY_CHOICES = (AUTO_POLYNOMIAL, *POLYNOMIALS)


def _ms(t: dict | None) -> str:
    return "—" if not t or "median_s" not in t else f"{t['median_s'] * 1e3:.2f}"


def _e(x: float | None) -> str:
    return "—" if x is None else (f"{x:.1e}" if math.isfinite(x) else "none")


@click.command("lowrank")
@click.option("--n", "n_text", default="4096,16384,65536", show_default=True, help="Sequence lengths.")
@click.option("--d", "d_text", default="8", show_default=True, help="Head dimensions.")
@click.option("--beta", "beta_text", default="0.25", show_default=True,
              help="Bounds β on |S| the inputs are scaled to ('none': N(0, 1/d) entries as drawn).")
@click.option("--eps", "eps_text", help="Target relative errors of exp on [−β, β]; the degree follows (default 1e-6).")
@click.option("--degree", "degree_text", help="Polynomial degrees instead of --eps.")
@click.option("--poly", default=AUTO_POLYNOMIAL, show_default=True, type=click.Choice(POLY_CHOICES),
              help="Polynomial for exp (auto: the one that needs the smallest degree).")
@click.option("--scale", default=DEFAULT_SCALE, show_default=True, type=click.Choice(SCALES), help="The scale s of S = s·A₁XA₂ᵀ.")
@click.option("--exact", "exact_text", default=None, show_default="generated and every installed peer",
              help="Exact kernels to time (generated, reference, torch-autograd, torch-sdpa, jax-jit-grad).")
@click.option("--exact-max-n", default=65536, show_default=True, type=int, help="Largest n the exact kernels run at.")
@click.option("--multilayer", is_flag=True, help="MultiLayer's table instead: d = 4…12, n = 10·2^d, degree 2.")
@click.option("--repeats", default=5, show_default=True, type=int, help="Timed calls per method and size (median, min, max).")
@click.option("--warmup", default=1, show_default=True, type=int, help="Untimed calls first (the first one is reported).")
@click.option("--budget", default=60.0, show_default=True, type=float,
              help="Seconds of timed calls per method and size (refused when one exact call alone is predicted longer).")
@click.option("--threads", type=int, help="Threads (default: all): the exact kernels' Numba threads and the low-rank passes' worker threads.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random inputs.")
@click.option("--memory/--no-memory", default=True, show_default=True, help="Peak memory of the low-rank call at the largest n.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Write time vs n (log–log) to this PNG.")
def bench_lowrank(n_text, d_text, beta_text, eps_text, degree_text, poly, scale, exact_text, exact_max_n, multilayer,
                  repeats, warmup, budget, threads, seed, memory, as_json, plot_path) -> None:
    """Time the low-rank gradient (Section D) and the exact kernels side by side, with error columns."""
    from attngrad.numeric import bench_lowrank as B
    from attngrad.numeric.kernel_support import check_threads

    check_threads(threads)
    check_plot_path(plot_path)
    parse.non_negative_seed(seed)
    if eps_text and degree_text:
        raise InputError("Give --eps or --degree, not both.")
    parse.positive(budget, "--budget")
    if plot_path and multilayer:
        raise InputError("--plot draws the grid's timings, and --multilayer has no plot; leave one of them out.")
    with progressbar(1, "bench lowrank") as bar:
        if multilayer:
            out = B.run_multilayer(repeats=repeats, warmup=warmup, threads=threads, seed=seed, budget_s=budget,
                                   progress=labelled(bar))
        else:
            eps = parse.floats(eps_text, "--eps") if eps_text else None
            degrees = parse.ints(degree_text, "--degree") if degree_text else None
            exact = None if exact_text is None else parse.names(exact_text, skip_empty=True)
            out = B.run_lowrank(parse.ints(n_text, "--n"), parse.ints(d_text, "--d"),
                                parse.floats(beta_text, "--beta", True),
                                eps=eps, degrees=degrees, poly=poly, scale=scale, exact=exact, exact_max_n=exact_max_n,
                                repeats=repeats, warmup=warmup, budget_s=budget, threads=threads, seed=seed,
                                memory=memory, progress=labelled(bar))
    if plot_path and not multilayer:
        from attngrad.cli.plot import lowrank_plot

        lowrank_plot(out, plot_path)
    if as_json:
        click.echo(json.dumps(out, indent=1, default=str))
        return
    if multilayer:
        rows = [[str(r["d"]), str(r["n"]), str(r.get("rank", "—")), _ms(r.get("lowrank")), _ms(r.get(r.get("fastest_exact", ""))),
                 f"{r.get('speedup', 0):.1f}×", f"{r['their_forward_speedup']:.1f}×", "yes" if r["beats_their_factor"] else "no",
                 _e(r.get("errors", {}).get("rel_inf")), _e(r.get("errors", {}).get("multilayer")),
                 f"{r['their_rel_err_pct'] / 100:.1e}"] for r in out["rows"]]
        click.echo(table(rows, ["d", "n", "rank", "low-rank ms", "exact ms", "speed-up", "theirs (forward)", "≥ theirs",
                                 "rel ∞-err", "‖x−y‖/‖x+y‖", "theirs"]))
        return
    m = out["machine"]
    click.echo(f"{m['cpu']}; {m['threads']} threads; repeats {m['repeats']}, warm-up {m['warmup']}; "
               + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    rows = []
    for r in out["rows"]:
        if "skipped" in r:
            continue
        lr = r["lowrank"]
        err = r.get("errors", {})
        rows.append([str(r["n"]), str(r["d"]), f"{r['beta']:.3g}", f"{r['poly']} {r['degree']}", f"{r['rank']:,}",
                     f"{_ms(lr)} ({lr['min_s'] * 1e3:.2f}–{lr['max_s'] * 1e3:.2f})",
                     _ms(r.get("generated")), _ms(r.get(r.get("fastest_peer", ""))) + (f" {r['fastest_peer']}" if "fastest_peer" in r else ""),
                     f"{r['speedup']:.1f}×" if "speedup" in r else "—",
                     f"{r['speedup_vs_peer']:.1f}×" if "speedup_vs_peer" in r else "—",
                     _e(err.get("rel_inf")), _e(err.get("rel_fro")), _e(err.get("multilayer")),
                     _e(r["grad_bound"]) + ("" if "grad_bound_holds" not in r else (" ✓" if r["grad_bound_holds"] else " ✗"))])
    click.echo(table(rows, ["n", "d", "β", "poly, degree", "rank", "low-rank ms (min–max)", "generated ms", "fastest peer ms",
                             "speed-up", "vs peer", "rel ∞-err", "rel F-err", "‖x−y‖/‖x+y‖", "bound ‖Δg‖∞"]))
    for r in out["rows"]:
        if "skipped" in r:
            click.echo(f"skipped n={r['n']} d={r['d']} β={r['beta_target']}: {r['skipped']}")
    for f in out["fits"]:
        setting = f"eps={f['eps']}" if "eps" in f else f"degree={f['degree']}"
        click.echo(f"fit: d={f['d']} β={f['beta_target']} {setting} (degrees {f['degrees']}): low-rank time ∝ n^{f['alpha']:.2f} "
                   f"over n = {f['n_min']}…{f['n_max']}")
    for mem in out["memory"]:
        click.echo(f"peak memory, low-rank n={mem['n']} d={mem['d']} rank {mem['rank']}: {mem['peak_mb']:.1f} MB")


@click.command()
@click.option("--n", "n_text", default="1024,2048,4096,8192,16384,32768,65536", show_default=True, help="Sequence lengths.")
@click.option("--c", "c_text", default="0.25,0.5,1,2", show_default=True, help="B = c·√(ln n).")
@click.option("--d", default=8, show_default=True, type=int, help="Head dimension.")
@click.option("--eps", default=1e-6, show_default=True, type=float, help="Relative error of exp on [−B², B²].")
@click.option("--poly", default=AUTO_POLYNOMIAL, show_default=True, type=click.Choice(POLY_CHOICES),
              help="Polynomial for exp (auto: the one that needs the smallest degree for --eps).")
@click.option("--repeats", default=3, show_default=True, type=int, help="Timed calls per measured cell, after one warm-up (median).")
@click.option("--budget", default=30.0, show_default=True, type=float,
              help="Seconds a call may be predicted to take: a longer low-rank call is predicted, not run; a longer "
                   "exact call refuses the run.")
@click.option("--exact-max-n", default=65536, show_default=True, type=int,
              help="Largest n the exact kernel runs at (larger n: no exact time, no crossover).")
@click.option("--threads", type=int,
              help="Threads (default: all): the exact kernel's Numba threads and the low-rank passes' worker threads.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random inputs.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Write the transition figure to this PNG.")
def phase(n_text, c_text, d, eps, poly, repeats, budget, exact_max_n, threads, seed, as_json, plot_path) -> None:
    """The B ≈ √log n transition: degree, rank and time of the low-rank path for B = c·√(ln n)."""
    from attngrad.numeric import bench_lowrank as B
    from attngrad.numeric.kernel_support import check_threads
    from attngrad.numeric.lowrank import MIN_EPS

    check_threads(threads)
    check_plot_path(plot_path)
    parse.non_negative_seed(seed)
    if not MIN_EPS <= eps < 1:
        raise InputError(f"--eps must be in [{MIN_EPS:g}, 1), got {eps}.")
    parse.at_least_one(d, "--d")
    parse.at_least_one(repeats, "--repeats")
    parse.positive(budget, "--budget")
    with progressbar(1, "phase") as bar:
        out = B.run_phase(parse.ints(n_text, "--n"), parse.floats(c_text, "--c"), d, eps=eps, poly=poly, repeats=repeats,
                          budget_s=budget, exact_max_n=exact_max_n, threads=threads, seed=seed, progress=labelled(bar))
    if plot_path:
        from attngrad.cli.plot import phase_plot

        phase_plot(out, plot_path)
    if as_json:
        click.echo(json.dumps(out, indent=1, default=str))
        return
    click.echo(f"d = {d}, relative error of exp ≤ {eps:g} on [−B², B²], B = c·√(ln n); GEMM "
               f"{out['machine']['gemm_flops'] / 1e9:.0f} Gflop/s; {out['machine']['threads']} threads")
    rows = []
    for r in out["rows"]:
        low = f"{r['lowrank_s'] * 1e3:.1f}" if r.get("lowrank_s") else (
            f"~{r['predicted_s'] * 1e3:.3g} (predicted)" if r.get("predicted_s") is not None else "—")
        rows.append([str(r["c"]), str(r["n"]), f"{r['B']:.2f}", f"{r['beta']:.2f}", str(r["poly"]),
                     "—" if r["degree"] is None else str(r["degree"]), "—" if r["rank"] is None else f"{r['rank']:,}",
                     low, "—" if r["exact_s"] is None else f"{r['exact_s'] * 1e3:.1f}", r["status"]])
    click.echo(table(rows, ["c", "n", "B", "β = B²", "poly", "degree", "rank", "low-rank ms", "exact ms", "status"]))
    if out.get("calibration"):
        click.echo(f"predicted = flop count / GEMM rate × {out['calibration']:.2f} (the median measured/flop-count "
                   f"ratio of the measured cells)")
    for c, n in out["crossover"].items():
        click.echo(f"c = {c}: " + (f"low-rank faster from n = {n}" if n else "low-rank not measured faster at these n"))
