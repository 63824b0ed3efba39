"""govwh: the warehouse's command line (also `python -m ingest`).

    govwh run                      the whole pipeline through Airflow, then a summary
    govwh status                   what was fetched when, the last publish, coverage
    govwh rank --indicator pci --year 2016 [--level ministry] [--component entry_costs]
    govwh profile "Quảng Ninh"     every indicator of a province over the years
    govwh sql "select ..."         read-only SQL on the serving warehouse (--format csv|json for scripts)
    govwh metrics query ...        the semantic layer (MetricFlow's mf) on the last passing build
    govwh changes [--since DATE]   what the latest publish (or every publish since DATE) changed
    govwh rollback                 put the previous serving warehouse back
    govwh export | mirror          exports (Parquet, CSV, XLSX) | PostgreSQL mirror ($GOVWH_PG_DSN)
    govwh build-postgres --dsn D   the same dbt models built on a PostgreSQL server ($GOVWH_PG_BUILD_DSN)
    govwh report                   the static HTML site of the rankings
    govwh resolve NAME ...         names -> unit keys (exit 1 on unknown names)
    govwh crosswalk review PUB     a new edition's unknown survey questions, with the nearest known ones
    govwh crosswalk apply PUB FILE the reviewed decisions into the sub-indicator seeds
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path

from . import pipeline
from .config import REPO_ROOT, Settings, originals_dir
from .errors import PipelineError, from_os_error, one_line

log = logging.getLogger("ingest")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="govwh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the whole pipeline, then a summary")
    run.add_argument("--direct", action="store_true",
                     help="run the steps in this process instead of through Airflow (`airflow dags test`)")
    run.add_argument("--force", action="store_true",
                     help="parse, build and publish even when nothing changed since the last publish")
    run.add_argument("--force-fetch", action="store_true",
                     help="download every file again, ignoring ETag / Last-Modified (fixes a mirror that says 304)")
    steps = {}
    for name in ("fetch", "parse", "build", "publish", "summary"):
        steps[name] = sub.add_parser(name, help=f"only the {name} step")
    steps["fetch"].add_argument("--force", action="store_true",
                                help="download every file again, ignoring ETag / Last-Modified validators")
    sub.add_parser("status", help="what was fetched when, the last publish, coverage per publication")
    rank = sub.add_parser("rank", help="a ranking table")
    rank.add_argument("--indicator", required=True, help="pci, papi, par_index or sipas")
    rank.add_argument("--year", type=int, required=True)
    rank.add_argument("--level", default="province", choices=["province", "ministry"])
    rank.add_argument("--component", default="overall", help="component code (see marts.dim_component)")
    rank.add_argument("--top", type=int, help="only the first N rows")
    profile = sub.add_parser("profile", help="every indicator of one province over the years")
    profile.add_argument("province", help="a province name in any spelling")
    metrics = sub.add_parser("metrics", help="the semantic layer: MetricFlow's mf on the last passing build "
                                             "(govwh metrics query --metrics score --group-by metric_time__year)")
    metrics.add_argument("mf_args", nargs=argparse.REMAINDER, help="mf's own arguments: query ..., list metrics, ...")
    query = sub.add_parser("sql", help="read-only SQL on the serving warehouse")
    query.add_argument("query")
    query.add_argument("--limit", type=int, default=50, help="rows to print (default 50)")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table",
                       help="table (default), or csv / json for scripts: the first --limit rows whole, on stdout")
    changes = sub.add_parser("changes", help="what the latest publish changed, fact by fact (or every publish "
                                             "since --since)")
    changes.add_argument("--since", help="a date (YYYY-MM-DD) or ISO date-time: every publish from then on")
    changes.add_argument("--limit", type=int, default=200, help="rows to print (default 200)")
    sub.add_parser("rollback", help="put the previous serving warehouse back")
    setup = sub.add_parser("airflow-setup", help="prepare this Airflow for the DAGs (db migrate, pool, Variable); "
                                                 "idempotent, uses the Airflow settings of the environment")
    setup.add_argument("--no-migrate", action="store_true", help="skip `airflow db migrate`")
    local = sub.add_parser("airflow", help="run Airflow (api-server, scheduler, dag-processor, triggerer) as local "
                                           "processes until Ctrl-C (`make airflow`)")
    local.add_argument("--db", help="metadata database URL (default: SQLite in $GOVWH_DATA_DIR/airflow-local)")
    local.add_argument("--port", type=int, default=8080)
    local.add_argument("--stop", action="store_true", help="stop the processes a previous `govwh airflow` left")
    export = sub.add_parser("export", help="every mart as Parquet and CSV (UTF-8 with BOM); the dimensions and marts "
                                           "also as one XLSX workbook")
    export.add_argument("--xlsx-facts", action="store_true",
                        help="also write the four fact tables (about 4 million cells, ~17 s) as governance_facts.xlsx")
    sub.add_parser("report", help="the static HTML site of the rankings ($GOVWH_DATA_DIR/site)")
    sub.add_parser("docs", help="dbt docs (lineage, every column described) for the last passing build "
                                "($GOVWH_DATA_DIR/docs)")
    mirror = sub.add_parser("mirror", help="publish the marts into PostgreSQL ($GOVWH_PG_DSN)")
    mirror.add_argument("--dsn", default=os.environ.get("GOVWH_PG_DSN"))
    mirror.add_argument("--reader-login", default=os.environ.get("GOVWH_PG_READER"),
                        help="a login role to grant read-only access to")
    mirror.add_argument("--reader-only", action="store_true",
                        help="only set up the reader login (password from GOVWH_PG_READER_PASSWORD, settings, "
                             "lockdown), mirroring nothing")
    pgb = sub.add_parser("build-postgres", help="the parsed tables loaded into PostgreSQL, then dbt build --target "
                                                 "postgres: every model, contract and test on a server database")
    pgb.add_argument("--dsn", default=os.environ.get("GOVWH_PG_BUILD_DSN"),
                     help="postgresql://user@host:5432/database (default: $GOVWH_PG_BUILD_DSN)")
    bundle = sub.add_parser("bundle", help="regenerate data/bundle from the publishers' original files")
    bundle.add_argument("--originals", type=Path, default=None,
                        help="folder of original files (default: $GOVWH_ORIGINALS or ../shared/sources/originals)")
    cw = sub.add_parser("crosswalk", help="review a new edition's survey questions the sub-indicator crosswalk "
                                          "does not know, and apply the decisions to the seeds")
    cw_sub = cw.add_subparsers(dest="crosswalk_command", required=True)
    cw_review = cw_sub.add_parser("review", help="each unknown column with the nearest existing headers and their "
                                                 "scores; writes a review file with a decision column")
    cw_review.add_argument("publication", help="a declared publication id, e.g. vcci-pci-2020")
    cw_review.add_argument("--file", type=Path, help="the publisher's file (default: its original under "
                                                     "$GOVWH_ORIGINALS or ../shared/sources/originals)")
    cw_review.add_argument("--out", type=Path, help="the review file (default: $GOVWH_DATA_DIR/crosswalk/"
                                                    "review-<publication>.csv)")
    cw_apply = cw_sub.add_parser("apply", help="write the reviewed decisions into the two sub-indicator seeds")
    cw_apply.add_argument("publication")
    cw_apply.add_argument("review_file", type=Path)
    cw_apply.add_argument("--file", type=Path, help="the publisher's file (default: its original)")
    res = sub.add_parser("resolve", help="names in, unit keys and canonical names out (exit 1 on unknowns)")
    res.add_argument("names", nargs="*", help="names to resolve (default: one per line on stdin)")
    res.add_argument("--level", choices=["province", "ministry", "district", "department"], default="province")
    res.add_argument("--year", type=int, help="resolve among the units that existed in this year")
    res.add_argument("--date", help="resolve among the units that existed on this date (YYYY-MM-DD)")
    res.add_argument("--csv", type=Path, help="read names from this CSV file ...")
    res.add_argument("--column", help="... in this column")
    parser.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                        help="wait up to SECONDS for another run's lock (default: $GOVWH_LOCK_WAIT or 0)")
    return parser


# Commands that run one pipeline step with the settings and nothing else.
STEPS = {
    "parse": pipeline.parse_all,
    "build": pipeline.build,
    "publish": pipeline.publish,
    "report": pipeline.report,
    "docs": pipeline.docs,
}


def _log_file() -> Path | None:
    """Where tracebacks go: $GOVWH_DATA_DIR/logs/govwh.log, or the repo's warehouse/logs."""
    for base in (os.environ.get("GOVWH_DATA_DIR"), str(REPO_ROOT / "warehouse")):
        if not base:
            continue
        try:
            folder = Path(base) / "logs"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "govwh.log"
            with open(path, "a", encoding="utf-8"):
                pass
            return path
        except OSError:
            continue
    return None


