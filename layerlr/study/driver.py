"""The driver: a study's cells run to their trial counts, resumably, on the local lane or Ray.

Data flow: validated config -> a sampler proposes schedules (``ask``) -> an evaluator
runs a batch with the engine -> the sampler tells Optuna -> the driver writes the told
trials' rows to Parquet. :func:`run_study` checks what it can before anything is
written (the results directory, the storage URL, the resources, a cluster given by
``--address``, that every cell fits in memory), then claims the study and recovers each
cell (:mod:`.resume`) and runs the loop (:mod:`.execution`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from layerlr.families import family
from layerlr.results import ResultsError, dataset_layers
from layerlr.study.cellrun import CellRun
from layerlr.study.config import StudyConfig
from layerlr.study.execution import Execution
from layerlr.study.lock import release
from layerlr.study.records import RunSummary
from layerlr.study.resume import claim_study, export, open_cell
from layerlr.study.storage import StorageError, open_storage, resolve
from layerlr.study.trials import finished
from layerlr.study.worker import PlanError, local_node, plan, ray_nodes

CONNECT_S = 30  # longest wait for a Ray cluster given by --address


class ClusterError(RuntimeError):
    """The Ray cluster cannot be reached."""


class ResultsPathError(ValueError):
    """A results directory that must not be used (bad input)."""


def run_study(cfg: StudyConfig, results: str | Path, storage: str | None = None,
              address: str | None = None, restart: bool = False,
              echo: Callable[[str], None] = print, progress: bool = True,
              dashboard_host: str = "127.0.0.1") -> RunSummary:
    """Run every cell of ``cfg`` to its trial count; resumable (see the module doc).

    ``storage`` is a journal path, Redis or SQLAlchemy URL (default: the journal
    RESULTS/optuna.log); ``address`` joins a Ray cluster, else the run starts in the
    driver's process and starts a local Ray (dashboard on ``dashboard_host``) when Ray
    would pay for its start-up.
    """
    begin = time.perf_counter()
    results = Path(results)
    check_results_dir(results)
    spec = resolve(results, storage)
    check_networks(cfg)
    nodes = connect(address) if address else [local_node()]
    check_fits(cfg, nodes)
    try:  # the first thing written
        results.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ResultsError(f"cannot make the results directory {results}: "
                           f"{err.strerror or err}") from None
    store = open_storage(spec)
    summary = RunSummary(results, spec.shown, ray=bool(address))
    owner = uuid.uuid4().hex
    claim_study(store, cfg, restart, results, owner)
    runs: list[CellRun] = []
    try:
        layers = dataset_layers(results, max(c.setting.layers for c in cfg.cells()))
        for cell in cfg.cells():
            runs.append(open_cell(store, cfg, cell, results, owner, layers, echo))
        if any(run.remaining > 0 for run in runs):
            Execution(cfg, spec, store, runs, results, summary, layers, owner, echo,
                      progress, address, dashboard_host).run()
        for run in runs:
            export(run, cfg, results, layers, finished(run.study))
    except StorageError:  # gone, damaged or silent: nothing more is written to it (the
        runs = []  # rerun finds the driver's lock stale)
        raise
    finally:
        for run in runs:
            try:
                release(run.study, owner)
            except StorageError:  # the storage is gone: the run's own error says so
                break
    summary.complete = sum(run.complete for run in runs)
    summary.wall = time.perf_counter() - begin
    return summary


def check_results_dir(results: Path) -> None:
    """A results directory is a directory (made if missing), and not one whose removal
    or overwriting would do harm: the root of the file system or the installed package."""
    import layerlr

    where = results.resolve()
    package = Path(layerlr.__file__).resolve().parent
    harm = ("the root directory" if where == Path(where.anchor) else
            "inside the installed layerlr package" if package in (where, *where.parents)
            else None)
    if harm:
        raise ResultsPathError(f"--results {results} is {harm}; give a directory of its "
                               "own, e.g. results/<study name>")
    if results.exists() and not results.is_dir():
        raise ResultsError(f"--results {results} is a file, not a directory; give a "
                           "directory (it is created if missing)")


def connect(address: str) -> list[dict]:
    """Join the Ray cluster at ``address`` within ``CONNECT_S``. -> its alive nodes."""
    import ray

    if not ray.is_initialized():
        _reachable(address)
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except SystemExit:  # a SIGTERM while Ray connects (Ray's own handler): quit
            raise KeyboardInterrupt from None
    return ray_nodes()


def _reachable(address: str) -> None:
    """Refuse at once an address whose GCS port does not answer (Ray would retry for
    minutes)."""
    from layerlr.study.network import Unreachable, reachable

    if address in ("auto", "local") or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    try:
        reachable(host or "127.0.0.1", int(port), CONNECT_S)
    except (Unreachable, ValueError) as err:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: "
                           f"{getattr(err, 'reason', None) or err}") from None


def check_networks(cfg: StudyConfig) -> None:
    """Build and check what only making the draws finds (a user's network and data, SPEC
    13: shapes, dtypes, NaN, labels, one batched gradient), for every cell's setting
    and seed, before anything is written. Raises :class:`PlanError` naming the key."""
    if not cfg.train.measure:
        return
    checked = set()
    for cell in cfg.cells():
        if cell.setting in checked:
            continue
        checked.add(cell.setting)
        problems = family(cell.setting.family).preflight(cell.setting, list(cfg.train.seeds))
        if problems:
            raise PlanError(f"model.{problems[0]} (cell {cell.name})")


def check_fits(cfg: StudyConfig, nodes: list[dict]) -> None:
    """Refuse resources the cluster cannot provide and cells that cannot fit in memory.

    Raises :class:`~layerlr.study.worker.PlanError` (bad input) naming the key.
    """
    from layerlr.memory import footprint

    slots = plan(cfg.resources, nodes)
    per_node: dict[str, int] = {}
    for slot in slots:
        per_node[slot.node] = per_node.get(slot.node, 0) + 1
    if not cfg.train.measure:  # the theory alone draws and trains nothing
        return
    memory = min(n["memory"] / per_node.get(n["id"], 1) for n in nodes if n["id"] in per_node)
    itemsize = 4 if cfg.train.dtype == "float32" else 8
    for cell in cfg.cells():
        draws, schedule = footprint(cell.setting, len(cfg.train.seeds), cfg.train.steps,
                                    itemsize)
        need = draws + schedule
        if need > 0.8 * memory:
            raise PlanError(
                f"model (cell {cell.name}): one worker needs about {need / 2**30:.3g} GiB "
                f"(draws of {len(cfg.train.seeds)} seeds and one schedule), more than the "
                f"{memory / 2**30:.3g} GiB a worker has here; lower model.width, n, d or "
                "test_size, use fewer seeds, or fewer workers per node")


__all__ = ["ClusterError", "ResultsPathError", "check_fits", "check_networks", "check_results_dir",
           "connect",
           "run_study"]
