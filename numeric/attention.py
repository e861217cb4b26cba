"""Public API: the attention loss of Alman–Song Def 1.2 and its gradient, by the generated kernel or the reference."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Iterator

import numpy as np

from attngrad.errors import InputError
from attngrad.numeric.inputs import as_attention_inputs, float_dtype, parse_scale
from attngrad.numeric.reference import reference_loss_and_grad
from attngrad.vocabulary import ALMAN_SONG_MODULE, DEFAULT_SCALE, EXACT_METHODS


@dataclass(frozen=True)
class AttentionResult:
    """L(X) and its gradients; unpacks as (loss, grad_X, grad_Y)."""

    loss: float
    grad_X: np.ndarray
    grad_Y: np.ndarray

    def __iter__(self) -> Iterator[Any]:
        return iter((self.loss, self.grad_X, self.grad_Y))


def loss_and_grad(
    A1: Any, A2: Any, A3: Any, E: Any, Y: Any, X: Any, *,
    scale: str | float = DEFAULT_SCALE, method: str | None = None, dtype: Any = None, threads: int | None = None,
) -> AttentionResult:
    """L = ½‖D⁻¹exp(s·A1XA2ᵀ)A3Y − E‖_F² (Def 1.2, scale s a parameter) with ∇_X L and ∇_Y L.

    ∇_X L = s·A1ᵀpA2 with p = f∘q − diag((f∘q)1_n) f, q = c hᵀ (Lemma C.7; Defs C.3, C.5; D.4–D.5);
    ∇_Y L = A3ᵀfᵀc. method "generated" (the default) runs the kernel `attngrad codegen` printed from the
    proven chain: it streams blocks of rows, never forms an n×n array (O(nd) memory), computes in the inputs'
    dtype (float32 in float32, with row sums, the loss and the sums over rows in float64) and runs on
    ``threads`` Numba threads (default: Numba's current setting, which is restored afterwards). "reference" is
    plain NumPy with every n×n matrix of the chain (``threads`` is then only validated).
    Inputs are validated and converted by `as_attention_inputs`; the result has the dtype of the inputs
    (or `dtype`). Raises InputError for bad input, and if the loss or gradient overflows the dtype.
    """
    method = "generated" if method is None else method
    if method not in EXACT_METHODS:
        raise InputError(f"method must be one of {', '.join(EXACT_METHODS)}, got {method!r}.")
    arrays = as_attention_inputs(A1, A2, A3, E, Y, X, dtype=dtype)
    s = parse_scale(scale, arrays[0].shape[1])
    from attngrad.numeric import kernel_support as ks  # Numba only when needed

    ks.check_threads(threads)
    dt = arrays[0].dtype
    if method == "generated":
        from attngrad.numeric.generated import run

        bound = ks.check_scores(s * ks.matmul(arrays[0], arrays[5]), arrays[1])
        # scores the dtype cannot hold (|s_jl| near float32's 3.4e38, where the shift by the row max would give
        # inf − inf) are computed in float64 instead; the results are rounded to the dtype as always
        narrow = bound >= float(np.finfo(dt).max) / 4
        wide = tuple(a.astype(np.float64) for a in arrays) if narrow else arrays
        loss, grad_X, grad_Y = run(ALMAN_SONG_MODULE, wide, (s,), threads)
        loss, grad_X, grad_Y = dt.type(loss[0, 0]), grad_X.astype(dt), grad_Y.astype(dt)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            loss, grad_X, grad_Y = reference_loss_and_grad(*arrays, s)
    if not (np.isfinite(loss) and np.isfinite(grad_X).all() and np.isfinite(grad_Y).all()):
        raise InputError(f"The loss or its gradient overflows {arrays[0].dtype.name}; scale the inputs down.")
    return AttentionResult(float(loss), grad_X, grad_Y)


def random_inputs(
    n: int, d: int, *, seed: int = 0, entry_scale: float = 1.0, dtype: Any = np.float64
) -> dict[str, np.ndarray]:
    """Inputs A1, A2, A3, E (n×d), Y, X (d×d) of Def 1.2 with independent N(0, entry_scale²) entries."""
    for name, value in (("n", n), ("d", d)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}.")
    if isinstance(entry_scale, bool) or not isinstance(entry_scale, Real) or not 0 < entry_scale < np.inf:
        raise InputError(f"entry_scale must be a positive finite number, got {entry_scale!r}.")
    dt = float_dtype(dtype)
    rng = np.random.default_rng(seed)
    shapes = {"A1": (n, d), "A2": (n, d), "A3": (n, d), "E": (n, d), "Y": (d, d), "X": (d, d)}
    return {name: (entry_scale * rng.standard_normal(shape)).astype(dt) for name, shape in shapes.items()}
