"""Print a model's chain as a Numba kernel: the exact kernels are generated, not typed (design.md).

The printer schedules every node of the chain into one of four phases, then prints each phase with one
``_print_<Node>`` method per node type, in the style of SymPy's printers:

- **global**: depends on inputs only and is not n×n (``A₁X``, ``h = A₃Y``); computed once, before the
  row loop, as an array.
- **row**: has n rows and is n×n or depends on another row node (``S``, ``f``, ``c``, ``q``, ``p``). It
  is computed for a block of rows at a time inside ``prange`` over per-thread chunks, in a scratch
  buffer of shape (columns, block), so no n×n array is ever formed.
- **reduce**: a sum over rows of row nodes: ``Xᵀ Y = Σ_j x_jᵀ y_j`` (a product chain is re-associated
  so that both factors stream by rows), ``Σ`` of all entries, column sums. Each thread adds into its
  own partial; the partials are summed after the loop.
- **post**: small operations on reductions after the loop (the scale of ``∇X``, sums).

Stable softmax: when ``u = exp(S)`` (optionally times a mask) is used only through
``diag((u1)⁻¹) u``, the printer subtracts the row maximum of S (over unmasked entries) before exp.
Every row quantity is kept in float64, also for float32 inputs; the caller rounds the outputs.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from attngrad.errors import InputError
from attngrad.vocabulary import DESCENT_STATUS

from . import expr as ex
from .model import Model
from .printing import show

BLOCK = 32


class CodegenError(InputError):
    """The chain has a node the row-streaming printer cannot place (one sentence)."""


def _strip(node: ex.Node) -> ex.Node:
    while isinstance(node, ex.Named):
        node = node.expr
    return node


def _is_n(x: sp.Expr) -> bool:
    return x == ex.n


@dataclass
class _Buf:
    name: str
    cols: sp.Expr


@dataclass
class Schedule:
    """Which phase each node is computed in, and the order within each phase."""

    kinds: dict[int, str] = field(default_factory=dict)
    glob: list[ex.Node] = field(default_factory=list)
    rows: list[ex.Node] = field(default_factory=list)
    reduces: list[tuple[ex.Node, str, tuple]] = field(default_factory=list)  # (node, form, operands)
    post: list[ex.Node] = field(default_factory=list)
    users: dict[int, list[ex.Node]] = field(default_factory=dict)
    keep: list[ex.Node] = field(default_factory=list)  # rewritten nodes, kept alive (ids stay unique)


class KernelPrinter:
    """Turns a model's outputs into the source of a Numba module."""

    def __init__(self, model: Model, outputs: dict[str, str], inputs: tuple[str, ...]):
        self.model, self.outputs, self.input_names = model, outputs, inputs
        self.inputs = model.inputs()
        missing = [k for k in inputs if k not in self.inputs]
        if missing:
            raise CodegenError(f"Model {model.name} has no input named {missing[0]}.")
        self.sched = Schedule()
        self.names: dict[int, str] = {}
        self._count = 0
        self.lines: list[str] = []
        self.shift: dict[int, tuple[ex.Node, ex.Node | None]] = {}  # exp node -> (argument, mask)
        self.alias: dict[int, str] = {}  # node -> the name of the definition it is the body of
        self.inline: set[int] = set()  # entrywise row nodes printed inside their one consumer
        self.bufs_planned: set[int] = set()
        self.scratch: list[str] = []  # per-chunk buffers besides the row buffers
        self.serial = False

    # scheduling ---------------------------------------------------------------------------------
    def _name(self, node: ex.Node, hint: str = "t") -> str:
        if id(node) not in self.names:
            alias = self.alias.get(id(node))
            if alias is not None:
                hint = _identifier(alias) + "_"
            self._count += 1
            self.names[id(node)] = f"{hint}{self._count}"
        return self.names[id(node)]

    def kind(self, node: ex.Node) -> str:
        key = id(node)
        if key in self.sched.kinds:
            return self.sched.kinds[key]
        k = self._classify(node)
        self.sched.kinds[key] = k
        return k

    def _classify(self, node: ex.Node) -> str:
        if isinstance(node, ex.Matrix):
            return "input"
        if isinstance(node, (ex.Grad, ex.Deriv, ex.Kernel, ex.Vec, ex.Kron, ex.Row, ex.Col, ex.Entry, ex.Basis)):
            raise CodegenError(f"The chain uses {type(node).__name__} ({show(node)}), which a kernel cannot stream by rows.")
        kids = [self.kind(c) for c in node.children]
        nn = _is_n(node.shape[0]) and _is_n(node.shape[1])
        if isinstance(node, (ex.Fill, ex.Identity, ex.Tril)):
            return "row" if nn else "global"
        if isinstance(node, ex.Named):
            return kids[0]
        if isinstance(node, ex.MatMul):
            factors = _flatten(node)
            kids = [self.kind(f) for f in factors]
            if "row" in kids and _contracts_rows(factors[0]):  # Sᵀ R: a sum over the streamed rows
                return "reduce"
        if "row" in kids or nn:
            if not _is_n(node.shape[0]):
                return "reduce"
            return "row"
        if "reduce" in kids or "post" in kids:
            return "post"
        return "global"

    def schedule(self) -> Schedule:
        seen: set[int] = set()

        def visit(node: ex.Node, parent: ex.Node | None) -> None:
            if parent is not None:
                self.sched.users.setdefault(id(node), []).append(parent)
            if id(node) in seen:
                return
            seen.add(id(node))
            if isinstance(node, ex.Named):
                self.alias.setdefault(id(_strip(node)), node.name)
            kind = self.kind(node)
            if kind == "reduce" and not isinstance(node, ex.Named):
                form, ops = self._reduce_form(node)
                for op in ops:
                    visit(op, node)
                self.sched.reduces.append((node, form, ops))
                return
            for c in node.children:
                visit(c, node)
            if kind == "global" and not isinstance(node, (ex.Named, ex.Matrix, ex.Transpose)):
                self.sched.glob.append(node)
            elif kind == "row" and not isinstance(node, ex.Named):
                self.sched.rows.append(node)
            elif kind == "post" and not isinstance(node, (ex.Named, ex.Transpose)):
                self.sched.post.append(node)

        for name in self.outputs:
            visit(self.model[name], None)
        # diag(v) is formed only inside products, which scale rows or columns directly
        self.sched.rows = [r for r in self.sched.rows if not (
            isinstance(r, ex.Diag) and all(isinstance(u, ex.MatMul) for u in self.sched.users.get(id(r), [])))]
        self._find_shifts()
        self.inline = {id(r) for r in self.sched.rows if self._inlinable(r)}
        self.sched.rows = [r for r in self.sched.rows if id(r) not in self.inline]
        self._allocate()
        return self.sched

    def _consumers(self, node: ex.Node) -> list[ex.Node] | None:
        """The nodes that read ``node`` (through definitions); None if a definition is an output."""
        out, stack = [], list(self.sched.users.get(id(node), []))
        while stack:
            p = stack.pop()
            if isinstance(p, ex.Named):
                if p.name in self.outputs:
                    return None
                stack.extend(self.sched.users.get(id(p), []))
            else:
                out.append(p)
        return out

    @staticmethod
    def _entrywise(node: ex.Node) -> bool:
        """Entry (j, l) needs only entries (j, l) of the operands (and row j of a column vector)."""
        return isinstance(node, (ex.Add, ex.Hadamard, ex.Scale, ex.Pow, ex.Log, ex.Exp)) or (
            isinstance(node, ex.MatMul) and isinstance(_strip(node.a), ex.Diag))

    def _inlinable(self, node: ex.Node) -> bool:
        """An entrywise row node read once per entry by one entrywise consumer: printed inside it."""
        if not self._entrywise(node) or id(node) in self.shift:
            return False
        users = self._consumers(node)
        if users is None or len(users) != 1:
            return False
        u = users[0]
        if any(u is red for red, form, _ in self.sched.reduces if form in ("total", "colsum")):
            return True
        return (self._entrywise(u) or isinstance(u, ex.RowSum)) and self.kind(u) == "row"

    # buffers: one per live row quantity, reused once it is dead ---------------------------------------
    def _reads(self, node: ex.Node) -> set[int]:
        """Buffers (by node id) read when ``node`` is printed, looking through inlined nodes and diag(·)."""
        out: set[int] = set()
        kids = list(node.children)
        if id(node) in self.shift and self.shift[id(node)][1] is not None:
            kids.append(self.shift[id(node)][1])
        for c in kids:
            sc = _strip(c)
            if self.kind(c) != "row" or isinstance(sc, (ex.Tril, ex.Identity, ex.Fill)):
                continue
            if id(sc) in self.inline or (isinstance(sc, ex.Diag) and id(sc) not in self.bufs_planned):
                out |= self._reads(sc)
            else:
                out.add(id(sc))
        return out

    def _allocate(self) -> None:
        rows = self.sched.rows
        self.bufs_planned = {id(r) for r in rows}
        end = len(rows)
        last: dict[int, int] = {}
        for i, r in enumerate(rows):
            for x in self._reads(r):
                last[x] = i
        for node, _, ops in self.sched.reduces:
            for op in ops:
                so = _strip(op)
                for x in (self._reads(so) if id(so) in self.inline else {id(so)}):
                    last[x] = end
        free: dict[str, list[str]] = {}
        self.bufs: dict[int, str] = {}
        self.buf_cols: dict[str, sp.Expr] = {}
        for i, r in enumerate(rows):
            if isinstance(r, (ex.Tril, ex.Identity, ex.Fill)):
                continue
            cols = self.size(r.shape[1])
            dying = [x for x in self._reads(r) if last.get(x) == i and x in self.bufs]
            same = [x for x in dying if self.buf_cols[self.bufs[x]] == cols]
            if self._entrywise(r) and same:  # in place: entry (l, b) is read before it is written
                name = self.bufs[same[0]]
                dying.remove(same[0])
            elif free.get(cols):
                name = free[cols].pop()
            else:
                name = f"buf{len(self.buf_cols)}"
                self.buf_cols[name] = cols
            self.bufs[id(r)] = name
            for x in dying:
                free.setdefault(self.buf_cols[self.bufs[x]], []).append(self.bufs[x])
            if last.get(id(r)) is None:  # read by nobody (cannot happen for a needed node) — release
                free.setdefault(cols, []).append(name)

    def _reduce_form(self, node: ex.Node) -> tuple[str, tuple]:
        """A reduce node as ('outer', (x, y)) = Σ_j x_jᵀ y_j, ('total', (a,)) or ('colsum', (a,))."""
        if isinstance(node, ex.Total):
            return "total", (node.a,)
        if isinstance(node, ex.ColSum):
            return "colsum", (node.a,)
        if isinstance(node, ex.MatMul):
            factors = _flatten(node)
            for k in range(1, len(factors)):
                left = _product([_transpose(f) for f in reversed(factors[:k])])
                right = _product(factors[k:])
                if self._streams(left) and self._streams(right):
                    self.sched.keep += [left, right]
                    return "outer", (left, right)
        raise CodegenError(f"The chain's {show(node)} sums over rows in a way the kernel printer cannot stream.")

    def _streams(self, node: ex.Node) -> bool:
        """A product whose first factor has n rows and whose other factors are global."""
        factors = _flatten(node) if isinstance(node, ex.MatMul) else [node]
        first = factors[0]
        if not _is_n(first.shape[0]) or isinstance(_strip(first), ex.Transpose) and self.kind(_strip(first).a) == "row":
            return False
        try:
            return all(self.kind(f) in ("global", "input") for f in factors[1:]) and self.kind(first) != "reduce"
        except CodegenError:
            return False

    def _find_shifts(self) -> None:
        """exp nodes that may be computed as exp(S − rowmax S): used only through diag((u1)⁻¹)u."""
        for node in self.sched.rows:
            if not (isinstance(node, ex.MatMul) and isinstance(_strip(node.a), ex.Diag)):
                continue
            pw = _strip(_strip(node.a).a)
            if not (isinstance(pw, ex.Pow) and pw.k == -1 and isinstance(_strip(pw.a), ex.RowSum)):
                continue
            u = _strip(_strip(pw.a).a)
            if u is not _strip(node.b):
                continue
            exp_node, mask = (u, None) if isinstance(u, ex.Exp) else (None, None)
            if isinstance(u, ex.Hadamard):
                a, b = _strip(u.a), _strip(u.b)
                exp_node, mask = (a, u.b) if isinstance(a, ex.Exp) else ((b, u.a) if isinstance(b, ex.Exp) else (None, None))
            if exp_node is None or self.kind(exp_node.a) != "row":
                continue
            allowed = {id(node), id(_strip(pw.a)), id(u)}
            if self._only_used_by(u, allowed | {id(pw)}) and self._only_used_by(exp_node, allowed) and \
                    self._only_used_by(_strip(pw.a), {id(pw)}):
                self.shift[id(exp_node)] = (exp_node.a, mask)

    def _only_used_by(self, node: ex.Node, allowed: set[int]) -> bool:
        out = []
        stack = list(self.sched.users.get(id(node), []))
        while stack:
            p = stack.pop()
            if isinstance(p, ex.Named):
                stack.extend(self.sched.users.get(id(p), []))
                if p.name in self.outputs:
                    return False
            else:
                out.append(p)
        return all(id(p) in allowed or isinstance(p, (ex.Diag, ex.Pow)) and self._only_used_by(p, allowed | {id(p)})
                   for p in out)

    # printing: access strings -------------------------------------------------------------------
    def size(self, x: sp.Expr) -> str:
        return sp.pycode(x)

    def at(self, node: ex.Node, col: str) -> str:
        """Entry (row j0+b, column col) of an n-row node, as an expression inside the block loops."""
        node_s = _strip(node)
        if isinstance(node_s, ex.Fill):
            return f"{float(node_s.value)!r}"
        kind = self.kind(node)
        c = "0" if node.shape[1] == 1 else col
        if kind == "row":
            if id(node_s) in self.inline:
                return f"({self._entry(node_s, col)})"
            if isinstance(node_s, ex.Tril):
                return f"(1.0 if {col} <= j0 + b else 0.0)"
            if isinstance(node_s, ex.Identity):
                return f"(1.0 if {col} == j0 + b else 0.0)"
            return f"{self.buf(node_s).name}[{c}, b]"
        if kind in ("global", "input"):
            if isinstance(node_s, ex.Transpose):  # a column read as a row broadcasts; else entry (c, j0 + b)
                return self._index(node_s.a, c, '0' if node_s.a.shape[1] == 1 else 'j0 + b')
            if node.shape[0] == 1:
                return self._index(node_s, "0", c)
            return self._index(node_s, "j0 + b", c)
        raise CodegenError(f"{show(node)} cannot be read by rows.")

    def _index(self, node: ex.Node, row: str, col: str) -> str:
        """Entry (row, col) of a global or input array (the batch printer offsets a sample's rows)."""
        return f"{self.arr(node)}[{row}, {col}]"

    def _part(self, node: ex.Node, row: str, col: str, transposed: bool = False) -> str:
        """This thread's partial sum of entry (row, col) of a reduction (kept transposed if asked)."""
        return f"{self.arr(node)}_parts[t, {col if transposed else row}, {row if transposed else col}]"

    def arr(self, node: ex.Node) -> str:
        """The array name of a global or input node (Named unwrapped)."""
        node = _strip(node)
        if isinstance(node, ex.Matrix):
            return node.name
        return self._name(node, "g")

    def buf(self, node: ex.Node) -> _Buf:
        node = _strip(node)
        return _Buf(self.bufs[id(node)], node.shape[1])

    # printing: phases ---------------------------------------------------------------------------
    def doprint(self, serial: bool = False) -> str:
        """The kernel's source; ``serial``: ``kernel_serial``, the same loops without threads, for callers
        that are themselves parallel (a Numba ``prange`` cannot launch another parallel region)."""
        self.serial = serial
        self.schedule()
        sizes = self._size_lines()
        L = ["@njit(cache=True, nogil=True, fastmath=False)" if serial else "@njit(parallel=True, cache=True, fastmath=False)",
             f"def kernel{'_serial' if serial else ''}({', '.join(self.input_names + self.parameters())}, nchunks, block):"
             "  # pragma: no cover - compiled"]
        body = sizes[:]
        for g in self.sched.glob:
            body += self._print_global(g)
        body += self._parts_lines("nchunks", self.size)
        body.append(f"for t in {'range' if self.serial else 'prange'}(nchunks):")
        blk = self._block_lines("stop")
        inner = self._buffer_lines()
        inner += ["start = t * n // nchunks", "stop = (t + 1) * n // nchunks", "for j0 in range(start, stop, block):"]
        inner += ["    " + x for x in blk]
        body += ["    " + x for x in inner]
        body += self._total_lines()
        for p in self.sched.post:
            body += self._print_global(p)
        outs = [self._value(self.model[o]) for o in self.outputs]
        body.append(f"return {', '.join(outs)}")
        return "\n".join(L + ["    " + x for x in body]) + "\n"

    def _parts_lines(self, count: str, size) -> list[str]:
        """The zeroed partial sums of every reduction (``count`` of them), transposed where they are kept so."""
        out = []
        for node, form, ops in self.sched.reduces:
            shape = [size(x) if not isinstance(x, str) else x for x in self._part_shape(node, size)]
            if self._parts_transposed(form, ops):
                shape.reverse()
            out.append(f"{self.arr(node)}_parts = np.zeros(({count}, {shape[0]}, {shape[1]}))")
        return out

    def _part_shape(self, node: ex.Node, size) -> list[sp.Expr]:
        return [node.shape[0], node.shape[1]]

    def _block_lines(self, stop: str) -> list[str]:
        """One block of rows j0 … j0 + nb − 1 (nb ≤ block, up to ``stop``): the row nodes, then the reductions."""
        blk = [f"nb = min(block, {stop} - j0)"]
        for r in self.sched.rows:
            blk += [f"# {self._label(r)}"] + getattr(self, "_print_" + type(r).__name__)(r)
        for node, form, ops in self.sched.reduces:
            blk += [f"# {self._label(node)}"] + self._print_reduce(node, form, ops)
        return blk

    def _buffer_lines(self) -> list[str]:
        """The row buffers and scratch arrays the block printed by _block_lines uses (print the block first)."""
        return [f"{name} = np.empty(({cols}, block))" for name, cols in self.buf_cols.items()] + self.scratch

    def _total_lines(self) -> list[str]:
        return [f"{self.arr(node)} = sum_parts{'_t' if self._parts_transposed(form, ops) else ''}({self.arr(node)}_parts)"
                for node, form, ops in self.sched.reduces]

    def parameters(self) -> tuple[str, ...]:
        """Scalar symbols other than the sizes (a scale ``s``): extra kernel arguments, by name."""
        found: set[sp.Symbol] = set()
        for name in self.outputs:
            for x in self.model[name].walk():
                for value in (getattr(x, "k", None), getattr(x, "value", None)):
                    if isinstance(value, sp.Expr):
                        found |= value.free_symbols
        return tuple(sorted(str(v) for v in found - {ex.n, ex.d}))

    def _label(self, node: ex.Node) -> str:
        names = [u.name for u in self.sched.users.get(id(node), []) if isinstance(u, ex.Named)]
        return (names[0] + " = " if names else "") + show(node)

    def _size_lines(self) -> list[str]:
        return size_lines([(x, self.inputs[x], x in self._stacked_inputs()) for x in self.input_names])

    def _stacked_inputs(self) -> tuple[str, ...]:
        """Inputs that arrive with the samples along an extra axis 0 (none here; see BatchPrinter)."""
        return ()

    def _value(self, node: ex.Node) -> str:
        node = _strip(node)
        kind = self.kind(node)
        if kind == "row":
            raise CodegenError(f"The output {show(node)} has n rows that depend on every row: it is not a kernel output.")
        return self.arr(node)

    # globals and post: whole small arrays ---------------------------------------------------------
    def _print_global(self, node: ex.Node) -> list[str]:
        name = self.arr(node)
        if isinstance(node, ex.MatMul):
            mm = "matmul_serial" if self.serial else "matmul"
            return [f"{name} = {mm}({self._whole(node.a)}, {self._whole(node.b)})"]
        if isinstance(node, ex.Scale):
            operand = self._whole(node.a)
            if self._temporary(node.a, node):  # scale in place: nothing else reads the operand
                return [f"{name} = {operand}", f"{name} *= {self.size(node.k)}"]
            return [f"{name} = ({self.size(node.k)}) * {operand}"]
        if isinstance(node, (ex.Add, ex.Hadamard)):
            a, b = self._whole(node.a), self._whole(node.b)
            if node.a.shape != node.b.shape and not (_scalar(node.a) or _scalar(node.b)):
                return [f"{name} = broadcast({a}, {b}, {isinstance(node, ex.Hadamard)})"]  # parfors cannot broadcast
            return [f"{name} = {a} {'*' if isinstance(node, ex.Hadamard) else '+'} {b}"]
        if isinstance(node, ex.Exp):
            return [f"{name} = np.exp({self._whole(node.a)})"]
        if isinstance(node, ex.Log):
            return [f"{name} = np.log({self._whole(node.a)})"]
        if isinstance(node, ex.Pow):
            return [f"{name} = {self._whole(node.a)} ** {float(node.k)!r}"]
        if isinstance(node, ex.RowSum):
            return [f"{name} = {self._whole(node.a)}.sum(axis=1).reshape(-1, 1)"]
        if isinstance(node, ex.ColSum):
            return [f"{name} = {self._whole(node.a)}.sum(axis=0).reshape(1, -1)"]
        if isinstance(node, ex.Total):
            return [f"{name} = np.full((1, 1), {self._whole(node.a)}.sum())"]
        if isinstance(node, ex.Fill):
            return [f"{name} = np.full(({self.size(node.shape[0])}, {self.size(node.shape[1])}), {float(node.value)!r})"]
        raise CodegenError(f"The kernel printer has no global form for {type(node).__name__} ({show(node)}).")

    def _temporary(self, node: ex.Node, user: ex.Node) -> bool:
        """An array this kernel computed (a reduction or a product, not an input, not an output) that only
        ``user`` reads."""
        s = _strip(node)
        if isinstance(s, (ex.Matrix, ex.Transpose, ex.Fill)) or self.kind(node) not in ("reduce", "post", "global"):
            return False
        if not isinstance(s, (ex.MatMul, ex.Total, ex.ColSum, ex.Scale, ex.Add)):
            return False
        return self._consumers(s) == [user]

    def _whole(self, node: ex.Node) -> str:
        s = _strip(node)
        if isinstance(s, ex.Fill) and s.shape == (1, 1):
            return f"{float(s.value)!r}"
        if isinstance(s, ex.Transpose):
            return f"{self._whole(s.a)}.T"
        return self.arr(s)

    # rows: one buffer of shape (cols, block) per node ----------------------------------------------
    def _loop(self, node: ex.Node, expr_of_l: str) -> list[str]:
        out = self.buf(node).name
        return [f"for l in range({self.size(node.shape[1])}):", "    for b in range(nb):",
                f"        {out}[l, b] = {expr_of_l}"]

    def _entry(self, node: ex.Node, col: str) -> str:
        """The entry (j0+b, col) of an entrywise node as an expression of its operands' entries."""
        if isinstance(node, ex.Add):
            return f"{self.at(node.a, col)} + {self.at(node.b, col)}"
        if isinstance(node, ex.Hadamard):
            return f"{self.at(node.a, col)} * {self.at(node.b, col)}"
        if isinstance(node, ex.Scale):
            return f"-{self.at(node.a, col)}" if node.k == -1 else f"({self.size(node.k)}) * {self.at(node.a, col)}"
        if isinstance(node, ex.Pow):
            x = self.at(node.a, col)
            return {-1: f"1.0 / {x}", 2: f"{x} * {x}"}.get(int(node.k) if node.k.is_Integer else None, f"{x} ** {float(node.k)!r}")
        if isinstance(node, ex.Log):
            return f"math.log({self.at(node.a, col)})"
        if isinstance(node, ex.Exp):
            return f"math.exp({self.at(node.a, col)})"
        if isinstance(node, ex.MatMul) and isinstance(_strip(node.a), ex.Diag):  # diag(v)·M scales row j by v_j
            return f"{self.at(_strip(node.a).a, '0')} * {self.at(node.b, col)}"
        raise CodegenError(f"{show(node)} is not entrywise.")

    def _print_Add(self, node):
        return self._loop(node, self._entry(node, "l"))

    _print_Hadamard = _print_Scale = _print_Pow = _print_Log = _print_Add

    def _print_Exp(self, node):
        if id(node) not in self.shift:
            return self._loop(node, self._entry(node, "l"))
        arg, mask = self.shift[id(node)]
        self._count += 1
        m = f"rowmax{self._count}"
        keep = f" and {self.at(mask, 'l')} != 0.0" if mask is not None else ""
        self.scratch.append(f"{m} = np.empty(block)")
        return ["for b in range(nb):", f"    {m}[b] = -np.inf", f"for l in range({self.size(node.shape[1])}):",
                "    for b in range(nb):", f"        x = {self.at(arg, 'l')}",
                f"        if x > {m}[b]{keep}:", f"            {m}[b] = x",
                "for b in range(nb):", f"    if not {m}[b] > -np.inf:", f"        {m}[b] = 0.0",
                ] + self._loop(node, f"exp_nonpos({self.at(arg, 'l')} - {m}[b])")

    def _print_Transpose(self, node):
        raise CodegenError(f"{show(node)} transposes a row quantity, which a row-streaming kernel cannot form.")

    def _print_RowSum(self, node):
        out = self.buf(node).name
        return ["for b in range(nb):", f"    {out}[0, b] = 0.0", f"for l in range({self.size(node.a.shape[1])}):",
                "    for b in range(nb):", f"        {out}[0, b] += {self.at(node.a, 'l')}"]

    def _print_Diag(self, node):
        return self._loop(node, f"({self.at(node.a, '0')} if l == j0 + b else 0.0)")

    def _print_Tril(self, node):
        return []

    _print_Identity = _print_Fill = _print_Tril

    def _print_MatMul(self, node):
        a, b = _strip(node.a), _strip(node.b)
        out = self.buf(node).name
        if isinstance(a, ex.Diag):
            return self._loop(node, self._entry(node, "l"))
        if isinstance(b, ex.Diag):  # M·diag(v) scales column l by v_l: v must be known for every l
            if self.kind(b.a) == "row":
                raise CodegenError(f"{show(node)} scales columns by a row quantity; a row-streaming kernel cannot form it.")
            return self._loop(node, f"{self.at(node.a, 'l')} * {self._index(b.a, 'l', '0')}")
        if self.kind(node.b) == "row":
            raise CodegenError(f"{show(node)} multiplies by a row quantity on the right; the kernel cannot stream it.")
        K, C = self.size(node.a.shape[1]), self.size(node.b.shape[1])
        head = [f"for c in range({C}):", "    for b in range(nb):", f"        {out}[c, b] = 0.0"]
        left = self.at(node.a, "k")
        if self.kind(node.a) != "row":  # a global's rows, loaded once per block as columns
            self._count += 1
            tmp = f"left{self._count}"
            self.scratch.append(f"{tmp} = np.empty(({K}, block))")
            head += [f"for k in range({K}):", "    for b in range(nb):", f"        {tmp}[k, b] = {left}"]
            left = f"{tmp}[k, b]"
        acc = f"{out}[c, b] += {left} * g"
        if isinstance(b, ex.Transpose):  # B = Gᵀ with G stored row-major: walk G by rows
            return head + [f"for c in range({C}):", f"    for k in range({K}):", f"        g = {self._index(b.a, 'c', 'k')}",
                           "        for b in range(nb):", f"            {acc}"]
        return head + [f"for k in range({K}):", f"    for c in range({C}):", f"        g = {self._whole_at(node.b, 'k', 'c')}",
                       "        for b in range(nb):", f"            {acc}"]

    def _whole_at(self, node: ex.Node, i: str, j: str) -> str:
        s = _strip(node)
        if isinstance(s, ex.Fill):
            return f"{float(s.value)!r}"
        if isinstance(s, ex.Transpose):
            return self._whole_at(s.a, j, i)
        return self._index(s, i, j)

    def _print_reduce(self, node, form, ops) -> list[str]:
        if form == "total":
            a = ops[0]
            return ["acc = 0.0", f"for l in range({self.size(a.shape[1])}):", "    for b in range(nb):",
                    f"        acc += {self.at(a, 'l')}", f"{self._part(node, '0', '0')} += acc"]
        if form == "colsum":
            a = ops[0]
            return [f"for l in range({self.size(a.shape[1])}):", "    acc = 0.0", "    for b in range(nb):",
                    f"        acc += {self.at(a, 'l')}", f"    {self._part(node, '0', 'l')} += acc"]
        x, y = ops
        P, Q = self.size(x.shape[1]), self.size(y.shape[1])
        if self._by_rows(y):  # y's row j0+b is contiguous: the innermost loop runs along it
            return ["for b in range(nb):", f"    for p in range({P}):", f"        v = {self.at(x, 'p')}",
                    f"        for q in range({Q}):", f"            {self._part(node, 'p', 'q')} += v * {self.at(y, 'q')}"]
        if self._by_rows(x):  # the same along x's row; the partials are kept transposed
            return ["for b in range(nb):", f"    for q in range({Q}):", f"        v = {self.at(y, 'q')}",
                    f"        for p in range({P}):", f"            {self._part(node, 'p', 'q', True)} += v * {self.at(x, 'p')}"]
        return [f"for p in range({P}):", f"    for q in range({Q}):",
                "        acc = 0.0", "        for b in range(nb):",
                f"            acc += {self.at(x, 'p')} * {self.at(y, 'q')}", f"        {self._part(node, 'p', 'q')} += acc"]

    def _by_rows(self, node: ex.Node) -> bool:
        """An input or global with n rows (not a transpose, not a column): row j0+b is contiguous in memory."""
        return (self.kind(node) in ("global", "input") and not isinstance(_strip(node), ex.Transpose)
                and _is_n(node.shape[0]) and node.shape[1] != 1)

    def _parts_transposed(self, form: str, ops: tuple) -> bool:
        return form == "outer" and not self._by_rows(ops[1]) and self._by_rows(ops[0])


