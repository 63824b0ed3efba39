"""Serve the published warehouse: runs whenever governance_nightly publishes it (the Asset
`governance_warehouse`). Exports every mart (Parquet, CSV, XLSX; the fact tables as XLSX only
with the param xlsx_facts) and mirrors the marts into
PostgreSQL for BI tools when GOVWH_PG_DSN is set. Reads the serving file read-only.
"""
from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

WAREHOUSE = Asset("governance_warehouse")


def _settings():
    from ingest.airflow_support import task_settings

    return task_settings()


def _on_failure(context):
    from ingest.airflow_support import on_failure

    on_failure(context)


@dag(
    dag_id="governance_serve",
    description="Exports and the PostgreSQL mirror of the published governance warehouse",
    schedule=[WAREHOUSE],
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Ho_Chi_Minh"),
    catchup=False,
    max_active_runs=1,
    # unpaused when created (DAGS_ARE_PAUSED_AT_CREATION pauses the nightly DAG until a person
    # unpauses it): every nightly publish then refreshes the exports and the mirror, with no second
    # DAG to remember; it runs only on the nightly DAG's Asset event
    is_paused_upon_creation=False,
    dagrun_timeout=timedelta(hours=1),
    default_args={
        "execution_timeout": timedelta(minutes=30),
        "retries": int(os.environ.get("GOVWH_TASK_RETRIES", "2")),
        "retry_delay": timedelta(seconds=int(os.environ.get("GOVWH_TASK_RETRY_DELAY", "120"))),
        "retry_exponential_backoff": True,
        "on_failure_callback": _on_failure,
    },
    tags=["governance", "serving"],
    params={"xlsx_facts": Param(False, type="boolean",
                                description="also write the fact tables as governance_facts.xlsx (~17 s)")},
)
def governance_serve():
    @task
    def export() -> dict:
        from ingest import pipeline

        return pipeline.export(_settings(), xlsx_facts=bool(get_current_context()["params"].get("xlsx_facts")))

    @task
    def mirror_postgres() -> dict | None:
        from ingest import pipeline

        return pipeline.mirror(_settings(), os.environ.get("GOVWH_PG_DSN"), os.environ.get("GOVWH_PG_READER"))

    export()
    mirror_postgres()


governance_serve()
