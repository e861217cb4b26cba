"""The options the one-layer commands share (sizes and instance of docs/mathematics.md §3) and how their values
become the experiment's settings.

Click and the vocabulary at import time; ``build_settings`` imports attngrad.numeric when a command runs.
"""

from __future__ import annotations

from typing import Any, Callable

import click

from attngrad.cli import parse
from attngrad.errors import InputError
from attngrad.vocabulary import EMBEDDINGS, TARGETS

#: the sizes of one attention layer's instance (numeric.one_layer.Sizes), with what each counts
SIZES = {"N": "samples", "n": "tokens per sample", "D": "embedding dimension", "d": "query/key dimension",
         "dv": "value dimension", "dy": "output dimension"}


def sizes_options(fn: Callable) -> Callable:
    """``--N … --dy`` as the keyword arguments ``size_N … size_dy`` (None when not given)."""
    for name, help_ in reversed(SIZES.items()):
        fn = click.option(f"--{name}", f"size_{name}", type=int, help=f"{help_} (default: the experiment's).")(fn)
    return fn


def given_sizes(size_N, size_n, size_D, size_d, size_dv, size_dy) -> dict[str, int | None]:
    """The values of ``sizes_options``, by size name."""
    return dict(zip(SIZES, (size_N, size_n, size_D, size_d, size_dv, size_dy)))


def instance_options(fn: Callable) -> Callable:
    opts = [
        click.option("--embedding", type=click.Choice(EMBEDDINGS), help="Token embeddings X."),
        click.option("--targets", type=click.Choice(TARGETS), help="Targets Y."),
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
        changes["scales"] = tuple(dict(base.scales).items()) + parse.init_scales(init_scales)
    return replace(base, **changes)
