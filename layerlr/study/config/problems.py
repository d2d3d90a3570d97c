"""The problems of a study file: one line each, naming the key and the fix."""

from __future__ import annotations


class StudyFileError(ValueError):
    """A study file that cannot be run; ``problems`` holds one line per wrong key."""

    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, problems
        super().__init__(f"{source}: " + "; ".join(problems))


class Problems:
    """The lines found so far, in order, each once."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        if line not in self.lines:
            self.lines.append(line)

    def extend(self, lines: list[str]) -> None:
        for line in lines:
            self.add(line)

    def __bool__(self) -> bool:
        return bool(self.lines)


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: a message stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
