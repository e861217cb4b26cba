"""Kernels printed by `attngrad codegen` from the chains that `attngrad check` proves.

The modules here are generated and checked in; edit the chain in derive/, then run `attngrad codegen`
(`attngrad codegen --check` names every module that no longer matches its chain). Each module has
``kernel(*INPUTS, nchunks, block)`` returning ``OUTPUTS`` in float64.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

import numpy as np

#: Alman–Song Def 1.2, one module per scale (the scale is part of the proven chain).
ALMAN_SONG = {"1/d": "alman_song_inv_d", "1/sqrt(d)": "alman_song_inv_sqrt_d", "1": "alman_song_one"}


def load(module: str) -> ModuleType:
    return import_module(f"{__name__}.{module}")


def run(module: str, arrays: tuple[np.ndarray, ...], threads: int | None = None) -> tuple[np.ndarray, ...]:
    """Call a generated kernel on validated arrays, `threads` Numba threads; outputs as float64 arrays."""
    from attngrad.numeric.kernel_support import using_threads

    mod = load(module)
    with using_threads(threads) as nthreads:
        return mod.kernel(*arrays, min(nthreads, arrays[0].shape[0]), mod.BLOCK)
