"""What the benchmarks share: timing a call, printing rows as an aligned table."""

from __future__ import annotations

import time


def best_of(repeats: int, fn):
    """(result, fastest wall time) of ``repeats`` calls."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, min(times)


def print_table(rows: list[dict], first: int, rest: int) -> None:
    """The first column ``first`` wide, the others ``rest`` wide; floats to 3 digits."""

    def cell(i: int, v: object) -> str:
        width = first if i == 0 else rest
        return f"{v:>{width}.3g}" if isinstance(v, float) else f"{v!s:>{width}}"

    print(" | ".join(cell(i, c) for i, c in enumerate(rows[0])))
    for row in rows:
        print(" | ".join(cell(i, v) for i, v in enumerate(row.values())))
