"""The words every layer shares, defined once: scales, kernels, polynomials, weights, training modes.

This module imports nothing, so the command line can build its options from it without loading NumPy, SymPy or
Numba. ``derive`` gives each name its symbolic meaning (a scale's SymPy value, a kernel's chain), ``numeric`` its
numeric one (a scale's float, a kernel's generated module); neither types the names again.
"""

from __future__ import annotations

#: the scale s of the scores S = s·A₁XA₂ᵀ (Alman & Song Def 1.2 uses 1/d; Sections 3–D drop it, i.e. 1)
SCALES = ("1/d", "1/sqrt(d)", "1")
DEFAULT_SCALE = "1/d"

#: the attention kernels of the one-layer model (docs/mathematics.md §3)
KERNELS = ("softmax", "gaussian", "gaussian-normalised")

#: the polynomials that replace exp in the low-rank gradient (docs/mathematics.md §2)
POLYNOMIALS = ("taylor-shifted", "taylor", "chebyshev")
AUTO_POLYNOMIAL = "auto"  # the polynomial needing the smallest degree for the requested accuracy

#: how a one-layer instance draws its token embeddings X and its targets Y (docs/mathematics.md §3)
EMBEDDINGS = ("orthogonal", "gaussian")
TARGETS = ("random", "outside-hull")

#: the weights of one attention layer, in the order kernels take them
WEIGHTS = ("W_Q", "W_K", "W_V", "W_O")

#: training modes that have a generated kernel of their own: mode → the weights it trains. Any other subset of the
#: weights uses the kernel of every weight (``all``) and leaves the others untouched.
TRAINING_MODES = {"all": WEIGHTS, "wq": ("W_Q",), "wv": ("W_V",), "wqkv": ("W_Q", "W_K", "W_V")}

#: how a generated gradient-descent loop (``descend_serial``) ends, by the status code it returns
DESCENT_STATUS = ("running", "converged", "plateau", "diverged")

#: the inputs of Alman & Song's loss (Def 1.2), in the order ``loss_and_grad`` and the kernels take them
ATTENTION_INPUTS = ("A1", "A2", "A3", "E", "Y", "X")

#: the ways ``loss_and_grad`` computes Alman & Song's gradient: the Numba kernel printed from the chain, and plain
#: NumPy with every n×n matrix (the reference)
EXACT_METHODS = ("generated", "reference")
KERNEL_METHODS = EXACT_METHODS[:1]

#: the kernels the one-layer paper compares (gaussian-normalised is the project's own addition)
PAPER_KERNELS = ("softmax", "gaussian")
#: the training modes of the one-layer paper's experiment: W_V alone, W_Q alone, W_Q, W_K and W_V
PAPER_MODES = ("wv", "wq", "wqkv")

#: the generated module of Alman & Song's chain with its scale a kernel parameter s
ALMAN_SONG_MODULE = "alman_song_s"
#: the file beside the generated modules with the blocks measured by `attngrad bench blocks --write`
BLOCKS_FILE = "blocks.json"


def one_layer_module(kernel: str, mode: str) -> str:
    """The generated module of one attention layer with ``kernel``, training ``mode`` (``one_layer_softmax_wq``)."""
    return f"one_layer_{kernel.replace('-', '_')}_{mode}"


#: every generated one-layer module, by (kernel, mode)
ONE_LAYER_MODULES = {(kernel, mode): one_layer_module(kernel, mode) for kernel in KERNELS for mode in TRAINING_MODES}
