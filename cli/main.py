"""The ``attngrad`` command line. Imports are lazy: ``attngrad --help`` loads neither SymPy nor Numba."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from attngrad.errors import InputError


class _Group(click.Group):
    """Turns bad input (``InputError``) into one plain sentence on stderr and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="attngrad")
def main() -> None:
    """attngrad: check attention-gradient formulas symbolically and numerically."""


class _Quiet:
    """Stands in for a progress bar when stderr is not a terminal (no stray labels in logs and pipes)."""

    label = ""

    def __enter__(self) -> "_Quiet":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def update(self, n: int) -> None:
        pass

    def render_progress(self) -> None:
        pass


def progressbar(length: int, label: str) -> Any:
    """A progress bar on stderr when it is a terminal."""
    if sys.stderr.isatty():
        return click.progressbar(length=length, label=label, file=sys.stderr)
    return _Quiet()


def labelled(bar: Any):
    """A progress callback that shows its text as the bar's label."""
    def progress(text: str) -> None:
        bar.label = text
        bar.render_progress()
    return progress


def _parse_sizes(text: str | None) -> tuple[dict[str, int], ...] | None:
    if text is None:
        return None
    out = []
    for part in text.split(","):
        try:
            n, d = (int(x) for x in part.lower().split("x"))
        except ValueError:
            raise InputError(f"Sizes must look like '2x2,3x2' (n x d), got '{part}'.") from None
        out.append({"n": n, "d": d})
    return tuple(out)


def _fmt_err(x: float | None) -> str:
    return "—" if x is None else f"{x:.1e}"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h) for k, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


