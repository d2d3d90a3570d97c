"""``layerlr report`` end to end: two real studies, every summary number recomputed here
from the Parquet data by independent code, the figures, a running and an interrupted study.
"""

from __future__ import annotations

import math
import re
import shutil
import textwrap

import numpy as np
import optuna
import pandas as pd
import pytest
from command import layerlr
from matplotlib.image import imread
from scipy import stats as sp

from layerlr.report import make_report
from layerlr.study import lock
from layerlr.study.storage import open_storage, resolve

SWEEP = """
name = "sweep"
[model]
depth = 2
width = [32, 64, 128]
[train]
seeds = [1, 2, 3, 4, 5, 6]
dtype = "float64"
[search]
sampler = "grid"
diagonal_alpha = [1.3, 1.5]
"""

SEARCH = """
name = "search"
[model]
depth = 3
width = [16, 32, 64]
[train]
seeds = [1, 2, 3, 4]
dtype = "float64"
[search]
n_trials = 10
objective = "empirical"
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Both studies run by the command without Ray (in its own process: Ray's start-up
    does not pay for trials this small; the study tests run studies on Ray)."""
    root = tmp_path_factory.mktemp("report")
    for text in (SWEEP, SEARCH):
        study = root / "study.toml"
        study.write_text(textwrap.dedent(text))
        run = layerlr("run", study, "--results", root / "res", "--quiet")
        assert run.returncode == 0, run.stderr
    out = layerlr("report", root / "res", "--out", root / "report")
    assert out.returncode == 0, out.stderr
    assert "figure 1/" in out.stderr  # progress
    return root


def tables(summary: str, study: str) -> dict[str, list[dict[str, str]]]:
    """The Markdown tables of one study's section, by their ### title."""
    section = summary.split(f"## Study `{study}`")[1].split("\n## ")[0]
    out = {}
    for block in section.split("### ")[1:]:
        title = block.splitlines()[0]
        lines = [line for line in block.splitlines() if line.startswith("|")]
        if lines:
            head = [c.strip() for c in lines[0].strip("|").split("|")]
            out[title] = [dict(zip(head, (c.strip() for c in line.strip("|").split("|"))))
                          for line in lines[2:]]
    return out


def pm(text: str) -> tuple[float, float] | None:
    """"mean ± se" or "mean ± se [lo, hi]" -> (mean, se); None for —."""
    if text == "—":
        return None
    mean, se = text.split(" [")[0].split(" ± ")
    return float(mean), float(se)


def interval(text: str) -> tuple[float, float]:
    """"[lo, hi]" (alone or after "mean ± se") -> (lo, hi)."""
    lo, hi = text.split("[")[1].rstrip("]").split(", ")
    return float(lo), float(hi)


def close(shown: float, value: float, digits: int = 4) -> bool:
    return shown == pytest.approx(value, rel=10 ** (1 - digits), abs=1e-300)


def usable(frame: pd.DataFrame, study: str) -> pd.DataFrame:
    f = frame[(frame["study"] == study) & (frame["state"] == "COMPLETE") & ~frame["diverged"]]
    return f.assign(cell=f["cell"].astype(str))


def seeds(rows: pd.DataFrame, column: str) -> np.ndarray:
    return np.vstack(rows[f"{column}_seeds"].to_numpy())


def mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def check_pm(text: str, expected: tuple[float, float]) -> None:
    shown = pm(text)
    assert close(shown[0], expected[0]) and close(shown[1], expected[1], 3), (text, expected)


def curvature_of(rows: pd.DataFrame, budget: float, column: str | None):
    """Per-seed parabola through the three points nearest eta1 = B/2 (numpy polyfit)."""
    near = rows.assign(d=(rows["eta1"] - budget / 2).abs()).nsmallest(3, "d")
    u = near["eta1"].to_numpy() / budget
    if column is None:
        return 2 * np.polyfit(u, near["loss_theory"].to_numpy(), 2)[0]
    return mean_se(parabolas(near, budget, column)[0])


