"""The Airflow DAG: it imports cleanly, orders the steps as the data flows, and a real
`airflow dags test` run builds the warehouse."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingest import catalogue
from ingest.airflow_runner import airflow_env, run_dags
from ingest.config import REPO_ROOT

from conftest import MARTS, curated_copy, file_sha256, make_settings, write_curated


def test_dag_file_imports_without_errors_and_is_thin(tmp_path):
    """DAG integrity, in a fresh interpreter with its own AIRFLOW_HOME."""
    env = airflow_env(make_settings(tmp_path))
    script = f"""
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={str(REPO_ROOT / 'dags')!r})
print("ERRORS", bag.import_errors)
dag = bag.dags["governance_nightly"]
print("TASKS", sorted(t.task_id for t in dag.tasks))
print("UP", {{t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks}})
print("RUNS", dag.max_active_runs, dag.catchup, dag.timetable.expression)
print("POOLS", {{t.task_id: t.pool for t in dag.tasks}})
print("OUTLETS", {{t.task_id: [a.name for a in t.outlets] for t in dag.tasks if t.outlets}})
print("CALLBACK", all(t.on_failure_callback for t in dag.tasks), dag.default_args["retry_exponential_backoff"])
serve = bag.dags["governance_serve"]
print("TIMEOUTS", sorted((t.task_id, int(t.execution_timeout.total_seconds())) for d in (dag, serve) for t in d.tasks),
      int(dag.dagrun_timeout.total_seconds()), int(serve.dagrun_timeout.total_seconds()))
print("PARAMS", dict(dag.params))
print("SERVE", sorted(t.task_id for t in serve.tasks), type(serve.timetable).__name__,
      [a.name for a in serve.timetable.asset_condition.objects])
