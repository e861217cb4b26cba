"""`attngrad bench exact | blocks | simulate | proofs | sweep`: time the exact gradient, its blocks of rows, the GD
simulation, the all-sizes proofs and a sweep on 1 and 2 workers (speed lives here, not in tests).

Click only: options are parsed here, the work is done by attngrad.numeric.bench, bench_sim and bench_sweep;
their imports stay inside the commands so that ``attngrad --help`` loads neither NumPy nor Numba.
"""

from __future__ import annotations

import json

import click

from attngrad.cli import parse
from attngrad.cli.plot import check_plot_path
from attngrad.cli.render import labelled, progressbar, table
from attngrad.errors import InputError
from attngrad.vocabulary import DEFAULT_SCALE, SCALES


@click.group()
def bench() -> None:
    """Benchmarks (speed lives here, not in tests)."""


@bench.command("exact")
@click.option("--n", "n_text", default="512,1024,2048,4096,8192,16384", show_default=True, help="Sequence lengths.")
@click.option("--d", "d_text", default="8,16,32,64", show_default=True, help="Head dimensions.")
@click.option("--dtype", "dtypes", default="float64,float32", show_default=True, help="float64 and/or float32.")
@click.option("--methods", help="Comma-separated methods (default: ours, the reference and every installed peer).")
@click.option("--scale", default=DEFAULT_SCALE, show_default=True, type=click.Choice(SCALES))
@click.option("--repeats", default=5, show_default=True, type=int)
@click.option("--warmup", default=1, show_default=True, type=int, help="Calls before timing (the first is reported).")
@click.option("--threads", type=int, help="Threads for Numba and PyTorch (default: all).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--memory/--no-memory", default=True, show_default=True, help="Peak memory per method at the largest n.")
@click.option("--budget", default=3600.0, show_default=True, type=float,
              help="Seconds the grid may be predicted to take at least (at this machine's lower bound) and still start.")
@click.option("--rounds", default=2, show_default=True, type=int,
              help="Time every method this many times, alternating, and pool the calls (a shared machine's slow "
                   "spells spread over the methods).")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Write time vs n (log–log) to this PNG.")
