"""The stable-softmax rewrite: exp(S) computed as exp(S − rowmax S) where only the row-normalised result is used.

When ``u = exp(S)`` (optionally times a mask) is read only through ``diag((u1)⁻¹) u``, the rows of u may be
scaled by any positive number per row; the kernel printer subtracts the row maximum of S (over unmasked
entries) before exp, so no entry overflows (docs/design.md, "Numeric conventions"; the softmax D⁻¹exp(S) of
docs/mathematics.md, "Conventions and notation").
"""

from __future__ import annotations

from .. import expr as ex
from .schedule import Scheduler


def find_shifts(plan: Scheduler) -> dict[int, tuple[ex.Node, ex.Node | None]]:
    """exp node (by id) → (its argument S, the mask or None), for every exp that may be computed shifted."""
    shift: dict[int, tuple[ex.Node, ex.Node | None]] = {}
    for node in plan.sched.rows:
        if not (isinstance(node, ex.MatMul) and isinstance(ex.bare(node.a), ex.Diag)):
            continue
        pw = ex.bare(ex.bare(node.a).a)
        if not (isinstance(pw, ex.Pow) and pw.k == -1 and isinstance(ex.bare(pw.a), ex.RowSum)):
            continue
        u = ex.bare(ex.bare(pw.a).a)
        if u is not ex.bare(node.b):
            continue
        exp_node, mask = (u, None) if isinstance(u, ex.Exp) else (None, None)
        if isinstance(u, ex.Hadamard):
            a, b = ex.bare(u.a), ex.bare(u.b)
            exp_node, mask = (a, u.b) if isinstance(a, ex.Exp) else ((b, u.a) if isinstance(b, ex.Exp) else (None, None))
        if exp_node is None or plan.kind(exp_node.a) != "row":
            continue
        allowed = {id(node), id(ex.bare(pw.a)), id(u)}
        if _only_used_by(plan, u, allowed | {id(pw)}) and _only_used_by(plan, exp_node, allowed) and \
                _only_used_by(plan, ex.bare(pw.a), {id(pw)}):
            shift[id(exp_node)] = (exp_node.a, mask)
    return shift


def _only_used_by(plan: Scheduler, node: ex.Node, allowed: set[int]) -> bool:
    """Every reader of ``node`` (through definitions that are not outputs, diag(·) and powers) is allowed."""
    out = []
    stack = list(plan.sched.users.get(id(node), []))
    while stack:
        p = stack.pop()
        if isinstance(p, ex.Named):
            stack.extend(plan.sched.users.get(id(p), []))
            if p.name in plan.outputs:
                return False
        else:
            out.append(p)
    return all(id(p) in allowed or isinstance(p, (ex.Diag, ex.Pow)) and _only_used_by(plan, p, allowed | {id(p)})
               for p in out)
