"""Where the commands write: every output path is checked before the work starts, so that no run ends in an error
after its results are computed (and lost).

The convention, for every option that names an output (``--plot``, ``--out``, ``codegen --out``):

- a file's folder must exist and be writable (no folder is created for a file), the file must not be a folder,
  and an existing file must be writable (it is replaced);
- a file's suffix must be one its writer supports (a plot: ``PLOT_SUFFIXES``);
- an ``--out`` prefix names files ``PREFIX.csv``, ``PREFIX.json``, …: each is checked as a file;
- a folder (``codegen --out``) is created when missing, so its parent must exist and be writable.

The standard library only. Each check takes ``what``, the output and its option as the sentence names them
("the plot (--plot)"); a failure is that one sentence (exit 2).
"""

from __future__ import annotations

import os
from pathlib import Path

from attngrad.errors import InputError

#: the file types every plot is written in (matplotlib writes them without further packages)
PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _writable_folder(folder: Path, what: str, path: str, created: bool = False) -> None:
    if not folder.exists():
        raise InputError(f"Cannot write {what} to {path}: the folder {folder} does not exist.")
    if not folder.is_dir():
        raise InputError(f"Cannot write {what} to {path}: {folder} is a file, not a folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        verb = "create a folder in" if created else "write to"
        raise InputError(f"Cannot write {what} to {path}: this user may not {verb} the folder {folder}.")


def check_file(path: str | None, what: str, suffixes: tuple[str, ...] = ()) -> None:
    """InputError unless ``path`` (None: the option was not given) can be written as a file of one of
    ``suffixes`` (any when empty); see the module docstring."""
    if path is None:
        return
    p = Path(path)
    if suffixes and p.suffix.lower() not in suffixes:
        got = f"'{p.suffix}'" if p.suffix else "none"
        raise InputError(f"Cannot write {what} to {path}: its suffix must be {_either(suffixes)} (got {got}).")
    if p.is_dir():
        raise InputError(f"Cannot write {what} to {path}: it is a folder; give a file name.")
    _writable_folder(p.parent, what, path)
    if p.exists() and not os.access(p, os.W_OK):
        raise InputError(f"Cannot write {what} to {path}: the file exists and this user may not replace it.")


def check_prefix(prefix: str | None, what: str, endings: tuple[str, ...]) -> None:
    """InputError unless every file ``prefix + ending`` can be written (``--out PREFIX`` writes PREFIX.csv, …)."""
    if prefix is None:
        return
    if prefix == "" or prefix.endswith(("/", os.sep)):
        raise InputError(f"Cannot write {what} to '{prefix}': give a file name prefix such as results/run, not a folder.")
    for ending in endings:
        check_file(prefix + ending, what)


def check_folder(path: str | None, what: str) -> None:
    """InputError unless ``path`` is a writable folder, or can be created as one (its parent exists and is
    writable)."""
    if path is None:
        return
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise InputError(f"Cannot write {what} to {path}: it is a file, not a folder.")
        _writable_folder(p, what, path)
    else:
        _writable_folder(p.parent, what, path, created=True)


def _either(items: tuple[str, ...]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
