"""Plots for the CLI (the `plot` extra: matplotlib)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from attngrad.cli.outputs import PLOT_SUFFIXES, check_file
from attngrad.cli.render import write_atomic
from attngrad.errors import InputError
from attngrad.vocabulary import KERNEL_METHODS


def pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("Plotting needs matplotlib: pip install 'attngrad[plot]'.") from None
    return plt


def check_plot_path(path: str | None) -> None:
    """Fail before the work, not after it: the plot's path must be writable with a suffix in PLOT_SUFFIXES
    (cli/outputs.py), and the plot extra installed."""
    if path is None:
        return
    check_file(path, "the plot (--plot)", PLOT_SUFFIXES)
    pyplot()


def bench_plot(result: dict[str, Any], out: str) -> None:
    """Time vs n on log–log axes, one panel per (dtype, d), one line per method, the machine bound dashed."""
    plt = pyplot()
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
    _save(fig, plt, out)


def lowrank_plot(result: dict[str, Any], out: str) -> None:
    """Time vs n (log–log) per d: the low-rank path per setting and the exact kernels."""
    plt = pyplot()
    rows = [r for r in result["rows"] if "lowrank" in r]
    ds = sorted({r["d"] for r in rows}) or [0]
    fig, axes = plt.subplots(1, len(ds), figsize=(5.5 * len(ds), 4), squeeze=False)
    for ax, d in zip(axes[0], ds):
        sel = [r for r in rows if r["d"] == d]
        for key in dict.fromkeys((r["beta_target"], r["poly"], r["degree"]) for r in sel):
            pts = sorted((r["n"], r["lowrank"]["median_s"]) for r in sel if (r["beta_target"], r["poly"], r["degree"]) == key)
            ax.plot(*zip(*pts), marker="o", label=f"low-rank β={key[0]}, {key[1]} g={key[2]}")
        for m in KERNEL_METHODS:
            pts = sorted({(r["n"], r[m]["median_s"]) for r in sel if m in r})
            if pts:
                ax.plot(*zip(*pts), marker="s", ls="--", label=f"exact ({m})")
        ax.set(xscale="log", yscale="log", xlabel="n", ylabel="seconds (median)", title=f"∇L, d={d}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, plt, out)


def phase_plot(result: dict[str, Any], out: str) -> None:
    """Left: the rank needed vs n per c (B = c√ln n). Right: low-rank time (measured, or predicted: hollow) vs exact."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    cs = list(dict.fromkeys(r["c"] for r in result["rows"]))
    for c in cs:
        sel = sorted((r for r in result["rows"] if r["c"] == c), key=lambda r: r["n"])
        pts = [(r["n"], r["rank"]) for r in sel if r["rank"]]
        if pts:
            line, = ax1.plot(*zip(*pts), marker="o", label=f"c = {c}")
            meas = [(r["n"], r["lowrank_s"]) for r in sel if r.get("lowrank_s")]
            pred = [(r["n"], r["predicted_s"]) for r in sel if not r.get("lowrank_s") and r.get("predicted_s")]
            if meas:
                ax2.plot(*zip(*meas), marker="o", color=line.get_color(), label=f"low-rank c = {c}")
            if pred:
                ax2.plot(*zip(*pred), marker="o", mfc="none", ls=":", color=line.get_color(),
                         label=f"c = {c} (predicted)")
    exact = sorted((int(n), t["median_s"]) for n, t in result["exact"].items())
    if exact:
        ax2.plot(*zip(*exact), "k--s", label="exact (generated)")
    ax1.set(xscale="log", yscale="log", xlabel="n", ylabel="rank C(d+g, g)",
            title=f"rank for exp error ≤ {result['eps']:g} on [−B², B²], d = {result['d']}")
    ax2.set(xscale="log", yscale="log", xlabel="n", ylabel="seconds", title="∇L: low-rank vs exact")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, plt, out)


def _save(fig, plt, out: str) -> None:
    """The figure to ``out`` in the format its suffix names, whole or not at all (``write_atomic``)."""
    fmt = Path(out).suffix.lstrip(".").lower() or "png"
    try:
        write_atomic(out, lambda fh: fig.savefig(fh, format=fmt, dpi=120), binary=True, what="the plot")
    finally:
        plt.close(fig)


