"""The checker's tiers, one module each, in the order they run (``derive.check`` explains them):
``mpmath50`` (50 digits), ``index`` (symbolic n, d), ``exact`` (SymPy at each size, or a kernel at dyadic
inputs), ``float64`` (real sizes)."""

from .exact import tier_exact, tier_exact_kernel
from .float64 import FLOAT_RTOL, tier_float
from .index import tier_index
from .mpmath50 import MP_REFUTE, MP_TOL, tier_mpmath

__all__ = ["FLOAT_RTOL", "MP_REFUTE", "MP_TOL", "tier_exact", "tier_exact_kernel", "tier_float", "tier_index",
           "tier_mpmath"]
