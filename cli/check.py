"""`attngrad check`: the claims' verdicts with their evidence (docs/design.md).

Click only: the checking is done by attngrad.derive.check; its imports stay inside the command so that
``attngrad --help`` loads no SymPy.
"""

from __future__ import annotations

import json
import sys
import time

import click

from attngrad.cli import parse
from attngrad.cli.render import error, progressbar, table


@click.command()
@click.argument("ids", nargs=-1)
@click.option("--paper", help="Only the claims of this paper key (e.g. alman-song-2024, attngrad).")
@click.option("--list", "list_only", is_flag=True, help="List the claims without checking them.")
@click.option("--file", "file_", type=click.Path(dir_okay=False), help="Check the claims defined in this Python file.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random inputs.")
@click.option("--exact-sizes", help="Sizes of the exact symbolic tier, e.g. '1x1,2x2' (n x d).")
@click.option("--no-exact", is_flag=True, help="Skip the exact symbolic tier.")
@click.option("-v", "--verbose", is_flag=True, help="Show every tier's evidence for every claim.")
@click.option("--jobs", type=int, help="Worker processes (default and at most: one per core; 1 checks in this process).")
def check(ids: tuple[str, ...], paper: str | None, list_only: bool, file_: str | None, as_json: bool,
          seed: int, exact_sizes: str | None, no_exact: bool, verbose: bool, jobs: int | None) -> None:
    """Check claims (all built-in ones by default) and print their verdicts.

    Exit 0 when every project claim holds, 1 when one does not; a paper's printed claims are
    reported as holds or refuted with their evidence and do not change the exit code.
    """

    from attngrad.derive.check import EXACT_SIZES, check_all, check_exact_sizes, claims_of
    from attngrad.derive.claims import select
    from attngrad.derive.papers.registry import BUILTIN

    claims = select(claims_of(str(file_) if file_ else BUILTIN, reload=True), ids, paper)
    if list_only:
        if as_json:
            click.echo(json.dumps([{"id": c.id, "source": c.source, "printed": c.printed,
                                    "statement": c.statement} for c in claims], indent=1, ensure_ascii=False))
        else:
            click.echo(table([[c.id, c.source, c.statement] for c in claims], ["id", "source", "statement"]))
        return
    sizes = parse.sizes(exact_sizes) or EXACT_SIZES
    check_exact_sizes(sizes)
    parse.non_negative_seed(seed)
    if jobs is not None:
        parse.at_least_one(jobs, "--jobs")
    t0 = time.perf_counter()
    with progressbar(len(claims), "checking", "claims") as bar:
        verdicts = check_all(claims, str(file_) if file_ else BUILTIN, jobs=jobs,
                             progress=lambda: bar.update(1), seed=seed, exact_sizes=sizes, exact=not no_exact)
    elapsed = time.perf_counter() - t0
    failed = [v for v in verdicts if v.fails_run]
    if as_json:
        click.echo(json.dumps({"seed": seed, "seconds": round(elapsed, 2), "ok": not failed,
                               "claims": [v.to_dict() for v in verdicts]}, indent=1, default=str, ensure_ascii=False))
    else:
        show_verdicts(verdicts, verbose, elapsed)
    sys.exit(1 if failed else 0)


def show_verdicts(verdicts, verbose: bool, elapsed: float) -> None:
    """A table of the verdicts, then the evidence of each claim that does not hold (of every claim if verbose)."""
    from attngrad.derive.check import show_point

    rows = [[v.id, v.source, v.verdict, v.method or "—",
             error(v.max_error) if v.tightness is None else f"{v.tightness:.1e} of bound", f"{v.seconds:.1f}s"]
            for v in verdicts]
    click.echo(table(rows, ["id", "source", "verdict", "method", "max rel err", "time"]))
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
