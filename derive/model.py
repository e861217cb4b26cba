"""Models: a loss written as a chain of named definitions (docs/design.md, "chain")."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import expr as ex
from .printing import show


@dataclass
class Model:
    """A loss family: an ordered chain of named definitions ending (forward) at ``loss``.

    ``define`` appends a definition and returns it as a node to build the next ones from, so a chain
    is written exactly like the paper's sequence of definitions (S, u, α, f, h, c, L, q, p₁, r, p₂, …).
    """

    name: str
    description: str = ""
    variables: tuple[str, ...] = ()
    chain: dict[str, ex.Named] = field(default_factory=dict)
    loss: ex.Named | None = None
    input_order: tuple[str, ...] = ()
    #: inputs that differ per sample (one chain = one sample): the generated module also averages the kernel
    #: over a batch of samples stacked along a leading axis of these, and runs gradient descent on that mean
    batch_inputs: tuple[str, ...] = ()
    #: inputs that stand for products of other inputs, constant while training (name → product); the generated
    #: module computes them (``frozen_serial``), so no caller types them again
    frozen: dict[str, ex.Node] = field(default_factory=dict)

    def kernel_inputs(self) -> tuple[str, ...]:
        """The generated kernel's arguments: ``input_order`` if given, else the inputs by name."""
        return self.input_order or tuple(sorted(self.inputs()))

    def kernel_outputs(self) -> dict[str, str]:
        """Chain names a generated kernel returns → Python names: the loss and every ``∇…`` definition."""
        out = {self.loss.name: "loss"} if self.loss is not None else {}
        for name in self.chain:
            if name.startswith("∇"):
                out[name] = "grad_" + name[1:]
        return out

    def define(self, name: str, expr: ex.Node, doc: str = "") -> ex.Named:
        if name in self.chain:
            raise ValueError(f"Model {self.name} already defines {name}.")
        node = ex.Named(name, expr, doc)
        self.chain[name] = node
        return node

    def __getitem__(self, name: str) -> ex.Named:
        try:
            return self.chain[name]
        except KeyError:
            raise KeyError(f"Model {self.name} has no definition named {name}.") from None

    def inputs(self) -> dict[str, ex.Matrix]:
        """Every input matrix the chain uses, by name."""
        out: dict[str, ex.Matrix] = {}
        for node in self.chain.values():
            out.update(ex.leaves(node))
        return out

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, definition, doc) for each step, in order."""
        return [(k, show(v, expand=True), v.doc) for k, v in self.chain.items()]
