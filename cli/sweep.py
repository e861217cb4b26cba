"""`attngrad sweep run | report | export`: grids of GD runs, their results store and their map (docs/sweeps.md).

Click only: the spec is parsed by numeric/sweep_spec.py, the runs go through numeric/sweep.py, the store is
numeric/store.py and the map numeric/sweep_report.py.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import click

from attngrad.cli import parse
from attngrad.cli.outputs import check_file
from attngrad.cli.plot import check_plot_path
from attngrad.cli.render import Progress, json_default, number, table, write_atomic, write_json, write_rows
from attngrad.errors import InputError
from attngrad.vocabulary import KERNELS


@click.group()
def sweep() -> None:
    """Grids of GD runs (instance and training parameters × kernels × modes × seeds), stored as they finish."""


@sweep.command("run")
@click.argument("spec_path", required=False, metavar="[SPEC.toml | NAME]")
@click.option("--store", "store_path", required=True, help="The SQLite results store (created if missing).")
@click.option("--resume", is_flag=True, help="Continue the sweep the store holds (its runs are skipped).")
@click.option("--retry-failed", is_flag=True, help="With --resume: run the failed runs again.")
@click.option("--kernel", "kernels", multiple=True, type=click.Choice(KERNELS), help="Kernel (repeat; without a spec).")
@click.option("--train", "modes", multiple=True, help="Trained weights, e.g. W_Q (repeat; without a spec).")
@click.option("--seeds", help="Seeds, e.g. '0-99' (without a spec).")
@click.option("--grid", "grid", multiple=True, help="A swept parameter: name=v1,v2,… (repeat; without a spec).")
@click.option("--set", "fixed", multiple=True, help="A fixed parameter: name=value (repeat; without a spec).")
@click.option("--curves", is_flag=True, help="Keep every run's loss curve in the store (without a spec).")
@click.option("--workers", type=int, help="Local worker processes (default: all cores).")
@click.option("--scheduler", help="Run on the Dask distributed cluster at this address (tcp://host:port).")
@click.option("--budget", type=float, help="Seconds the remaining runs may be predicted to take (from the store's "
              "finished runs, or a timed sample of 4 runs per worker, kept) and still start.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
def run(spec_path, store_path, resume, retry_failed, kernels, modes, seeds, grid, fixed, curves, workers, scheduler,
        budget, as_json) -> None:
    """Run a sweep: every run not yet in --store, each written to it the moment it finishes.

    The sweep is a TOML spec file, a named sweep (wq-map, wq-width, scale-10k: numeric/sweeps/) or the options
    below; docs/sweeps.md has the schema."""
    from attngrad.numeric import sweep as sw
    from attngrad.numeric.kernel_support import check_threads
    from attngrad.numeric.store import open_store
    from attngrad.numeric.sweep_report import regimes
    from attngrad.numeric.sweep_spec import load_spec, parse_grid_option, parse_set_option, spec_from_dict

    check_threads(workers)
    if budget is not None:
        parse.positive(budget, "--budget")
    if retry_failed and not resume:
        raise InputError("--retry-failed continues a stored sweep: pass --resume too.")
    from_options = bool(kernels or modes or seeds or grid or fixed or curves)
    if spec_path and from_options:
        raise InputError("Give the sweep as a spec file or as options (--kernel, --train, --seeds, --grid, --set, "
                         "--curves), not both.")
    spec = None
    if spec_path:
        spec = load_spec(spec_path)
    elif from_options or not resume:
        data = {"grid": dict(parse_grid_option(g) for g in grid), "fixed": dict(parse_set_option(f) for f in fixed),
                "curves": curves}
        if kernels:
            data["kernels"] = list(kernels)
        if modes:
            data["modes"] = list(modes)
        if seeds:
            data["seeds"] = list(parse.seeds(seeds))
        spec = spec_from_dict(data, "the options")
    check_file(store_path, "the results store (--store)")
    pool = sw.connect(workers, scheduler)
    try:
        with open_store(store_path) as store:
            spec = sw.prepare(spec, store, resume)
            with Progress("sweep", spec.n_runs, unit="runs") as progress:
                summary = sw.run_sweep(spec, store, pool=pool, retry_failed=retry_failed, budget_s=budget,
                                       progress=lambda done, total, failed: progress(done, total))
            rows = list(store.rows())
            entries = regimes(rows, order=[k for k, _ in spec.grid])
    finally:
        pool.close()
    if as_json:
        click.echo(json.dumps({"spec": spec.to_dict(), "summary": vars(summary), "regimes": entries}, indent=1,
                              default=json_default, ensure_ascii=False))
        return
    click.echo(summary_line(summary, store_path))
    show_regimes(entries)
    show_agreement(rows)


def summary_line(s, store_path: str) -> str:
    """What a sweep call did, with the cost of the workers' first runs (they load or compile the kernels)."""
    first = f"; first run on each worker {number(statistics.median(s.first_runs), '.2g')} s (it loads or compiles " \
            f"the Numba kernels)" if s.first_runs else ""
    later = f", later runs {number(statistics.median(s.later_runs) * 1e3, '.3g')} ms (median)" if s.later_runs else ""
    if not s.ran:
        return f"{s.total:,} runs in the sweep: every one already in {store_path}, nothing to run."
    where = f"on {s.workers} worker{'s' if s.workers != 1 else ''}"
    return (f"{s.total:,} runs in the sweep: {s.skipped:,} already in {store_path}, {s.ran:,} run now "
            f"({s.failed:,} failed) in {number(s.seconds, '.3g')} s {where}{first}{later}.")


