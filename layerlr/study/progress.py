"""Live progress of a run, one line per cell: trials done, best value, rate, ETA."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

REFRESH_S = 1.0  # on a terminal
LOG_EVERY_S = 10.0  # otherwise (a log file, CI)


class Progress:
    """Redraws the cell lines in place on a terminal; prints them now and then elsewhere."""

    def __init__(self, runs: list[Any], echo: Callable[[str], None] | None) -> None:
        self.runs, self.echo = runs, echo
        self.tty = sys.stderr.isatty()
        self.last, self.drawn = 0.0, 0

    def say(self, echo: Callable[[str], None]) -> Callable[[str], None]:
        """``echo`` that leaves the progress lines above what it prints intact."""

        def say(line: str) -> None:
            self.drawn = 0
            echo(line)

        return say

    def lines(self) -> list[str]:
        out = []
        width = max([14] + [len(run.cell.name) for run in self.runs])  # mlp names are long
        for run in self.runs:
            elapsed = max(time.monotonic() - run.started, 1e-9)
            rate = run.told / elapsed
            left = run.target - run.complete
            eta = f"{left / rate:6.0f} s" if rate > 0 and left > 0 else "     - "
            best = "-" if run.best is None else f"{run.best:.6g}"
            out.append(f"  {run.cell.name:>{width}}  {run.complete:6d}/{run.target:<6d} "
                       f"best {best:>11}  {rate:8.1f} trials/s  ETA {eta}"
                       + (f"  failed {run.failed}" if run.failed else ""))
        return out

    def update(self, final: bool = False) -> None:
        if self.echo is None:
            return
        now = time.monotonic()
        if not final and now - self.last < (REFRESH_S if self.tty else LOG_EVERY_S):
            return
        self.last = now
        lines = self.lines()
        if self.tty:
            up = f"\x1b[{self.drawn}F" if self.drawn else ""
            sys.stderr.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
            sys.stderr.flush()
            self.drawn = len(lines)
        else:
            for line in lines:
                self.echo(line)
