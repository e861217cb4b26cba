"""Loss-landscape slices (docs/mathematics.md §3): f on a 2-D grid around a trained point along two random
directions, filter-normalised as in Li, Xu, Taylor, Studer, Goldstein (NeurIPS 2018): each column of a direction
(one output unit of a weight) is scaled to the norm of the same column of the trained weight. Only the trained
weights move; the others, and the products built from them alone, stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from attngrad.errors import InputError
from attngrad.numeric.one_layer import Instance, training_kernel


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

    def to_dict(self) -> dict:
        minima = self.local_minima()
        return {"kernel": self.kernel, "train": ",".join(self.train), "alphas": self.alphas.tolist(),
                "betas": self.betas.tolist(), "losses": self.losses.tolist(), "centre_loss": self.centre,
                "local_minima": len(minima),
                "minima": [{"alpha": float(self.alphas[a]), "beta": float(self.betas[b]),
                            "loss": float(self.losses[a, b])} for a, b in minima]}


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
    rows of the grid go side by side on ``workers`` worker threads (default: Numba's thread count)."""
    from attngrad.numeric.kernel_support import thread_map

    if isinstance(points, bool) or not isinstance(points, Integral) or not 3 <= points <= 401:
        raise InputError(f"The grid needs from 3 to 401 points per side, got {points!r}.")
    if isinstance(span, bool) or not isinstance(span, Real) or not 0 < span < np.inf:
        raise InputError(f"The span must be a positive finite number, got {span!r}.")
    tk = training_kernel(kernel, train)
    rng = np.random.default_rng([seed, 11])
    U = filter_normalised(inst.weights, tk.train, rng)
    V = filter_normalised(inst.weights, tk.train, rng)
    grid = np.linspace(-span, span, points)
    base = tk.arrays(inst)
    names = tk.module.INPUTS

    def row(a: int) -> np.ndarray:
        out = np.empty(points)
        for b in range(points):
            args = [x + grid[a] * U[n] + grid[b] * V[n] if n in U else x for n, x in zip(names, base)]
            out[b] = tk.module.batch_serial(*args, tk.module.BLOCK)[0][0, 0]
        return out

    losses = np.array(thread_map(row, list(range(points)), workers))
    centre = float(tk.module.batch_serial(*base, tk.module.BLOCK)[0][0, 0])
    return Slice(kernel, tk.train, grid, grid.copy(), losses, centre)
