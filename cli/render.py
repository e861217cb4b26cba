"""How the command line shows results: plain-text tables, numbers, progress on stderr (a bar on a terminal, plain
lines every few seconds elsewhere), and files written atomically (``write_atomic``: CSV, JSON, plots).

Click and the standard library only (``attngrad --help`` imports this module); NumPy is imported only when a
NumPy value is actually being written.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import sys
import threading
import time
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


INTERVAL_ENV = "ATTNGRAD_PROGRESS_INTERVAL"
INTERVAL = 5.0  # seconds between progress lines off a terminal (INTERVAL_ENV sets another)
REPEAT = 60.0  # seconds after which an unchanged progress line is printed again (the run is still alive)


def progress_interval() -> float:
    """Seconds between progress lines off a terminal: INTERVAL, or the environment's ATTNGRAD_PROGRESS_INTERVAL."""
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return INTERVAL
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise InputError(f"{INTERVAL_ENV} must be a positive number of seconds, got '{text}'.")
    return value


class Quiet:
    """A progress bar that shows nothing."""

    label = ""

    def __enter__(self) -> "Quiet":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def update(self, n: int) -> None:
        pass

    def render_progress(self) -> None:
        pass

    def note(self, text: str) -> None:
        pass


class Lines:
    """Stands in for a progress bar when stderr is not a terminal (CI, a pipe, nohup): plain lines on stderr
    such as ``checking: 37/134 claims, 41 s`` (or ``bench: timing generated, 41 s`` once a text was set as the
    label, see ``labelled``), from a background thread, at most one every ``progress_interval()`` seconds: when
    the progress changed since the last line, or REPEAT seconds after it. Nothing for a run shorter than one
    interval; ``note`` prints its line at once. Never on stdout, so ``--json`` output stays pure JSON."""

    def __init__(self, length: int, label: str, unit: str = "", interval: float | None = None):
        self.title, self.length, self.unit = label, length, unit
        self.done = 0
        self.status: str | None = None
        self.interval = progress_interval() if interval is None else interval
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def label(self) -> str:
        return self.title if self.status is None else self.status

    @label.setter
    def label(self, text: str) -> None:
        self.status = text

    def __enter__(self) -> "Lines":
        self.t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="attngrad-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def update(self, n: int) -> None:
        self.done += n

    def render_progress(self) -> None:
        pass  # the thread prints

    def note(self, text: str) -> None:
        click.echo(text, err=True)

    def state(self) -> str:
        """What the next line says before the time: the count, or the text set as the label."""
        if self.status is not None:
            return self.status
        return f"{self.done}/{self.length}" + (f" {self.unit}" if self.unit else "")

    def line(self) -> str:
        return f"{self.title}: {self.state()}, {time.monotonic() - self.t0:.0f} s"

    def _run(self) -> None:
        shown, at = None, self.t0
        while not self._stop.wait(self.interval):
            state, now = self.state(), time.monotonic()
            if state != shown or now - at >= REPEAT:
                click.echo(self.line(), err=True)
                shown, at = state, now


def progressbar(length: int, label: str, unit: str = "") -> Any:
    """Progress on stderr: a bar when stderr is a terminal, else plain lines now and then (``Lines``; ``unit``
    names what is counted there, e.g. ``claims``). Use it as a context manager."""
    if sys.stderr.isatty():
        return click.progressbar(length=length, label=label, file=sys.stderr)
    return Lines(length, label, unit)


def labelled(bar: Any) -> Callable[[str], None]:
    """A progress callback that shows its text as the bar's label."""
    def progress(text: str) -> None:
        bar.label = text
        bar.render_progress()
    return progress


class Progress:
    """Progress on stderr (``progressbar``) fed with (done, total); ``note(text)`` announces a long phase with
    no progress of its own (the first run's JIT compilation): a line of its own off a terminal, the bar's label
    until the next progress on one."""

    def __init__(self, label: str, length: int, unit: str = "steps"):
        self.bar = progressbar(length, label, unit)
        self.label = label
        self.done = 0

    def __enter__(self) -> "Progress":
        self.bar.__enter__()
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.bar.label != self.label and not isinstance(self.bar, Lines):
            self.bar.label = self.label
        self.bar.update(done - self.done)
        self.done = done

    def note(self, text: str) -> None:
        if isinstance(self.bar, Lines):
            self.bar.note(text)
        else:
            self.bar.label = text
            self.bar.render_progress()

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


def write_atomic(path: str | Path, write: Callable[[Any], None], binary: bool = False, what: str = "") -> None:
    """``write(fh)`` into a file that appears at ``path`` whole or not at all: it is written to a temporary file
    in the same folder (``.NAME.*.part``), which then replaces ``path`` (``os.replace``, atomic on one file
    system). An error or an interrupt (Ctrl-C) midway removes the temporary file and leaves ``path`` as it was.
    Every file the command line writes goes through here (``--out``, ``--plot``); the folder must exist
    (cli/outputs.py checks it before the work starts). The text is UTF-8 with ``\n`` line ends. An OSError is
    an InputError naming ``what`` ("the plot") and the path."""
    import tempfile

    path = Path(path)
    mask = os.umask(0)
    os.umask(mask)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
                write(fh)
            os.chmod(tmp, 0o666 & ~mask)  # an ordinary new file's mode (mkstemp makes it 0600)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise InputError(f"Cannot write {what + ' to ' if what else ''}{path}: {exc.strerror or exc}.") from None


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """The rows as CSV with a header (an empty file when there are none)."""
    def write(fh) -> None:
        if not rows:
            return
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    write_atomic(path, write)


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, lambda fh: json.dump(obj, fh, indent=1, default=json_default, ensure_ascii=False))
