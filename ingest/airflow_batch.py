"""Several `airflow` CLI commands in one interpreter, through Airflow's own CLI parser.

Every `airflow ...` process spends about 4 s importing Airflow and loading its settings before it
does any work, and `airflow dags test` about 4 s more starting its in-process execution API.
`make run` used to start five such processes (db migrate, pools set, variables set, then one
`dags test` per DAG). This module runs the same commands, in order, exactly as they would be
typed (`get_parser().parse_args(argv)` then the command's own function, as `airflow/__main__.py`
does), so that start-up is paid once.

    python -m ingest.airflow_batch STEPS_JSON

STEPS_JSON is a list of steps; a step is {"argv": [...]} with, optionally, "if_published": true
(run it only if the serving warehouse was published since the batch started: the serving DAG
after a nightly run that published). Each step is framed on stdout by two lines,
`[airflow-batch] begin <argv>` and `[airflow-batch] end <argv> rc=<code> seconds=<s>`; the batch
stops at the first failing step and exits with its code.
"""
from __future__ import annotations

import json
import re
import shlex
import sys
import time

BEGIN, END, SKIP = "[airflow-batch] begin ", "[airflow-batch] end ", "[airflow-batch] skip "


def ended(line: str) -> tuple[str, int]:
    """(command, exit code) of an END line."""
    command, _, tail = line[len(END):].strip().rpartition(" rc=")
    return command, int(tail.split()[0])


def setup_ok(command: str) -> str:
    return f"[airflow-setup] airflow {' '.join(shlex.split(command)[:3])}: ok"


def cause(output: str) -> str:
    """The line of a failed command's output that says why: its exception's own line (not
    SQLAlchemy's footer), else its last line."""
    lines = output.strip().splitlines()
    causes = [ln.strip() for ln in lines if re.match(r"\s*[\w.]*(Error|Exception): ", ln)]
    return (causes or lines or ["no output"])[-1][:400]


def _run_one(argv: list[str]) -> int:
    from airflow.cli import cli_parser
    from airflow.configuration import write_default_airflow_configuration_if_needed

    args = cli_parser.get_parser().parse_args(argv)
    write_default_airflow_configuration_if_needed()
    try:
        args.func(args)
    except SystemExit as exc:  # `dags test` ends a failed run with SystemExit("DagRun failed")
        if exc.code in (None, 0):
            return 0
        print(exc.code if isinstance(exc.code, str) else f"exit status {exc.code}", flush=True)
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _last_publish() -> dict | None:
    from .config import Settings
    from .publish import last_publish

    return last_publish(Settings.from_env())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m ingest.airflow_batch STEPS_JSON", file=sys.stderr)
        return 2
    steps = json.loads(argv[0])
    published_before = _last_publish() if any(s.get("if_published") for s in steps) else None
    for step in steps:
        command = shlex.join(step["argv"])
        if step.get("if_published") and _last_publish() == published_before:
            print(f"{SKIP}{command} (nothing was published)", flush=True)
            continue
        print(f"{BEGIN}{command}", flush=True)
        started = time.perf_counter()
        code = _run_one(step["argv"])
        print(f"{END}{command} rc={code} seconds={time.perf_counter() - started:.1f}", flush=True)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
