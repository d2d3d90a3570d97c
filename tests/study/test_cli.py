"""The layerlr command: bad input exits 2 with one line per problem, nothing written."""

from __future__ import annotations

import textwrap
from functools import partial

import command
import pytest

layerlr = partial(command.layerlr, timeout=120)

GOOD = """
name = "cli"
[model]
depth = 3
width = 8
[search]
n_trials = 4
"""


@pytest.mark.parametrize("text,needle", [
    (GOOD.replace("width = 8", "widht = 8"), "model.widht: unknown key; did you mean 'width'?"),
    (GOOD.replace("width = 8", 'width = "wide"'), "model.width: every value must be an integer"),
    (GOOD.replace("width = 8", "width = 8\nnoise = -1.0"), "model.noise: must be >= 0.0"),
    (GOOD.replace("width = 8", "width = 8\nnoise = nan"), "model.noise: must be a finite"),
    (GOOD + "[train]\nseeds = []\n", "train.seeds: the list is empty"),
    (GOOD.replace("depth = 3", "depth = 1"), "model.depth: every value must be an integer >= 2"),
    (GOOD.replace("width = 8", "width = 8\nd = 4"), "orthogonal init needs d >= width"),
    (GOOD.replace("n_trials = 4", 'n_trials = 4\nsampler = "annealing"'),
     "search.sampler: 'annealing' is not allowed"),
    ("name = 'x'\n[model\n", "broken TOML"),
    (GOOD.replace("width = 8", 'width = 8\nfamily = "mlp"\nactivation = "swish"'),
     "model.activation: 'swish' is not allowed"),
    (GOOD.replace("width = 8", 'width = 8\nactivation = "relu"'),
     "model.activation: only family = \"mlp\""),
    (GOOD.replace("width = 8", 'width = 8\nfamily = "mlp"\ndata = "digits"\nn = 100'),
     "model.n: the digits data set fixes n"),
    (GOOD.replace("width = 8", 'width = 8\nfamily = "mlp"\ndata = "digits"\n'
                  'target = "teacher"'), "the digits data set has its own labels"),
])
def test_bad_study_files_exit_2_with_a_line_naming_the_key(tmp_path, text, needle):
    study = tmp_path / "s.toml"
    study.write_text(textwrap.dedent(text))
    out = layerlr("run", study, "--results", tmp_path / "res")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert any(needle in line and line.startswith("error: ") for line in out.stderr.splitlines())
    assert not (tmp_path / "res").exists()


def test_missing_file_and_usage_errors(tmp_path):
    out = layerlr("run", tmp_path / "nope.toml")
    assert out.returncode == 2 and "file not found" in out.stderr
    assert "Traceback" not in out.stderr
    usage = layerlr("frobnicate")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_status_and_best_read_a_finished_study(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text(GOOD)
    run = layerlr("run", study, "--results", tmp_path / "res", "--quiet")  # no Ray: 4 trials
    assert run.returncode == 0, run.stderr
    assert "pandas.read_parquet" in run.stdout
    status = layerlr("status", tmp_path / "res")  # a results directory is enough
    assert status.returncode == 0
    line = next(l for l in status.stdout.splitlines() if "L3-h8" in l)
    assert line.split()[2] == "4"  # complete
    best = layerlr("best", tmp_path / "res", "--top", "2")
    assert best.returncode == 0 and best.stdout.count("trial") == 2
    assert best.stdout.count("step 2:") == 2
    missing = layerlr("status", "--results", tmp_path / "nothing")
    assert missing.returncode == 2 and "no study storage" in missing.stderr


def test_a_name_cannot_choose_where_files_go(tmp_path):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    for name in ("../../escaped", str(tmp_path / "abs"), ".."):
        (work / "s.toml").write_text(GOOD.replace('name = "cli"', f"name = {name!r}"))
        out = layerlr("run", "s.toml", cwd=work)
        assert out.returncode == 2 and "is not a valid study name" in out.stderr, out.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "s.toml"]


SIZES = [("width = 8", "width = 1000000000", "model (cell L3-h1000000000): one worker needs"),
         ("width = 8", "width = 160000", "model (cell L3-h160000): one worker needs"),
         ("width = 8", "width = 8\nn = 1000000000", "model (cell L3-h8): one worker needs"),
         ("width = 8", "width = 8\ntest_size = 1000000000", "model (cell L3-h8): one worker"),
         ("n_trials = 4", "n_trials = 4\n[resources]\ncpus_per_worker = 64",
          "resources.cpus_per_worker: 64 CPUs per worker, but the largest node has"),
         ("n_trials = 4", "n_trials = 4\n[resources]\ngpus_per_worker = 1",
          "resources.gpus_per_worker: 1 GPUs per worker, but the largest node has 0")]


