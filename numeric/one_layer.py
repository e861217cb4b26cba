"""One attention layer (docs/mathematics.md §3) in numbers: instances, the loss with its gradients, and the
Jacobian.

Every number comes from the kernels `attngrad codegen` prints from the chain ``one_layer(kernel, N=1)``
(numeric/generated/one_layer_*.py): a sample's loss ½‖F_i − Y_i‖² and its gradients in W_Q, W_K, W_V, W_O.
The N-sample loss f = (1/2N) Σ_i ‖F_i − Y_i‖² and its gradient are the means over samples. The Jacobian J of
the stacked outputs (F_i[k, o] for every i, k, o) is read off the same kernel: the gradient is linear in the
residual, so ∇(Y) − ∇(Y + e_ko) = Jᵢᵀe_ko, a row of J (no second formula is typed).

The samples (or the rows of J) are split over ``workers`` Python threads (``thread_map``), each calling the
generated module's serial functions.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np

from attngrad.errors import InputError
from attngrad.numeric.inputs import as_float_array, sequence
from attngrad.vocabulary import EMBEDDINGS, KERNELS, ONE_LAYER_MODULES, TARGETS, TRAINING_MODES, WEIGHTS

#: default entry scale of each weight at initialisation (entries N(0, scale²); W_O's is divided by √d_v)
INIT_SCALES = {"W_Q": 1.0, "W_K": 1.0, "W_V": 1.0, "W_O": 1.0}


@dataclass(frozen=True)
class Sizes:
    """N samples of n tokens, embedding D, head d, value d_v, output d_y (docs/mathematics.md §3)."""

    N: int = 16
    n: int = 8
    D: int = 128
    d: int = 16
    dv: int = 16
    dy: int = 1

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise InputError(f"The size {name} must be a positive integer, got {value!r}.")

    def shape(self, weight: str) -> tuple[int, int]:
        return {"W_Q": (self.D, self.d), "W_K": (self.D, self.d), "W_V": (self.D, self.dv),
                "W_O": (self.dv, self.dy)}[weight]

    @property
    def outputs(self) -> int:
        """Rows of the Jacobian: every entry of every F_i."""
        return self.N * self.n * self.dy


@dataclass
class Instance:
    """Data (X: N×n×D, Y: N×n×d_y) and weights of one layer; float64, C-contiguous."""

    X: np.ndarray
    Y: np.ndarray
    weights: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)

    @property
    def sizes(self) -> Sizes:
        N, n, D = self.X.shape
        return Sizes(N, n, D, self.weights["W_Q"].shape[1], self.weights["W_V"].shape[1], self.Y.shape[2])

    def copy(self) -> "Instance":
        return Instance(self.X.copy(), self.Y.copy(), {k: v.copy() for k, v in self.weights.items()}, list(self.notes))


def check_kernel(kernel: str) -> str:
    if kernel not in KERNELS:
        raise InputError(f"Unknown kernel '{kernel}'; use one of {', '.join(KERNELS)}.")
    return kernel


def check_train(train: tuple[str, ...] | list[str] | str) -> tuple[str, ...]:
    """A training mode: a non-empty subset of W_Q, W_K, W_V, W_O, in that order (``"W_Q,W_V"`` works too)."""
    names = [t.strip() for t in train.split(",")] if isinstance(train, str) else sequence("train", train, "weights")
    unknown = [t for t in names if t not in WEIGHTS]
    if unknown or not names:
        raise InputError(f"Unknown training mode '{','.join(map(str, names))}': give weights from {', '.join(WEIGHTS)}, "
                         "e.g. W_Q or W_Q,W_K,W_V.")
    return tuple(w for w in WEIGHTS if w in names)


def as_instance(X: Any, Y: Any, weights: dict[str, Any]) -> Instance:
    """Validate data and weights (shapes consistent, finite, real) into an Instance of float64 arrays."""
    X = as_float_array("X", X, np.float64)
    Y = as_float_array("Y", Y, np.float64)
    if X.ndim != 3 or Y.ndim != 3:
        raise InputError(f"X and Y must be 3-D arrays (samples, tokens, features), got shapes {X.shape} and {Y.shape}.")
    if X.shape[:2] != Y.shape[:2]:
        raise InputError(f"X has shape {X.shape} and Y {Y.shape}: they must have the same samples and tokens.")
    missing = [w for w in WEIGHTS if w not in weights]
    if missing:
        raise InputError(f"The weights lack {', '.join(missing)}.")
    W = {w: as_float_array(w, weights[w], np.float64) for w in WEIGHTS}
    for w, a in W.items():
        if a.ndim != 2:
            raise InputError(f"{w} must be a 2-D array, got shape {a.shape}.")
    N, n, D = X.shape
    d, dv, dy = W["W_Q"].shape[1], W["W_V"].shape[1], Y.shape[2]
    if min(N, n, D, d, dv, dy) < 1:
        raise InputError("Every size (samples, tokens, D, d, d_v, d_y) must be at least 1.")
    want = Sizes(N, n, D, d, dv, dy)
    for w, a in W.items():
        if a.shape != want.shape(w):
            raise InputError(f"{w} has shape {a.shape} but must be {want.shape(w)} for X of shape {X.shape} "
                             f"and Y of shape {Y.shape}.")
    return Instance(X, Y, W)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream])


def make_instance(sizes: Sizes, seed: int = 0, *, embedding: str = "orthogonal", targets: str = "random",
                  scales: dict[str, float] | None = None, tie_qk: bool = True, margin: float = 0.5) -> Instance:
    """A synthetic instance; the same seed gives the same data and initial weights for every kernel and mode.

    embedding: ``orthogonal`` — the N·n token embeddings are orthonormal rows (needs D ≥ Nn, the large-embedding
    regime; otherwise Gaussian rows, with a note); ``gaussian`` — entries N(0, 1/D) (rows of norm ≈ 1).
    Weights: entries N(0, scale²), W_O's divided by √d_v; ``tie_qk`` starts W_K equal to W_Q.
    targets: ``random`` — Y entries N(0, 1); ``outside-hull`` — each target row lies outside the convex hull of
    the rows of V_iW_O at initialisation (beyond the farthest one along a random direction by ``margin``), so
    Softmax attention, whose output rows are convex combinations of those rows, cannot fit it while W_V and W_O
    stay fixed.
    """
    if embedding not in EMBEDDINGS:
        raise InputError(f"Unknown embedding '{embedding}'; use one of {', '.join(EMBEDDINGS)}.")
    if targets not in TARGETS:
        raise InputError(f"Unknown targets '{targets}'; use one of {', '.join(TARGETS)}.")
    scales = {**INIT_SCALES, **(scales or {})}
    for w, s in scales.items():
        if w not in WEIGHTS or isinstance(s, bool) or not isinstance(s, Real) or not 0 <= s < np.inf:
            raise InputError(f"The initial scale of {w} must be a finite number ≥ 0, got {s!r}.")
    N, n, D = sizes.N, sizes.n, sizes.D
    notes = []
    rng = _rng(seed, 1)
    if embedding == "orthogonal" and D >= N * n:
        q, _ = np.linalg.qr(rng.standard_normal((D, N * n)))
        X = q.T.reshape(N, n, D)
    else:
        if embedding == "orthogonal":
            notes.append(f"orthogonal embeddings need D ≥ Nn = {N * n}; drew Gaussian rows instead (D = {D})")
        X = rng.standard_normal((N, n, D)) / np.sqrt(D)
    rng = _rng(seed, 2)
    W = {w: scales[w] * rng.standard_normal(sizes.shape(w)) for w in WEIGHTS}
    W["W_O"] /= np.sqrt(sizes.dv)
    if tie_qk:
        W["W_K"] = W["W_Q"].copy()
    rng = _rng(seed, 3)
    if targets == "random":
        Y = rng.standard_normal((N, n, sizes.dy))
    else:
        probe = Instance(np.ascontiguousarray(X), np.zeros((N, n, sizes.dy)), W)
        # VO = XW_VW_O (N × n × d_y), the rows a Softmax output row is a convex combination of, from the chain
        VO = dict(zip(*_frozen_products(probe, ("W_Q",))))["VO_0"]
        centre = VO.mean(axis=1, keepdims=True)
        u = rng.standard_normal((N, n, sizes.dy))
        u /= np.linalg.norm(u, axis=2, keepdims=True)
        reach = np.einsum("ikc,ijc->ikj", u, VO - centre).max(axis=2)  # max_j ⟨u_k, VO_j − centre⟩
        Y = centre + (reach + margin)[:, :, None] * u  # ⟨u_k, y_k⟩ = max_j ⟨u_k, VO_j⟩ + margin
    return Instance(np.ascontiguousarray(X), np.ascontiguousarray(Y), {k: np.ascontiguousarray(v) for k, v in W.items()},
                    notes)


@dataclass(frozen=True)
class OneLayerResult:
    """f and its gradient in every trained weight."""

    loss: float
    grads: dict[str, np.ndarray]


@dataclass(frozen=True)
class TrainingKernel:
    """The generated module that trains the weights ``train`` with attention ``kernel``: the module of that
    training mode (vocabulary.TRAINING_MODES) if it has one, else the module of every weight (the weights outside
    ``train`` are then left alone: see ``mask``)."""

    kernel: str
    train: tuple[str, ...]
    module: Any  # numeric/generated/one_layer_<kernel>_<mode>.py
    trains: tuple[str, ...]  # the weights the module differentiates, in order

    @property
    def mask(self) -> np.ndarray:
        """Which of the module's weights (``trains``) are trained: the generated descent updates only those."""
        return np.array([w in self.train for w in self.trains])

    def arrays(self, inst: Instance) -> list[np.ndarray]:
        """The module's INPUTS for ``inst``: samples along axis 0 of the per-sample ones; the products of the
        weights that stay fixed (K = XW_K, VO = XW_VW_O, …) once, by the module's generated ``frozen_serial``.
        Every call of a generated one-layer function starts from these, so this is where the scores are checked
        (``check_scores``)."""
        check_scores(self.kernel, inst.X, inst.weights)
        given = {"X_0": inst.X, "Y_0": inst.Y, **inst.weights}
        if self.module.FROZEN:
            given.update(zip(self.module.FROZEN, self.module.frozen_serial(*(given[x] for x in self.module.FROZEN_ARGS))))
        return [np.ascontiguousarray(given[x]) for x in self.module.INPUTS]


