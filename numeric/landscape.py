"""Loss-landscape slices (docs/mathematics.md §3): f on a 2-D grid around a trained point along two random
directions, filter-normalised as in Li, Xu, Taylor, Studer, Goldstein (NeurIPS 2018): each column of a direction
(one output unit of a weight) is scaled to the norm of the same column of the trained weight. Only the trained
weights move; the others, and the products built from them alone, stay as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from attngrad.errors import InputError
from attngrad.numeric.one_layer import SCORE_LIMIT, Instance, kernel_bytes, score_reach, training_kernel
from attngrad.numeric.simulate import Run, Settings, simulate


@dataclass
class Slice:
    kernel: str
    train: tuple[str, ...]
    alphas: np.ndarray
    betas: np.ndarray
    losses: np.ndarray  # losses[a, b] = f(W + α_a U + β_b V)
    centre: float  # f at the trained point

    def local_minima(self) -> list[tuple[int, int]]:
        """Grid points strictly below each of their 8 neighbours (interior points only)."""
        z = self.losses
        core = z[1:-1, 1:-1]
        lower = np.ones_like(core, dtype=bool)
        for da in (-1, 0, 1):
            for db in (-1, 0, 1):
                if da or db:
                    lower &= core < z[1 + da: z.shape[0] - 1 + da, 1 + db: z.shape[1] - 1 + db]
        return [(int(a) + 1, int(b) + 1) for a, b in np.argwhere(lower)]

    def grid_rows(self) -> list[dict[str, float]]:
        """Every grid point as a row (alpha, beta, loss): the CSV of ``attngrad landscape --out``."""
        return [{"alpha": float(a), "beta": float(b), "loss": float(self.losses[i, j])}
                for i, a in enumerate(self.alphas) for j, b in enumerate(self.betas)]

    def to_dict(self) -> dict:
        minima = self.local_minima()
        return {"kernel": self.kernel, "train": ",".join(self.train), "alphas": self.alphas.tolist(),
                "betas": self.betas.tolist(), "losses": self.losses.tolist(), "centre_loss": self.centre,
                "local_minima": len(minima),
                "minima": [{"alpha": float(self.alphas[a]), "beta": float(self.betas[b]),
                            "loss": float(self.losses[a, b])} for a, b in minima]}


def check_grid(points: int, span: float) -> None:
    """InputError unless the grid has 3 to 401 points per side and a positive finite span."""
    if isinstance(points, bool) or not isinstance(points, Integral) or not 3 <= points <= 401:
        raise InputError(f"The grid needs from 3 to 401 points per side, got {points!r}.")
    if isinstance(span, bool) or not isinstance(span, Real) or not 0 < span < np.inf:
        raise InputError(f"The span must be a positive finite number, got {span!r}.")


def trained_slices(kernels: list[str], train: tuple[str, ...], seed: int, settings: Settings, *, span: float,
                   points: int, workers: int | None = None, progress=None, notice=None) -> tuple[list[Run], list[Slice]]:
    """Train each kernel on the instance of ``seed`` (``simulate`` with ``settings``), then slice f around each
    trained point. A training run that diverges is one sentence: there is no trained point to slice around. The grid
    is checked before any training."""
    check_grid(points, span)
    runs = simulate(kernels, [train], [seed], settings, workers=workers, progress=progress, notice=notice)
    slices = []
    for run in runs:
        if run.status == "diverged":
            raise InputError(f"Training {run.kernel} diverged at step {run.last}; give a smaller --eta or fewer --steps.")
        slices.append(landscape(run.kernel, train, run.instance, span=span, points=points, seed=seed, workers=workers))
    return runs, slices


def landscape_report(train: tuple[str, ...], seed: int, steps: int | None, span: float, points: int, runs: list[Run],
                     slices: list[Slice]) -> dict:
    """What ``attngrad landscape --json`` prints (``steps`` as given, None for the default)."""
    return {"train": ",".join(train), "seed": seed, "steps": steps, "span": span, "points": points,
            "slices": [dict(s.to_dict(), trained_loss=float(r.losses[r.last]), status=r.status)
                       for s, r in zip(slices, runs)]}


def filter_normalised(weights: dict[str, np.ndarray], train: tuple[str, ...], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A Gaussian direction in the trained weights, each column scaled to the norm of the weight's column."""
    out = {}
    for w in train:
        u = rng.standard_normal(weights[w].shape)
        norms = np.linalg.norm(u, axis=0)
        out[w] = u * (np.linalg.norm(weights[w], axis=0) / np.where(norms > 0, norms, 1.0))
    return out


def landscape(kernel: str, train: tuple[str, ...], inst: Instance, *, span: float = 1.0, points: int = 41,
              seed: int = 0, workers: int | None = None) -> Slice:
    """f(W + αU + βV) for α, β on a points × points grid over [−span, span] around the weights of ``inst``; the
    rows of the grid go side by side on ``workers`` worker threads (default: Numba's thread count).

    InputError, before any point is computed, when the attention scores may overflow float64 somewhere on the
    grid (the bound of one_layer.score_reach over |α|, |β| ≤ span, with the largest span that avoids it) or when
    the grid's work would not fit the memory limit of numeric/resources; after, when the loss itself overflows
    somewhere on the grid."""
    from attngrad.numeric.kernel_support import resolve_workers, thread_map
    from attngrad.numeric.resources import refuse_if_too_big

    check_grid(points, span)
    tk = training_kernel(kernel, train)
    rng = np.random.default_rng([seed, 11])
    U = filter_normalised(inst.weights, tk.train, rng)
    V = filter_normalised(inst.weights, tk.train, rng)
    base = tk.arrays(inst)  # checks the scores at the centre
    reach = score_reach(kernel, inst.X, inst.weights, (U, V))
    if not reach(span) < SCORE_LIMIT:
        raise InputError(f"The attention scores of the {kernel} kernel may overflow float64 on this slice; give a span "
                         f"of at most {_largest_span(reach, span):.3g}.")
    size = sum(inst.weights[w].size for w in tk.train)
    at_once = min(points, resolve_workers(workers))
    refuse_if_too_big("The slice", at_once * (3 * 8.0 * size + kernel_bytes(inst.sizes)),
                      f"{at_once} grid rows at once")
    grid = np.linspace(-span, span, points)
    names = tk.module.INPUTS

    def row(a: int) -> np.ndarray:
        out = np.empty(points)
        for b in range(points):
            args = [x + grid[a] * U[n] + grid[b] * V[n] if n in U else x for n, x in zip(names, base)]
            out[b] = tk.module.batch_serial(*args, tk.module.BLOCK)[0][0, 0]
        return out

    losses = np.array(thread_map(row, list(range(points)), workers))
    if not np.isfinite(losses).all():
        raise InputError(f"The loss overflows float64 on part of this slice (span {span:g}); give a smaller span.")
    centre = float(tk.module.batch_serial(*base, tk.module.BLOCK)[0][0, 0])
    return Slice(kernel, tk.train, grid, grid.copy(), losses, centre)


def _largest_span(reach, span: float) -> float:
    """The largest s ≤ span, to 1%, with reach(s) below SCORE_LIMIT (reach grows with s, and reach(0) is below it)."""
    hi, lo = span, span / 1e3
    while lo > 0 and not reach(lo) < SCORE_LIMIT:
        hi, lo = lo, lo / 1e3
    if lo == 0:
        return 0.0
    while hi > 1.01 * lo:
        mid = math.sqrt(lo) * math.sqrt(hi)  # lo·hi may overflow
        lo, hi = (mid, hi) if reach(mid) < SCORE_LIMIT else (lo, mid)
    return lo
