"""The README's test command is the one CI runs."""

from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_ci_runs_the_readme_test_command():
    readme = ROOT.joinpath("README.md").read_text()
    command = next(line for line in readme.splitlines() if "pytest" in line and "venv" in line)
    assert command.strip() in ROOT.joinpath(".ci/run").read_text()
