"""The Numba row-streaming kernel: ``kernel`` (``prange`` over chunks of rows) and ``kernel_serial`` (docs/design.md).

Globals are whole arrays computed before the row loop; row nodes are computed for a block of rows at a time
inside ``prange`` over per-thread chunks, each in a scratch buffer of shape (columns, block); each thread
adds its reductions into its own partial, and the partials are summed after the loop; post nodes follow.

A row product with a global factor (the block's scores ``A₂·(A₁X)ᵀ``, ``f·h``, ``p·A₂``) is one BLAS call on the
block (``np.dot`` into its buffer; Numba calls SciPy's BLAS), so its d- or n-long dot products run at the
machine's GEMM rate. Row quantities are computed in the dtype of the inputs (``dt``: float32 in float32), the
quantities that sum over a row or over the rows in float64: per-row scalars (row sums, their inverses, row
maxima aside), every reduction's partials and the outputs; the caller rounds the outputs.
"""

from __future__ import annotations

import sympy as sp

from .. import expr as ex
from ..model import Model
from ..printing import show
from .arrays import ArrayPrinter
from .buffers import allocate
from .printer import CodegenError
from .schedule import Schedule, is_n
from .softmax import find_shifts


class KernelPrinter(ArrayPrinter):
    """Turns a model's outputs into the source of a Numba kernel, one ``_<family>_<Node>`` method per decision."""

    target = "kernel"
    blas = True  # row products as BLAS calls on the block (the batch printer keeps loops: its sizes are small)

    def __init__(self, model: Model, outputs: dict[str, str], inputs: tuple[str, ...]):
        super().__init__(model, outputs, inputs)
        self.bufs: dict[int, str] = {}  # row node id -> its buffer (buffers.py)
        self.buf_cols: dict[str, str] = {}
        self.scratch: list[str] = []  # per-chunk buffers besides the row buffers
        self.scratch_cols: list[str] = []  # the columns of each (a 1-d scratch of ``block`` entries has 1)
        self.casts: dict[str, str] = {}  # array → its copy in the dtype of the inputs, for BLAS calls
        self.via: dict[int, tuple[ex.Node, ex.Node]] = {}  # row product R·(P·Q) → (R·P, Q): _share_products

    def schedule(self) -> Schedule:
        """The phases (schedule.py), the shifted exps (softmax.py), the inlined nodes and the buffers (buffers.py)."""
        super().schedule()
        if self.blas:
            self._share_products()
        self.shift = find_shifts(self)
        self.inline = {id(r) for r in self.sched.rows if self.inlinable(r)}
        self.sched.rows = [r for r in self.sched.rows if id(r) not in self.inline]
        self.bufs, self.buf_cols = allocate(self)
        return self.sched

    def _share_products(self) -> None:
        """A row product R·G, G = P·Q a global product, is printed as (R·P)·Q when the kernel forms the row
        product R·P anyway and it has as many columns as R·G (``f·h = (f·A₃)·Y`` where ``∇_Y`` needs ``f·A₃``):
        a columns × columns product per row instead of an n-long one. R·P is moved up to just before R·G."""
        rows = self.sched.rows
        for m in list(rows):
            g = ex.bare(m.b) if isinstance(m, ex.MatMul) else None
            if g is None or self.kind(m.a) != "row" or not isinstance(g, ex.MatMul) or self.kind(g) != "global":
                continue
            for k in rows:
                if (k is not m and isinstance(k, ex.MatMul) and ex.bare(k.a) is ex.bare(m.a)
                        and ex.bare(k.b) is ex.bare(g.a) and k.shape[1] == m.shape[1] and not is_n(k.shape[1])):
                    self.via[id(m)] = (k, g.b)
                    rows.remove(k)
                    rows.insert(rows.index(m), k)
                    self.sched.users.setdefault(id(k), []).append(m)
                    break

    def operands(self, node: ex.Node) -> tuple[ex.Node, ...]:
        return self.via.get(id(node), node.children)

    # entries inside the block loops: _at_<Node> -------------------------------------------------------------
    def at(self, node: ex.Node, col: str) -> str:
        """Entry (row j0+b, column col) of an n-row node, as an expression inside the block loops."""
        return self.dispatch("at", ex.bare(node), col)

    def _at_Fill(self, node, col):
        return f"{float(node.value)!r}"

    def _at_Tril(self, node, col):
        return f"(1.0 if {col} <= j0 + b else 0.0)"

    def _at_Identity(self, node, col):
        return f"(1.0 if {col} == j0 + b else 0.0)"

    def _at_Transpose(self, node, col):
        if self.kind(node) not in ("global", "input"):
            return self._at_Node(node, col)
        c = "0" if node.shape[1] == 1 else col  # a column read as a row broadcasts; else entry (c, j0 + b)
        return self._index(node.a, c, '0' if node.a.shape[1] == 1 else 'j0 + b')

    def _at_Node(self, node, col):
        kind = self.kind(node)
        c = "0" if node.shape[1] == 1 else col
        if kind == "row":
            if id(node) in self.inline:
                return f"({self.entry(node, col)})"
            return f"{self.buf(node)}[{c}, b]"
        if kind in ("global", "input"):
            return self._index(node, "0" if node.shape[0] == 1 else "j0 + b", c)
        raise CodegenError(f"{show(node)} cannot be read by rows.")

    def _part(self, node: ex.Node, row: str, col: str, transposed: bool = False) -> str:
        """This thread's partial sum of entry (row, col) of a reduction (kept transposed if asked)."""
        return f"{self.arr(node)}_parts[t, {col if transposed else row}, {row if transposed else col}]"

    def buf(self, node: ex.Node) -> str:
        """The buffer of a row node."""
        return self.bufs[id(ex.bare(node))]

    # the kernel, phase by phase -------------------------------------------------------------------------
    def doprint(self, serial: bool = False) -> str:
        """The kernel's source; ``serial``: ``kernel_serial``, the same loops without threads, for callers
        that are themselves parallel (a Numba ``prange`` cannot launch another parallel region)."""
        self.serial = serial
        self.schedule()
        sizes = self._size_lines()
        L = ["@njit(cache=True, nogil=True, fastmath=False)" if serial else "@njit(parallel=True, cache=True, fastmath=False)",
             (f"def kernel{'_serial' if serial else ''}({', '.join(self.input_names + self.parameters())}, nchunks, block):"
              "  # pragma: no cover - compiled")]
        body = sizes + [f"dt = {self.input_names[0]}.dtype"]
        for g in self.sched.glob:
            body += self.dispatch("global", g)
        blk = self._block_lines("stop")
        body += self._cast_lines()
        body += self._parts_lines("nchunks")
        body.append(f"for t in {'range' if self.serial else 'prange'}(nchunks):")
        inner = self._buffer_lines()
        inner += ["start = t * n // nchunks", "stop = (t + 1) * n // nchunks", "for j0 in range(start, stop, block):"]
        inner += ["    " + x for x in blk]
        body += ["    " + x for x in inner]
        body += self._total_lines()
        for p in self.sched.post:
            body += self.dispatch("global", p)
        outs = [self._value(self.model[o]) for o in self.outputs]
        body.append(f"return {', '.join(outs)}")
        return "\n".join(L + ["    " + x for x in body]) + "\n"

    def _parts_lines(self, count: str) -> list[str]:
        """The zeroed partial sums of every reduction (``count`` of them), transposed where they are kept so."""
        out = []
        for node, ops in self.sched.reduces:
            shape = [self.size(x) if not isinstance(x, str) else x for x in self._part_shape(node)]
            if self._parts_transposed(ops):
                shape.reverse()
            out.append(f"{self.arr(node)}_parts = np.zeros(({count}, {shape[0]}, {shape[1]}))")
        return out

    def _part_shape(self, node: ex.Node) -> list:
        return [node.shape[0], node.shape[1]]

    def _block_lines(self, stop: str) -> list[str]:
        """One block of rows j0 … j0 + nb − 1 (nb ≤ block, up to ``stop``): the row nodes, then the reductions."""
        blk = [f"nb = min(block, {stop} - j0)"]
        prev = None
        for r in self.sched.rows:
            via = f" as ({show(self.via[id(r)][0])})·{show(self.via[id(r)][1])}" if id(r) in self.via else ""
            if not self._fuse_row_sum(blk, prev, r):
                blk += [f"# {self._label(r)}{via}"] + self.dispatch("print", r)
            prev = r
        for node, ops in self.sched.reduces:
            blk += [f"# {self._label(node)}"] + self.dispatch("sum", node, ops)
        return blk

    def _fuse_row_sum(self, blk: list[str], prev: ex.Node | None, node: ex.Node) -> bool:
        """Print the row sum ``node`` = prev·1 inside the entrywise loop that has just printed ``prev`` (the last
        lines of ``blk``, rewritten in place): one pass over the n × block buffer instead of two (exp(S) and its
        row sums, p₁ and r). False, and nothing changed, where the loop is not prev's entrywise loop or reads the
        sum's buffer."""
        if prev is None or not isinstance(node, ex.RowSum) or ex.bare(node.a) is not prev or len(blk) < 3:
            return False
        src, out = self.buf(prev), self.buf(node)
        head, inner, body = blk[-3:]
        store = f"        {src}[l, b] = "
        if head != f"for l in range({self.size(prev.shape[1])}):" or inner != "    for b in range(nb):" \
                or not body.startswith(store) or f"{out}[" in body:
            return False
        blk[-3:] = ["for b in range(nb):", f"    {out}[0, b] = 0.0", head, inner, f"        v = {body[len(store):]}",
                    f"        {src}[l, b] = v", f"        {out}[0, b] += v"]
        blk.insert(len(blk) - 7, f"# {self._label(node)}: summed in the loop below")
        return True

    def _buffer_lines(self) -> list[str]:
        """The row buffers and scratch arrays the block printed by _block_lines uses (print the block first): in the
        inputs' dtype, but per-row scalars (one column) in float64; zeroed, so that the columns past the last row of
        a short block, which a BLAS call reads, hold finite numbers."""
        return [f"{name} = np.zeros(({cols}, block){'' if cols == '1' else ', dt'})"
                for name, cols in self.buf_cols.items()] + self.scratch

    def _cast_lines(self) -> list[str]:
        """The arrays the BLAS calls read, in the inputs' dtype: a copy only where the array has another dtype (a
        float64 global of a float32 kernel); print the block first."""
        return [f"{cast} = in_dtype({name}, dt)" for name, cast in self.casts.items()]

    def row_buffers(self) -> tuple[str, ...]:
        """The columns of every buffer one thread of the kernel holds, each columns × block float64, as Python
        expressions in the sizes: the row buffers, then the scratch (print the kernel first). A caller predicts
        the kernel's memory from them (they are ``ROW_BUFFERS`` in the generated module)."""
        return tuple(self.buf_cols.values()) + tuple(self.scratch_cols)

    def _total_lines(self) -> list[str]:
        return [f"{self.arr(node)} = sum_parts{'_t' if self._parts_transposed(ops) else ''}({self.arr(node)}_parts)"
                for node, ops in self.sched.reduces]

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
        node = ex.bare(node)
        if self.kind(node) == "row":
            raise CodegenError(f"The output {show(node)} has n rows that depend on every row: it is not a kernel output.")
        return self.arr(node)

    # rows, one buffer of shape (cols, block) per node: _print_<Node>, _entry_<Node> ------------------------
    def _loop(self, node: ex.Node, expr_of_l: str) -> list[str]:
        return [f"for l in range({self.size(node.shape[1])}):", "    for b in range(nb):",
                f"        {self.buf(node)}[l, b] = {expr_of_l}"]

    def entry(self, node: ex.Node, col: str) -> str:
        """The entry (j0+b, col) of an entrywise node as an expression of its operands' entries."""
        return self.dispatch("entry", node, col)

    def _entry_Add(self, node, col):
        return f"{self.at(node.a, col)} + {self.at(node.b, col)}"

    def _entry_Hadamard(self, node, col):
        return f"{self.at(node.a, col)} * {self.at(node.b, col)}"

    def _entry_Scale(self, node, col):
        return f"-{self.at(node.a, col)}" if node.k == -1 else f"({self.size(node.k)}) * {self.at(node.a, col)}"

    def _entry_Pow(self, node, col):
        x = self.at(node.a, col)
        return {-1: f"1.0 / {x}", 2: f"{x} * {x}"}.get(int(node.k) if node.k.is_Integer else None, f"{x} ** {float(node.k)!r}")

    def _entry_Log(self, node, col):
        return f"math.log({self.at(node.a, col)})"

    def _entry_Exp(self, node, col):
        return f"math.exp({self.at(node.a, col)})"

    def _entry_MatMul(self, node, col):  # diag(v)·M scales row j by v_j (the entrywise product)
        return f"{self.at(ex.bare(node.a).a, '0')} * {self.at(node.b, col)}"

    def _print_Add(self, node):
        return self._loop(node, self.entry(node, "l"))

    _print_Hadamard = _print_Scale = _print_Pow = _print_Log = _print_Add

    def _print_Exp(self, node):
        if id(node) not in self.shift:
            return self._loop(node, self.entry(node, "l"))
        arg, mask = self.shift[id(node)]
        self._count += 1
        m = f"rowmax{self._count}"
        keep = f" and {self.at(mask, 'l')} != 0.0" if mask is not None else ""
        self.scratch.append(f"{m} = np.empty(block, dt)")
        self.scratch_cols.append("1")
        return ["for b in range(nb):", f"    {m}[b] = -np.inf", f"for l in range({self.size(node.shape[1])}):",
                "    for b in range(nb):", f"        x = {self.at(arg, 'l')}",
                f"        if x > {m}[b]{keep}:", f"            {m}[b] = x",
                "for b in range(nb):", f"    if not {m}[b] > -np.inf:", f"        {m}[b] = 0.0",
                ] + self._loop(node, f"exp_nonpos({self.at(arg, 'l')} - {m}[b])")

    def _print_Transpose(self, node):
        raise CodegenError(f"{show(node)} transposes a row quantity, which a row-streaming kernel cannot form.")

    def _print_RowSum(self, node):
        out = self.buf(node)
        return ["for b in range(nb):", f"    {out}[0, b] = 0.0", f"for l in range({self.size(node.a.shape[1])}):",
                "    for b in range(nb):", f"        {out}[0, b] += {self.at(node.a, 'l')}"]

    def _print_Diag(self, node):
        return self._loop(node, f"({self.at(node.a, '0')} if l == j0 + b else 0.0)")

    def _print_Tril(self, node):  # read entry by entry where it is used (_at_Tril, _at_Identity, _at_Fill)
        return []

    _print_Identity = _print_Fill = _print_Tril

    def _print_MatMul(self, node):
        fa, fb = self.operands(node)  # the factors; (R·P, Q) for a shared product
        b = ex.bare(fb)
        if self.entrywise(node):  # diag(v)·M
            return self._loop(node, self.entry(node, "l"))
        if isinstance(b, ex.Diag):  # M·diag(v) scales column l by v_l: v must be known for every l
            if self.kind(b.a) == "row":
                raise CodegenError(f"{show(node)} scales columns by a row quantity; a row-streaming kernel cannot form it.")
            return self._loop(node, f"{self.at(fa, 'l')} * {self._index(b.a, 'l', '0')}")
        if self.kind(fb) == "row":
            raise CodegenError(f"{show(node)} multiplies by a row quantity on the right; the kernel cannot stream it.")
        out = self.buf(node)
        K, C = self.size(fa.shape[1]), self.size(fb.shape[1])
        left, load, lbuf = self.at(fa, "k"), [], None
        if self.kind(fa) != "row":  # a global's rows, loaded once per block as columns
            self._count += 1
            lbuf = f"left{self._count}"
            self.scratch.append(f"{lbuf} = np.zeros(({K}, block), dt)")
            self.scratch_cols.append(str(K))
            load = [f"for k in range({K}):", "    for b in range(nb):", f"        {lbuf}[k, b] = {left}"]
            left = f"{lbuf}[k, b]"
        elif id(ex.bare(fa)) not in self.inline:
            lbuf = self.bufs.get(id(ex.bare(fa)))
        factor = self._blas_factor(fb) if self.blas and lbuf is not None and K != "1" else None
        if factor is not None and factor[1]:  # out = Gᵀ·left for a factor G (rows × C) stored row-major
            self._count += 1
            tbuf = f"tr{self._count}"
            self.scratch.append(f"{tbuf} = np.zeros((block, {C}), dt)")
            self.scratch_cols.append(str(C))
            # leftᵀ·G: the same product with G read as it lies, faster than Gᵀ·left in OpenBLAS (docs/benchmark-notes.md)
            return load + [f"np.dot({lbuf}.T, {factor[0]}, {tbuf})", f"for c in range({C}):", "    for b in range(nb):",
                           f"        {out}[c, b] = {tbuf}[b, c]"]
        if factor is not None:  # the whole block at once: out = G·left for a factor Gᵀ, each of shape (·, block)
            return load + [f"np.dot({factor[0]}, {lbuf}, {out})"]
        head = [f"for c in range({C}):", "    for b in range(nb):", f"        {out}[c, b] = 0.0"] + load
        acc = f"{out}[c, b] += {left} * g"
        if isinstance(b, ex.Transpose):  # B = Gᵀ with G stored row-major: walk G by rows
            return head + [f"for c in range({C}):", f"    for k in range({K}):", f"        g = {self._index(b.a, 'c', 'k')}",
                           "        for b in range(nb):", f"            {acc}"]
        return head + [f"for k in range({K}):", f"    for c in range({C}):", f"        g = {self.cell(fb, 'k', 'c')}",
                       "        for b in range(nb):", f"            {acc}"]

    def _blas_factor(self, node: ex.Node) -> tuple[str, bool] | None:
        """For a global or input factor stored as an array G, in the inputs' dtype: (G, True) when the factor is G
        (the block's product needs Gᵀ·left) and (G, False) when it is Gᵀ (G·left); None for a factor that is not an
        array (a constant, a mask)."""
        s = ex.bare(node)
        transposed = isinstance(s, ex.Transpose)
        g = ex.bare(s.a) if transposed else s
        if self.kind(g) not in ("global", "input") or not (
                isinstance(g, ex.Matrix) or any(g is x for x in self.sched.glob)) or isinstance(g, (ex.Fill, ex.Identity, ex.Tril)):
            return None
        name = self.arr(g)
        return self.casts.setdefault(name, f"{name}_dt"), not transposed

    # reductions, added into this thread's partials: _sum_<Node> ------------------------------------------
    def _sum_Total(self, node, ops):
        a = ops[0]
        return ["acc = 0.0", f"for l in range({self.size(a.shape[1])}):", "    for b in range(nb):",
                f"        acc += {self.at(a, 'l')}", f"{self._part(node, '0', '0')} += acc"]

    def _sum_ColSum(self, node, ops):
        a = ops[0]
        return [f"for l in range({self.size(a.shape[1])}):", "    acc = 0.0", "    for b in range(nb):",
                f"        acc += {self.at(a, 'l')}", f"    {self._part(node, '0', 'l')} += acc"]

    def _sum_MatMul(self, node, ops):
        """Σ_j x_jᵀ y_j over the block's rows j: on a full block one BLAS product of the two (columns × block)
        operands, in the inputs' dtype, added into the float64 partials; on a short block, or with an operand
        computed inline, loops (``_sum_by_loops``)."""
        x, y = ops
        loops = self._sum_by_loops(node, ops)
        xs, ys = self._block_matrix(x), self._block_matrix(y)
        if not (self.blas and xs and ys):
            return loops
        P, Q = self.size(x.shape[1]), self.size(y.shape[1])
        self._count += 1
        red = f"red{self._count}"
        self.scratch.append(f"{red} = np.empty(({P}, {Q}), dt)")
        transposed = self._parts_transposed(ops)
        add = ([f"for q in range({Q}):", f"    for p in range({P}):",
                f"        {self._part(node, 'p', 'q', True)} += {red}[p, q]"] if transposed else
               [f"for p in range({P}):", f"    for q in range({Q}):", f"        {self._part(node, 'p', 'q')} += {red}[p, q]"])
        return (["if nb == block:", f"    np.dot({xs[0]}, {ys[1]}, {red})"] + ["    " + x for x in add]
                + ["else:"] + ["    " + x for x in loops])

    def _block_matrix(self, node: ex.Node) -> tuple[str, str] | None:
        """(M, Mᵀ) for a streaming operand as a (columns × block) matrix M in the inputs' dtype over a full block:
        its row buffer, or the block's rows of an input or global; None for an operand computed inline."""
        bare = ex.bare(node)
        if isinstance(bare, ex.Transpose):
            return None
        if self.kind(node) == "row" and id(bare) not in self.inline and id(bare) in self.bufs:
            return self.buf(node), f"{self.buf(node)}.T"
        if self._by_rows(node) and (isinstance(bare, ex.Matrix) or any(bare is g for g in self.sched.glob)):
            name = self.arr(bare)
            rows = f"{self.casts.setdefault(name, f'{name}_dt')}[j0:j0 + block]"
            return f"{rows}.T", rows
        return None

    def _sum_by_loops(self, node, ops):
        """Σ_j x_jᵀ y_j over the block's rows j, entry by entry."""
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
        return (self.kind(node) in ("global", "input") and not isinstance(ex.bare(node), ex.Transpose)
                and is_n(node.shape[0]) and node.shape[1] != 1)

    def _parts_transposed(self, ops: tuple) -> bool:
        """The partials of an outer product Σ x_jᵀ y_j (two operands) are kept transposed when only x streams by rows."""
        return len(ops) == 2 and not self._by_rows(ops[1]) and self._by_rows(ops[0])


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
