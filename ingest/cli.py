"""govwh: the warehouse's command line (also `python -m ingest`).

    govwh run                      the whole pipeline through Airflow, then a summary
    govwh status                   what was fetched when, the last publish, coverage
    govwh rank --indicator pci --year 2016 [--level ministry] [--component entry_costs]
    govwh profile "Quảng Ninh"     every indicator of a province over the years
    govwh sql "select ..."         read-only SQL on the serving warehouse
    govwh rollback                 put the previous serving warehouse back
    govwh export | mirror          exports (Parquet, CSV, XLSX) | PostgreSQL mirror ($GOVWH_PG_DSN)
    govwh report                   the static HTML site of the rankings
    govwh resolve NAME ...         names -> unit keys (exit 1 on unknown names)
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from . import pipeline
from .config import Settings, originals_dir
from .errors import PipelineError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="govwh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the whole pipeline, then a summary")
    run.add_argument("--direct", action="store_true",
                     help="run the steps in this process instead of through Airflow (`airflow dags test`)")
    for name in ("fetch", "parse", "build", "publish", "summary"):
        sub.add_parser(name, help=f"only the {name} step")
    sub.add_parser("status", help="what was fetched when, the last publish, coverage per publication")
    rank = sub.add_parser("rank", help="a ranking table")
    rank.add_argument("--indicator", required=True, help="pci, papi, par_index or sipas")
    rank.add_argument("--year", type=int, required=True)
    rank.add_argument("--level", default="province", choices=["province", "ministry"])
    rank.add_argument("--component", default="overall", help="component code (see marts.dim_component)")
    rank.add_argument("--top", type=int, help="only the first N rows")
    profile = sub.add_parser("profile", help="every indicator of one province over the years")
    profile.add_argument("province", help="a province name in any spelling")
    query = sub.add_parser("sql", help="read-only SQL on the serving warehouse")
    query.add_argument("query")
    query.add_argument("--limit", type=int, default=50, help="rows to print (default 50)")
    sub.add_parser("rollback", help="put the previous serving warehouse back")
    sub.add_parser("export", help="every mart as Parquet, CSV (UTF-8 with BOM) and one XLSX workbook")
    sub.add_parser("report", help="the static HTML site of the rankings ($GOVWH_DATA_DIR/site)")
    mirror = sub.add_parser("mirror", help="publish the marts into PostgreSQL ($GOVWH_PG_DSN)")
    mirror.add_argument("--dsn", default=os.environ.get("GOVWH_PG_DSN"))
    mirror.add_argument("--reader-login", default=os.environ.get("GOVWH_PG_READER"),
                        help="a login role to grant read-only access to")
    bundle = sub.add_parser("bundle", help="regenerate data/bundle from the publishers' original files")
    bundle.add_argument("--originals", type=Path, default=None,
                        help="folder of original files (default: $GOVWH_ORIGINALS or ../shared/sources/originals)")
    res = sub.add_parser("resolve", help="names in, unit keys and canonical names out (exit 1 on unknowns)")
    res.add_argument("names", nargs="*", help="names to resolve (default: one per line on stdin)")
    res.add_argument("--level", choices=["province", "ministry", "district", "department"], default="province")
    res.add_argument("--year", type=int, help="resolve among the units that existed in this year")
    res.add_argument("--date", help="resolve among the units that existed on this date (YYYY-MM-DD)")
    res.add_argument("--csv", type=Path, help="read names from this CSV file ...")
    res.add_argument("--column", help="... in this column")
    return parser


# Commands that run one pipeline step with the settings and nothing else.
STEPS = {
    "fetch": pipeline.fetch_all,
    "parse": pipeline.parse_all,
    "build": pipeline.build,
    "publish": pipeline.publish,
    "report": pipeline.report,
    "export": pipeline.export,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "resolve":
        from .resolve import main as resolve_main

        return resolve_main(args)
    try:
        settings = Settings.from_env()
        return _dispatch(args, settings)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _dispatch(args, settings: Settings) -> int:
    from . import analyst

    command = args.command
    if command == "run":
        if args.direct:
            pipeline.run_all(settings)
        else:
            from .airflow_runner import run_dags
            from .exports import exports_dir
            from .report import site_dir

            run_dags(settings)
            print(pipeline.summary(settings))
            print(f"Report (static site): {site_dir(settings) / 'index.html'}")
            print(f"Exports (Parquet, CSV, XLSX): {exports_dir(settings)}")
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
    elif command == "sql":
        analyst.sql(settings, args.query, args.limit)
    elif command == "rollback":
        from .publish import rollback

        record = rollback(settings)
        print(f"rolled back: {settings.warehouse} is again the previous warehouse (sha256 {record['sha256'][:16]}…)")
    elif command == "mirror":
        pipeline.mirror(settings, args.dsn, args.reader_login)
    elif command == "bundle":
        from .bundle import build_bundle

        build_bundle((args.originals or originals_dir()).resolve())
    return 0
