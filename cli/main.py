"""The ``attngrad`` command line: the top-level group, which registers every command and turns bad input into exit 2.

Commands live in modules of their own (``check``, ``codegen``, ``bench``, ``one_layer``, ``lowrank``); they share
``render`` (tables, progress, files), ``parse`` (number lists, sizes, seeds) and ``options`` (the instance options).
No module of ``attngrad.cli`` imports this one except the entry points. Imports of the work are lazy, inside the
commands: ``attngrad --help`` loads neither SymPy, NumPy nor Numba (docs/design.md, "Command-line conventions").
"""

from __future__ import annotations

from typing import Any

import click

from attngrad.cli.bench import bench
from attngrad.cli.check import check
from attngrad.cli.codegen import codegen
from attngrad.cli.lowrank import bench_lowrank, phase
from attngrad.cli.one_layer import bounds, landscape, simulate
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


bench.add_command(bench_lowrank)
for command in (check, codegen, bench, simulate, landscape, bounds, phase):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
