"""Command line: python -m ingest <command>. `run` is what `make run` calls."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import pipeline
from .config import Settings, originals_dir
from .errors import PipelineError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the whole pipeline, then a summary")
    run.add_argument("--direct", action="store_true",
                     help="run the steps in this process instead of through Airflow (`airflow dags test`)")
    for name in ("fetch", "parse", "build", "publish", "summary"):
        sub.add_parser(name, help=f"only the {name} step")
    bundle = sub.add_parser("bundle", help="regenerate data/bundle from the publishers' original files")
    bundle.add_argument("--originals", type=Path, default=None,
                        help="folder of original files (default: $GOVWH_ORIGINALS or ../shared/sources/originals)")
    res = sub.add_parser("resolve", help="names in, unit keys and canonical names out (exit 1 on unknowns)")
    res.add_argument("names", nargs="*", help="names to resolve (default: one per line on stdin)")
    res.add_argument("--level", choices=["province", "ministry"], default="province")
    res.add_argument("--year", type=int, help="resolve among the units that existed in this year")
    res.add_argument("--date", help="resolve among the units that existed on this date (YYYY-MM-DD)")
    res.add_argument("--csv", type=Path, help="read names from this CSV file ...")
    res.add_argument("--column", help="... in this column")
    args = parser.parse_args(argv)
    if args.command == "resolve":
        from .resolve import main as resolve_main

        return resolve_main(args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        settings = Settings.from_env()
        if args.command == "run":
            if args.direct:
                pipeline.run_all(settings)
            else:
                from .airflow_runner import run_dag

                run_dag(settings)
                print(pipeline.summary(settings))
        elif args.command == "fetch":
            pipeline.fetch_all(settings)
        elif args.command == "parse":
            pipeline.parse_all(settings)
        elif args.command == "build":
            pipeline.build(settings)
        elif args.command == "publish":
            pipeline.publish(settings)
        elif args.command == "summary":
            print(pipeline.summary(settings))
        elif args.command == "bundle":
            from .bundle import build_bundle

            build_bundle((args.originals or originals_dir()).resolve())
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