def _frozen_products(inst: Instance, train: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[np.ndarray, ...]]:
    """The frozen products of ``inst`` for a training mode (they do not depend on the kernel)."""
    mod = training_kernel(KERNELS[0], train).module
    given = {"X_0": inst.X, **inst.weights}
    return mod.FROZEN, mod.frozen_serial(*(given[x] for x in mod.FROZEN_ARGS))


def training_kernel(kernel: str, train: tuple[str, ...] | str = WEIGHTS) -> TrainingKernel:
    """The generated module that trains ``train`` (checked) with attention ``kernel`` (checked); see TrainingKernel."""
    from attngrad.numeric.generated import load

    train = check_train(train)
    mode = next((m for m, ws in TRAINING_MODES.items() if ws == train), "all")
    module = load(ONE_LAYER_MODULES[(check_kernel(kernel), mode)])
    return TrainingKernel(kernel, train, module, TRAINING_MODES[mode])


#: the generated functions a simulation calls: the frozen products, the loss, the Jacobian's samples, the descent
SIMULATION_FUNCTIONS = ("frozen_serial", "batch_serial", "samples_serial", "descend_serial")


def compiles_first(module: Any, names: tuple[str, ...] = SIMULATION_FUNCTIONS) -> bool:
    """Whether the first call of one of the functions ``names`` of a generated module compiles it, which takes
    up to minutes (a caller announces it): none of its versions is loaded in this process yet, and Numba's
    on-disk cache (``cache=True``) holds none for this source and this machine (after the first run it does)."""
    return any(not getattr(f, "signatures", True) and not _in_numba_cache(f)
               for f in (getattr(module, name, None) for name in names) if f is not None)


