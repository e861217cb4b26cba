"""NumPy and Numba numerics: reference, fused kernels, finite differences."""

from attngrad.numeric.attention import AttentionResult, loss_and_grad, random_inputs
from attngrad.numeric.fdcheck import GradCheck, check_grad, fd_gradient

__all__ = ["AttentionResult", "GradCheck", "check_grad", "fd_gradient", "loss_and_grad", "random_inputs"]
