"""Trial results as a Parquet dataset, written from Optuna's storage.

Optuna's storage is the source of truth. The dataset at ``RESULTS/trials`` is a
hive-partitioned copy (``study=<name>/cell=<cell>/part-*.parquet``) with one row per
trial and recorded step. It is written

- atomically: each file is written under a dot-name, which readers skip, then renamed;
- idempotently: a trial is written only if its number is not yet in its cell's files,
  so re-exporting after a crash never duplicates a row;
- with a CRC checksum per page, which :func:`cell_trials` verifies, so that a file
  damaged anywhere (not only in its footer) is named rather than read.

Rows are made by :func:`table` where the trials were told (a sampler process) and
written by :func:`write_table` where the results directory is (the driver).

``pandas.read_parquet("RESULTS/trials")`` reads it (filters included); so does
:func:`read_results`. Every file of a dataset has the same columns, so that readers that
take the schema from one file see all of them.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq

from layerlr.setting import Setting

EXPORTED_STATES = ("COMPLETE", "FAIL")  # FAIL only with a recorded evaluation error
LOSS_NAMES = ("train", "population", "empirical", "surrogate")
LOSS_COLUMNS = [f"loss_{name}{se}" for name in LOSS_NAMES for se in ("", "_se")]
SEED_COLUMNS = [f"loss_{name}_seeds" for name in LOSS_NAMES]  # per-seed values, seed order
METRIC_NAMES = ("accuracy",)  # every family's further metrics (Family.metrics); null where
# a family or setting has none (regression, the linear families)
METRIC_COLUMNS = [f"{name}{se}" for name in METRIC_NAMES for se in ("", "_se")]
METRIC_SEED_COLUMNS = [f"{name}_seeds" for name in METRIC_NAMES]


class ResultsError(RuntimeError):
    """The results directory cannot take these rows (unwritable, or another layout)."""


def schema(layers: int) -> pa.Schema:
    """Columns of every file: identification, setting, step and rates, losses, provenance."""
    fields = [("trial", pa.int64()), ("state", pa.string()), ("family", pa.string()),
              ("activation", pa.string()), ("depth", pa.int64()), ("width", pa.int64()),
              ("init", pa.string()), ("data", pa.string()), ("target", pa.string()),
              ("n", pa.int64()), ("d", pa.int64()), ("noise", pa.float64()),
              ("seeds", pa.int64()),
              ("protocol", pa.string()), ("dtype", pa.string()), ("step", pa.int64())]
    fields += [(f"eta{l}", pa.float64()) for l in range(1, layers + 1)]
    fields += [(c, pa.float64()) for c in LOSS_COLUMNS]
    fields += [(c, pa.list_(pa.float64())) for c in SEED_COLUMNS]
    fields += [(c, pa.float64()) for c in METRIC_COLUMNS]
    fields += [(c, pa.list_(pa.float64())) for c in METRIC_SEED_COLUMNS]
    fields += [("loss_theory", pa.float64()), ("theory", pa.string()),
               ("diverged", pa.bool_()), ("surrogate_diverged", pa.bool_()),
               ("value", pa.float64()), ("node", pa.string()),
               ("node_ip", pa.string()), ("device", pa.string()),
               ("datetime_complete", pa.timestamp("us")), ("error", pa.string())]
    return pa.schema(fields)


def study_dir(results: str | Path, study: str) -> Path:
    return Path(results) / "trials" / f"study={quote(study, safe='')}"


def cell_dir(results: str | Path, study: str, cell: str) -> Path:
    return study_dir(results, study) / f"cell={quote(cell, safe='')}"


def exported(results: str | Path, study: str, cell: str) -> set[int]:
    """Trial numbers already in the cell's files (every file verified, see cell_trials)."""
    return set(cell_trials(results, study, cell))


