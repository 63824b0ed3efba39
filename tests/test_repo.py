"""Repository-level checks: the compose file, the seeds the parsers rely on, the catalogue."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from ingest import catalogue
from ingest.config import REPO_ROOT, SEEDS_DIR
from ingest.parsers import undp_papi, vcci_pci


def test_compose_runs_airflow_components_on_postgres_with_the_shared_settings():
    """Compose is not started here (no Docker engine); tests/test_deployment.py starts the same
    components with the same settings file as local processes. This checks Compose uses them."""
    from ingest.airflow_local import shared_settings

    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name, command in [("airflow-api-server", "api-server"), ("airflow-scheduler", "scheduler"),
                          ("airflow-dag-processor", "dag-processor"), ("airflow-triggerer", "triggerer")]:
        service = services[name]
        assert command in service["command"]
        assert service["env_file"] == "deploy/airflow.env"
        env = service["environment"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in env and "AIRFLOW__API_AUTH__JWT_SECRET" in env
        assert not set(env) & set(shared_settings())  # one place for the shared settings
        assert not any("SIMPLE_AUTH_MANAGER__" in key for key in env)  # Airflow 3.3 reads [core] simple_auth_manager_*
    assert services["postgres"]["image"].startswith("postgres")
    env = services["airflow-scheduler"]["environment"]
    assert env["GOVWH_PG_DSN"].endswith("@postgres:5432/governance") and env["GOVWH_PG_READER"] == "bi_reader"
    assert env["GOVWH_PG_READER_PASSWORD"] == "${BI_READER_PASSWORD:?set it in .env}"  # applied at each mirror
    assert "govwh airflow-setup" in " ".join(services["airflow-init"]["command"])
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    assert "admin:admin" not in text and "bi_reader:bi_reader" not in text  # no default password in the repo
    init = (REPO_ROOT / "docker" / "postgres-init.sh").read_text()
    assert '-v db="${GOVWH_PG_DATABASE:-governance}"' in init and '-v reader="${GOVWH_PG_READER:-bi_reader}"' in init
    assert "CREATE ROLE :\"reader\" LOGIN PASSWORD :'pw'" in init  # run for real: tests/test_serving.py
    assert "SET search_path = marts" in init


def test_every_component_code_a_parser_emits_is_in_the_seed():
    with open(SEEDS_DIR / "components.csv", encoding="utf-8") as f:
        seeded = {(r["indicator"], r["component_code"]) for r in csv.DictReader(f)}
    pci = {("pci", c) for c in vcci_pci.VALUE_ROLES}
    papi = {("papi", c) for c in undp_papi.COMPONENTS.values()} | {("papi", "overall")}
    assert pci <= seeded and papi <= seeded
    with open(SEEDS_DIR / "component_aliases.csv", encoding="utf-8") as f:
        aliased = {(r["indicator"], r["component_code"]) for r in csv.DictReader(f)}
    assert aliased <= seeded


def test_catalogue_entries_are_complete():
    families = catalogue.families()
    pci, papi = catalogue.family("pci"), catalogue.family("papi")
    # one workbook per PCI edition; PAPI's two panels and the 2018 and 2019 files of their own
    assert len(catalogue.CATALOGUE) == sum(len(f.files) for f in families) == len(pci.years) + 4 == 19
    assert [p.id for p in catalogue.CATALOGUE if p.indicator == "pci"] == [f"vcci-pci-{y}" for y in pci.years]
    assert papi.years_carrying("intervals") == (2019,) and papi.years_carrying("sub_indicators") == (2018, 2019)
    for pub in catalogue.CATALOGUE:
        assert pub.origin_url.startswith(("https://raw.githubusercontent.com/mdtrinh/vietnamdata/be581b8d",
                                          "https://raw.githubusercontent.com/mdtrinh/vietnam_elections/84348767"))
        assert pub.bundle_file.is_file(), pub.id
        assert pub.publisher and pub.licence and pub.title and pub.expected_units in (42, 63, 64)


def test_every_setting_the_code_reads_is_documented_in_the_readme():
    import re

    internal = {"GOVWH_DBT_PATH", "GOVWH_PARSED_DIR", "GOVWH_LOCK_OWNER",  # set by the pipeline for its children
                "GOVWH_PGT_HOST", "GOVWH_PGT_PORT", "GOVWH_PGT_USER", "GOVWH_PGT_PASSWORD", "GOVWH_PGT_DBNAME",
                "GOVWH_PGT_SSLMODE", "GOVWH_PGT_SSLROOTCERT"}
    code = "".join(p.read_text(encoding="utf-8") for folder in ("ingest", "dags")
                   for p in (REPO_ROOT / folder).rglob("*.py"))
    used = set(re.findall(r"GOVWH_[A-Z_]+[A-Z]", code)) - internal
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("**Settings**"):]
    assert sorted(v for v in used if f"`{v}`" not in table) == []


def test_dbt_and_the_pipeline_give_duckdb_the_same_memory_limit():
    import yaml

    from ingest.config import DBT_PROJECT_DIR, DUCKDB_MEMORY_LIMIT

    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8"))
    assert profile["governance"]["outputs"]["build"]["settings"]["memory_limit"] == DUCKDB_MEMORY_LIMIT == "2GB"


def _collect(*args: str, env: dict | None = None) -> list[str]:
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return [line for line in proc.stdout.splitlines() if "::" in line]


def test_a_column_description_several_marts_share_is_written_once():
    """A column that means the same in several marts is described once, as a docs block in
    models/marts/_marts__columns.md; no description is copied inline into two marts' YAML (copies
    drift apart). A docs block that no mart uses is dead text."""
    import re
    from collections import defaultdict

    marts = REPO_ROOT / "dbt_project" / "models" / "marts"
    blocks = set(re.findall(r"\{% docs (\w+) %\}", (marts / "_marts__columns.md").read_text(encoding="utf-8")))
    inline, used = defaultdict(list), set()
    for path in sorted(marts.glob("*.yml")):
        for model in yaml.safe_load(path.read_text(encoding="utf-8"))["models"]:
            for column in model.get("columns", []):
                text = column.get("description", "")
                used.update(re.findall(r"doc\(\"(\w+)\"\)", text))
                if "doc(" not in text:
                    inline[(column["name"], text)].append(model["name"])
    copied = {key: models for key, models in inline.items() if len(models) > 1}
    assert not copied, f"described inline in several marts (make a docs block): {copied}"
    assert used <= blocks and blocks <= used, (used - blocks, blocks - used)
    assert len(blocks) >= 60  # indicator_code, year, level, component_code, unit_key, unit_name, ...


def test_make_check_selects_what_the_readme_says():
    """`make check` leaves out exactly the heavy groups, and the README's counts are the collection's."""
    import re

    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    expression = re.search(r"^CHECK_MARKERS := (.+)$", makefile, re.M).group(1)
    assert expression == "not airflow and not postgres and not browser and not slow and not bi and not scaleout"
    assert '-m "$(CHECK_MARKERS)"' in makefile
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:  # one collection of everything, with each test's heavy groups
        dump = Path(tmp) / "groups.json"
        everything = _collect(env={"GOVWH_TEST_MARKERS_OUT": str(dump)})
        groups = json.loads(dump.read_text(encoding="utf-8"))
    check = _collect("-m", expression)  # what `make check` selects
    assert set(groups) == set(everything)
    heavy = {group: {t for t, marks in groups.items() if group in marks}
             for group in ("airflow", "postgres", "browser", "slow", "bi", "scaleout")}
    assert set(check) == set(everything) - set().union(*heavy.values())
    assert all(heavy.values())  # every group has tests
    assert not [t for t in check if t.startswith("tests/test_deployment.py")]
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `make check` |"))
    for group in ("airflow", "postgres", "browser", "slow", "bi", "scaleout"):
        assert f"`{group}`" in row
    assert f"| {len(check)} tests," in row
    assert '-m "not bi and not scaleout"' in makefile and '-m scaleout' in makefile
    assert "make test\nmake test-bi\nmake test-scaleout\n" in (REPO_ROOT / ".ci" / "run").read_text()
    in_make_test = set(everything) - heavy["bi"] - heavy["scaleout"]  # the rest: make test-bi, make test-scaleout
    assert f"| {len(in_make_test)} tests," in next(line for line in readme.splitlines() if line.startswith("| `make test` |"))
    assert f"| {len(heavy['bi'])} tests," in next(line for line in readme.splitlines()
                                                  if line.startswith("| `make test-bi` |"))
    assert f"| {len(heavy['scaleout'])} tests," in next(line for line in readme.splitlines()
                                                      if line.startswith("| `make test-scaleout` |"))


def test_xdist_groups_keep_a_modules_shared_fixtures_on_one_worker(tmp_path):
    """`make test` runs with --dist loadgroup so that a module's shared fixture (a parsed set of the
    originals, a real Airflow run) is built once: the tests of one xdist_group run on one worker.
    pytest 9.2 with pytest-xdist 3.8 silently stopped grouping (pytest-dev/pytest-xdist#1386)."""
    import subprocess
    import sys

    (tmp_path / "test_grouped.py").write_text(
        "import os, pytest\n"
        "pytestmark = pytest.mark.xdist_group('together')\n"
        "@pytest.mark.parametrize('i', range(6))\n"
        "def test_grouped(i):\n"
        "    open(os.environ['GROUP_LOG'], 'a').write(os.environ['PYTEST_XDIST_WORKER'] + '\\n')\n")
    (tmp_path / "test_free.py").write_text(
        "import pytest\n@pytest.mark.parametrize('i', range(6))\ndef test_free(i):\n    pass\n")
    log = tmp_path / "workers.log"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                          env={**__import__("os").environ, "GROUP_LOG": str(log)}, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    workers = log.read_text().split()
    assert len(workers) == 6 and len(set(workers)) == 1, workers


def test_compose_is_ready_for_a_first_up():
    """What a first `docker compose up` needs, read from the Compose file (no Docker engine here)."""
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    # the build context leaves out the environment, the data and git (about 900 MB otherwise)
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".venv", "warehouse", ".git", "bench/work", ".env"} <= set(ignored)
    # PostgreSQL is healthy only when it answers over TCP, as the other services connect
    check = services["postgres"]["healthcheck"]["test"]
    assert check[:2] == ["CMD", "pg_isready"] and check[check.index("-h") + 1] == "127.0.0.1"
    # every long-running service restarts and reports its health; the one-shot init does not restart
    for name, service in services.items():
        if name == "airflow-init":
            assert service["restart"] == "no" and "healthcheck" not in service
            continue
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    assert "8974/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert "/api/v2/monitor/health" in " ".join(services["airflow-api-server"]["healthcheck"]["test"])
    # the init container checks every secret and the warehouse folder before anything else, and sets
    # the BI login's password from .env at every start
    init = " ".join(services["airflow-init"]["command"])
    assert init.index("deploy/check_secrets.py") < init.index("--writable /data") < init.index("govwh airflow-setup")
    assert init.rstrip('"] ').endswith("govwh mirror --reader-only")
    # not root: the image's user and every Airflow service's; the warehouse is a folder on the host
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    (user,) = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert dockerfile.rstrip().splitlines()[-1] == "USER ${GOVWH_UID}:0" and user == "${GOVWH_UID}:0"
    (default,) = [line.split("=", 1)[1] for line in dockerfile.splitlines() if line.startswith("ARG GOVWH_UID=")]
    assert int(default) == 50000  # the build's own default is not root
    for name, service in services.items():
        if name not in ("postgres", "superset", "redis"):  # Superset: its own image and user (test_superset_bundle...)
            assert service["user"] == "${GOVWH_UID:-50000}:0", name
            data = [v for v in service["volumes"] if v.endswith(":/data")]
            assert data == ["${GOVWH_WAREHOUSE_DIR:-./compose-warehouse}:/data"], name
    assert "warehouse" not in compose["volumes"] and "compose-warehouse" in ignored
    example = (REPO_ROOT / "deploy" / "compose.env.example").read_text()
    assert "GOVWH_UID=" in example and "GOVWH_WAREHOUSE_DIR=./compose-warehouse" in example
    for secret in ("POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_ADMIN_PASSWORD", "BI_READER_PASSWORD"):
        assert secret in init and secret in services["airflow-init"]["environment"]