def bench_exact(n_text: str, d_text: str, dtypes: str, methods: str | None, scale: str, repeats: int, warmup: int,
                threads: int | None, seed: int, memory: bool, budget: float, rounds: int, as_json: bool,
                plot_path: str | None) -> None:
    """Time L + ∇_X L + ∇_Y L: the generated kernel, the NumPy reference and installed peers."""
    from attngrad.numeric.bench import run_exact
    from attngrad.numeric.kernel_support import check_threads

    check_threads(threads)
    ns, ds = parse.ints(n_text, "--n"), parse.ints(d_text, "--d")
    parse.non_negative_seed(seed)
    parse.positive(budget, "--budget")
    check_plot_path(plot_path)
    with progressbar(1, "bench") as bar:
        res = run_exact(ns, ds, list(parse.names(dtypes)), parse.names(methods) if methods else None, scale=scale,
                        repeats=repeats, warmup=warmup, threads=threads, seed=seed, memory=memory, budget_s=budget,
                        rounds=rounds, progress=labelled(bar))
    out = res.to_dict()
    if plot_path:
        from attngrad.cli.plot import bench_plot

        bench_plot(out, plot_path)
    if as_json:
        click.echo(json.dumps(out, indent=1))
        return
    m = out["machine"]
    click.echo(f"{m['cpu']}; {m['threads']} threads; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    click.echo(f"  each point: {m['repeats']} calls × {m['rounds']} round{'s' if m['rounds'] > 1 else ''} (methods "
               f"alternating); the bound's rates are the best measured before each round")
    for dt, r in m["rates"].items():
        exps = ", ".join(f"{k} {v / 1e6:.0f}" for k, v in r["exp_rates"].items())
        click.echo(f"  {dt}: GEMM {r['gemm_flops'] / 1e9:.1f} Gflop/s, exp {r['exp_per_s'] / 1e6:.0f} M/s ({r['exp']}; "
                   f"measured M/s: {exps})")
    rows, skipped = [], []
    for t in out["timings"]:
        point = [str(t["n"]), str(t["d"]), t["dtype"], t["method"]]
        if t["skipped"]:
            skipped.append(f"skipped: {t['method']} at n = {t['n']:,}, d = {t['d']}, {t['dtype']}: {t['skipped']}")
            rows.append([*point, f"skipped ({len(skipped)})", "", "", "", ""])
            continue
        peer = f"{t['vs_fastest_peer']:.2f}× {t['fastest_peer']}" if t.get("vs_fastest_peer") else ""
        rows.append([*point, f"{t['median_s'] * 1e3:.2f}", f"{t['min_s'] * 1e3:.2f}–{t['max_s'] * 1e3:.2f}",
                     f"{t['ratio_to_bound']:.2f}", peer, f"{t['first_call_s']:.2f}s"])
    click.echo(table(rows, ["n", "d", "dtype", "method", "median ms", "min–max ms", "× bound", "vs fastest peer",
                            "first call"]))
    for k, line in enumerate(skipped, 1):
        click.echo(f"({k}) {line}")
    for mem in out["memory"]:
        value = f"{mem['peak_mb']:.1f} MB" if "peak_mb" in mem else "skipped: " + mem["skipped"]
        click.echo(f"peak memory {mem['method']} n={mem['n']} d={mem['d']} {mem['dtype']}: {value}")
    for note in out["notes"]:
        click.echo(f"note: {note}")


@bench.command("blocks")
@click.option("--n", "n_text", default="4096,16384", show_default=True, help="Sequence lengths the blocks are timed at.")
@click.option("--d", "d_text", default="16,32,64,128", show_default=True, help="Head dimensions.")
@click.option("--dtype", "dtypes", default="float64,float32", show_default=True, help="float64 and/or float32.")
@click.option("--blocks", "blocks_text", default="16,32,64,128,256", show_default=True, help="Candidate blocks (rows).")
@click.option("--repeats", default=3, show_default=True, type=int)
@click.option("--warmup", default=1, show_default=True, type=int, help="Calls before timing (the first is reported).")
@click.option("--threads", type=int, help="Numba threads (default: all).")
@click.option("--write", "write", is_flag=True,
              help="Record the chosen blocks (the smallest within 5% of the fastest) in numeric/generated/blocks.json and the module's header (a source checkout).")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
def bench_blocks(n_text: str, d_text: str, dtypes: str, blocks_text: str, repeats: int, warmup: int, threads: int | None,
                 write: bool, as_json: bool) -> None:
    """Time the printed Alman–Song kernel for every candidate block of query rows, per d and dtype."""
    from pathlib import Path

    import attngrad.numeric.generated as gen
    from attngrad.cli.outputs import check_folder
    from attngrad.numeric.bench_blocks import tune_blocks, write_blocks
    from attngrad.numeric.kernel_support import check_threads

    check_threads(threads)
    folder = Path(gen.__file__).parent
    if write:
        from attngrad.derive.codegen import source_checkout

        if not source_checkout(folder):
            raise InputError(f"{folder} is in an installed attngrad, not a source checkout: --write records the "
                             "blocks only in a checkout (pip install -e .).")
        check_folder(str(folder), "the measured blocks")
    with progressbar(1, "bench") as bar:
        out = tune_blocks(tuple(parse.ints(n_text, "--n")), tuple(parse.ints(d_text, "--d")), tuple(parse.names(dtypes)),
                          tuple(parse.ints(blocks_text, "--blocks")), repeats, warmup, threads, progress=labelled(bar))
    written = []
    if write:
        from attngrad.derive import codegen as cg
        from attngrad.derive.papers.registry import codegen_targets

        written = [write_blocks(out, folder), *cg.write(codegen_targets(), folder)]
    if as_json:
        click.echo(json.dumps({**out, "written": [str(p) for p in written]}, indent=1))
        return
    m = out["machine"]
    click.echo(f"{m['cpu']}; {m['threads']} threads; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    rows = [[r["dtype"], str(r["d"]), str(r["n"]), str(r["block"]), f"{r['median_s'] * 1e3:.2f}",
             f"{r['min_s'] * 1e3:.2f}–{r['max_s'] * 1e3:.2f}", f"{r['vs_fastest']:.2f}"] for r in out["rows"]]
    click.echo(table(rows, ["dtype", "d", "n", "block", "median ms", "min–max ms", "× fastest"]))
    click.echo("chosen (the smallest within 5% of the fastest, of the blocks whose n × block buffers hold at most two "
               "n × d float64 arrays): " + "; ".join(f"{dt} " + ", ".join(f"d ≤ {d}, n = {n:,}: {b}" for d, n, b in v)
                                        for dt, v in out["blocks"].items()))
    for p in written:
        click.echo(f"wrote {p}")


