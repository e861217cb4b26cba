"""Plots for the CLI (the `plot` extra: matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attngrad.errors import InputError


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("Plotting needs matplotlib: pip install 'attngrad[plot]'.") from None
    return plt


def bench_plot(result: dict[str, Any], out: str) -> None:
    """Time vs n on log–log axes, one panel per (dtype, d), one line per method, the machine bound dashed."""
    plt = _pyplot()
    rows = [t for t in result["timings"] if t["median_s"] is not None]
    panels = sorted({(t["dtype"], t["d"]) for t in result["timings"]})
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (dt, d) in zip(axes[0], panels):
        sel = [t for t in rows if (t["dtype"], t["d"]) == (dt, d)]
        for method in dict.fromkeys(t["method"] for t in sel):
            pts = sorted((t["n"], t["median_s"]) for t in sel if t["method"] == method)
            ax.plot(*zip(*pts), marker="o", label=method)
        bound = sorted({(t["n"], t["bound_s"]) for t in result["timings"] if (t["dtype"], t["d"]) == (dt, d)})
        ax.plot(*zip(*bound), "k--", label="lower bound (this machine)")
        ax.set(xscale="log", yscale="log", xlabel="n", ylabel="seconds (median)", title=f"L + ∇L, d={d}, {dt}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        fig.savefig(Path(out), dpi=120)
    except OSError as exc:
        raise InputError(f"Cannot write the plot to {out}: {exc.strerror or exc}.") from None
    finally:
        plt.close(fig)
