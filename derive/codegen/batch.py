"""``batch_serial`` in one pass: the mean of a kernel's outputs over a batch of samples (docs/design.md)."""

from __future__ import annotations

from .. import expr as ex
from ..model import Model
from ..printing import show
from .kernel import KernelPrinter
from .printer import CodegenError
from .schedule import is_n


class BatchPrinter(KernelPrinter):
    """``batch_serial``: the mean of the outputs over a batch of samples, in one function.

    The samples of a batch input (axis 0) are stacked into one 2-D array of N·n rows. Products of stacked
    arrays with shared ones run once for the whole batch (X·W_Q over all N·n rows), the row loop runs sample
    after sample over the stacked arrays with its buffers allocated once, a reduction that keeps the token
    axis is kept per sample (stacked), any other is summed over the samples, and a sum over tokens of two
    stacked arrays is one product over the stack (Σ_i X_iᵀA_i = X_stackᵀA_stack). Every output must be such a
    sum over samples; the function returns it divided by N. A chain outside these rules raises CodegenError
    (the caller falls back to a loop over ``kernel_serial``)."""

    target = "batch"
    blas = False  # a batch's samples are small: its row products stay loops

    def __init__(self, model: Model, outputs: dict[str, str], inputs: tuple[str, ...]):
        super().__init__(model, outputs, inputs)
        self.serial = True
        self.forms: dict[int, str] = {}  # node id → shared | stacked | summed

    # how each node depends on the samples: _form_<Node>, then _split_<Node> -----------------------------
    def form(self, node: ex.Node) -> str:
        """shared (the same for every sample), stacked (one block of rows per sample) or summed (over samples)."""
        s = ex.bare(node)
        if id(s) not in self.forms:
            if self.kind(s) == "reduce":
                self.forms[id(s)] = "stacked" if is_n(s.shape[0]) or is_n(s.shape[1]) else "summed"
            else:
                self.forms[id(s)] = self.dispatch("form", s)
        return self.forms[id(s)]

    def _form_Matrix(self, node):
        return "stacked" if node.name in self.model.batch_inputs else "shared"

    def _form_Fill(self, node):
        return "shared"

    _form_Identity = _form_Fill

    def _form_Node(self, node):
        """Shared if every operand is; else as the node splits over the samples (_split_<Node>)."""
        kids = [self.form(c) for c in node.children]
        if all(k == "shared" for k in kids):
            return "shared"
        return self.dispatch("split", node, kids)

    def _split_Transpose(self, node, kids):
        return kids[0]

    _split_Scale = _split_Transpose

    def _split_MatMul(self, node, kids):
        fa, fb = kids
        if "summed" in kids and "stacked" not in kids:
            return "summed"
        if fa == "stacked" and isinstance(ex.bare(node.a), ex.Transpose) and is_n(node.a.shape[1]) and fb == "stacked":
            return "summed"  # Σ_i A_iᵀB_i over the stacked rows
        if fa == "stacked" and fb == "shared" and is_n(node.shape[0]) and not isinstance(ex.bare(node.a), ex.Transpose):
            return "stacked"  # row by row
        return self._split_Node(node, kids)

    def _split_Add(self, node, kids):
        return kids[0] if len(set(kids)) == 1 else self._split_Node(node, kids)

    def _split_Hadamard(self, node, kids):
        if "summed" not in kids or set(kids) == {"summed", "shared"}:
            return "summed" if "summed" in kids else "stacked"
        return self._split_Node(node, kids)

    def _split_RowSum(self, node, kids):
        return "stacked" if kids[0] == "stacked" else self._split_Node(node, kids)

    _split_Pow = _split_Exp = _split_Log = _split_RowSum

    def _split_ColSum(self, node, kids):
        return "summed" if kids[0] == "stacked" else self._split_Node(node, kids)

    _split_Total = _split_ColSum

    def _split_Node(self, node, kids):
        raise CodegenError(f"{show(node)} does not split into a sum over the samples of a batch.")

    # access strings: a stacked array's rows are offset by the sample ---------------------------------------
    def _index(self, node: ex.Node, row: str, col: str) -> str:
        s = ex.bare(node)
        if self.form(s) == "stacked":
            row = f"i * n + {row}" if is_n(s.shape[0]) else row
            col = f"i * n + {col}" if is_n(s.shape[1]) and not is_n(s.shape[0]) else col
        return f"{self.arr(s)}[{row}, {col}]"

    def _part(self, node: ex.Node, row: str, col: str, transposed: bool = False) -> str:
        if self.form(node) == "stacked":
            row = f"i * n + {row}" if is_n(node.shape[0]) else row
            col = f"i * n + {col}" if is_n(node.shape[1]) and not is_n(node.shape[0]) else col
        return f"{self.arr(node)}_parts[0, {col if transposed else row}, {row if transposed else col}]"

    def _array_Matrix(self, node):
        return node.name + "_s" if node.name in self.model.batch_inputs else node.name

    def _part_shape(self, node: ex.Node) -> list:
        """A stacked reduction keeps every sample's token axis: N·n entries along it."""
        if self.form(node) != "stacked":
            return [node.shape[0], node.shape[1]]
        return ["N * n" if is_n(x) else x for x in node.shape]

    def doprint_batch(self) -> str:
        self.schedule()
        for name in self.outputs:
            if self.form(self.model[name]) != "summed":
                raise CodegenError(f"The output {name} is not a sum over the samples of a batch.")
        for node in self.sched.glob + self.sched.post:
            self.form(node)
        first = self.model.batch_inputs[0]
        body = [f"N = {first}.shape[0]"] + self._size_lines() + [f"dt = {self.input_names[0]}.dtype"]
        for name in self.model.batch_inputs:
            m = self.inputs[name]
            body.append(f"{name}_s = {name}.reshape(N * {self.size(m.shape[0])}, {self.size(m.shape[1])})")
        for g in self.sched.glob:
            body += self.dispatch("global", g)
        body += self._parts_lines("1")
        blk = self._block_lines("n")
        body += self._buffer_lines()
        body += ["for i in range(N):", "    for j0 in range(0, n, block):"] + ["        " + x for x in blk]
        body += self._total_lines()
        for p in self.sched.post:
            body += self.dispatch("global", p)
        outs = [self._value(self.model[o]) for o in self.outputs]
        body.append(f"return {', '.join(f'{o} / N' for o in outs)}")
        head = ["@njit(cache=True, nogil=True, fastmath=False)",
                f"def batch_serial({', '.join(self.input_names + self.parameters())}, block):  # pragma: no cover - compiled",
                (f'    """Means over the samples (axis 0 of {", ".join(self.model.batch_inputs)}) of '
                 f'{", ".join(self.outputs.values())}, in one pass over the batch."""')]
        return "\n".join(head + ["    " + x for x in body]) + "\n"

    def _stacked_inputs(self) -> tuple[str, ...]:
        return self.model.batch_inputs
