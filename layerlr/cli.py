"""The ``layerlr`` command: run a study, see its status and best schedules, report on it.

Exit codes: 0 done; 1 unexpected error; 2 bad input (study file, arguments, a changed
study); 3 storage, results directory or cluster problem; 4 finished with failed
trials; 130 interrupted (a rerun resumes).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import traceback
from pathlib import Path

OK, ERROR, BAD_INPUT, ENVIRONMENT, TRIALS_FAILED, INTERRUPTED = 0, 1, 2, 3, 4, 130
STORAGE_HELP = ("Optuna storage URL (default: $LAYERLR_STORAGE, else the journal "
                "RESULTS/optuna.log, or RESULTS/optuna.db where an older layerlr left one)")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.pop("LAYERLR_STORAGE", None)  # read into args: a local Ray must not inherit it
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops a run as Ctrl-C does
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        code = _interrupted()
    except SystemExit as stop:  # Ray's own SIGTERM handler, in place while Ray starts
        if stop.code != signal.SIGTERM:
            raise
        code = _interrupted()
    except Exception as err:  # every error: one line, no traceback unless asked
        code = _report(err)
    return code


def _interrupted() -> int:
    """One line for an interrupted command; a further signal then leaves at once."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _quit_now)
    _err("interrupted; run the same command again to resume")
    return INTERRUPTED


def _quit_now(signum, frame) -> None:
    os._exit(INTERRUPTED)


