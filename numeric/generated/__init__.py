"""Kernels printed by `attngrad codegen` from the chains that `attngrad check` proves.

The modules here are generated and checked in; edit the chain in derive/, then run `attngrad codegen`
(`attngrad codegen --check` names every module that no longer matches its chain). Each module has
``kernel(*INPUTS, *PARAMETERS, nchunks, block)`` returning ``OUTPUTS`` in float64. Their names are in
attngrad/vocabulary.py (``ALMAN_SONG_MODULE``, ``ONE_LAYER_MODULES``), as are the status codes a generated
``descend_serial`` returns (``DESCENT_STATUS``).
"""

from __future__ import annotations

import math

from importlib import import_module
from types import ModuleType

import numpy as np


def load(module: str) -> ModuleType:
    """The generated module ``module`` (a name from vocabulary.py), imported."""
    return import_module(f"{__name__}.{module}")


def block_for(mod: ModuleType, dtype: str, d: int, n: int) -> int:
    """The rows of a block for ``dtype``, width ``d`` and length ``n``: from the module's measured ``BLOCKS`` (rows
    (largest d, n, block)), the entries of the smallest measured d ≥ d (else of the largest d), and of those the one
    measured at the n nearest to ``n`` on a log scale; the module's ``BLOCK`` where nothing was measured."""
    rows = getattr(mod, "BLOCKS", {}).get(str(np.dtype(dtype)), ())
    if not rows:
        return int(mod.BLOCK)
    widths = sorted({r[0] for r in rows})
    width = next((w for w in widths if d <= w), widths[-1])
    return min((r for r in rows if r[0] == width), key=lambda r: (abs(math.log(max(n, 1) / r[1])), r[1]))[2]


def row_buffer_bytes(module: str, sizes: dict[str, int], threads: int, dtype: str = "float64",
                     block: int | None = None) -> int:
    """Bytes of the row buffers that ``threads`` threads of the module's ``kernel`` hold at once: each thread
    holds one (columns × block) buffer of at most 8-byte entries per entry of ``ROW_BUFFERS``, whose columns are
    expressions in the sizes (``{"n": 10**7, "d": 16}``); the block is ``block`` or ``block_for`` the dtype, d and n."""
    mod = load(module)
    columns = sum(int(eval(c, {"__builtins__": {}}, dict(sizes))) for c in mod.ROW_BUFFERS)  # noqa: S307 - generated
    block = block_for(mod, dtype, int(sizes.get("d", 0)), int(sizes.get("n", 1))) if block is None else block
    return 8 * int(threads) * block * columns


def run(module: str, arrays: tuple[np.ndarray, ...], parameters: tuple[float, ...] = (),
        threads: int | None = None, block: int | None = None) -> tuple[np.ndarray, ...]:
    """Call a generated kernel on validated arrays of one dtype on ``threads`` Numba threads (None: Numba's current
    setting), each thread's BLAS calls on that thread alone, in blocks of ``block`` rows (None: ``block_for`` the
    dtype and the columns and rows of the first input); the parameters are passed in the arrays' dtype (the kernel computes in
    it), the outputs come back as float64 arrays."""
    from attngrad.numeric.kernel_support import blas_threads, using_threads

    mod = load(module)
    dtype = arrays[0].dtype
    block = block_for(mod, str(dtype), arrays[0].shape[-1], arrays[0].shape[0]) if block is None else int(block)
    with using_threads(threads) as nthreads, blas_threads(1):
        return mod.kernel(*arrays, *map(dtype.type, parameters), min(nthreads, arrays[0].shape[0]), block)
