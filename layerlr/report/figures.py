"""The report's figures, drawn with matplotlib (Agg: no display needed) into PNG files."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, also on machines without a display

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from layerlr.report.data import seed_values
from layerlr.report.gaps import PARTS
from layerlr.report.records import Best, Gaps, Line, Scaling

DPI = 110


def landscape(lines: list[Line], step: int, objective: str, title: str, path: Path) -> Figure:
    """The loss after ``step`` along each budget (the paper's figures), one panel per budget
    so that each budget's shape shows at its own scale: x = u = eta1 / B, y = a loss minus
    its value at the equal split (the point nearest u = 1/K), mean +- SE over seeds of
    each seed's own difference. Left axis: the objective (GD); right axis, which has its
    own scale: the realized surrogate that the verdicts test and the closed form (dashed)
    that is its expectation.

    Returns the (closed) figure, whose artists hold what was drawn.
    """
    cols = min(len(lines), 4)
    rows = -(-len(lines) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols + 0.6, 2.6 * rows + 1.2),
                             squeeze=False, layout="constrained")
    twins = [_budget_panel(ax, line, objective) for ax, line in zip(axes.flat, lines)]
    for ax in axes.flat[len(lines):]:
        ax.set_visible(False)
    handles = [h for a in (axes[0][0], twins[0]) for h in a.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="outside lower center", fontsize=7, ncol=4)
    fig.supylabel(f"loss after step {step} − loss at the equal split", fontsize=10)
    fig.suptitle(title)
    _save(fig, path)
    return fig


def _budget_panel(ax, line: Line, objective: str):
    """One budget: the objective on ``ax``, the surrogate and the closed form on a twin
    axis, which is returned."""
    u, mid = line.u, int(line.stencil()[1])
    exact = objective == "theory"  # a study of the theory alone: one exact value per point
    values = (line.rows[["loss_theory"]].to_numpy(float) if exact
              else seed_values(line.rows, f"loss_{objective}"))
    _differences(ax, u, values, mid, "C0",
                 "exact theory, left axis" if exact else f"{objective} (GD), left axis")
    ax.plot(u[mid], 0.0, marker="*", color="black", markersize=9, zorder=5, linestyle="",
            label=f"equal split (u = 1/{line.layers})")
    ax.axhline(0.0, color="grey", linewidth=0.5)
    ax.set_title(f"B = {line.budget:g}", fontsize=9)
    ax.set_xlabel("u = eta1 / B at the swept steps", fontsize=8)
    surrogate = seed_values(line.rows, "loss_surrogate")
    theory = line.rows["loss_theory"].to_numpy(float)
    right = ax.twinx()
    if np.isfinite(surrogate).any():
        _differences(right, u, surrogate, mid, "C1", "realized surrogate, right axis")
    if np.isfinite(theory).all() and not exact:
        right.plot(u, theory - theory[mid], color="C1", linestyle="--", linewidth=1,
                   label="exact theory (SPEC 6, 11, 12), right axis")
    for a, colour in ((ax, "C0"), (right, "C1")):
        a.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        a.tick_params(labelsize=7)
        a.tick_params(axis="y", colors=colour)
        a.yaxis.get_offset_text().set(fontsize=7, color=colour)
    return right


def _differences(ax, u: np.ndarray, per_seed: np.ndarray, mid: int, colour: str,
                 label: str) -> None:
    """Mean +- SE over seeds of each seed's loss minus its loss at point ``mid``.
    ``per_seed``: (points, seeds)."""
    diff = per_seed - per_seed[mid]
    se = diff.std(1, ddof=1) / np.sqrt(diff.shape[1]) if diff.shape[1] > 1 else None
    ax.errorbar(u, diff.mean(1), yerr=se, color=colour, marker=".", markersize=4,
                linewidth=1, capsize=2, label=label)


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
               for _, g in cells for e in g.parts.values() if shown(e)), default=0.0)
    ax.set_ylim(-3 * (top or 1.0), 3 * (top or 1.0))  # all parts 0: any scale shows that
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
    if fig.get_layout_engine() is None:  # a figure laid out as it was made keeps that
        fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