def show_agreement(rows) -> None:
    """Certificate (consistent along the path) against reaching the target, per kernel and mode."""
    from attngrad.numeric.sweep_report import agreement

    table_rows = [[e["kernel"], e["train"], str(e["certified_converged"]), str(e["certified_not"]),
                   str(e["uncertified_converged"]), str(e["uncertified_not"]), f"{e['agree']:.0%}"]
                  for e in agreement(rows)]
    if table_rows:
        click.echo("")
        click.echo(table(table_rows, ["kernel", "train", "certificate & converged", "certificate, not converged",
                                      "no certificate, converged", "neither", "agree"]))


def show_regimes(entries) -> None:
    if not entries:
        click.echo("The store holds no runs.")
        return
    axes = [k for k in entries[0] if k not in ("kernel", "train", "runs", "converged", "stalled", "diverged",
                                                "unfinished", "failed", "steps_to_target_median")]
    rows = [[*(str(e[a]) for a in axes), e["kernel"], e["train"], str(e["runs"]),
             *(f"{e[o]:.0%}" for o in ("converged", "stalled", "diverged", "unfinished", "failed")),
             number(e["steps_to_target_median"], "g")] for e in entries]
    click.echo(table(rows, [*axes, "kernel", "train", "runs", "converged", "stalled", "diverged", "unfinished",
                            "failed", "steps to target (median)"]))


@sweep.command("report")
@click.option("--store", "store_path", required=True, help="The SQLite results store.")
@click.option("--x", "x_axis", help="Swept parameter along x of the phase diagram.")
@click.option("--y", "y_axis", help="Swept parameter along y.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Phase diagrams (needs --x and --y) to this PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
def report(store_path, x_axis, y_axis, plot_path, as_json) -> None:
    """The regime table of a store: per grid point, kernel and mode, the fraction of runs in each outcome."""
    from attngrad.numeric.store import open_store
    from attngrad.numeric.sweep_report import regimes

    check_plot_path(plot_path)
    if plot_path and not (x_axis and y_axis):
        raise InputError("A phase diagram needs two swept parameters: --x and --y.")
    axes = [a for a in (x_axis, y_axis) if a] or None
    with open_store(store_path, create=False) as store:
        rows = list(store.rows())
        order = list((store.get_meta("spec") or {}).get("grid", {}))
    entries = regimes(rows, axes, order)
    if plot_path:
        from attngrad.cli.plot import sweep_plot

        sweep_plot(entries, x_axis, y_axis, plot_path)
    if as_json:
        click.echo(json.dumps(entries, indent=1, default=json_default, ensure_ascii=False))
    else:
        show_regimes(entries)
        show_agreement(rows)


@sweep.command("export")
@click.option("--store", "store_path", required=True, help="The SQLite results store.")
@click.option("--out", "out_path", required=True, help="File to write: .csv, .json or .parquet (pyarrow).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "parquet"]), help="Default: from the suffix.")
@click.option("--curves", is_flag=True, help="Include the loss curves the store kept.")
def export(store_path, out_path, fmt, curves) -> None:
    """Every run of a store, one row each: its parameters and its outcome."""
    from attngrad.numeric.store import export_format, flat_rows, open_store, parquet_table

    check_file(out_path, "the export (--out)")
    fmt = export_format(out_path, fmt)
    with open_store(store_path, create=False) as store:
        rows = list(store.rows(with_curves=curves))
    if fmt == "json":
        write_json(Path(out_path), rows)
    elif fmt == "csv":
        write_rows(Path(out_path), flat_rows(rows))
    else:
        import pyarrow.parquet as pq

        write_atomic(out_path, lambda fh: pq.write_table(parquet_table(rows), fh), binary=True, what="the export")
    click.echo(f"wrote {len(rows):,} runs to {out_path}")
