"""NumPy and Numba numerics: reference, generated kernels, finite differences.

Names (scales, kernels, polynomials, weights, training modes, descent status, exact methods, generated modules)
come from attngrad/vocabulary.py; numeric/ gives them their numeric meaning and never types them again. numeric/
never imports SymPy: the symbolic results it needs are printed into numeric/generated/ by `attngrad codegen`.

Threads. Three kinds run here, each with its own name in every signature:

``threads``
    Numba threads of one kernel call: the parallel (``prange``) kernels — the generated
    ``kernel`` of each module in numeric/generated — split their rows over this many threads
    (``loss_and_grad``, ``generated.run``; set by ``kernel_support.using_threads``,
    which restores Numba's setting afterwards).
``workers``
    Python threads of ``kernel_support.thread_map``: coarse tasks that each run serially — a generated
    ``*_serial`` function (compiled ``nogil``), or BLAS products on a one-thread BLAS — go side by side on this
    many threads (the low-rank gradient's row blocks in ``lowrank``; samples and Jacobian rows in
    ``one_layer``; runs in ``simulate``; grid rows in ``landscape``).
BLAS threads
    OpenBLAS's own pool, used by NumPy's products. ``kernel_support.blas_threads(1)`` keeps it on the calling
    thread wherever workers run BLAS products (``lowrank``, ``simulate``), so that its idle threads do not spin
    on the cores the workers need.

Both counts default to Numba's current thread count and are at most NUMBA_NUM_THREADS. The command line's
``--threads`` (and the "threads" of every JSON report) is the number of cores a command may use; the command
passes it on as ``threads`` to a kernel and as ``workers`` to the side-by-side paths, and the benchmarks
(``bench``, ``bench_lowrank``, ``bench_sim``) take it as ``threads`` for the same purpose.
"""

from attngrad.numeric.attention import AttentionResult, loss_and_grad, random_inputs
from attngrad.numeric.fdcheck import GradCheck, check_grad, fd_gradient

__all__ = ["AttentionResult", "GradCheck", "check_grad", "fd_gradient", "loss_and_grad", "random_inputs"]
