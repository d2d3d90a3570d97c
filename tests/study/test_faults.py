"""Faults lose nothing: a raising batch, a dying worker, a bad results directory, a
damaged Parquet file."""

from __future__ import annotations

import errno
import os

import optuna
import pandas as pd
import pyarrow.parquet as pq
import pytest
from command import layerlr, wait_for_rows

from layerlr import results as parquet
from layerlr.study import load_study, run_study
from layerlr.study.storage import open_storage, resolve

STUDY = """
name = "faults"
[model]
depth = [2, 3]
width = 16
[train]
seeds = [1, 2]
[search]
sampler = "random"
n_trials = 20
[resources]
batch_size = 3
"""


def quiet(_: str) -> None:
    pass


def counts(results, cfg):
    out = {}
    for cell in cfg.cells():
        study = optuna.load_study(study_name=f"{cfg.name}/{cell.name}",
                                  storage=open_storage(resolve(results)))
        out[cell.name] = {s: sum(t.state.name == s for t in study.trials)
                          for s in ("COMPLETE", "FAIL", "RUNNING")}
    return out


def test_a_raising_batch_fails_its_trials_with_the_error_and_the_rest_go_on(
        ray_address, make_study, tmp_path):
    study = make_study(STUDY)
    out = layerlr("run", study, "--results", tmp_path / "res", "--address", ray_address,
                  "--quiet", env={"LAYERLR_FAULT": "worker-raise:2"})
    assert out.returncode == 4, out.stderr  # finished, with failed trials
    assert "failed: " in out.stdout and "InjectedFault: injected fault" in out.stdout
    cfg = load_study(study)
    c = counts(tmp_path / "res", cfg)
    assert all(v["COMPLETE"] == 20 and v["RUNNING"] == 0 for v in c.values())
    failed = sum(v["FAIL"] for v in c.values())
    assert failed > 0 and failed % 3 == 0  # whole batches
    frame = pd.read_parquet(tmp_path / "res" / "trials")
    bad = frame[frame.state == "FAIL"]
    assert len(bad[["cell", "trial"]].drop_duplicates()) == failed and len(bad) == failed * 2
    assert bad.error.str.contains("InjectedFault").all()
    assert bad.loss_population.isna().all()
    assert len(frame[frame.state == "COMPLETE"]) == 2 * 20 * 2


def test_a_dying_worker_is_replaced_and_its_trials_run_again(ray_address, make_study,
                                                             tmp_path):
    study = make_study(STUDY)
    out = layerlr("run", study, "--results", tmp_path / "res", "--address", ray_address,
                  "--quiet", env={"LAYERLR_FAULT": "worker-exit:2"})
    assert out.returncode == 0, out.stderr
    assert "a worker died" in out.stdout
    cfg = load_study(study)
    assert all(v["COMPLETE"] == 20 for v in counts(tmp_path / "res", cfg).values())
    frame = pd.read_parquet(tmp_path / "res" / "trials")
    assert (frame.state == "COMPLETE").all() and len(frame) == 2 * 20 * 2
    assert not frame.duplicated(["cell", "trial", "step"]).any()


def test_unwritable_results_directory_then_fixed(make_study, tmp_path):
    study = make_study(STUDY)
    results = tmp_path / "res"
    results.mkdir()
    (results / "trials").write_text("not a directory")  # root ignores permission bits
    out = layerlr("run", study, "--results", results, "--quiet")  # no Ray: the driver writes
    assert out.returncode == 3, out.stderr
    assert "cannot write results" in out.stderr and "Traceback" not in out.stderr
    cfg = load_study(study)
    told = counts(results, cfg)
    assert sum(v["COMPLETE"] for v in told.values()) > 0  # the storage kept them
    (results / "trials").unlink()
    again = layerlr("run", study, "--results", results, "--quiet")
    assert again.returncode == 0, again.stderr
    frame = pd.read_parquet(results / "trials")
    assert len(frame) == 2 * 20 * 2 and not frame.duplicated(["cell", "trial", "step"]).any()