@bench.command("proofs")
@click.argument("ids", nargs=-1)
@click.option("--file", "file_", type=click.Path(dir_okay=False), help="Claims from this Python file.")
@click.option("--repeats", default=3, show_default=True, type=int, help="Timed calls after the first.")
@click.option("--tensorgrad-python", type=click.Path(dir_okay=False),
              help="An interpreter that has tensorgrad: time its proof of ∇_X L side by side (default: this one, if it has it).")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
def bench_proofs(ids: tuple[str, ...], file_: str | None, repeats: int, tensorgrad_python: str | None,
                 as_json: bool) -> None:
    """Time the all-sizes proofs (the index tier): the proof alone and with its second route, first call and median."""
    from attngrad.derive.check.bench_proofs import bench_proofs as run
    from attngrad.derive.papers.registry import BUILTIN

    with progressbar(1, "bench proofs") as bar:
        out = run(str(file_) if file_ else BUILTIN, ids, repeats=repeats, progress=labelled(bar),
                  tensorgrad_python=tensorgrad_python)
    if as_json:
        click.echo(json.dumps(out, indent=1))
        return
    m = out["machine"]
    click.echo(f"{m['cpu']}; Python {m['python']}, SymPy {m['sympy']}; {out['repeats']} repeats after the first call")
    rows = []
    for r in out["rows"]:
        if "proof_s" not in r:
            rows.append([r["id"], r["outcome"], "", "", "", r["note"]])
            continue
        p, t = r["proof_s"], r["tier_s"]
        rows.append([r["id"], r["outcome"], f"{p['median'] * 1e3:.0f} ({p['min'] * 1e3:.0f}–{p['max'] * 1e3:.0f})",
                     f"{t['median'] * 1e3:.0f} ({t['min'] * 1e3:.0f}–{t['max'] * 1e3:.0f})",
                     f"{r['first_tier_s'] * 1e3:.0f}", r["covers"] if r["outcome"] == "holds" else r["note"][:80]])
    click.echo(table(rows, ["claim", "index tier", "proof ms", "with 2nd route ms", "first call ms", "for"]))
    peer = out["tensorgrad"]
    if peer is not None:
        s = peer["s"]
        click.echo(f"\ntensorgrad {peer['version']} on {out['target']}: proved={peer['proved']}, a factor-2 slip "
                   f"proved={peer['slip_proved']}; {s['median'] * 1e3:.0f} ms ({s['min'] * 1e3:.0f}–{s['max'] * 1e3:.0f}), "
                   f"first call {peer['first_s'] * 1e3:.0f} ms"
                   + (f"; {peer['ratio_to_our_proof']:.0f}× our proof, {peer['ratio_to_our_tier']:.0f}× with our "
                      "second route" if "ratio_to_our_proof" in peer else ""))
    for note in out["notes"]:
        click.echo(f"note: {note}")