def cell_trials(results: str | Path, study: str, cell: str) -> dict[int, tuple[str, float]]:
    """Trial number -> (state, objective value) of every trial in the cell's files.

    Each file is read whole with its page checksums verified: a file damaged anywhere
    raises :class:`ResultsError` naming it and the command that rebuilds the dataset.
    """
    folder = cell_dir(results, study, cell)
    files = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    out: dict[int, tuple[str, float]] = {}
    for f in files:
        t = _read(f, results)
        for trial, state, value in zip(*(t.column(c).to_pylist()
                                         for c in ("trial", "state", "value"))):
            out[trial] = (state, value)
    return out


def damaged(results: str | Path) -> list[Path]:
    """Files of the dataset that cannot be read in full."""
    bad = []
    for f in sorted((Path(results) / "trials").glob("*/*/part-*.parquet")):
        try:
            pq.read_table(f, page_checksum_verification=True)
        except (pa.ArrowException, OSError):
            bad.append(f)
    return bad


def _read(path: Path, results: str | Path, columns: list[str] | None = None) -> pa.Table:
    try:
        return pq.read_table(path, columns=columns, page_checksum_verification=True)
    except (pa.ArrowException, OSError) as err:
        raise ResultsError(f"{path} is damaged ({err}); rebuild the dataset from the storage "
                           f"with: layerlr rebuild --results {results}") from err


def should_export(trial: Any) -> bool:
    """COMPLETE trials, and FAIL trials whose evaluation raised (they carry 'error')."""
    return trial.state.name == "COMPLETE" or (trial.state.name == "FAIL"
                                              and "error" in trial.user_attrs)


def write(results: str | Path, study: str, cell: str, setting: Setting, train: dict,
          trials: list[Any], layers: int, done: set[int]) -> int:
    """Write the ``trials`` (optuna FrozenTrials) not in ``done`` as one file. -> rows.

    ``done`` is the cell's :func:`exported` set, kept by the caller and updated here;
    ``layers`` the rate columns, from :func:`dataset_layers`.
    """
    todo = [t for t in trials if t.number not in done]
    rows = table(todo, setting, train, layers)
    if rows is None:
        return 0
    return write_table(results, study, cell, rows, done)


def table(trials: list[Any], setting: Setting, train: dict, layers: int) -> pa.Table | None:
    """The rows of the exportable ``trials`` (see :func:`should_export`), or None."""
    rows = [row for t in trials if should_export(t) for row in _rows(t, setting, train, layers)]
    return pa.Table.from_pylist(rows, schema=schema(layers)) if rows else None


def write_table(results: str | Path, study: str, cell: str, rows: pa.Table,
                done: set[int]) -> int:
    """Write ``rows`` (from :func:`table`) as one file, less the trials in ``done``. -> rows.

    ``results`` must exist: a results directory deleted during a run is reported, not
    made again. ``done`` is updated with the trials written.
    """
    results = Path(results)
    if done:
        keep = pa.compute.invert(pa.compute.is_in(rows.column("trial"),
                                                  pa.array(sorted(done), pa.int64())))
        rows = rows.filter(keep)
    if rows.num_rows == 0:
        return 0
    folder = cell_dir(results, study, cell)
    numbers = sorted(set(rows.column("trial").to_pylist()))
    name = f"part-{numbers[0]:06d}-{numbers[-1]:06d}-{uuid.uuid4().hex[:8]}.parquet"
    try:
        for level in (folder.parents[1], folder.parent, folder):  # never the root itself
            level.mkdir(exist_ok=True)
        tmp = folder / f".{name}.tmp"
        pq.write_table(rows, tmp, write_page_checksum=True)
        os.replace(tmp, folder / name)
    except OSError as err:
        if isinstance(err, FileNotFoundError) or not results.is_dir():  # gone, or going
            raise ResultsError(f"the results directory {results} was deleted during the run; "
                               "the run cannot go on") from None
        raise ResultsError(f"cannot write results to {folder}: {err.strerror or err}; "
                           "fix the directory (space, permissions) and run again: "
                           "the trials are safe in the Optuna storage") from err
    done.update(numbers)
    return rows.num_rows