def entry() -> None:
    """The installed command: run ``main`` and leave without finalising the interpreter.

    A run may leave Ray's core-worker threads and torch's pools alive (a Ctrl-C that
    arrives while Ray starts, a lane still in its batch); Python's finalisation under
    them can crash or hang the process after everything is recorded. Output is flushed
    and the journal was fsynced by the run, so the process exits at once; a local Ray
    shares its fate, a remote cluster drops the driver's actors when it goes.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layerlr", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a study file (resumes an interrupted one)")
    run.add_argument("study", help="the study file, e.g. studies/quickstart.toml")
    _where(run)
    run.add_argument("--address", help="join a running Ray cluster (default: this machine, "
                                       "starting a local Ray where it pays)")
    run.add_argument("--dashboard-host", default="127.0.0.1",
                     help="where a local Ray binds its dashboard (default: 127.0.0.1 only)")
    run.add_argument("--restart", action="store_true",
                     help="delete the study's trials and results and start over")
    run.add_argument("--quiet", action="store_true", help="no live progress")
    run.set_defaults(func=_run)
    report = sub.add_parser("report", help="figures and a Markdown summary of a results "
                                           "directory")
    report.add_argument("results", help="the results directory, e.g. results/quickstart")
    report.add_argument("--out", help="where to write (default: RESULTS/report)")
    report.add_argument("--storage", default=os.environ.get("LAYERLR_STORAGE"),
                        help=STORAGE_HELP)
    report.add_argument("--quiet", action="store_true", help="no progress lines")
    report.set_defaults(func=_report_cmd)
    confirm = sub.add_parser("confirm", help="rerun the budgets behind a study's open tests "
                                             "with fresh seeds, then report")
    confirm.add_argument("results", help="the results directory, e.g. results/quickstart")
    confirm.add_argument("--seeds", type=int, default=20,
                         help="fresh seeds per rerun point (default 20); budgets whose open "
                              "tests this many would decide are rerun")
    confirm.add_argument("--study", help="which study of the directory (default: its only one)")
    confirm.add_argument("--storage", default=os.environ.get("LAYERLR_STORAGE"),
                         help=STORAGE_HELP)
    confirm.add_argument("--address", help="join a running Ray cluster")
    confirm.add_argument("--quiet", action="store_true", help="no live progress")
    confirm.set_defaults(func=_confirm)
    for name, func, text in (("status", _status, "trial counts and best value per cell"),
                             ("best", _best, "the best schedules of each cell"),
                             ("rebuild", _rebuild, ("rewrite the Parquet dataset from the "
                                                    "storage (after a damaged file)"))):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("study", nargs="?", help="the study file or its results directory "
                                                  "(or give --results)")
        _where(cmd)
        if name == "best":
            cmd.add_argument("--top", type=int, default=3, help="schedules per cell")
        cmd.set_defaults(func=func)
    schema = sub.add_parser("schema", help="print the JSON Schema of a study file (for "
                                           "editors: see the README's Study files)")
    schema.set_defaults(func=_schema)
    return parser


def _where(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--results", help="results directory (default: results/<study name>)")
    cmd.add_argument("--storage", default=os.environ.get("LAYERLR_STORAGE"),
                     help=STORAGE_HELP + "; prefer the variable for URLs with a "
                          "password, which command lines expose")


def _run(args: argparse.Namespace) -> int:
    from layerlr.study.config import load_study

    cfg = load_study(args.study)  # a StudyFileError is reported by _report, exit 2
    results = Path(args.results or Path("results") / cfg.name)
    if args.storage is None and not results.exists():
        from layerlr.study import prefetch  # a fresh results directory: its first cell's draws

        first = cfg.cells()[0]  # start while the rest imports and the storage opens
        prefetch.start(first.setting.to_dict(), dataclasses.asdict(cfg.train))
    import optuna  # the heavy imports, once the study file is known to be good

    from layerlr.study.driver import run_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    summary = run_study(cfg, results, args.storage, args.address, args.restart,
                        echo=_out, progress=not args.quiet, dashboard_host=args.dashboard_host)
    return _ran(summary, results)


def _ran(summary, results: Path) -> int:
    """Say what a run did (a RunSummary); its exit code."""
    from layerlr.setting import DIVERGENCE

    where = (f"on {len(summary.nodes)} Ray node(s)" if summary.ray
             else "in this process (a local Ray would not have paid for its start-up)")
    rate = summary.told / summary.wall if summary.wall > 0 else 0.0
    _out(f"done: {summary.complete} trials complete, {summary.failed} failed, "
         f"{summary.diverged} diverged (told as {DIVERGENCE:g}); this run told {summary.told} "
         f"trials in {summary.wall:.1f} s ({rate:.1f} trials/s) {where}")
    if summary.told:
        _out("per trial: " + ", ".join(f"{k} {1e3 * v:.3f} ms"
                                       for k, v in summary.per_trial().items()))
    for line in summary.errors:
        _out(f"  failed: {line}")
    if summary.more_errors:
        _out(f"  ... and {summary.more_errors} more failed batches (every trial's error is "
             "in the dataset's `error` column)")
    _out(f"results: {results / 'trials'}  ->  pandas.read_parquet('{results / 'trials'}')")
    _out(f"storage: {summary.storage}")
    if summary.interrupted:
        return INTERRUPTED
    return TRIALS_FAILED if summary.failed else OK


def _status(args: argparse.Namespace) -> int:
    from layerlr.study.views import status_table

    store = _storage(args)
    if store is None:
        return BAD_INPUT
    _out(status_table(store, _study_filter(args)))
    return OK


def _best(args: argparse.Namespace) -> int:
    from layerlr.study.views import best_table

    store = _storage(args)
    if store is None:
        return BAD_INPUT
    _out(best_table(store, _study_filter(args), args.top))
    return OK


def _rebuild(args: argparse.Namespace) -> int:
    from layerlr.study.rebuild import rebuild_results

    store = _storage(args)
    if store is None:
        return BAD_INPUT
    study = _study_filter(args)
    if args.results is None and study is None:
        _err("give the study file or --results DIR: where the dataset is to be rebuilt")
        return BAD_INPUT
    results = args.results or Path("results") / study
    for name, rows in rebuild_results(results, store, study).items():
        _out(f"{name}: {rows} rows written to {Path(results) / 'trials'}")
    return OK


def _schema(args: argparse.Namespace) -> int:
    import json

    from layerlr.study.config import json_schema

    _out(json.dumps(json_schema(), indent=2))
    return OK


def _report_cmd(args: argparse.Namespace) -> int:
    if not (Path(args.results) / "trials").is_dir():
        _err(f"no results in {args.results} (no trials/ folder); give the directory a "
             "study wrote, e.g. results/quickstart")
        return BAD_INPUT
    from layerlr.report import make_report

    echo = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    report = make_report(args.results, args.out, args.storage, echo=echo)
    _out(f"report: {report.summary} ({len(report.figures)} figures in "
         f"{report.out / 'figures'})")
    return OK


def _confirm(args: argparse.Namespace) -> int:
    """Plan (or resume) the study's confirm study, run it, and write the report."""
    results = Path(args.results)
    if not (results / "trials").is_dir():
        _err(f"no results in {results} (no trials/ folder); give the directory a study "
             "wrote, e.g. results/quickstart")
        return BAD_INPUT
    if args.seeds < 2:
        _err(f"--seeds {args.seeds}: give at least 2 fresh seeds (a t-test needs two)")
        return BAD_INPUT
    from layerlr.report.confirm import SUFFIX, ConfirmError, confirm_name, stored_config
    from layerlr.report.data import default_storage, load

    studies = [s for s in load(results, args.storage) if not s.name.endswith(SUFFIX)]
    names = [s.name for s in studies]
    if args.study is None and len(studies) != 1:
        raise ConfirmError(f"{results} holds the studies {names}: name one with --study")
    chosen = [s for s in studies if args.study in (None, s.name)]
    if not chosen:
        raise ConfirmError(f"--study {args.study}: not in {results}; it holds {names}")
    study = chosen[0]
    url = args.storage or default_storage(results)
    if study.config is None or url is None:
        _err(f"study '{study.name}': its storage (configuration) cannot be read, and "
             "confirm reruns its points from it; give --storage URL")
        return ENVIRONMENT
    cfg = stored_config(url, confirm_name(study.name))
    if cfg is not None and len(cfg.train.seeds) != args.seeds:
        raise ConfirmError(f"'{cfg.name}' exists with {len(cfg.train.seeds)} fresh seeds; "
                           f"rerun with --seeds {len(cfg.train.seeds)} to resume it")
    if cfg is None:
        from layerlr.report.build import analyse_study
        from layerlr.report.confirm import derived_config

        cfg = derived_config(study.config, analyse_study(study, {}, lambda line: None),
                             args.seeds)
        if cfg is None:
            _out(f"nothing to confirm: no open test of '{study.name}' would be decided by "
                 f"{args.seeds} fresh seeds (see Open tests in its report)")
            return OK
    points = sum(len(p) for _, p in cfg.search.only_points)
    _out(f"{cfg.name}: {points} points in {len(cfg.search.only_points)} cells, fresh seeds "
         f"{cfg.train.seeds[0]}..{cfg.train.seeds[-1]}")
    import optuna

    from layerlr.study.driver import run_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    code = _ran(run_study(cfg, results, args.storage, args.address, echo=_out,
                          progress=not args.quiet), results)
    if code != OK:
        return code
    return _report_cmd(argparse.Namespace(results=results, out=None, storage=args.storage,
                                          quiet=args.quiet))