@bench.command("simulate")
@click.option("--experiment", default="paper", show_default=True, help="The experiment to time (see attngrad simulate).")
@click.option("--repeats", default=3, show_default=True, type=int)
@click.option("--steps", default=200, show_default=True, type=int, help="GD steps per timed call of the per-step timings.")
@click.option("--threads", type=int, help="Threads for our runs and for PyTorch (default: all).")
@click.option("--peers/--no-peers", default=True, show_default=True, help="Time the PyTorch GD loop too.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
def bench_simulate(experiment: str, repeats: int, steps: int, threads: int | None, peers: bool, as_json: bool) -> None:
    """Time the GD simulation: the experiment end to end, a step of one instance, and the same loop in PyTorch."""
    from attngrad.numeric import bench_sim

    with progressbar(1, "bench") as bar:
        out = bench_sim.run_simulate(experiment, repeats=repeats, steps=steps, threads=threads, peers=peers,
                                     progress=labelled(bar))
    if as_json:
        click.echo(json.dumps(bench_sim.as_json(out), indent=1))
        return
    show_simulate(out)


def show_simulate(out: dict) -> None:
    """``bench_sim.run_simulate``'s records as tables."""
    m = out["machine"]
    click.echo(f"{m['cpu']}; {out['threads']} threads; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    rows = []
    for r in out["experiment_runs"]:
        s = r["seconds"]
        rows.append([f"{out['experiment']}, {'every step' if r['every_step'] else 'stop rules on'}"
                     + ("" if r["jacobians"] else ", GD alone (no λ checks)"),
                     f"{r['runs']} runs × ≤{r['steps']} steps", f"{s['median']:.2f} s", f"{s['min']:.2f}–{s['max']:.2f} s",
                     str(r["instance_steps"]), f"{r['per_instance_step_s'] * 1e6:.1f} µs", f"{r['first_call_s']:.1f} s"])
    click.echo(table(rows, ["ours: experiment", "size", "median", "min–max", "instance-steps", "per instance-step",
                            "first call"]))
    click.echo("")
    torch_threads = out["torch_threads"]
    rows = []
    for r in out["per_step"]:
        cells = [r["kernel"], r["train"], f"{r['ours_1_thread_s']['median'] * 1e6:.0f}"]
        cells += [f"{x['step_s']['median'] * 1e6:.0f}" for x in r["torch"]]
        if torch_threads:
            cells.append(f"{r['torch_verified_rel_err']:.1e}")
        rows.append(cells)
    heads = ["kernel", "train", "ours µs/step (1 thread)"] + [
        f"torch µs/step ({t} thread{'s' if t != 1 else ''})" for t in torch_threads]
    click.echo(table(rows, heads + (["torch vs ours, first steps"] if torch_threads else [])))
    if "ratios" in out:
        q = out["ratios"]
        click.echo(f"\nPyTorch step (its faster thread setting, mean over the runs) / our time per instance-step in the "
                   f"experiment, every step: {q['torch_step_over_ours_gd_instance_step']:.1f}× for GD alone, "
                   f"{q['torch_step_over_ours_instance_step']:.1f}× with the exact Jacobians every λ step")
        click.echo(f"per core: PyTorch on 1 thread / ours on 1 thread: {q['torch_1_thread_over_ours_1_thread']:.1f}×")
    for note in out["notes"]:
        click.echo(f"note: {note}")


@bench.command("sweep")
@click.argument("spec_path", required=False, metavar="[SPEC.toml | NAME]")
@click.option("--workers", "workers_text", default="1,2", show_default=True, help="Worker counts to time.")
@click.option("--backend", "backends", default="dask,local", show_default=True,
              help="dask (a LocalCluster of one-thread worker processes, warmed) and/or local (attngrad sweep's own processes).")
@click.option("--repeats", default=3, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
def bench_sweep(spec_path: str | None, workers_text: str, backends: str, repeats: int, as_json: bool) -> None:
    """Time one fixed sweep on 1, 2, … workers (default: 128 runs at the default sizes) and the speed-up."""
    from attngrad.numeric.bench_sweep import check_backends, default_spec, run_sweep_bench
    from attngrad.numeric.sweep_spec import load_spec

    names = list(parse.names(backends))
    check_backends(names)
    spec = load_spec(spec_path) if spec_path else default_spec()
    with progressbar(1, "bench sweep") as bar:
        out = run_sweep_bench(spec, parse.ints(workers_text, "--workers"), names, repeats=repeats,
                              progress=labelled(bar))
    if as_json:
        click.echo(json.dumps(out, indent=1, ensure_ascii=False))
        return
    m = out["machine"]
    click.echo(f"{m['cpu']}; {m['cores']} cores; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    click.echo(f"  sweep {out['spec'].get('name') or '(unnamed)'}: {out['runs']:,} runs; {out['repeats']} repeats per "
               "row, worker counts alternating")
    rows = []
    for r in out["rows"]:
        s = r["seconds"]
        speedup = out["speedups"][r["backend"]].get(r["workers"])
        rows.append([r["backend"], str(r["workers"]), f"{s['median']:.2f}", f"{s['min']:.2f}–{s['max']:.2f}",
                     f"{r['runs_per_s']:.1f}", f"{speedup:.2f}×" if speedup else "",
                     f"{r['first_run_s']:.1f} s" if r["first_run_s"] is not None else "in the time"])
    click.echo(table(rows, ["backend", "workers", "median s", "min–max s", "runs/s",
                            f"vs {out['base_workers']} worker{'s' if out['base_workers'] > 1 else ''}",
                            "warm-up (kernels loaded)"]))
    click.echo("every timed sweep gave the same outcomes, run for run" if out["outcomes_agree"] else
               "note: the timed sweeps did not all give the same outcomes (status, steps, final loss)")