def read_results(results: str | Path, filters: Any = None) -> pd.DataFrame:
    """The dataset as one frame, exactly as ``pandas.read_parquet(RESULTS/trials)``.

    A damaged file raises :class:`ResultsError` naming it and the command that rebuilds
    the dataset.
    """
    try:
        return pd.read_parquet(Path(results) / "trials", filters=filters)
    except (pa.ArrowException, OSError) as err:
        bad = damaged(results)
        if not bad:
            raise
        raise ResultsError(f"{', '.join(map(str, bad))} damaged ({err}); rebuild the dataset "
                           f"from the storage with: layerlr rebuild --results {results}") from err


def dataset_layers(results: str | Path, layers: int) -> int:
    """Rate columns of the dataset: the existing files' count, which must cover ours."""
    first = next(iter(sorted((Path(results) / "trials").glob("*/*/part-*.parquet"))), None)
    if first is None:
        return layers
    try:
        names = pq.read_schema(first).names
    except (pa.ArrowException, OSError) as err:
        raise ResultsError(f"{first} is damaged ({err}); rebuild the dataset from the "
                           f"storage with: layerlr rebuild --results {results}") from err
    have = sum(1 for name in names if name.startswith("eta"))
    missing = [c for c in schema(have).names if c not in names]
    if missing:
        raise ResultsError(f"{results} was written by an older layerlr (no {missing[0]}); "
                           f"rewrite it with: layerlr rebuild --results {results}")
    if have < layers:
        raise ResultsError(f"{results} holds results with rates eta1..eta{have}, but this "
                           f"study needs eta1..eta{layers}; use another --results directory")
    return have


def trial_result(trial: Any) -> dict[str, Any]:
    """A told trial's "result" user attribute: its schedule, losses and provenance.

    Stored as one JSON string (older storages: a dict), which Optuna copies and replays
    far faster than the nested lists it holds.
    """
    result = trial.user_attrs["result"]
    return json.loads(result) if isinstance(result, str) else result


def _rows(trial: Any, setting: Setting, train: dict, layers: int) -> list[dict[str, Any]]:
    attrs = trial.user_attrs
    result = trial_result(trial)
    schedule = result["schedule"]
    base = {"trial": trial.number, "state": trial.state.name, "family": setting.family,
            # the linear families: the identity; a user's network (module): none to name
            "activation": setting.activation or (None if setting.module else "linear"),
            "depth": setting.depth, "width": setting.width, "init": setting.init,
            "data": setting.data, "target": setting.target, "n": setting.n, "d": setting.d,
            "noise": setting.noise, "seeds": len(train["seeds"]),
            "protocol": train["protocol"], "dtype": train["dtype"], "value": trial.value,
            "node": result.get("node"), "node_ip": result.get("node_ip"),
            "device": result.get("device"), "datetime_complete": trial.datetime_complete,
            "error": attrs.get("error")}
    diverged_at = result.get("diverged_at")
    surrogate_at = result.get("surrogate_diverged_at")  # absent in older trials
    out = []
    for t, rates in enumerate(schedule):
        row = dict(base, step=t + 1, diverged=diverged_at is not None and t + 1 >= diverged_at,
                   surrogate_diverged=surrogate_at is not None and t + 1 >= surrogate_at)
        row.update({f"eta{l + 1}": (rates[l] if l < len(rates) else None)
                    for l in range(layers)})
        for column in LOSS_COLUMNS + METRIC_COLUMNS + ["loss_theory", "theory"]:
            values = result.get(column)  # metrics: absent where the family has none
            row[column] = None if values is None else _finite_or_none(values[t])
        for column in SEED_COLUMNS + METRIC_SEED_COLUMNS:  # absent in older trials
            values = result.get(column)
            row[column] = None if values is None else [_finite_or_none(v) for v in values[t]]
        out.append(row)
    return out


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):  # NaN is stored as null
        return None
    return value
