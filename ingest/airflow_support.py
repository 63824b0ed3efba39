"""Small helpers the DAG files use, kept here so they are tested without Airflow."""
from __future__ import annotations

import logging

WRITER_POOL = "duckdb_writer"
SETUP_VARIABLE = "govwh_airflow_setup"  # written by `govwh airflow-setup` together with the pool

log = logging.getLogger("governance")

TASK_LOCK_WAIT = "900"  # seconds a task waits for the run lock unless GOVWH_LOCK_WAIT says otherwise


def task_settings():
    """Settings for an Airflow task: as the environment says, but waiting for the run lock
    (another DAG's task, or an operator's CLI run) instead of failing at once."""
    import os

    from .config import Settings

    return Settings.from_env(env={**os.environ, "GOVWH_LOCK_WAIT": os.environ.get("GOVWH_LOCK_WAIT", TASK_LOCK_WAIT)})


def failure_line(context: dict) -> str:
    """One line for the on-call: which task failed, why, and where the last good warehouse is."""
    from .config import Settings
    from .publish import last_publish

    settings = Settings.from_env()
    ti = context.get("task_instance") or context.get("ti")
    task = getattr(ti, "task_id", "?")
    dag = getattr(ti, "dag_id", "?")
    error = context.get("exception")
    last = last_publish(settings)
    when = f"published {last['at']}" if last else "never published"
    return (f"{dag}.{task} failed: {error!s}"[:600] +
            f" | the last good warehouse is still {settings.warehouse} ({when})")


def on_failure(context: dict) -> None:
    log.error(failure_line(context))


def check_setup() -> None:
    """First thing the nightly DAG does: fail at once, saying what to run, when this Airflow was
    not prepared by `govwh airflow-setup` (its `build` task would otherwise wait forever for a
    pool that does not exist, and only the scheduler log would say so)."""
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowFailException  # no retries: waiting will not fix it

    if Variable.get(SETUP_VARIABLE, default=None) is None:
        raise AirflowFailException(
            f"this Airflow is not set up for the governance DAGs: the pool {WRITER_POOL!r} (and the Variable "
            f"{SETUP_VARIABLE!r}) are missing. Run `govwh airflow-setup` with this deployment's Airflow settings "
            f"(or `airflow pools set {WRITER_POOL} 1 'One DuckDB writer'` and "
            f"`airflow variables set {SETUP_VARIABLE} '{{}}'`)")
