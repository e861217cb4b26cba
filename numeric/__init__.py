"""NumPy and Numba numerics: reference, fused kernels, finite differences."""
