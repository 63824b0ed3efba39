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
_PROGRESS = re.compile(r"\[(fetch|parse|build|publish)[\] ]|warning: |error: |Task instance .* (SUCCESS|FAILED)|"
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
        "GOVWH_TASK_RETRIES": os.environ.get("GOVWH_TASK_RETRIES", "0"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _airflow() -> str:
    return str(Path(sys.executable).parent / "airflow")


def run_dag(settings: Settings) -> Path:
    env = airflow_env(settings)
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "last_run.log"
    started = time.perf_counter()
    if not (home / "airflow.db").exists():
        print("[airflow] first run: creating the metadata database (airflow db migrate)", flush=True)
        subprocess.run([_airflow(), "db", "migrate"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    print(f"[airflow] airflow dags test {DAG_ID} (full log: {log_path})", flush=True)
    with open(log_path, "w", encoding="utf-8") as log_file:
        proc = subprocess.Popen([_airflow(), "dags", "test", DAG_ID], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            log_file.write(line)
            if _PROGRESS.search(line):
                print("  " + line.rstrip()[-200:], flush=True)
        code = proc.wait()
    state = _run_state(log_path)
    if code != 0 or state != "success":
        raise PipelineError(f"the Airflow run of {DAG_ID} ended {state or 'with exit code ' + str(code)}; "
                            f"the serving warehouse {settings.warehouse} is unchanged. Log: {log_path}")
    print(f"[airflow] {DAG_ID} succeeded in {time.perf_counter() - started:.1f}s", flush=True)
    return settings.warehouse


def _run_state(log_path: Path) -> str | None:
    text = log_path.read_text(encoding="utf-8", errors="replace")
    found = re.findall(r"state=(\w+)", text)
    for candidate in reversed(found):
        if candidate in ("success", "failed"):
            return candidate
    return None