def simulate_plot(runs: list, out: str) -> None:
    """Loss (top) and PL ratio ½‖∇f‖²/f (bottom) against the step, log scale, one column per training mode;
    one colour per kernel: the median over seeds, the band between the smallest and largest seed shaded."""
    import numpy as np

    plt = pyplot()
    modes = list(dict.fromkeys(r.mode for r in runs))
    kernels = list(dict.fromkeys(r.kernel for r in runs))
    fig, axes = plt.subplots(2, len(modes), figsize=(4.6 * len(modes), 6.4), squeeze=False, sharex="col")
    for col, mode in enumerate(modes):
        for k, kernel in enumerate(kernels):
            sel = [r for r in runs if r.mode == mode and r.kernel == kernel]
            if not sel:
                continue
            steps = max(r.last for r in sel) + 1
            for row, series in enumerate((lambda r: r.losses, lambda r: r.pl_ratio())):
                data = np.full((len(sel), steps), np.nan)
                for i, r in enumerate(sel):
                    v = series(r)[: r.last + 1]
                    data[i, : v.size] = np.where(v > 0, v, np.nan)
                x = np.arange(steps)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    lo, hi = np.nanmin(data, 0), np.nanmax(data, 0)
                all_on = min(r.last for r in sel) + 1  # the median is drawn while every seed still runs
                ax = axes[row, col]
                ax.fill_between(x, lo, hi, color=f"C{k}", alpha=0.18, linewidth=0)
                for line in data:
                    ax.plot(x, line, color=f"C{k}", alpha=0.35, linewidth=0.6)
                ax.plot(x[:all_on], np.median(data[:, :all_on], 0), color=f"C{k}", linewidth=1.8,
                        label=f"{kernel}: median, seeds, min–max band ({len(sel)} seeds)")
                ax.set_yscale("log")
        axes[0, col].set_title(f"train {mode}")
        axes[0, col].set_ylabel("loss f")
        axes[1, col].set_ylabel("PL ratio ½‖∇f‖²/f")
        axes[1, col].set_xlabel("GD step")
        axes[0, col].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, plt, out)


def sweep_plot(entries: list[dict[str, Any]], x: str, y: str, out: str) -> None:
    """Phase diagrams of a sweep: per training mode (rows) and kernel (columns), the fraction of seeds that
    converged over the (x, y) plane, each cell labelled with it; grey where the sweep has no runs."""
    import numpy as np

    from attngrad.numeric.sweep_report import phase_grid

    plt = pyplot()
    kernels = list(dict.fromkeys(e["kernel"] for e in entries))
    modes = list(dict.fromkeys(e["train"] for e in entries))
    fig, axes = plt.subplots(len(modes), len(kernels), figsize=(4.4 * len(kernels) + 1.2, 3.4 * len(modes)),
                             squeeze=False, layout="constrained")
    for i, mode in enumerate(modes):
        for j, kernel in enumerate(kernels):
            xs, ys, grid = phase_grid(entries, x, y, kernel, mode)
            ax = axes[i, j]
            cmap = plt.get_cmap("viridis").copy()
            cmap.set_bad("0.8")
            im = ax.imshow(np.ma.masked_invalid(grid), origin="lower", vmin=0, vmax=1, cmap=cmap, aspect="auto")
            for (r, c), v in np.ndenumerate(grid):
                if np.isfinite(v):
                    ax.text(c, r, f"{v:.0%}", ha="center", va="center", fontsize=7, color="w" if v < 0.6 else "k")
            ax.set_xticks(range(len(xs)), [f"{v:g}" if isinstance(v, float) else str(v) for v in xs], fontsize=7)
            ax.set_yticks(range(len(ys)), [f"{v:g}" if isinstance(v, float) else str(v) for v in ys], fontsize=7)
            ax.set(xlabel=x, ylabel=y)
            ax.set_title(f"{kernel} · train {mode}", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.8, label="fraction of seeds reaching the target")
    _save(fig, plt, out)


def landscape_plot(slices: list, out: str) -> None:
    """One row per kernel's slice: contour (left) and surface (right) of f on the grid; local minima marked."""
    import numpy as np

    plt = pyplot()
    fig = plt.figure(figsize=(11, 4.6 * len(slices)))
    for row, slice_ in enumerate(slices):
        A, B = np.meshgrid(slice_.alphas, slice_.betas, indexing="ij")
        Z = np.log10(np.maximum(slice_.losses, 1e-300))
        ax = fig.add_subplot(len(slices), 2, 2 * row + 1)
        cs = ax.contourf(A, B, Z, levels=30, cmap="viridis")
        fig.colorbar(cs, ax=ax, label="log10 f")
        minima = slice_.local_minima()
        if minima:
            ax.plot([slice_.alphas[a] for a, _ in minima], [slice_.betas[b] for _, b in minima], "r.",
                    label="local minima")
            ax.legend(fontsize=7)
        ax.set(xlabel="α", ylabel="β", title=f"{slice_.kernel}, train {','.join(slice_.train)}: "
                                              f"local minima on the grid: {len(minima)}")
        ax3 = fig.add_subplot(len(slices), 2, 2 * row + 2, projection="3d")
        ax3.plot_surface(A, B, Z, cmap="viridis", linewidth=0)
        ax3.set(xlabel="α", ylabel="β", zlabel="log10 f", title=slice_.kernel)
    fig.tight_layout()
    _save(fig, plt, out)