@pytest.mark.parametrize("old,new,needle", SIZES)
def test_what_cannot_fit_or_be_placed_is_refused_before_anything_is_written(
        tmp_path, old, new, needle):
    if "gpus_per_worker" in new:
        torch = pytest.importorskip("torch")
        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    study = tmp_path / "s.toml"
    study.write_text(GOOD.replace(old, new))
    out = layerlr("run", study, "--results", tmp_path / "res")
    assert out.returncode == 2, out.stderr
    assert needle in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "res").exists()


def test_batches_that_keep_failing_for_one_reason_stop_the_cell(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text(GOOD.replace("n_trials = 4", "n_trials = 400\n[resources]\n"
                                                  "batch_size = 2"))
    out = layerlr("run", study, "--results", tmp_path / "res", "--quiet",
                  env={"LAYERLR_FAULT": "worker-raise:*"})
    assert out.returncode == 4, out.stderr
    assert "stopped after 3 batches in a row failed with the same error" in out.stdout
    failed = int(out.stdout.split("0 trials complete, ")[1].split()[0])
    assert 6 <= failed <= 8  # 3 batches of 2, and at most the one asked meanwhile


def silent_server():
    """A TCP port that accepts connections and never answers."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in range(8)],
                     daemon=True).start()
    return server


def test_unreachable_clusters_and_storages_fail_within_30_s(tmp_path):
    import time

    study = tmp_path / "s.toml"
    study.write_text(GOOD)
    start = time.monotonic()
    out = layerlr("run", study, "--results", tmp_path / "res", "--address", "127.0.0.1:1")
    assert out.returncode == 3 and "cannot reach the Ray cluster at 127.0.0.1:1" in out.stderr
    server = silent_server()
    port = server.getsockname()[1]
    for url in (f"postgresql+psycopg2://me:se@cret-pw@127.0.0.1:{port}/db",
                f"redis://:se@cret-pw@127.0.0.1:{port}/0"):
        status = layerlr("status", "--storage", url)
        assert status.returncode == 3, status.stderr
        assert "cret-pw" not in status.stdout + status.stderr
        assert "Traceback" not in status.stderr
    assert time.monotonic() - start < 90  # three commands, each within ~30 s
    assert not (tmp_path / "res").exists()


@pytest.mark.parametrize("url", ["postgresql://u@db:99999/x", "frob://x", "mysql://[::1/x"])
def test_malformed_storage_urls_are_bad_input(tmp_path, url):
    out = layerlr("status", "--storage", url)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr


def test_results_that_is_a_file_and_damaged_storages_exit_3_naming_the_path(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text(GOOD)
    (tmp_path / "file").write_text("x")
    out = layerlr("run", study, "--results", tmp_path / "file")
    assert out.returncode == 3 and "is a file, not a directory" in out.stderr
    db = tmp_path / "old" / "optuna.db"
    db.parent.mkdir()
    db.write_bytes(b"not sqlite at all " * 200)
    for args in (("status", db.parent), ("run", study, "--results", db.parent)):
        out = layerlr(*args)
        assert out.returncode == 3 and str(db) in out.stderr, out.stderr
    journal = tmp_path / "new" / "optuna.log"
    journal.parent.mkdir()
    journal.write_bytes(b'{"op_code": 0, "worker_id": "w", "study_name": "x", \x00\n{}\n')
    out = layerlr("status", journal.parent)
    assert out.returncode == 3 and str(journal) in out.stderr, out.stderr


def test_dev_zero_is_not_a_study_file():
    out = layerlr("run", "/dev/zero", timeout=60)
    assert out.returncode == 2 and "larger than 1 MiB" in out.stderr


def test_a_results_directory_from_before_the_journal_keeps_working(tmp_path):
    study, results = tmp_path / "s.toml", tmp_path / "res"
    study.write_text(GOOD)
    first = layerlr("run", study, "--results", results, "--quiet",
                    "--storage", f"sqlite:///{results}/optuna.db")  # as layerlr wrote it
    assert first.returncode == 0, first.stderr
    study.write_text(GOOD.replace("n_trials = 4", "n_trials = 6"))
    more = layerlr("run", study, "--results", results, "--quiet")  # finds optuna.db
    assert more.returncode == 0, more.stderr
    assert "told 2 trials" in more.stdout and not (results / "optuna.log").exists()
    status = layerlr("status", results)
    assert status.returncode == 0 and status.stdout.split("\n")[1].split()[2] == "6"
    assert layerlr("best", results).returncode == 0
    rebuilt = layerlr("rebuild", "--results", results)
    assert rebuilt.returncode == 0 and "12 rows" in rebuilt.stdout, rebuilt.stderr
    report = layerlr("report", results, "--quiet")
    assert report.returncode == 0, report.stderr
