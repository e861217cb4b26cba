"""Buffer allocation: one (columns × block) buffer per live row quantity, reused once it is dead (docs/design.md).

A row node's buffer is freed after the last row node (or reduction) that reads it; an entrywise node whose
operand dies at it writes in place, entry (l, b) being read before it is written.
"""

from __future__ import annotations

import sympy as sp

from .. import expr as ex
from .schedule import Scheduler


def reads(plan: Scheduler, node: ex.Node, planned: set[int]) -> dict[int, None]:
    """Buffers (by node id) read when ``node`` is printed, looking through inlined nodes and diag(·) that is not
    one of the ``planned`` row nodes."""
    out: dict[int, None] = {}  # an ordered set
    kids = list(plan.operands(node))
    if id(node) in plan.shift and plan.shift[id(node)][1] is not None:
        kids.append(plan.shift[id(node)][1])
    for c in kids:
        sc = ex.bare(c)
        if plan.kind(c) != "row" or plan.implicit(sc):
            continue
        if id(sc) in plan.inline or (isinstance(sc, ex.Diag) and id(sc) not in planned):
            out.update(reads(plan, sc, planned))
        else:
            out[id(sc)] = None
    return out


def allocate(plan: Scheduler) -> tuple[dict[int, str], dict[str, str]]:
    """(row node id → buffer name, buffer name → its number of columns) for the scheduled row nodes."""
    rows = plan.sched.rows
    planned = {id(r) for r in rows}
    end = len(rows)
    last: dict[int, int] = {}
    for i, r in enumerate(rows):
        for x in reads(plan, r, planned):
            last[x] = i
    for node, ops in plan.sched.reduces:
        for op in ops:
            so = ex.bare(op)
            for x in (reads(plan, so, planned) if id(so) in plan.inline else {id(so)}):
                last[x] = end
    free: dict[str, list[str]] = {}
    bufs: dict[int, str] = {}
    buf_cols: dict[str, str] = {}
    for i, r in enumerate(rows):
        if plan.implicit(r):
            continue
        cols = sp.pycode(r.shape[1])
        dying = [x for x in reads(plan, r, planned) if last.get(x) == i and x in bufs]
        same = [x for x in dying if buf_cols[bufs[x]] == cols]
        if plan.entrywise(r) and same:  # in place: entry (l, b) is read before it is written
            name = bufs[same[0]]
            dying.remove(same[0])
        elif free.get(cols):
            name = free[cols].pop()
        else:
            name = f"buf{len(buf_cols)}"
            buf_cols[name] = cols
        bufs[id(r)] = name
        for x in dying:
            free.setdefault(buf_cols[bufs[x]], []).append(bufs[x])
        if last.get(id(r)) is None:  # read by nobody (cannot happen for a needed node) — release
            free.setdefault(cols, []).append(name)
    return bufs, buf_cols
