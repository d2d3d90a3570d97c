"""The Parquet dataset: idempotent, atomic, one schema, readable by pandas with filters."""

from __future__ import annotations

import json

import optuna
import pandas as pd
import pytest
from trials import finished_trial

from layerlr import Setting
from layerlr import results as parquet

TRAIN = {"seeds": [1, 2], "protocol": "native", "dtype": "float32"}
SETTING = Setting(family="readout", depth=3, width=8)


def trial(number: int, value: float, state=optuna.trial.TrialState.COMPLETE, **attrs):
    return finished_trial(number, value, state, **attrs)


def test_writing_twice_adds_no_rows(tmp_path):
    trials = [trial(0, 0.4), trial(1, 0.3)]
    done = parquet.exported(tmp_path, "s", "L3-h8")
    assert parquet.write(tmp_path, "s", "L3-h8", SETTING, TRAIN, trials, 2, done) == 4
    assert parquet.write(tmp_path, "s", "L3-h8", SETTING, TRAIN, trials, 2, done) == 0
    fresh = parquet.exported(tmp_path, "s", "L3-h8")  # as a new driver would see it
    assert fresh == {0, 1}
    assert parquet.write(tmp_path, "s", "L3-h8", SETTING, TRAIN, trials + [trial(2, .1)], 2,
                         fresh) == 2
    frame = parquet.read_results(tmp_path)
    assert sorted(frame.trial) == [0, 0, 1, 1, 2, 2]


def test_only_complete_and_errored_trials_are_written(tmp_path):
    fail = optuna.trial.TrialState.FAIL
    trials = [trial(0, 0.4), trial(1, 0.0, fail), trial(2, 0.0, fail, error="ValueError: x")]
    parquet.write(tmp_path, "s", "c", SETTING, TRAIN, trials, 2, set())
    frame = parquet.read_results(tmp_path)
    assert sorted(set(frame.trial)) == [0, 2]
    assert (frame[frame.trial == 2].state == "FAIL").all()
    assert (frame[frame.trial == 2].error == "ValueError: x").all()


def test_columns_nulls_and_filters(tmp_path):
    parquet.write(tmp_path, "s", "L3-h8", SETTING, TRAIN, [trial(0, 0.4)], 2, set())
    parquet.write(tmp_path, "s", "L2-h8", Setting(family="matrix", width=8), TRAIN,
                  [trial(0, 0.2)], 2, set())
    frame = pd.read_parquet(tmp_path / "trials")
    required = ["study", "cell", "trial", "state", "family", "depth", "width", "init", "data",
                "target", "seeds", "step", "eta1", "eta2", "loss_population",
                "loss_population_se", "loss_empirical", "loss_surrogate", "loss_theory", "node"]
    assert set(required) <= set(frame.columns)
    step1 = frame[(frame.cell == "L3-h8") & (frame.step == 1)].iloc[0]
    assert pd.isna(step1.loss_theory) and step1.seeds == 2 and step1.eta2 == 2.0
    only = pd.read_parquet(tmp_path / "trials", filters=[("cell", "=", "L2-h8"), ("step", "=", 2)])
    assert len(only) == 1 and only.iloc[0].family == "matrix"
    pd.testing.assert_frame_equal(parquet.read_results(tmp_path), frame)


def test_a_half_written_file_is_invisible_to_readers(tmp_path):
    parquet.write(tmp_path, "s", "c", SETTING, TRAIN, [trial(0, 0.4)], 2, set())
    folder = parquet.cell_dir(tmp_path, "s", "c")
    (folder / ".part-000009-000009-deadbeef.parquet.tmp").write_bytes(b"PAR1 trunc")
    assert len(pd.read_parquet(tmp_path / "trials")) == 2
    assert parquet.exported(tmp_path, "s", "c") == {0}


def test_a_deeper_study_in_the_same_directory_is_refused(tmp_path):
    parquet.write(tmp_path, "s", "c", SETTING, TRAIN, [trial(0, 0.4)], 2, set())
    assert parquet.dataset_layers(tmp_path, 1) == 2  # fewer layers: padded with nulls
    with pytest.raises(parquet.ResultsError, match="eta1..eta7"):
        parquet.dataset_layers(tmp_path, 7)


def test_per_seed_losses_are_lists_in_seed_order(tmp_path):
    parquet.write(tmp_path, "s", "L3-h8", SETTING, TRAIN, [trial(0, 0.4)], 2, set())
    frame = pd.read_parquet(tmp_path / "trials").sort_values("step")
    assert list(frame.iloc[0].loss_surrogate_seeds) == [0.4, 0.65]
    assert frame.iloc[1].loss_empirical_seeds[0] == 0.2
    assert pd.isna(frame.iloc[1].loss_empirical_seeds[1])  # NaN stored as null


