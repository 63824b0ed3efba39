"""Airflow as an operator deploys it: api-server, scheduler, dag-processor and triggerer as real
processes on a throwaway PostgreSQL, with the settings Compose uses (deploy/airflow.env), set
up by `govwh airflow-setup`, driven from the outside through the REST API and a browser."""
from __future__ import annotations

import shutil
import time

import duckdb
import pytest
import requests

from ingest.airflow_local import admin_password, local_env, setup, shared_settings, start, stop, wait_healthy

from conftest import _free_port, make_settings

from ingest.pg_local import create_database as _create_database

pytestmark = pytest.mark.airflow  # real Airflow components (and PostgreSQL, Chromium)

NIGHTLY, SERVE = "governance_nightly", "governance_serve"


class Api:
    def __init__(self, base: str, password: str):
        self.base = base
        token = requests.post(f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=30)
        token.raise_for_status()
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def get(self, path: str) -> dict:
        resp = requests.get(self.base + path, headers=self.headers, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def send(self, method: str, path: str, body: dict) -> dict:
        resp = requests.request(method, self.base + path, headers=self.headers, json=body, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def runs(self, dag: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag}/dagRuns?order_by=run_after")["dag_runs"]


def _wait(what: str, check, timeout: float, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@pytest.fixture
def deployment(tmp_path, postgres):
    settings = make_settings(tmp_path / "data")
    home = tmp_path / "airflow"
    port = _free_port()
    env = local_env(settings, home, db_url=_create_database(postgres, "airflow_deploy"), port=port)
    env["GOVWH_PG_DSN"] = _create_database(postgres, "governance")  # the serving DAG mirrors here
    env["GOVWH_PG_READER"] = "bi_reader"
    env["GOVWH_TASK_RETRIES"] = "0"
    started = time.monotonic()
    setup(env)
    setup(env)  # idempotent: a second run changes nothing and does not fail
    pids = start(env, home)
    try:
        wait_healthy(env["AIRFLOW__API__BASE_URL"], timeout=180, pids=pids)
        yield settings, home, env, Api(env["AIRFLOW__API__BASE_URL"], admin_password(home)), started
    finally:
        stop(home)


def test_the_compose_settings_are_airflow_33_settings():
    """Every AIRFLOW__ name in the shared file is an option Airflow 3.3 knows."""
    from airflow.configuration import conf

    for key in shared_settings():
        if key.startswith("AIRFLOW__"):
            section, option = key[len("AIRFLOW__"):].lower().split("__", 1)
            assert conf.has_option(section, option), key  # an unknown section or option fails here


@pytest.mark.airflow
def test_real_scheduler_runs_nightly_then_serve_one_run_at_a_time(deployment, postgres):
    settings, home, env, api, started = deployment
    with pytest.raises(requests.HTTPError):  # the login is the printed one, not admin/admin
        Api(env["AIRFLOW__API__BASE_URL"], "admin")
    _wait("the DAGs to be parsed", lambda: {d["dag_id"] for d in api.get("/api/v2/dags")["dags"]} >= {NIGHTLY, SERVE},
          120)
    # as the README says: unpause the nightly DAG only; the serving DAG is created unpaused
    assert {d["dag_id"]: d["is_paused"] for d in api.get("/api/v2/dags")["dags"]} == {NIGHTLY: True, SERVE: False}
    api.send("PATCH", f"/api/v2/dags/{NIGHTLY}", {"is_paused": False})
    # unpausing makes the scheduler create the latest missed nightly run; a manual trigger now queues behind it
    first = _wait("the scheduled run to start", lambda: next((r for r in api.runs(NIGHTLY) if r["state"] == "running"),
                                                            None), 120, 1)
    second = api.send("POST", f"/api/v2/dags/{NIGHTLY}/dagRuns", {"logical_date": None})
    states = {r["dag_run_id"]: r["state"] for r in api.runs(NIGHTLY)}
    assert states[first["dag_run_id"]] == "running" and states[second["dag_run_id"]] == "queued", states

    def finished():
        runs = {r["dag_run_id"]: r for r in api.runs(NIGHTLY)}
        assert not any(r["state"] == "failed" for r in runs.values()), runs
        return all(runs[i]["state"] == "success" for i in (first["dag_run_id"], second["dag_run_id"])) and runs

    runs = _wait("both nightly runs to succeed", finished, 420, 3)
    a, b = runs[first["dag_run_id"]], runs[second["dag_run_id"]]
    assert b["start_date"] >= a["end_date"]  # never in parallel (max_active_runs=1)
    tis = {t["task_id"]: t for t in api.get(f"/api/v2/dags/{NIGHTLY}/dagRuns/{first['dag_run_id']}/taskInstances")
           ["task_instances"]}
    assert tis["build"]["pool"] == "duckdb_writer" and tis["publish"]["pool"] == "duckdb_writer"
    assert all(t["state"] == "success" for t in tis.values()), {k: t["state"] for k, t in tis.items()}
    serve = _wait("the Asset-triggered serving run", lambda: [r for r in api.runs(SERVE) if r["state"] == "success"
                                                              and r["run_type"] == "asset_triggered"], 300, 3)
    assert serve
    elapsed = time.monotonic() - started
    print(f"deployment test: set-up to last serving run {elapsed:.0f} s")

    con = duckdb.connect(str(settings.warehouse), read_only=True)
    assert con.execute("select province_name from marts.mart_pci_provincial_ranking where year = 2016 "
                       "and rank = 1").fetchall() == [("Đà Nẵng",)]
    con.close()
    import psycopg

    with psycopg.connect(env["GOVWH_PG_DSN"]) as pg:
        assert pg.execute("select count(*) from marts.dim_province").fetchone() == (87,)
    _screenshot(env["AIRFLOW__API__BASE_URL"], admin_password(home))


def _screenshot(base: str, password: str) -> None:
    from playwright.sync_api import sync_playwright

    from test_report import ARTIFACTS, CHROMIUM_ARGS, _chromium

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{base}/dags/{NIGHTLY}", wait_until="networkidle")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", password)
            page.locator("button[type=submit]").click()
            page.wait_for_url(f"**/dags/{NIGHTLY}", timeout=60_000)
            page.get_by_text(NIGHTLY).first.wait_for(timeout=60_000)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(ARTIFACTS / "airflow-grid.png"))
        finally:
            browser.close()
    assert (ARTIFACTS / "airflow-grid.png").stat().st_size > 20_000


@pytest.mark.airflow
def test_a_deployment_without_setup_fails_at_once_saying_what_to_run(tmp_path, postgres):
    """Migrated, but `govwh airflow-setup` never ran: the nightly run fails in its first task,
    with the command to run, instead of `build` waiting forever for a missing pool."""
    import subprocess

    from ingest.airflow_local import airflow_exe

    settings = make_settings(tmp_path / "data")
    home = tmp_path / "airflow"
    env = local_env(settings, home, db_url=_create_database(postgres, "airflow_bare"), port=_free_port())
    env["GOVWH_TASK_RETRIES"] = "2"  # the DAG's default: the failure must not wait for retries
    subprocess.run([airflow_exe(), "db", "migrate"], env=env, check=True, capture_output=True)
    started = time.monotonic()
    proc = subprocess.run([airflow_exe(), "dags", "test", NIGHTLY], env=env, capture_output=True, text=True,
                          timeout=600)
    assert time.monotonic() - started < 120
    out = proc.stdout + proc.stderr
    assert "governance_nightly.watch failed: this Airflow is not set up for the governance DAGs: the pool " \
           "'duckdb_writer'" in out and "Run `govwh airflow-setup`" in out, out[-3000:]
    assert not settings.warehouse.exists()
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.airflow
def test_make_airflow_starts_prints_the_login_and_ctrl_c_stops_everything(tmp_path):
    """What the README tells a newcomer: `make airflow` (here `govwh airflow`, which it runs), on SQLite."""
    import os
    import signal
    import subprocess
    import sys

    from ingest.airflow_local import COMPONENTS

    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVWH_")}
    env.update({"GOVWH_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"})
    port = _free_port()
    # started with SIGINT ignored, as a background job of a non-interactive shell is: Ctrl-C must still stop it
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "airflow", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "login: admin / " in line:
                break
        text = "".join(lines)
        assert f"Airflow UI and API: http://127.0.0.1:{port}" in text, text
        password = text.split("login: admin / ", 1)[1].split()[0]
        assert password == admin_password(data / "airflow-local")
        Api(f"http://127.0.0.1:{port}", password)  # the printed login works
        pids = json_pids(data / "airflow-local")
        assert sorted(pids) == sorted(COMPONENTS)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.terminate()  # never leave it (and its components) behind
            proc.communicate(timeout=30)
            raise
    assert proc.returncode == 0, rest
    assert "[airflow] stopping" in rest
    _wait("every component's process group to end", lambda: not _live_members(set(pids.values())), 20, 0.5)


def _live_members(groups: set[int]) -> list[int]:
    """Processes (not zombies) still in one of these process groups."""
    from pathlib import Path

    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgid = fields[0], int(fields[2])
        if pgid in groups and state != "Z":
            live.append(int(stat.parent.name))
    return live


def json_pids(home) -> dict:
    import json

    return json.loads((home / "pids.json").read_text())
