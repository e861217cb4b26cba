"""The functions a model with batch inputs adds to its kernel module: ``batch_serial``, ``samples_serial``,
``descend_serial`` and ``frozen_serial`` (docs/design.md)."""

from __future__ import annotations

import sympy as sp

from attngrad.vocabulary import DESCENT_STATUS

from .. import expr as ex
from ..model import Model
from ..printing import show
from .batch import BatchPrinter
from .kernel import size_lines
from .printer import CodegenError, Printer, identifier


def print_batch(model: Model, outputs: dict[str, str], inputs: tuple[str, ...]) -> str:
    """``batch_serial``: the mean of every output over samples stacked along axis 0 of the batch inputs;
    ``samples_serial``: every output of each sample; ``descend_serial``: gradient descent on the mean for every
    input whose gradient ``∇name`` is an output; ``frozen_serial`` if the model has frozen inputs."""
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
        (f"def descend_serial({args}, train, eta, start, stop, tol, window, plateau_rtol, div_limit, losses, gsq, block):"
         "  # pragma: no cover - compiled"),
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
        lines += ["", ""] + FrozenPrinter(model).doprint()
    return "\n".join(lines) + "\n"


def frozen_args(model: Model) -> tuple[str, ...]:
    """The arguments of ``frozen_serial`` (the sample inputs first), or () without frozen inputs."""
    if not (model.frozen and model.batch_inputs):
        return ()
    leaves: set[str] = set()
    for node in model.frozen.values():
        leaves |= set(ex.leaves(node))
    return tuple([x for x in model.batch_inputs if x in leaves] + sorted(x for x in leaves if x not in model.batch_inputs))


class FrozenPrinter(Printer):
    """``frozen_serial``: the chain's frozen inputs (products of other inputs, constant while training) for every
    sample of a batch, from those inputs — so that a caller never types these products again."""

    target = "frozen-input"

    def __init__(self, model: Model):
        self.model = model
        self.args = list(frozen_args(model))
        self.stacked = [x for x in self.args if x in model.batch_inputs]

    def product(self, node: ex.Node) -> str:
        """A frozen input's product of inputs, over the stacked samples."""
        return self.dispatch("product", ex.bare(node))

    def _product_Matrix(self, node):
        return f"{node.name}_s" if node.name in self.stacked else node.name

    def _product_MatMul(self, node):
        return f"matmul_serial({self.product(node.a)}, {self.product(node.b)})"

    def doprint(self) -> list[str]:
        model, args, stacked = self.model, self.args, self.stacked
        leaves: dict[str, ex.Matrix] = {}
        for node in model.frozen.values():
            leaves.update(ex.leaves(node))
        if not stacked:
            raise CodegenError(f"Model {model.name}'s frozen inputs do not depend on a sample.")
        first = stacked[0]
        lines = ["@njit(cache=True, nogil=True)", f"def frozen_serial({', '.join(args)}):  # pragma: no cover - compiled",
                 f'    """{", ".join(f"{k} = {show(v)}" for k, v in model.frozen.items())}, for every sample (axis 0)."""',
                 f"    N = {first}.shape[0]"]
        lines += ["    " + x for x in size_lines([(x, leaves[x], x in stacked) for x in args]
                                               + [(k, model.inputs()[k], True) for k in model.frozen])]
        lines += [f"    {x}_s = {x}.reshape(N * {sp.pycode(leaves[x].shape[0])}, {sp.pycode(leaves[x].shape[1])})"
                  for x in stacked]
        for name, node in model.frozen.items():
            rows, cols = (sp.pycode(x) for x in model.inputs()[name].shape)
            lines.append(f"    {identifier(name)} = {self.product(node)}.reshape(N, {rows}, {cols})")
        lines.append(f"    return {', '.join(identifier(k) for k in model.frozen)}{',' if len(model.frozen) == 1 else ''}")
        return lines