def test_a_dataset_from_before_per_seed_losses_asks_for_a_rebuild(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    old = pa.schema([f for f in parquet.schema(2) if not f.name.endswith("_seeds")])
    folder = parquet.cell_dir(tmp_path, "s", "L3-h8")
    folder.mkdir(parents=True)
    pq.write_table(old.empty_table(), folder / "part-000000-000000-x.parquet")
    with pytest.raises(parquet.ResultsError, match="older layerlr.*layerlr rebuild"):
        parquet.dataset_layers(tmp_path, 2)


def test_a_result_stored_as_a_dict_by_an_older_layerlr_reads_the_same(tmp_path):
    import json

    new = trial(0, 0.4)
    old = trial(0, 0.4)
    old.user_attrs["result"] = json.loads(old.user_attrs["result"])
    assert parquet.trial_result(old) == parquet.trial_result(new)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    parquet.write(tmp_path / "a", "s", "c", SETTING, TRAIN, [new], 2, set())
    parquet.write(tmp_path / "b", "s", "c", SETTING, TRAIN, [old], 2, set())
    pd.testing.assert_frame_equal(parquet.read_results(tmp_path / "a"),
                                  parquet.read_results(tmp_path / "b"))


def diverging(number: int, **at):
    """A trial whose result marks the steps at which its runs diverged."""
    import json

    t = trial(number, 0.4)
    t.user_attrs["result"] = json.dumps(dict(json.loads(t.user_attrs["result"]), **at))
    return t


def test_divergence_flags_mark_the_steps_from_the_diverging_one(tmp_path):
    gd = diverging(0, diverged_at=2)
    alone = diverging(1, surrogate_diverged_at=1)
    parquet.write(tmp_path, "s", "c", SETTING, TRAIN, [gd, alone, trial(2, 0.4)], 2, set())
    frame = pd.read_parquet(tmp_path / "trials").sort_values(["trial", "step"])
    assert frame.diverged.tolist() == [False, True, False, False, False, False]
    assert frame.surrogate_diverged.tolist() == [False, False, True, True, False, False]


def test_activation_column_and_datasets_without_it_ask_for_a_rebuild(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    mlp = Setting(family="mlp", activation="tanh", depth=3, width=8, data="digits",
                  init="gaussian")
    (tmp_path / "a").mkdir()
    parquet.write(tmp_path / "a", "s", "tanh-digits-L3-h8", mlp, TRAIN, [trial(0, 0.4)], 2,
                  set())
    parquet.write(tmp_path / "a", "s", "L3-h8", SETTING, TRAIN, [trial(0, 0.4)], 2, set())
    frame = pd.read_parquet(tmp_path / "a" / "trials")
    assert set(frame.activation) == {"tanh", "linear"}  # the linear families: identity
    assert frame[frame.activation == "tanh"].target.isna().all()  # real data: own labels
    old = pa.schema([f for f in parquet.schema(2) if f.name != "activation"])
    folder = parquet.cell_dir(tmp_path / "b", "s", "L3-h8")
    folder.mkdir(parents=True)
    pq.write_table(old.empty_table(), folder / "part-000000-000000-x.parquet")
    with pytest.raises(parquet.ResultsError, match="no activation.*layerlr rebuild"):
        parquet.dataset_layers(tmp_path / "b", 2)


def test_accuracy_columns_hold_a_module_trials_values_and_null_elsewhere(tmp_path):
    module = Setting(family="module", module="layerlr.zoo.mnist1d_cnn:build", data="mnist1d",
                     width=4, depth=3)
    accurate = trial(0, 0.4)
    result = parquet.trial_result(accurate)
    result.update(accuracy=[0.25, 0.75], accuracy_se=[0.05, float("nan")],
                  accuracy_seeds=[[0.2, 0.3], [0.75, float("nan")]])
    accurate.user_attrs["result"] = json.dumps(result)
    parquet.write(tmp_path, "s", "cnn", module, TRAIN, [accurate], 4, set())
    parquet.write(tmp_path, "s", "L3-h8", SETTING, TRAIN, [trial(0, 0.4)], 4, set())
    frame = pd.read_parquet(tmp_path / "trials").sort_values(["cell", "step"])
    cnn = frame[frame.cell == "cnn"]
    assert cnn.accuracy.tolist() == [0.25, 0.75]
    assert cnn.accuracy_se.iloc[0] == 0.05 and pd.isna(cnn.accuracy_se.iloc[1])
    seeds = list(cnn.accuracy_seeds.iloc[1])
    assert seeds[0] == 0.75 and pd.isna(seeds[1])
    assert cnn.activation.isna().all()  # a user's network has no one activation
    readout = frame[frame.cell == "L3-h8"]
    assert readout.accuracy.isna().all() and readout.accuracy_seeds.isna().all()


def test_a_dataset_from_before_the_accuracy_column_asks_for_a_rebuild(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    old = pa.schema([f for f in parquet.schema(2) if not f.name.startswith("accuracy")])
    folder = parquet.cell_dir(tmp_path, "s", "L3-h8")
    folder.mkdir(parents=True)
    pq.write_table(old.empty_table(), folder / "part-000000-000000-x.parquet")
    with pytest.raises(parquet.ResultsError, match="no accuracy.*layerlr rebuild"):
        parquet.dataset_layers(tmp_path, 2)
