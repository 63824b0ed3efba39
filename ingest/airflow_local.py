"""Airflow as deployed, on this machine, without Docker.

* `deploy/airflow.env`: the Airflow settings every real deployment shares (Compose reads it as
  its env_file; `make airflow` and the deployment test read it here), so they cannot drift.
* `govwh airflow-setup`: the one idempotent command that prepares a metadata database for the
  DAGs: `airflow db migrate`, the one-slot pool `duckdb_writer`, and the Variable the nightly
  DAG checks first (a deployment that skipped this step fails at once, saying what to run,
  instead of leaving `build` "scheduled" forever).
* `make airflow` (`govwh airflow`): api-server, scheduler, dag-processor and triggerer as local
  processes on SQLite (or `--db URL`, e.g. a local PostgreSQL), the login printed; Ctrl-C or
  `make airflow-stop` stops them all.
* the CeleryExecutor (`local_env(..., broker_url=...)`, `start(..., workers=N)`): the same
  components plus N Celery workers as local processes, Redis as the broker and the metadata
  database (PostgreSQL) as Celery's result backend, as Compose's `celery` profile runs them.
"""
from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from .airflow_support import SETUP_VARIABLE, WRITER_POOL
from .config import REPO_ROOT, Settings
from .errors import ConfigError, PipelineError
from .pg_local import free_port

SETTINGS_FILE = REPO_ROOT / "deploy" / "airflow.env"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN = "admin"


def shared_settings(path: Path = SETTINGS_FILE) -> dict[str, str]:
    out = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.replace("_", "").isalnum():
            raise ConfigError(f"{path}, line {number}: not KEY=VALUE")
        out[key] = value
    return out


def airflow_exe() -> str:
    return str(Path(sys.executable).parent / "airflow")


def _secret(home: Path, name: str) -> str:
    """A random secret kept in AIRFLOW_HOME (generated once, readable by its owner only)."""
    path = home / name
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def passwords_file(home: Path) -> Path:
    """The simple auth manager's passwords file: {"admin": "<random>"}, made once."""
    path = home / "passwords.json"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({ADMIN: secrets.token_urlsafe(12)}, f)
    return path


def admin_password(home: Path) -> str:
    return json.loads(passwords_file(home).read_text())[ADMIN]


def local_env(settings: Settings, home: Path, db_url: str | None = None, port: int = 8080,
              host: str = "127.0.0.1", broker_url: str | None = None) -> dict[str, str]:
    """The environment of every local Airflow process: shared settings + this deployment's own;
    with broker_url (redis://host:port/0) the CeleryExecutor, which needs a PostgreSQL db_url."""
    home = home.resolve()
    db_url = db_url or f"sqlite:///{home / 'airflow.db'}"
    env = dict(os.environ)
    env.update(shared_settings())
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://{host}:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{host}:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(home, "jwt_secret"),
        "AIRFLOW__API__SECRET_KEY": _secret(home, "api_secret_key"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(home)),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "GOVWH_DATA_DIR": str(settings.data_dir),
        "GOVWH_WAREHOUSE": str(settings.warehouse),
        "GOVWH_CURATED_DIR": str(settings.curated_dir),
        "GOVWH_CATALOGUE_DIR": str(settings.catalogue_dir),
        "GOVWH_DBT_PROJECT_DIR": str(settings.dbt_project_dir),
        "GOVWH_DBT_UNIT_TESTS": "1" if settings.dbt_unit_tests else "0",
    })
    if db_url.startswith("postgresql"):  # Airflow 3 derives an async URL; psycopg 3 serves both
        sync = "postgresql+psycopg://" + db_url.split("://", 1)[1]
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = sync
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = sync
    if broker_url:
        if not db_url.startswith("postgresql"):
            raise ConfigError("the CeleryExecutor needs a PostgreSQL metadata database (--db postgresql://...)")
        env.update({"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                    "AIRFLOW__CELERY__BROKER_URL": broker_url,
                    # Celery's task results in the metadata database (SQLAlchemy with psycopg 3)
                    "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1"})
    return env


def setup_steps(migrate: bool = True) -> list[dict]:
    """The set-up as Airflow CLI commands, for ingest/airflow_batch.py."""
    steps = [["db", "migrate"]] if migrate else []
    steps += [["pools", "set", WRITER_POOL, "1", "One DuckDB writer at a time (governance warehouse)"],
              ["variables", "set", SETUP_VARIABLE, json.dumps({"pool": WRITER_POOL, "slots": 1})]]
    return [{"argv": argv} for argv in steps]