_LETTERS = {"α": "alpha", "∇": "grad_", "₁": "1", "₂": "2", "₃": "3", "̃": "t"}


def _identifier(name: str) -> str:
    out = "".join(_LETTERS.get(ch, ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_") for ch in name)
    return out if out and out[0].isalpha() else f"v_{out}"


def _flatten(node: ex.Node) -> list[ex.Node]:
    """The factors of a product chain (named definitions stay whole), transposes pushed onto factors."""
    if isinstance(node, ex.MatMul):
        return _flatten(node.a) + _flatten(node.b)
    if isinstance(node, ex.Transpose):
        if isinstance(node.a, ex.MatMul):
            return [_transpose(f) for f in reversed(_flatten(node.a))]
        if isinstance(node.a, ex.Transpose):
            return _flatten(node.a.a)
    return [node]


def _scalar(node: ex.Node) -> bool:
    s = _strip(node)
    return isinstance(s, ex.Fill) and s.shape == (1, 1)


def _contracts_rows(first: ex.Node) -> bool:
    """The first factor of a product is the transpose of an n-row quantity: the product sums over rows."""
    s = _strip(first)
    return isinstance(s, ex.Transpose) and _is_n(s.a.shape[0])


def _transpose(node: ex.Node) -> ex.Node:
    s = _strip(node)
    return s.a if isinstance(s, ex.Transpose) else ex.Transpose(node)


def _product(factors: list[ex.Node]) -> ex.Node:
    out = factors[0]
    for f in factors[1:]:
        out = ex.MatMul(out, f)
    return out


HEADER = '''"""Generated by `attngrad codegen` from the chain {model} — do not edit; regenerate with `{command}`.

Outputs: {outputs}.
Chain ({provenance}):
{chain}
"""
{imports}
import numpy as np
from numba import njit, prange

from attngrad.numeric.kernel_support import broadcast, exp_nonpos, matmul, matmul_serial, sum_parts, sum_parts_t

INPUTS = {inputs!r}
BATCH_INPUTS = {batch!r}
FROZEN = {frozen!r}  # inputs that frozen_serial(*FROZEN_ARGS) computes
FROZEN_ARGS = {frozen_args!r}
PARAMETERS = {params!r}
OUTPUTS = {out_names!r}
BLOCK = {block}


'''


class BatchPrinter(KernelPrinter):
    """``batch_serial``: the mean of the outputs over a batch of samples, in one function.

    The samples of a batch input (axis 0) are stacked into one 2-D array of N·n rows. Products of stacked
    arrays with shared ones run once for the whole batch (X·W_Q over all N·n rows), the row loop runs sample
    after sample over the stacked arrays with its buffers allocated once, a reduction that keeps the token
    axis is kept per sample (stacked), any other is summed over the samples, and a sum over tokens of two
    stacked arrays is one product over the stack (Σ_i X_iᵀA_i = X_stackᵀA_stack). Every output must be such a
    sum over samples; the function returns it divided by N. A chain outside these rules raises CodegenError
    (the caller falls back to a loop over ``kernel_serial``)."""

    def __init__(self, model: Model, outputs: dict[str, str], inputs: tuple[str, ...]):
        super().__init__(model, outputs, inputs)
        self.serial = True
        self.forms: dict[int, str] = {}  # node id → shared | stacked | summed

    def form(self, node: ex.Node) -> str:
        key = id(_strip(node))
        if key not in self.forms:
            self.forms[key] = self._form(node)
        return self.forms[key]

    def _form(self, node: ex.Node) -> str:
        s = _strip(node)
        if isinstance(s, ex.Matrix):
            return "stacked" if s.name in self.model.batch_inputs else "shared"
        if isinstance(s, (ex.Fill, ex.Identity)):
            return "shared"
        kind = self.kind(s)
        if kind == "reduce":
            return "stacked" if _is_n(s.shape[0]) or _is_n(s.shape[1]) else "summed"
        kids = [self.form(c) for c in s.children]
        if isinstance(s, (ex.Transpose, ex.Scale, ex.Named)):
            return kids[0]
        if all(k == "shared" for k in kids):
            return "shared"
        if isinstance(s, ex.MatMul):
            fa, fb = kids
            if "summed" in kids and "stacked" not in kids:
                return "summed"
            if fa == "stacked" and isinstance(_strip(s.a), ex.Transpose) and _is_n(s.a.shape[1]) and fb == "stacked":
                return "summed"  # Σ_i A_iᵀB_i over the stacked rows
            if fa == "stacked" and fb == "shared" and _is_n(s.shape[0]) and not isinstance(_strip(s.a), ex.Transpose):
                return "stacked"  # row by row
        elif isinstance(s, (ex.Add,)):
            if len(set(kids)) == 1:
                return kids[0]
        elif isinstance(s, ex.Hadamard):
            if "summed" not in kids or set(kids) == {"summed", "shared"}:
                return "summed" if "summed" in kids else "stacked"
        elif isinstance(s, (ex.RowSum, ex.Pow, ex.Exp, ex.Log)):
            if kids[0] == "stacked":
                return "stacked"
        elif isinstance(s, (ex.ColSum, ex.Total)) and kids[0] == "stacked":
            return "summed"
        raise CodegenError(f"{show(s)} does not split into a sum over the samples of a batch.")

    def _index(self, node: ex.Node, row: str, col: str) -> str:
        s = _strip(node)
        if self.form(s) == "stacked":
            row = f"i * n + {row}" if _is_n(s.shape[0]) else row
            col = f"i * n + {col}" if _is_n(s.shape[1]) and not _is_n(s.shape[0]) else col
        return f"{self.arr(s)}[{row}, {col}]"

    def _part(self, node: ex.Node, row: str, col: str, transposed: bool = False) -> str:
        if self.form(node) == "stacked":
            row = f"i * n + {row}" if _is_n(node.shape[0]) else row
            col = f"i * n + {col}" if _is_n(node.shape[1]) and not _is_n(node.shape[0]) else col
        return f"{self.arr(node)}_parts[0, {col if transposed else row}, {row if transposed else col}]"

    def arr(self, node: ex.Node) -> str:
        s = _strip(node)
        if isinstance(s, ex.Matrix) and s.name in self.model.batch_inputs:
            return s.name + "_s"
        return super().arr(s)

    def _part_shape(self, node: ex.Node, size) -> list:
        """A stacked reduction keeps every sample's token axis: N·n entries along it."""
        if self.form(node) != "stacked":
            return [node.shape[0], node.shape[1]]
        return ["N * n" if _is_n(x) else x for x in node.shape]

    def doprint_batch(self) -> str:
        self.schedule()
        for name in self.outputs:
            if self.form(self.model[name]) != "summed":
                raise CodegenError(f"The output {name} is not a sum over the samples of a batch.")
        for node in self.sched.glob + self.sched.post:
            self.form(node)
        first = self.model.batch_inputs[0]
        body = [f"N = {first}.shape[0]"] + self._size_lines()
        for name in self.model.batch_inputs:
            m = self.inputs[name]
            body.append(f"{name}_s = {name}.reshape(N * {self.size(m.shape[0])}, {self.size(m.shape[1])})")
        for g in self.sched.glob:
            if self.form(g) == "stacked" and isinstance(g, ex.MatMul) and self.form(g.b) != "shared":
                raise CodegenError(f"{show(g)} is a product within each sample; the batch printer forms none.")
            body += self._print_global(g)
        body += self._parts_lines("1", self.size)
        blk = self._block_lines("n")
        body += self._buffer_lines()
        body += ["for i in range(N):", "    for j0 in range(0, n, block):"] + ["        " + x for x in blk]
        body += self._total_lines()
        for p in self.sched.post:
            body += self._print_global(p)
        outs = [self._value(self.model[o]) for o in self.outputs]
        body.append(f"return {', '.join(f'{o} / N' for o in outs)}")
        head = ["@njit(cache=True, nogil=True, fastmath=False)",
                f"def batch_serial({', '.join(self.input_names + self.parameters())}, block):  # pragma: no cover - compiled",
                f'    """Means over the samples (axis 0 of {", ".join(self.model.batch_inputs)}) of '
                f'{", ".join(self.outputs.values())}, in one pass over the batch."""']
        return "\n".join(head + ["    " + x for x in body]) + "\n"

    def _stacked_inputs(self) -> tuple[str, ...]:
        return self.model.batch_inputs


def size_lines(arrays: list[tuple[str, ex.Matrix, bool]]) -> list[str]:
    """``d = W_Q.shape[1]``: each size symbol read off the first array (name, matrix, has a sample axis 0) that has it."""
    out = []
    for sym in sorted({x for _, m, _ in arrays for dim in m.shape for x in dim.free_symbols}, key=str):
        for name, m, stacked in arrays:
            axes = [k for k in (0, 1) if m.shape[k] == sym]
            if axes:
                out.append(f"{sym} = {name}.shape[{axes[0] + int(stacked)}]")
                break
    return out


def _print_frozen(model: Model) -> list[str]:
    """``frozen_serial``: the chain's frozen inputs (products of other inputs, constant while training) for every
    sample of a batch, from those inputs — so that a caller never types these products again."""
    leaves: dict[str, ex.Matrix] = {}
    for node in model.frozen.values():
        leaves.update(ex.leaves(node))
    args = list(frozen_args(model))
    stacked = [x for x in args if x in model.batch_inputs]
    if not stacked:
        raise CodegenError(f"Model {model.name}'s frozen inputs do not depend on a sample.")

    def product(node: ex.Node) -> str:
        node = _strip(node)
        if isinstance(node, ex.Matrix):
            return f"{node.name}_s" if node.name in stacked else node.name
        if isinstance(node, ex.MatMul):
            return f"matmul_serial({product(node.a)}, {product(node.b)})"
        raise CodegenError(f"The frozen input {show(node)} is not a product of inputs.")

    first = stacked[0]
    lines = ["@njit(cache=True, nogil=True)", f"def frozen_serial({', '.join(args)}):  # pragma: no cover - compiled",
             f'    """{", ".join(f"{k} = {show(v)}" for k, v in model.frozen.items())}, for every sample (axis 0)."""',
             f"    N = {first}.shape[0]"]
    lines += ["    " + x for x in size_lines([(x, leaves[x], x in stacked) for x in args]
                                           + [(k, model.inputs()[k], True) for k in model.frozen])]
    lines += [f"    {x}_s = {x}.reshape(N * {sp.pycode(leaves[x].shape[0])}, {sp.pycode(leaves[x].shape[1])})" for x in stacked]
    for name, node in model.frozen.items():
        rows, cols = (sp.pycode(x) for x in model.inputs()[name].shape)
        lines.append(f"    {_identifier(name)} = {product(node)}.reshape(N, {rows}, {cols})")
    lines.append(f"    return {', '.join(_identifier(k) for k in model.frozen)}{',' if len(model.frozen) == 1 else ''}")
    return lines


def _print_batch(model: Model, outputs: dict[str, str], inputs: tuple[str, ...]) -> str:
    """``batch_serial``: the mean of every output over samples stacked along axis 0 of the batch inputs;
    ``samples_serial``: every output of each sample; ``descend_serial``: gradient descent on the mean for every
    input whose gradient ``∇name`` is an output."""

    args = ", ".join(inputs)
    call = ", ".join(f"{x}[i]" if x in model.batch_inputs else x for x in inputs)
    outs = list(outputs.values())
    first = model.batch_inputs[0]
    loss = outputs[model.loss.name]
    grads = [(chain[1:], py) for chain, py in outputs.items() if chain.startswith("∇") and chain[1:] in inputs]
    if not grads:
        raise CodegenError(f"Model {model.name} has no gradient of an input to descend along.")
    code = {name: k for k, name in enumerate(DESCENT_STATUS)}
    try:
        batch = [BatchPrinter(model, outputs, inputs).doprint_batch()]
    except CodegenError:  # a chain the batch printer cannot split: loop over the samples instead
        batch = [
            "@njit(cache=True, nogil=True)",
            f"def batch_serial({args}, block):  # pragma: no cover - compiled",
            f'    """Means over the samples (axis 0 of {", ".join(model.batch_inputs)}) of {", ".join(outs)}."""',
            "    i = 0",
            f"    {', '.join(outs)} = kernel_serial({call}, 1, block)",
            f"    for i in range(1, {first}.shape[0]):",
            f"        o = kernel_serial({call}, 1, block)",
            *[f"        {o} += o[{k}]" for k, o in enumerate(outs)],
            f"    return {', '.join(f'{o} / {first}.shape[0]' for o in outs)}",
        ]
    lines = [
        *batch,
        "", "",
        "@njit(cache=True, nogil=True)",
        f"def samples_serial({args}, block):  # pragma: no cover - compiled",
        f'    """{", ".join(outs)} of each sample, stacked along a new axis 0 (one row per sample of the batch)."""',
        "    i = 0",
        f"    o = kernel_serial({call}, 1, block)",
        *[f"    {o} = np.empty(({first}.shape[0],) + o[{k}].shape)" for k, o in enumerate(outs)],
        f"    for i in range({first}.shape[0]):",
        f"        o = kernel_serial({call}, 1, block)",
        *[f"        {o}[i] = o[{k}]" for k, o in enumerate(outs)],
        f"    return {', '.join(outs)}",
        "", "",
        "@njit(cache=True, nogil=True)",
        f"def descend_serial({args}, train, eta, start, stop, tol, window, plateau_rtol, div_limit, losses, gsq, block):"
        "  # pragma: no cover - compiled",
        f'    """Gradient descent on {", ".join(v for v, _ in grads)} where ``train`` is True, updated in place: losses[t] and',
        "    gsq[t] (squared norm of the trained gradients) are recorded before step t's update. Returns (status, last",
        f'    step), status {", ".join(f"{k} {s}" for k, s in enumerate(DESCENT_STATUS))}: it stops when the loss is below tol,',
        '    is not finite or above div_limit, or fell by at most plateau_rtol (relative) over the last window steps."""',
        "    for t in range(start, stop):",
        f"        {', '.join(outs)} = batch_serial({args}, block)",
        f"        f = {loss}[0, 0]",
        "        g2 = 0.0",
    ]
    for k, (_, py) in enumerate(grads):
        lines += [f"        if train[{k}]:", f"            g2 += np.sum({py} * {py})"]
    lines += [
        "        losses[t] = f",
        "        gsq[t] = g2",
        "        if not (np.isfinite(f) and np.isfinite(g2)) or f > div_limit:",
        f"            return {code['diverged']}, t",
        "        if f < tol:",
        f"            return {code['converged']}, t",
        "        if t >= window and losses[t - window] - f <= plateau_rtol * losses[t - window]:",
        f"            return {code['plateau']}, t",
    ]
    for k, (v, py) in enumerate(grads):
        lines += [f"        if train[{k}]:", f"            {v} -= eta * {py}"]
    lines.append(f"    return {code['running']}, stop - 1")
    if model.frozen:
        lines += ["", ""] + _print_frozen(model)
    return "\n".join(lines) + "\n"


def frozen_args(model: Model) -> tuple[str, ...]:
    """The arguments of ``frozen_serial`` (the sample inputs first), or () without frozen inputs."""
    if not (model.frozen and model.batch_inputs):
        return ()
    leaves: set[str] = set()
    for node in model.frozen.values():
        leaves |= set(ex.leaves(node))
    return tuple([x for x in model.batch_inputs if x in leaves] + sorted(x for x in leaves if x not in model.batch_inputs))


def generate(model: Model, outputs: dict[str, str], inputs: tuple[str, ...], command: str = "attngrad codegen") -> str:
    """The source of a Numba module whose ``kernel(*inputs, *parameters, nchunks, block)`` returns the outputs
    (and ``kernel_serial``, the same without threads, for callers that run in parallel themselves).

    ``outputs`` maps chain names to Python names (``{"L": "loss", "∇X": "grad_X"}``).
    """
    printer = KernelPrinter(model, outputs, inputs)
    body = printer.doprint() + "\n\n" + KernelPrinter(model, outputs, inputs).doprint(serial=True)
    if model.batch_inputs:
        body += "\n\n" + _print_batch(model, outputs, inputs)
    chain = "\n".join(f"    {name} = {text}" + (f"    # {doc}" if doc else "") for name, text, doc in model.describe())
    return HEADER.format(imports="\nimport math\n" if "math." in body else "", model=model.name, command=command, outputs=", ".join(f"{k} → {v}" for k, v in outputs.items()),
                         chain=chain, provenance="derive/, checked by `attngrad check`" if command == "attngrad codegen" else
                         "from the file named in the command above", inputs=tuple(inputs), batch=tuple(model.batch_inputs), frozen=tuple(model.frozen),
                         frozen_args=frozen_args(model), params=printer.parameters(), out_names=tuple(outputs.values()),
                         block=BLOCK) + body


# closed forms as plain Python ------------------------------------------------------------------------
@dataclass
class Formulas:
    """Closed forms (SymPy) that the numeric code evaluates, printed as keyword-only Python functions."""

    name: str
    source: str  # where the derivations live, for the header
    exprs: dict[str, sp.Expr]


class _FormulaPrinter(PythonCodePrinter):
    def _print_binomial(self, expr):  # exact integers, not Γ-function ratios
        return f"math.comb({self._print(expr.args[0])}, {self._print(expr.args[1])})"


def render_formulas(target: Formulas, command: str = "attngrad codegen") -> str:
    printer = _FormulaPrinter({"fully_qualified_modules": True})
    lines = [f'"""{target.name}: closed forms printed by `{command}` from {target.source}. Do not edit."""', "",
             "import math", ""]
    for name, expr in target.exprs.items():
        args = sorted((str(a) for a in expr.free_symbols))
        lines += ["", f"def {name}(*, {', '.join(args)}):", f"    return {printer.doprint(expr)}", ""]
    return "\n".join(lines)


# the modules `attngrad codegen` writes ----------------------------------------------------------------
def module_name(model: Model) -> str:
    return _identifier(model.name.lower()).strip("_")


def render(model: Model | Formulas, command: str = "attngrad codegen") -> str:
    if isinstance(model, Formulas):
        return render_formulas(model, command)
    outputs = model.kernel_outputs()
    if not outputs:
        raise CodegenError(f"Model {model.name} has no loss and no ∇ definitions to generate.")
    return generate(model, outputs, model.kernel_inputs(), command)


def stale(targets: dict[str, Model | Formulas], out_dir: Path, command: str = "attngrad codegen") -> list[Path]:
    """The files in ``out_dir`` that differ from what their chains print now (or are missing)."""
    out = []
    for module, model in targets.items():
        path = out_dir / f"{module}.py"
        if not path.is_file() or path.read_text(encoding="utf-8") != render(model, command):
            out.append(path)
    return out


def write(targets: dict[str, Model | Formulas], out_dir: Path, command: str = "attngrad codegen") -> list[Path]:
    """Print every target, then write each file atomically; nothing is written if one fails to print."""
    texts = {out_dir / f"{module}.py": render(model, command) for module, model in targets.items()}
    mask = os.umask(0)
    os.umask(mask)
    temps: dict[Path, str] = {}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for path, text in texts.items():  # every file is written in full before any is replaced
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=out_dir, suffix=".tmp", delete=False) as fh:
                temps[path] = fh.name
                fh.write(text)
            os.chmod(fh.name, 0o666 & ~mask)  # as an ordinary new file (NamedTemporaryFile makes them 0600)
        for path, tmp in temps.items():
            os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"Cannot write the generated kernels to {out_dir}: {exc.strerror or exc}.") from None
    finally:
        for tmp in temps.values():
            if os.path.exists(tmp):
                os.unlink(tmp)
    return list(texts)
