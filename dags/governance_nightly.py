"""Nightly refresh of the governance warehouse.

Thin on purpose: each task calls one step of the tested `ingest` package, in the order the
data flows (watch for new editions -> fetch -> parse -> dbt build into a private file -> publish -> summary and the
static report). Every
DuckDB writer runs in the one-slot pool `duckdb_writer`; publishing updates the Asset
`governance_warehouse`, which schedules the serving DAG (exports, PostgreSQL mirror).
Nothing heavy is imported at parse time.

Every task has an execution_timeout and the run a dagrun_timeout, so a stuck night never
blocks the next (max_active_runs=1). Each task takes the data folder's run lock (waiting up
to GOVWH_LOCK_WAIT, 15 minutes by default here). The publish task serves only the build that
this run's build task produced (its build id, passed on by XCom) and only if it passed.
Trigger with {"force_fetch": true} to download every file again, ignoring ETag/Last-Modified.
"""
from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

RETRIES = int(os.environ.get("GOVWH_TASK_RETRIES", "2"))
RETRY_DELAY = timedelta(seconds=int(os.environ.get("GOVWH_TASK_RETRY_DELAY", "120")))  # the first; it doubles
WAREHOUSE = Asset("governance_warehouse")  # governance_serve is scheduled on it
WRITER_POOL = "duckdb_writer"  # one slot: DuckDB allows a single writer per file (`govwh airflow-setup` makes it)


def _settings():
    from ingest.airflow_support import task_settings

    return task_settings()


def _on_failure(context):
    from ingest.airflow_support import on_failure

    on_failure(context)


@dag(
    dag_id="governance_nightly",
    description="Fetch, parse and model Vietnam's governance indicators; publish the warehouse",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Ho_Chi_Minh"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    params={"force_fetch": Param(False, type="boolean",
                                 description="download every file again, ignoring ETag / Last-Modified"),
            "force": Param(False, type="boolean", description="rebuild and publish even when nothing changed")},
    default_args={
        "execution_timeout": timedelta(minutes=45),
        "retries": RETRIES,
        "retry_delay": RETRY_DELAY,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "on_failure_callback": _on_failure,
    },
    tags=["governance", "warehouse"],
)
def governance_nightly():
    @task(execution_timeout=timedelta(minutes=10))
    def watch() -> list[str]:
        """The publisher pages the declarations name: a new edition is reported (a warning in this
        log and the run summary), never a failed run; one taken in is fetched by the next task."""
        from ingest import pipeline
        from ingest.airflow_support import check_setup

        check_setup()  # a deployment without the pool fails here, in the first task, saying what to run
        return pipeline.watch_editions(_settings())

    @task
    def fetch(_watched) -> list[dict]:
        from ingest import pipeline

        force = bool(get_current_context()["params"].get("force_fetch"))
        return [{"publication": r.publication_id, "outcome": r.outcome, "sha256": r.sha256}
                for r in pipeline.fetch_all(_settings(), force=force)]

    @task.short_circuit
    def changed(_landed) -> bool:
        """False when nothing a build depends on changed since the last publish: the rest is skipped."""
        from ingest import pipeline

        force = bool(get_current_context()["params"].get("force"))
        return not pipeline.skip_if_nothing_new(_settings(), force)

    @task
    def parse() -> dict:
        from ingest import pipeline

        return {p.publication_id: p.rows for p in pipeline.parse_all(_settings())}

    @task(pool=WRITER_POOL)
    def build() -> dict:
        from ingest import pipeline
        from ingest.publish import read_receipt

        built = pipeline.build(_settings())
        return {"path": str(built), "build_id": read_receipt(built)["build_id"]}

    @task(pool=WRITER_POOL, outlets=[WAREHOUSE], execution_timeout=timedelta(minutes=10))
    def publish(built: dict) -> str:
        from pathlib import Path

        from ingest import pipeline

        return str(pipeline.publish(_settings(), Path(built["path"]), expected_build_id=built["build_id"]))

    @task
    def report(_published: str) -> dict:
        from ingest import pipeline

        return pipeline.report(_settings())

    @task
    def summary(_published: str) -> str:
        from ingest import pipeline

        text = pipeline.summary(_settings())
        print(text)
        return text

    landed = fetch(watch())
    parsed = parse()
    built = build()
    changed(landed) >> parsed >> built
    published = publish(built)
    summary(published)
    report(published)


governance_nightly()