def _in_numba_cache(dispatcher: Any) -> bool:
    """Whether Numba's cache index of ``dispatcher`` lists a compiled version for its current bytecode and this
    machine. Numba has no public call for this: its cache index is read through its internals, and if they change,
    the answer is False (the compilation is announced, perhaps needlessly)."""
    try:
        cache = dispatcher._cache
        want = cache._index_key(None, dispatcher.targetctx.codegen())[1:]
        return any(key[1:] == want for key in cache._cache_file._load_index())
    except Exception:  # noqa: BLE001 - Numba internals changed, or the cache is unreadable
        return False


# scores ------------------------------------------------------------------------------------------------------
#: the largest score bound the one-layer kernels are given (as numeric/kernel_support.check_scores for Alman–Song's)
SCORE_LIMIT = 1e300


def _row_norms(A: np.ndarray) -> np.ndarray:
    """‖A_k‖ of every row, without overflow for entries below float64's limit (NaN where A is not finite)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        scale = np.abs(A).max(axis=1, initial=0.0)
        safe = np.where(scale > 0, scale, 1.0)
        return scale * np.sqrt(np.sum((A / safe[:, None]) ** 2, axis=1))


def score_reach(kernel: str, X: np.ndarray, weights: dict[str, np.ndarray],
                directions: tuple[dict[str, np.ndarray], ...] = ()):
    """s ↦ a bound on what the scores of ``kernel`` reach at every W + Σ_i α_i U_i with |α_i| ≤ s (the U_i in
    ``directions``, each over some of W_Q, W_K); at s = 0, at the weights themselves.

    With every query row q = x·W_Q of norm ≤ q̄ and every key row k = x·W_K of norm ≤ k̄ (row by row,
    ‖x(W + Σα_iU_i)‖ ≤ ‖xW‖ + s·Σ_i‖xU_i‖), Softmax forms q·k, with |q·k| ≤ q̄·k̄, and the Gaussian kernels form
    ‖q‖², ‖k‖² and 2q·k, each at most (q̄ + k̄)². When the bound is finite, so is every score; then every row of
    exp(scores − row max) holds a 1 and its sum, which the normalised kernels divide by, is at least 1."""
    X2 = X.reshape(-1, X.shape[-1])
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        base = {w: _row_norms(X2 @ weights[w]) for w in ("W_Q", "W_K")}
        along = {w: sum((_row_norms(X2 @ U[w]) for U in directions if w in U), np.zeros(X2.shape[0]))
                 for w in ("W_Q", "W_K")}

    def reach(s: float) -> float:
        with np.errstate(over="ignore", invalid="ignore"):
            q, k = (float(np.max(base[w] + s * along[w], initial=0.0)) for w in ("W_Q", "W_K"))
            return q * k if kernel == "softmax" else (q + k) * (q + k)

    return reach


def score_problem(kernel: str, X: np.ndarray, weights: dict[str, np.ndarray]) -> str | None:
    """None when the scores of ``kernel`` at X and the weights are safely finite (``score_reach`` below
    SCORE_LIMIT), else the sentence that says they may overflow."""
    bound = score_reach(kernel, X, weights)(0.0)
    if bound < SCORE_LIMIT:
        return None
    reach = f"may reach {bound:.3g}, beyond the limit of {SCORE_LIMIT:.0e}" if np.isfinite(bound) else \
        "may overflow float64"
    return f"The attention scores of the {kernel} kernel {reach}; scale X, W_Q or W_K down."


def check_scores(kernel: str, X: np.ndarray, weights: dict[str, np.ndarray]) -> None:
    """Raise InputError unless the scores of ``kernel`` are safely finite (``score_problem``): every entry point
    of the one-layer path goes through it (``TrainingKernel.arrays``)."""
    problem = score_problem(kernel, X, weights)
    if problem:
        raise InputError(problem)


# memory ------------------------------------------------------------------------------------------------------
def instance_bytes(sizes: Sizes) -> float:
    """Bytes of one instance: X, Y and the four weights, in float64."""
    s = sizes
    return 8.0 * (s.N * s.n * (s.D + s.dy) + s.D * (2 * s.d + s.dv) + s.dv * s.dy)


def kernel_bytes(sizes: Sizes) -> float:
    """Bytes a generated batch call allocates besides its inputs: the products Q, K, V, VO of every token, the
    per-token sums and the gradients (float64)."""
    s = sizes
    return 8.0 * (s.N * s.n * (4 * s.d + s.dv + 3 * s.dy) + 2 * s.D * (2 * s.d + s.dv) + 2 * s.dv * s.dy)


def jacobian_bytes(sizes: Sizes, train: tuple[str, ...]) -> float:
    """Bytes ``jacobian`` and the Gram matrix JJᵀ (with its eigenvalues) take at once: the module's gradient of
    every perturbed output (Nn·d_y rows of every weight the module trains), J and its copies, and JJᵀ twice."""
    rows = sizes.N * sizes.n * sizes.dy
    trains = next((ws for ws in TRAINING_MODES.values() if ws == tuple(train)), WEIGHTS)
    p_module = sum(math.prod(sizes.shape(w)) for w in trains)
    p = sum(math.prod(sizes.shape(w)) for w in train)
    return 8.0 * (rows * (p_module + 3 * p) + 2 * rows * rows)


def loss_and_grads(kernel: str, X: Any, Y: Any, weights: dict[str, Any], train: tuple[str, ...] | str = WEIGHTS, *,
                   workers: int | None = None) -> OneLayerResult:
    """f = (1/2N) Σ_i ‖S_i V_i W_O − Y_i‖² (docs/mathematics.md §3) and ∇f in the trained weights, by the generated
    kernels.

    X: N×n×D, Y: N×n×d_y, weights: W_Q, W_K (D×d), W_V (D×d_v), W_O (d_v×d_y). The samples are split over
    ``workers`` worker threads (default: Numba's thread count). Bad input raises InputError.
    """
    from attngrad.numeric.kernel_support import resolve_workers, split_range, thread_map

    check_kernel(kernel)
    inst = as_instance(X, Y, weights)
    tk = training_kernel(kernel, train)
    arrays = tk.arrays(inst)
    batch = set(tk.module.BATCH_INPUTS)

    def part(span: tuple[int, int]):
        a, b = span
        out = tk.module.batch_serial(*(x[a:b] if name in batch else x for name, x in zip(tk.module.INPUTS, arrays)),
                                     tk.module.BLOCK)
        return [(b - a) * np.asarray(o) for o in out]

    spans = split_range(inst.X.shape[0], resolve_workers(workers))
    sums = [sum(parts) / inst.X.shape[0] for parts in zip(*thread_map(part, spans, workers))]
    loss, grads = float(sums[0][0, 0]), dict(zip(tk.trains, sums[1:]))
    if not (np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())):
        raise InputError("The loss or its gradient overflows float64; scale the data or the weights down.")
    return OneLayerResult(loss, {w: grads[w] for w in tk.train})


def jacobian(kernel: str, inst: Instance, train: tuple[str, ...] | str, *, workers: int | None = None) -> np.ndarray:
    """J = ∂(F_i[k, o] for all i, k, o)/∂(trained weights, each row-major, in WEIGHTS order): (N·n·d_y) × p.

    Row (i, k, o) is ∇(Y_i) − ∇(Y_i + e_ko) of sample i's generated kernel: the gradient is Jᵢᵀ(F_i − Y_i),
    linear in Y_i. The perturbed samples go through the generated ``samples_serial`` as one batch, its rows split
    over ``workers`` worker threads (default: Numba's thread count).
    """
    from attngrad.numeric.kernel_support import resolve_workers, split_range, thread_map

    tk = training_kernel(kernel, train)
    arrays = dict(zip(tk.module.INPUTS, tk.arrays(inst)))
    batch = tk.module.BATCH_INPUTS
    keep = [k for k, w in enumerate(tk.trains) if w in tk.train]
    N, n, dy = inst.Y.shape
    rows = np.arange(N * n * dy)
    sample = rows // (n * dy)

    def flat(out: tuple) -> np.ndarray:
        return np.concatenate([out[1 + k].reshape(out[1 + k].shape[0], -1) for k in keep], axis=1)

    def part(span: tuple[int, int]) -> np.ndarray:
        r = rows[span[0]:span[1]]
        args = {x: (arrays[x][sample[r]] if x in batch else arrays[x]) for x in tk.module.INPUTS}
        args["Y_0"] = args["Y_0"].copy()
        args["Y_0"][np.arange(r.size), (r // dy) % n, r % dy] += 1.0
        return flat(tk.module.samples_serial(*args.values(), tk.module.BLOCK))

    base = flat(tk.module.samples_serial(*arrays.values(), tk.module.BLOCK))
    return base[sample] - np.concatenate(thread_map(part, split_range(rows.size, resolve_workers(workers)), workers))


def attended_inputs(kernel: str, inst: Instance, *, workers: int | None = None) -> np.ndarray:
    """F = [S_1X_1; …; S_NX_N] (Nn × D), read off the generated kernel's W_V Jacobian J = F ⊗ W_Oᵀ (the identity of
    the bound pl/W_V): Σ_{o,b} J[(r, o), (a, b)] W_O[b, o] = F[r, a]·‖W_O‖² (``workers`` as in ``jacobian``)."""
    WO = inst.weights["W_O"]
    norm = float(np.sum(WO * WO))
    if norm == 0:
        raise InputError("W_O is zero, so F cannot be read off the W_V Jacobian.")
    s = inst.sizes
    J = jacobian(kernel, inst, ("W_V",), workers=workers).reshape(s.N * s.n, s.dy, s.D, s.dv)
    return np.einsum("roab,bo->ra", J, WO) / norm


@dataclass(frozen=True)
class Data:
    """A user's instance from an .npz file: X (N×n×D), Y (N×n×d_y) and any of the weights."""

    X: np.ndarray
    Y: np.ndarray
    weights: tuple[tuple[str, np.ndarray], ...]

    @property
    def sizes(self) -> dict[str, int]:
        """The sizes the file fixes (d and d_v only when a weight that has them is given)."""
        N, n, D = self.X.shape
        out = {"N": N, "n": n, "D": D, "dy": self.Y.shape[2]}
        W = dict(self.weights)
        for w, (axis, key) in {"W_Q": (1, "d"), "W_K": (1, "d"), "W_V": (1, "dv"), "W_O": (0, "dv")}.items():
            if w in W:
                out[key] = W[w].shape[axis]
        return out


_NPZ_WANTED = "an .npz with X (N×n×D) and Y (N×n×d_y), as numpy.savez writes"
# what a truncated or corrupt .npz raises while it is read: zipfile's own errors, and NotImplementedError or
# RuntimeError for a header whose compression method, version or flags (encryption) were damaged
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


def _npz_bytes(z: Any) -> float:
    """The bytes the arrays of an open .npz will take, from their .npy headers (members it cannot read a header
    of count as nothing: reading them fails with its own sentence)."""
    import numpy.lib.format as npy_format

    total = 0.0
    for name in z.zip.namelist():
        try:
            with z.zip.open(name) as fh:
                version = npy_format.read_magic(fh)
                read = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}[version]
                shape, _, dtype = read(fh)
        except (KeyError, ValueError, OSError, *_DAMAGED):
            continue
        total += float(math.prod(shape)) * dtype.itemsize
    return total