@main.command()
@click.argument("ids", nargs=-1)
@click.option("--paper", help="Only the claims of this paper key (e.g. alman-song-2024, attngrad).")
@click.option("--list", "list_only", is_flag=True, help="List the claims without checking them.")
@click.option("--file", "file_", type=click.Path(dir_okay=False), help="Check the claims defined in this Python file.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random inputs.")
@click.option("--exact-sizes", help="Sizes of the exact symbolic tier, e.g. '1x1,2x2' (n x d).")
@click.option("--no-exact", is_flag=True, help="Skip the exact symbolic tier.")
@click.option("-v", "--verbose", is_flag=True, help="Show every tier's evidence for every claim.")
@click.option("--jobs", type=int, help="Worker processes (default: one per core; 1 checks in this process).")
def check(ids: tuple[str, ...], paper: str | None, list_only: bool, file_: str | None, as_json: bool,
          seed: int, exact_sizes: str | None, no_exact: bool, verbose: bool, jobs: int | None) -> None:
    """Check claims (all built-in ones by default) and print their verdicts.

    Exit 0 when every project claim holds, 1 when one does not; a paper's printed claims are
    reported as holds or refuted with their evidence and do not change the exit code.
    """
    import os

    from attngrad.derive.check import EXACT_SIZES, check_all, check_exact_sizes, claims_of
    from attngrad.derive.papers.registry import BUILTIN
    from attngrad.derive.claims import select

    claims = select(claims_of(str(file_) if file_ else BUILTIN, reload=True), ids, paper)
    if list_only:
        if as_json:
            click.echo(json.dumps([{"id": c.id, "source": c.source, "printed": c.printed,
                                    "statement": c.statement} for c in claims], indent=1, ensure_ascii=False))
        else:
            click.echo(_table([[c.id, c.source, c.statement] for c in claims], ["id", "source", "statement"]))
        return
    sizes = _parse_sizes(exact_sizes) or EXACT_SIZES
    check_exact_sizes(sizes)
    if seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {seed}.")
    if jobs is not None and jobs < 1:
        raise InputError(f"--jobs must be a positive integer, got {jobs}.")
    t0 = time.perf_counter()
    with progressbar(len(claims), "checking") as bar:
        verdicts = check_all(claims, str(file_) if file_ else BUILTIN, jobs=jobs or os.cpu_count() or 1,
                             progress=lambda: bar.update(1), seed=seed, exact_sizes=sizes, exact=not no_exact)
    elapsed = time.perf_counter() - t0
    failed = [v for v in verdicts if not v.printed and v.verdict != "holds"]
    if as_json:
        click.echo(json.dumps({"seed": seed, "seconds": round(elapsed, 2), "ok": not failed,
                               "claims": [v.to_dict() for v in verdicts]}, indent=1, default=str, ensure_ascii=False))
    else:
        _report(verdicts, verbose, elapsed)
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 naming every stale generated file.")
@click.option("--file", "file_", type=click.Path(dir_okay=False), help="Generate the models defined in this Python file.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for the kernels of --file's models.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
def codegen(check_only: bool, file_: str | None, out: str | None, as_json: bool) -> None:
    """Print Numba kernels from the proven chains into numeric/generated/ (or --out for --file)."""
    from pathlib import Path

    from attngrad.derive import codegen as cg
    from attngrad.derive.claims import defined, import_user_file
    from attngrad.derive.model import Model

    if file_:
        if not out:
            raise InputError("--file needs --out, the folder to write the generated kernels to.")
        models = defined(import_user_file(file_), Model)
        if not models:
            raise InputError(f"The file {file_} defines no Model.")
        targets = {cg.module_name(m): m for m in models}
        out_dir, command = Path(out), f"attngrad codegen --file {file_} --out {out}"
    else:
        if out:
            raise InputError("--out is for --file; the built-in kernels live in numeric/generated/.")
        import attngrad.numeric.generated as gen

        from attngrad.derive.papers.registry import codegen_targets

        targets, out_dir, command = codegen_targets(), Path(gen.__file__).parent, "attngrad codegen"
    if check_only:
        bad = cg.stale(targets, out_dir, command)
        if as_json:
            click.echo(json.dumps({"stale": [str(p) for p in bad], "checked": len(targets)}))
        for p in bad:
            click.echo(f"stale: {p} differs from what its chain prints; run `{command}`.", err=True)
        if not bad and not as_json:
            click.echo(f"Generated kernels are up to date with their chains ({len(targets)} module(s) checked).")
        sys.exit(1 if bad else 0)
    written = cg.write(targets, out_dir, command)
    if as_json:
        click.echo(json.dumps({"written": [str(p) for p in written]}))
    else:
        for p in written:
            click.echo(f"wrote {p}")


def _ints(text: str, label: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"{label} must be a comma-separated list of positive integers, got '{text}'.") from None
    if not values or min(values) < 1:
        raise InputError(f"{label} must be a comma-separated list of positive integers, got '{text}'.")
    return values


@main.group()
def bench() -> None:
    """Benchmarks (speed lives here, not in tests)."""


@bench.command("exact")
@click.option("--n", "n_text", default="512,1024,2048,4096,8192,16384", show_default=True, help="Sequence lengths.")
@click.option("--d", "d_text", default="8,16,32,64", show_default=True, help="Head dimensions.")
@click.option("--dtype", "dtypes", default="float64,float32", show_default=True, help="float64 and/or float32.")
@click.option("--methods", help="Comma-separated methods (default: ours, the reference and every installed peer).")
@click.option("--scale", default="1/d", show_default=True, type=click.Choice(["1/d", "1/sqrt(d)", "1"]))
@click.option("--repeats", default=5, show_default=True, type=int)
@click.option("--warmup", default=1, show_default=True, type=int, help="Calls before timing (the first is reported).")
@click.option("--threads", type=int, help="Threads for Numba and PyTorch (default: all).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--memory/--no-memory", default=True, show_default=True, help="Peak memory per method at the largest n.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Write time vs n (log–log) to this PNG.")
def bench_exact(n_text: str, d_text: str, dtypes: str, methods: str | None, scale: str, repeats: int, warmup: int,
                threads: int | None, seed: int, memory: bool, as_json: bool, plot_path: str | None) -> None:
    """Time L + ∇_X L + ∇_Y L: generated and hand-written kernels, the NumPy reference and installed peers."""
    from attngrad.numeric.bench import run_exact
    from attngrad.numeric.kernel_support import check_threads

    check_threads(threads)
    ns, ds = _ints(n_text, "--n"), _ints(d_text, "--d")
    if seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {seed}.")
    if plot_path:
        from attngrad.cli.plot import check_plot_path

        check_plot_path(plot_path)
    names = tuple(m.strip() for m in methods.split(",")) if methods else None
    with progressbar(1, "bench") as bar:
        progress = labelled(bar)
        res = run_exact(ns, ds, [x.strip() for x in dtypes.split(",")], names, scale=scale, repeats=repeats,
                        warmup=warmup, threads=threads, seed=seed, memory=memory, progress=progress)
    out = res.to_dict()
    if plot_path:
        from attngrad.cli.plot import bench_plot

        bench_plot(out, plot_path)
    if as_json:
        click.echo(json.dumps(out, indent=1))
        return
    m = out["machine"]
    click.echo(f"{m['cpu']}; {m['threads']} threads; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    for dt, r in m["rates"].items():
        click.echo(f"  {dt}: GEMM {r['gemm_flops'] / 1e9:.1f} Gflop/s, exp {r['exp_per_s'] / 1e6:.0f} M/s")
    rows = []
    for t in out["timings"]:
        if t["skipped"]:
            rows.append([str(t["n"]), str(t["d"]), t["dtype"], t["method"], "skipped: " + t["skipped"], "", "", ""])
            continue
        rows.append([str(t["n"]), str(t["d"]), t["dtype"], t["method"], f"{t['median_s'] * 1e3:.2f}",
                     f"{t['min_s'] * 1e3:.2f}–{t['max_s'] * 1e3:.2f}", f"{t['ratio_to_bound']:.2f}",
                     f"{t['first_call_s']:.2f}s"])
    click.echo(_table(rows, ["n", "d", "dtype", "method", "median ms", "min–max ms", "× bound", "first call"]))
    for mem in out["memory"]:
        value = f"{mem['peak_mb']:.1f} MB" if "peak_mb" in mem else "skipped: " + mem["skipped"]
        click.echo(f"peak memory {mem['method']} n={mem['n']} d={mem['d']} {mem['dtype']}: {value}")
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
    from attngrad.numeric.bench_sim import run_simulate

    with progressbar(1, "bench") as bar:
        progress = labelled(bar)
        out = run_simulate(experiment, repeats=repeats, steps=steps, threads=threads, peers=peers, progress=progress)
    if as_json:
        click.echo(json.dumps(out, indent=1))
        return
    m = out["machine"]
    click.echo(f"{m['cpu']}; {out['threads']} threads; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    rows = []
    for r in out["experiment_runs"]:
        s = r["seconds"]
        rows.append([f"{experiment}, {'every step' if r['every_step'] else 'stop rules on'}"
                     + ("" if r["jacobians"] else ", GD alone (no λ checks)"),
                     f"{r['runs']} runs × ≤{r['steps']} steps", f"{s['median']:.2f} s", f"{s['min']:.2f}–{s['max']:.2f} s",
                     str(r["instance_steps"]), f"{r['per_instance_step_s'] * 1e6:.1f} µs", f"{r['first_call_s']:.1f} s"])
    click.echo(_table(rows, ["ours: experiment", "size", "median", "min–max", "instance-steps", "per instance-step",
                             "first call"]))
    click.echo("")
    torch_cols = sorted({k for r in out["per_step"] for k in r if k.startswith("torch_") and k.endswith("_threads_s")},
                        key=lambda k: -int(k.split("_")[1]))
    rows = []
    for r in out["per_step"]:
        cells = [r["kernel"], r["train"], f"{r['ours_1_thread_s']['median'] * 1e6:.0f}"]
        cells += [f"{r[k]['median'] * 1e6:.0f}" for k in torch_cols]
        if torch_cols:
            cells.append(f"{r['torch_verified_rel_err']:.1e}")
        rows.append(cells)
    heads = ["kernel", "train", "ours µs/step (1 thread)"] + [
        f"torch µs/step ({k.split('_')[1]} thread{'s' if k.split('_')[1] != '1' else ''})" for k in torch_cols]
    click.echo(_table(rows, heads + (["torch vs ours, first steps"] if torch_cols else [])))
    if "ratios" in out:
        q = out["ratios"]
        click.echo(f"\nPyTorch step (its faster thread setting, mean over the runs) / our time per instance-step in the "
                   f"experiment, every step: {q['torch_step_over_ours_gd_instance_step']:.1f}× for GD alone, "
                   f"{q['torch_step_over_ours_instance_step']:.1f}× with the exact Jacobians every λ step")
        click.echo(f"per core: PyTorch on 1 thread / ours on 1 thread: {q['torch_1_thread_over_ours_1_thread']:.1f}×")
    for note in out["notes"]:
        click.echo(f"note: {note}")


def _register() -> None:
    from attngrad.cli.lowrank import bench_lowrank, phase
    from attngrad.cli.one_layer import bounds, landscape, simulate

    for command in (simulate, landscape, bounds, phase):
        main.add_command(command)
    bench.add_command(bench_lowrank)


_register()


def _report(verdicts, verbose: bool, elapsed: float) -> None:
    from attngrad.derive.check import show_point

    rows = [[v.id, v.source, v.verdict, v.method or "—",
             _fmt_err(v.max_error) if v.tightness is None else f"{v.tightness:.1e} of bound", f"{v.seconds:.1f}s"]
            for v in verdicts]
    click.echo(_table(rows, ["id", "source", "verdict", "method", "max rel err", "time"]))
    for v in verdicts:
        if v.verdict == "holds" and not verbose:
            continue
        click.echo(f"\n{v.id}: {v.verdict}\n  claim: {v.statement}")
        if v.relation:
            click.echo(f"  relation: {v.relation}")
        if v.counterexample:
            ce = {k: x for k, x in v.counterexample.items() if k not in ("values", "inputs")}
            click.echo("  smallest counterexample: " + ", ".join(f"{k}={x}" for k, x in ce.items()))
        for t in v.tiers:
            shown = [show_point(p) for p in t.sizes]
            sizes = "all sizes" if t.tier == "index" and t.outcome == "holds" else \
                ("," if all("=" not in x for x in shown) else "; ").join(shown)
            err = "" if t.max_rel_err is None else f", max abs err {t.max_abs_err:.1e}, max rel err {t.max_rel_err:.1e}"
            tol = f", tolerance {t.tolerance}" if t.tolerance else ""
            note = f" ({t.note})" if t.note else ""
            click.echo(f"  {t.tier}: {t.outcome} — {t.method}; sizes {sizes or '—'}{err}{tol}{note}")
    n_printed = sum(v.printed for v in verdicts)
    refuted = sum(v.printed and v.verdict == "refuted" for v in verdicts)
    own_ok = sum(not v.printed and v.verdict == "holds" for v in verdicts)
    own = len(verdicts) - n_printed
    click.echo(f"\n{own_ok}/{own} project claims hold; {n_printed - refuted}/{n_printed} printed claims hold, "
               f"{refuted} refuted; {elapsed:.1f}s.")


if __name__ == "__main__":  # pragma: no cover
    main()
