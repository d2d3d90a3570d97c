"""How the report writes numbers and tables: Markdown, 4 significant digits (standard
errors 3, p-values 2), effects as "mean ± standard error [95% t interval]"."""

from __future__ import annotations

import math

from layerlr.report.records import Estimate, TTest
from layerlr.report.stats import interval


def table(title: str, text: str, header: list[str], rows: list[list[object]]) -> list[str]:
    """A ``### title`` section: ``text``, then a Markdown table of ``rows``."""
    return [f"### {title}", "", text, "", row(header), row(["---"] * len(header)),
            *(row(cells) for cells in rows), ""]


def row(cells: list[object]) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def ci(e: Estimate | None) -> str:
    """mean ± se [t interval] of an estimate over e.n seeds."""
    if e is None or math.isnan(e.mean):  # NaN: a surrogate that overflowed in some trial
        return "—"
    lo, hi = interval(TTest(e.mean, e.se, e.n, math.nan, math.nan))
    return f"{pm(e)} [{num(lo)}, {num(hi)}]"


def pm(e: Estimate | None) -> str:
    if e is None or math.isnan(e.mean):  # NaN: a surrogate that overflowed in some trial
        return "—"
    return f"{num(e.mean)} ± {num(e.se, 3)}"


def rate(x: float) -> str:
    return f"{100 * x:.2g}%"


def p_value(p: float) -> str:
    return "—" if math.isnan(p) else f"{p:.2g}"


def num(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{digits}g}"
