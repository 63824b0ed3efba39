"""Run the nightly DAG once, for real, with `airflow dags test` on a local SQLite database.

This is what `make run` does: Airflow schedules and orders the steps exactly as it would at
night; its metadata and logs live under $GOVWH_DATA_DIR/airflow.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from .config import REPO_ROOT, Settings
from .errors import PipelineError

DAG_ID = "governance_nightly"
SERVE_DAG_ID = "governance_serve"
_PROGRESS = re.compile(r"\[(fetch|check|parse|build|publish|export|mirror|report)[\] ]|warning: |error: |"
                       r"Task instance .* (SUCCESS|FAILED)|failed: .* the last good warehouse|"
                       r"Marking task as (SUCCESS|FAILED|UP_FOR_RETRY)")


def airflow_env(settings: Settings) -> dict:
    home = settings.data_dir / "airflow"
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "GOVWH_DATA_DIR": str(settings.data_dir),
        "GOVWH_WAREHOUSE": str(settings.warehouse),
        "GOVWH_CURATED_DIR": str(settings.curated_dir),
        "GOVWH_TASK_RETRIES": os.environ.get("GOVWH_TASK_RETRIES", "0"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _airflow() -> str:
    return str(Path(sys.executable).parent / "airflow")


def prepare(settings: Settings) -> dict:
    """Create the metadata database on first use and the one-slot pool for DuckDB writers."""
    env = airflow_env(settings)
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    marker = home / "govwh-setup.done"  # set up once per metadata database (and after upgrades of this code)
    if not marker.exists() or not (home / "airflow.db").exists():
        print("[airflow] preparing the metadata database (govwh airflow-setup)", flush=True)
        from .airflow_local import setup

        setup(env)  # the same idempotent setup Compose and `make airflow` run
        marker.touch()
    return env


def run_dags(settings: Settings, force_fetch: bool = False, force: bool = False) -> Path:
    """The nightly DAG, then the serving DAG its Asset schedules (dags test runs one DAG), but
    only when the nightly run published: a night with nothing new serves what is already served."""
    from .publish import last_publish

    prepare(settings)
    before = last_publish(settings)
    conf = {k: True for k, on in (("force_fetch", force_fetch), ("force", force)) if on}
    run_dag(settings, DAG_ID, conf=conf or None)
    if last_publish(settings) != before or not (settings.data_dir / "exports").exists():
        run_dag(settings, SERVE_DAG_ID)
    else:
        print(f"[airflow] {SERVE_DAG_ID} not run: nothing was published, the exports are current", flush=True)
    return settings.warehouse


def run_dag(settings: Settings, dag_id: str = DAG_ID, conf: dict | None = None) -> Path:
    import json

    env = prepare(settings)
    home = Path(env["AIRFLOW_HOME"])
    log_path = home / f"last_run_{dag_id}.log"
    started = time.perf_counter()
    print(f"[airflow] airflow dags test {dag_id} (full log: {log_path})", flush=True)
    with open(log_path, "w", encoding="utf-8") as log_file:
        extra = ["--conf", json.dumps(conf)] if conf else []
        proc = subprocess.Popen([_airflow(), "dags", "test", dag_id, *extra], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            log_file.write(line)
            if _PROGRESS.search(line):
                print("  " + line.rstrip()[-200:], flush=True)
        code = proc.wait()
    state = _run_state(log_path)
    if code != 0 or state != "success":
        raise PipelineError(f"the Airflow run of {dag_id} ended {state or 'with exit code ' + str(code)}; "
                            f"the serving warehouse {settings.warehouse} is unchanged. Log: {log_path}")
    print(f"[airflow] {dag_id} succeeded in {time.perf_counter() - started:.1f}s", flush=True)
    return settings.warehouse


def _run_state(log_path: Path) -> str | None:
    text = log_path.read_text(encoding="utf-8", errors="replace")
    found = re.findall(r"state=(\w+)", text)
    for candidate in reversed(found):
        if candidate in ("success", "failed"):
            return candidate
    return None
