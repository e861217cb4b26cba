"""A sweep's map: per grid point, kernel and training mode, the fractions of seeds that converged, stalled,
diverged, ran out of steps or failed (numeric/simulate.Run.outcome), read from the results store."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from attngrad.errors import InputError

OUTCOMES = ("converged", "stalled", "diverged", "unfinished", "failed")


def grid_axes(rows: list[dict[str, Any]], order: list[str] = ()) -> list[str]:
    """The swept parameters of the rows (their ``grid.`` fields): those of ``order`` first (the spec's order), then
    any other."""
    names: dict[str, None] = dict.fromkeys(order)
    for r in rows:
        names.update(dict.fromkeys(k[5:] for k in r if k.startswith("grid.")))
    found = {k[5:] for r in rows for k in r if k.startswith("grid.")}
    return [n for n in names if n in found]


def regimes(rows: Iterable[dict[str, Any]], axes: list[str] | None = None,
            order: list[str] = ()) -> list[dict[str, Any]]:
    """One entry per (values of ``axes``, kernel, training mode): the number of runs, the fraction of each outcome
    and the median steps to the target of the converged ones. ``axes`` default: every swept parameter, in
    ``order`` (the spec's) first."""
    rows = list(rows)
    known = grid_axes(rows, order)
    axes = known if axes is None else axes
    for a in axes:
        if a not in known:
            raise InputError(f"{a!r} is not a swept parameter of this store; the swept ones are "
                             f"{', '.join(known) or 'none'}.")
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        key = (*(r[f"grid.{a}"] for a in axes), r["kernel"], r["train"])
        groups.setdefault(key, []).append(r)
    out = []
    for key, rs in groups.items():
        n = len(rs)
        steps = [r["steps_to_target"] for r in rs if r["status"] == "converged" and r["steps_to_target"] is not None]
        entry = {**dict(zip(axes, key[:-2])), "kernel": key[-2], "train": key[-1], "runs": n}
        entry.update({o: sum(r["status"] == o for r in rs) / n for o in OUTCOMES})
        entry["steps_to_target_median"] = float(np.median(steps)) if steps else None
        out.append(entry)
    return out


def agreement(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per kernel and training mode: how often the certificate and reaching the target agree — the four counts of
    certified/not × converged/not, failed runs left out. A run is certified when its certificate is consistent
    along the path and its rate brings f below the target within the run's step budget (``certified_steps`` ≤
    ``steps``)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if r["status"] == "failed":
            continue
        e = out.setdefault((r["kernel"], r["train"]), {"kernel": r["kernel"], "train": r["train"], "certified_converged": 0,
                                                       "certified_not": 0, "uncertified_converged": 0,
                                                       "uncertified_not": 0})
        certified = r["certificate"] == "consistent" and r["certified_steps"] is not None \
            and r["certified_steps"] <= r["steps"]
        converged = r["status"] == "converged"
        e[f"{'certified' if certified else 'uncertified'}_{'converged' if converged else 'not'}"] += 1
    for e in out.values():
        n = e["certified_converged"] + e["certified_not"] + e["uncertified_converged"] + e["uncertified_not"]
        e["agree"] = (e["certified_converged"] + e["uncertified_not"]) / n
    return list(out.values())


def phase_grid(entries: list[dict[str, Any]], x: str, y: str, kernel: str, train: str,
               outcome: str = "converged") -> tuple[list[Any], list[Any], np.ndarray]:
    """The fraction of ``outcome`` over the (x, y) plane for one kernel and mode: x values, y values and a
    len(y) × len(x) array (NaN where the sweep has no runs). ``entries`` from ``regimes(rows, [x, y])``."""
    sel = [e for e in entries if e["kernel"] == kernel and e["train"] == train]
    xs = sorted({e[x] for e in sel}, key=_order)
    ys = sorted({e[y] for e in sel}, key=_order)
    grid = np.full((len(ys), len(xs)), np.nan)
    for e in sel:
        grid[ys.index(e[y]), xs.index(e[x])] = e[outcome]
    return xs, ys, grid


def _order(v: Any) -> tuple:
    return (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v))


__all__ = ["OUTCOMES", "agreement", "grid_axes", "phase_grid", "regimes"]
