"""Print a model's chain as a Numba kernel module: the exact kernels are generated, not typed (docs/design.md).

Passes: ``schedule`` places every node of the chain in a phase (global, row, reduce, post), ``softmax`` finds
the exps that may be computed as exp(S − rowmax S), ``buffers`` gives each live row quantity a buffer.
Targets: ``kernel`` prints the row-streaming ``kernel``/``kernel_serial`` (its whole-array statements in
``arrays``), ``batch`` the one-pass ``batch_serial``, ``templates`` the batch fallback, ``samples_serial``,
``descend_serial`` and ``frozen_serial``, ``formulas`` closed forms as plain Python; ``modules`` assembles
and writes the files. Every node-kind decision is a ``_<family>_<Node>`` method found by ``Printer.dispatch``
(``printer``), which walks the node type's MRO as SymPy's ``Printer._print`` does.
"""

from .arrays import ArrayPrinter
from .batch import BatchPrinter
from .formulas import Formulas, render_formulas
from .kernel import KernelPrinter, size_lines
from .modules import BLOCK, HEADER, generate, module_name, render, source_checkout, stale, targets_of, write
from .printer import CodegenError, Printer, identifier
from .schedule import Schedule, Scheduler
from .templates import FrozenPrinter, frozen_args, print_batch

__all__ = [
    "BLOCK", "HEADER", "ArrayPrinter", "BatchPrinter", "CodegenError", "Formulas", "FrozenPrinter", "KernelPrinter",
    "Printer", "Schedule", "Scheduler", "frozen_args", "generate", "identifier", "module_name", "print_batch",
    "render", "render_formulas", "size_lines", "source_checkout", "stale", "targets_of", "write",
]
