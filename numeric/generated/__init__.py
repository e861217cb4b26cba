"""Kernels printed by `attngrad codegen` from the chains that `attngrad check` proves.

The modules here are generated and checked in; edit the chain in derive/, then run `attngrad codegen`
(`attngrad codegen --check` names every module that no longer matches its chain). Each module has
``kernel(*INPUTS, *PARAMETERS, nchunks, block)`` returning ``OUTPUTS`` in float64.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

import numpy as np

#: Alman–Song Def 1.2 with its scale s a kernel parameter (derive: ``alman_song("s")``).
ALMAN_SONG = "alman_song_s"
#: One attention layer (papers.md §3): kernels, weights, and the training modes that have a kernel of their own
#: (derive: ``one_layer(kernel, N=1, train=ONE_LAYER_MODES[mode])``); any other subset of the weights uses the
#: kernel of every weight, ``all``, and leaves the others untouched.
ONE_LAYER_KERNELS = ("softmax", "gaussian", "gaussian-normalised")
ONE_LAYER_WEIGHTS = ("W_Q", "W_K", "W_V", "W_O")
ONE_LAYER_MODES = {"all": ONE_LAYER_WEIGHTS, "wq": ("W_Q",), "wv": ("W_V",), "wqkv": ("W_Q", "W_K", "W_V")}
ONE_LAYER = {(kernel, mode): f"one_layer_{kernel.replace('-', '_')}_{mode}"
             for kernel in ONE_LAYER_KERNELS for mode in ONE_LAYER_MODES}
#: what a generated ``descend_serial`` returns as its status
DESCEND_STATUS = ("running", "converged", "plateau", "diverged")


def load(module: str) -> ModuleType:
    return import_module(f"{__name__}.{module}")


def run(module: str, arrays: tuple[np.ndarray, ...], parameters: tuple[float, ...] = (),
        threads: int | None = None) -> tuple[np.ndarray, ...]:
    """Call a generated kernel on validated arrays, `threads` Numba threads; outputs as float64 arrays."""
    from attngrad.numeric.kernel_support import using_threads

    mod = load(module)
    with using_threads(threads) as nthreads:
        return mod.kernel(*arrays, *map(float, parameters), min(nthreads, arrays[0].shape[0]), mod.BLOCK)