def parabolas(near: pd.DataFrame, budget: float, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: d2L/du2 and dL/du at u = 1/2 of the parabola through three points."""
    u = near["eta1"].to_numpy() / budget
    values = seeds(near, column)  # (3, S)
    fits = [np.polyfit(u, values[:, s], 2) for s in range(values.shape[1])]
    return (np.array([2 * f[0] for f in fits]),
            np.array([np.polyval(np.polyder(f), 0.5) for f in fits]))


def holm_adjusted(p: np.ndarray) -> np.ndarray:
    """Holm's adjusted p-values, the textbook way: (m - i + 1) p_(i), running maximum."""
    order = np.argsort(p)
    out, running = np.empty(len(p)), 0.0
    for i, k in enumerate(order):
        running = max(running, min(1.0, (len(p) - i) * p[k]))
        out[k] = running
    return out


def spec9_sum(budget: float) -> float:
    """SPEC 9: s = max(1, floor(B/20)), N = floor(B/s); every point's rates sum to N s."""
    s = max(1, math.floor(budget / 20))
    return math.floor(budget / s) * s


def exact_verdict(curv: float) -> str:
    return "maximum" if curv < 0 else "minimum"


def test_every_number_of_the_sweep_summary_is_recomputed_from_parquet(results):
    frame = usable(pd.read_parquet(results / "res" / "trials"), "sweep")
    t = tables((results / "report" / "summary.md").read_text(), "sweep")
    rows = t["Curvature at the equal split"]
    assert len(rows) == 3 * 2 * 2 * 2  # cells x steps x budgets x (surrogate, GD)
    tests, found = [], []  # every (row, quantity, per-seed values), in the table's order
    for row in rows:
        cell, step = row["cell"], int(row["step"])
        at = frame[(frame["cell"] == cell) & (frame["step"] == step)]
        width, alpha = int(cell.split("-h")[1]), float(row["alpha"])
        assert alpha in (1.3, 1.5)  # the study's diagonal_alpha, and its budget:
        assert close(float(row["B"]), 2 * width**alpha)
        budget = spec9_sum(2 * width**alpha)
        line = at[(at["eta1"] + at["eta2"]).round(6) == budget]
        assert len(line) == 19
        near = line.assign(d=(line["eta1"] - budget / 2).abs()).nsmallest(3, "d")
        column = {"surrogate": "loss_surrogate", "GD (population)": "loss_population"}
        curv, slope = parabolas(near, budget, column[row["loss"]])
        assert int(row["seeds"]) == len(curv) == 6
        for _, values, cols in (("curvature", curv, ("d²L/du²", "95% CI", "t", "p")),
                                       ("slope", slope, ("dL/du", "95% CI (dL/du)", "t (dL/du)",
                                                           "p (dL/du)"))):
            if row[cols[3]] == "1" and abs(values.mean()) < 1e-12:  # within rounding: the
                found.append(1.0)  # matrix family's slope is 0 by symmetry (never decided)
                continue
            check_pm(row[cols[0]], mean_se(values))
            want = sp.ttest_1samp(values, 0.0)
            lo, hi = sp.t.interval(0.95, len(values) - 1, loc=values.mean(),
                                   scale=sp.sem(values))
            assert all(close(a, b) for a, b in zip(interval(row[cols[1]]), (lo, hi)))
            assert close(float(row[cols[2]]), want.statistic, 3)
            assert close(float(row[cols[3]]), want.pvalue, 2)
            found.append(want.pvalue)
        tests.append((row, curv, slope))
        theory = curvature_of(line, budget, None)
        assert row["closed form"] == f"{float(row['closed form'].split()[0]):.4g} " \
                                     f"({exact_verdict(theory)})"
        assert close(float(row["closed form"].split()[0]), theory)
    adjusted = holm_adjusted(np.array(found))  # Holm over the study's tests
    claims: dict[tuple[str, int], list[str]] = {}
    for i, (row, curv, slope) in enumerate(tests):
        q_curv, q_slope = adjusted[2 * i], adjusted[2 * i + 1]
        assert close(float(row["q"]), q_curv, 2) and close(float(row["q (dL/du)"]), q_slope, 2)
        position = "undecided"
        if q_curv <= 0.05:
            position = "maximum" if curv.mean() < 0 else "minimum"
        near_half = abs(slope.mean() / curv.mean()) > 1 / 20  # the stencil's half-width in u
        if q_slope <= 0.05 and (position == "undecided" or near_half):
            position = "sloped"
        assert row["verdict"] == position, row
        if row["loss"] == "surrogate":
            claims.setdefault((row["cell"], int(row["step"])), []).append(position)
    for row in t["Phase verdicts (SPEC 8)"]:
        step = int(re.search(r"step-(\d)", row["claim"]).group(1))
        want, against = ({"maximum", "sloped"}, {"minimum"}) if step == 1 else \
            ({"minimum"}, {"maximum", "sloped"})
        got = claims[(row["cell"], step)]
        expected = ("no" if any(v in against for v in got) else
                    "yes" if all(v in want for v in got) else "undecided")
        assert row["verdict"] == f"**{expected}**" and int(row["budgets"]) == len(got)
    check_gaps(frame, t["Gap decomposition"])
    check_best(frame, t["Best schedules"], "population", fixed=True, diagonal=(1.3, 1.5))
    check_scaling(t["Best schedules"], t["Width scaling"])


def test_every_number_of_the_search_summary_is_recomputed_from_parquet(results):
    frame = usable(pd.read_parquet(results / "res" / "trials"), "search")
    t = tables((results / "report" / "summary.md").read_text(), "search")
    assert "Curvature at the equal split" not in t  # a TPE study has no sweeps
    check_gaps(frame, t["Gap decomposition"])
    check_best(frame, t["Best schedules"], "empirical", fixed=False)
    check_scaling(t["Best schedules"], t["Width scaling"])


def check_gaps(frame: pd.DataFrame, rows: list[dict[str, str]]) -> None:
    assert len(rows) == 2 * frame["cell"].nunique()
    for row in rows:
        at = frame[(frame["cell"] == row["cell"]) & (frame["step"] == int(row["step"]))]
        if at["loss_theory"].notna().any():
            at = at[at["loss_theory"].notna()]
        assert int(row["trials"]) == len(at)
        emp, pop, sur = (seeds(at, f"loss_{n}") for n in ("empirical", "population", "surrogate"))
        check_ci(row["test noise"], (emp - pop).mean(0))
        check_ci(row["self-interaction"], (pop - sur).mean(0))
        theory = at["loss_theory"].to_numpy()[:, None]
        if np.isnan(theory).any():
            assert row["finite width"] == "—" and row["empirical − closed form"] == "—"
        else:
            check_ci(row["finite width"], (sur - theory).mean(0))
            check_ci(row["empirical − closed form"], (emp - theory).mean(0))


def check_ci(text: str, per_seed: np.ndarray) -> None:
    """"mean ± se [lo, hi]": the mean over seeds, its standard error and t interval."""
    check_pm(text, mean_se(per_seed))
    lo, hi = sp.t.interval(0.95, len(per_seed) - 1, loc=per_seed.mean(), scale=sp.sem(per_seed))
    got = interval(text)
    assert got[0] == pytest.approx(lo, rel=1e-3, abs=1e-12) and \
        got[1] == pytest.approx(hi, rel=1e-3, abs=1e-12), (text, lo, hi)


def check_best(frame: pd.DataFrame, rows: list[dict[str, str]], objective: str,
               fixed: bool, diagonal: tuple[float, ...] = ()) -> None:
    loss = f"loss_{objective}"
    assert len(rows) == 2 * frame["cell"].nunique()
    for row in rows:
        at = frame[(frame["cell"] == row["cell"]) & (frame["step"] == int(row["step"]))]
        pick = at.loc[at[loss].idxmin()] if fixed else at.loc[at["value"].idxmin()]
        assert int(row["trial"]) == pick["trial"]
        check_pm(row[f"{objective} loss"], (pick[loss], pick[f"{loss}_se"]))
        rates = [float(x) for x in row["rates"].split(", ")]
        assert all(close(a, b) for a, b in zip(rates, (pick["eta1"], pick["eta2"])))
        budget = pick["eta1"] + pick["eta2"]
        if diagonal:  # quoted at the sweep's budget B = 2 h^alpha
            (alpha,) = [a for a in diagonal if spec9_sum(2 * pick["width"]**a) == budget]
            budget = 2 * pick["width"]**alpha
        assert close(float(row["B"]), budget)
        assert close(float(row["alpha"]), math.log(budget / 2) / math.log(pick["width"]))
        assert close(float(row["max/min"]), max(rates) / min(rates), 3)
        alpha = math.log(budget / 2) / math.log(pick["width"])
        # the searched range: both diagonal budgets are its ends; readout's alpha 0 - 0.8
        at_edge = bool(diagonal) or not 0.016 <= alpha <= 0.784
        assert row["edge"] == ("edge" if at_edge else ""), row


def check_scaling(best: list[dict[str, str]], rows: list[dict[str, str]]) -> None:
    assert rows
    for row in rows:
        picks = sorted((int(b["cell"].split("-h")[1]), float(b["alpha"])) for b in best
                       if b["step"] == row["step"] and b["cell"].startswith(f"L{row['depth']}-"))
        widths, alphas = zip(*picks)
        assert row["widths"] == ", ".join(map(str, widths))
        coef, cov = np.polyfit(np.log2(widths), alphas, 1, cov=True)
        slope, se = pm(row["slope per doubling"])
        assert slope == pytest.approx(coef[0], rel=1e-2, abs=1e-3)
        assert se == pytest.approx(cov[0, 0] ** 0.5, rel=2e-2, abs=1e-3)


def test_figures_exist_and_are_images_with_content(results):
    summary = (results / "report" / "summary.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", summary)
    # sweep: 3 cells x 2 steps of landscapes, gaps per step, best, scaling; search: 2+1+1
    assert len(links) == 6 + 2 + 1 + 1 + 2 + 1 + 1
    for link in links:
        image = imread(results / "report" / link)  # (rows, cols, RGBA) floats in [0, 1]
        assert image.shape[0] >= 300 and image.shape[1] >= 400
        # distinct colours at 2 decimals: each channel rounded to 0..100, packed into one
        # integer (np.unique of rows, axis=0, took ~1 s per image)
        levels = np.rint(image[..., :3] * 100).astype(np.int64) @ np.array([101 * 101, 101, 1])
        colours = np.unique(levels)
        assert len(colours) > 20 and image[..., :3].std() > 0.05, link


def test_a_running_study_says_so_and_an_interrupted_one_too(results, tmp_path):
    res = tmp_path / "res"
    # the search study's rows alone: a report draws the figures of the studies in Parquet,
    # and the sweep's ten would be drawn twice here for nothing
    shutil.copytree(results / "res", res, ignore=shutil.ignore_patterns("study=sweep"))
    store = open_storage(resolve(res))
    study = optuna.load_study(study_name="search/L3-h16", storage=store)
    lock.claim(study, owner="test")  # a live driver: this process
    report = make_report(res, tmp_path / "running")
    text = report.summary.read_text()
    done = usable(pd.read_parquet(res / "trials"), "search")
    usable_trials = done.groupby("cell")["trial"].nunique().sum()
    assert "**This study is running** (driver pid " in text
    assert f"covers the {usable_trials} trials finished so far" in text
    lock.release(study, owner="test")
    study.ask()  # left RUNNING, as by a killed driver
    text = make_report(res, tmp_path / "interrupted").summary.read_text()
    assert "**Interrupted** with 1 trials unfinished" in text


def test_report_errors_are_one_line(tmp_path, results):
    out = layerlr("report", tmp_path / "nothing")
    assert out.returncode == 2 and "no results in" in out.stderr and "Traceback" not in out.stderr
    res = tmp_path / "res"
    shutil.copytree(results / "res", res)
    victim = next((res / "trials").glob("*/*/part-*.parquet"))
    victim.write_bytes(b"not parquet")
    out = layerlr("report", res)
    assert out.returncode == 3 and "layerlr rebuild" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_directory_without_finished_trials_gets_a_report_that_says_so(tmp_path):
    (tmp_path / "res" / "trials").mkdir(parents=True)
    report = make_report(tmp_path / "res")
    assert "No finished trials in this directory yet." in report.summary.read_text()
    assert report.figures == []


def test_the_header_counts_trials_that_diverged_after_step_1_apart():
    """Three complete trials: one fine, one diverged at step 2 (its step 1 is used), one
    diverged at step 1 (not usable); counted by hand."""
    import pandas as pd

    from layerlr.report.data import StudyResults, StudyState
    from layerlr.report.markdown import _state
    from layerlr.report.records import StudyReport

    rows = [(trial, step, bad) for trial, bad_from in ((0, 9), (1, 2), (2, 1))
            for step, bad in ((1, 1 >= bad_from), (2, 2 >= bad_from))]
    frame = pd.DataFrame({"cell": "L3-h8", "depth": 3, "width": 8, "state": "COMPLETE",
                          "trial": [r[0] for r in rows], "step": [r[1] for r in rows],
                          "diverged": [r[2] for r in rows]})
    study = StudyResults("s", frame, state=StudyState({"COMPLETE": 3}, False, None))
    line = _state(StudyReport(study, [], []))[0]
    assert line == ("Finished: 3 complete; 2 usable trials (complete, not diverged at step 1; "
                    "1 of them diverged later and count up to the step before).")