"""
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "ERRORS {}" in out
    assert "TASKS ['build', 'changed', 'fetch', 'parse', 'publish', 'report', 'summary', 'watch']" in out
    assert ("UP {'watch': [], 'fetch': ['watch'], 'parse': ['changed'], 'build': ['parse'], 'changed': ['fetch'], 'publish': ['build'], "
            "'summary': ['publish'], 'report': ['publish']}") in out
    assert "RUNS 1 False 0 2 * * *" in out
    assert ("POOLS {'watch': 'default_pool', 'fetch': 'default_pool', 'parse': 'default_pool', 'build': 'duckdb_writer', "
            "'changed': 'default_pool', 'publish': 'duckdb_writer', 'summary': 'default_pool', "
            "'report': 'default_pool'}") in out
    assert "OUTLETS {'publish': ['governance_warehouse']}" in out
    assert "CALLBACK True True" in out
    # every task ends: a stuck night never blocks the next one (max_active_runs=1)
    assert ("TIMEOUTS [('build', 2700), ('changed', 2700), ('export', 1800), ('fetch', 2700), "
            "('mirror_postgres', 1800), ('parse', 2700), ('publish', 600), ('report', 2700), ('summary', 2700), ('watch', 600)] "
            "10800 3600") in out
    assert "PARAMS {'force_fetch': False, 'force': False}" in out
    assert "SERVE ['export', 'mirror_postgres'] AssetTriggeredTimetable ['governance_warehouse']" in out


def test_dag_file_has_no_heavy_imports_at_top_level():
    source = (REPO_ROOT / "dags" / "governance_nightly.py").read_text()
    top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not any(mod in line for line in top_level for mod in ("duckdb", "dbt", "ingest", "openpyxl"))
    serve = (REPO_ROOT / "dags" / "governance_serve.py").read_text()
    assert not any(line.startswith(("import ingest", "from ingest")) for line in serve.splitlines())


def test_failure_line_names_the_task_the_cause_and_the_last_good_warehouse(built_warehouse, monkeypatch):
    from ingest.airflow_support import failure_line

    class TI:  # what Airflow passes as context["task_instance"]
        dag_id, task_id = "governance_nightly", "build"

    monkeypatch.setenv("GOVWH_DATA_DIR", str(built_warehouse.data_dir))
    monkeypatch.setenv("GOVWH_WAREHOUSE", str(built_warehouse.warehouse))
    line = failure_line({"task_instance": TI(), "exception": RuntimeError("dbt build failed (1 failing nodes)")})
    assert line.startswith("governance_nightly.build failed: dbt build failed (1 failing nodes)")
    assert f"the last good warehouse is still {built_warehouse.warehouse} (published 20" in line


@pytest.fixture(scope="module")
def airflow_run(tmp_path_factory):
    """One real nightly run (and the serving run it schedules) through `airflow dags test`, shared
    by the tests that read it (xdist keeps them on one worker: group airflow_run)."""
    settings = make_settings(tmp_path_factory.mktemp("airflow-run") / "data")
    run_dags(settings)
    return settings


@pytest.mark.airflow
@pytest.mark.xdist_group("airflow_run")
def test_airflow_dags_test_builds_the_warehouse_and_serves_it(airflow_run):
    settings = airflow_run
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        years = dict(con.execute("select indicator_code, count(distinct year) from marts.fct_indicator_scores "
                                 "where value_source_type = 'publisher_file' group by 1").fetchall())
        leader = con.execute("select province_name, score_2dp from marts.mart_pci_provincial_ranking "
                             "where year = 2016 and rank = 1").fetchall()
        curated = con.execute("select count(*) from marts.dim_publication where parser = 'curated'").fetchone()
    finally:
        con.close()
    declared = {fam.indicator: len(fam.years) for fam in catalogue.families() if not fam.curated_only}
    assert years == declared == {"pci": 15, "papi": 9}  # PCI 2005-2019, PAPI 2011-2019 from the publishers' files
    assert leader == [("Đà Nẵng", 70.0)]
    assert curated == (len(list((REPO_ROOT / "data" / "curated").glob("*.csv"))),) == (165,)
    assert (settings.data_dir / "airflow" / "airflow.db").exists()
    assert len(list((settings.data_dir / "exports" / "csv").glob("*.csv"))) == MARTS == 26  # the serving DAG ran
    assert (settings.data_dir / "site" / "index.html").is_file()  # the report task ran after publish


@pytest.mark.airflow
def test_a_failing_airflow_run_logs_one_clear_line_and_keeps_the_warehouse(warehouse_copy, tmp_path):
    """Synthetic: a curated file naming a province that does not exist, in a real Airflow run
    over a good warehouse (a copy of the session's)."""
    from ingest.errors import PipelineError

    settings = warehouse_copy
    folder = curated_copy(tmp_path)
    write_curated(folder, "zz-bad", "PAR INDEX,province,2022,Tỉnh Không Tồn Tại,85.5,3,,,\n")
    served = file_sha256(settings.warehouse)
    with pytest.raises(PipelineError, match="governance_nightly ended failed"):
        run_dags(make_settings(settings.data_dir, curated_dir=folder))
    log = (settings.data_dir / "airflow" / "last_run_governance_nightly.log").read_text()
    assert ("governance_nightly.parse failed: curated-zz-bad (zz-bad.csv), line 9: unknown unit name "
            "'Tỉnh Không Tồn Tại' in 2022") in log
    assert f"the last good warehouse is still {settings.warehouse} (published 20" in log
    assert file_sha256(settings.warehouse) == served


@pytest.mark.airflow
@pytest.mark.xdist_group("airflow_run")
def test_a_re_run_airflow_publish_task_refuses_foreign_partial_and_failed_builds(airflow_run):
    """After a real nightly run, the build folder changes under it (SYNTHETIC tampering, or a
    later build from the CLI); re-running the run's own `publish` task (`airflow tasks test`
    with the run's XComs) refuses each time and the serving file stays as it was."""
    import json

    from ingest import pipeline
    from ingest.airflow_runner import DAG_ID

    from conftest import assert_untouched, snapshot

    settings = airflow_run
    env = airflow_env(settings)
    airflow = str(Path(sys.executable).parent / "airflow")
    runs = subprocess.run([airflow, "dags", "list-runs", DAG_ID, "-o", "json"], env=env, capture_output=True,
                          text=True, check=True)
    (run,) = json.loads(next(line for line in runs.stdout.splitlines() if line.startswith("[{")))
    before = snapshot(settings)

    def rerun_publish() -> str:
        proc = subprocess.run([airflow, "tasks", "test", DAG_ID, "publish", run["run_id"]], env=env,
                              capture_output=True, text=True, timeout=300)
        out = proc.stdout + proc.stderr
        assert "new_state=failed" in out, out[-3000:]
        return out

    built = settings.build_dir / "serving.duckdb"  # what publish would serve
    pristine = built.read_bytes()
    built.write_bytes(pristine[:1_000_000])  # this run's build, half-written
    assert "governance_nightly.publish failed: not publishing" in (out := rerun_publish())
    assert "the file changed after its build passed" in out
    built.write_bytes(pristine)
    receipt = (settings.build_dir / "receipt.json").read_bytes()
    (settings.build_dir / "receipt.json").unlink()  # what a failed build leaves
    assert "it has no build receipt" in rerun_publish()
    (settings.build_dir / "receipt.json").write_bytes(receipt)
    pipeline.build(settings)  # a later build, from another run: it passed, but it is not this run's
    assert "from another run, not build" in rerun_publish()
    assert_untouched(settings, before)


def test_a_failing_setup_step_is_named_in_one_line(tmp_path):
    """The set-up runs its Airflow commands in one process (ingest/airflow_batch.py); when one
    fails, the one-line error names that command and its exception's own line."""
    from ingest.airflow_local import setup
    from ingest.errors import PipelineError

    home = tmp_path / "airflow"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "GOVWH_"))}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path / 'no-such-folder' / 'airflow.db'}")
    with pytest.raises(PipelineError, match=r"^`airflow db migrate` failed: .*unable to open database file"):
        setup(env)