def _study_filter(args: argparse.Namespace) -> str | None:
    if args.study is None or Path(args.study).is_dir():
        return None
    from layerlr.study.config import load_study

    return load_study(args.study).name


def _storage(args: argparse.Namespace) -> str | None:
    """The storage URL or journal path of the command's study, or None (said why)."""
    from layerlr.study.storage import resolve

    if args.study is not None and Path(args.study).is_dir() and args.results is None:
        args.results = args.study  # `layerlr status results/quickstart`
    results = args.results
    if results is None and args.study is not None:
        from layerlr.study.config import load_study

        results = Path("results") / load_study(args.study).name
    if args.storage:
        resolve(results or ".", args.storage)  # a malformed URL: StorageURLError, exit 2
        return args.storage
    if results is None:
        _err("give a study file, a results directory, --results DIR or --storage URL")
        return None
    spec = resolve(results)
    if not spec.path.is_file():
        _err(f"no study storage in {results} (no optuna.log or optuna.db); run a study there "
             "first")
        return None
    return str(spec.path) if spec.kind == "journal" else spec.url


def _report(err: Exception) -> int:
    """One line for an error, and the exit code of its kind (see the module doc)."""
    from layerlr.study.config import StudyFileError

    if isinstance(getattr(err, "cause", None), Exception):  # raised in a Ray actor: its own
        err = err.cause  # line, not Ray's traceback
    if isinstance(err, StudyFileError):
        for line in err.problems:
            _err(f"{err.source}: {line}")
        return BAD_INPUT
    code = _code(err)
    if code is not None:
        _err(str(err))
        return code
    if os.environ.get("LAYERLR_DEBUG"):
        traceback.print_exc()
    _err(f"{type(err).__name__}: {err}")
    _err("(set LAYERLR_DEBUG=1 to see the traceback)")
    return ERROR


def _code(err: Exception) -> int | None:
    """BAD_INPUT or ENVIRONMENT for the errors layerlr raises on purpose, else None."""
    import importlib

    kinds = {"layerlr.study.driver": {"ClusterError": ENVIRONMENT, "ResultsPathError": BAD_INPUT},
             "layerlr.study.resume": {"StudyChanged": BAD_INPUT},
             "layerlr.study.execution": {"LaneError": ENVIRONMENT},
             "layerlr.study.worker": {"PlanError": BAD_INPUT},
             "layerlr.study.storage": {"StorageURLError": BAD_INPUT,
                                       "StorageError": ENVIRONMENT},
             "layerlr.study.lock": {"StudyLocked": ENVIRONMENT},
             "layerlr.results": {"ResultsError": ENVIRONMENT},
             "layerlr.report.confirm": {"ConfirmError": BAD_INPUT}}
    for module, names in kinds.items():
        if module not in sys.modules:  # not imported: none of its errors was raised
            continue
        for name, code in names.items():
            if isinstance(err, getattr(importlib.import_module(module), name)):
                return code
    return None


def _out(line: str) -> None:
    print(line, flush=True)


def _err(line: str) -> None:
    print(f"error: {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    entry()
