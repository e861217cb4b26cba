"""Kernels printed by `attngrad codegen` from the chains that `attngrad check` proves.

The modules here are generated and checked in; edit the chain in derive/, then run `attngrad codegen`
(`attngrad codegen --check` names every module that no longer matches its chain). Each module has
``kernel(*INPUTS, *PARAMETERS, nchunks, block)`` returning ``OUTPUTS`` in float64. Their names are in
attngrad/vocabulary.py (``ALMAN_SONG_MODULE``, ``ONE_LAYER_MODULES``), as are the status codes a generated
``descend_serial`` returns (``DESCENT_STATUS``).
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

import numpy as np


def load(module: str) -> ModuleType:
    """The generated module ``module`` (a name from vocabulary.py), imported."""
    return import_module(f"{__name__}.{module}")


def row_buffer_bytes(module: str, sizes: dict[str, int], threads: int) -> int:
    """Bytes of the row buffers that ``threads`` threads of the module's ``kernel`` hold at once: each thread
    holds one (columns × BLOCK) buffer of at most 8-byte entries per entry of ``ROW_BUFFERS``, whose columns are expressions in the
    sizes (``{"n": 10**7, "d": 16}``)."""
    mod = load(module)
    columns = sum(int(eval(c, {"__builtins__": {}}, dict(sizes))) for c in mod.ROW_BUFFERS)  # noqa: S307 - generated
    return 8 * int(threads) * mod.BLOCK * columns


def run(module: str, arrays: tuple[np.ndarray, ...], parameters: tuple[float, ...] = (),
        threads: int | None = None) -> tuple[np.ndarray, ...]:
    """Call a generated kernel on validated arrays of one dtype on ``threads`` Numba threads (None: Numba's current
    setting), each thread's BLAS calls on that thread alone; the parameters are passed in the arrays' dtype (the
    kernel computes in it), the outputs come back as float64 arrays."""
    from attngrad.numeric.kernel_support import blas_threads, using_threads

    mod = load(module)
    scalar = arrays[0].dtype.type
    with using_threads(threads) as nthreads, blas_threads(1):
        return mod.kernel(*arrays, *map(scalar, parameters), min(nthreads, arrays[0].shape[0]), mod.BLOCK)
