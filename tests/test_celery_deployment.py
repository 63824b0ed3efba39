"""The DAGs on a distributed executor: Airflow's CeleryExecutor with two workers (README "Scaling out").

Real parts, as local processes: PostgreSQL (metadata database and Celery's result backend), Redis
from Debian's `redis-server` (the broker), Airflow's api-server, scheduler, dag-processor and
triggerer, and two Celery workers. The nightly DAG runs with its tasks on the workers; the worker
running `build` is killed (its whole process tree, kill -9) and the task is retried on the other
one; the serving DAG follows; the one-slot pool `duckdb_writer` is in force while build runs.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from datetime import datetime

import duckdb
import pytest

from conftest import make_settings
from test_deployment import NIGHTLY, SERVE, Api, _wait

from ingest.airflow_local import admin_password, local_env, setup, start, stop, wait_healthy
from ingest.pg_local import create_database, free_port

pytestmark = [pytest.mark.scaleout, pytest.mark.airflow]


@pytest.fixture
def redis(tmp_path):
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("GOVWH_REQUIRE_REDIS") == "1":  # CI: .ci/run installs it
            pytest.fail("redis-server not found and GOVWH_REQUIRE_REDIS=1")
        pytest.skip("redis-server not found (Debian's redis-server)")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import socket

        _wait("redis to listen", lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 20, 0.2)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def _tree(pid: int) -> list:
    """A process and all its descendants (psutil: Airflow's own dependency)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal(process, signum) -> None:
    import psutil

    try:
        process.send_signal(signum)
    except psutil.NoSuchProcess:
        pass


def test_celery_workers_run_the_dags_and_a_killed_workers_task_is_retried_on_the_other(tmp_path, postgres, redis):
    settings = make_settings(tmp_path / "data")
    home = tmp_path / "airflow"
    env = local_env(settings, home, db_url=create_database(postgres, "airflow_celery"), port=free_port(),
                    broker_url=redis)
    env["GOVWH_PG_DSN"] = create_database(postgres, "governance_celery")
    env["GOVWH_PG_READER"] = "bi_reader"
    env["GOVWH_TASK_RETRIES"] = "1"
    env["GOVWH_TASK_RETRY_DELAY"] = "5"
    # a worker that died stops heartbeating its task: the scheduler fails that try after 30 s
    env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"] = "30"
    setup(env)
    pids = start(env, home, workers=2)
    try:
        wait_healthy(env["AIRFLOW__API__BASE_URL"], timeout=180, pids=pids)
        api = Api(env["AIRFLOW__API__BASE_URL"], admin_password(home))
        _wait("the DAGs to be parsed", lambda: {d["dag_id"] for d in api.get("/api/v2/dags")["dags"]} >= {NIGHTLY, SERVE},
              120)
        api.send("PATCH", f"/api/v2/dags/{NIGHTLY}", {"is_paused": False})  # the scheduler creates the latest run
        run = _wait("the scheduled run to start", lambda: next((r for r in api.runs(NIGHTLY) if r["state"] == "running"),
                                                              None), 120, 1)
        tis_path = f"/api/v2/dags/{NIGHTLY}/dagRuns/{run['dag_run_id']}/taskInstances"

        def build_running():
            ti = next(t for t in api.get(tis_path)["task_instances"] if t["task_id"] == "build")
            return ti if ti["state"] == "running" and ti.get("pid") else None

        build = _wait("build to run on a worker", build_running, 300, 0.5)
        # the pool is in force on the Celery deployment: its one slot is taken while build runs
        pool = api.get("/api/v2/pools/duckdb_writer")
        assert pool["slots"] == 1 and pool["running_slots"] + pool["queued_slots"] >= 1 and pool["open_slots"] == 0
        workers = {name: pid for name, pid in pids.items() if name.startswith("worker-")}
        trees = {name: _tree(pid) for name, pid in workers.items()}
        on = [name for name, tree in trees.items() if build["pid"] in {p.pid for p in tree}]
        assert len(on) == 1, (build, workers)  # the task's process descends from one worker
        killed = on[0]
        # as if its machine died: the worker, its pool and the task (dbt too) at once. Frozen first, so
        # that nothing in the tree starts a child between reading the tree and killing it
        for process in trees[killed]:
            _signal(process, signal.SIGSTOP)
        for process in _tree(workers[killed]):
            _signal(process, signal.SIGKILL)
        for process in trees[killed]:
            _signal(process, signal.SIGKILL)

        def finished():
            runs = {r["dag_run_id"]: r for r in api.runs(NIGHTLY)}
            state = runs[run["dag_run_id"]]["state"]
            assert state != "failed", runs
            return state == "success"

        _wait("the nightly run to succeed after the retry", finished, 600, 3)
        tis = {t["task_id"]: t for t in api.get(tis_path)["task_instances"]}
        assert all(t["state"] == "success" for t in tis.values()), {k: t["state"] for k, t in tis.items()}
        assert tis["build"]["try_number"] == 2 and tis["build"]["pool"] == "duckdb_writer"
        tries = api.get(f"{tis_path}/build/tries")["task_instances"]
        assert [t["state"] for t in sorted(tries, key=lambda t: t["try_number"])] == ["failed", "success"]

        # which worker ran what: each worker's log names the tasks it executed
        survivor = next(name for name in workers if name != killed)
        logs = {name: (home / "logs" / f"{name}.log").read_text(encoding="utf-8", errors="replace") for name in workers}
        ran = {name: set(re.findall(r"task_id='(\w+)'", text)) for name, text in logs.items()}
        assert "build" in ran[killed] and "build" in ran[survivor]  # try 1 on the killed one, try 2 on the other
        assert ran[survivor] >= {"build", "publish"} and set().union(*ran.values()) >= set(tis)

        serve = _wait("the Asset-triggered serving run", lambda: [r for r in api.runs(SERVE) if r["state"] == "success"],
                      300, 3)
        serve_tis = api.get(f"/api/v2/dags/{SERVE}/dagRuns/{serve[0]['dag_run_id']}/taskInstances")["task_instances"]
        assert serve_tis and all(t["state"] == "success" for t in serve_tis)
        writers = sorted((datetime.fromisoformat(t["start_date"]), datetime.fromisoformat(t["end_date"]), t["task_id"])
                         for t in tis.values() if t["pool"] == "duckdb_writer")
        assert [w[2] for w in writers] == ["build", "publish"] and writers[0][1] <= writers[1][0]
    finally:
        stop(home)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        assert con.execute("select province_name from marts.mart_pci_provincial_ranking where year = 2016 "
                           "and rank = 1").fetchall() == [("Đà Nẵng",)]
    finally:
        con.close()