def load_data(path: str) -> Data:
    """Read and check an .npz with X, Y and optional W_Q, W_K, W_V, W_O (one sentence on any problem: a missing,
    empty, truncated or corrupt file, an .npy or any other file, arrays larger than the memory limit of
    numeric/resources)."""
    from attngrad.numeric.resources import refuse_if_too_big

    try:
        z = np.load(path, allow_pickle=False, mmap_mode="r")  # an .npy is mapped, not read
    except FileNotFoundError:
        raise InputError(f"There is no file {path}.") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory; give {_NPZ_WANTED}.") from None
    except OSError as exc:
        raise InputError(f"Cannot read {path} ({exc.strerror or exc}).") from None
    except EOFError:
        raise InputError(f"{path} is empty; give {_NPZ_WANTED}.") from None
    except _DAMAGED as exc:
        raise InputError(f"{path} is a damaged or truncated .npz file ({str(exc).rstrip('.')}); write it again.") from None
    except ValueError:  # neither zip nor .npy magic: NumPy would unpickle it, which allow_pickle=False refuses
        raise InputError(f"{path} is neither an .npz nor an .npy file; give {_NPZ_WANTED}.") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise InputError(f"{path} is an .npy file, which holds a single array; give {_NPZ_WANTED}.")
    with z:
        refuse_if_too_big(f"Reading {path}", _npz_bytes(z), "its arrays")
        try:
            arrays = {k: z[k] for k in z.files}
        except _DAMAGED as exc:
            raise InputError(f"{path} is a damaged or truncated .npz file ({str(exc).rstrip('.')}); "
                             "write it again.") from None
        except (ValueError, OSError) as exc:  # an object array (pickled), or a member that is not an .npy
            raise InputError(f"Cannot read the arrays of {path} ({str(exc).rstrip('.')}).") from None
    not_arrays = sorted(k for k, a in arrays.items() if not isinstance(a, np.ndarray))
    if not_arrays:
        raise InputError(f"{path} holds {not_arrays[0]}, which is not a NumPy array; give {_NPZ_WANTED}.")
    missing = [k for k in ("X", "Y") if k not in arrays]
    if missing:
        raise InputError(f"{path} has no array {missing[0]} (it needs X: N×n×D and Y: N×n×d_y).")
    unknown = sorted(set(arrays) - {"X", "Y", *WEIGHTS})
    if unknown:
        raise InputError(f"{path} has an array {unknown[0]} that is not X, Y or one of {', '.join(WEIGHTS)}.")
    X, Y = as_float_array("X", arrays["X"], np.float64), as_float_array("Y", arrays["Y"], np.float64)
    if X.ndim != 3 or Y.ndim != 3 or X.shape[:2] != Y.shape[:2]:
        raise InputError(f"X and Y must be N×n×D and N×n×d_y with the same N and n, got {X.shape} and {Y.shape}.")
    weights = tuple((w, as_float_array(w, arrays[w], np.float64)) for w in WEIGHTS if w in arrays)
    data = Data(X, Y, weights)
    s = data.sizes
    full = Sizes(**{"d": 1, "dv": 1, **s})
    for w, a in weights:
        if a.ndim != 2 or any(a.shape[k] != full.shape(w)[k] for k in range(2)):
            raise InputError(f"{w} in {path} has shape {a.shape}, which does not fit X {X.shape} and Y {Y.shape}.")
    for a, b, what in (("W_Q", "W_K", "d"), ("W_V", "W_O", "dv")):
        W = dict(weights)
        if a in W and b in W and W[a].shape[1] != (W[b].shape[1] if what == "d" else W[b].shape[0]):
            raise InputError(f"{a} and {b} in {path} disagree on {what}.")
    return data


def with_data(inst: Instance, data: Data) -> Instance:
    """``inst`` (drawn at a seed) with the data's X, Y and given weights in place of its own."""
    out = as_instance(data.X, data.Y, {**inst.weights, **dict(data.weights)})
    out.notes = [n for n in inst.notes if "embeddings" not in n]
    return Instance(out.X.copy(), out.Y.copy(), {k: v.copy() for k, v in out.weights.items()}, out.notes)
