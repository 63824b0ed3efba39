"""Run the nightly DAG once, for real, with `airflow dags test` on a local SQLite database.

This is what `make run` does: Airflow schedules and orders the steps exactly as it would at
night; its metadata and logs live under $GOVWH_DATA_DIR/airflow.
"""
from __future__ import annotations

import os
import re
import shlex
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
        "GOVWH_CATALOGUE_DIR": str(settings.catalogue_dir),
        "GOVWH_DBT_PROJECT_DIR": str(settings.dbt_project_dir),
        "GOVWH_DBT_UNIT_TESTS": "1" if settings.dbt_unit_tests else "0",
        "GOVWH_TASK_RETRIES": os.environ.get("GOVWH_TASK_RETRIES", "0"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def run_dags(settings: Settings, force_fetch: bool = False, force: bool = False) -> Path:
    """The nightly DAG, then the serving DAG its Asset schedules (dags test runs one DAG), but
    only when the nightly run published: a night with nothing new serves what is already served.
    Set-up and both runs go through one Airflow process (ingest/airflow_batch.py)."""
    conf = {k: True for k, on in (("force_fetch", force_fetch), ("force", force)) if on}
    exports_exist = (settings.data_dir / "exports").exists()  # else serve whatever the nightly run did
    return _run_batch(settings, [(DAG_ID, conf or None, False), (SERVE_DAG_ID, None, exports_exist)])


def run_dag(settings: Settings, dag_id: str = DAG_ID, conf: dict | None = None) -> Path:
    return _run_batch(settings, [(dag_id, conf, False)])


def _run_batch(settings: Settings, runs: list[tuple[str, dict | None, bool]]) -> Path:
    """`airflow dags test` of each (dag_id, conf, only_if_published), after the set-up when this
    metadata database has none, in one Airflow process; progress lines echoed, one log per DAG."""
    import json

    from .airflow_batch import BEGIN, END, SKIP, cause, ended, setup_ok
    from .airflow_local import setup_steps

    env = airflow_env(settings)
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    marker = home / "govwh-setup.done"  # set up once per metadata database (and after upgrades of this code)
    needs_setup = not (marker.exists() and (home / "airflow.db").exists())
    steps = []
    if needs_setup:
        print("[airflow] preparing the metadata database (govwh airflow-setup)", flush=True)
        steps += setup_steps(migrate=True)
    dag_of = {}
    for dag_id, conf, only_if_published in runs:
        argv = ["dags", "test", dag_id, *(["--conf", json.dumps(conf)] if conf else [])]
        steps.append({"argv": argv, "if_published": only_if_published})
        dag_of[shlex.join(argv)] = dag_id
    log_file = open(home / "setup.log", "w", encoding="utf-8") if needs_setup else None
    current, started, failed, last_begun = None, time.perf_counter(), None, "airflow set-up"
    proc = subprocess.Popen([sys.executable, "-m", "ingest.airflow_batch", json.dumps(steps)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith(BEGIN):
                command = line[len(BEGIN):].strip()
                current, last_begun = dag_of.get(command), command
                if current:
                    if needs_setup:  # every set-up step passed
                        marker.touch()
                    if log_file:
                        log_file.close()
                    log_path = home / f"last_run_{current}.log"
                    log_file = open(log_path, "w", encoding="utf-8")
                    print(f"[airflow] airflow dags test {current} (full log: {log_path})", flush=True)
                    started = time.perf_counter()
            elif line.startswith(END):
                command, code = ended(line)
                if log_file:
                    log_file.flush()  # _run_state reads it
                if current is None and code == 0:
                    print(setup_ok(command), flush=True)
                elif current is None:
                    failed = ("setup", command)
                elif code == 0 and _run_state(home / f"last_run_{current}.log") == "success":
                    print(f"[airflow] {current} succeeded in {time.perf_counter() - started:.1f}s", flush=True)
                else:
                    failed = ("dag", current)
            elif line.startswith(SKIP):
                dag_id = dag_of.get(line[len(SKIP):].partition(" (")[0].strip(), "?")
                print(f"[airflow] {dag_id} not run: nothing was published, the exports are current", flush=True)
            else:
                if log_file:
                    log_file.write(line)
                if current and _PROGRESS.search(line):
                    print("  " + line.rstrip()[-200:], flush=True)
        code = proc.wait()
    finally:
        if log_file:
            log_file.close()
    if failed is None and code != 0:
        failed = ("dag", current) if current else ("setup", last_begun)  # the step that began last
    if failed and failed[0] == "setup":
        text = (home / "setup.log").read_text(encoding="utf-8", errors="replace")
        raise PipelineError(f"`airflow {' '.join(shlex.split(failed[1])[:2])}` failed: {cause(text)} "
                            f"(log: {home / 'setup.log'})")
    if failed:
        log_path = home / f"last_run_{failed[1]}.log"
        state = _run_state(log_path)
        raise PipelineError(f"the Airflow run of {failed[1]} ended {state or 'with exit code ' + str(code)}; "
                            f"the serving warehouse {settings.warehouse} is unchanged. Log: {log_path}")
    return settings.warehouse


def _run_state(log_path: Path) -> str | None:
    text = log_path.read_text(encoding="utf-8", errors="replace")
    found = re.findall(r"state=(\w+)", text)
    for candidate in reversed(found):
        if candidate in ("success", "failed"):
            return candidate
    return None