def setup(env: dict[str, str] | None = None, migrate: bool = True) -> None:
    """Idempotent: migrate the metadata database, create the pool and the setup Variable (the
    three Airflow commands in one process: ingest/airflow_batch.py)."""
    from .airflow_batch import BEGIN, END, cause, ended, setup_ok

    env = dict(os.environ) if env is None else env
    proc = subprocess.run([sys.executable, "-m", "ingest.airflow_batch", json.dumps(setup_steps(migrate))],
                          env=env, capture_output=True, text=True)
    for command, code in (ended(line) for line in proc.stdout.splitlines() if line.startswith(END)):
        if code == 0:
            print(setup_ok(command), flush=True)
    if proc.returncode != 0:
        begun = [line[len(BEGIN):] for line in proc.stdout.splitlines() if line.startswith(BEGIN)]
        failing = shlex.split(begun[-1])[:2] if begun else ["set-up"]  # the step that began last failed
        raise PipelineError(f"`airflow {' '.join(failing)}` failed: {cause(proc.stderr + chr(10) + proc.stdout)}")


def start(env: dict[str, str], home: Path, workers: int = 0) -> dict[str, int]:
    """Start the four components (and, under the CeleryExecutor, `workers` Celery workers named
    worker-1, worker-2, ...), each in its own process group; their pids go to home/pids.json."""
    (home / "logs").mkdir(parents=True, exist_ok=True)
    commands = {component: [airflow_exe(), component] for component in COMPONENTS}
    envs = {component: env for component in COMPONENTS}
    for n in range(1, workers + 1):
        name = f"worker-{n}"
        # each its own log server port (two workers on one machine), its own Celery name
        commands[name] = [airflow_exe(), "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "1"]
        envs[name] = {**env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
    pids = {}
    for name, argv in commands.items():
        log = open(home / "logs" / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, env=envs[name], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        pids[name] = proc.pid
    (home / "pids.json").write_text(json.dumps(pids))
    return pids


def wait_healthy(base_url: str, timeout: float = 120, pids: dict[str, int] | None = None) -> dict:
    import requests

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        for component, pid in (pids or {}).items():
            if not _alive(pid):
                raise PipelineError(f"airflow {component} exited during start-up; see its log")
        try:
            resp = requests.get(f"{base_url}/api/v2/monitor/health", timeout=5)
            if resp.ok:
                health = resp.json()
                states = {k: (v or {}).get("status") for k, v in health.items()}
                if states.get("metadatabase") == "healthy" and states.get("scheduler") == "healthy" \
                        and states.get("dag_processor") == "healthy":
                    return health
                last = str(states)
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(1)
    raise PipelineError(f"Airflow at {base_url} not healthy after {timeout:g} s ({last})")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def stop(home: Path, timeout: float = 15) -> list[str]:
    """Stop every component's whole process group (their task and worker children with them)."""
    path = home / "pids.json"
    if not path.exists():
        return []
    pids = json.loads(path.read_text())
    for pid in pids.values():
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_group_alive(pid) for pid in pids.values()):
        time.sleep(0.3)
    for pid in pids.values():
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    path.unlink(missing_ok=True)
    return list(pids)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(settings: Settings, db_url: str | None = None, port: int = 8080) -> None:
    """`make airflow`: start everything, print where and how to log in, stop on Ctrl-C."""
    home = settings.data_dir / "airflow-local"
    # Ctrl-C and `kill` both stop everything, also when this process started with SIGINT ignored (a
    # background job of a non-interactive shell inherits that, and Python then installs no handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    stop(home)  # a previous `make airflow` that was not stopped
    env = local_env(settings, home, db_url, port)
    setup(env)
    pids = start(env, home)
    base = env["AIRFLOW__API__BASE_URL"]
    try:
        print(f"[airflow] starting {', '.join(COMPONENTS)} (logs: {home / 'logs'})", flush=True)
        wait_healthy(base, pids=pids)
        print(f"\nAirflow UI and API: {base}\n  login: {ADMIN} / {admin_password(home)}   "
              f"(password file: {passwords_file(home)})\n  unpause governance_nightly to run it at 02:00, "
              "or trigger it now (▶)\n  stop: Ctrl-C here, or `make airflow-stop`\n", flush=True)
        while all(_alive(pid) for pid in pids.values()):
            time.sleep(1)
        raise PipelineError(f"an Airflow component exited; see {home / 'logs'}")
    except KeyboardInterrupt:
        print("\n[airflow] stopping", flush=True)
    finally:
        stop(home)
