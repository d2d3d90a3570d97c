"""The report's figures, drawn with matplotlib (Agg: no display needed) into PNG files."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, also on machines without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402

from layerlr.report.best import Best, Scaling  # noqa: E402
from layerlr.report.curvature import Line  # noqa: E402
from layerlr.report.gaps import PARTS, Gaps  # noqa: E402

DPI = 110


def landscape(lines: list[Line], step: int, objective: str, title: str, path: Path) -> None:
    """Loss after ``step`` against eta1, one curve per budget coloured by B (the paper's
    figures): measured mean +- SE over seeds, closed form dashed, equal split marked."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    budgets = [line.budget for line in lines]
    norm = Normalize(min(budgets), max(budgets) + 1e-12)
    cmap = plt.get_cmap("viridis")
    loss = f"loss_{objective}"
    for line in lines:
        color, r = cmap(norm(line.budget)), line.rows
        ax.errorbar(r["eta1"], r[loss], yerr=r[f"{loss}_se"], color=color, marker=".",
                    markersize=4, linewidth=1, capsize=2)
        if r["loss_theory"].notna().all():
            ax.plot(r["eta1"], r["loss_theory"], color=color, linestyle="--", linewidth=0.8)
        mid = r.iloc[line.stencil()[1]]
        ax.plot(mid["eta1"], mid[loss], marker="*", color="black", markersize=9, zorder=5)
    ax.set(xlabel="eta1 (step-1 rate of layer 1)", ylabel=f"{objective} loss after step {step}",
           title=title)
    ax.plot([], [], "k*", label="equal split")
    if any(line.rows["loss_theory"].notna().all() for line in lines):
        ax.plot([], [], "k--", linewidth=0.8, label="closed form (SPEC 6)")
    ax.legend(loc="best", fontsize=8)
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="budget B")
    _save(fig, path)


def gap_bars(cells: list[tuple[str, Gaps]], step: int, title: str, path: Path) -> None:
    """Per cell, the three parts of measured - closed form with their SE (symlog axis)."""
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(cells) + 2), 4.5))
    width = 0.8 / len(PARTS)
    x = np.arange(len(cells))
    def shown(e: object) -> bool:  # a part exists and is finite (an overflow is not)
        return e is not None and np.isfinite(e.mean)

    for j, part in enumerate(PARTS):
        est = [g.parts[part] for _, g in cells]
        ax.bar(x + (j - 1) * width, [e.mean if shown(e) else 0.0 for e in est], width,
               yerr=[e.se if shown(e) and np.isfinite(e.se) else 0.0 for e in est],
               capsize=3, label=part)
    ax.set_xticks(x, [c for c, _ in cells])
    tiny = min((abs(e.mean) for _, g in cells for e in g.parts.values()
                if shown(e) and e.mean), default=1e-12)
    ax.set_yscale("symlog", linthresh=max(tiny, 1e-12))
    top = max((abs(e.mean) + (e.se if np.isfinite(e.se) else 0)
               for _, g in cells for e in g.parts.values() if shown(e)), default=1.0)
    ax.set_ylim(-3 * top, 3 * top)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set(ylabel=f"loss difference after step {step}", title=title)
    ax.legend(fontsize=8)
    _save(fig, path)


def best_shares(best: list[Best], title: str, path: Path) -> None:
    """Per cell, each layer's share of the best schedule's rates at each step; the dashed
    line is the equal share 1/K."""
    cells = list(dict.fromkeys(b.cell for b in best))
    fig, axes = plt.subplots(1, len(cells), figsize=(3.2 * len(cells) + 1, 3.8), squeeze=False)
    for ax, cell in zip(axes[0], cells):
        rows = [b for b in best if b.cell == cell]
        k = len(rows[0].rates)
        width = 0.8 / len(rows)
        for j, b in enumerate(rows):
            shares = np.asarray(b.rates) / b.budget
            ax.bar(np.arange(1, k + 1) + (j - (len(rows) - 1) / 2) * width, shares, width,
                   label=f"step {b.step}")
        ax.axhline(1 / k, color="black", linestyle="--", linewidth=0.8)
        ax.set(title=cell, xlabel="layer", xticks=range(1, k + 1), ylim=(0, 1))
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("share of the step's budget")
    fig.suptitle(title)
    _save(fig, path)


def scaling(rows: list[Scaling], title: str, path: Path) -> None:
    """alpha* against width, one line per depth, one panel per step, slope in the legend."""
    steps = sorted({r.step for r in rows})
    fig, axes = plt.subplots(1, len(steps), figsize=(4.5 * len(steps) + 1, 3.8), squeeze=False)
    for ax, step in zip(axes[0], steps):
        for r in (r for r in rows if r.step == step):
            se = "" if r.se is None else f" ± {r.se:.2g}"
            ax.plot(r.widths, r.alphas, marker="o", label=f"L={r.depth}: slope {r.slope:.3g}{se}")
        ax.set_xscale("log", base=2)
        ax.set(title=f"best after step {step}", xlabel="width h", ylabel="alpha*")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
