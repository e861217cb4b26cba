"""`attngrad codegen`: print the Numba kernels from the proven chains (docs/design.md, "Data flows one way").

Click only: the printing is done by attngrad.derive.codegen; its imports stay inside the command so that
``attngrad --help`` loads no SymPy.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from attngrad.cli.outputs import check_folder
from attngrad.errors import InputError


@click.command()
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 naming every stale generated file.")
@click.option("--file", "file_", type=click.Path(dir_okay=False), help="Generate the models defined in this Python file.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for the kernels of --file's models.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON on stdout.")
def codegen(check_only: bool, file_: str | None, out: str | None, as_json: bool) -> None:
    """Print Numba kernels from the proven chains into numeric/generated/ (or --out for --file).

    Without --file it writes only into a source checkout (the package root holds the pyproject.toml that names
    attngrad); from an installed package it exits 2. --check only reads.
    """
    from attngrad.derive import codegen as cg
    from attngrad.derive.claims import defined, import_user_file
    from attngrad.derive.model import Model

    if file_:
        if not out:
            raise InputError("--file needs --out, the folder to write the generated kernels to.")
        if not check_only:
            check_folder(out, "the generated kernels (--out)")
        models = defined(import_user_file(file_), Model)
        if not models:
            raise InputError(f"The file {file_} defines no Model.")
        targets = cg.targets_of(models, file_)
        out_dir, command = Path(out), f"attngrad codegen --file {file_} --out {out}"
    else:
        if out:
            raise InputError("--out is for --file; the built-in kernels live in numeric/generated/.")
        import attngrad.numeric.generated as gen
        from attngrad.derive.papers.registry import codegen_targets

        targets, out_dir, command = codegen_targets(), Path(gen.__file__).parent, "attngrad codegen"
        if not check_only:
            if not cg.source_checkout(out_dir):
                raise InputError(f"{out_dir} is in an installed attngrad, not a source checkout, and plain "
                                 "`attngrad codegen` rewrites only a checkout's kernels: run it from an editable "
                                 "install of the source tree (pip install -e .), or give --file FILE --out DIR for "
                                 "your own chains.")
            check_folder(str(out_dir), "the generated kernels")
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
