"""The README's commands: the test command is the one CI runs, the main job works."""

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_ci_runs_the_readme_test_command():
    readme = ROOT.joinpath("README.md").read_text()
    command = next(line for line in readme.splitlines() if "pytest" in line and "venv" in line)
    assert command.strip() in ROOT.joinpath(".ci/run").read_text()


@pytest.mark.slow
def test_the_main_job_ends_with_a_landscape_and_the_phase_verdicts(tmp_path):
    readme = ROOT.joinpath("README.md").read_text()
    line = next(line for line in readme.splitlines() if "layerlr run studies/quickstart" in line)
    (tmp_path / "studies").symlink_to(ROOT / "studies")
    for part in line.split("&&"):
        words = shlex.split(part)
        if words[0].endswith("/layerlr"):
            out = subprocess.run([sys.executable, "-m", "layerlr.cli", *words[1:]], cwd=tmp_path,
                                 capture_output=True, text=True, timeout=600)
            assert out.returncode == 0, out.stderr
    summary = (tmp_path / "results/quickstart/report/summary.md").read_text()
    verdicts = [row for row in summary.splitlines() if row.startswith("| L2-h512 | step-")]
    assert verdicts == ["| L2-h512 | step-1 optimum unequal | **yes** | yes | yes | 2 | 0/2 |",
                        "| L2-h512 | step-2 optimum equal | **yes** | yes | yes | 2 | 0/2 |"], \
        verdicts
    figures = tmp_path / "results/quickstart/report/figures/quickstart-phases"
    assert (figures / "landscape-L2-h512-step1.png").stat().st_size > 10_000
    assert (figures / "landscape-L2-h512-step2.png").stat().st_size > 10_000


def test_your_own_network_runs_as_copied(tmp_path):
    """The README's 20-line example: the two files as printed, fewer trials and steps, run
    by the command from the folder they were copied to; the report names the groups and
    compares the search with both baselines."""
    readme = ROOT.joinpath("README.md").read_text()
    section = readme.split("## Your own network", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```")[1::2]
    net = next(b for b in blocks if "# mynet.py" in b).split("\n", 1)[1]
    study = next(b for b in blocks if "# mynet.toml" in b).split("\n", 1)[1]
    assert len(net.strip().splitlines()) <= 20
    (tmp_path / "mynet.py").write_text(net)
    (tmp_path / "mynet.toml").write_text(
        study.replace("n_trials = 60", "n_trials = 4").replace("steps = 20", "steps = 3")
        .replace("width = [32, 128]", "width = 32"))
    for args in (["run", "mynet.toml", "--quiet"], ["report", "results/mynet"]):
        out = subprocess.run([sys.executable, "-m", "layerlr.cli", *args], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
    summary = (tmp_path / "results/mynet/report/summary.md").read_text()
    assert "- input, hidden, output (3 cells: " in summary
    rows = [r for r in summary.splitlines() if r.startswith("| mynet-mynet-L3-h32 | ")
            and r.split(" | ")[1] in ("single", "decay")]
    assert len(rows) == 2, rows


def test_the_layout_has_one_line_for_every_module_of_the_package():
    """The README's Layout block, read by its indentation (two spaces a level), names each
    file of layerlr/ once (a folder's line stands for its __init__.py) and nothing else."""
    block = ROOT.joinpath("README.md").read_text().split("## Layout", 1)[1].split("```")[1]
    files, folders, stack = [], set(), []
    for line in filter(str.strip, block.splitlines()):
        level, name = (len(line) - len(line.lstrip())) // 2, line.split()[0]
        del stack[level:]
        path = "".join(stack) + name
        if name.endswith("/"):
            stack.append(name)
            folders.add(f"{path}__init__.py")
        else:
            files.append(path)
    package = sorted(str(p.relative_to(ROOT)) for p in ROOT.joinpath("layerlr").rglob("*.py"))
    assert len(files) == len(set(files))
    assert sorted(set(files) | folders) == package
