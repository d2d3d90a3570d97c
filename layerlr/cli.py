"""The ``layerlr`` command: run a study, see its status and best schedules, report on it.

Exit codes: 0 done; 1 unexpected error; 2 bad input (study file, arguments, a changed
study); 3 storage, results directory or cluster problem; 4 finished with failed
trials; 130 interrupted (a rerun resumes).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

OK, ERROR, BAD_INPUT, ENVIRONMENT, TRIALS_FAILED, INTERRUPTED = 0, 1, 2, 3, 4, 130


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _err("interrupted; run the same command again to resume")
        return INTERRUPTED
    except Exception as err:  # the last resort: one line, no traceback unless asked
        return _report(err)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layerlr", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a study file (resumes an interrupted one)")
    run.add_argument("study", help="the study file, e.g. studies/quickstart.toml")
    _where(run)
    run.add_argument("--address", help="join a running Ray cluster (default: start a local one)")
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
                        help="Optuna storage URL (default: $LAYERLR_STORAGE, else "
                             "RESULTS/optuna.db)")
    report.add_argument("--quiet", action="store_true", help="no progress lines")
    report.set_defaults(func=_report_cmd)
    for name, func, text in (("status", _status, "trial counts and best value per cell"),
                             ("best", _best, "the best schedules of each cell"),
                             ("rebuild", _rebuild, "rewrite the Parquet dataset from the "
                                                   "storage (after a damaged file)")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("study", nargs="?", help="the study file (or give --results)")
        _where(cmd)
        if name == "best":
            cmd.add_argument("--top", type=int, default=3, help="schedules per cell")
        cmd.set_defaults(func=func)
    return parser


def _where(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--results", help="results directory (default: results/<study name>)")
    cmd.add_argument("--storage", default=os.environ.get("LAYERLR_STORAGE"),
                     help="Optuna storage URL (default: $LAYERLR_STORAGE, else "
                          "RESULTS/optuna.db); prefer the variable for URLs with a password, "
                          "which command lines expose")


def _run(args: argparse.Namespace) -> int:
    from layerlr.study.config import load_study

    cfg = load_study(args.study)  # a StudyFileError is reported by _report, exit 2
    results = Path(args.results or Path("results") / cfg.name)
    import optuna  # the heavy imports, once the study file is known to be good

    from layerlr.results import ResultsError
    from layerlr.study.driver import StudyChanged, run_study
    from layerlr.study.lock import StudyLocked

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        summary = run_study(cfg, results, args.storage, args.address, args.restart,
                            echo=_out, progress=not args.quiet,
                            dashboard_host=args.dashboard_host)
    except ConnectionError as err:
        _err(f"cannot reach the Ray cluster at {args.address}: {err}")
        return ENVIRONMENT
    except StudyChanged as err:
        _err(str(err))
        return BAD_INPUT
    except (StudyLocked, ResultsError) as err:
        _err(str(err))
        return ENVIRONMENT
    _out(f"done: {summary.complete} trials complete, {summary.failed} failed, "
         f"{summary.diverged} diverged (told as {1e6:g}); this run used "
         f"{len(summary.nodes)} Ray node(s)")
    for line in summary.errors:
        _out(f"  failed: {line}")
    _out(f"results: {results / 'trials'}  ->  pandas.read_parquet('{results / 'trials'}')")
    _out(f"storage: {summary.storage}")
    if summary.interrupted:
        return INTERRUPTED
    return TRIALS_FAILED if summary.failed else OK


def _status(args: argparse.Namespace) -> int:
    from layerlr.study.summary import status_table

    store = _storage(args)
    if store is None:
        return BAD_INPUT
    _out(status_table(store, _study_filter(args)))
    return OK


def _best(args: argparse.Namespace) -> int:
    from layerlr.study.summary import best_table

    store = _storage(args)
    if store is None:
        return BAD_INPUT
    _out(best_table(store, _study_filter(args), args.top))
    return OK


def _rebuild(args: argparse.Namespace) -> int:
    from layerlr.study.driver import rebuild_results

    store = _storage(args)
    if store is None:
        return BAD_INPUT
    study = _study_filter(args)
    if args.results is None and study is None:
        _err("give the study file or --results DIR: where the dataset is to be rebuilt")
        return BAD_INPUT
    results = args.results or Path("results") / study
    for study, rows in rebuild_results(results, store, study).items():
        _out(f"{study}: {rows} rows written to {Path(results) / 'trials'}")
    return OK


def _report_cmd(args: argparse.Namespace) -> int:
    if not (Path(args.results) / "trials").is_dir():
        _err(f"no results in {args.results} (no trials/ folder); give the directory a "
             "study wrote, e.g. results/quickstart")
        return BAD_INPUT
    from layerlr.report import make_report
    from layerlr.results import ResultsError

    echo = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        report = make_report(args.results, args.out, args.storage, echo=echo)
    except ResultsError as err:
        _err(str(err))
        return ENVIRONMENT
    _out(f"report: {report.summary} ({len(report.figures)} figures in "
         f"{report.out / 'figures'})")
    return OK


def _study_filter(args: argparse.Namespace) -> str | None:
    if args.study is None:
        return None
    from layerlr.study.config import load_study

    return load_study(args.study).name


def _storage(args: argparse.Namespace) -> str | None:
    from layerlr.study.storage import storage_url

    if args.storage:
        return args.storage
    results = args.results
    if results is None and args.study is not None:
        from layerlr.study.config import load_study

        results = Path("results") / load_study(args.study).name
    if results is None:
        _err("give a study file, --results DIR or --storage URL")
        return None
    if not (Path(results) / "optuna.db").exists():
        _err(f"no study storage in {results} (no optuna.db); run a study there first")
        return None
    return storage_url(results)


def _report(err: Exception) -> int:
    from layerlr.study.config import StudyFileError

    if isinstance(err, StudyFileError):
        for line in err.problems:
            _err(f"{err.source}: {line}")
        return BAD_INPUT
    if os.environ.get("LAYERLR_DEBUG"):
        traceback.print_exc()
    _err(f"{type(err).__name__}: {err}")
    _err("(set LAYERLR_DEBUG=1 to see the traceback)")
    return ERROR


def _out(line: str) -> None:
    print(line, flush=True)


def _err(line: str) -> None:
    print(f"error: {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
