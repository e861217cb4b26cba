"""A sweep's results store: one SQLite file, one row per finished run, each written in its own transaction.

A run's key is the SHA-256 of its full parameter set (every instance and training parameter, defaults included,
the kernel, the training mode and the seed) and the attngrad version, so a resumed sweep skips exactly the runs
that are done and never runs one twice. The file uses SQLite's write-ahead log: a run is in the store once its
transaction commits, and a process killed at any point (Ctrl-C, ``kill -9``) loses only the runs not yet
committed. ``PRAGMA user_version`` holds the schema version; a store of another version is refused with one
sentence.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from attngrad import __version__
from attngrad.errors import InputError

SCHEMA_VERSION = 1

#: the outcome columns of a run, in order, with their SQLite types (the parameters are in ``params``, as JSON)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("kernel", "TEXT"), ("train", "TEXT"), ("seed", "INTEGER"), ("point", "INTEGER"),
    ("status", "TEXT"),  # converged | stalled | diverged | unfinished | failed (numeric/simulate.Run.outcome)
    ("stop", "TEXT"),  # why the GD loop ended: converged (f < tol) | plateau | diverged | finished (every step)
    ("steps_run", "INTEGER"), ("steps_to_target", "INTEGER"), ("eta", "REAL"),
    ("f0", "REAL"), ("final_loss", "REAL"), ("fitted_rate", "REAL"),
    ("pl_ratio_first", "REAL"), ("pl_ratio_last", "REAL"),
    ("mu0", "REAL"), ("lambda_max0", "REAL"), ("radius", "REAL"),  # the certificate at initialisation
    ("mu_path_min", "REAL"), ("path_length", "REAL"), ("distance", "REAL"), ("certificate", "TEXT"),  # the path
    ("certified_steps", "INTEGER"),
    ("error", "TEXT"), ("seconds", "REAL"), ("worker", "TEXT"), ("finished_at", "REAL"),
)
NAMES = tuple(name for name, _ in COLUMNS)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY, version TEXT NOT NULL, params TEXT NOT NULL,
    {", ".join(f"{name} {kind}" for name, kind in COLUMNS)},
    curve BLOB
);
"""


def run_key(params: dict[str, Any], version: str = __version__) -> str:
    """The key of a run: SHA-256 of its parameters (canonical JSON, keys sorted) and the attngrad version."""
    text = json.dumps({"params": params, "version": version}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class Store:
    """An open results store (``open_store``): record runs, read what is done, export."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.db = connection

    # metadata ------------------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))  # order kept

    # runs ------------------------------------------------------------------------------------------------------
    def done_keys(self) -> set[str]:
        """The keys of every run in the store (failed runs included: ``retry_failed`` removes those)."""
        return {k for (k,) in self.db.execute("SELECT key FROM runs")}

    def retry_failed(self) -> int:
        """Remove the failed runs, so that a resumed sweep runs them again; how many."""
        with self.db:
            return self.db.execute("DELETE FROM runs WHERE status = 'failed'").rowcount

    def record(self, key: str, params: dict[str, Any], outcome: dict[str, Any],
               curve: np.ndarray | None = None) -> bool:
        """Write one finished run in its own transaction; False (and nothing written) if its key is already there."""
        values = [outcome.get(name) for name in NAMES]
        blob = None if curve is None else np.ascontiguousarray(curve, dtype="<f8").tobytes()
        with self.db:
            cur = self.db.execute(
                f"INSERT OR IGNORE INTO runs (key, version, params, {', '.join(NAMES)}, curve) "
                f"VALUES (?, ?, ?, {', '.join('?' * len(NAMES))}, ?)",
                [key, __version__, json.dumps(params, sort_keys=True), *values, blob])
        return cur.rowcount == 1

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def rows(self, with_curves: bool = False) -> Iterator[dict[str, Any]]:
        """Every run as a dict: its parameters (flattened, as in the sweep), then its outcome; with ``with_curves``,
        its loss curve as a list (None where it was not kept)."""
        cols = "params, " + ", ".join(NAMES) + (", curve" if with_curves else "")
        for row in self.db.execute(f"SELECT {cols} FROM runs ORDER BY point, kernel, train, seed"):
            out = dict(json.loads(row[0]))
            out.update(zip(NAMES, row[1:1 + len(NAMES)]))
            if with_curves:
                out["curve"] = None if row[-1] is None else np.frombuffer(row[-1], dtype="<f8").tolist()
            yield out

    def curve(self, key: str) -> np.ndarray | None:
        row = self.db.execute("SELECT curve FROM runs WHERE key = ?", (key,)).fetchone()
        return None if row is None or row[0] is None else np.frombuffer(row[0], dtype="<f8").copy()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: str | Path, create: bool = True) -> Store:
    """Open (and with ``create``, make) the store at ``path``. InputError, in one sentence, when the path is a
    directory, not an SQLite file, a store of another schema version, or cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"The store {path} is a directory; give a file name such as results.sqlite.")
    if not path.exists():
        if not create:
            raise InputError(f"There is no store at {path}.")
        if not path.parent.is_dir():
            raise InputError(f"Cannot create the store {path}: the folder {path.parent} does not exist.")
    try:
        db = sqlite3.connect(path, timeout=60)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{path} is not an attngrad results store (SQLite says: {exc}).") from None
    if tables and ("runs" not in tables or version != SCHEMA_VERSION):
        db.close()
        what = f"schema version {version}" if "runs" in tables else "no runs table"
        raise InputError(f"{path} is not a results store this attngrad can use ({what}; this version reads and "
                         f"writes schema {SCHEMA_VERSION}): give another --store.")
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # a committed run survives the process being killed
        with db:
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.OperationalError as exc:
        db.close()
        raise InputError(f"Cannot write the store {path}: {exc}.") from None
    return Store(path, db)


def export_format(path: str | Path, fmt: str | None = None) -> str:
    """csv, json or parquet: ``fmt``, else the file's suffix; InputError for anything else (and for parquet
    without pyarrow), before any work."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in ("csv", "json", "parquet"):
        raise InputError(f"Export to csv, json or parquet (by --format or the file's suffix), not {fmt or path.name!r}.")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise InputError("Parquet export needs pyarrow (pip install pyarrow); CSV and JSON need nothing.") from None
    return fmt


def flat_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs as table rows for CSV: every column in every row (None where a run has none), lists (loss curves)
    as JSON text."""
    rows = list(rows)
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    return [{k: json.dumps(r[k]) if isinstance(r.get(k), (list, dict)) else r.get(k) for k in names} for r in rows]


def parquet_table(rows: Iterable[dict[str, Any]]) -> Any:
    """The runs as a pyarrow Table (``export_format`` has checked that pyarrow is installed)."""
    import pyarrow as pa

    flat = flat_rows(rows)
    return pa.table({k: [r[k] for r in flat] for k in (flat[0] if flat else {})})


__all__ = ["COLUMNS", "SCHEMA_VERSION", "Store", "export_format", "flat_rows", "open_store", "parquet_table", "run_key"]