def test_a_full_disk_is_a_clear_error(monkeypatch, tmp_path):
    from trials import finished_trial

    from layerlr import Setting

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(parquet.ResultsError, match="No space left on device"):
        parquet.write(tmp_path, "s", "c", Setting(family="readout", depth=3, width=8),
                      {"seeds": [1], "protocol": "native", "dtype": "float32"},
                      [finished_trial(0)], 2, set())


def test_a_damaged_file_is_named_and_rebuilt_from_the_storage(ray_address, make_study,
                                                              tmp_path):
    cfg = load_study(make_study(STUDY))
    results = tmp_path / "res"
    run_study(cfg, results, echo=quiet, progress=False)
    before = pd.read_parquet(results / "trials")
    victim = sorted((results / "trials").glob("*/*/part-*.parquet"))[1]
    victim.write_bytes(victim.read_bytes()[:100])  # truncated
    with pytest.raises(parquet.ResultsError, match=victim.name):
        parquet.read_results(results)
    assert parquet.damaged(results) == [victim]
    rerun = layerlr("run", make_study(STUDY, "again.toml"), "--results", results,
                    "--address", ray_address, "--quiet")
    assert rerun.returncode == 3 and victim.name in rerun.stderr
    assert "layerlr rebuild" in rerun.stderr
    out = layerlr("rebuild", "--results", results)
    assert out.returncode == 0, out.stderr
    after = parquet.read_results(results)
    key = ["cell", "trial", "step"]
    pd.testing.assert_frame_equal(
        after.sort_values(key).reset_index(drop=True)[before.columns],
        before.sort_values(key).reset_index(drop=True), check_categorical=False)


LONG = STUDY.replace("n_trials = 20", "n_trials = 100000").replace("batch_size = 3",
                                                                    "batch_size = 2")


def test_a_results_directory_deleted_during_a_run_stops_it_saying_what_is_gone(
        make_study, tmp_path):
    import shutil
    import subprocess

    from command import COMMAND

    results = tmp_path / "res"
    proc = subprocess.Popen([*COMMAND, "run", str(make_study(LONG)), "--results", str(results),
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wait_for_rows(results, proc)
    for _ in range(100):  # as `rm -rf` again would: the run may add a file mid-removal
        shutil.rmtree(results, ignore_errors=True)
        if not results.exists():
            break
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "was deleted" in err and str(results) in err and "Traceback" not in err
    assert not results.exists()  # nothing made again: no new, empty storage


def test_an_emptied_storage_beside_its_parquet_dataset_is_refused(make_study, tmp_path):
    study, results = make_study(STUDY), tmp_path / "res"
    assert layerlr("run", study, "--results", results, "--quiet").returncode == 0
    before = pd.read_parquet(results / "trials")
    (results / "optuna.log").write_text("")
    out = layerlr("run", study, "--results", results, "--quiet")
    assert out.returncode == 3, out.stderr
    assert "disagrees with the storage: 20 trials there are not in the storage" in out.stderr
    assert f"layerlr rebuild --results {results}" in out.stderr
    after = pd.read_parquet(results / "trials")
    assert len(after) == len(before)  # nothing written to Parquet


def test_a_parquet_file_damaged_in_its_middle_is_named(make_study, tmp_path):
    study, results = make_study(STUDY), tmp_path / "res"
    assert layerlr("run", study, "--results", results, "--quiet").returncode == 0
    victim = sorted((results / "trials").glob("*/*/part-*.parquet"))[0]
    chunk = pq.read_metadata(victim).row_group(0).column(
        parquet.schema(2).names.index("loss_population"))
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(victim.read_bytes())
    data[start + chunk.total_compressed_size - 4] ^= 0xFF  # in its last page's values
    victim.write_bytes(bytes(data))
    pq.read_metadata(victim)  # the footer still reads
    out = layerlr("run", study, "--results", results, "--quiet")
    assert out.returncode == 3, out.stderr
    assert victim.name in out.stderr and "layerlr rebuild" in out.stderr
