"""Peers for side-by-side benchmarks: PyTorch autograd, PyTorch SDPA backward, JAX jit(grad) — all on the CPU.

Each peer computes L(X, Y) of Def 1.2 and its gradients in X and Y from NumPy inputs, the way a user of that
library would write it. A missing library gives a one-sentence note instead of a method (`peers` extra).
"""

from __future__ import annotations

import importlib.util
from typing import Callable

import numpy as np

from attngrad.numeric.inputs import parse_scale

Call = Callable[[], tuple[float, np.ndarray, np.ndarray]]
INSTALL = "install the peers extra: pip install 'attngrad[peers]'"


def available() -> tuple[dict[str, Callable[..., Call]], list[str]]:
    """Peer builders by method name, and notes on the peers that are missing."""
    out: dict[str, Callable[..., Call]] = {}
    notes = []
    if importlib.util.find_spec("torch") is not None:
        out["torch-autograd"] = torch_autograd
        out["torch-sdpa"] = torch_sdpa
    else:
        notes.append(f"PyTorch is not installed, so torch-autograd and torch-sdpa were not measured; {INSTALL}.")
    if importlib.util.find_spec("jax") is not None:
        out["jax-jit-grad"] = jax_jit_grad
    else:
        notes.append(f"JAX is not installed, so jax-jit-grad was not measured; {INSTALL}.")
    return out, notes


def _torch_inputs(arrays: dict[str, np.ndarray], threads: int):
    import torch

    torch.set_num_threads(threads)
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
    return torch, t


def torch_autograd(arrays: dict[str, np.ndarray], scale_name: str, threads: int) -> Call:
    """Def 1.2 written in PyTorch (softmax, matmuls) and differentiated by autograd."""
    torch, t = _torch_inputs(arrays, threads)
    scale = parse_scale(scale_name, arrays["X"].shape[0])

    def call():
        X = t["X"].detach().requires_grad_(True)
        Y = t["Y"].detach().requires_grad_(True)
        f = torch.softmax(scale * (t["A1"] @ X @ t["A2"].T), dim=1)
        loss = 0.5 * ((f @ t["A3"] @ Y - t["E"]) ** 2).sum()
        loss.backward()
        return float(loss), X.grad.numpy(), Y.grad.numpy()

    return call


def torch_sdpa(arrays: dict[str, np.ndarray], scale_name: str, threads: int) -> Call:
    """The same loss through torch.nn.functional.scaled_dot_product_attention (Q = A1X, K = A2, V = A3Y)."""
    torch, t = _torch_inputs(arrays, threads)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    scale = parse_scale(scale_name, arrays["X"].shape[0])

    def call():
        X = t["X"].detach().requires_grad_(True)
        Y = t["Y"].detach().requires_grad_(True)
        out = sdpa((t["A1"] @ X)[None], t["A2"][None], (t["A3"] @ Y)[None], scale=scale)[0]
        loss = 0.5 * ((out - t["E"]) ** 2).sum()
        loss.backward()
        return float(loss), X.grad.numpy(), Y.grad.numpy()

    return call


def jax_jit_grad(arrays: dict[str, np.ndarray], scale_name: str, threads: int) -> Call:
    """Def 1.2 in jax.numpy, `jax.jit(jax.value_and_grad(loss, (0, 1)))` (XLA chooses its own threads)."""
    import jax

    if arrays["X"].dtype == np.float64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    scale = parse_scale(scale_name, arrays["X"].shape[0])

    def loss(X, Y, A1, A2, A3, E):
        f = jax.nn.softmax(scale * (A1 @ X @ A2.T), axis=1)
        return 0.5 * jnp.sum((f @ A3 @ Y - E) ** 2)

    fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    args = [jnp.asarray(arrays[k]) for k in ("X", "Y", "A1", "A2", "A3", "E")]

    def call():
        value, (gX, gY) = fn(*args)
        value.block_until_ready()
        return float(value), np.asarray(gX), np.asarray(gY)

    return call


def torch_gd(kernel: str, train: tuple[str, ...], X: np.ndarray, Y: np.ndarray, weights: dict[str, np.ndarray],
             eta: float, threads: int) -> Callable[[int], np.ndarray]:
    """The one-layer GD loop of docs/mathematics.md §3 as a PyTorch user writes it: the samples batched, float64,
    autograd for the trained weights, an in-place update. Returns ``steps -> losses`` (f before each update)."""
    import torch

    torch.set_num_threads(threads)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    W = {k: torch.from_numpy(v.copy()).requires_grad_(k in train) for k, v in weights.items()}
    N, d = X.shape[0], weights["W_Q"].shape[1]
    root = d ** 0.5

    def attention(Q, K):
        if kernel == "softmax":
            return torch.softmax(Q @ K.transpose(1, 2) / root, dim=-1)
        dist = (Q * Q).sum(-1, keepdim=True) + (K * K).sum(-1).unsqueeze(1) - 2 * Q @ K.transpose(1, 2)
        return torch.exp(-dist / (2 * root)) if kernel == "gaussian" else torch.softmax(-dist / (2 * root), dim=-1)

    def run(steps: int) -> np.ndarray:
        out = np.empty(steps)
        for t in range(steps):
            S = attention(Xt @ W["W_Q"], Xt @ W["W_K"])
            loss = 0.5 * ((S @ (Xt @ W["W_V"]) @ W["W_O"] - Yt) ** 2).sum() / N
            grads = torch.autograd.grad(loss, [W[k] for k in train])
            with torch.no_grad():
                for k, g in zip(train, grads):
                    W[k] -= eta * g
            out[t] = float(loss)
        return out

    return run