def _record(exc: BaseException, argv) -> str:
    """Append the traceback to the log file; returns where it went."""
    path = _log_file()
    if path is None:
        return "no writable log folder"
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"--- {datetime.now(timezone.utc).isoformat(timespec='seconds')} govwh {' '.join(argv)}\n")
            f.write("".join(traceback.format_exception(exc)))
    except OSError:  # the disk that is full holds the log too
        return "not written: the log folder is not writable"
    return str(path)


def _configure_logging() -> None:
    """Log records (retries, warnings) go to the log file; stderr carries only the one error line."""
    path = _log_file()
    handler = logging.FileHandler(path, encoding="utf-8", delay=True) if path else logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for noisy in ("urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Every failure ends as one line on stderr and exit status 1; the traceback goes to the log."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    _configure_logging()
    try:
        if args.command == "resolve":
            from .resolve import main as resolve_main

            return resolve_main(args)
        settings = Settings.from_env(**({"lock_wait": args.wait} if args.wait is not None else {}))
        return _dispatch(args, settings)
    except PipelineError as exc:
        where = _record(exc, argv)
        print(f"error: {exc}", file=sys.stderr)
        log.debug("traceback in %s", where)
        return 1
    except OSError as exc:
        where = _record(exc, argv)
        print(f"error: {from_os_error(exc)} (traceback: {where})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; the serving warehouse is unchanged unless a publish had finished", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, with the traceback in the log
        where = _record(exc, argv)
        text = one_line(str(exc), 300)  # a bug's message is not ours: never more than a few hundred characters
        print(f"error: {one_line(f'unexpected {type(exc).__name__}: {text} (traceback: {where})')}", file=sys.stderr)
        return 1


def _dispatch(args, settings: Settings) -> int:
    from . import analyst

    command = args.command
    if command == "run":
        if args.direct:
            pipeline.run_all(settings, force_fetch=args.force_fetch, force=args.force)
        else:
            from .airflow_runner import run_dags
            from .exports import exports_dir
            from .lock import run_lock
            from .report import site_dir

            started = datetime.now(timezone.utc).isoformat(timespec="seconds")
            with run_lock(settings, "run"):  # held for the whole Airflow run, handed to its tasks
                run_dags(settings, force_fetch=args.force_fetch, force=args.force)
            print(pipeline.summary(settings, started))
            print(f"Report (static site): {site_dir(settings) / 'index.html'}")
            print(f"Exports (Parquet, CSV, XLSX): {exports_dir(settings)}")
    elif command == "fetch":
        pipeline.fetch_all(settings, force=args.force)
    elif command == "export":
        pipeline.export(settings, xlsx_facts=args.xlsx_facts)
    elif command in STEPS:
        STEPS[command](settings)
    elif command == "summary":
        print(pipeline.summary(settings))
    elif command == "status":
        analyst.status(settings)
    elif command == "rank":
        analyst.rank(settings, args.indicator, args.year, args.level, args.component, args.top)
    elif command == "profile":
        analyst.profile(settings, args.province)
    elif command == "metrics":
        print(pipeline.metrics(settings, args.mf_args or ["list", "metrics"]), end="")
    elif command == "sql":
        analyst.sql(settings, args.query, args.limit, fmt=args.format)
    elif command == "changes":
        analyst.changes(settings, args.since, args.limit)
    elif command == "rollback":
        record = pipeline.rollback(settings)
        print(f"rolled back: {settings.warehouse} is again the previous warehouse (sha256 {record['sha256'][:16]}…)")
    elif command == "airflow-setup":
        from .airflow_local import setup

        setup(migrate=not args.no_migrate)
    elif command == "airflow":
        from .airflow_local import run, stop

        if args.stop:
            stopped = stop(settings.data_dir / "airflow-local")
            print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        else:
            run(settings, args.db, args.port)
    elif command == "mirror" and args.reader_only:
        from .mirror import set_up_reader

        if not args.dsn or not args.reader_login:
            from .errors import ConfigError

            raise ConfigError("govwh mirror --reader-only needs --dsn (or GOVWH_PG_DSN) and --reader-login "
                              "(or GOVWH_PG_READER)")
        set_up_reader(args.dsn, args.reader_login)
        print(f"[mirror] reader login {args.reader_login} set up (password, settings, read-only role)")
    elif command == "mirror":
        pipeline.mirror(settings, args.dsn, args.reader_login)
    elif command == "build-postgres":
        from . import pg_build
        from .errors import ConfigError

        if not args.dsn:
            raise ConfigError("govwh build-postgres needs --dsn (or GOVWH_PG_BUILD_DSN): "
                              "postgresql://user@host:5432/database")
        pg_build.build(settings, args.dsn)
    elif command == "crosswalk":
        from . import crosswalk

        if args.crosswalk_command == "review":
            text, _out = crosswalk.review(args.publication, settings, file=args.file, out=args.out)
        else:
            text = crosswalk.apply(args.publication, args.review_file, settings, file=args.file)
        print(text)
    elif command == "bundle":
        from .bundle import build_bundle

        build_bundle((args.originals or originals_dir()).resolve())
    return 0
