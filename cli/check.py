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
from attngrad.cli.render import error, json_default, progressbar, table


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

    Exit 0 when every project claim holds, 1 when one does not (refuted, inconclusive, or error: it could not be
    built or evaluated, shown with its reason and the line that defined it); a paper's printed claims are reported
    with their evidence and do not change the exit code. Bad input for the whole run exits 2.
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
        from attngrad.derive.check.verdict import tally

        click.echo(json.dumps({"seed": seed, "seconds": round(elapsed, 2), "ok": not failed, "counts": tally(verdicts),
                               "claims": [v.to_dict() for v in verdicts]}, indent=1, default=json_default,
                              ensure_ascii=False))
    else:
        show_verdicts(verdicts, verbose, elapsed)
    sys.exit(1 if failed else 0)


def show_verdicts(verdicts, verbose: bool, elapsed: float) -> None:
    """A table of the verdicts, then the evidence of each claim that does not hold (of every claim if verbose), then
    the counts of each verdict among the project's and the printed claims."""
    from attngrad.derive.check.verdict import tally

    rows = [[v.id, v.source, v.verdict, v.method or "—",
             error(v.max_error) if v.tightness is None else f"{v.tightness:.1e} of bound", f"{v.seconds:.1f}s"]
            for v in verdicts]
    click.echo(table(rows, ["id", "source", "verdict", "method", "max rel err", "time"]))
    for v in verdicts:
        if v.verdict == "holds" and not verbose:
            continue
        show_evidence(v, verbose)
    counts = tally(verdicts)
    click.echo(f"\nproject claims: {counted(counts['project'])}; printed claims: {counted(counts['printed'])}; "
               f"{elapsed:.1f}s.")


def counted(counts: dict[str, int]) -> str:
    """``101 hold, 0 refuted, 2 inconclusive, 0 errors``."""
    errors = counts.get("error", 0)
    return (f"{counts.get('holds', 0)} hold, {counts.get('refuted', 0)} refuted, "
            f"{counts.get('inconclusive', 0)} inconclusive, {errors} error{'' if errors == 1 else 's'}")


def show_evidence(v, verbose: bool) -> None:
    """One claim's evidence: its statement, an error's reason and place, the relation and counterexample of a
    refutation (from whichever tier found it), and each tier's line (its steps too, if verbose)."""
    from attngrad.derive.check import show_point

    click.echo(f"\n{v.id}: {v.verdict}\n  claim: {v.statement}")
    if v.verdict == "error":
        if v.defined_at:
            click.echo(f"  defined at: {v.defined_at}")
        click.echo(f"  error: {v.reason}")
    if v.relation:
        click.echo(f"  relation: {v.relation}")
    ce = dict(v.counterexample or {})
    tier = ce.pop("tier", None) or v.refuted_by
    if ce:
        label = "smallest counterexample" if tier in (None, "mpmath-50") and v.tightness is None else \
            f"counterexample ({tier})"
        values, _ = ce.pop("values", None), ce.pop("inputs", None)
        click.echo(f"  {label}: " + ", ".join(f"{k}={text(x)}" for k, x in ce.items()))
        if values and verbose:
            click.echo("  its inputs: " + ", ".join(f"{k}={text(x)}" for k, x in values.items()))
    elif v.verdict == "refuted":
        click.echo(f"  counterexample: none recorded by the refuting tier ({tier or '—'})")
    for t in v.tiers:
        shown = [show_point(p) for p in t.sizes]
        sizes = "all sizes" if t.tier == "index" and t.outcome == "holds" else \
            ("," if all("=" not in x for x in shown) else "; ").join(shown)
        err = "" if t.max_rel_err is None else f", max abs err {t.max_abs_err:.1e}, max rel err {t.max_rel_err:.1e}"
        tol = f", tolerance {t.tolerance}" if t.tolerance else ""
        note = f" ({t.note})" if t.note else ""
        click.echo(f"  {t.tier}: {t.outcome} — {t.method}; sizes {sizes or '—'}{err}{tol}{note}")
        if verbose:
            for step in getattr(t, "steps", None) or ():
                click.echo(f"      {step}")


def text(x) -> str:
    """A counterexample's value as text: lists in brackets, mappings as ``(k=v, …)``, floats in full."""
    if isinstance(x, dict):
        return "(" + ", ".join(f"{k}={text(y)}" for k, y in x.items()) + ")"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(text(y) for y in x) + "]"
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, float):
        return repr(float(x))
    if type(x).__name__.startswith(("int", "uint")) and hasattr(x, "item"):  # a NumPy integer
        return str(int(x))
    return str(x)
