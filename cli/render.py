"""How the command line shows results: plain-text tables, numbers, progress bars on stderr, CSV and JSON files.

Click and the standard library only (``attngrad --help`` imports this module); NumPy is imported only when a
NumPy value is actually being written.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable

import click

from attngrad.errors import InputError


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Left-aligned columns two spaces apart under a header and a rule."""
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h) for k, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def number(x: Any, fmt: str = ".3g") -> str:
    """A number in ``fmt``; None and NaN as a dash; anything else as text."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return format(x, fmt) if isinstance(x, (int, float)) else str(x)


def error(x: float | None) -> str:
    """An error in one-digit scientific notation, None as a dash."""
    return "—" if x is None else f"{x:.1e}"


class Quiet:
    """Stands in for a progress bar when stderr is not a terminal (no stray labels in logs and pipes)."""

    label = ""

    def __enter__(self) -> "Quiet":
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
    return Quiet()


def labelled(bar: Any) -> Callable[[str], None]:
    """A progress callback that shows its text as the bar's label."""
    def progress(text: str) -> None:
        bar.label = text
        bar.render_progress()
    return progress


class Progress:
    """A progress bar on stderr (when it is a terminal) fed with (done, total)."""

    def __init__(self, label: str, length: int):
        self.bar = progressbar(length, label)
        self.done = 0

    def __enter__(self) -> "Progress":
        self.bar.__enter__()
        return self

    def __call__(self, done: int, total: int) -> None:
        self.bar.update(done - self.done)
        self.done = done

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)


def json_default(x: Any) -> Any:
    """JSON for what ``json`` cannot write itself: NumPy scalars and arrays as numbers and lists, the rest as text."""
    np = sys.modules.get("numpy")  # a NumPy value means NumPy is loaded
    if np is not None and isinstance(x, np.generic):
        return x.item()
    if np is not None and isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def _write(path: Path, write: Callable[[Any], None]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            write(fh)
    except OSError as exc:
        raise InputError(f"Cannot write {path}: {exc.strerror or exc}.") from None


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """The rows as CSV with a header (an empty file when there are none)."""
    def write(fh) -> None:
        if not rows:
            return
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    _write(path, write)


def write_json(path: Path, obj: Any) -> None:
    _write(path, lambda fh: json.dump(obj, fh, indent=1, default=json_default, ensure_ascii=False))