def test_the_init_container_refuses_a_warehouse_folder_it_cannot_write(tmp_path):
    import os
    import subprocess
    import sys

    script = str(REPO_ROOT / "deploy" / "check_secrets.py")
    missing = subprocess.run([sys.executable, script, "--writable", str(tmp_path / "not-created")],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and len(missing.stderr.splitlines()) == 1
    assert missing.stderr.startswith(f"error: the warehouse folder {tmp_path / 'not-created'} (GOVWH_WAREHOUSE_DIR on "
                                     f"the host) is not writable by uid {os.getuid()}: create it on the host")
    assert subprocess.run([sys.executable, script, "--writable", str(tmp_path)]).returncode == 0
    # an existing folder it cannot write: mounted read-only in a private mount namespace (root writes
    # anywhere else)
    from conftest import require_mount_namespaces

    require_mount_namespaces()
    locked = tmp_path / "locked"
    locked.mkdir()
    script_ro = f"mount --bind {locked} {locked} && mount -o remount,bind,ro {locked} && exec {sys.executable} {script} --writable {locked}"
    proc = subprocess.run(["unshare", "-m", "bash", "-c", script_ro], capture_output=True, text=True)
    assert proc.returncode == 1 and f"{locked} (GOVWH_WAREHOUSE_DIR on the host) is not writable" in proc.stderr, proc.stderr


@pytest.mark.parametrize("value, message", [
    ("", r"^error: POSTGRES_PASSWORD is empty: set it in \.env"),
    ("replace-with-a-long-random-string", r"^error: POSTGRES_PASSWORD is still the placeholder"),
    ("Zq9-secret", r"^error: POSTGRES_PASSWORD is shorter than 16 characters"),
])
def test_the_init_container_refuses_a_placeholder_or_empty_secret(value, message):
    import os
    import re
    import subprocess
    import sys

    env = {**os.environ, "POSTGRES_PASSWORD": value, "AIRFLOW_JWT_SECRET": "x" * 40}
    script = str(REPO_ROOT / "deploy" / "check_secrets.py")
    proc = subprocess.run([sys.executable, script, "POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET"], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == "" and len(proc.stderr.splitlines()) == 1
    assert re.search(message, proc.stderr) and "Zq9" not in proc.stderr  # a value is never printed
    good = {**env, "POSTGRES_PASSWORD": "a-long-random-secret-" + "7" * 20}
    assert subprocess.run([sys.executable, script, "POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET"], env=good).returncode == 0


def test_the_bi_profile_runs_the_tested_superset_start_with_the_committed_assets():
    """Compose's `bi` profile runs deploy/superset/start.sh (which tests/test_superset.py runs as local
    processes) from an image built on the same lock, not as root; the committed assets are exactly
    what scripts/make_superset_assets.py writes from the marts' dbt declarations."""
    import importlib.util

    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    superset = compose["services"]["superset"]
    assert superset["profiles"] == ["bi"] and superset["build"]["dockerfile"] == "deploy/superset/Dockerfile"
    assert superset["ports"] == ["127.0.0.1:8088:8088"] and superset["restart"] == "unless-stopped"
    assert superset["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    for secret in ("SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD", "BI_READER_PASSWORD"):
        assert superset["environment"][secret] == "${%s:?set it in .env}" % secret
        assert f"{secret}=replace-with-" in (REPO_ROOT / "deploy" / "compose.env.example").read_text()
    dockerfile = (REPO_ROOT / "deploy" / "superset" / "Dockerfile").read_text().splitlines()
    assert "deploy/superset/requirements.lock" in " ".join(dockerfile)
    assert [line for line in dockerfile if line.startswith("USER ")] == ["USER 50001"]
    assert dockerfile[-1] == 'CMD ["bash", "/opt/govwh/deploy/superset/start.sh"]'
    start = (REPO_ROOT / "deploy" / "superset" / "start.sh").read_text()
    assert start.index("check_secrets.py") < start.index("db upgrade") < start.index("import_assets.py") \
        < start.index("exec gunicorn")

    spec = importlib.util.spec_from_file_location("make_superset_assets",
                                                  REPO_ROOT / "scripts" / "make_superset_assets.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assets = REPO_ROOT / "deploy" / "superset" / "assets"
    expected = {path: generator.render(doc) for path, doc in generator.bundle().items()}
    committed = {p.relative_to(assets).as_posix(): p.read_text(encoding="utf-8") for p in assets.rglob("*.yaml")}
    assert committed == expected, "run: .venv/bin/python scripts/make_superset_assets.py"
    ranking = yaml.safe_load(expected["datasets/governance_mirror/mart_pci_provincial_ranking.yaml"])
    assert all(c["description"] for c in ranking["columns"]) and len(ranking["columns"]) == 15
    assert "XXXXXXXXXX@postgres:5432/governance" in expected["databases/governance_mirror.yaml"]  # no secret


def test_unit_test_names_fit_postgresqls_identifiers():
    """dbt names a unit test's relation after it, and PostgreSQL's identifiers end at 63 bytes:
    a longer name fails `govwh build-postgres` with unit tests on (README "Scaling out")."""
    import yaml

    names = [test["name"] for path in (REPO_ROOT / "dbt_project" / "models").rglob("*.yml")
             for test in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("unit_tests") or []]
    assert len(names) >= 10
    assert [n for n in names if len(n.encode()) > 63] == []


def test_compose_celery_profile_runs_the_executor_the_celery_test_runs(tmp_path):
    """Compose's `celery` profile sets the CeleryExecutor's settings that ingest/airflow_local.py sets
    for the local Celery deployment tests/test_celery_deployment.py starts (no Docker engine here)."""
    from ingest.airflow_local import local_env
    from ingest.config import Settings

    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["redis"]["profiles"] == ["celery"] and services["redis"]["image"].startswith("redis:")
    worker = services["airflow-worker"]
    assert worker["profiles"] == ["celery"] and worker["command"][-1].endswith("exec airflow celery worker")
    assert 'test "$$AIRFLOW__CORE__EXECUTOR" = CeleryExecutor ||' in worker["command"][-1]
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    env = worker["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW_EXECUTOR:-LocalExecutor}"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg://airflow:")
    assert all(services[s]["environment"] == env for s in ("airflow-scheduler", "airflow-api-server"))
    settings = Settings(data_dir=tmp_path, warehouse=tmp_path / "governance.duckdb")
    local = local_env(settings, tmp_path / "airflow", db_url="postgresql://u@h:5432/a",
                      broker_url="redis://127.0.0.1:6379/0")
    assert local["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert local["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql+psycopg://u@h:5432/a"
    assert {k for k in env if k.startswith("AIRFLOW__CELERY__")} == {k for k in local if k.startswith("AIRFLOW__CELERY__")}
    assert env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == local["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "1"
